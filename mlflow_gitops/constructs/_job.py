"""One shape for every Job the GitOps engine applies: run-once, content-addressed, restricted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdk8s_plus_28 import k8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _pod as pod

FLUX_FORCE = {"kustomize.toolkit.fluxcd.io/force": "enabled"}
BACKOFF_LIMIT = 3
ACTIVE_DEADLINE_SECONDS = 900
SCRIPT_CHECKSUM_ANNOTATION = "mlflow-gitops.io/script-checksum"


def gitops_job(scope: Construct, id: str, *, names: n.Names, component: str, script: str, script_source: str,
               scripts_config_map: str, image: str, pull_policy: str, env: Sequence[k8s.EnvVar],
               init_containers: Sequence[k8s.Container] = (), resources: pod.Resources = pod.JOB,
               annotations: Mapping[str, str] = FLUX_FORCE) -> str:
    """Render a Job named `<instance>-<component>-<hash of its spec>` that runs `script` once; return the name.

    Kubernetes refuses changes to a Job's pod template, so the name carries a hash of everything that
    shapes the Job (image, env, the script's checksum): a change makes the GitOps engine create a new Job
    and run it again, an unchanged render leaves the finished one alone. Flux force-replaces it. No
    ttlSecondsAfterFinished: a GitOps engine would re-create a TTL-deleted Job and run it again.
    """
    prefix = f"{names.base}-{component}"
    labels = names.labels(component)
    job = k8s.KubeJob(scope, id, metadata=k8s.ObjectMeta(
        name=prefix, namespace=names.namespace, labels=labels, annotations=dict(annotations),
    ), spec=k8s.JobSpec(
        backoff_limit=BACKOFF_LIMIT,
        active_deadline_seconds=ACTIVE_DEADLINE_SECONDS,
        template=k8s.PodTemplateSpec(
            metadata=k8s.ObjectMeta(labels=labels, annotations={
                SCRIPT_CHECKSUM_ANNOTATION: pod.content_hash(script_source)}),
            spec=k8s.PodSpec(
                restart_policy="Never",
                service_account_name=names.server,
                automount_service_account_token=False,
                enable_service_links=False,
                security_context=pod.pod_security_context(),
                init_containers=list(init_containers) or None,
                containers=[k8s.Container(
                    name=component,
                    image=image,
                    image_pull_policy=pull_policy,
                    command=pod.script_command(script),
                    env=[*env, *pod.plain_env({"HOME": "/tmp"})],
                    volume_mounts=[k8s.VolumeMount(name="tmp", mount_path="/tmp"),
                                   pod.scripts_mount()],
                    resources=pod.resources(resources),
                    security_context=pod.container_security_context(),
                )],
                volumes=[pod.empty_dir("tmp"), pod.scripts_volume(scripts_config_map)],
            ),
        ),
    ))
    return pod.name_with_content_hash(job, prefix)
