"""One MLflow instance and everything it needs, split into the units the GitOps engine applies in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cdk8s
from cdk8s import Chart
from constructs import Construct

from mlflow_gitops.config import ConfigError, EnvironmentSettings, InstanceSettings, Problem
from mlflow_gitops.config.errors import NO_VALUE
from mlflow_gitops.config.load import load_document
from mlflow_gitops.constructs._object import api_object
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

    Chart and child ids are a contract (they appear in cdk8s paths). `units` maps unit -> Chart; each part
    is a handle (`platform.server.deployment`, `platform.database`, ...; None when the config renders no
    such part), and `add_object` adds an object of your own to a unit. From your own cdk8s app, use
    `MlflowPlatform.from_config`.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings) -> None:
        super().__init__(scope, id)
        names = Names(env, instance)
        self.environment, self.instance, self.names = env, instance, names
        self.units = {unit: Chart(self, unit, disable_resource_name_hashes=True) for unit in UNITS}
        platform, bootstrap, app = (self.units[unit] for unit in UNITS)
        self.namespace = Namespace(platform, "namespace", env=env, names=names)
        self.secrets = Secrets(platform, "secrets", env=env, names=names)
        self.database = Database(platform, "database", env=env, instance=instance, names=names)
        self.network = (
            Network(platform, "network", env=env, instance=instance, names=names) if env.network.policies else None
        )
        self.redis = (
            Redis(platform, "redis", instance=instance, names=names)
            if instance.sessions.store == "redis" and instance.sessions.redis.deploy
            else None
        )
        self.bootstrap = Bootstrap(bootstrap, "bootstrap", env=env, instance=instance, names=names)
        self.server = Server(app, "server", env=env, instance=instance, names=names)
        self.availability = Availability(app, "availability", instance=instance, names=names)
        self.ingress = Ingress(app, "ingress", env=env, instance=instance, names=names) if env.ingress.enabled else None
        self.monitoring = Monitoring(app, "monitoring", env=env, names=names) if env.monitoring.enabled else None

    @classmethod
    def from_config(
        cls,
        scope: Construct,
        id: str,
        *,
        config: Mapping[str, Any],
        instance: str | None = None,
        environment: str = "default",
    ) -> MlflowPlatform:
        """The platform of one instance of `config` (an environment file's content as a mapping, checked as a
        file is: ConfigError names the key): `instance` names it (default: the config's only one)."""
        env = load_document(environment, config, source=f"MlflowPlatform {id!r} config")
        chosen = [i for i in env.instances if instance is None or i.name == instance]
        if len(chosen) != 1:
            known = ", ".join(i.name for i in env.instances)
            raise ConfigError(
                [
                    Problem(
                        f"MlflowPlatform {id!r}",
                        "instances",
                        f"name one of its instances: {known}",
                        instance if instance is not None else NO_VALUE,
                    )
                ]
            )
        return cls(scope, id, env=env, instance=chosen[0])

    def add_object(self, unit: str, id: str, manifest: Mapping[str, Any]) -> cdk8s.ApiObject:
        """An object of your own (apiVersion, kind, metadata, ...) in `unit` (platform, bootstrap or app), applied
        with that unit's objects."""
        if unit not in self.units:
            raise ValueError(f"add_object: unit {unit!r}; allowed: {', '.join(UNITS)}")
        return api_object(self.units[unit], id, dict(manifest))

    def patch(
        self,
        kind: str,
        name: str,
        *,
        merge: Mapping[str, Any] | None = None,
        json_patch: Sequence[Mapping[str, Any]] = (),
    ) -> list[str]:
        """Patch this instance's objects of `kind` named `name` (a Job by its name without the content hash)
        as an entry of `patches:` would: an RFC 7386 merge, then RFC 6902 operations; a patched Job is renamed
        after its new spec. The names of the objects changed; ValueError when nothing matches or an operation
        does not apply."""
        from mlflow_gitops.config.settings import ObjectPatch
        from mlflow_gitops.constructs.patches import patch_objects

        changed = patch_objects(self, ObjectPatch(kind, name, None, merge, tuple(json_patch)))
        if not changed:
            raise ValueError(f"patch: no {kind} named {name} in {self.node.id}")
        return changed
