"""The tracking- and auth-database migration: one Job per content, never an init container per replica."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _hash as content
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs import _postgres as pg_pod
from mlflow_gitops.constructs._job import JobRuntime, gitops_job
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.scripts import MIGRATE_DB, WAIT_FOR_POSTGRES, script_sources

SCRIPTS = (MIGRATE_DB, WAIT_FOR_POSTGRES)
"""What the Job runs: the init container waits for PostgreSQL, the container migrates."""


@dataclass(frozen=True)
class MigrationProps:
    runtime: JobRuntime
    """Where the Job runs."""
    postgres: pg_pod.PostgresAccess
    """The tracking database it migrates (the auth database's URI comes from the OIDC Secret)."""


class Migration(Part):
    """A Job that waits for PostgreSQL (init container), then brings MLflow's tracking database and the
    plugin's auth database to the current schema (`migrate_db.py`). See `gitops_job` for its naming.
    """

    def __init__(self, scope: Construct, id: str, *, props: MigrationProps) -> None:
        super().__init__(scope, id)
        runtime = props.runtime
        self.job_name = gitops_job(
            self,
            "job",
            runtime=runtime,
            component=n.MIGRATION,
            script=MIGRATE_DB,
            scripts_checksum=content.content_hash(script_sources(SCRIPTS)),
            init_containers=[pg_pod.wait_for_postgres(runtime.image, props.postgres)],
            postgres=True,
            variables=[
                *pg_pod.postgres_env(props.postgres),
                pod.secret_env("OIDC_USERS_DB_URI", runtime.names.oidc_secret, "OIDC_USERS_DB_URI"),
            ],
        )
