"""The MLflow tracking server: ServiceAccount, ConfigMaps, Service and Deployment."""

from __future__ import annotations

from cdk8s_plus_28 import k8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.scripts import SERVER_SCRIPTS, script_sources

APP_NAME = "oidc-auth-fastapi"
CHECKSUM_ANNOTATION = "mlflow-gitops.io/config-checksum"


def server_env(env: EnvironmentSettings, instance: InstanceSettings, names: n.Names) -> dict[str, str]:
    """The server's plain (non-secret) environment, as held by the env ConfigMap."""
    oidc = instance.oidc
    return {
        "MLFLOW_S3_ENDPOINT_URL": env.s3.endpoint,
        "MLFLOW_S3_IGNORE_TLS": str(env.s3.ignore_tls).lower(),
        "OIDC_DISCOVERY_URL": names.discovery_url,
        "OIDC_REDIRECT_URI": names.redirect_uri,
        "OIDC_SCOPE": " ".join(oidc.scopes),
        "OIDC_PROVIDER_DISPLAY_NAME": env.keycloak.display_name,
        "OIDC_GROUPS_ATTRIBUTE": oidc.groups_attribute,
        "OIDC_ADMIN_GROUP_NAME": oidc.admin_group,
        "OIDC_GROUP_NAME": f"{oidc.admin_group},{oidc.user_group}",
        "DEFAULT_MLFLOW_PERMISSION": instance.default_permission,
        **session_env(instance, names),
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": names.public_url,
        "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(names.allowed_hosts),
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "SAMEORIGIN",
        "HOME": "/tmp",
    }


def session_env(instance: InstanceSettings, names: n.Names) -> dict[str, str]:
    """The plugin's session store and permission cache: pod-local files, or Redis shared by all replicas."""
    if instance.sessions.store == "filesystem":
        return {"SESSION_TYPE": "cachelib", "SESSION_CACHE_DIR": n.SESSION_DIR, "CACHE_DIR": n.CACHE_DIR}
    redis = instance.sessions.redis
    return {
        "SESSION_TYPE": "redis",
        "REDIS_HOST": names.redis_host,
        "REDIS_PORT": str(redis.port),
        "REDIS_DB": str(redis.db),
        "REDIS_SSL": str(redis.ssl).lower(),
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_HOST": names.redis_host,
        "CACHE_REDIS_PORT": str(redis.port),
        "CACHE_REDIS_DB": str(redis.db + 1),
    }


def server_args(instance: InstanceSettings, names: n.Names) -> list[str]:
    return [
        "server",
        "--host=0.0.0.0",
        f"--port={n.HTTP_PORT}",
        "--backend-store-uri=postgresql://",
        f"--artifacts-destination={names.artifacts_destination}",
        "--serve-artifacts",
        f"--expose-prometheus={n.PROMETHEUS_DIR}",
        f"--allowed-hosts={','.join(names.allowed_hosts)}",
        f"--app-name={APP_NAME}",
        f"--workers={instance.workers}",
    ]


