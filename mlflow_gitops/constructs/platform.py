"""One MLflow instance and everything it needs, split into the units the GitOps engine applies in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import cdk8s
from cdk8s import Chart
from constructs import Construct

from mlflow_gitops.config import ConfigError, Problem
from mlflow_gitops.config.errors import NO_VALUE
from mlflow_gitops.config.load import load_document
from mlflow_gitops.constructs._job import JobRuntime
from mlflow_gitops.constructs._object import api_object
from mlflow_gitops.constructs._postgres import PostgresAccess
from mlflow_gitops.constructs._recorded import RecordedChart
from mlflow_gitops.constructs.availability import Availability, AvailabilityProps
from mlflow_gitops.constructs.bootstrap import Bootstrap, BootstrapProps
from mlflow_gitops.constructs.cleanup import Cleanup, CleanupProps
from mlflow_gitops.constructs.database import Database, DatabaseProps
from mlflow_gitops.constructs.gitops import UNITS
from mlflow_gitops.constructs.ingress import Ingress, IngressProps
from mlflow_gitops.constructs.monitoring import Monitoring, MonitoringProps
from mlflow_gitops.constructs.namespace import Namespace, NamespaceProps
from mlflow_gitops.constructs.network import Network, NetworkProps
from mlflow_gitops.constructs.redis import Redis, RedisProps
from mlflow_gitops.constructs.secrets import Secrets, SecretsProps
from mlflow_gitops.constructs.server import Server, ServerProps
from mlflow_gitops.names import Names
from mlflow_gitops.settings import EnvironmentSettings, InstanceSettings


@dataclass(frozen=True)
class MlflowPlatformProps:
    """The platform of one instance of an environment (`MlflowPlatform.from_config` makes them from a config
    mapping checked as an environment file is)."""

    environment: EnvironmentSettings
    instance: InstanceSettings
    """One of `environment.instances`."""


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

    def __init__(self, scope: Construct, id: str, *, props: MlflowPlatformProps) -> None:
        super().__init__(scope, id)
        self._build(id, props, {unit: Chart(self, unit, disable_resource_name_hashes=True) for unit in UNITS})

    @classmethod
    def recorded(cls, id: str, *, props: MlflowPlatformProps) -> MlflowPlatform:
        """The same platform as a recorded render (`constructs._recorded`): plain Python parts, each unit a
        RecordedChart of the documents cdk8s would render, nothing in Node. For `app.render` when nothing
        extends the render; its parts are not cdk8s constructs and have no handles to extend."""
        platform = cls.__new__(cls)
        units = {unit: RecordedChart(f"{id}/{unit}") for unit in UNITS}
        platform._build(id, props, cast(Mapping[str, Chart], units))
        return platform

    def _build(self, id: str, props: MlflowPlatformProps, units: Mapping[str, Chart]) -> None:
        env, instance = props.environment, props.instance
        if instance not in env.instances:
            raise ValueError(f"MlflowPlatform {id!r}: instance {instance.name!r} is not one of the environment's")
        names = Names(env, instance)
        self.environment, self.instance, self.names = env, instance, names
        self.units = dict(units)
        platform, bootstrap, app = (self.units[unit] for unit in UNITS)
        # The one place that reads the whole environment: each part gets the props it is made from.
        postgres = PostgresAccess(settings=env.postgres, database=instance.database.name, names=names)
        sessions, monitoring = instance.sessions, env.monitoring
        redis_sessions = sessions.store == "redis"
        bootstrap_props = BootstrapProps(
            runtime=JobRuntime(
                names=names,
                image=env.image,
                placement=instance.pods,
                engine=env.gitops.engine,
                postgres_ca=env.postgres.ca,
            ),
            postgres=postgres,
            role=instance.database.role,
            oidc=instance.oidc,
            members=instance.members,
            keycloak=env.keycloak if env.bootstrap.keycloak else None,
            s3=env.s3 if env.bootstrap.minio else None,
            bucket=instance.bucket,
            bucket_versioning=env.bootstrap.bucket_versioning,
            rotation=env.vault.rotation,
        )
        self.namespace = Namespace(
            platform, "namespace", props=NamespaceProps(name=names.namespace, monitored=monitoring.enabled)
        )
        retired = instance.retired  # only the cleanup Jobs, their credentials and NetworkPolicies
        self.secrets = Secrets(
            platform,
            "secrets",
            props=SecretsProps(
                names=names,
                vault=env.vault,
                role=instance.database.role,
                role_job=env.postgres.role_management == "job" and not retired,
                redis_sessions=redis_sessions,
                admins=bootstrap_props.admins,
                postgres_admin=env.postgres.admin,
                postgres_ca=None if retired else env.postgres.ca,
                retired=retired,
            ),
        )
        self.database = (
            None
            if retired
            else Database(
                platform,
                "database",
                props=DatabaseProps(
                    names=names,
                    cluster=env.postgres.cluster,
                    role_management=env.postgres.role_management,
                    database=instance.database,
                    reclaim_policy=instance.reclaim_policy,
                ),
            )
        )
        network = NetworkProps(
            names=names,
            network=env.network,
            postgres=env.postgres,
            s3_endpoint=env.s3.endpoint,
            keycloak_url=env.keycloak.url,
            sessions=sessions,
            prometheus_namespace=monitoring.prometheus_namespace if monitoring.enabled else None,
            keycloak_setup=env.bootstrap.keycloak,
            minio_setup=env.bootstrap.minio,
            retired=retired,
        )
        self.network = Network(platform, "network", props=network) if env.network.policies else None
        self.cleanup = self._cleanup(bootstrap_props, instance) if retired else None
        if retired:
            self.redis = self.bootstrap = None
            self.server = self.availability = self.ingress = self.monitoring = None
            return
        redis = RedisProps(
            names=names, redis=sessions.redis, placement=instance.pods, reload_pods=env.vault.reload_pods
        )
        self.redis = Redis(platform, "redis", props=redis) if redis_sessions and sessions.redis.deploy else None
        self.bootstrap = Bootstrap(bootstrap, "bootstrap", props=bootstrap_props)
        self.server = Server(
            app,
            "server",
            props=ServerProps(
                names=names,
                image=env.image,
                postgres=postgres,
                s3=env.s3,
                provider_display_name=env.keycloak.display_name,
                reload_pods=env.vault.reload_pods,
                replicas=instance.replicas,
                autoscaled=instance.autoscaling.enabled,
                workers=instance.workers,
                resources=instance.resources,
                tmp=instance.tmp,
                placement=instance.pods,
                oidc=instance.oidc,
                default_permission=instance.default_permission,
                sessions=sessions,
                options=instance.server,
            ),
        )
        self.availability = Availability(
            app, "availability", props=AvailabilityProps(names=names, autoscaling=instance.autoscaling)
        )
        ingress = IngressProps(
            names=names, host=instance.host, ingress=env.ingress, annotations=dict(instance.server.ingress_annotations)
        )
        self.ingress = Ingress(app, "ingress", props=ingress) if env.ingress.enabled else None
        monitor = MonitoringProps(names=names, monitoring=monitoring)
        self.monitoring = Monitoring(app, "monitoring", props=monitor) if monitoring.enabled else None

    def _cleanup(self, bootstrap_props: BootstrapProps, instance: InstanceSettings) -> Cleanup:
        """A retired instance's cleanup Jobs (`instances[].retired`), in the bootstrap unit."""
        return Cleanup(
            self.units["bootstrap"],
            "cleanup",
            props=CleanupProps(
                runtime=bootstrap_props.runtime,
                oidc=instance.oidc,
                keycloak=bootstrap_props.keycloak,
                s3=bootstrap_props.s3,
                bucket=instance.bucket,
                bucket_cleanup=instance.bucket_cleanup,
            ),
        )

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
        return cls(scope, id, props=MlflowPlatformProps(environment=env, instance=chosen[0]))

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
        from mlflow_gitops.constructs.patches import patch_objects
        from mlflow_gitops.settings import ObjectPatch

        changed = patch_objects(self, ObjectPatch(kind, name, None, merge, tuple(json_patch)))
        if not changed:
            raise ValueError(f"patch: no {kind} named {name} in {self.node.id}")
        return changed
