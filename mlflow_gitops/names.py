"""Every derived name in one place: constructs ask here, so a name used twice cannot drift apart.

A Secret's name, for example, is written by its ExternalSecret and read by the Deployment; the Service's
port name is read by the ServiceMonitor; the public host feeds the allowed hosts, the redirect URI, the CORS
origin and the IngressRoute.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from mlflow_gitops.config.settings import EnvironmentSettings, InstanceSettings

APP = "mlflow"
MANAGED_BY = "mlflow-gitops"
HTTP_PORT = 5000
HTTP_PORT_NAME = "http"
METRICS_PORT = 9464
METRICS_PORT_NAME = "metrics"
METRICS_PATH = "/metrics"
SCRIPTS_DIR = "/opt/mlflow-gitops"
PROMETHEUS_DIR = "/var/run/mlflow/prometheus"
SESSION_DIR = "/tmp/session"
CACHE_DIR = "/tmp/flask_cache"
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
MONITORING_NAMESPACE_LABEL = "buun.channel/enable-monitoring"


@dataclass(frozen=True)
class Names:
    env: EnvironmentSettings
    instance: InstanceSettings

    # Kubernetes objects in the instance namespace
    @property
    def namespace(self) -> str:
        return self.instance.namespace

    @property
    def base(self) -> str:
        return self.instance.name

    @property
    def server(self) -> str:
        """Deployment, Service, ServiceAccount, IngressRoute and ServiceMonitor share the instance name."""
        return self.base

    @property
    def env_config_map(self) -> str:
        return f"{self.base}-env"

    @property
    def scripts_config_map(self) -> str:
        return f"{self.base}-scripts"

    @property
    def bootstrap_config_map(self) -> str:
        """Scripts of the Jobs (apart from the server's, so a Job script change does not roll the pods)."""
        return f"{self.base}-bootstrap"

    @property
    def bootstrap_service_account(self) -> str:
        return f"{self.base}-bootstrap"

    @property
    def bucket_policy(self) -> str:
        """MinIO policy that limits the instance's dedicated user to its bucket."""
        return f"{self.instance.bucket}-readwrite"

    @property
    def forwarded_headers_middleware(self) -> str:
        return f"{self.base}-forwarded-headers"

    @property
    def security_headers_middleware(self) -> str:
        return f"{self.base}-security-headers"

    @property
    def tls_secret(self) -> str | None:
        ingress = self.env.ingress
        if ingress.tls_cert_resolver:
            return None
        return ingress.tls_secret_name or f"{self.base}-tls"

    # Secrets (made by ExternalSecrets of the same name)
    @property
    def db_secret(self) -> str:
        return f"{self.base}-db-secret"

    @property
    def s3_secret(self) -> str:
        return f"{self.base}-s3-secret"

    @property
    def oidc_secret(self) -> str:
        return f"{self.base}-oidc-config"

    @property
    def session_secret(self) -> str:
        return f"{self.base}-session-secret"

    # Vault KV paths (below the store's mount)
    def vault(self, leaf: str) -> str:
        return f"{self.instance.vault_path}/{leaf}"

    # PostgreSQL (CloudNativePG objects live in the cluster's namespace)
    @property
    def postgres_namespace(self) -> str:
        return self.env.postgres.namespace

    @property
    def role_object(self) -> str:
        return self.base

    @property
    def database_object(self) -> str:
        return self.base

    @property
    def auth_database_object(self) -> str:
        return f"{self.base}-auth"

    @property
    def role_password_secret(self) -> str:
        """The basic-auth Secret CloudNativePG reads the role's password from (in the PostgreSQL namespace)."""
        return f"{self.base}-db-role"

    # URLs and hosts
    @property
    def service_dns(self) -> tuple[str, ...]:
        ns = self.namespace
        return (self.server, f"{self.server}.{ns}", f"{self.server}.{ns}.svc", f"{self.server}.{ns}.svc.cluster.local")

    @property
    def redis_secret(self) -> str:
        return f"{self.base}-redis"

    @property
    def instance_secrets(self) -> tuple[str, ...]:
        """Secrets the instance's own ExternalSecrets make in its namespace."""
        return (self.db_secret, self.s3_secret, self.oidc_secret, self.session_secret, self.redis_secret)

    # Redis (sessions of more than one replica)
    @property
    def redis(self) -> str:
        """Deployment, Service and ServiceAccount of the rendered Redis."""
        return f"{self.base}-redis"

    @property
    def redis_host(self) -> str:
        redis = self.instance.sessions.redis
        return redis.host or f"{self.redis}.{self.namespace}.svc.cluster.local"

    @cached_property
    def allowed_hosts(self) -> tuple[str, ...]:
        """Host headers the server accepts: the public host (with and without :443, and with the public
        URL's port if it has another) and the in-cluster service names (with and without the port) that
        clients inside the cluster use. Never '*'."""
        host = self.instance.host
        public = [host, f"{host}:443"]
        port = urlsplit(self.instance.url).port
        if port not in (None, 443):
            public.append(f"{host}:{port}")
        in_cluster = [h for name in self.service_dns for h in (name, f"{name}:{HTTP_PORT}")]
        return (*public, *in_cluster)

    @property
    def public_url(self) -> str:
        return self.instance.url

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/callback"

    @property
    def discovery_url(self) -> str:
        kc = self.env.keycloak
        return f"{kc.url.rstrip('/')}/realms/{kc.realm}/.well-known/openid-configuration"

    @property
    def artifacts_destination(self) -> str:
        return f"s3://{self.instance.bucket}/"

    @property
    def auth_db_uri_template(self) -> str:
        """ExternalSecret template (Go text/template + sprig) for OIDC_USERS_DB_URI.

        `urlquery` escapes reserved characters (a literal '+' becomes %2B) but turns a space into '+',
        which a URL's userinfo would read as a plus sign; the replace makes it %20.
        """
        pg = self.env.postgres
        return (
            "postgresql://{{ .username | urlquery }}:{{ .password | urlquery | replace \"+\" \"%20\" }}"
            f"@{pg.host}:{pg.port}/{self.instance.database.auth_name}?sslmode={pg.ssl_mode}"
        )

    # Labels
    @property
    def selector_labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": self.base}

    def labels(self, component: str) -> dict[str, str]:
        return {
            **self.selector_labels,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            "app.kubernetes.io/part-of": APP,
        }
