"""The GitOps engine's objects that apply one environment's units in order: Flux or Argo CD."""

from __future__ import annotations

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings
from mlflow_gitops.constructs._object import api_object, metadata

UNITS = n.UNITS
# The path-qualified spelling of Argo CD's cascading-delete finalizer (same foreground deletion as the bare
# `resources-finalizer.argocd.argoproj.io`, which the API server warns about since Kubernetes 1.29).
ARGOCD_FINALIZER = "resources-finalizer.argocd.argoproj.io/foreground"
LABELS = {"app.kubernetes.io/part-of": n.APP, "app.kubernetes.io/managed-by": n.MANAGED_BY}


def unit_path(env: EnvironmentSettings, unit: str) -> str:
    """Path of a unit's folder inside the GitOps repository, relative to its root (Argo CD's form; Flux
    writes the same with a leading `./`)."""
    base = env.gitops.path.strip("/")
    return "/".join(p for p in ("" if base == "." else base, env.name, unit) if p)


class FluxSync(Construct):
    """Flux `Kustomization`s (kustomize.toolkit.fluxcd.io/v1), one per unit, chained with `dependsOn` so
    platform -> bootstrap -> app, each with `wait` (the next starts once every object is ready, the Jobs
    complete) and `prune` (objects removed from Git are deleted). They read the environment's own
    `mlflow-gitops-<env>` `GitRepository` rendered here when `gitops.repository.url` is set, else the
    `flux-system` one that `flux bootstrap` made.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings) -> None:
        super().__init__(scope, id)
        gitops = env.gitops
        source = n.FLUX_DEFAULT_SOURCE
        if gitops.repository_url:
            source = n.flux_source_name(env)
            api_object(self, "source", {
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": metadata(source, gitops.namespace, LABELS),
                "spec": {
                    "url": gitops.repository_url,
                    "interval": gitops.interval,
                    "ref": {"branch": gitops.branch},
                    "secretRef": {"name": gitops.secret_name} if gitops.secret_name else None,
                },
            })
        previous: str | None = None
        for unit in UNITS:
            name = n.engine_object_name(env, unit)
            api_object(self, unit, {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": metadata(name, gitops.namespace, LABELS),
                "spec": {
                    "interval": gitops.interval,
                    "path": f"./{unit_path(env, unit)}",
                    "prune": True,
                    "wait": True,
                    "timeout": gitops.timeout,
                    "retryInterval": "1m",
                    "sourceRef": {"kind": "GitRepository", "name": source},
                    "dependsOn": [{"name": previous}] if previous else None,
                },
            })
            previous = name


class ArgoCdSync(Construct):
    """Argo CD `Application`s (argoproj.io/v1alpha1), one per unit, ordered by sync waves 0, 1, 2, with
    automated sync, prune and self-heal. Sync waves order Applications created by a parent ("app of
    apps") Application that points at this folder; Argo CD waits for a wave's Applications to be healthy
    only with the Application health check enabled in argocd-cm (see the README). The bootstrap Jobs are
    Sync hooks (`argocd.argoproj.io/hook`), re-created before each run (BeforeHookCreation).
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings) -> None:
        super().__init__(scope, id)
        gitops = env.gitops
        for wave, unit in enumerate(UNITS):
            api_object(self, unit, {
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": metadata(n.engine_object_name(env, unit), gitops.namespace, LABELS,
                                     annotations={"argocd.argoproj.io/sync-wave": str(wave)},
                                     finalizers=[ARGOCD_FINALIZER]),
                "spec": {
                    "project": gitops.argocd_project,
                    "source": {"repoURL": gitops.repository_url or "", "targetRevision": gitops.branch,
                               "path": unit_path(env, unit)},
                    "destination": {"server": gitops.argocd_destination},
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
                    },
                },
            })
