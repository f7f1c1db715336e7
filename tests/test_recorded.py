"""A recorded render (constructs/_recorded.py: the documents made in Python, no object in Node) renders the
very bytes cdk8s renders: every example, the default environment, and environments that switch on every
optional part; and `document` matches cdk8s's own `ApiObject.toJson` where JavaScript differs from Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cdk8s
import pytest

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.config.load import load_document
from mlflow_gitops.constructs import MlflowPlatform, MlflowPlatformProps
from mlflow_gitops.constructs._object import api_object
from mlflow_gitops.constructs._recorded import RecordedChart, document
from tests.conftest import REPO

FEATURES: dict[str, dict[str, Any]] = {
    "everything-on": {
        "cluster": {
            "apiVersions": [
                "postgresql.cnpg.io/v1",
                "external-secrets.io/v1",
                "traefik.io/v1alpha1",
                "kustomize.toolkit.fluxcd.io/v1",
                "source.toolkit.fluxcd.io/v1",
                "monitoring.coreos.com/v1",
            ]
        },
        "postgres": {"sslMode": "verify-full", "ca": {}},
        "vault": {"rotation": "2026-12", "reloadPods": True},
        "gitops": {"repository": {"url": "https://git.example.com/org/gitops.git"}},
        "instances": [
            {
                "name": "vision",
                "replicas": 2,
                "sessions": {"store": "redis"},
                "autoscaling": {"enabled": True, "maxReplicas": 4},
                "pods": {"tolerations": [{"key": "gpu", "operator": "Exists"}], "labels": {"team": "cv"}},
                "server": {"extraEnv": {"A": "1"}, "serviceAnnotations": {"10": "x", "9": "y", "b": "z"}},
            },
            {"name": "nlp", "sessions": {"store": "redis", "redis": {"deploy": False, "host": "redis.example.com"}}},
        ],
    },
    "everything-off": {
        "ingress": {"enabled": False},
        "network": {"policies": False},
        "bootstrap": {"keycloak": {"enabled": False}, "minio": {"enabled": False}},
        "postgres": {"roleManagement": "job"},
        "instances": [{"name": "lean"}],
    },
    "argocd": {
        "cluster": {
            "apiVersions": [
                "postgresql.cnpg.io/v1",
                "external-secrets.io/v1",
                "traefik.io/v1alpha1",
                "argoproj.io/v1alpha1",
            ]
        },
        "gitops": {"engine": "argocd", "repository": {"url": "https://git.example.com/org/gitops.git"}},
        "instances": [{"name": f"team-{i}"} for i in range(3)],
    },
}


def as_text(environments: list[Any], *, via_cdk8s: bool) -> str:
    return json.dumps([[r.units, r.engine, r.entry] for r in render(environments, via_cdk8s=via_cdk8s)])


def test_every_example_renders_the_same_bytes_both_ways() -> None:
    environments = load_environments(None, REPO / "examples" / "environments", {})
    assert as_text(environments, via_cdk8s=False) == as_text(environments, via_cdk8s=True)
    default = load_environments(None, None, {})
    assert as_text(default, via_cdk8s=False) == as_text(default, via_cdk8s=True)


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_optional_parts_render_the_same_bytes_both_ways(name: str) -> None:
    environments = [load_document(name, FEATURES[name], source=f"{name}.yaml")]
    assert as_text(environments, via_cdk8s=False) == as_text(environments, via_cdk8s=True)


MANIFEST: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "odd",
        "namespace": "n",
        "labels": {"b": "1", "10": "ten", "9": "nine", "01": "zero-one"},
        "annotations": {},
        "finalizers": None,
    },
    "data": {"z": "1", "2": "two", "a": "3", "-x": "dash", ".y": "dot"},
    "spec": {"ratio": 2.0, "half": 0.5, "items": [None, {"k": None, "j": []}], "empty": {}},
}


def test_a_document_is_what_cdk8s_renders_where_javascript_differs() -> None:
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "c", disable_resource_name_hashes=True)
    api_object(chart, "odd", MANIFEST)
    [from_node] = chart.to_json()
    mine = document(MANIFEST)
    assert json.dumps(mine) == json.dumps(from_node)
    assert list(mine["metadata"]["labels"]) == ["9", "10", "01", "b"], "integer-like keys first, as in JavaScript"
    assert mine["spec"]["ratio"] == 2 and isinstance(mine["spec"]["ratio"], int)


def test_a_recorded_platform_holds_documents_not_node_objects() -> None:
    env = load_document("default", {"instances": [{"name": "vision"}]}, source="test")
    platform = MlflowPlatform.recorded("vision", props=MlflowPlatformProps(environment=env, instance=env.instances[0]))
    assert all(isinstance(chart, RecordedChart) for chart in platform.units.values())
    assert platform.server.recorded_chart is platform.units["app"]
    assert not hasattr(platform.server, "__jsii_ref__")
    kinds = [doc["kind"] for doc in platform.units["app"].to_json()]
    assert "Deployment" in kinds and "Service" in kinds


def test_an_environment_that_customizes_or_patches_renders_through_cdk8s(tmp_path: Path) -> None:
    (tmp_path / "dev.yaml").write_text(
        "patches:\n  - target: {kind: Deployment, name: mlflow}\n    merge: {spec: {revisionHistoryLimit: 2}}\n"
    )
    [patched] = render(load_environments(["dev"], tmp_path, {}))
    [deployment] = [d for d in patched.units["app"] if d["kind"] == "Deployment"]
    assert deployment["spec"]["revisionHistoryLimit"] == 2
