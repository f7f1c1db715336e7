"""Snapshot tests: the exact files written for the default and the staging example environment.

Review a change with `pytest --snapshot-update` and the diff of tests/__snapshots__/.
"""

from __future__ import annotations

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.output import environment_files
from tests.conftest import EXAMPLES, NO_CONFIG


def test_default_environment_files(snapshot):
    [rendered] = render(load_environments(None, NO_CONFIG, {}))
    assert environment_files(rendered) == snapshot


def test_staging_environment_files(snapshot):
    [rendered] = render(load_environments(["staging"], EXAMPLES, {}))
    assert environment_files(rendered) == snapshot


def test_prod_environment_files_argocd(snapshot):
    """The Argo CD engine (Applications, hook-annotated Jobs), Redis sessions and an autoscaled instance."""
    [rendered] = render(load_environments(["prod"], EXAMPLES, {}))
    assert environment_files(rendered) == snapshot
