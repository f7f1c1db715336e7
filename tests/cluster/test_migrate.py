"""The move from the old module's Helm release, on the cluster tier: the release's objects as a buun-stack
cluster holds them (../shared/seed-release: the chart's render plus what the justfile applied) are created,
`migrate --against-cluster` names what must go and why, the commands it prints (the kubectl ones, as helm is not
here) clear the way, the render then applies without an error or a warning, and `migrate` finds nothing left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from mlflow_gitops.names import UNITS
from tests.cluster.control_plane import ControlPlane, tool
from tests.cluster.test_apply import apply, delete_all, platform_namespaces, synth
from tests.conftest import REPO

SEED = REPO.parent / "shared" / "seed-release"


def migrate(plane: ControlPlane, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow_gitops",
            "migrate",
            "--config-dir",
            str(config),
            "--env",
            "buun",
            "--against-cluster",
            str(plane.kubeconfig),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KUBECTL": str(tool("kubernetes", "kubectl"))},
    )


def seed_release(plane: ControlPlane) -> list[dict[str, object]]:
    docs = [
        d
        for f in ("helm-release.yaml", "applied-by-justfile.yaml")
        for d in yaml.safe_load_all((SEED / f).read_text())
        if d
    ]
    for namespace in ("mlflow", "monitoring"):
        plane.kubectl("create", "namespace", namespace, check=False)
    for doc in docs:
        doc.setdefault("metadata", {}).setdefault("namespace", "mlflow")
    plane.kubectl("create", "-f", "-", input=yaml.safe_dump_all(docs))
    return docs


def test_migrate_clears_the_old_release_and_the_render_applies(plane: ControlPlane, tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "buun.yaml").write_text("{}\n")  # the defaults are the old module's names: instance mlflow
    seeded = seed_release(plane)
    folder = synth("buun", config, tmp_path / "dist")
    try:
        before = migrate(plane, config)
        assert before.returncode == 1, before.stdout + before.stderr
        out = before.stdout
        assert "deployment/mlflow" in out and "is immutable" in out
        assert "'app': 'mlflow'" in out, "the old selector is shown"
        for name in ("mlflow-db-external-secret", "mlflow-s3-external-secret", "mlflow-oidc-external-secret"):
            assert f"externalsecret/{name}" in out
        assert "middleware/mlflow-headers" in out and "secret/mlflow-flask-server-secret-key" in out
        assert "monitoring/servicemonitor/mlflow" in out
        assert "Vault mlflow/s3: a dedicated MinIO user, not MinIO's root" in out

        commands = [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("$ kubectl")]
        assert len(commands) >= 4
        for command in commands:
            args = command.split()[1:]
            plane.kubectl(*args, timeout=320)

        platform_namespaces(plane, folder)
        printed = [line for unit in UNITS for line in apply(plane, folder / unit)[1]]
        assert printed == [], printed
        after = migrate(plane, config)
        assert after.returncode == 0, after.stdout + after.stderr
        assert "found: nothing of the old module" in after.stdout
        kinds = {d["kind"] for d in seeded}
        assert {"Deployment", "ExternalSecret", "Middleware", "ServiceMonitor"} <= kinds
    finally:
        delete_all(plane, folder, folder / "flux")
        plane.kubectl("delete", "namespace", "mlflow", "--ignore-not-found", "--wait=true", check=False)
