"""Secrets, only through External Secrets Operator reading Vault: no secret value is ever rendered."""

from __future__ import annotations

from dataclasses import dataclass, field

import cdk8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.settings import AdminSecret, CaSecret, ClientSecret, NamespaceStore, VaultSettings


@dataclass(frozen=True)
class SecretsProps:
    names: n.Names
    vault: VaultSettings
    """The SecretStore and refresh interval (`vault`)."""
    role: str
    """The database login's username (`instances[].database.role`)."""
    role_job: bool
    """The db-role Job makes the role (`postgres.roleManagement: job`): its admin login and PostgreSQL's CA
    are copied into PostgreSQL's namespace, where it runs."""
    redis_sessions: bool
    """The Redis password (`instances[].sessions.store: redis`)."""
    admins: tuple[AdminSecret | ClientSecret, ...]
    """The credentials of the Keycloak and MinIO setup (or cleanup) Jobs that run (`BootstrapProps.admins`)."""
    postgres_admin: AdminSecret
    """The db-role Job's login (`postgres.admin`), with `role_job`."""
    postgres_ca: CaSecret | None
    """PostgreSQL's CA (`postgres.ca`)."""
    retired: bool = False
    """A retired instance's cleanup: besides `admins`, only the MLflow user's S3 key (the user to delete)."""


@dataclass(frozen=True)
class SecretSpec:
    """One Kubernetes Secret made by an ExternalSecret of the same name."""

    name: str
    namespace: str
    data: tuple[tuple[str, str, str], ...]
    """(key in the Secret or template input, Vault path, property at that path)."""
    template: dict[str, str] = field(default_factory=dict)
    """Go-template data; when set, the Secret holds only these keys."""
    secret_type: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def secret_specs(props: SecretsProps) -> tuple[SecretSpec, ...]:
    """Every Secret an instance needs. The Vault layout keeps the old module's paths and properties."""
    names = props.names
    postgres, s3, oidc, session = (names.vault(leaf) for leaf in ("postgres", "s3", "oidc", "session"))
    # The login is the configured role, whatever Vault's `username` says: CloudNativePG refuses a basic-auth
    # Secret whose username is not the role's name, and the role Job creates the role under that name.
    password = (("password", postgres, "password"),)
    login = {"username": props.role, "password": "{{ .password }}"}
    return (
        SecretSpec(names.db_secret, names.namespace, password, template=login),
        SecretSpec(
            names.role_password_secret,
            names.postgres_namespace,
            password,
            secret_type="kubernetes.io/basic-auth",
            labels={"cnpg.io/reload": "true"},
            template=login,
        ),
        SecretSpec(
            names.s3_secret,
            names.namespace,
            (
                ("AWS_ACCESS_KEY_ID", s3, "accesskey"),
                ("AWS_SECRET_ACCESS_KEY", s3, "secretkey"),
            ),
        ),
        SecretSpec(
            names.oidc_secret,
            names.namespace,
            (
                ("client_secret", oidc, "client_secret"),
                *password,
            ),
            template={
                "OIDC_CLIENT_SECRET": "{{ .client_secret }}",
                "OIDC_USERS_DB_URI": names.auth_db_uri_template,
            },
        ),
        SecretSpec(
            names.session_secret,
            names.namespace,
            (
                ("SECRET_KEY", session, "secret_key"),
                ("MLFLOW_FLASK_SERVER_SECRET_KEY", session, "flask_secret_key"),
            ),
        ),
        *(
            [SecretSpec(names.redis_secret, names.namespace, (("REDIS_PASSWORD", names.vault("redis"), "password"),))]
            if props.redis_sessions
            else []
        ),
    )


def admin_secret_specs(props: SecretsProps) -> tuple[SecretSpec, ...]:
    """Admin credentials of the enabled bootstrap Jobs, copied from Vault (properties username, password) into
    the namespace the Job runs in (the db-role Job's into PostgreSQL's), unless config names an existing Secret
    (`vaultPath: null`); PostgreSQL's CA likewise, for each namespace a pod connecting to it runs in."""
    names, ca, admin = props.names, props.postgres_ca, props.postgres_admin
    pg_ca = names.postgres_ca_in_postgres_namespace if props.role_job else None
    return (
        *(
            SecretSpec(admin.secret_name, names.namespace, _credential_data(admin, admin.vault_path))
            for admin in props.admins
            if admin.vault_path
        ),
        *(
            [
                SecretSpec(
                    names.postgres_admin_secret, names.postgres_namespace, _credential_data(admin, admin.vault_path)
                )
            ]
            if props.role_job and admin.vault_path
            else []
        ),
        *(
            SecretSpec(secret.secret_name, namespace, ((secret.key, secret.vault_path, "ca.crt"),))
            for secret, namespace in ((ca, names.namespace), (pg_ca, names.postgres_namespace))
            if secret and secret.vault_path
        ),
    )


