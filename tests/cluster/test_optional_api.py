"""A cluster without an optional API. The default render is the old module's platform: CloudNativePG 1.27 (no
`DatabaseRole` CRD, which arrived in 1.30) and no Prometheus Operator; it applies there without errors or warnings.
A config that declares more than the cluster serves is refused by `validate --against-cluster` beforehand, naming
what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_gitops.names import UNITS
from tests.cluster.control_plane import SHARED_CRDS, ControlPlane, tool
from tests.cluster.test_apply import apply, delete_all, platform_namespaces, synth
from tests.conftest import FULL_CLUSTER, REPO

SERVICE_MONITORS = SHARED_CRDS / "prometheus-operator" / "monitoring.coreos.com_servicemonitors.yaml"
DATABASE_ROLES = SHARED_CRDS / "cloudnative-pg" / "postgresql.cnpg.io_databaseroles.yaml"


def validate(plane: ControlPlane, config: Path, env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow_gitops",
            "validate",
            "--config-dir",
            str(config),
            "--env",
            env,
            "--against-cluster",
            str(plane.kubeconfig),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KUBECTL": str(tool("kubernetes", "kubectl"))},
    )


@pytest.fixture
def buun_stack(plane: ControlPlane) -> Iterator[None]:
    """The old module's platform: CloudNativePG 1.27's CRDs (no DatabaseRole), no Prometheus Operator."""
    for crd in (SERVICE_MONITORS, DATABASE_ROLES):
        plane.kubectl("delete", "-f", str(crd), "--wait=true")
    try:
        yield
    finally:
        plane.install_crds([SERVICE_MONITORS, DATABASE_ROLES])


def test_the_default_applies_on_the_old_modules_platform(plane: ControlPlane, tmp_path: Path, buun_stack: None) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "buun.yaml").write_text("instances:\n  - name: buun\n")
    accepted = validate(plane, config, "buun")
    assert accepted.returncode == 0, accepted.stderr
    folder = synth("buun", config, tmp_path / "dist")
    try:
        platform_namespaces(plane, folder)
        applied, printed = [], []
        for unit in UNITS:
            names, lines = apply(plane, folder / unit)
            applied += names
            printed += lines
        assert printed == []
        assert not [n for n in applied if "databaserole" in n or "servicemonitor" in n]
        assert [n for n in applied if n.startswith("job.batch/buun-db-role-")], applied
    finally:
        delete_all(plane, folder, folder / "flux")


def test_validate_refuses_kinds_the_cluster_does_not_serve(
    plane: ControlPlane, tmp_path: Path, buun_stack: None
) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "lab.yaml").write_text(FULL_CLUSTER + "instances:\n  - name: lab\n")  # declares more than it has
    refused = validate(plane, config, "lab")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (
        "the cluster does not serve ServiceMonitor (monitoring.coreos.com/v1), rendered in lab/app/" in refused.stderr
    )
    assert (
        "the cluster does not serve DatabaseRole (postgresql.cnpg.io/v1), rendered in lab/platform/" in refused.stderr
    )
    assert "Traceback" not in refused.stderr and refused.stdout == ""


def test_validate_against_an_unreadable_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.kubeconfig"
    done = subprocess.run(
        [sys.executable, "-m", "mlflow_gitops", "validate", "--against-cluster", str(missing)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECTL": str(tool("kubernetes", "kubectl"))},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --against-cluster") and "Traceback" not in done.stderr
