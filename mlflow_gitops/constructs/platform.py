"""One MLflow instance and everything it needs: the construct a Chart holds."""

from __future__ import annotations

from constructs import Construct

from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.constructs.bootstrap import Bootstrap
from mlflow_gitops.constructs.database import Database
from mlflow_gitops.constructs.ingress import Ingress
from mlflow_gitops.constructs.migration import Migration
from mlflow_gitops.constructs.monitoring import Monitoring
from mlflow_gitops.constructs.namespace import Namespace
from mlflow_gitops.constructs.secrets import Secrets
from mlflow_gitops.constructs.server import Server
from mlflow_gitops.names import Names


class MlflowPlatform(Construct):
    """The whole platform of one instance. Child ids are a contract (they appear in cdk8s paths):
    namespace, secrets, database, server, migration, bootstrap, ingress (when enabled), monitoring (when enabled).
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings) -> None:
        super().__init__(scope, id)
        names = Names(env, instance)
        Namespace(self, "namespace", env=env, names=names)
        Secrets(self, "secrets", env=env, names=names)
        Database(self, "database", env=env, instance=instance, names=names)
        Server(self, "server", env=env, instance=instance, names=names)
        Migration(self, "migration", env=env, instance=instance, names=names)
        Bootstrap(self, "bootstrap", env=env, instance=instance, names=names)
        if env.ingress.enabled:
            Ingress(self, "ingress", env=env, instance=instance, names=names)
        if env.monitoring.enabled:
            Monitoring(self, "monitoring", env=env, names=names)
