"""Bootstrap Jobs that set up Keycloak and MinIO from Git, idempotently, inside the cluster."""

from __future__ import annotations

from cdk8s_plus_28 import k8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.config.settings import AdminSecret
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs._job import gitops_job
from mlflow_gitops.constructs.secrets import SecretSpec, external_secret
from mlflow_gitops.scripts import KEYCLOAK_SETUP, MINIO_SETUP, script_source, script_sources

SETUP_RESOURCES = pod.Resources(cpu_request="50m", memory_request="128Mi", cpu_limit="500m", memory_limit="256Mi")


class Bootstrap(Construct):
    """The setup Jobs of one instance, each switchable in config (`bootstrap.keycloak.enabled`,
    `bootstrap.minio.enabled`), their scripts' ConfigMap `<instance>-bootstrap`, and the ExternalSecrets
    that bring the admin credentials into the instance namespace (unless config names an existing Secret).

    - `keycloak-setup` (`keycloak_setup.py`, python-keycloak): the confidential client, whose secret is
      the one the server reads (a re-run never rotates it), the `groups` client scope and mapper, the
      default scopes, the groups.
    - `minio-setup` (`minio_setup.py`, minio SDK): the bucket, optional versioning, a policy limited to
      the bucket and a dedicated user with the credentials the server reads (instead of root).

    Both are content-addressed Jobs (see `gitops_job`): a change to a script or setting runs them again.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings,
                 names: n.Names) -> None:
        super().__init__(scope, id)
        scripts = tuple(name for name, enabled in ((KEYCLOAK_SETUP, env.bootstrap.keycloak),
                                                   (MINIO_SETUP, env.bootstrap.minio)) if enabled)
        if not scripts:
            return
        k8s.KubeConfigMap(self, "scripts", data=script_sources(scripts), metadata=k8s.ObjectMeta(
            name=names.bootstrap_config_map, namespace=names.namespace, labels=names.labels("bootstrap")))
        if env.bootstrap.keycloak:
            _admin_secret(self, "keycloak-admin", env, names, env.keycloak.admin)
            self._keycloak(env, instance, names)
        if env.bootstrap.minio:
            _admin_secret(self, "minio-admin", env, names, env.s3.admin)
            self._minio(env, instance, names)

    def _keycloak(self, env: EnvironmentSettings, instance: InstanceSettings, names: n.Names) -> None:
        kc, oidc, admin = env.keycloak, instance.oidc, env.keycloak.admin
        self._job("keycloak-setup", KEYCLOAK_SETUP, env, names, [
            *pod.plain_env({
                "KEYCLOAK_URL": kc.url,
                "KEYCLOAK_REALM": kc.realm,
                "KEYCLOAK_ADMIN_REALM": kc.admin_realm,
                "KEYCLOAK_ADMIN_CLIENT_ID": kc.admin_client_id,
                "MLFLOW_URL": names.public_url,
                "OIDC_GROUPS": f"{oidc.admin_group},{oidc.user_group}",
                "OIDC_PKCE": str(oidc.pkce).lower(),
                "OIDC_CLIENT_NAME": f"MLflow ({instance.name})",
            }),
            pod.secret_env("KEYCLOAK_ADMIN_USER", admin.secret_name, admin.user_key),
            pod.secret_env("KEYCLOAK_ADMIN_PASSWORD", admin.secret_name, admin.password_key),
            pod.secret_env("OIDC_CLIENT_ID", names.oidc_secret, "OIDC_CLIENT_ID"),
            pod.secret_env("OIDC_CLIENT_SECRET", names.oidc_secret, "OIDC_CLIENT_SECRET"),
        ])

    def _minio(self, env: EnvironmentSettings, instance: InstanceSettings, names: n.Names) -> None:
        admin = env.s3.admin
        self._job("minio-setup", MINIO_SETUP, env, names, [
            *pod.plain_env({
                "MINIO_URL": env.s3.endpoint,
                "MINIO_VERIFY_TLS": str(not env.s3.ignore_tls).lower(),
                "BUCKET": instance.bucket,
                "BUCKET_VERSIONING": str(env.bootstrap.bucket_versioning).lower(),
                "POLICY_NAME": names.bucket_policy,
            }),
            pod.secret_env("MINIO_ROOT_USER", admin.secret_name, admin.user_key),
            pod.secret_env("MINIO_ROOT_PASSWORD", admin.secret_name, admin.password_key),
            pod.secret_env("MLFLOW_ACCESS_KEY", names.s3_secret, "AWS_ACCESS_KEY_ID"),
            pod.secret_env("MLFLOW_SECRET_KEY", names.s3_secret, "AWS_SECRET_ACCESS_KEY"),
        ])

    def _job(self, component: str, script: str, env: EnvironmentSettings, names: n.Names,
             variables: list[k8s.EnvVar]) -> None:
        gitops_job(self, component, names=names, component=component, script=script,
                   script_source=script_source(script), scripts_config_map=names.bootstrap_config_map,
                   image=env.image.ref, pull_policy=env.image.pull_policy, env=variables,
                   resources=SETUP_RESOURCES)


def _admin_secret(scope: Construct, id: str, env: EnvironmentSettings, names: n.Names, admin: AdminSecret) -> None:
    """Copy admin credentials from Vault (properties username, password) into the instance namespace."""
    if admin.vault_path is None:
        return
    external_secret(scope, id, env=env, names=names, spec=SecretSpec(admin.secret_name, names.namespace, (
        (admin.user_key, admin.vault_path, "username"),
        (admin.password_key, admin.vault_path, "password"),
    )))
