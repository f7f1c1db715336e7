"""A cluster without an optional API (no Prometheus Operator, so no ServiceMonitor): `validate
--against-cluster` refuses the default render beforehand and names what is missing; with monitoring off the
render validates and applies there without errors or warnings."""

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
from tests.conftest import REPO

SERVICE_MONITORS = SHARED_CRDS / "prometheus-operator" / "monitoring.coreos.com_servicemonitors.yaml"


def validate(plane: ControlPlane, config: Path, env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlflow_gitops", "validate", "--config-dir", str(config), "--env",
                           env, "--against-cluster", str(plane.kubeconfig)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "KUBECTL": str(tool("kubernetes", "kubectl"))})


@pytest.fixture
def without_prometheus_operator(plane: ControlPlane) -> Iterator[None]:
    plane.kubectl("delete", "-f", str(SERVICE_MONITORS), "--wait=true")
    try:
        yield
    finally:
        plane.install_crds([SERVICE_MONITORS])


def test_validate_refuses_kinds_the_cluster_does_not_serve(plane: ControlPlane, tmp_path: Path,
                                                           without_prometheus_operator: None) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "lab.yaml").write_text("instances:\n  - name: lab\n")
    (config / "quiet.yaml").write_text("monitoring:\n  enabled: false\ninstances:\n  - name: quiet\n")

    refused = validate(plane, config, "lab")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "the cluster does not serve ServiceMonitor (monitoring.coreos.com/v1), rendered in lab/app/" in \
        refused.stderr
    assert "monitoring.enabled: false" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""

    accepted = validate(plane, config, "quiet")
    assert accepted.returncode == 0, accepted.stderr
    folder = synth("quiet", config, tmp_path / "dist")
    engine = folder / "flux"
    try:
        platform_namespaces(plane, folder)
        printed = [line for unit in UNITS for line in apply(plane, folder / unit)[1]]
        assert printed == []
    finally:
        delete_all(plane, folder, engine)


def test_validate_against_an_unreadable_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.kubeconfig"
    done = subprocess.run([sys.executable, "-m", "mlflow_gitops", "validate", "--against-cluster", str(missing)],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KUBECTL": str(tool("kubernetes", "kubectl"))})
    assert done.returncode == 2
    assert done.stderr.startswith("error: --against-cluster") and "Traceback" not in done.stderr
