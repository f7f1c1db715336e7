"""Every derived name in one place: constructs ask here, so a name used twice cannot drift apart.

A Secret's name, for example, is written by its ExternalSecret and read by the Deployment; the Service's
port name is read by the ServiceMonitor; the public host feeds the allowed hosts, the redirect URI, the CORS
origin and the IngressRoute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mlflow_gitops.settings import KEYCLOAK_SERVICE_ACCOUNT, MINIO_SETUP_USER

if TYPE_CHECKING:  # only types: names must import without the config package (which validates with names)
    from mlflow_gitops.settings import AdminSecret, CaSecret, ClientSecret, EnvironmentSettings, InstanceSettings

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
UNITS = ("platform", "bootstrap", "app")
"""Applied in this order: platform (namespaces, ExternalSecrets, database CRs) -> bootstrap (migration and
setup Jobs) -> app (the server, its Service, ingress and monitoring)."""
JOB_HASH_LENGTH = 10
"""Characters of the content hash at the end of a Job's name."""
MIGRATION, KEYCLOAK_SETUP, MINIO_SETUP = "db-migration", "keycloak-setup", "minio-setup"
POSTGRES_SETUP = "db-role"
OIDC_CLEANUP, MINIO_CLEANUP = "oidc-cleanup", "minio-cleanup"
KEYCLOAK_SETUP_ROLES = ("manage-clients", "manage-users", "view-identity-providers", "view-realm")
"""The realm-management roles of the realm's setup client (`keycloak.serviceAccount`): what keycloak-setup and
oidc-cleanup do (clients, client scopes, groups, members; oidc-cleanup looks for the mappers it made on the
realm's identity providers) and nothing of the realm's own settings."""
KEYCLOAK_IDP_ROLE = "manage-identity-providers"
"""Added when an instance maps an identity provider's groups (`members.upstream`): the mappers are the IdP's."""


def keycloak_setup_roles(env: EnvironmentSettings) -> tuple[str, ...]:
    """The realm-management roles the environment's setup client needs."""
    upstream = any(instance.members.upstream for instance in env.instances)
    return (*KEYCLOAK_SETUP_ROLES, *((KEYCLOAK_IDP_ROLE,) if upstream else ()))


"""The cleanup Jobs of a retired instance (names no longer than the setup Jobs': the same name limit holds)."""
DESTROYS_ANNOTATION = "mlflow-gitops.io/destroys"
"""On a cleanup Job: what it deletes outside the cluster, in words (the review shows it as destructive)."""
SERVER_ENV_PREFIXES = (
    "OIDC_",
    "REDIS_",
    "CACHE_",
    "SESSION_",
    "PG",
    "AWS_",
    "MLFLOW_S3_",
    "MLFLOW_SERVER_",
    "PROXY_FIX_",
)
SERVER_ENV_NAMES = (
    "SECRET_KEY",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "HOME",
    "LOG_LEVEL",
    "MLFLOW_LOGGING_LEVEL",
    "MLFLOW_DISABLE_TELEMETRY",
    "DEFAULT_MLFLOW_PERMISSION",
    "AUTOMATIC_LOGIN_REDIRECT",
)
"""The server container's variables the render owns (instances[].server.extraEnv may not set them); a test keeps
every rendered one covered."""


def render_owns_env(name: str) -> bool:
    return name in SERVER_ENV_NAMES or name.startswith(SERVER_ENV_PREFIXES)


POSTGRES_CA_VOLUME = "postgres-ca"
POSTGRES_CA_DIR = "/etc/mlflow-gitops/postgres-ca"
"""The Job that makes the login role where CloudNativePG has no DatabaseRole (postgres.roleManagement: job)."""
"""The Jobs' components (their names are `<instance>-<component>-<hash>`)."""
FLUX_DEFAULT_SOURCE = "flux-system"

# How the API server checks a name (see config.limits): most objects take an RFC 1123 subdomain; Services an
# RFC 1035 label; namespaces an RFC 1123 label; Jobs and the engine's objects an RFC 1123 label too, because
# their name becomes a label value (`batch.kubernetes.io/job-name`, `kustomize.toolkit.fluxcd.io/name`,
# Argo CD's `app.kubernetes.io/instance`), which allows at most 63 characters.
SUBDOMAIN, SERVICE, LABEL = "subdomain", "service", "label"


