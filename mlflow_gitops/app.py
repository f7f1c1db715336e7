"""Build the cdk8s App (one Chart per environment x instance) and return the rendered documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cdk8s

from mlflow_gitops.config import EnvironmentSettings
from mlflow_gitops.constructs import MlflowPlatform


@dataclass(frozen=True)
class Rendered:
    """The documents of one environment, in cdk8s order."""

    environment: EnvironmentSettings
    documents: tuple[dict[str, Any], ...]


def render(environments: list[EnvironmentSettings]) -> list[Rendered]:
    """Render every environment in one App (one Node process)."""
    app = cdk8s.App()
    charts: dict[str, list[cdk8s.Chart]] = {}
    for env in environments:
        for instance in env.instances:
            chart = cdk8s.Chart(app, f"{env.name}-{instance.name}", disable_resource_name_hashes=True)
            MlflowPlatform(chart, "platform", env=env, instance=instance)
            charts.setdefault(env.name, []).append(chart)
    return [
        Rendered(env, tuple(doc for chart in charts[env.name] for doc in chart.to_json()))
        for env in environments
    ]
