"""What a pod that connects to PostgreSQL carries: libpq's variables and login, the CA when the connection
verifies the server, and the init container that waits for the role's login."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow_gitops import names as n
from mlflow_gitops.constructs._pod import (
    SMALL,
    Container,
    EnvVar,
    Volume,
    container,
    plain_env,
    script_command,
    scripts_mount,
    secret_env,
    volume_mount,
)
from mlflow_gitops.settings import CaSecret, ImageSettings, PostgresSettings


@dataclass(frozen=True)
class PostgresAccess:
    """How a pod of one instance reaches its tracking database."""

    settings: PostgresSettings
    """The PostgreSQL server (`postgres`: host, port, sslMode, CA)."""
    database: str
    """The tracking database (`instances[].database.name`)."""
    names: n.Names
    """The login Secret and the CA file's path."""


def postgres_env(access: PostgresAccess) -> list[EnvVar]:
    """libpq's variables: where the tracking database is, and the role's login from its Secret.

    Explicit in every container that connects (not in a shared ConfigMap), so a Job's spec, and so its
    content-hashed name, changes whenever the database it talks to does.
    """
    pg, names = access.settings, access.names
    return [
        *plain_env(
            {
                "PGHOST": pg.host,
                "PGPORT": str(pg.port),
                "PGDATABASE": access.database,
                "PGSSLMODE": pg.ssl_mode,
                **postgres_ca_env(names),
            }
        ),
        secret_env("PGUSER", names.db_secret, "username"),
        secret_env("PGPASSWORD", names.db_secret, "password"),
    ]


def postgres_ca_env(names: n.Names) -> dict[str, str]:
    """PGSSLROOTCERT when PostgreSQL's CA is configured (sslMode verify-ca / verify-full)."""
    return {"PGSSLROOTCERT": names.postgres_ca_file} if names.postgres_ca_file else {}


def postgres_ca_volumes(ca: CaSecret | None) -> list[Volume]:
    """The CA Secret as a volume of a pod that connects to PostgreSQL (none without a CA)."""
    return (
        [
            {
                "name": n.POSTGRES_CA_VOLUME,
                "secret": {
                    "secretName": ca.secret_name,
                    "defaultMode": 0o444,
                    "items": [{"key": ca.key, "path": ca.key}],
                },
            }
        ]
        if ca
        else []
    )


def postgres_ca_mounts(ca: CaSecret | None) -> list[dict[str, Any]]:
    return [volume_mount(n.POSTGRES_CA_VOLUME, n.POSTGRES_CA_DIR, True)] if ca else []


def wait_for_postgres(image: ImageSettings, access: PostgresAccess) -> Container:
    """An init container that exits once PostgreSQL accepts the role's login (not merely a TCP connect)."""
    return container(
        "wait-for-postgres",
        image=image.ref,
        pull_policy=image.pull_policy,
        res=SMALL,
        command=script_command("wait_for_postgres.py"),
        env=postgres_env(access),
        volumeMounts=[scripts_mount(), *postgres_ca_mounts(access.settings.ca)],
    )
