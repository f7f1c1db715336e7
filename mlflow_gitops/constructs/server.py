"""The MLflow tracking server: ServiceAccount, ConfigMaps, Service and Deployment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cdk8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _hash as content
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs import _postgres as pg_pod
from mlflow_gitops.constructs import _service as service
from mlflow_gitops.constructs._object import Manifest, api_object, canonical, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.scripts import SERVER_SCRIPTS, script_sources
from mlflow_gitops.settings import (
    ImageSettings,
    OidcSettings,
    PodSettings,
    Resources,
    S3Settings,
    ServerOptions,
    SessionSettings,
    TmpSettings,
)

APP_NAME = "oidc-auth-fastapi"
SERVER_CONTAINER = "mlflow"
"""The MLflow container of the server pod (`Server.add_env` and `add_volume` change it)."""
CHECKSUM_ANNOTATION = "mlflow-gitops.io/config-checksum"


@dataclass(frozen=True)
class ServerProps:
    """What the server of one instance is made from (each field names the config key it comes from)."""

    names: n.Names
    image: ImageSettings
    """The custom image (`image`)."""
    postgres: pg_pod.PostgresAccess
    """The tracking database (`postgres`, `instances[].database`)."""
    s3: S3Settings
    """The artifact store the server proxies (`s3`)."""
    provider_display_name: str
    """The login button's label (`keycloak.displayName`)."""
    reload_pods: bool
    """Annotate for Reloader (`vault.reloadPods`)."""
    replicas: int
    """`instances[].replicas`; left to the HorizontalPodAutoscaler when `autoscaled`."""
    autoscaled: bool
    """`instances[].autoscaling.enabled`."""
    workers: int
    """`instances[].workers`."""
    resources: Resources
    """The MLflow container's requests and limits (`instances[].resources`)."""
    tmp: TmpSettings
    """The writable /tmp (`instances[].tmp`)."""
    placement: PodSettings
    """`instances[].pods`."""
    oidc: OidcSettings
    """`instances[].oidc`."""
    default_permission: str
    """`instances[].defaultPermission`."""
    sessions: SessionSettings
    """`instances[].sessions`."""
    options: ServerOptions
    """`instances[].server`."""

    @property
    def several(self) -> bool:
        """More than one pod at a time (spread across nodes)."""
        return self.replicas > 1 or self.autoscaled


