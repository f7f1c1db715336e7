"""Bootstrap Jobs that set up Keycloak and MinIO from Git, idempotently, inside the cluster."""

from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _hash as content
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs import _postgres as pg_pod
from mlflow_gitops.constructs._job import JobPlace, JobRuntime, gitops_job
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.constructs.migration import SCRIPTS as MIGRATION_SCRIPTS
from mlflow_gitops.constructs.migration import Migration, MigrationProps
from mlflow_gitops.scripts import (
    JOBKIT,
    KEYCLOAK_SETUP,
    MINIO_SETUP,
    POSTGRES_SETUP,
    SETUP_SCRIPTS,
    script_sources,
)
from mlflow_gitops.settings import (
    AdminSecret,
    ClientSecret,
    KeycloakSettings,
    MembersSettings,
    OidcSettings,
    Resources,
    S3Settings,
)

SETUP_RESOURCES = Resources(cpu_request="50m", memory_request="128Mi", cpu_limit="500m", memory_limit="256Mi")


@dataclass(frozen=True)
class BootstrapProps:
    runtime: JobRuntime
    """Where the Jobs run."""
    postgres: pg_pod.PostgresAccess
    """The database the migration brings up to date; with `roleManagement: job` the server the db-role Job
    makes the role on (with `postgres.admin`)."""
    role: str
    """The login role (`instances[].database.role`)."""
    oidc: OidcSettings
    """The client and groups the Keycloak Job sets up (`instances[].oidc`)."""
    members: MembersSettings
    """Who the Keycloak Job keeps in the groups (`instances[].members`)."""
    keycloak: KeycloakSettings | None
    """The Keycloak the Keycloak Job sets up; None: no such Job (`bootstrap.keycloak.enabled: false`)."""
    s3: S3Settings | None
    """The MinIO the MinIO Job sets up; None: no such Job (`bootstrap.minio.enabled: false`)."""
    bucket: str
    """The instance's bucket (`instances[].bucket`)."""
    bucket_versioning: bool
    """Versioning of a bucket the MinIO Job makes (`bootstrap.minio.versioning`)."""
    rotation: str | None
    """`vault.rotation`: a new generation runs the setup Jobs again."""

    @property
    def admins(self) -> tuple[AdminSecret | ClientSecret, ...]:
        """The credentials of the Keycloak and MinIO setup Jobs (or a retired instance's cleanup Jobs), in the
        instance namespace; the db-role Job's are in PostgreSQL's namespace (`Names.postgres_admin_secret`)."""
        names = self.runtime.names
        return (
            *((names.keycloak_setup_credential,) if self.keycloak else ()),
            *((names.minio_setup_credential,) if self.s3 else ()),
        )


def job_identity(scope: Construct, names: n.Names, scripts: tuple[str, ...], place: JobPlace, id: str = "") -> None:
    """The Jobs' ServiceAccount (no token) and the ConfigMap of their `scripts`, in `place`; `id` prefixes the
    construct ids of a second identity in one scope."""
    labels = names.labels("bootstrap")
    api_object(
        scope,
        f"{id}service-account",
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(place.service_account, place.namespace, labels),
            "automountServiceAccountToken": False,
        },
    )
    api_object(
        scope,
        f"{id}scripts",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(place.config_map, place.namespace, labels),
            "data": script_sources(scripts),
        },
    )


def keycloak_login(kc: KeycloakSettings) -> tuple[dict[str, str], list[pod.EnvVar]]:
    """How `keycloak_setup.py` reaches and logs in to Keycloak: plain variables, the credential Secret's keys
    (the realm's setup client by default, the master admin with `keycloak.setupLogin: masterAdmin`)."""
    plain = {"KEYCLOAK_URL": kc.url, "KEYCLOAK_REALM": kc.realm}
    login = kc.setup_credential
    if isinstance(login, ClientSecret):
        plain |= {"KEYCLOAK_ADMIN_REALM": kc.realm, "KEYCLOAK_ADMIN_CLIENT_ID": login.client_id}
        return plain, [pod.secret_env("KEYCLOAK_ADMIN_CLIENT_SECRET", login.secret_name, login.key)]
    plain |= {"KEYCLOAK_ADMIN_REALM": kc.admin_realm, "KEYCLOAK_ADMIN_CLIENT_ID": kc.admin_client_id}
    return plain, [
        pod.secret_env("KEYCLOAK_ADMIN_USER", login.secret_name, login.user_key),
        pod.secret_env("KEYCLOAK_ADMIN_PASSWORD", login.secret_name, login.password_key),
    ]


