"""Each part of the platform is made from its own narrow props (`scope, id, *, props`), not from the whole
environment: a part reads only the settings its props name, and can be used alone."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from typing import Any

import cdk8s
import pytest
import yaml

from mlflow_gitops.config.load import load_document
from mlflow_gitops.constructs import MlflowPlatform, MlflowPlatformProps
from mlflow_gitops.constructs.redis import Redis, RedisProps
from mlflow_gitops.names import Names
from tests.conftest import REPO

CONSTRUCTS = REPO / "mlflow_gitops" / "constructs"
PARTS = {
    "platform": "MlflowPlatform",
    "namespace": "Namespace",
    "secrets": "Secrets",
    "database": "Database",
    "network": "Network",
    "redis": "Redis",
    "bootstrap": "Bootstrap",
    "migration": "Migration",
    "server": "Server",
    "availability": "Availability",
    "ingress": "Ingress",
    "monitoring": "Monitoring",
}
WHOLE_SETTINGS = {"EnvironmentSettings", "InstanceSettings"}
CONFIG = {
    "instances": [{"name": "vision", "host": "mlflow-vision.acme.io", "replicas": 2, "sessions": {"store": "redis"}}]
}


@pytest.mark.parametrize("module_name", sorted(PARTS))
def test_each_part_takes_its_own_frozen_props(module_name: str) -> None:
    module = importlib.import_module(f"mlflow_gitops.constructs.{module_name}")
    part = getattr(module, PARTS[module_name])
    params = list(inspect.signature(part.__init__).parameters.values())
    assert [p.name for p in params] == ["self", "scope", "id", "props"]
    assert params[3].kind is inspect.Parameter.KEYWORD_ONLY
    props = getattr(module, f"{PARTS[module_name]}Props")
    assert params[3].annotation == props.__name__
    assert dataclasses.is_dataclass(props) and props.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("module_name", sorted({*PARTS, "_job", "_postgres", "_pod", "_service"} - {"platform"}))
def test_no_part_sees_the_whole_environment(module_name: str) -> None:
    tree = ast.parse((CONSTRUCTS / f"{module_name}.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert not imported & WHOLE_SETTINGS


def test_the_engine_objects_read_only_the_environments_name_and_gitops_settings() -> None:
    tree = ast.parse((CONSTRUCTS / "gitops.py").read_text())
    read = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "env"
    }
    assert read == {"name", "gitops"}


def test_names_hold_the_settings_privately() -> None:
    env = load_document("default", CONFIG, source="test")
    names = Names(env, env.instances[0])
    assert not hasattr(names, "env") and not hasattr(names, "instance")
    assert names.redis_secret == "vision-redis"


def synth(app: cdk8s.App) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(app.synth_yaml()) if doc]


def redis_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "redis"]


def test_a_part_alone_renders_what_the_platform_renders() -> None:
    env = load_document("default", CONFIG, source="test")
    instance = env.instances[0]
    whole = cdk8s.App()
    MlflowPlatform(whole, "vision", props=MlflowPlatformProps(environment=env, instance=instance))
    from_platform = redis_objects(synth(whole))

    alone = cdk8s.App()
    chart = cdk8s.Chart(alone, "sessions", disable_resource_name_hashes=True)
    props = RedisProps(
        names=Names(env, instance), redis=instance.sessions.redis, placement=instance.pods, reload_pods=False
    )
    Redis(chart, "redis", props=props)
    assert synth(alone) == from_platform
    assert {d["kind"] for d in from_platform} == {"ServiceAccount", "Service", "Deployment"}
