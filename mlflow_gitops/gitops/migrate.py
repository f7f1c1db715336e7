"""`migrate`: the move from the old buun-stack module (its Helm release plus what its justfile applied) to the
render, as a preflight that inspects what it can and prints the steps in order.

What stays: the databases and the role (the db-role Job or DatabaseRole finds them; CloudNativePG's Database
objects adopt existing databases), the bucket (minio-setup leaves an existing bucket alone), the Keycloak client
and its secret (keycloak-setup adopts the client the justfile made and sets the secret Vault already holds). What
must go before the render applies, found on the cluster when a kubeconfig is given:

- the release's Deployment: its selector (`app: mlflow`, ...) differs from the render's, and a selector is
  immutable, so the apply would fail;
- the justfile's ExternalSecrets, which own the Secrets the render's ExternalSecrets make (same names): External
  Secrets refuses a Secret another ExternalSecret owns;
- the rest of the release and the justfile's Middleware, which nothing would use or update any more.

Vault needs two changes the cluster cannot show: `<vaultPath>/s3` held MinIO's root credentials (the old
justfile copied them), which minio-setup refuses to hand to MLflow; and the new `<vaultPath>/session`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlflow_gitops import names as n
from mlflow_gitops.gitops.cluster import ClusterError, Kubectl
from mlflow_gitops.settings import EnvironmentSettings, InstanceSettings

OLD_KINDS = (
    "deployment",
    "service",
    "ingress",
    "configmap",
    "secret",
    "serviceaccount",
    "externalsecret",
    "middleware.traefik.io",
)
"""What the old release and justfile left in the instance namespace (the ServiceMonitor lives in Prometheus')."""
HELM_MANAGED = ("app.kubernetes.io/managed-by", "Helm")


@dataclass(frozen=True)
class Step:
    title: str
    why: str
    commands: tuple[str, ...] = ()


@dataclass
class Plan:
    instance: str
    namespace: str
    found: list[str] = field(default_factory=list)
    """What the cluster holds of the old module (kind/name), when a kubeconfig was given."""
    steps: list[Step] = field(default_factory=list)

    @property
    def cluster_work(self) -> bool:
        """Whether the cluster still holds something of the old module."""
        return bool(self.found)


def _objects(kubectl: Kubectl, namespace: str, kinds: Iterable[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for kind in kinds:
        done = kubectl.run("get", kind, "-n", namespace, "-o", "json")
        if done.returncode != 0:
            if "the server doesn't have a resource type" in done.stderr:
                continue
            raise ClusterError(f"kubectl get {kind} -n {namespace}: {done.stderr.strip()}")
        found += json.loads(done.stdout).get("items", [])
    return found


def _name(doc: dict[str, Any]) -> str:
    return f"{doc['kind'].lower()}/{doc['metadata']['name']}"


def _helm(doc: dict[str, Any]) -> bool:
    meta = doc["metadata"]
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    return labels.get(HELM_MANAGED[0]) == HELM_MANAGED[1] or "meta.helm.sh/release-name" in annotations


def vault_steps(env: EnvironmentSettings, instance: InstanceSettings) -> list[Step]:
    path = instance.vault_path
    steps = [
        Step(
            f"Vault {path}/s3: a dedicated MinIO user, not MinIO's root",
            "the old justfile copied MinIO's root credentials there; minio-setup refuses to give them to MLflow and "
            "creates the user named here instead, with a policy limited to the bucket (the bucket itself stays)",
            (f"vault kv put secret/{path}/s3 accesskey={instance.name}-artifacts secretkey=$(openssl rand -hex 24)",),
        ),
        Step(
            f"Vault {path}/session: the shared session keys (new)",
            "one SECRET_KEY for every replica; the old module re-randomised its Flask key on every install",
            (
                f"vault kv put secret/{path}/session secret_key=$(openssl rand -hex 32) "
                "flask_secret_key=$(openssl rand -hex 32)",
            ),
        ),
    ]
    if env.postgres.role_management == "job" and env.postgres.admin.vault_path:
        steps.append(
            Step(
                f"Vault {env.postgres.admin.vault_path}: a PostgreSQL login with CREATEROLE",
                "the db-role Job (CloudNativePG 1.27-1.29 has no DatabaseRole) logs in with it, in the PostgreSQL "
                "namespace (the login never reaches the app namespace); the role "
                f"{instance.database.role} and its databases exist and are kept",
                (f"vault kv put secret/{env.postgres.admin.vault_path} username=postgres password=...",),
            )
        )
    return steps


def cluster_steps(
    instance: InstanceSettings,
    names: n.Names,
    objects: Iterable[dict[str, Any]],
    monitors: Iterable[dict[str, Any]] = (),
) -> tuple[list[Step], list[str]]:
    """The steps for what the cluster holds of the old module, and those objects (`kind/name`)."""
    ns, objects = instance.namespace, list(objects)
    ours = set(names.instance_secrets)
    steps: list[Step] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in objects:
        by_kind.setdefault(doc["kind"], []).append(doc)
    release = [d for d in objects if _helm(d)]
    deployment = next((d for d in by_kind.get("Deployment", []) if d["metadata"]["name"] == names.server), None)
    ours_selector = names.component_selector("server")
    if deployment is not None and (deployment["spec"]["selector"].get("matchLabels") or {}) != ours_selector:
        release = [*release, *([deployment] if deployment not in release else [])]
    hook = f"{instance.name}-flask-server-secret-key"  # the chart's pre-install hook: helm uninstall keeps it
    hooks = [d for d in by_kind.get("Secret", []) if d["metadata"]["name"] == hook]
    # the chart put its ServiceMonitor in Prometheus' namespace (unlabelled); the render's lives in the instance's
    monitors = [
        d
        for d in monitors
        if d["metadata"]["name"] == names.server
        and ns in ((d.get("spec") or {}).get("namespaceSelector") or {}).get("matchNames", [])
    ]
    gone = sorted({_name(d) for d in [*release, *hooks]})
    if gone:
        selector = (deployment or {}).get("spec", {}).get("selector", {}).get("matchLabels") or {}
        commands = [
            f"helm uninstall {instance.name} -n {ns}   # or, without helm:",
            f"kubectl delete -n {ns} --ignore-not-found " + " ".join(gone),
        ]
        commands += [f"kubectl delete -n {m['metadata']['namespace']} --ignore-not-found {_name(m)}" for m in monitors]
        if selector:  # restricted Pod Security on the namespace would warn about the old pods still there
            labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            commands.append(f"kubectl wait -n {ns} --for=delete pod -l {labels} --timeout=300s")
        steps.append(
            Step(
                "remove the old Helm release (the server stops until the render's Deployment is Available)",
                (
                    f"its Deployment's selector {selector} is not the render's {ours_selector} and a selector "
                    "is immutable; the rest would be left unused. Its data is elsewhere and stays"
                ),
                tuple(commands),
            )
        )
    owning = [
        d
        for d in by_kind.get("ExternalSecret", [])
        if (d["spec"].get("target") or {}).get("name", d["metadata"]["name"]) in ours
        and d["metadata"]["name"] != (d["spec"].get("target") or {}).get("name")
    ]
    if owning:
        steps.append(
            Step(
                "remove the justfile's ExternalSecrets (their Secrets go with them and come back from the render's)",
                "each owns a Secret the render's ExternalSecret of the same name makes; External Secrets refuses a "
                "Secret another ExternalSecret owns",
                (f"kubectl delete -n {ns} " + " ".join(sorted(_name(d) for d in owning)),),
            )
        )
    middlewares = [d for d in by_kind.get("Middleware", []) if d["metadata"]["name"] == f"{instance.name}-headers"]
    if middlewares:
        steps.append(
            Step(
                "remove the justfile's Middleware",
                "the render's IngressRoute uses its own two",
                (f"kubectl delete -n {ns} " + " ".join(_name(d) for d in middlewares),),
            )
        )
    found = [
        *gone,
        *(f"{m['metadata']['namespace']}/{_name(m)}" for m in monitors),
        *(_name(d) for d in [*owning, *middlewares]),
    ]
    return steps, sorted(found)


def plan(env: EnvironmentSettings, kubectl: Kubectl | None) -> list[Plan]:
    plans = []
    for instance in (i for i in env.instances if not i.retired):  # a retired one has nothing to move
        names = n.Names(env, instance)
        objects = _objects(kubectl, instance.namespace, OLD_KINDS) if kubectl else []
        monitors = _objects(kubectl, env.monitoring.prometheus_namespace, ("servicemonitor",)) if kubectl else []
        steps, found = cluster_steps(instance, names, objects, monitors)
        plans.append(Plan(instance.name, instance.namespace, found, [*vault_steps(env, instance), *steps]))
    return plans


def format_plan(env: EnvironmentSettings, plans: list[Plan], cluster: str | None) -> str:
    lines = [
        f"# {env.name}: moving from the old module's Helm release"
        + (f" (cluster {cluster})" if cluster else " (no kubeconfig: the cluster was not inspected)")
    ]
    for result in plans:
        lines.append(f"\n## instance {result.instance} (namespace {result.namespace})")
        if cluster:
            lines.append("found: " + (", ".join(result.found) if result.found else "nothing of the old module"))
        for number, step in enumerate(result.steps, 1):
            lines.append(f"{number}. {step.title}\n   why: {step.why}")
            lines += [f"   $ {command}" for command in step.commands]
        last = len(result.steps) + 1
        lines.append(
            f"{last}. publish the render (or apply it) and let the engine reconcile: the db-role Job or "
            "DatabaseRole keeps the role, CloudNativePG adopts the databases, minio-setup keeps the bucket, "
            "keycloak-setup adopts the client without rotating its secret"
        )
        lines.append(
            f"{last + 1}. check: mlflow-gitops diff --env {env.name} --against-cluster KUBECONFIG "
            "shows no change, and this command shows no cluster step"
        )
    return "\n".join(lines) + "\n"
