"""A small Redis for the plugin's sessions when the server runs more than one replica."""

from __future__ import annotations

from cdk8s_plus_28 import k8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import InstanceSettings
from mlflow_gitops.constructs import _pod as pod

RESOURCES = pod.Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="500m", memory_limit="256Mi")


class Redis(Construct):
    """One Redis pod (sessions are short-lived: no persistence, `--save ''`), password from the
    `<instance>-redis` Secret (Vault `<vaultPath>/redis`), Pod Security restricted with a read-only root
    filesystem, reachable only from the server pods (see `Network`).
    """

    def __init__(self, scope: Construct, id: str, *, instance: InstanceSettings, names: n.Names) -> None:
        super().__init__(scope, id)
        redis = instance.sessions.redis
        labels = names.labels("redis")
        selector = {**names.selector_labels, "app.kubernetes.io/component": "redis"}
        meta = k8s.ObjectMeta(name=names.redis, namespace=names.namespace, labels=labels)
        k8s.KubeServiceAccount(self, "service-account", metadata=meta, automount_service_account_token=False)
        k8s.KubeService(self, "service", metadata=meta, spec=k8s.ServiceSpec(
            type="ClusterIP", selector=selector, ports=[k8s.ServicePort(
                name="redis", port=redis.port, target_port=k8s.IntOrString.from_string("redis"), protocol="TCP")]))
        probe = k8s.Probe(tcp_socket=k8s.TcpSocketAction(port=k8s.IntOrString.from_string("redis")),
                          period_seconds=10, failure_threshold=3)
        k8s.KubeDeployment(self, "deployment", metadata=meta, spec=k8s.DeploymentSpec(
            replicas=1,
            selector=k8s.LabelSelector(match_labels=selector),
            strategy=k8s.DeploymentStrategy(type="Recreate"),
            template=k8s.PodTemplateSpec(metadata=k8s.ObjectMeta(labels=labels), spec=k8s.PodSpec(
                service_account_name=names.redis,
                automount_service_account_token=False,
                enable_service_links=False,
                security_context=pod.pod_security_context(),
                containers=[k8s.Container(
                    name="redis",
                    image=redis.image,
                    image_pull_policy="IfNotPresent",
                    command=["redis-server"],
                    args=["--port", str(redis.port), "--requirepass", "$(REDIS_PASSWORD)", "--save", "",
                          "--appendonly", "no", "--dir", "/data"],
                    env=[pod.secret_env("REDIS_PASSWORD", names.redis_secret, "REDIS_PASSWORD")],
                    ports=[k8s.ContainerPort(name="redis", container_port=redis.port, protocol="TCP")],
                    readiness_probe=probe,
                    liveness_probe=probe,
                    volume_mounts=[k8s.VolumeMount(name="data", mount_path="/data")],
                    resources=pod.resources(RESOURCES),
                    security_context=pod.container_security_context(),
                )],
                volumes=[pod.empty_dir("data", "128Mi")],
            )),
        ))
