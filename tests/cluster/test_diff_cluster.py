"""`mlflow-gitops diff --against-cluster KUBECONFIG`: a server-side dry-run diff of the render against what
a real API server holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow_gitops.names import UNITS
from tests.cluster.control_plane import SHARED_CRDS, ControlPlane, tool
from tests.cluster.test_apply import apply, delete_all, platform_namespaces, synth
from tests.conftest import FULL_CLUSTER, REPO

CONFIG = FULL_CLUSTER + "instances:\n  - name: probe\n"
"""A cluster with every optional API, so the render holds a ServiceMonitor the test can take away."""


def diff(
    plane: ControlPlane, config: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "KUBECTL": str(tool("kubernetes", "kubectl")), **(env or {})}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow_gitops",
            "diff",
            "--config-dir",
            str(config),
            "--env",
            "probe",
            "--against-cluster",
            str(plane.kubeconfig),
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )


def test_diff_against_a_cluster_shows_what_applying_would_change(plane: ControlPlane, tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "probe.yaml").write_text(CONFIG)

    first = diff(plane, config)
    assert first.returncode == 1, first.stderr
    assert "Namespace probe" in first.stdout and "Deployment probe/probe" in first.stdout
    assert " removed" not in first.stdout.split("\n", 3)[0] or "0 removed" in first.stdout

    folder = synth("probe", config, tmp_path / "dist")
    try:
        check_against_applied(plane, config, folder)
    finally:
        delete_all(plane, folder, folder / "flux")


def check_against_applied(plane: ControlPlane, config: Path, folder: Path) -> None:
    platform_namespaces(plane, folder)
    plane.kubectl("create", "namespace", "flux-system", check=False)
    for unit in (*UNITS, "flux", "entry"):
        apply(plane, folder / unit)
    same = diff(plane, config)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no changes" in same.stdout.lower()

    changed = diff(plane, config, env={"MLFLOW_IMAGE_TAG": "3.6.1-oidc"})
    assert changed.returncode == 1
    assert (
        "Deployment probe/probe" in changed.stdout
        and "+        image: localhost:30500/mlflow:3.6.1-oidc" in changed.stdout
    )

    crd = "servicemonitors.monitoring.coreos.com"
    plane.kubectl("delete", "crd", crd, "--wait=true")
    try:
        missing = diff(plane, config)
        assert missing.returncode == 2, missing.stdout
        assert "the cluster refuses ServiceMonitor probe/probe (monitoring.coreos.com/v1)" in missing.stderr
    finally:
        plane.install_crds([SHARED_CRDS / "prometheus-operator" / "monitoring.coreos.com_servicemonitors.yaml"])