def minio_login(s3: S3Settings, login: AdminSecret) -> tuple[dict[str, str], list[pod.EnvVar]]:
    """How `minio_setup.py` reaches and logs in to MinIO: plain variables, the `login` Secret's keys (the
    instance's setup user by default, root with `s3.setupLogin: root`)."""
    plain = {"MINIO_URL": s3.endpoint, "MINIO_VERIFY_TLS": str(not s3.ignore_tls).lower()}
    return plain, [
        pod.secret_env("MINIO_ROOT_USER", login.secret_name, login.user_key),
        pod.secret_env("MINIO_ROOT_PASSWORD", login.secret_name, login.password_key),
    ]


def setup_job(
    scope: Construct,
    component: str,
    script: str,
    variables: list[pod.EnvVar],
    *,
    runtime: JobRuntime,
    annotations: dict[str, str] | None = None,
    place: JobPlace | None = None,
) -> None:
    """A Job running one of the setup scripts (with jobkit.py), hashed with both."""
    gitops_job(
        scope,
        component,
        runtime=runtime,
        component=component,
        script=script,
        scripts_checksum=content.content_hash(script_sources((script, JOBKIT))),
        variables=variables,
        resources=SETUP_RESOURCES,
        postgres=component == n.POSTGRES_SETUP,
        annotations=annotations,
        place=place,
    )


