"""The tracking- and auth-database migration: one Job per content, never an init container per replica."""

from __future__ import annotations

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.constructs import _hash as content
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs import _postgres as pg_pod
from mlflow_gitops.constructs._job import gitops_job
from mlflow_gitops.scripts import MIGRATE_DB, WAIT_FOR_POSTGRES, script_sources

SCRIPTS = (MIGRATE_DB, WAIT_FOR_POSTGRES)
"""What the Job runs: the init container waits for PostgreSQL, the container migrates."""


class Migration(Construct):
    """A Job that waits for PostgreSQL (init container), then brings MLflow's tracking database and the
    plugin's auth database to the current schema (`migrate_db.py`). See `gitops_job` for its naming.
    """

    def __init__(
        self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings, names: n.Names
    ) -> None:
        super().__init__(scope, id)
        self.job_name = gitops_job(
            self,
            "job",
            env=env,
            names=names,
            component=n.MIGRATION,
            script=MIGRATE_DB,
            scripts_checksum=content.content_hash(script_sources(SCRIPTS)),
            init_containers=[pg_pod.wait_for_postgres(env, instance, names)],
            postgres=True,
            variables=[
                *pg_pod.postgres_env(env, instance, names),
                pod.secret_env("OIDC_USERS_DB_URI", names.oidc_secret, "OIDC_USERS_DB_URI"),
            ],
        )
