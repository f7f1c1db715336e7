"""Build the cdk8s App (per environment: its instances' unit Charts and the engine Chart) and return the
rendered documents."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mlflow_gitops.prerequisites import require_node
from mlflow_gitops.settings import EnvironmentSettings

NODE_YOUNG_GENERATION = "--max-semi-space-size=4"
"""V8 flag for the jsii Node process: semi-spaces of at most 4 MB instead of 16. A render allocates mostly
short-lived garbage (messages, each chart's JSON) and keeps little (about 36 MB of live heap at 100
instances), so the default young generation mostly adds to the peak RSS: this lowers it by about 20 MB
at 100 instances for the same CPU time."""

require_node()

# Node starts with the first import of cdk8s (or constructs) and reads NODE_OPTIONS then; the variable is
# restored right after, so no other process this one starts sees the flag. A flag the user set wins.
_node_options = os.environ.get("NODE_OPTIONS")
if "--max-semi-space-size" not in (_node_options or ""):
    os.environ["NODE_OPTIONS"] = f"{_node_options or ''} {NODE_YOUNG_GENERATION}".strip()
try:
    import cdk8s

    from mlflow_gitops.constructs import MlflowPlatform, MlflowPlatformProps
    from mlflow_gitops.constructs._recorded import RecordedChart
    from mlflow_gitops.constructs.gitops import (
        ARGOCD_SYNC_WAVE,
        ARGOCD_WAVES,
        UNITS,
        ArgoCdProject,
        ArgoCdSync,
        FluxEntry,
        FluxSync,
    )
    from mlflow_gitops.constructs.patches import apply_patches
finally:
    if _node_options is None:
        os.environ.pop("NODE_OPTIONS", None)
    else:
        os.environ["NODE_OPTIONS"] = _node_options

Document = dict[str, Any]
ENGINES = {"flux": FluxSync, "argocd": ArgoCdSync}
ENTRIES = {"flux": FluxEntry}
"""Engines whose entry point is rendered apart from their objects (Argo CD's Application is its own)."""


@dataclass(frozen=True)
class Rendered:
    """The documents of one environment: per unit (all instances), the engine's own objects, and the entry
    point that points a cluster at them (Flux; empty for Argo CD)."""

    environment: EnvironmentSettings
    units: dict[str, tuple[Document, ...]]
    engine: tuple[Document, ...]
    entry: tuple[Document, ...] = ()

    @property
    def documents(self) -> tuple[Document, ...]:
        """Every document of the environment: the units in apply order, then the engine's, then the entry."""
        return (*(doc for unit in UNITS for doc in self.units[unit]), *self.engine, *self.entry)


def _share_strings(value: Any, pool: dict[str, str]) -> Any:
    """`value` (a rendered document, changed in place) with every string replaced by the equal one in `pool`.

    Each chart's JSON arrives from Node as new objects, so the scripts every instance's ConfigMap carries,
    and every repeated name, label and image, would otherwise be held once per copy (at 100 instances
    about 11 MB, a sixth of the process's peak). Strings are immutable: sharing them changes nothing else.
    """
    if isinstance(value, str):
        return pool.setdefault(value, value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _share_strings(item, pool)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _share_strings(item, pool)
    return value


def render(environments: list[EnvironmentSettings], *, via_cdk8s: bool = False) -> list[Rendered]:
    """Render every environment in one App (one Node process).

    An environment that nothing extends (no `customize.py`, no `patches:`) is a recorded render
    (`constructs._recorded`: the same documents, made in Python, about 10 x faster at 100 instances);
    `via_cdk8s` makes every platform of real cdk8s objects (the tests compare both)."""
    app = cdk8s.App()
    built = []
    for env in environments:
        extended = via_cdk8s or bool(env.customize) or bool(env.patches)
        platforms = [
            MlflowPlatform(app, f"{env.name}-{instance.name}", props=props)
            if extended
            else MlflowPlatform.recorded(f"{env.name}-{instance.name}", props=props)
            for instance in env.instances
            for props in [MlflowPlatformProps(environment=env, instance=instance)]
        ]
        if env.customize:
            from mlflow_gitops.constructs.customize import run_customize

            run_customize(env.customize, platforms)
        if env.patches:
            apply_patches(env, platforms)
        engine = cdk8s.Chart(app, f"{env.name}-{env.gitops.engine}", disable_resource_name_hashes=True)
        ENGINES[env.gitops.engine](engine, "sync", env=env)
        entry = None
        if env.gitops.engine in ENTRIES:
            entry = cdk8s.Chart(app, f"{env.name}-entry", disable_resource_name_hashes=True)
            ENTRIES[env.gitops.engine](entry, "entry", env=env)
        built.append((env, platforms, engine, entry))
    pool: dict[str, str] = {}

    def documents(chart: cdk8s.Chart) -> list[Document]:
        if isinstance(chart, RecordedChart):  # made in Python: its strings are shared already
            return list(chart.to_json())
        return list(_share_strings(chart.to_json(), pool))

    def unit_documents(env: EnvironmentSettings, platforms: list[MlflowPlatform], unit: str) -> tuple[Document, ...]:
        docs = tuple(doc for p in platforms for doc in documents(p.units[unit]))
        if env.gitops.engine == "argocd":
            for doc in docs:
                doc["metadata"].setdefault("annotations", {})[ARGOCD_SYNC_WAVE] = ARGOCD_WAVES[unit]
        return docs

    rendered = []
    for env, platforms, engine, entry in built:
        units = {unit: unit_documents(env, platforms, unit) for unit in UNITS}
        if env.gitops.engine == "argocd" and env.gitops.argocd_project is None:
            # The project allows exactly what the units hold, so it is made once they are rendered.
            ArgoCdProject(engine, "project", env=env, targets=_targets(units))
        rendered.append(
            Rendered(
                environment=env,
                units=units,
                engine=tuple(documents(engine)),
                entry=tuple(documents(entry)) if entry else (),
            )
        )
    return rendered


def _targets(units: dict[str, tuple[Document, ...]]) -> tuple[tuple[str, str, str], ...]:
    """(API group, kind, namespace or "") of every object of the units."""
    found = set()
    for docs in units.values():
        for doc in docs:
            group = doc["apiVersion"].rpartition("/")[0]
            found.add((group, doc["kind"], doc["metadata"].get("namespace", "")))
    return tuple(sorted(found))