class Bootstrap(Part):
    """Everything that runs once per change before the server: the `<instance>-bootstrap` ServiceAccount
    and scripts ConfigMap, the database migration Job, and the setup Jobs, each switchable in config
    (`bootstrap.keycloak.enabled`, `bootstrap.minio.enabled`):

    - `keycloak-setup` (`keycloak_setup.py`, python-keycloak): the confidential client, whose secret is
      the one the server reads (a re-run never rotates it), the `groups` client scope and mapper, the
      default scopes, the groups.
    - `db-role` (`postgres_setup.py`, psycopg2; only with `postgres.roleManagement: job`): the login
      role, with the password the server reads, where CloudNativePG has no DatabaseRole (1.27-1.29). It runs
      in PostgreSQL's namespace with its own ServiceAccount and scripts ConfigMap (`<instance>-db-role`), so
      its admin login (`Names.postgres_admin_secret`) never reaches the app namespace.
    - `minio-setup` (`minio_setup.py`, minio SDK): the bucket, optional versioning, a policy limited to
      the bucket and a dedicated user with the credentials the server reads (instead of root).

    All are content-addressed Jobs (see `gitops_job`): a change to a script or setting runs them again.
    Their admin credentials come from Secrets the `Secrets` construct brings in (platform unit).
    """

    def __init__(self, scope: Construct, id: str, *, props: BootstrapProps) -> None:
        super().__init__(scope, id)
        self._props = props
        names = props.runtime.names
        role_job = props.postgres.settings.role_management == "job"
        scripts = (
            *MIGRATION_SCRIPTS,
            *(
                name
                for name, enabled in (
                    (KEYCLOAK_SETUP, props.keycloak is not None),
                    (MINIO_SETUP, props.s3 is not None),
                )
                if enabled
            ),
        )
        scripts += (JOBKIT,) if set(scripts) & set(SETUP_SCRIPTS) else ()
        job_identity(self, names, scripts, props.runtime.bootstrap)
        Migration(self, "migration", props=MigrationProps(runtime=props.runtime, postgres=props.postgres))
        if role_job:
            self._postgres()
        if props.keycloak is not None:
            self._keycloak(props.keycloak)
        if props.s3 is not None:
            self._minio(props.s3)

    def _membership_env(self) -> dict[str, str]:
        """Always set, so a member or mapper the config drops is removed by the next run."""
        oidc, members = self._props.oidc, self._props.members
        upstream = [
            {"identityProvider": entry.identity_provider, "claim": entry.claim, "value": value, "group": group}
            for entry in members.upstream
            for group, values in ((oidc.admin_group, entry.admins), (oidc.user_group, entry.users))
            for value in values
        ]
        groups = {oidc.admin_group: list(members.admins), oidc.user_group: list(members.users)}
        return {
            "GROUP_MEMBERS": json.dumps(groups, separators=(",", ":")),
            "UPSTREAM_GROUPS": json.dumps(upstream, separators=(",", ":")),
            **({"GROUP_MEMBERS_EXCLUSIVE": "true"} if members.exclusive else {}),
            **({"CREATE_MISSING_USERS": "true"} if members.create_users else {}),
        }

    def _keycloak(self, kc: KeycloakSettings) -> None:
        oidc, names = self._props.oidc, self._props.runtime.names
        login, credentials = keycloak_login(kc)
        self._job(
            n.KEYCLOAK_SETUP,
            KEYCLOAK_SETUP,
            [
                *pod.plain_env(
                    {
                        **login,
                        "MLFLOW_URL": names.public_url,
                        "OIDC_GROUPS": f"{oidc.admin_group},{oidc.user_group}",
                        "OIDC_PKCE": str(oidc.pkce).lower(),
                        "OIDC_CLIENT_ID": oidc.client_id,
                        "OIDC_GROUPS_CLAIM": oidc.groups_attribute,
                        "OIDC_CLIENT_NAME": f"MLflow ({names.base})",
                        **self._membership_env(),
                    }
                ),
                *credentials,
                pod.secret_env("OIDC_CLIENT_SECRET", names.oidc_secret, "OIDC_CLIENT_SECRET"),
            ],
        )

    def _postgres(self) -> None:
        """The db-role Job in PostgreSQL's namespace, with its own identity: the admin login stays there."""
        pg, runtime = self._props.postgres.settings, self._props.runtime
        names, place = runtime.names, runtime.postgres_namespace
        admin = names.postgres_admin_secret
        job_identity(self, names, (POSTGRES_SETUP, JOBKIT), place, id="db-role-")
        self._job(
            n.POSTGRES_SETUP,
            POSTGRES_SETUP,
            [
                *pod.plain_env(
                    {
                        "PGHOST": pg.host,
                        "PGPORT": str(pg.port),
                        "PGSSLMODE": pg.ssl_mode,
                        **pg_pod.postgres_ca_env(names),
                        "ROLE": self._props.role,
                    }
                ),
                pod.secret_env("ADMIN_USER", admin, pg.admin.user_key),
                pod.secret_env("ADMIN_PASSWORD", admin, pg.admin.password_key),
                pod.secret_env("ROLE_PASSWORD", names.role_password_secret, "password"),
            ],
            place,
        )

    def _minio(self, s3: S3Settings) -> None:
        names = self._props.runtime.names
        login, credentials = minio_login(s3, names.minio_setup_credential)
        self._job(
            n.MINIO_SETUP,
            MINIO_SETUP,
            [
                *pod.plain_env(
                    {
                        **login,
                        "BUCKET": self._props.bucket,
                        "BUCKET_VERSIONING": str(self._props.bucket_versioning).lower(),
                        "POLICY_NAME": names.bucket_policy,
                        **({"MINIO_REGION": s3.region} if s3.region else {}),
                        # MinIO cannot tell whether a user's secret is Vault's: a rotation sets it again
                        **({"MLFLOW_ROTATE_SECRET": "true"} if self._props.rotation else {}),
                    }
                ),
                *credentials,
                pod.secret_env("MLFLOW_ACCESS_KEY", names.s3_secret, "AWS_ACCESS_KEY_ID"),
                pod.secret_env("MLFLOW_SECRET_KEY", names.s3_secret, "AWS_SECRET_ACCESS_KEY"),
            ],
        )

    def _job(self, component: str, script: str, variables: list[pod.EnvVar], place: JobPlace | None = None) -> None:
        """A setup Job; `vault.rotation` in its environment, so a new generation runs it again."""
        rotation = self._props.rotation
        variables = [*variables, *pod.plain_env({"SECRET_ROTATION": rotation} if rotation else {})]
        setup_job(self, component, script, variables, runtime=self._props.runtime, place=place)
