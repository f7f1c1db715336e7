"""A small Redis for the plugin's sessions when the server runs more than one replica."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs import _service as service
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.settings import PodSettings, RedisSettings, Resources

RESOURCES = Resources(cpu_request="50m", memory_request="64Mi", cpu_limit="500m", memory_limit="256Mi")


@dataclass(frozen=True)
class RedisProps:
    names: n.Names
    redis: RedisSettings
    """Its port and image (`instances[].sessions.redis`)."""
    placement: PodSettings
    """`instances[].pods`."""
    reload_pods: bool
    """Annotate for Reloader (`vault.reloadPods`)."""


class Redis(Part):
    """One Redis pod (sessions are short-lived: no persistence, `--save ''`), password from the
    `<instance>-redis` Secret (Vault `<vaultPath>/redis`), Pod Security restricted with a read-only root
    filesystem, reachable only from the server pods (see `Network`).
    """

    def __init__(self, scope: Construct, id: str, *, props: RedisProps) -> None:
        super().__init__(scope, id)
        redis, names = props.redis, props.names
        labels = names.labels("redis")
        selector = names.component_selector("redis")
        meta = metadata(names.redis, names.namespace, labels)
        api_object(
            self,
            "service-account",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        )
        api_object(
            self,
            "service",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector,
                    "ports": [service.service_port("redis", redis.port)],
                },
            },
        )
        probe = pod.tcp_probe("redis", periodSeconds=10, failureThreshold=3)
        rolled = {**meta, "annotations": pod.RELOADER if props.reload_pods else None}
        api_object(
            self,
            "deployment",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": rolled,
                "spec": {
                    "replicas": 1,
                    "selector": service.match_labels(selector),
                    "strategy": {"type": "Recreate"},
                    "template": {
                        "metadata": pod.template_metadata(labels, props.placement),
                        "spec": pod.restricted_pod_spec(
                            service_account=names.redis,
                            placement=props.placement,
                            containers=[
                                pod.container(
                                    "redis",
                                    image=redis.image,
                                    pull_policy="IfNotPresent",
                                    res=RESOURCES,
                                    command=["redis-server"],
                                    args=[
                                        "--port",
                                        str(redis.port),
                                        "--requirepass",
                                        "$(REDIS_PASSWORD)",
                                        "--save",
                                        "",
                                        "--appendonly",
                                        "no",
                                        "--dir",
                                        "/data",
                                    ],
                                    env=[pod.secret_env("REDIS_PASSWORD", names.redis_secret, "REDIS_PASSWORD")],
                                    ports=[service.container_port("redis", redis.port)],
                                    readinessProbe=probe,
                                    livenessProbe=probe,
                                    volumeMounts=[pod.volume_mount("data", "/data")],
                                )
                            ],
                            volumes=[pod.empty_dir("data", "128Mi")],
                        ),
                    },
                },
            },
        )
