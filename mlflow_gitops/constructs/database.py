"""PostgreSQL through CloudNativePG: the role and the two databases, in the Cluster's namespace."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.settings import DatabaseSettings

API_VERSION = "postgresql.cnpg.io/v1"


@dataclass(frozen=True)
class DatabaseProps:
    names: n.Names
    cluster: str
    """The CloudNativePG Cluster (`postgres.cluster`)."""
    role_management: str
    """`postgres.roleManagement`: `DatabaseRole` renders the role object."""
    database: DatabaseSettings
    """The role and the two databases (`instances[].database`)."""
    reclaim_policy: str
    """`instances[].reclaimPolicy`."""


class Database(Part):
    """The `Database`s for MLflow's tracking data and the OIDC plugin's users, owned by the instance's role,
    and, with `postgres.roleManagement: DatabaseRole` (CloudNativePG 1.30 or newer), the `DatabaseRole` that
    logs in with the password of the ExternalSecret-made basic-auth Secret. With `job` (1.27-1.29 have no
    DatabaseRole) the db-role Job makes the role; CloudNativePG retries a Database until its owner exists.

    CloudNativePG requires these objects in the Cluster's namespace. Reclaim policies follow the
    instance's `reclaimPolicy`, default `retain`: removing an instance from Git (the engine prunes these
    objects) never drops its data unless the config asked for `delete` beforehand.
    """

    def __init__(self, scope: Construct, id: str, *, props: DatabaseProps) -> None:
        super().__init__(scope, id)
        names, cluster, db = props.names, {"name": props.cluster}, props.database
        labels = names.labels("database")
        if props.role_management == "DatabaseRole":
            api_object(
                self,
                "role",
                {
                    "apiVersion": API_VERSION,
                    "kind": "DatabaseRole",
                    "metadata": metadata(names.role_object, names.postgres_namespace, labels),
                    "spec": {
                        "cluster": cluster,
                        "name": db.role,
                        "login": True,
                        "passwordSecret": {"name": names.role_password_secret},
                        "ensure": "present",
                        "databaseRoleReclaimPolicy": props.reclaim_policy,
                    },
                },
            )
        for construct_id, object_name, database in (
            ("tracking", names.database_object, db.name),
            ("auth", names.auth_database_object, db.auth_name),
        ):
            api_object(
                self,
                construct_id,
                {
                    "apiVersion": API_VERSION,
                    "kind": "Database",
                    "metadata": metadata(object_name, names.postgres_namespace, labels),
                    "spec": {
                        "cluster": cluster,
                        "name": database,
                        "owner": db.role,
                        "ensure": "present",
                        "databaseReclaimPolicy": props.reclaim_policy,
                    },
                },
            )