@dataclass(frozen=True)
class ObjectName:
    """One object the render makes: its identity, the rule its name must meet and the key it derives from."""

    kind: str
    namespace: str | None
    name: str
    rule: str
    """SUBDOMAIN, SERVICE or LABEL."""
    key: str = "name"
    """The instance key the name derives from (when unset, every instance key derives from `name`)."""
    hashed: bool = False
    """The name ends in `-<JOB_HASH_LENGTH hex digits>` of the content, appended to `name`."""

    @property
    def shown(self) -> str:
        return f"{self.name}-<{JOB_HASH_LENGTH}-character hash>" if self.hashed else self.name

    @property
    def length(self) -> int:
        return len(self.name) + (1 + JOB_HASH_LENGTH if self.hashed else 0)

    @property
    def identity(self) -> tuple[str, str | None, str]:
        return self.kind, self.namespace, self.shown


def engine_object_name(env: EnvironmentSettings, unit: str) -> str:
    """The Flux Kustomization that applies `unit` of `env`."""
    return f"{APP}-{env.name}-{unit}"


def argocd_application_name(env: EnvironmentSettings) -> str:
    """The one Argo CD Application of an environment (constructs.gitops.ArgoCdSync)."""
    return f"{APP}-{env.name}"


def argocd_project_name(env: EnvironmentSettings) -> str:
    """The AppProject the render makes for an environment's Application, unless `gitops.argocd.project`
    names one of the user's."""
    return f"{APP}-{env.name}"


def argocd_project(env: EnvironmentSettings) -> str:
    """The project of the environment's Application."""
    return env.gitops.argocd_project or argocd_project_name(env)


def flux_entry_name(env: EnvironmentSettings) -> str:
    """The Flux Kustomization that applies an environment's engine objects (constructs.gitops.FluxEntry)."""
    return f"{APP}-{env.name}"


def flux_source_name(env: EnvironmentSettings) -> str:
    """The environment's own Flux GitRepository (when `gitops.repository.url` is set): one per environment, so
    two environments on one cluster each follow their own branch."""
    return f"{MANAGED_BY}-{env.name}"


def engine_objects(env: EnvironmentSettings) -> tuple[ObjectName, ...]:
    """The GitOps engine's objects of an environment (see constructs.gitops)."""
    gitops = env.gitops
    if gitops.engine == "argocd":
        project = (
            ()
            if gitops.argocd_project
            else (ObjectName("AppProject", gitops.namespace, argocd_project_name(env), SUBDOMAIN),)
        )
        return (*project, ObjectName("Application", gitops.namespace, argocd_application_name(env), LABEL))
    source = (
        (ObjectName("GitRepository", gitops.namespace, flux_source_name(env), SUBDOMAIN),)
        if gitops.repository_url
        else ()
    )
    entry = ObjectName("Kustomization", gitops.namespace, flux_entry_name(env), LABEL)
    return (
        *source,
        entry,
        *(ObjectName("Kustomization", gitops.namespace, engine_object_name(env, unit), LABEL) for unit in UNITS),
    )


