"""What a user does after logging in: an access key, then the README's "log a run" instructions in a fresh process;
plus what must not work (no credentials, a foreign Host header) and what operations rely on (/health, /metrics)."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import ADMIN, Server, job_pod
from tests.e2e.pod import Process
from tests.e2e.readme import ARTIFACT_TEXT, EXPERIMENT

MIB = 1024 * 1024


def bucket_of(server: Server) -> str:
    return server.stack.server_arg("--artifacts-destination").removeprefix("s3://").strip("/")


def setup_lines(process: Process) -> dict[str, str]:
    """`subject: outcome` lines a minio-setup run printed (its container log)."""
    out = {}
    for line in process.log.read_text(errors="replace").splitlines():
        subject, sep, outcome = line.partition(": ")
        if sep and not line.startswith("$"):
            out[subject] = outcome
    return out


def test_minio_setup_job_converges_and_a_second_run_changes_nothing(
    server: Server, minio_setup: list[Process], tmp_path: Path
) -> None:
    first, second = minio_setup
    bucket, user = bucket_of(server), server.stack.vault["mlflow/s3"]["accesskey"]
    pod = job_pod(server.stack, "minio-setup", server.pod.image, tmp_path, tmp_path)
    assert pod.environment(pod.container("minio-setup"))["MINIO_URL"] == server.minio.url  # the rendered s3.endpoint
    created = setup_lines(first)
    assert created[f"bucket {bucket}"] == "created"
    assert created[f"policy {bucket}-readwrite"] == "created"
    assert created[f"user {user}"] == "created"
    assert created["policy attachment"] == f"attached {bucket}-readwrite to {user}"
    again = setup_lines(second)
    assert again[f"bucket {bucket}"] == "unchanged"
    assert again[f"policy {bucket}-readwrite"] == "unchanged"
    assert again[f"user {user}"].startswith("unchanged")
    assert again["policy attachment"].startswith("unchanged")
    assert again["done"] == "0 change(s)"
    assert "WARNING" not in second.log.read_text()
    # what MinIO holds: the dedicated user with the bucket's policy only, and its Vault secret key
    s3 = server.stack.vault["mlflow/s3"]
    assert [b["Name"] for b in server.minio.s3(s3["accesskey"], s3["secretkey"]).list_buckets()["Buckets"]] == [bucket]


def test_readme_instructions_log_a_run_with_an_artifact_in_s3(server: Server, logged_run: dict[str, Any]) -> None:
    # the artifact went client -> MLflow (--serve-artifacts) -> MinIO as the dedicated user -> the bucket
    root = server.minio.s3()
    bucket = bucket_of(server)
    prefix = f"{logged_run['experiment_id']}/{logged_run['run_id']}/artifacts/"
    listed = root.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    assert [obj["Key"] for obj in listed] == [f"{prefix}e2e/hello.txt"]
    assert root.get_object(Bucket=bucket, Key=f"{prefix}e2e/hello.txt")["Body"].read().decode() == ARTIFACT_TEXT
    # the server holds the dedicated user's credentials (never the root's)
    container = next(c for c in server.pod.spec["containers"] if c["name"] == "mlflow")
    env = server.pod.environment(container)
    s3 = server.stack.vault["mlflow/s3"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (s3["accesskey"], s3["secretkey"])
    assert env["MLFLOW_S3_ENDPOINT_URL"] == server.minio.url
    assert server.minio.root_user not in env.values() and server.minio.root_password not in env.values()


def test_artifacts_of_several_mib_go_to_minio_as_the_dedicated_user(
    server: Server, logged_run: dict[str, Any], access_key: str
) -> None:
    """9 MiB through the server's artifact proxy: boto3 uploads it to MinIO in parts (multipart above 8 MiB), which the
    bucket policy must allow; and the server really signs as the dedicated user: disabled in MinIO, uploads fail."""
    auth = (str(ADMIN["email"]), access_key)
    bucket, root = bucket_of(server), server.minio.s3()
    prefix = f"{logged_run['experiment_id']}/{logged_run['run_id']}/artifacts/"
    proxy = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{prefix}"
    payload = os.urandom(9 * MIB)

    put = requests.put(f"{proxy}e2e/big.bin", data=payload, auth=auth, timeout=120)
    assert put.status_code == 200, put.text[:500]
    head = root.head_object(Bucket=bucket, Key=f"{prefix}e2e/big.bin")
    assert head["ContentLength"] == len(payload)
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]  # two parts: a multipart upload
    got = requests.get(f"{proxy}e2e/big.bin", auth=auth, timeout=120)
    assert got.status_code == 200 and got.content == payload

    user = server.stack.vault["mlflow/s3"]["accesskey"]
    admin = server.minio.admin()
    admin.user_disable(user)
    try:
        refused = requests.put(f"{proxy}e2e/while-disabled.txt", data=b"x", auth=auth, timeout=60)
    finally:
        admin.user_enable(user)
    assert refused.status_code >= 500, (refused.status_code, refused.text[:300])
    assert "while-disabled.txt" not in [
        o["Key"] for o in root.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    ]
    again = requests.put(f"{proxy}e2e/after.txt", data=b"after", auth=auth, timeout=60)
    assert again.status_code == 200, again.text[:500]
    assert root.get_object(Bucket=bucket, Key=f"{prefix}e2e/after.txt")["Body"].read() == b"after"
    for key in ("e2e/big.bin", "e2e/after.txt"):  # the README test's listing holds hello.txt only
        root.delete_object(Bucket=bucket, Key=prefix + key)


def test_an_artifact_larger_than_the_old_tmp_cap_goes_through_the_proxy(
    server: Server, logged_run: dict[str, Any], access_key: str
) -> None:
    """MLflow 3.6 spools a proxied upload whole in /tmp: 260 MiB, more than the 256Mi the server's /tmp had, is
    logged through the server and lands in MinIO intact (the pod's /tmp is a tmpfs of its sizeLimit here, so the
    old cap fails this as eviction would; tests/e2e/test_harness.py shows the limit biting). Read back from MinIO
    directly: a proxied download of it takes minutes here (about 1 MiB/s: the plugin's FastAPI app serves Flask's
    file response through WSGI in 8 KiB pieces), which the 9 MiB test above already covers. The upload itself
    takes about 90 s: Starlette's WSGIMiddleware gathers the body with `body += chunk` (quadratic, and all of it
    in memory: see the README on the server's memory limit)."""
    import hashlib

    auth = (str(ADMIN["email"]), access_key)
    bucket, root = bucket_of(server), server.minio.s3()
    prefix = f"{logged_run['experiment_id']}/{logged_run['run_id']}/artifacts/"
    proxy = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{prefix}e2e/model.bin"
    size = 260 * MIB
    block = os.urandom(MIB)
    payload = b"".join(block[i:] + block[:i] for i in range(260))  # 260 distinct MiB, one random draw
    assert len(payload) == size
    put = requests.put(proxy, data=payload, auth=auth, timeout=600)
    assert put.status_code == 200, put.text[:500]
    stored = root.get_object(Bucket=bucket, Key=f"{prefix}e2e/model.bin")
    assert stored["ContentLength"] == size
    digest = hashlib.sha256()
    for chunk in stored["Body"].iter_chunks(8 * MIB):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    root.delete_object(Bucket=bucket, Key=f"{prefix}e2e/model.bin")


