"""The tracking- and auth-database migration: one Job per content, never an init container per replica."""

from __future__ import annotations

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs._job import gitops_job
from mlflow_gitops.scripts import script_sources

SCRIPT = "migrate_db.py"


class Migration(Construct):
    """A Job that waits for PostgreSQL (init container), then brings MLflow's tracking database and the
    plugin's auth database to the current schema (`migrate_db.py`). See `gitops_job` for its naming.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings,
                 names: n.Names) -> None:
        super().__init__(scope, id)
        self.job_name = gitops_job(
            self, "job", names=names, component="db-migration", script=SCRIPT,
            script_source=script_sources()[SCRIPT], scripts_config_map=names.scripts_config_map,
            image=env.image.ref, pull_policy=env.image.pull_policy,
            init_containers=[pod.wait_for_postgres(env, instance, names)],
            env=[*pod.postgres_env(env, instance, names),
                 pod.secret_env("OIDC_USERS_DB_URI", names.oidc_secret, "OIDC_USERS_DB_URI")],
        )
