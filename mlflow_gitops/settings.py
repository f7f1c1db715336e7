"""Typed, validated settings: what the constructs receive. Built only by `config.load`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

ANYWHERE = ("0.0.0.0/0", "::/0")
"""The CIDRs of an endpoint outside the cluster whose addresses the config does not narrow."""
TRAEFIK_PODS = (("app.kubernetes.io/name", "traefik"),)
"""The labels of the Traefik chart's pods (k3s's bundled Traefik included)."""
_SERVICE_HOST = re.compile(r"^(?P<service>[a-z0-9-]+)\.(?P<namespace>[a-z0-9-]+)\.svc(\.[a-z0-9.-]+)?\.?$")


def cluster_service(host: str) -> tuple[str, str] | None:
    """(service, namespace) when host is a cluster Service's DNS name (<service>.<namespace>.svc[.<domain>])."""
    match = _SERVICE_HOST.match(host.lower())
    return (match["service"], match["namespace"]) if match else None


def url_host(url: str) -> str:
    """The host of a URL (no user info, no port)."""
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return host[1:].split("]", 1)[0] if host.startswith("[") else host.split(":", 1)[0]


@dataclass(frozen=True)
class ImageSettings:
    registry: str
    repository: str
    tag: str
    digest: str | None
    pull_policy: str

    @property
    def ref(self) -> str:
        """The image reference, pinned by digest when one is set."""
        ref = f"{self.registry}/{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


SERVICE_MONITOR = "monitoring.coreos.com/v1/ServiceMonitor"
DATABASE_ROLE = "postgresql.cnpg.io/v1/DatabaseRole"


@dataclass(frozen=True)
class ClusterSettings:
    """What the target cluster serves (`cluster.kubeVersion`, `cluster.apiVersions`)."""

    kube_version: str
    api_versions: tuple[str, ...]

    def serves(self, api: str) -> bool:
        """Whether `group/version/Kind` is served: declared as such, or its whole group/version is."""
        return api in self.api_versions or api.rsplit("/", 1)[0] in self.api_versions


@dataclass(frozen=True)
class AdminSecret:
    """Admin credentials a bootstrap Job reads from a Secret in the instance namespace."""

    secret_name: str
    user_key: str
    password_key: str
    vault_path: str | None
    """Where an ExternalSecret copies them from (properties username, password); None: the Secret exists."""


@dataclass(frozen=True)
class CaSecret:
    """A CA certificate in a Secret of the instance namespace (optionally copied from Vault, property ca.crt)."""

    secret_name: str
    key: str
    vault_path: str | None


@dataclass(frozen=True)
class ClientSecret:
    """A Keycloak client of the MLflow realm whose service account logs the setup Jobs in; its secret in a
    Secret of the instance namespace (optionally copied from Vault, property client_secret)."""

    client_id: str
    secret_name: str
    key: str
    vault_path: str | None


KEYCLOAK_SERVICE_ACCOUNT = "serviceAccount"
KEYCLOAK_MASTER_ADMIN = "masterAdmin"
MINIO_SETUP_USER = "setupUser"
MINIO_ROOT = "root"


@dataclass(frozen=True)
class KeycloakSettings:
    host: str
    url: str
    realm: str
    display_name: str
    admin_realm: str
    admin_client_id: str
    admin: AdminSecret
    """The master admin login: the setup Jobs' only with `setup_login` masterAdmin."""
    setup_login: str = KEYCLOAK_SERVICE_ACCOUNT
    """serviceAccount (`service_account`, scoped to `realm`) or masterAdmin (`admin` in `admin_realm`)."""
    service_account: ClientSecret | None = None

    @property
    def setup_credential(self) -> AdminSecret | ClientSecret:
        """What the setup and cleanup Jobs log in with."""
        if self.setup_login == KEYCLOAK_SERVICE_ACCOUNT and self.service_account is not None:
            return self.service_account
        return self.admin


@dataclass(frozen=True)
class PostgresSettings:
    namespace: str
    cluster: str
    host: str
    port: int
    ssl_mode: str
    role_management: str
    """DatabaseRole (a CloudNativePG object) or job (the db-role Job, with `admin`'s login)."""
    admin: AdminSecret
    ca: CaSecret | None = None
    """The CA of the server certificate (sslMode verify-ca / verify-full)."""