def test_run_is_visible_through_the_api(server: Server, logged_run: dict[str, Any], access_key: str) -> None:
    auth = (ADMIN["email"], access_key)
    run = requests.get(
        f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": logged_run["run_id"]}, auth=auth, timeout=30
    )
    assert run.status_code == 200, run.text
    data = run.json()["run"]["data"]
    assert {p["key"]: p["value"] for p in data["params"]} == {"alpha": "0.5"}
    assert {m["key"]: m["value"] for m in data["metrics"]} == {"rmse": 0.786}
    experiment = requests.get(
        f"{server.url}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": EXPERIMENT},
        auth=auth,
        timeout=30,
    )
    assert experiment.json()["experiment"]["experiment_id"] == logged_run["experiment_id"]
    artifacts = requests.get(
        f"{server.url}/api/2.0/mlflow/artifacts/list",
        params={"run_id": logged_run["run_id"], "path": "e2e"},
        auth=auth,
        timeout=30,
    )
    assert [f["path"] for f in artifacts.json()["files"]] == ["e2e/hello.txt"]
    content = requests.get(
        f"{server.url}/get-artifact",
        params={"run_uuid": logged_run["run_id"], "path": "e2e/hello.txt"},
        auth=auth,
        timeout=30,
    )
    assert content.text == ARTIFACT_TEXT
    # the admin's browser session sees it too
    session, _ = server.login(ADMIN)
    search = session.get(f"{server.url}/api/2.0/mlflow/experiments/search", params={"max_results": 100}, timeout=30)
    assert EXPERIMENT in [e["name"] for e in search.json()["experiments"]]


