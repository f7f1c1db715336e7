"""PostgreSQL through CloudNativePG: the role and the two databases, in the Cluster's namespace."""

from __future__ import annotations

from cdk8s import ApiObjectMetadata
from constructs import Construct

from imports.cnpg_database.io.cnpg import postgresql as cnpg_db
from imports.cnpg_databaserole.io.cnpg import postgresql as cnpg_role
from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings

ROLE_RECLAIM = {"retain": cnpg_role.DatabaseRoleSpecDatabaseRoleReclaimPolicy.RETAIN,
                "delete": cnpg_role.DatabaseRoleSpecDatabaseRoleReclaimPolicy.DELETE}
DATABASE_RECLAIM = {"retain": cnpg_db.DatabaseSpecDatabaseReclaimPolicy.RETAIN,
                    "delete": cnpg_db.DatabaseSpecDatabaseReclaimPolicy.DELETE}


class Database(Construct):
    """A `DatabaseRole` that logs in with the password of the ExternalSecret-made basic-auth Secret, and
    the `Database`s for MLflow's tracking data and the OIDC plugin's users, owned by that role.

    CloudNativePG requires these objects in the Cluster's namespace. Reclaim policies follow the
    instance's `reclaimPolicy`, default `retain`: removing an instance from Git (the engine prunes these
    objects) never drops its data unless the config asked for `delete` beforehand.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings,
                 names: n.Names) -> None:
        super().__init__(scope, id)
        cluster, db = env.postgres.cluster, instance.database
        labels = names.labels("database")

        def meta(name: str) -> ApiObjectMetadata:
            return ApiObjectMetadata(name=name, namespace=names.postgres_namespace, labels=labels)

        cnpg_role.DatabaseRole(self, "role", metadata=meta(names.role_object), spec=cnpg_role.DatabaseRoleSpec(
            cluster=cnpg_role.DatabaseRoleSpecCluster(name=cluster),
            name=db.role,
            login=True,
            password_secret=cnpg_role.DatabaseRoleSpecPasswordSecret(name=names.role_password_secret),
            ensure=cnpg_role.DatabaseRoleSpecEnsure.PRESENT,
            database_role_reclaim_policy=ROLE_RECLAIM[instance.reclaim_policy],
        ))
        for construct_id, object_name, database in (
            ("tracking", names.database_object, db.name),
            ("auth", names.auth_database_object, db.auth_name),
        ):
            cnpg_db.Database(self, construct_id, metadata=meta(object_name), spec=cnpg_db.DatabaseSpec(
                cluster=cnpg_db.DatabaseSpecCluster(name=cluster),
                name=database,
                owner=db.role,
                ensure=cnpg_db.DatabaseSpecEnsure.PRESENT,
                database_reclaim_policy=DATABASE_RECLAIM[instance.reclaim_policy],
            ))
