"""The GitOps engine's objects that apply one environment's units in order: Flux or Argo CD."""

from __future__ import annotations

from cdk8s import ApiObjectMetadata
from constructs import Construct

from imports.argocd_application.io import argoproj as argo
from imports.flux_gitrepository.io.fluxcd.toolkit import source as flux_source
from imports.flux_kustomization.io.fluxcd.toolkit import kustomize as flux
from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings

UNITS = ("platform", "bootstrap", "app")
"""Applied in this order: platform (namespaces, ExternalSecrets, database CRs) -> bootstrap (migration and
setup Jobs) -> app (the server, its Service, ingress and monitoring)."""
FLUX_SOURCE = "mlflow-gitops"
FLUX_DEFAULT_SOURCE = "flux-system"
ARGOCD_FINALIZER = "resources-finalizer.argocd.argoproj.io"
LABELS = {"app.kubernetes.io/part-of": n.APP, "app.kubernetes.io/managed-by": n.MANAGED_BY}


def unit_path(env: EnvironmentSettings, unit: str) -> str:
    """Path of a unit's folder inside the GitOps repository, relative to its root (Argo CD's form; Flux
    writes the same with a leading `./`)."""
    base = env.gitops.path.strip("/")
    return "/".join(p for p in ("" if base == "." else base, env.name, unit) if p)


def object_name(env: EnvironmentSettings, unit: str) -> str:
    return f"{n.APP}-{env.name}-{unit}"


class FluxSync(Construct):
    """Flux `Kustomization`s (kustomize.toolkit.fluxcd.io/v1), one per unit, chained with `dependsOn` so
    platform -> bootstrap -> app, each with `wait` (the next starts once every object is ready, the Jobs
    complete) and `prune` (objects removed from Git are deleted). They read the `mlflow-gitops`
    `GitRepository` rendered here when `gitops.repository.url` is set, else the `flux-system` one that
    `flux bootstrap` made.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings) -> None:
        super().__init__(scope, id)
        gitops = env.gitops

        def meta(name: str) -> ApiObjectMetadata:
            return ApiObjectMetadata(name=name, namespace=gitops.namespace, labels=LABELS)

        source = FLUX_DEFAULT_SOURCE
        if gitops.repository_url:
            source = FLUX_SOURCE
            flux_source.GitRepository(self, "source", metadata=meta(source), spec=flux_source.GitRepositorySpec(
                url=gitops.repository_url,
                interval=gitops.interval,
                ref=flux_source.GitRepositorySpecRef(branch=gitops.branch),
                secret_ref=flux_source.GitRepositorySpecSecretRef(name=gitops.secret_name)
                if gitops.secret_name else None,
            ))
        previous: str | None = None
        for unit in UNITS:
            name = object_name(env, unit)
            flux.Kustomization(self, unit, metadata=meta(name), spec=flux.KustomizationSpec(
                interval=gitops.interval,
                path=f"./{unit_path(env, unit)}",
                prune=True,
                wait=True,
                timeout=gitops.timeout,
                retry_interval="1m",
                source_ref=flux.KustomizationSpecSourceRef(
                    kind=flux.KustomizationSpecSourceRefKind.GIT_REPOSITORY, name=source),
                depends_on=[flux.KustomizationSpecDependsOn(name=previous)] if previous else None,
            ))
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
            argo.Application(self, unit, metadata=ApiObjectMetadata(
                name=object_name(env, unit), namespace=gitops.namespace, labels=LABELS,
                annotations={"argocd.argoproj.io/sync-wave": str(wave)}, finalizers=[ARGOCD_FINALIZER],
            ), spec=argo.ApplicationSpec(
                project=gitops.argocd_project,
                source=argo.ApplicationSpecSource(repo_url=gitops.repository_url or "",
                                                  target_revision=gitops.branch, path=unit_path(env, unit)),
                destination=argo.ApplicationSpecDestination(server=gitops.argocd_destination),
                sync_policy=argo.ApplicationSpecSyncPolicy(
                    automated=argo.ApplicationSpecSyncPolicyAutomated(prune=True, self_heal=True),
                    retry=argo.ApplicationSpecSyncPolicyRetry(
                        limit=5,
                        backoff=argo.ApplicationSpecSyncPolicyRetryBackoff(duration="10s", factor=2, max_duration="5m"),
                    ),
                ),
            ))
