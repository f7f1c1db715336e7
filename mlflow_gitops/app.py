"""Build the cdk8s App (per environment: its instances' unit Charts and the engine Chart) and return the
rendered documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cdk8s

from mlflow_gitops.config import EnvironmentSettings
from mlflow_gitops.constructs import MlflowPlatform
from mlflow_gitops.constructs.gitops import UNITS, ArgoCdSync, FluxSync

Document = dict[str, Any]
ENGINES = {"flux": FluxSync, "argocd": ArgoCdSync}


@dataclass(frozen=True)
class Rendered:
    """The documents of one environment: per unit (all instances), and the engine's own objects."""

    environment: EnvironmentSettings
    units: dict[str, tuple[Document, ...]]
    engine: tuple[Document, ...]

    @property
    def documents(self) -> tuple[Document, ...]:
        """Every document of the environment: the units in apply order, then the engine's."""
        return (*(doc for unit in UNITS for doc in self.units[unit]), *self.engine)


def render(environments: list[EnvironmentSettings]) -> list[Rendered]:
    """Render every environment in one App (one Node process)."""
    app = cdk8s.App()
    built = []
    for env in environments:
        platforms = [MlflowPlatform(app, f"{env.name}-{instance.name}", env=env, instance=instance)
                     for instance in env.instances]
        engine = cdk8s.Chart(app, f"{env.name}-{env.gitops.engine}", disable_resource_name_hashes=True)
        ENGINES[env.gitops.engine](engine, "sync", env=env)
        built.append((env, platforms, engine))
    return [
        Rendered(
            environment=env,
            units={unit: tuple(doc for p in platforms for doc in p.units[unit].to_json()) for unit in UNITS},
            engine=tuple(engine.to_json()),
        )
        for env, platforms, engine in built
    ]
