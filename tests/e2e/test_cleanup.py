"""Uninstall and cleanup, end to end: an instance set up by its rendered Jobs against the real Keycloak and MinIO of
this tier, then retired (`retired: true`, `cleanup.bucket: force`) and cleaned up by the rendered cleanup Jobs,
run twice (idempotent); the e2e instance `mlflow` beside it keeps everything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from minio.error import MinioAdminException

from mlflow_gitops.app import Rendered, render
from mlflow_gitops.config import load_environments
from tests.e2e.conftest import VAULT, Provider, run_job
from tests.e2e.pod import Image
from tests.e2e.stack import REALM, Ports, Stack, environment_yaml
from tests.minio_server import MinioServer

NAME = "retiree"
RETIREE_VAULT = {
    **VAULT,
    f"{NAME}/postgres": {"username": NAME, "password": "retiree-Db-Password-e2e"},
    f"{NAME}/s3": {"accesskey": "retiree-artifacts", "secretkey": "retiree-S3-Secret-e2e"},
    f"{NAME}/oidc": {"client_id": NAME, "client_secret": "retiree-Oidc-Secret-e2e"},
    f"{NAME}/session": VAULT["mlflow/session"],
    f"{NAME}/minio-setup": {"username": f"{NAME}-setup", "password": "retiree-Minio-Setup-e2e"},
}


def render_instance(config_dir: Path, ports: Ports, **instance: Any) -> Rendered:
    """The e2e environment (as environment e2e-retiree) with its one instance replaced by `instance`."""
    config = yaml.safe_load(environment_yaml(ports))
    config["instances"] = [instance]
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "e2e-retiree.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    [rendered] = render(load_environments(["e2e-retiree"], config_dir, {}))
    return rendered


def minio_user(minio: MinioServer, access_key: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(minio.admin().user_info(access_key)))
    except MinioAdminException as exc:
        if "XMinioAdminNoSuchUser" in str(exc):
            return None
        raise


def output(processes: list[Any]) -> str:
    return "".join(process.log.read_text() for process in processes)


def test_a_retired_instances_cleanup_jobs_remove_what_its_setup_made(
    oidc: Provider,
    minio: MinioServer,
    minio_setup: list[Any],
    image: Image,
    ports: Ports,
    runtime_dir: Path,
    e2e_dir: Path,
) -> None:
    kc = oidc.keycloak
    instance = {"name": NAME, "host": "localhost", "url": f"http://localhost:{ports.mlflow}"}
    setup = RETIREE_VAULT[f"{NAME}/minio-setup"]
    minio.create_setup_user(NAME, setup["username"], setup["password"])
    live = Stack(render_instance(e2e_dir / "config-retiree", ports, **instance), RETIREE_VAULT)
    logs = e2e_dir / "logs"
    run_job(live, "keycloak-setup", image, runtime_dir / "retiree-keycloak-setup", logs / "retiree-keycloak-setup")
    run_job(live, "minio-setup", image, runtime_dir / "retiree-minio-setup", logs / "retiree-minio-setup")
    assert NAME in {c["clientId"] for c in kc.clients(REALM)}
    assert {f"{NAME}-admins", f"{NAME}-users"} <= set(kc.group_names(REALM))
    minio.s3().put_object(Bucket=NAME, Key="1/artifacts/model.pkl", Body=b"weights")
    assert minio_user(minio, "retiree-artifacts") is not None

    retired = Stack(
        render_instance(e2e_dir / "config-retired", ports, **instance, retired=True, cleanup={"bucket": "force"}),
        RETIREE_VAULT,
    )
    assert not retired.find("Deployment") and not retired.find("Database")
    runs = []
    for attempt in ("first", "second"):
        runs.append(
            [
                *run_job(
                    retired,
                    "oidc-cleanup",
                    image,
                    runtime_dir / f"oidc-cleanup-{attempt}",
                    logs / f"oidc-cleanup-{attempt}",
                ),
                *run_job(
                    retired,
                    "minio-cleanup",
                    image,
                    runtime_dir / f"minio-cleanup-{attempt}",
                    logs / f"minio-cleanup-{attempt}",
                ),
            ]
        )

    first, second = (output(run) for run in runs)
    assert f"client {NAME}: deleted" in first and f"group {NAME}-users: deleted" in first
    assert "user retiree-artifacts: deleted" in first and "policy retiree-readwrite: deleted" in first
    assert f"bucket {NAME}: deleted (with 1 object version(s))" in first
    assert f"client {NAME}: absent" in second and f"bucket {NAME}: absent" in second
    assert NAME not in {c["clientId"] for c in kc.clients(REALM)}
    assert not {f"{NAME}-admins", f"{NAME}-users"} & set(kc.group_names(REALM))
    assert minio_user(minio, "retiree-artifacts") is None
    buckets = {b["Name"] for b in minio.s3().list_buckets()["Buckets"]}
    assert NAME not in buckets
    # the e2e instance beside it keeps its client, groups, bucket and user
    assert oidc.client_id in {c["clientId"] for c in kc.clients(REALM)}
    assert {"mlflow-admins", "mlflow-users"} <= set(kc.group_names(REALM))
    assert "mlflow" in buckets and minio_user(minio, VAULT["mlflow/s3"]["accesskey"]) is not None
