"""The PostgreSQL side: what the CloudNativePG objects created is what the app uses, and the migration Job is safe
to run again (a GitOps engine re-creates it whenever its content hash changes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from tests.e2e.conftest import DB_PASSWORD, Server, run_job
from tests.e2e.services import Postgres


def schema(pg: Postgres, database: str) -> dict[str, Any]:
    return {
        "alembic": pg.psql(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%alembic%' ORDER BY 1;", database
        ),
        "versions": {
            table: pg.psql(f'SELECT version_num FROM "{table}" ORDER BY 1;', database)
            for [table] in pg.psql(
                "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%alembic%' ORDER BY 1;",
                database,
            )
        },
        "tables": pg.psql(
            "SELECT table_name, tableowner FROM information_schema.tables "
            "JOIN pg_tables ON tablename = table_name AND schemaname = table_schema "
            "WHERE table_schema = 'public' ORDER BY 1;",
            database,
        ),
        "columns": pg.psql(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2;",
            database,
        ),
        "indexes": pg.psql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1;", database
        ),
    }


def test_role_and_databases_are_the_rendered_ones(server: Server, postgres: Postgres) -> None:
    """The default cluster is CloudNativePG 1.27: no DatabaseRole, the db-role Job made the role (as the
    superuser from Vault postgres/admin), the Database objects made the databases it owns."""
    stack = server.stack
    assert not stack.find("DatabaseRole")
    databases = {d["spec"]["name"]: d["spec"]["owner"] for d in stack.find("Database")}
    [role_name] = set(databases.values())
    [[job]] = postgres.role_job  # type: ignore[attr-defined]
    assert job.log.read_text().splitlines()[-2:] == [f"role {role_name}: created", f"password of {role_name}: set"]
    assert postgres.applied == {  # type: ignore[attr-defined]
        "roles": [],
        "databases": [{"name": name, "owner": owner} for name, owner in databases.items()],
    }
    assert postgres.psql("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = :'r';", r=role_name) == [
        ["t", "f"]
    ]
    # the auth database URI, built by the mlflow-oidc-config ExternalSecret template, escapes the password ...
    uri = stack.secrets[("mlflow", "mlflow-oidc-config")].data["OIDC_USERS_DB_URI"]
    parts = urlsplit(uri)
    assert unquote(parts.password or "") == DB_PASSWORD and "+" not in (parts.password or "")
    assert parts.path.lstrip("/") in databases
    # ... and the server really uses both databases as the role: its tables there are owned by the role
    for database in databases:
        owners = {owner for _, owner in schema(postgres, database)["tables"]}
        assert owners == {role_name}, (database, owners)


def test_migration_job_runs_again_and_changes_nothing(
    server: Server, postgres: Postgres, runtime_dir: Path, e2e_dir: Path
) -> None:
    stack = server.stack
    databases = [d["spec"]["name"] for d in stack.find("Database")]
    before = {database: schema(postgres, database) for database in databases}
    assert all(before[database]["versions"] for database in databases), before
    [process] = run_job(
        stack,
        "db-migration",
        server.pod.image,
        runtime_dir / "db-migration-rerun",
        e2e_dir / "logs" / "db-migration-rerun",
    )
    log = process.log.read_text()
    assert "tracking database: schema is current" in log and "auth database: schema is current" in log
    assert "Running upgrade" not in log, log  # Alembic had nothing to do
    after = {database: schema(postgres, database) for database in databases}
    assert after == before
    # the server still works on the re-migrated database
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