def test_no_credentials_no_data(server: Server, logged_run: dict[str, Any], access_key: str) -> None:
    run_id = logged_run["run_id"]
    probes = [
        ("GET", "/api/2.0/mlflow/experiments/search", {"max_results": 100}),
        ("GET", "/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": EXPERIMENT}),
        ("GET", "/api/2.0/mlflow/runs/get", {"run_id": run_id}),
        ("GET", "/api/2.0/mlflow/artifacts/list", {"run_id": run_id, "path": "e2e"}),
        ("GET", "/get-artifact", {"run_uuid": run_id, "path": "e2e/hello.txt"}),
        (
            "GET",
            f"/api/2.0/mlflow-artifacts/artifacts/{logged_run['experiment_id']}/{run_id}/artifacts/e2e/hello.txt",
            {},
        ),
    ]
    credentials: list[tuple[str, dict[str, Any]]] = [
        ("none", {}),
        ("wrong password", {"auth": (ADMIN["email"], "not-the-key")}),
        # the README says MLFLOW_TRACKING_TOKEN=<access key> does not work: a bearer access key is no IdP JWT
        ("access key as bearer token", {"headers": {"Authorization": f"Bearer {access_key}"}}),
    ]
    for label, extra in credentials:
        for method, path, params in probes:
            response = requests.request(
                method, f"{server.url}{path}", params=params, timeout=30, allow_redirects=False, **extra
            )
            body = response.text
            where = f"{label}: {method} {path} -> {response.status_code}"
            assert EXPERIMENT not in body, where
            assert '"experiments"' not in body and '"run"' not in body and '"files"' not in body, where
            assert ARTIFACT_TEXT.strip() not in body, where
            assert '"alpha"' not in body and '"rmse"' not in body, where
    bearer = requests.get(
        f"{server.url}/api/2.0/mlflow/experiments/search",
        params={"max_results": 10},
        headers={"Authorization": f"Bearer {access_key}"},
        timeout=30,
    )
    assert bearer.status_code == 401


def test_foreign_host_header_is_rejected(server: Server, access_key: str) -> None:
    url = f"http://127.0.0.1:{server.port}"
    search = "/api/2.0/mlflow/experiments/search?max_results=10"
    auth = (ADMIN["email"], access_key)
    allowed = requests.get(f"{url}{search}", headers={"Host": server.host}, auth=auth, timeout=30)
    assert allowed.status_code == 200, allowed.text
    # every rendered allowed host (public host, in-cluster Service names) gets through; the env and the flag agree
    hosts = server.stack.server_env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert server.stack.server_arg("--allowed-hosts").split(",") == hosts
    assert server.host in hosts and "*" not in hosts
    for host in hosts:
        response = requests.get(f"{url}{search}", headers={"Host": host}, auth=auth, timeout=30)
        assert response.status_code == 200, (host, response.status_code)
    for host in (
        "evil.example.com",
        f"evil.example.com:{server.host.rsplit(':', 1)[-1]}",
        "127.0.0.1",
        "localhost.evil.example.com",
    ):
        response = requests.get(f"{url}{search}", headers={"Host": host}, auth=auth, timeout=30)
        assert response.status_code == 403, (host, response.status_code, response.text[:200])
        assert EXPERIMENT not in response.text


def test_health_answers(server: Server) -> None:
    response = requests.get(f"{server.url}/health", timeout=10)
    assert (response.status_code, response.text) == (200, "OK")
    # the kubelet probes by pod IP: /health must not be behind the Host check
    by_ip = requests.get(f"{server.url}/health", headers={"Host": "10.1.2.3:5000"}, timeout=10)
    assert by_ip.status_code == 200


def test_metrics_are_scraped_where_the_servicemonitor_points(server: Server, logged_run: dict[str, Any]) -> None:
    stack = server.stack
    monitor = stack.one("ServiceMonitor")
    [endpoint] = monitor["spec"]["endpoints"]
    service = stack.one("Service", monitor["metadata"]["name"])
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), "the ServiceMonitor must select the Service"
    pod_labels = stack.deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items(), "the Service must select the server pods"
    [service_port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    target = service_port["targetPort"]
    spec = stack.deployment["spec"]["template"]["spec"]
    if isinstance(target, str):
        container, container_port = stack.container_port(spec, target)
    else:
        [(container, container_port)] = [
            (c, p["containerPort"])
            for c in spec["containers"]
            for p in c.get("ports", [])
            if p["containerPort"] == target
        ]
    assert container["name"] == "metrics"
    host_port = server.ports[container_port]
    # Prometheus scrapes the pod IP: no Host header a list could hold; scraped here by 127.0.0.1
    url = f"{endpoint.get('scheme', 'http')}://127.0.0.1:{host_port}{endpoint.get('path', '/metrics')}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples = [line for line in text.splitlines() if line.startswith("mlflow_")]
    assert samples, f"no mlflow_ metric in {url}:\n{text[:2000]}"
    requests_total = [line for line in samples if line.startswith("mlflow_http_request_total")]
    assert requests_total and sum(float(line.rsplit(" ", 1)[1]) for line in requests_total) > 0, samples[:20]
    # the server's own /metrics is behind the Host check: scraping it by IP would fail (why the sidecar exists)
    server_by_ip = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
    assert server_by_ip.status_code == 403