@dataclass(frozen=True)
class S3Settings:
    minio_namespace: str
    endpoint: str
    ignore_tls: bool
    admin: AdminSecret
    """MinIO's root login: the setup Jobs' only with `setup_login` root."""
    region: str | None = None
    setup_login: str = MINIO_SETUP_USER
    """setupUser (`setup_user`: a MinIO user per instance whose policy allows what minio-setup does, on the
    instance's bucket) or root (`admin`)."""
    setup_user: AdminSecret | None = None
    """Its Secret and keys; the Vault path is the instance's (`<vaultPath>/minio-setup`)."""

    def setup_credential(self, instance_vault_path: str) -> AdminSecret:
        """What the MinIO setup and cleanup Jobs of the instance at `instance_vault_path` log in with."""
        if self.setup_login == MINIO_SETUP_USER and self.setup_user is not None:
            return replace(self.setup_user, vault_path=f"{instance_vault_path}/{MINIO_SETUP_VAULT_LEAF}")
        return self.admin


MINIO_SETUP_VAULT_LEAF = "minio-setup"


@dataclass(frozen=True)
class BootstrapSettings:
    keycloak: bool
    minio: bool
    bucket_versioning: bool


@dataclass(frozen=True)
class NamespaceStore:
    """A SecretStore per instance and namespace, logging in to Vault's Kubernetes auth with the instance's role."""

    server: str
    kv_mount: str
    auth_mount: str


@dataclass(frozen=True)
class VaultSettings:
    store: str
    store_kind: str
    refresh_interval: str
    reload_pods: bool
    """Stakater Reloader rolls the Deployments when a Secret they read changes."""
    rotation: str | None = None
    """The secret generation: a change runs every setup Job again (the values in Vault reach the services)."""
    namespace_store: NamespaceStore | None = None
    """Rendered per-instance SecretStores (`vault.namespaceStore`); None: the ExternalSecrets use `store`."""


@dataclass(frozen=True)
class IngressSettings:
    enabled: bool
    entry_point: str
    tls_secret_name: str | None
    tls_cert_resolver: str | None


@dataclass(frozen=True)
class MonitoringSettings:
    enabled: bool
    prometheus_namespace: str
    release: str
    interval: str
    scrape_timeout: str


@dataclass(frozen=True)
class GitOpsSettings:
    engine: str
    """flux or argocd."""
    path: str
    """Folder of the GitOps repository holding the output ('.' for its root)."""
    interval: str
    timeout: str
    repository_url: str | None
    branch: str
    secret_name: str | None
    namespace: str
    argocd_project: str | None
    """An AppProject the user manages; None: the render's own `mlflow-<env>` (names.argocd_project_name)."""
    argocd_destination: str


@dataclass(frozen=True)
class NetworkSettings:
    policies: bool
    ingress_namespace: str
    ingress_pods: tuple[tuple[str, str], ...]
    allow_from: tuple[str, ...]
    dns_namespace: str
    keycloak_namespace: str
    keycloak_ports: tuple[int, ...]
    minio_ports: tuple[int, ...]
    keycloak_cidrs: tuple[str, ...]
    postgres_cidrs: tuple[str, ...]
    s3_cidrs: tuple[str, ...]
    redis_cidrs: tuple[str, ...]
    """Each *_cidrs: as configured, else ANYWHERE for an endpoint outside the cluster, else none."""


@dataclass(frozen=True)
class RedisSettings:
    deploy: bool
    host: str | None
    port: int
    db: int
    ssl: bool
    image: str


@dataclass(frozen=True)
class SessionSettings:
    store: str
    """filesystem (pod-local, one replica) or redis."""
    redis: RedisSettings


@dataclass(frozen=True)
class AutoscalingSettings:
    enabled: bool
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class TmpSettings:
    """The server's /tmp emptyDir (MLflow spools proxied artifact transfers there)."""

    size_limit: str
    medium: str
    """disk or memory."""


