"""The cluster tier's fixtures: one control plane per session (with the platform CRDs and Flux's), the git
server Flux clones from, and Flux's two controllers running out of cluster against it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.control_plane import ARTIFACTS, ControlPlane, shared_crds, start_control_plane
from tests.cluster.flux import Flux, flux_crds, start_flux
from tests.cluster.git_http import GitHttpServer


@pytest.fixture(scope="session")
def plane() -> Iterator[ControlPlane]:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    root = Path(tempfile.mkdtemp(prefix="mlflow-gitops-cluster-"))
    control = start_control_plane(root)
    try:
        control.install_crds([*shared_crds(), *flux_crds()])
        yield control
    finally:
        control.stop()
        shutil.rmtree(root, ignore_errors=True)
        (ARTIFACTS / "timings.txt").write_text("".join(f"{k:60} {v:7.2f}\n" for k, v in control.timings.items()))


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path_factory.mktemp("git")) as server:
        yield server


@pytest.fixture(scope="session")
def flux(plane: ControlPlane) -> Iterator[Flux]:
    controllers = start_flux(plane)
    try:
        yield controllers
    finally:
        controllers.stop()