def _credential_data(credential: AdminSecret | ClientSecret, path: str) -> tuple[tuple[str, str, str], ...]:
    if isinstance(credential, ClientSecret):
        return ((credential.key, path, "client_secret"),)
    return ((credential.user_key, path, "username"), (credential.password_key, path, "password"))


class Secrets(Part):
    """ExternalSecrets (`external-secrets.io/v1`) for the database login (in the app namespace and, as a
    `kubernetes.io/basic-auth` Secret labelled `cnpg.io/reload` that a DatabaseRole or the db-role Job reads,
    in the PostgreSQL namespace), the S3
    credentials, the OIDC client config (with the auth-database URI built from the login), the session
    keys, and the admin credentials of the bootstrap Jobs. Values stay in Vault; the Secrets are owned by
    their ExternalSecret (creationPolicy Owner).
    """

    def __init__(self, scope: Construct, id: str, *, props: SecretsProps) -> None:
        super().__init__(scope, id)
        specs = secret_specs(props)
        if props.retired:
            specs = tuple(spec for spec in specs if spec.name == props.names.s3_secret)
        if props.vault.namespace_store:
            for namespace in props.names.secret_namespaces():
                namespace_store(
                    self,
                    f"store-{namespace}",
                    store=props.vault.namespace_store,
                    names=props.names,
                    namespace=namespace,
                )
        for spec in (*specs, *admin_secret_specs(props)):
            external_secret(self, f"{spec.namespace}-{spec.name}", vault=props.vault, names=props.names, spec=spec)


def namespace_store(scope: Construct, id: str, *, store: NamespaceStore, names: n.Names, namespace: str) -> None:
    """The instance's SecretStore in `namespace` and the ServiceAccount it logs in to Vault as: External Secrets
    requests a short-lived token for it (TokenRequest; no pod runs as it and none is mounted), which Vault's
    Kubernetes auth exchanges for the instance's role, whose policy reads only the instance's paths."""
    meta = metadata(names.secret_store, namespace, names.labels("secrets"))
    api_object(
        scope,
        f"{id}-identity",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
    )
    vault = {
        "server": store.server,
        "path": store.kv_mount,
        "version": "v2",
        "auth": {
            "kubernetes": {
                "mountPath": store.auth_mount,
                "role": names.vault_role(namespace),
                "serviceAccountRef": {"name": names.secret_store},
            }
        },
    }
    api_object(
        scope,
        id,
        {
            "apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore",
            "metadata": meta,
            "spec": {"provider": {"vault": vault}},
        },
    )


def external_secret(
    scope: Construct, id: str, *, vault: VaultSettings, names: n.Names, spec: SecretSpec
) -> cdk8s.ApiObject:
    """An ExternalSecret that makes the Secret `spec` describes, from the configured Vault store."""
    template = None
    if spec.template or spec.secret_type or spec.labels:
        template = {
            "type": spec.secret_type,
            "engineVersion": "v2",
            "mergePolicy": "Replace",
            "metadata": {"labels": spec.labels or None},  # rendered as {} without labels
            "data": spec.template or None,
        }
    return api_object(
        scope,
        id,
        {
            "apiVersion": "external-secrets.io/v1",
            "kind": "ExternalSecret",
            "metadata": metadata(spec.name, spec.namespace, names.labels("secrets")),
            "spec": {
                "refreshInterval": vault.refresh_interval,
                "secretStoreRef": {"name": names.secret_store, "kind": vault.store_kind},
                "target": {"name": spec.name, "creationPolicy": "Owner", "template": template},
                "data": [
                    {"secretKey": key, "remoteRef": {"key": path, "property": prop}} for key, path, prop in spec.data
                ],
            },
        },
    )