class Server(Construct):
    """The tracking server of one instance.

    Renders a ServiceAccount (no token), the env ConfigMap, the scripts ConfigMap, a Service with the
    `http` and `metrics` ports, and a Deployment whose pods wait for PostgreSQL, run `mlflow server`
    read-only with emptyDirs for every writable path, and serve multiprocess metrics from a sidecar.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings,
                 names: n.Names) -> None:
        super().__init__(scope, id)
        labels = names.labels("server")
        meta = k8s.ObjectMeta(name=names.server, namespace=names.namespace, labels=labels)
        env_data = server_env(env, instance, names)
        scripts = script_sources(SERVER_SCRIPTS)

        k8s.KubeServiceAccount(self, "service-account", metadata=meta, automount_service_account_token=False)
        k8s.KubeConfigMap(self, "env", data=env_data, metadata=k8s.ObjectMeta(
            name=names.env_config_map, namespace=names.namespace, labels=labels))
        k8s.KubeConfigMap(self, "scripts", data=scripts, metadata=k8s.ObjectMeta(
            name=names.scripts_config_map, namespace=names.namespace, labels=labels))
        k8s.KubeService(self, "service", metadata=meta, spec=k8s.ServiceSpec(
            type="ClusterIP",
            selector={**names.selector_labels, "app.kubernetes.io/component": "server"},
            ports=[
                k8s.ServicePort(name=n.HTTP_PORT_NAME, port=n.HTTP_PORT,
                                target_port=k8s.IntOrString.from_string(n.HTTP_PORT_NAME), protocol="TCP"),
                k8s.ServicePort(name=n.METRICS_PORT_NAME, port=n.METRICS_PORT,
                                target_port=k8s.IntOrString.from_string(n.METRICS_PORT_NAME), protocol="TCP"),
            ],
        ))

        image, pull = env.image.ref, env.image.pull_policy
        checksum = pod.content_hash({"env": env_data, "scripts": scripts})
        selector = {**names.selector_labels, "app.kubernetes.io/component": "server"}
        k8s.KubeDeployment(self, "deployment", metadata=meta, spec=k8s.DeploymentSpec(
            # An autoscaled Deployment leaves replicas to the HPA, so a sync does not reset it.
            replicas=None if instance.autoscaling.enabled else instance.replicas,
            revision_history_limit=5,
            selector=k8s.LabelSelector(match_labels=selector),
            strategy=k8s.DeploymentStrategy(type="RollingUpdate", rolling_update=k8s.RollingUpdateDeployment(
                max_surge=k8s.IntOrString.from_string("100%"),
                max_unavailable=k8s.IntOrString.from_number(0))),
            template=k8s.PodTemplateSpec(
                metadata=k8s.ObjectMeta(labels=labels, annotations={CHECKSUM_ANNOTATION: checksum}),
                spec=k8s.PodSpec(
                    service_account_name=names.server,
                    automount_service_account_token=False,
                    enable_service_links=False,
                    security_context=pod.pod_security_context(),
                    topology_spread_constraints=_spread(selector) if _several(instance) else None,
                    init_containers=[pod.wait_for_postgres(env, instance, names)],
                    containers=[self._server(env, instance, names), self._metrics(image, pull)],
                    volumes=[
                        pod.empty_dir("tmp"),
                        pod.empty_dir("session"),
                        pod.empty_dir("cache"),
                        pod.empty_dir("prometheus", "64Mi"),
                        pod.scripts_volume(names.scripts_config_map),
                    ],
                ),
            ),
        ))

    @staticmethod
    def _server(env: EnvironmentSettings, instance: InstanceSettings, names: n.Names) -> k8s.Container:
        def health(**timing: int) -> k8s.Probe:
            return k8s.Probe(http_get=k8s.HttpGetAction(path="/health",
                                                        port=k8s.IntOrString.from_string(n.HTTP_PORT_NAME)),
                             timeout_seconds=3, **timing)

        return k8s.Container(
            name="mlflow",
            image=env.image.ref,
            image_pull_policy=env.image.pull_policy,
            command=["mlflow"],
            args=server_args(instance, names),
            ports=[k8s.ContainerPort(name=n.HTTP_PORT_NAME, container_port=n.HTTP_PORT, protocol="TCP")],
            env_from=[pod.config_map_env(names.env_config_map)],
            env=[
                *pod.postgres_env(env, instance, names),
                pod.secret_env("AWS_ACCESS_KEY_ID", names.s3_secret, "AWS_ACCESS_KEY_ID"),
                pod.secret_env("AWS_SECRET_ACCESS_KEY", names.s3_secret, "AWS_SECRET_ACCESS_KEY"),
                pod.secret_env("OIDC_CLIENT_ID", names.oidc_secret, "OIDC_CLIENT_ID"),
                pod.secret_env("OIDC_CLIENT_SECRET", names.oidc_secret, "OIDC_CLIENT_SECRET"),
                pod.secret_env("OIDC_USERS_DB_URI", names.oidc_secret, "OIDC_USERS_DB_URI"),
                pod.secret_env("SECRET_KEY", names.session_secret, "SECRET_KEY"),
                pod.secret_env("MLFLOW_FLASK_SERVER_SECRET_KEY", names.session_secret,
                               "MLFLOW_FLASK_SERVER_SECRET_KEY"),
                *([pod.secret_env("REDIS_PASSWORD", names.redis_secret, "REDIS_PASSWORD"),
                   pod.secret_env("CACHE_REDIS_PASSWORD", names.redis_secret, "REDIS_PASSWORD")]
                  if instance.sessions.store == "redis" else []),
            ],
            volume_mounts=[
                k8s.VolumeMount(name="tmp", mount_path="/tmp"),
                k8s.VolumeMount(name="session", mount_path=n.SESSION_DIR),
                k8s.VolumeMount(name="cache", mount_path=n.CACHE_DIR),
                k8s.VolumeMount(name="prometheus", mount_path=n.PROMETHEUS_DIR),
            ],
            startup_probe=health(period_seconds=5, failure_threshold=60),
            liveness_probe=health(initial_delay_seconds=10, period_seconds=30, failure_threshold=5),
            readiness_probe=health(initial_delay_seconds=10, period_seconds=30, failure_threshold=5),
            resources=pod.resources(instance.resources),
            security_context=pod.container_security_context(),
        )

    @staticmethod
    def _metrics(image: str, pull_policy: str) -> k8s.Container:
        return k8s.Container(
            name="metrics",
            image=image,
            image_pull_policy=pull_policy,
            command=pod.script_command("serve_metrics.py"),
            env=pod.plain_env({"PROMETHEUS_MULTIPROC_DIR": n.PROMETHEUS_DIR, "METRICS_PORT": str(n.METRICS_PORT)}),
            ports=[k8s.ContainerPort(name=n.METRICS_PORT_NAME, container_port=n.METRICS_PORT, protocol="TCP")],
            volume_mounts=[k8s.VolumeMount(name="prometheus", mount_path=n.PROMETHEUS_DIR, read_only=True),
                           pod.scripts_mount()],
            readiness_probe=k8s.Probe(tcp_socket=k8s.TcpSocketAction(
                port=k8s.IntOrString.from_string(n.METRICS_PORT_NAME)), period_seconds=30),
            liveness_probe=k8s.Probe(tcp_socket=k8s.TcpSocketAction(
                port=k8s.IntOrString.from_string(n.METRICS_PORT_NAME)), period_seconds=30, failure_threshold=5),
            resources=pod.resources(pod.SMALL),
            security_context=pod.container_security_context(),
        )


def _several(instance: InstanceSettings) -> bool:
    return instance.replicas > 1 or instance.autoscaling.enabled


def _spread(selector: dict[str, str]) -> list[k8s.TopologySpreadConstraint]:
    """Spread replicas across nodes (and zones where the nodes have zone labels) without blocking scheduling."""
    return [
        k8s.TopologySpreadConstraint(max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
                                     label_selector=k8s.LabelSelector(match_labels=selector))
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]
