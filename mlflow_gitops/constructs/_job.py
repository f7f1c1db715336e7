"""One shape for every Job the GitOps engine applies: run-once, content-addressed, restricted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _hash as content
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs import _postgres as pg_pod
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.settings import CaSecret, ImageSettings, PodSettings, Resources

BACKOFF_LIMIT = 3
ACTIVE_DEADLINE_SECONDS = 900
SCRIPT_CHECKSUM_ANNOTATION = "mlflow-gitops.io/script-checksum"
ENGINE_ANNOTATIONS = {
    # Flux re-creates a Job whose immutable pod template changed instead of failing to patch it.
    "flux": {"kustomize.toolkit.fluxcd.io/force": "enabled"},
    # Argo CD: an ordinary resource in the bootstrap wave (constructs.gitops.ArgoCdSync), not a hook.
    "argocd": {},
}


@dataclass(frozen=True)
class JobRuntime:
    """Where every Job of one instance runs."""

    names: n.Names
    image: ImageSettings
    """The custom image (`image`)."""
    placement: PodSettings
    """The instance's pod placement (`instances[].pods`)."""
    engine: str
    """The GitOps engine that applies the Jobs (`gitops.engine`): it decides their annotations."""
    postgres_ca: CaSecret | None
    """PostgreSQL's CA (`postgres.ca`), mounted into a Job that connects to PostgreSQL."""

    @property
    def bootstrap(self) -> JobPlace:
        """The instance namespace, with the `<instance>-bootstrap` ServiceAccount and scripts ConfigMap."""
        names = self.names
        return JobPlace(names.namespace, names.bootstrap_service_account, names.bootstrap_config_map, self.postgres_ca)

    @property
    def postgres_namespace(self) -> JobPlace:
        """PostgreSQL's namespace, with the `<instance>-db-role` ServiceAccount and scripts ConfigMap."""
        names = self.names
        identity = names.db_role_identity
        return JobPlace(names.postgres_namespace, identity, identity, names.postgres_ca_in_postgres_namespace)


@dataclass(frozen=True)
class JobPlace:
    """Where a Job runs: its namespace, ServiceAccount, scripts ConfigMap and the CA Secret there."""

    namespace: str
    service_account: str
    config_map: str
    postgres_ca: CaSecret | None


def gitops_job(
    scope: Construct,
    id: str,
    *,
    runtime: JobRuntime,
    component: str,
    script: str,
    scripts_checksum: str,
    variables: Sequence[pod.EnvVar],
    init_containers: Sequence[pod.Container] = (),
    resources: Resources = pod.JOB,
    postgres: bool = False,
    annotations: Mapping[str, str] | None = None,
    place: JobPlace | None = None,
) -> str:
    """Render a Job named `<instance>-<component>-<hash of its spec>` that runs `script` once; return the name.

    It runs on the custom image with the `<instance>-bootstrap` ServiceAccount (no token) and the scripts
    of the `<instance>-bootstrap` ConfigMap. Kubernetes refuses changes to a Job's pod template, so the
    name carries a hash of everything that shapes the Job (image, variables, `scripts_checksum`): a change
    makes the GitOps engine create a new Job and run it again, an unchanged render leaves the finished one
    alone. Annotated for the configured engine (`ENGINE_ANNOTATIONS`). No ttlSecondsAfterFinished: a GitOps
    engine would re-create a TTL-deleted Job and run it again. A Job that connects to PostgreSQL (`postgres`)
    mounts its CA when one is configured. `place` defaults to the instance namespace (`JobRuntime.bootstrap`).
    """
    names = runtime.names
    place = place or runtime.bootstrap
    prefix = names.job_prefix(component)
    labels = names.labels(component)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(
            prefix, place.namespace, labels, {**ENGINE_ANNOTATIONS[runtime.engine], **(annotations or {})}
        ),
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
            "template": {
                "metadata": pod.template_metadata(
                    labels, runtime.placement, {SCRIPT_CHECKSUM_ANNOTATION: scripts_checksum}
                ),
                "spec": pod.restricted_pod_spec(
                    service_account=place.service_account,
                    placement=runtime.placement,
                    restartPolicy="Never",
                    initContainers=list(init_containers) or None,
                    containers=[
                        pod.container(
                            component,
                            image=runtime.image.ref,
                            pull_policy=runtime.image.pull_policy,
                            res=resources,
                            command=pod.script_command(script),
                            env=[*variables, *pod.plain_env({"HOME": "/tmp", "MLFLOW_DISABLE_TELEMETRY": "true"})],
                            volumeMounts=[
                                pod.volume_mount("tmp", "/tmp"),
                                pod.scripts_mount(),
                                *(pg_pod.postgres_ca_mounts(place.postgres_ca) if postgres else []),
                            ],
                        )
                    ],
                    volumes=[
                        pod.empty_dir("tmp"),
                        pod.scripts_volume(place.config_map),
                        *(pg_pod.postgres_ca_volumes(place.postgres_ca) if postgres else []),
                    ],
                ),
            },
        },
    }
    name = content.name_with_content_hash(job, prefix)
    api_object(scope, id, job)
    return name
