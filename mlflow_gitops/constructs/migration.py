"""The tracking- and auth-database migration: one Job per content, never an init container per replica."""

from __future__ import annotations

from cdk8s_plus_28 import k8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.scripts import script_sources

FLUX_FORCE = {"kustomize.toolkit.fluxcd.io/force": "enabled"}
BACKOFF_LIMIT = 3
ACTIVE_DEADLINE_SECONDS = 900


class Migration(Construct):
    """A Job that waits for PostgreSQL, then brings both databases to the current schema.

    Its name is `<instance>-db-migration-<hash of its spec>`: a new image, script or setting gives a new
    Job (Kubernetes refuses edits to a Job's pod template), an unchanged render leaves the finished one
    alone. Flux force-replaces it; no ttlSecondsAfterFinished, since a GitOps engine would re-create a
    Job the TTL controller deleted and run it again.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings,
                 names: n.Names) -> None:
        super().__init__(scope, id)
        image, pull = env.image.ref, env.image.pull_policy
        labels = names.labels("migration")
        job = k8s.KubeJob(self, "job", metadata=k8s.ObjectMeta(
            name=names.migration_job, namespace=names.namespace, labels=labels, annotations=FLUX_FORCE,
        ), spec=k8s.JobSpec(
            backoff_limit=BACKOFF_LIMIT,
            active_deadline_seconds=ACTIVE_DEADLINE_SECONDS,
            template=k8s.PodTemplateSpec(
                metadata=k8s.ObjectMeta(labels=labels, annotations={
                    "mlflow-gitops.io/script-checksum": pod.content_hash(script_sources()["migrate_db.py"]),
                }),
                spec=k8s.PodSpec(
                    restart_policy="Never",
                    service_account_name=names.server,
                    automount_service_account_token=False,
                    enable_service_links=False,
                    security_context=pod.pod_security_context(),
                    init_containers=[pod.wait_for_postgres(env, instance, names)],
                    containers=[k8s.Container(
                        name="migrate",
                        image=image,
                        image_pull_policy=pull,
                        command=pod.script_command("migrate_db.py"),
                        env=[
                            *pod.postgres_env(env, instance, names),
                            *pod.plain_env({"HOME": "/tmp"}),
                            pod.secret_env("OIDC_USERS_DB_URI", names.oidc_secret, "OIDC_USERS_DB_URI"),
                        ],
                        volume_mounts=[k8s.VolumeMount(name="tmp", mount_path="/tmp"), pod.scripts_mount()],
                        resources=pod.resources(pod.JOB),
                        security_context=pod.container_security_context(),
                    )],
                    volumes=[pod.empty_dir("tmp"), pod.scripts_volume(names)],
                ),
            ),
        ))
        self.job_name = pod.name_with_content_hash(job, names.migration_job)
