"""A live cluster against the render: `validate --against-cluster` (does it serve every rendered kind?) and
`diff --against-cluster` (what applying the render would change, object by object).

Both sides come from the API server, so defaults, admission and the cluster's own field values are the
same on each: the new side is a server-side dry-run apply of every rendered object (as the GitOps engine
would apply it), the old side is the object as the cluster holds it now. Objects the cluster lacks are
added; objects a GitOps engine applied for these environments earlier (Flux's
`kustomize.toolkit.fluxcd.io/name` label, Argo CD's `argocd.argoproj.io/instance` label) that the
render no longer holds are removed. Fields the server owns (status, resourceVersion, uid, timestamps,
managedFields) are left out of both. `kubectl` does the talking (KUBECTL to pick another binary).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlflow_gitops.gitops.diff import YAML_SUFFIXES, canonical, object_id

FIELD_MANAGER = "mlflow-gitops"
SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ENGINE_LABELS = ("kustomize.toolkit.fluxcd.io/name", "argocd.argoproj.io/instance")


class ClusterError(Exception):
    """The cluster cannot be read or cannot take the render; exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path
    context: str | None = None

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
        if not binary:
            raise ClusterError("kubectl is needed for --against-cluster and was not found on PATH (or $KUBECTL)")
        command = [
            binary,
            "--kubeconfig",
            str(self.kubeconfig),
            *(["--context", self.context] if self.context else []),
            *args,
        ]
        try:
            return subprocess.run(command, input=input, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"kubectl {' '.join(args[:2])}: no answer within 300 s") from exc

    def server(self) -> str:
        done = self.run("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
        if done.returncode != 0:
            raise ClusterError(f"--against-cluster {self.kubeconfig}: {done.stderr.strip() or 'unreadable'}")
        return done.stdout.strip()


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` without what the server owns."""
    out = {k: v for k, v in doc.items() if k != "status"}
    meta = {k: v for k, v in doc.get("metadata", {}).items() if k not in SERVER_FIELDS}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def _key(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = doc["metadata"]
    return doc["apiVersion"], doc["kind"], meta.get("namespace") or "", meta["name"]


def _rendered(files: Mapping[str, str]) -> dict[tuple[str, str, str, str], tuple[str, dict[str, Any]]]:
    found = {}
    for path, text in files.items():
        if not path.endswith(YAML_SUFFIXES):
            continue
        for doc in yaml.safe_load_all(text):
            if object_id("", doc) is not None and doc.get("apiVersion") != "kustomize.config.k8s.io/v1beta1":
                found[_key(doc)] = (path, doc)
    return found


def _items(text: str) -> list[dict[str, Any]]:
    doc = json.loads(text) if text.strip() else {}
    return doc.get("items", [doc]) if doc.get("kind", "").endswith("List") or "items" in doc else [doc]


def _missing_namespace(stderr: str) -> bool:
    return "namespaces" in stderr and "not found" in stderr


def _planned(kubectl: Kubectl, doc: dict[str, Any], namespaces: set[str]) -> dict[str, Any]:
    """What the cluster would hold after applying `doc` (a server-side dry run)."""
    namespace = doc["metadata"].get("namespace")
    if namespace and namespace in namespaces:
        return doc  # its namespace is created by this render: a dry run cannot place it
    done = kubectl.run(
        "apply",
        "--server-side",
        "--dry-run=server",
        f"--field-manager={FIELD_MANAGER}",
        "--force-conflicts",
        "-o",
        "json",
        "-f",
        "-",
        input=json.dumps(doc),
    )
    if done.returncode == 0:
        return dict(json.loads(done.stdout))
    if _missing_namespace(done.stderr):
        return doc
    api, kind, ns, name = _key(doc)
    raise ClusterError(
        f"the cluster refuses {kind} {ns + '/' if ns else ''}{name} ({api}): "
        f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no reason given'}"
    )


def _live(kubectl: Kubectl, doc: Mapping[str, Any]) -> dict[str, Any] | None:
    api, kind, namespace, name = _key(doc)
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    resource = f"{kind}.{api.rsplit('/', 1)[1]}.{group}" if group else kind
    done = kubectl.run(
        "get", resource, name, *(["-n", namespace] if namespace else []), "-o", "json", "--ignore-not-found"
    )
    if done.returncode != 0:
        raise ClusterError(f"cannot read {kind} {name}: {done.stderr.strip()}")
    return json.loads(done.stdout) if done.stdout.strip() else None


def _engine_objects(kubectl: Kubectl, environments: Sequence[str], units: Sequence[str]) -> list[dict[str, Any]]:
    """Objects an engine applied for these environments' units (to find what the render no longer holds)."""
    names = ",".join(f"mlflow-{env}-{unit}" for env in environments for unit in units)
    kinds = ",".join(sorted(KINDS))
    found = []
    for label in ENGINE_LABELS:
        done = kubectl.run("get", kinds, "--all-namespaces", "-l", f"{label} in ({names})", "-o", "json")
        if done.returncode != 0:
            raise ClusterError(f"cannot list the objects of {', '.join(environments)}: {done.stderr.strip()}")
        found += _items(done.stdout)
    return found


KINDS = {
    "namespaces",
    "networkpolicies",
    "serviceaccounts",
    "configmaps",
    "services",
    "jobs.batch",
    "deployments.apps",
    "poddisruptionbudgets.policy",
    "horizontalpodautoscalers.autoscaling",
}
"""Core kinds the render makes, looked up for objects an engine would prune (custom kinds may be absent)."""


def cluster_sides(
    files: Mapping[str, str], kubectl: Kubectl, environments: Sequence[str], units: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(what the cluster holds, what it would hold) as file maps comparable with `diff.compare`."""
    rendered = _rendered(files)
    created_namespaces = {name for (_, kind, _, name) in rendered if kind == "Namespace"}
    live_namespaces = set()
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for key, (path, doc) in sorted(rendered.items()):
        current = _live(kubectl, doc)
        if key[1] == "Namespace" and current is not None:
            live_namespaces.add(key[3])
        if current is not None:
            old[path] = old.get(path, "") + canonical(_clean(current))
    for _, (path, doc) in sorted(rendered.items()):
        planned = _planned(kubectl, doc, created_namespaces - live_namespaces)
        new[path] = new.get(path, "") + canonical(_clean(planned))
    for doc in _engine_objects(kubectl, environments, units):
        key = _key(doc)
        if not any(k[1:] == key[1:] for k in rendered):
            env = next(
                (
                    e
                    for e in environments
                    if any(
                        (doc["metadata"].get("labels") or {}).get(label, "").startswith(f"mlflow-{e}-")
                        for label in ENGINE_LABELS
                    )
                ),
                environments[0],
            )
            path = f"{env}/cluster/{key[2] or 'cluster'}_{key[1].lower()}_{key[3]}.yaml"
            old[path] = canonical(_clean(doc))
    return old, new


# What turns a kind off (or where it comes from), for the message when a cluster does not serve it.
KIND_SOURCES = {
    "ServiceMonitor": "the Prometheus Operator's CRDs, or leave monitoring.coreos.com/v1 out of cluster.apiVersions "
    "(or set monitoring.enabled: false)",
    "ExternalSecret": "External Secrets Operator's CRDs",
    "Database": "CloudNativePG's CRDs",
    "DatabaseRole": "CloudNativePG 1.30's CRDs, or leave postgresql.cnpg.io/v1/DatabaseRole out of "
    "cluster.apiVersions (or set postgres.roleManagement: job)",
    "IngressRoute": "Traefik's CRDs",
    "Middleware": "Traefik's CRDs",
    "Kustomization": "Flux's kustomize-controller CRDs",
    "GitRepository": "Flux's source-controller CRDs",
    "Application": "Argo CD's CRDs",
    "AppProject": "Argo CD's CRDs",
}


def _served(kubectl: Kubectl, api_version: str) -> set[str] | None:
    """The kinds the cluster serves at `api_version`, None if it serves no such group version."""
    done = kubectl.run("get", "--raw", f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}")
    if done.returncode != 0:
        if "NotFound" in done.stderr or "not found" in done.stderr.lower():
            return None
        raise ClusterError(f"cannot read the cluster's API {api_version}: {done.stderr.strip()}")
    return {r["kind"] for r in json.loads(done.stdout).get("resources", []) if "/" not in r["name"]}


def unserved_kinds(files: Mapping[str, str], kubectl: Kubectl) -> list[str]:
    """One line per rendered kind the cluster does not serve: the kind, where the render holds it, and what
    would serve it (an engine's dry run of a unit holding such a kind applies nothing of the unit)."""
    where: dict[tuple[str, str], list[str]] = {}
    for (api, kind, _, _), (path, _) in _rendered(files).items():
        where.setdefault((api, kind), []).append(path)
    served: dict[str, set[str] | None] = {}
    problems = []
    for (api, kind), paths in sorted(where.items()):
        if api not in served:
            served[api] = _served(kubectl, api)
        kinds = served[api]
        if kinds is None or kind not in kinds:
            files_ = sorted(set(paths))
            shown = ", ".join(files_[:3]) + (f" and {len(files_) - 3} more" if len(files_) > 3 else "")
            problems.append(
                f"the cluster does not serve {kind} ({api}), rendered in {shown}: install "
                f"{KIND_SOURCES.get(kind, 'the API that serves it')}"
            )
    return problems