@dataclass(frozen=True)
class PodSettings:
    """Placement and metadata of every pod of an instance (`instances[].pods`); JSON-able values, as in a PodSpec."""

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[dict[str, object], ...] = ()
    affinity: dict[str, object] | None = None
    priority_class_name: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServerOptions:
    """The tracking server's own options (`instances[].server`)."""

    log_level: str
    automatic_login_redirect: bool
    static_prefix: str | None = None
    extra_env: tuple[tuple[str, str], ...] = ()
    service_annotations: tuple[tuple[str, str], ...] = ()
    ingress_annotations: tuple[tuple[str, str], ...] = ()
    sidecars: tuple[dict[str, Any], ...] = ()
    """Extra containers, as the config spells them (camelCase, validated by the schema)."""
    init_containers: tuple[dict[str, Any], ...] = ()
    extra_volumes: tuple[dict[str, Any], ...] = ()
    extra_volume_mounts: tuple[dict[str, Any], ...] = ()
    extra_env_from: tuple[tuple[str, str], ...] = ()
    """(configMap or secret, name), in order."""
    service_labels: tuple[tuple[str, str], ...] = ()
    proxy_fix: tuple[tuple[str, int], ...] = ()
    """(header, trusted hops) as set: xFor, xProto, xHost, xPort, xPrefix (absent: the plugin's default)."""


@dataclass(frozen=True)
class OidcSettings:
    client_id: str
    admin_group: str
    user_group: str
    scopes: tuple[str, ...]
    groups_attribute: str
    pkce: bool


@dataclass(frozen=True)
class UpstreamGroups:
    """`members.upstream[]`: an identity provider's groups whose members join the instance's groups at login."""

    identity_provider: str
    claim: str
    admins: tuple[str, ...]
    users: tuple[str, ...]


@dataclass(frozen=True)
class MembersSettings:
    """`members`: the users of the instance's groups, kept by the keycloak-setup Job."""

    admins: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    exclusive: bool = False
    create_users: bool = False
    upstream: tuple[UpstreamGroups, ...] = ()


@dataclass(frozen=True)
class DatabaseSettings:
    role: str
    name: str
    auth_name: str


@dataclass(frozen=True)
class InstanceSettings:
    name: str
    namespace: str
    host: str
    url: str
    """Public base URL (default https://<host>)."""
    replicas: int
    workers: int
    default_permission: str
    resources: Resources
    tmp: TmpSettings
    oidc: OidcSettings
    database: DatabaseSettings
    bucket: str
    vault_path: str
    reclaim_policy: str
    sessions: SessionSettings
    autoscaling: AutoscalingSettings
    server: ServerOptions
    pods: PodSettings = PodSettings()
    members: MembersSettings = MembersSettings()
    retired: bool = False
    """Render only the cleanup of the instance (`retired`)."""
    bucket_cleanup: str = "keep"
    """`cleanup.bucket`: keep, delete (when empty) or force."""


@dataclass(frozen=True)
class ObjectPatch:
    """One entry of `patches`: which rendered objects it changes and how (applied before Jobs are named)."""

    kind: str
    name: str
    """metadata.name; for a Job the name without its content hash (`<instance>-db-migration`)."""
    instance: str | None
    """Only this instance's objects (None: every instance's)."""
    merge: Mapping[str, Any] | None
    """An RFC 7386 JSON merge patch: mappings merge, null removes a key, a list replaces the list."""
    json_patch: tuple[Mapping[str, Any], ...]
    """RFC 6902 operations (add, remove, replace, move, copy, test), applied after `merge`."""


@dataclass(frozen=True)
class EnvironmentSettings:
    """One environment, fully resolved: defaults, file and environment variables applied."""

    name: str
    source: str
    cluster: ClusterSettings
    image: ImageSettings
    keycloak: KeycloakSettings
    postgres: PostgresSettings
    s3: S3Settings
    vault: VaultSettings
    ingress: IngressSettings
    monitoring: MonitoringSettings
    bootstrap: BootstrapSettings
    gitops: GitOpsSettings
    network: NetworkSettings
    instances: tuple[InstanceSettings, ...]
    precedence: tuple[str, ...] = ()
    """Where the values come from, lowest first: the built-in defaults, each base the file extends, the
    file, then each environment variable or option that set a key."""
    overrides: tuple[str, ...] = ()
    """`key (file, over base)` for each key that a later layer set again over a base's value."""
    patches: tuple[ObjectPatch, ...] = ()
    """Changes to rendered objects (`patches`), in order."""
    customize: str | None = None
    """The config folder's `customize.py`, whose `customize(platform)` runs for each instance (None: none)."""
