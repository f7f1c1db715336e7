"""Migrate MLflow's tracking database and the OIDC plugin's auth database, then exit.

`mlflow db upgrade` fails on an empty database ("relation metrics does not exist"); creating the initial
tables first and then running Alembic handles an empty database and an old one alike, and is a no-op on
a current one. The tracking database comes from the PG* variables (an empty postgresql:// DSN), the auth
database from OIDC_USERS_DB_URI.
"""

import os
import sys

import sqlalchemy


def migrate_tracking(url: str) -> None:
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(url)
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    print("tracking database: schema is current", flush=True)


def migrate_auth(url: str) -> None:
    from mlflow_oidc_auth.db.utils import migrate

    engine = sqlalchemy.create_engine(url)
    try:
        migrate(engine, "head")
    finally:
        engine.dispose()
    print("auth database: schema is current", flush=True)


def main() -> int:
    migrate_tracking(os.environ.get("MLFLOW_BACKEND_STORE_URI", "postgresql://"))
    auth_url = os.environ.get("OIDC_USERS_DB_URI")
    if auth_url:
        migrate_auth(auth_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