@dataclass(frozen=True)
class Names:
    """Every name of one instance's objects, derived from its settings: the one authority for names.

    It holds the settings privately: a construct reads names here and settings only from its props."""

    _env: EnvironmentSettings
    _instance: InstanceSettings

    # Kubernetes objects in the instance namespace
    @property
    def namespace(self) -> str:
        return self._instance.namespace

    @property
    def base(self) -> str:
        return self._instance.name

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
    def db_role_identity(self) -> str:
        """The db-role Job's ServiceAccount and scripts ConfigMap, in PostgreSQL's namespace (`roleManagement: job`):
        the Job runs where the database and its admin login live, so no PostgreSQL admin credential reaches the
        app namespace."""
        return f"{self.base}-{POSTGRES_SETUP}"

    @property
    def postgres_admin_secret(self) -> str:
        """The Secret in PostgreSQL's namespace the db-role Job logs in with: `<instance>-postgres-admin` copied
        from Vault `postgres.admin.vaultPath`, or with `vaultPath: null` the existing `postgres.admin.secretName`
        (CloudNativePG's `<cluster>-superuser`, for example)."""
        admin = self._env.postgres.admin
        return f"{self.base}-postgres-admin" if admin.vault_path else admin.secret_name

    @property
    def postgres_ca_in_postgres_namespace(self) -> CaSecret | None:
        """`postgres.ca` as the db-role Job reads it in PostgreSQL's namespace: `<instance>-postgres-ca` copied
        from Vault, or with `vaultPath: null` the existing Secret there (CloudNativePG's `<cluster>-ca`)."""
        ca = self._env.postgres.ca
        if ca is None or not ca.vault_path:
            return ca
        return replace(ca, secret_name=f"{self.base}-postgres-ca")

    @property
    def minio_setup_user(self) -> str:
        """The suggested MinIO user (and policy) of the instance's setup Jobs (`s3.setupLogin: setupUser`): the
        platform creates it once (`mlflow-gitops access`), its keys go to Vault `<vaultPath>/minio-setup`."""
        return f"{self._instance.bucket}-setup"

    @property
    def bucket_policy(self) -> str:
        """MinIO policy that limits the instance's dedicated user to its bucket."""
        return f"{self._instance.bucket}-readwrite"

    @property
    def forwarded_headers_middleware(self) -> str:
        return f"{self.base}-forwarded-headers"

    @property
    def security_headers_middleware(self) -> str:
        return f"{self.base}-security-headers"

    @property
    def tls_secret(self) -> str | None:
        ingress = self._env.ingress
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
        return f"{self._instance.vault_path}/{leaf}"

    @property
    def secret_store(self) -> str:
        """The store the instance's ExternalSecrets read: `vault.store`, or with `vault.namespaceStore` the
        instance's own SecretStore (one in each namespace its ExternalSecrets live in; its ServiceAccount, the
        identity External Secrets logs in to Vault as, has the same name)."""
        return self.instance_store if self._env.vault.namespace_store else self._env.vault.store

    @property
    def instance_store(self) -> str:
        """The name of the instance's own SecretStores (`vault.namespaceStore`)."""
        return f"{self._env.vault.store}-{self._instance.name}"

    def vault_role(self, namespace: str) -> str:
        """The Vault role (and policy) of the instance's SecretStore in `namespace`: it reads only the paths of
        the instance's ExternalSecrets there (`<managed-by>-<instance>` in the instance namespace,
        `<managed-by>-<instance>-<namespace>` elsewhere), so the app namespace's store cannot read what only
        PostgreSQL's namespace needs (the db-role Job's admin login)."""
        role = f"{MANAGED_BY}-{self._instance.name}"
        return role if namespace == self.namespace else f"{role}-{namespace}"

    def secret_namespaces(self) -> tuple[str, ...]:
        """Where the instance's ExternalSecrets live: its namespace and PostgreSQL's (the role's login, which a
        DatabaseRole or the db-role Job reads there); a retired instance's only in its namespace."""
        return (self.namespace, *(() if self._instance.retired else (self.postgres_namespace,)))

    def _store_objects(self) -> list[ObjectName]:
        if not self._env.vault.namespace_store:
            return []
        return [
            ObjectName(kind, ns, self.secret_store, SUBDOMAIN)
            for ns in self.secret_namespaces()
            for kind in ("SecretStore", "ServiceAccount")
        ]

    @property
    def keycloak_setup_credential(self) -> AdminSecret | ClientSecret:
        """What the Keycloak setup and cleanup Jobs log in with (`keycloak.setupLogin`)."""
        return self._env.keycloak.setup_credential

    @property
    def minio_setup_credential(self) -> AdminSecret:
        """What the MinIO setup and cleanup Jobs log in with (`s3.setupLogin`)."""
        return self._env.s3.setup_credential(self._instance.vault_path)

    # PostgreSQL (CloudNativePG objects live in the cluster's namespace)
    @property
    def postgres_namespace(self) -> str:
        return self._env.postgres.namespace

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
        redis = self._instance.sessions.redis
        return redis.host or f"{self.redis}.{self.namespace}.svc.cluster.local"

    @cached_property
    def allowed_hosts(self) -> tuple[str, ...]:
        """Host headers the server accepts: the public host (with and without :443, and with the public
        URL's port if it has another) and the in-cluster service names (with and without the port) that
        clients inside the cluster use. Never '*'."""
        host = self._instance.host
        public = [host, f"{host}:443"]
        port = urlsplit(self._instance.url).port
        if port not in (None, 443):
            public.append(f"{host}:{port}")
        in_cluster = [h for name in self.service_dns for h in (name, f"{name}:{HTTP_PORT}")]
        return (*public, *in_cluster)

    @property
    def public_url(self) -> str:
        return self._instance.url

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/callback"

    @property
    def discovery_url(self) -> str:
        kc = self._env.keycloak
        return f"{kc.url.rstrip('/')}/realms/{kc.realm}/.well-known/openid-configuration"

    @property
    def artifacts_destination(self) -> str:
        return f"s3://{self._instance.bucket}/"

    @property
    def auth_db_uri_template(self) -> str:
        """ExternalSecret template (Go text/template + sprig) for OIDC_USERS_DB_URI.

        `urlquery` escapes reserved characters (a literal '+' becomes %2B) but turns a space into '+',
        which a URL's userinfo would read as a plus sign; the replace makes it %20.
        """
        pg = self._env.postgres
        return (
            f"postgresql://{self._instance.database.role}:"
            '{{ .password | urlquery | replace "+" "%20" }}'
            f"@{pg.host}:{pg.port}/{self._instance.database.auth_name}?sslmode={pg.ssl_mode}"
            + (f"&sslrootcert={self.postgres_ca_file}" if pg.ca else "")
        )

    @property
    def postgres_ca_file(self) -> str:
        """Where the pods that connect to PostgreSQL find its CA (PGSSLROOTCERT)."""
        return f"{POSTGRES_CA_DIR}/{self._env.postgres.ca.key}" if self._env.postgres.ca else ""

    def job_prefix(self, component: str) -> str:
        """A Job's name without its content hash."""
        return f"{self.base}-{component}"

    def objects(self) -> tuple[ObjectName, ...]:
        """Every object the instance renders (the constructs make exactly these: a test compares them), so
        that `validate` can check each name against its limit and find collisions without rendering."""
        if self._instance.retired:
            return self._retired_objects()
        env, inst = self._env, self._instance
        ns, pg = self.namespace, self.postgres_namespace
        redis = inst.sessions.store == "redis"
        deploy_redis = redis and inst.sessions.redis.deploy
        policies = env.network.policies
        role_object = env.postgres.role_management == "DatabaseRole"
        found = [
            ObjectName("Namespace", None, ns, LABEL, key="namespace"),
            *(
                ObjectName("ExternalSecret", ns, secret, SUBDOMAIN)
                for secret in (self.db_secret, self.s3_secret, self.oidc_secret, self.session_secret)
            ),
            ObjectName("ExternalSecret", pg, self.role_password_secret, SUBDOMAIN),
            *([ObjectName("ExternalSecret", ns, self.redis_secret, SUBDOMAIN)] if redis else []),
            *(
                ObjectName("ExternalSecret", ns, admin.secret_name, SUBDOMAIN, key=key)
                for enabled, admin, key in (
                    (env.bootstrap.keycloak, self.keycloak_setup_credential, self._keycloak_login_key),
                    (env.bootstrap.minio, self.minio_setup_credential, self._minio_login_key),
                )
                if enabled and admin.vault_path
            ),
            *(
                [ObjectName("ExternalSecret", ns, ca.secret_name, SUBDOMAIN, key="postgres.ca.secretName")]
                if (ca := env.postgres.ca) and ca.vault_path
                else []
            ),
            *(self._db_role_objects() if not role_object else []),
            *self._store_objects(),
            *([ObjectName("DatabaseRole", pg, self.role_object, SUBDOMAIN)] if role_object else []),
            ObjectName("Database", pg, self.database_object, SUBDOMAIN),
            ObjectName("Database", pg, self.auth_database_object, SUBDOMAIN),
            *(
                ObjectName("NetworkPolicy", ns, f"{self.base}-{policy}", SUBDOMAIN)
                for policy in (
                    "default-deny",
                    "server",
                    MIGRATION,
                    *([KEYCLOAK_SETUP] if env.bootstrap.keycloak else []),
                    *([MINIO_SETUP] if env.bootstrap.minio else []),
                    *(["redis"] if deploy_redis else []),
                )
                if policies
            ),
            *(
                ObjectName(kind, ns, self.redis, rule)
                for kind, rule in (("ServiceAccount", SUBDOMAIN), ("Service", SERVICE), ("Deployment", SUBDOMAIN))
                if deploy_redis
            ),
            ObjectName("ServiceAccount", ns, self.bootstrap_service_account, SUBDOMAIN),
            ObjectName("ConfigMap", ns, self.bootstrap_config_map, SUBDOMAIN),
            *(
                ObjectName("Job", ns, self.job_prefix(component), LABEL, hashed=True)
                for component, enabled in (
                    (MIGRATION, True),
                    (KEYCLOAK_SETUP, env.bootstrap.keycloak),
                    (MINIO_SETUP, env.bootstrap.minio),
                )
                if enabled
            ),
            ObjectName("ServiceAccount", ns, self.server, SUBDOMAIN),
            ObjectName("ConfigMap", ns, self.env_config_map, SUBDOMAIN),
            ObjectName("ConfigMap", ns, self.scripts_config_map, SUBDOMAIN),
            ObjectName("Service", ns, self.server, SERVICE),
            ObjectName("Deployment", ns, self.server, SUBDOMAIN),
            ObjectName("PodDisruptionBudget", ns, self.server, SUBDOMAIN),
            *([ObjectName("HorizontalPodAutoscaler", ns, self.server, SUBDOMAIN)] if inst.autoscaling.enabled else []),
            *(
                (
                    ObjectName("Middleware", ns, self.forwarded_headers_middleware, SUBDOMAIN),
                    ObjectName("Middleware", ns, self.security_headers_middleware, SUBDOMAIN),
                    ObjectName("IngressRoute", ns, self.server, SUBDOMAIN),
                )
                if env.ingress.enabled
                else ()
            ),
            *([ObjectName("ServiceMonitor", ns, self.server, SUBDOMAIN)] if env.monitoring.enabled else []),
        ]
        return tuple(found)

    def _db_role_objects(self) -> list[ObjectName]:
        """The db-role Job and what it reads, in PostgreSQL's namespace (`roleManagement: job`)."""
        env, pg = self._env, self.postgres_namespace
        ca = self.postgres_ca_in_postgres_namespace
        return [
            *(
                [ObjectName("ExternalSecret", pg, self.postgres_admin_secret, SUBDOMAIN)]
                if env.postgres.admin.vault_path
                else []
            ),
            *([ObjectName("ExternalSecret", pg, ca.secret_name, SUBDOMAIN)] if ca and ca.vault_path else []),
            *(
                [ObjectName("NetworkPolicy", pg, f"{self.base}-{POSTGRES_SETUP}", SUBDOMAIN)]
                if env.network.policies
                else []
            ),
            ObjectName("ServiceAccount", pg, self.db_role_identity, SUBDOMAIN),
            ObjectName("ConfigMap", pg, self.db_role_identity, SUBDOMAIN),
            ObjectName("Job", pg, self.job_prefix(POSTGRES_SETUP), LABEL, hashed=True),
        ]

    @property
    def _keycloak_login_key(self) -> str:
        service_account = self._env.keycloak.setup_login == KEYCLOAK_SERVICE_ACCOUNT
        return "keycloak.serviceAccount.secretName" if service_account else "keycloak.admin.secretName"

    @property
    def _minio_login_key(self) -> str:
        return "s3.setupUser.secretName" if self._env.s3.setup_login == MINIO_SETUP_USER else "s3.admin.secretName"

    def cleanups(self) -> tuple[str, ...]:
        """The cleanup Jobs' components of a retired instance: one per set-up service."""
        env = self._env
        return (*([OIDC_CLEANUP] if env.bootstrap.keycloak else []), *([MINIO_CLEANUP] if env.bootstrap.minio else []))

    def _retired_objects(self) -> tuple[ObjectName, ...]:
        env, ns = self._env, self.namespace
        cleanups = self.cleanups()
        admins = (
            (OIDC_CLEANUP, self.keycloak_setup_credential, self._keycloak_login_key),
            (MINIO_CLEANUP, self.minio_setup_credential, self._minio_login_key),
        )
        return (
            ObjectName("Namespace", None, ns, LABEL, key="namespace"),
            *([ObjectName("ExternalSecret", ns, self.s3_secret, SUBDOMAIN)] if MINIO_CLEANUP in cleanups else []),
            *self._store_objects(),
            *(
                ObjectName("ExternalSecret", ns, admin.secret_name, SUBDOMAIN, key=key)
                for component, admin, key in admins
                if component in cleanups and admin.vault_path
            ),
            *(
                ObjectName("NetworkPolicy", ns, f"{self.base}-{policy}", SUBDOMAIN)
                for policy in ("default-deny", *cleanups)
                if env.network.policies
            ),
            ObjectName("ServiceAccount", ns, self.bootstrap_service_account, SUBDOMAIN),
            ObjectName("ConfigMap", ns, self.bootstrap_config_map, SUBDOMAIN),
            *(ObjectName("Job", ns, self.job_prefix(component), LABEL, hashed=True) for component in cleanups),
        )

    # Labels
    @property
    def selector_labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": self.base}

    def component_selector(self, component: str) -> dict[str, str]:
        """The selector of a component's pods (the Deployments', immutable once applied)."""
        return {**self.selector_labels, "app.kubernetes.io/component": component}

    def labels(self, component: str) -> dict[str, str]:
        return {
            **self.selector_labels,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            "app.kubernetes.io/part-of": APP,
        }
