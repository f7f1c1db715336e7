"""The GitOps engine's objects that apply one environment's units in order: Flux or Argo CD."""

from __future__ import annotations

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.settings import EnvironmentSettings

UNITS = n.UNITS
# The path-qualified spelling of Argo CD's cascading-delete finalizer (same foreground deletion as the bare
# `resources-finalizer.argocd.argoproj.io`, which the API server warns about since Kubernetes 1.29).
ARGOCD_FINALIZER = "resources-finalizer.argocd.argoproj.io/foreground"
LABELS = {"app.kubernetes.io/part-of": n.APP, "app.kubernetes.io/managed-by": n.MANAGED_BY}


def environment_path(env: EnvironmentSettings) -> str:
    """Path of the environment's folder inside the GitOps repository, relative to its root (Argo CD's form)."""
    base = env.gitops.path.strip("/")
    return "/".join(p for p in ("" if base == "." else base, env.name) if p)


def unit_path(env: EnvironmentSettings, unit: str) -> str:
    """Path of a unit's folder inside the GitOps repository (Flux writes it with a leading `./`)."""
    return f"{environment_path(env)}/{unit}"


def _flux_source(env: EnvironmentSettings) -> str:
    return n.flux_source_name(env) if env.gitops.repository_url else n.FLUX_DEFAULT_SOURCE


class FluxSync(Construct):
    """Flux `Kustomization`s (kustomize.toolkit.fluxcd.io/v1), one per unit, chained with `dependsOn` so
    platform -> bootstrap -> app, each with `wait` (the next starts once every object is ready, the Jobs
    complete) and `prune` (objects removed from Git are deleted). They read the environment's own
    `mlflow-gitops-<env>` `GitRepository` (see `FluxEntry`) when `gitops.repository.url` is set, else the
    `flux-system` one that `flux bootstrap` made.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings) -> None:
        super().__init__(scope, id)
        gitops = env.gitops
        previous: str | None = None
        for unit in UNITS:
            name = n.engine_object_name(env, unit)
            api_object(
                self,
                unit,
                {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": metadata(name, gitops.namespace, LABELS),
                    "spec": {
                        "interval": gitops.interval,
                        "path": f"./{unit_path(env, unit)}",
                        "prune": True,
                        "wait": True,
                        "timeout": gitops.timeout,
                        "retryInterval": "1m",
                        "sourceRef": {"kind": "GitRepository", "name": _flux_source(env)},
                        "dependsOn": [{"name": previous}] if previous else None,
                    },
                },
            )
            previous = name


class FluxEntry(Construct):
    """What points a cluster at the environment, to put in the cluster's Flux bootstrap path
    (`clusters/<cluster>/`): the `Kustomization` `mlflow-<env>` that applies the `FluxSync` objects (path
    `<gitops.path>/<env>/flux`, pruned), and, when `gitops.repository.url` is set, the environment's own
    `GitRepository` it and they read (here rather than beside them: the entry must not depend on what it
    applies).
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings) -> None:
        super().__init__(scope, id)
        gitops = env.gitops
        if gitops.repository_url:
            api_object(
                self,
                "source",
                {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "metadata": metadata(n.flux_source_name(env), gitops.namespace, LABELS),
                    "spec": {
                        "url": gitops.repository_url,
                        "interval": gitops.interval,
                        "ref": {"branch": gitops.branch},
                        "secretRef": {"name": gitops.secret_name} if gitops.secret_name else None,
                    },
                },
            )
        api_object(
            self,
            "entry",
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": metadata(n.flux_entry_name(env), gitops.namespace, LABELS),
                "spec": {
                    "interval": gitops.interval,
                    "path": f"./{environment_path(env)}/flux",
                    "prune": True,
                    "timeout": gitops.timeout,
                    "retryInterval": "1m",
                    "sourceRef": {"kind": "GitRepository", "name": _flux_source(env)},
                },
            },
        )


ARGOCD_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
ARGOCD_WAVES = {unit: str(wave) for wave, unit in enumerate(UNITS)}
"""The sync wave of every object of a unit (see `ArgoCdSync`): platform 0, bootstrap 1, app 2."""


class ArgoCdSync(Construct):
    """One Argo CD `Application` (argoproj.io/v1alpha1) per environment, `mlflow-<env>`, over the
    environment's root kustomization (platform + bootstrap + app), with automated sync, prune (last) and
    self-heal. Every object carries its unit's sync wave (`ARGOCD_WAVES`), so each sync applies the platform,
    waits for it to be healthy, then the Jobs, waits for them to complete, then the server. The Jobs are
    ordinary resources named by their content, not hooks: Argo CD leaves hooks out of its out-of-sync
    decision, so a changed hook would never run; a changed Job is a new resource, hence OutOfSync, and the old
    one is pruned after the sync (`PruneLast`).
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings) -> None:
        super().__init__(scope, id)
        gitops = env.gitops
        api_object(
            self,
            "application",
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": metadata(
                    n.argocd_application_name(env), gitops.namespace, LABELS, finalizers=[ARGOCD_FINALIZER]
                ),
                "spec": {
                    "project": n.argocd_project(env),
                    "source": {
                        "repoURL": gitops.repository_url or "",
                        "targetRevision": gitops.branch,
                        "path": environment_path(env),
                    },
                    "destination": {"server": gitops.argocd_destination},
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["PruneLast=true"],
                        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
                    },
                },
            },
        )


ARGOCD_PROJECT_WAVE = "-1"
"""The AppProject's sync wave: before the Application that uses it, when a parent Application applies both."""


class ArgoCdProject(Construct):
    """The Argo CD `AppProject` `mlflow-<env>` of the environment's Application (unless
    `gitops.argocd.project` names one of the user's): only the GitOps repository as source, only the
    namespaces the render writes to on the destination cluster, and only the kinds it holds (Namespace the one
    cluster-scoped kind), so the Application cannot be made to apply anything else.

    `targets` are the (group, kind, namespace) of every object of the units; namespace "" for cluster-scoped.
    """

    def __init__(
        self, scope: Construct, id: str, *, env: EnvironmentSettings, targets: tuple[tuple[str, str, str], ...]
    ) -> None:
        super().__init__(scope, id)
        gitops = env.gitops
        namespaces = sorted({ns for _, _, ns in targets if ns})
        cluster_kinds = sorted({(group, kind) for group, kind, ns in targets if not ns})
        namespaced_kinds = sorted({(group, kind) for group, kind, ns in targets if ns})
        api_object(
            self,
            "project",
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": metadata(
                    n.argocd_project_name(env),
                    gitops.namespace,
                    LABELS,
                    annotations={ARGOCD_SYNC_WAVE: ARGOCD_PROJECT_WAVE},
                ),
                "spec": {
                    "description": f"mlflow-gitops environment {env.name}: only what its render holds",
                    "sourceRepos": [gitops.repository_url or ""],
                    "destinations": [{"server": gitops.argocd_destination, "namespace": ns} for ns in namespaces],
                    "clusterResourceWhitelist": [{"group": group, "kind": kind} for group, kind in cluster_kinds],
                    "namespaceResourceWhitelist": [{"group": group, "kind": kind} for group, kind in namespaced_kinds],
                },
            },
        )
