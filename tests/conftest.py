"""Shared fixtures: renders are made once per session (one Node process for the whole suite)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.config.load import ENV_OVERRIDES

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "environments"
NO_CONFIG = None
"""No config folder: the built-in default environment alone."""

Docs = list[dict[str, Any]]


FULL_CLUSTER = """cluster:
  apiVersions: [postgresql.cnpg.io/v1, external-secrets.io/v1, traefik.io/v1alpha1, kustomize.toolkit.fluxcd.io/v1,
                source.toolkit.fluxcd.io/v1, argoproj.io/v1alpha1, monitoring.coreos.com/v1]
"""
"""A cluster serving every optional API: CloudNativePG 1.30 (DatabaseRole), the Prometheus Operator, Argo CD."""


def render_docs(
    environ: dict[str, str] | None = None, names: list[str] | None = None, config_dir: Path | None = NO_CONFIG
) -> Docs:
    [rendered] = render(load_environments(names, config_dir, environ or {}))
    return list(rendered.documents)


def render_text(text: str, environ: dict[str, str] | None = None) -> Docs:
    """The documents of one environment file holding `text`."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlflow-gitops-env-") as tmp:
        (Path(tmp) / "dev.yaml").write_text(text)
        return render_docs(environ, ["dev"], Path(tmp))


def find(docs: Docs, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: Docs, kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="session")
def default_docs() -> Docs:
    return render_docs()


@pytest.fixture(scope="session")
def full_docs() -> Docs:
    """The default environment on a cluster with every optional API (ServiceMonitor, DatabaseRole rendered)."""
    return render_text(FULL_CLUSTER)


@pytest.fixture(scope="session")
def staging_docs() -> Docs:
    return render_docs(names=["staging"], config_dir=EXAMPLES)


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `mlflow-gitops ARGS` in a fresh process with a clean environment (plus `env`)."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
        return subprocess.run(
            [sys.executable, "-m", "mlflow_gitops", *args],
            cwd=cwd,
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
