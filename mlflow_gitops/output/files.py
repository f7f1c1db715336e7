"""The files of a render: one YAML file per object, a kustomization.yaml per folder, in a stable order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from mlflow_gitops.output.ownership import header

if TYPE_CHECKING:  # the writer must not start Node: only the type comes from the app
    from mlflow_gitops.app import Rendered

KUSTOMIZATION = "kustomization.yaml"
# Apply order a reader expects; kustomize and the GitOps engines order by kind themselves.
KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ServiceAccount",
    "ExternalSecret",
    "ConfigMap",
    "DatabaseRole",
    "Database",
    "Service",
    "Job",
    "Deployment",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "Middleware",
    "IngressRoute",
    "ServiceMonitor",
    "GitRepository",
    "Kustomization",
    "Application",
)


_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's is ~10x faster


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Block style for multi-line strings (scripts stay readable in review)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(doc: Any, sort_keys: bool = False) -> str:
    """The YAML of every file the tool writes (keys in the render's order unless `sort_keys`)."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=sort_keys, default_flow_style=False, width=1000, allow_unicode=True)


def file_name(doc: dict[str, Any]) -> str:
    meta = doc["metadata"]
    return f"{meta.get('namespace', 'cluster')}_{doc['kind'].lower()}_{meta['name']}.yaml"


def _order(doc: dict[str, Any]) -> tuple[int, str, str]:
    kind = doc["kind"]
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return rank, doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


def _folder(documents: tuple[dict[str, Any], ...], header: str) -> dict[str, str]:
    """One folder: a file per object (in apply order) plus the kustomization.yaml that lists them."""
    files: dict[str, str] = {}
    for doc in sorted(documents, key=_order):
        name = file_name(doc)
        if name in files:
            raise RuntimeError(f"two objects render to {name}: {doc['kind']} {doc['metadata']['name']}")
        files[name] = header + dump(doc)
    files[KUSTOMIZATION] = header + dump(_kustomization(list(files)))
    return files


def _kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}


def environment_files(rendered: Rendered) -> dict[str, str]:
    """Relative path -> content for one environment.

    `<unit>/` for each unit (platform, bootstrap, app: what the engine applies, in that order), a
    `kustomization.yaml` that builds all units (`kubectl kustomize <env>`), `<engine>/` (flux or argocd)
    with the engine's objects, and for Flux `entry/`: what a cluster's bootstrap path holds to apply them
    (Argo CD's `argocd/` is its own entry point).
    """
    env = rendered.environment
    first_line = header(env.name)
    files: dict[str, str] = {}
    folders = {**rendered.units, env.gitops.engine: rendered.engine}
    if rendered.entry:
        folders["entry"] = rendered.entry
    for folder, documents in folders.items():
        files.update({f"{folder}/{name}": text for name, text in _folder(documents, first_line).items()})
    files[KUSTOMIZATION] = first_line + dump(_kustomization(list(rendered.units)))
    return files


def tree(rendered: list[Rendered]) -> dict[str, str]:
    """Every output file of the rendered environments: `<env>/<relative path>` -> content."""
    return {f"{r.environment.name}/{name}": text for r in rendered for name, text in environment_files(r).items()}
