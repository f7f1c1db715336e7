"""The cleanup of a retired instance (`instances[].retired: true`): Jobs that delete what the setup Jobs made
outside the cluster, each annotated with what it deletes so the review shows it as destructive."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs._job import JobRuntime
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.constructs.bootstrap import job_identity, keycloak_login, minio_login, setup_job
from mlflow_gitops.scripts import JOBKIT, KEYCLOAK_SETUP, MINIO_SETUP
from mlflow_gitops.settings import KeycloakSettings, OidcSettings, S3Settings

BUCKET_FATE = {
    "keep": "keeps bucket {bucket} and its artifacts",
    "delete": "DELETES bucket {bucket} if it is empty (the Job fails and keeps it otherwise)",
    "force": "DELETES bucket {bucket} WITH EVERY ARTIFACT in it (all object versions)",
}


@dataclass(frozen=True)
class CleanupProps:
    runtime: JobRuntime
    """Where the Jobs run (the instance namespace, kept until the instance's entry is removed)."""
    oidc: OidcSettings
    """The client and groups to delete (`instances[].oidc`)."""
    keycloak: KeycloakSettings | None
    """The Keycloak to clean up; None: no such Job (`bootstrap.keycloak.enabled: false`)."""
    s3: S3Settings | None
    """The MinIO to clean up; None: no such Job (`bootstrap.minio.enabled: false`)."""
    bucket: str
    """`instances[].bucket`."""
    bucket_cleanup: str
    """`instances[].cleanup.bucket`: keep, delete or force."""


class Cleanup(Part):
    """The `<instance>-bootstrap` ServiceAccount and scripts ConfigMap, and per set-up service a Job running
    its setup script with `REMOVE=true`:

    - `oidc-cleanup` (`keycloak_setup.py`): the client, the two groups and the identity-provider mappers the
      setup made (the shared `groups` client scope stays);
    - `minio-cleanup` (`minio_setup.py`): the MLflow user and its policy; the bucket as `cleanup.bucket` says.

    Both are idempotent (what is gone is reported `absent`).
    """

    def __init__(self, scope: Construct, id: str, *, props: CleanupProps) -> None:
        super().__init__(scope, id)
        self._props = props
        names = props.runtime.names
        scripts = (
            *([KEYCLOAK_SETUP] if props.keycloak else []),
            *([MINIO_SETUP] if props.s3 else []),
            JOBKIT,
        )
        job_identity(self, names, scripts, props.runtime.bootstrap)
        if props.keycloak is not None:
            self._keycloak(props.keycloak)
        if props.s3 is not None:
            self._minio(props.s3)

    def _keycloak(self, kc: KeycloakSettings) -> None:
        oidc = self._props.oidc
        login, credentials = keycloak_login(kc)
        destroys = (
            f"deletes Keycloak client {oidc.client_id}, groups {oidc.admin_group} and {oidc.user_group} (with "
            f"their memberships) and its identity-provider mappers in realm {kc.realm}"
        )
        self._job(
            n.OIDC_CLEANUP,
            KEYCLOAK_SETUP,
            destroys,
            [
                *pod.plain_env(
                    {
                        "REMOVE": "true",
                        **login,
                        "OIDC_CLIENT_ID": oidc.client_id,
                        "OIDC_GROUPS": f"{oidc.admin_group},{oidc.user_group}",
                    }
                ),
                *credentials,
            ],
        )

    def _minio(self, s3: S3Settings) -> None:
        props, names = self._props, self._props.runtime.names
        login, credentials = minio_login(s3, names.minio_setup_credential)
        fate = BUCKET_FATE[props.bucket_cleanup].format(bucket=props.bucket)
        destroys = f"deletes the MinIO user of the instance and policy {names.bucket_policy}; {fate}"
        self._job(
            n.MINIO_CLEANUP,
            MINIO_SETUP,
            destroys,
            [
                *pod.plain_env(
                    {
                        "REMOVE": "true",
                        **login,
                        "BUCKET": props.bucket,
                        "BUCKET_CLEANUP": props.bucket_cleanup,
                        "POLICY_NAME": names.bucket_policy,
                        **({"MINIO_REGION": s3.region} if s3.region else {}),
                    }
                ),
                *credentials,
                pod.secret_env("MLFLOW_ACCESS_KEY", names.s3_secret, "AWS_ACCESS_KEY_ID"),
            ],
        )

    def _job(self, component: str, script: str, destroys: str, variables: list[pod.EnvVar]) -> None:
        setup_job(
            self,
            component,
            script,
            variables,
            runtime=self._props.runtime,
            annotations={n.DESTROYS_ANNOTATION: destroys},
        )