def server_env(props: ServerProps) -> dict[str, str]:
    """The server's plain (non-secret) environment, as held by the env ConfigMap."""
    oidc, names, s3, options = props.oidc, props.names, props.s3, props.options
    return {
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
        "MLFLOW_S3_IGNORE_TLS": str(s3.ignore_tls).lower(),
        **({"AWS_DEFAULT_REGION": s3.region} if s3.region else {}),
        "OIDC_DISCOVERY_URL": names.discovery_url,
        "OIDC_CLIENT_ID": oidc.client_id,
        "OIDC_REDIRECT_URI": names.redirect_uri,
        "OIDC_SCOPE": " ".join(oidc.scopes),
        "OIDC_PROVIDER_DISPLAY_NAME": props.provider_display_name,
        "OIDC_GROUPS_ATTRIBUTE": oidc.groups_attribute,
        "OIDC_ADMIN_GROUP_NAME": oidc.admin_group,
        "OIDC_GROUP_NAME": f"{oidc.admin_group},{oidc.user_group}",
        "DEFAULT_MLFLOW_PERMISSION": props.default_permission,
        "LOG_LEVEL": options.log_level,
        "MLFLOW_LOGGING_LEVEL": options.log_level,
        "AUTOMATIC_LOGIN_REDIRECT": str(options.automatic_login_redirect).lower(),
        **{"PROXY_FIX_X_" + header.removeprefix("x").upper(): str(hops) for header, hops in options.proxy_fix},
        **session_env(props.sessions, names),
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": names.public_url,
        "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(names.allowed_hosts),
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "SAMEORIGIN",
        "HOME": "/tmp",
        # MLflow 3.x sends usage telemetry by default; the default-deny egress would only make it retry.
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def session_env(sessions: SessionSettings, names: n.Names) -> dict[str, str]:
    """The plugin's session store and cache: pod-local files, or Redis shared by all replicas.

    The plugin's Redis cache (mlflow-oidc-auth 5.6.1 `cache/rediscache.py`) has no TLS setting, so with a TLS
    Redis the cache stays pod-local files (it only holds short-lived lookups; each replica fills its own) while
    the sessions, which must be shared, go to Redis over TLS (`REDIS_SSL`)."""
    pod_local_cache = {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": n.CACHE_DIR}
    if sessions.store == "filesystem":
        return {"SESSION_TYPE": "cachelib", "SESSION_CACHE_DIR": n.SESSION_DIR, **pod_local_cache}
    redis = sessions.redis
    shared_cache = {
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_HOST": names.redis_host,
        "CACHE_REDIS_PORT": str(redis.port),
        "CACHE_REDIS_DB": str(redis.db + 1),
    }
    return {
        "SESSION_TYPE": "redis",
        "REDIS_HOST": names.redis_host,
        "REDIS_PORT": str(redis.port),
        "REDIS_DB": str(redis.db),
        "REDIS_SSL": str(redis.ssl).lower(),
        **(pod_local_cache if redis.ssl else shared_cache),
    }


def server_args(props: ServerProps) -> list[str]:
    names, static_prefix = props.names, props.options.static_prefix
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
        f"--workers={props.workers}",
        *([f"--static-prefix={static_prefix}"] if static_prefix else []),
    ]


class Server(Part):
    """The tracking server of one instance.

    Renders a ServiceAccount (no token), the env ConfigMap, the scripts ConfigMap, a Service with the
    `http` and `metrics` ports, and a Deployment whose pods wait for PostgreSQL, run `mlflow server`
    read-only with emptyDirs for every writable path, and serve multiprocess metrics from a sidecar.
    """

    def __init__(self, scope: Construct, id: str, *, props: ServerProps) -> None:
        super().__init__(scope, id)
        names, options = props.names, props.options
        labels = names.labels("server")
        meta = metadata(names.server, names.namespace, labels)
        env_data = {**server_env(props), **dict(options.extra_env)}
        scripts = script_sources(SERVER_SCRIPTS)
        selector = names.component_selector("server")

        api_object(
            self,
            "service-account",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        )
        api_object(
            self,
            "env",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "data": env_data,
                "metadata": metadata(names.env_config_map, names.namespace, labels),
            },
        )
        api_object(
            self,
            "scripts",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "data": scripts,
                "metadata": metadata(names.scripts_config_map, names.namespace, labels),
            },
        )
        annotated = {
            **meta,
            "labels": {**dict(options.service_labels), **labels},
            "annotations": dict(options.service_annotations) or None,
        }
        api_object(
            self,
            "service",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": annotated,
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector,
                    "ports": [
                        service.service_port(n.HTTP_PORT_NAME, n.HTTP_PORT),
                        service.service_port(n.METRICS_PORT_NAME, n.METRICS_PORT),
                    ],
                },
            },
        )

        image, pull, ca = props.image.ref, props.image.pull_policy, props.postgres.settings.ca
        checksum = content.content_hash({"env": env_data, "scripts": scripts})
        rolled = {**meta, "annotations": pod.RELOADER if props.reload_pods else None}
        self._manifest: Manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": rolled,
            "spec": {
                # An autoscaled Deployment leaves replicas to the HPA, so a sync does not reset it.
                "replicas": None if props.autoscaled else props.replicas,
                "revisionHistoryLimit": 5,
                "selector": service.match_labels(selector),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}},
                "template": {
                    "metadata": pod.template_metadata(labels, props.placement, {CHECKSUM_ANNOTATION: checksum}),
                    "spec": pod.restricted_pod_spec(
                        service_account=names.server,
                        placement=props.placement,
                        topologySpreadConstraints=_spread(selector) if props.several else None,
                        initContainers=[
                            pg_pod.wait_for_postgres(props.image, props.postgres),
                            *(pod.extra_container(c, pull) for c in options.init_containers),
                        ],
                        containers=[
                            self._server(props),
                            self._metrics(image, pull),
                            *(pod.extra_container(c, pull) for c in options.sidecars),
                        ],
                        volumes=[
                            pod.empty_dir("tmp", props.tmp.size_limit, props.tmp.medium == "memory"),
                            pod.empty_dir("session"),
                            pod.empty_dir("cache"),
                            pod.empty_dir("prometheus", "64Mi"),
                            pod.scripts_volume(names.scripts_config_map),
                            *pg_pod.postgres_ca_volumes(ca),
                            *(pod.extra_volume(v) for v in options.extra_volumes),
                        ],
                    ),
                },
            },
        }
        self.deployment = api_object(self, "deployment", self._manifest)
        """The server's Deployment (a cdk8s ApiObject): extend it with the methods below, or `add_json_patch`."""

    # ------------------------------------------------------------------------------------------- extending
    @property
    def pod_spec(self) -> dict[str, Any]:
        """The Deployment's pod spec as rendered so far (read it; change it through the methods below)."""
        return dict(self._manifest["spec"]["template"]["spec"])

    def _set(self, field: str, value: Any) -> None:
        """Set the pod spec's `field` here and in the rendered Deployment (a JSON patch; `add` replaces)."""
        self._manifest["spec"]["template"]["spec"][field] = value
        self.deployment.add_json_patch(cdk8s.JsonPatch.add(f"/spec/template/spec/{field}", canonical(value)))

    def _server_container(self) -> pod.Container:
        containers: list[pod.Container] = self._manifest["spec"]["template"]["spec"]["containers"]
        return next(c for c in containers if c["name"] == SERVER_CONTAINER)

    def add_env(self, name: str, value: str) -> None:
        """An environment variable of the MLflow container (the render's own names are refused)."""
        if n.render_owns_env(name) or any(var["name"] == name for var in self._server_container()["env"]):
            raise ValueError(f"add_env {name!r}: the render sets this variable itself")
        self._server_container()["env"].append({"name": name, "value": value})
        self._set("containers", self._manifest["spec"]["template"]["spec"]["containers"])

    def add_toleration(self, toleration: Mapping[str, Any]) -> None:
        """A toleration of the server's pods, e.g. `{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}`."""
        spec = self._manifest["spec"]["template"]["spec"]
        self._set("tolerations", [*(spec.get("tolerations") or []), dict(toleration)])

    def add_volume(self, volume: Mapping[str, Any], mount_path: str, *, read_only: bool = True) -> None:
        """A volume of the server's pods (as `instances[].server.extraVolumes` takes it), mounted into the
        MLflow container at `mount_path`."""
        spec = self._manifest["spec"]["template"]["spec"]
        if any(v["name"] == volume["name"] for v in spec["volumes"]):
            raise ValueError(f"add_volume {volume['name']!r}: the pod already has a volume of this name")
        self._set("volumes", [*spec["volumes"], pod.extra_volume(volume)])
        self._server_container()["volumeMounts"].append(pod.volume_mount(str(volume["name"]), mount_path, read_only))
        self._set("containers", spec["containers"])

    def add_sidecar(self, container: Mapping[str, Any], *, pull_policy: str = "IfNotPresent") -> None:
        """A sidecar container (as `instances[].server.sidecars` takes it), given the restricted security
        context and resources like the render's own."""
        spec = self._manifest["spec"]["template"]["spec"]
        if any(c["name"] == container["name"] for c in [*spec["containers"], *(spec.get("initContainers") or [])]):
            raise ValueError(f"add_sidecar {container['name']!r}: the pod already has a container of this name")
        self._set("containers", [*spec["containers"], pod.extra_container(container, pull_policy)])

    @staticmethod
    def _server(props: ServerProps) -> pod.Container:
        names, options = props.names, props.options

        def health(**timing: int) -> dict[str, Any]:
            return pod.http_probe("/health", n.HTTP_PORT_NAME, timeoutSeconds=3, **timing)

        return pod.container(
            SERVER_CONTAINER,
            image=props.image.ref,
            pull_policy=props.image.pull_policy,
            res=props.resources,
            command=["mlflow"],
            args=server_args(props),
            ports=[service.container_port(n.HTTP_PORT_NAME, n.HTTP_PORT)],
            envFrom=[
                pod.config_map_env(names.env_config_map),
                *(
                    {"configMapRef" if kind == "configMap" else "secretRef": {"name": name}}
                    for kind, name in options.extra_env_from
                ),
            ],
            env=[
                *pg_pod.postgres_env(props.postgres),
                pod.secret_env("AWS_ACCESS_KEY_ID", names.s3_secret, "AWS_ACCESS_KEY_ID"),
                pod.secret_env("AWS_SECRET_ACCESS_KEY", names.s3_secret, "AWS_SECRET_ACCESS_KEY"),
                pod.secret_env("OIDC_CLIENT_SECRET", names.oidc_secret, "OIDC_CLIENT_SECRET"),
                pod.secret_env("OIDC_USERS_DB_URI", names.oidc_secret, "OIDC_USERS_DB_URI"),
                pod.secret_env("SECRET_KEY", names.session_secret, "SECRET_KEY"),
                pod.secret_env(
                    "MLFLOW_FLASK_SERVER_SECRET_KEY", names.session_secret, "MLFLOW_FLASK_SERVER_SECRET_KEY"
                ),
                *(
                    [
                        pod.secret_env("REDIS_PASSWORD", names.redis_secret, "REDIS_PASSWORD"),
                        pod.secret_env("CACHE_REDIS_PASSWORD", names.redis_secret, "REDIS_PASSWORD"),
                    ]
                    if props.sessions.store == "redis"
                    else []
                ),
            ],
            volumeMounts=[
                pod.volume_mount("tmp", "/tmp"),
                pod.volume_mount("session", n.SESSION_DIR),
                pod.volume_mount("cache", n.CACHE_DIR),
                pod.volume_mount("prometheus", n.PROMETHEUS_DIR),
                *pg_pod.postgres_ca_mounts(props.postgres.settings.ca),
                *(dict(m) for m in options.extra_volume_mounts),
            ],
            startupProbe=health(periodSeconds=5, failureThreshold=60),
            livenessProbe=health(initialDelaySeconds=10, periodSeconds=30, failureThreshold=5),
            readinessProbe=health(initialDelaySeconds=10, periodSeconds=30, failureThreshold=5),
        )

    @staticmethod
    def _metrics(image: str, pull_policy: str) -> pod.Container:
        return pod.container(
            "metrics",
            image=image,
            pull_policy=pull_policy,
            res=pod.SMALL,
            command=pod.script_command("serve_metrics.py"),
            env=pod.plain_env({"PROMETHEUS_MULTIPROC_DIR": n.PROMETHEUS_DIR, "METRICS_PORT": str(n.METRICS_PORT)}),
            ports=[service.container_port(n.METRICS_PORT_NAME, n.METRICS_PORT)],
            volumeMounts=[pod.volume_mount("prometheus", n.PROMETHEUS_DIR, read_only=True), pod.scripts_mount()],
            readinessProbe=pod.tcp_probe(n.METRICS_PORT_NAME, periodSeconds=30),
            livenessProbe=pod.tcp_probe(n.METRICS_PORT_NAME, periodSeconds=30, failureThreshold=5),
        )


def _spread(selector: dict[str, str]) -> list[dict[str, Any]]:
    """Spread replicas across nodes (and zones where the nodes have zone labels) without blocking scheduling."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": service.match_labels(selector),
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]
