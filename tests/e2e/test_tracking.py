"""What a user does after logging in: an access key, then the README's "log a run" instructions in a fresh process;
plus what must not work (no credentials, a foreign Host header) and what operations rely on (/health, /metrics)."""

from __future__ import annotations

import urllib.request
from typing import Any

import boto3
import requests
from botocore.config import Config

from tests.e2e.conftest import ADMIN, Server
from tests.e2e.readme import ARTIFACT_TEXT, EXPERIMENT


def test_readme_instructions_log_a_run_with_an_artifact_in_s3(server: Server, logged_run: dict[str, Any],
                                                              moto_url: str) -> None:
    # the artifact went client -> MLflow (--serve-artifacts) -> MinIO as the dedicated user -> the bucket
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
    bucket = server.stack.server_arg("--artifacts-destination").removeprefix("s3://").strip("/")
    key = f"{logged_run['experiment_id']}/{logged_run['run_id']}/artifacts/e2e/hello.txt"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() == ARTIFACT_TEXT
    minio_user = server.stack.vault["mlflow/s3"]["accesskey"]
    writes = [r for r in server.minio.requests if r.method == "PUT" and r.path.endswith("e2e/hello.txt")]
    assert writes and {r.identity for r in writes} == {minio_user}, "the server must write as the dedicated user"
    assert all(r.status == 200 for r in writes)


def test_run_is_visible_through_the_api(server: Server, logged_run: dict[str, Any], access_key: str) -> None:
    auth = (ADMIN["email"], access_key)
    run = requests.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": logged_run["run_id"]}, auth=auth,
                       timeout=30)
    assert run.status_code == 200, run.text
    data = run.json()["run"]["data"]
    assert {p["key"]: p["value"] for p in data["params"]} == {"alpha": "0.5"}
    assert {m["key"]: m["value"] for m in data["metrics"]} == {"rmse": 0.786}
    experiment = requests.get(f"{server.url}/api/2.0/mlflow/experiments/get-by-name",
                              params={"experiment_name": EXPERIMENT}, auth=auth, timeout=30)
    assert experiment.json()["experiment"]["experiment_id"] == logged_run["experiment_id"]
    artifacts = requests.get(f"{server.url}/api/2.0/mlflow/artifacts/list",
                             params={"run_id": logged_run["run_id"], "path": "e2e"}, auth=auth, timeout=30)
    assert [f["path"] for f in artifacts.json()["files"]] == ["e2e/hello.txt"]
    content = requests.get(f"{server.url}/get-artifact", params={"run_uuid": logged_run["run_id"],
                                                                 "path": "e2e/hello.txt"}, auth=auth, timeout=30)
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
        ("GET", f"/api/2.0/mlflow-artifacts/artifacts/{logged_run['experiment_id']}/{run_id}/artifacts/e2e/hello.txt",
         {}),
    ]
    credentials: list[tuple[str, dict[str, Any]]] = [
        ("none", {}),
        ("wrong password", {"auth": (ADMIN["email"], "not-the-key")}),
        # the README says MLFLOW_TRACKING_TOKEN=<access key> does not work: a bearer access key is no IdP JWT
        ("access key as bearer token", {"headers": {"Authorization": f"Bearer {access_key}"}}),
    ]
    for label, extra in credentials:
        for method, path, params in probes:
            response = requests.request(method, f"{server.url}{path}", params=params, timeout=30,
                                        allow_redirects=False, **extra)
            body = response.text
            where = f"{label}: {method} {path} -> {response.status_code}"
            assert EXPERIMENT not in body, where
            assert '"experiments"' not in body and '"run"' not in body and '"files"' not in body, where
            assert ARTIFACT_TEXT.strip() not in body, where
            assert '"alpha"' not in body and '"rmse"' not in body, where
    bearer = requests.get(f"{server.url}/api/2.0/mlflow/experiments/search", params={"max_results": 10},
                          headers={"Authorization": f"Bearer {access_key}"}, timeout=30)
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
    for host in ("evil.example.com", f"evil.example.com:{server.host.rsplit(':', 1)[-1]}", "127.0.0.1",
                 "localhost.evil.example.com"):
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
        [(container, container_port)] = [(c, p["containerPort"]) for c in spec["containers"]
                                         for p in c.get("ports", []) if p["containerPort"] == target]
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

