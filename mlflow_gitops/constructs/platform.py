"""One MLflow instance and everything it needs, split into the units the GitOps engine applies in order."""

from __future__ import annotations

from cdk8s import Chart
from constructs import Construct

from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.constructs.availability import Availability
from mlflow_gitops.constructs.bootstrap import Bootstrap
from mlflow_gitops.constructs.database import Database
from mlflow_gitops.constructs.gitops import UNITS
from mlflow_gitops.constructs.ingress import Ingress
from mlflow_gitops.constructs.monitoring import Monitoring
from mlflow_gitops.constructs.namespace import Namespace
from mlflow_gitops.constructs.network import Network
from mlflow_gitops.constructs.redis import Redis
from mlflow_gitops.constructs.secrets import Secrets
from mlflow_gitops.constructs.server import Server
from mlflow_gitops.names import Names


class MlflowPlatform(Construct):
    """The whole platform of one instance, as three Charts, one per unit (`UNITS`):

    - `platform`: namespace, secrets (ExternalSecrets), database (CloudNativePG role and databases),
      network (NetworkPolicies, when enabled), redis (with Redis sessions it renders);
    - `bootstrap`: bootstrap (ServiceAccount, scripts, migration Job, Keycloak and MinIO setup Jobs);
    - `app`: server, availability (PodDisruptionBudget, HorizontalPodAutoscaler), ingress (when enabled),
      monitoring (when enabled).

    Chart and child ids are a contract (they appear in cdk8s paths). `units` maps unit -> Chart.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings) -> None:
        super().__init__(scope, id)
        names = Names(env, instance)
        self.units = {unit: Chart(self, unit, disable_resource_name_hashes=True) for unit in UNITS}
        platform, bootstrap, app = (self.units[unit] for unit in UNITS)
        Namespace(platform, "namespace", env=env, names=names)
        Secrets(platform, "secrets", env=env, names=names)
        Database(platform, "database", env=env, instance=instance, names=names)
        if env.network.policies:
            Network(platform, "network", env=env, instance=instance, names=names)
        if instance.sessions.store == "redis" and instance.sessions.redis.deploy:
            Redis(platform, "redis", instance=instance, names=names)
        Bootstrap(bootstrap, "bootstrap", env=env, instance=instance, names=names)
        Server(app, "server", env=env, instance=instance, names=names)
        Availability(app, "availability", instance=instance, names=names)
        if env.ingress.enabled:
            Ingress(app, "ingress", env=env, instance=instance, names=names)
        if env.monitoring.enabled:
            Monitoring(app, "monitoring", env=env, names=names)
