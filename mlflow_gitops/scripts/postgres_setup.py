"""Make the instance's login role in PostgreSQL where CloudNativePG has no DatabaseRole (1.27-1.29).

Standalone: needs Python >= 3.11, psycopg2 and jobkit.py (shipped beside it). What the old module did with psql,
idempotently:

- the role missing: `CREATE ROLE <role> LOGIN PASSWORD ...`;
- the role present without LOGIN: `ALTER ROLE <role> LOGIN`;
- the password: tried by logging in as the role; only when that fails is it set again (`ALTER ROLE ... PASSWORD`).
  So a second run changes nothing, a drifted password is repaired, and a password changed in Vault reaches the
  role on the next run of the Job (a new Job: its Secret's checksum is part of its name).

The databases themselves are CloudNativePG `Database` objects owned by the role (CNPG retries them until it exists).
One line per step (`role mlflow: created|unchanged`, `password of mlflow: unchanged|set`); no secret is printed.

Environment:
  PGHOST, PGPORT, PGSSLMODE, PGSSLROOTCERT   libpq's, where PostgreSQL is (PGDATABASE: see ADMIN_DATABASE)
  ADMIN_USER, ADMIN_PASSWORD    required  a role with CREATEROLE (the cluster's superuser, for example)
  ADMIN_DATABASE                optional  database to connect to, default postgres
  ROLE                          required  the role to make (the config's database.role)
  ROLE_PASSWORD                 required  its password (Vault <instance>/postgres, property password)
  WAIT_ATTEMPTS                 optional  default 30, attempts to reach PostgreSQL
  WAIT_DELAY_SECONDS            optional  default 5, first delay between attempts; doubles, capped at 30 s

Exit codes: 0 done, 1 PostgreSQL unreachable or an operation refused, 2 invalid settings.
"""

from __future__ import annotations

import os
import re
import sys
import time

import psycopg2
from psycopg2 import sql

try:
    from mlflow_gitops.scripts import jobkit
except ImportError:  # in the pod: jobkit.py beside this script (the bootstrap ConfigMap)
    import jobkit  # type: ignore[no-redef]

ConfigError = jobkit.ConfigError
Failure = jobkit.Failure
say, warn = jobkit.say, jobkit.warn

MAX_WAIT_DELAY_SECONDS = 30.0
AUTH_FAILED = "28P01"  # invalid_password
INVALID_AUTHORIZATION = "28000"
_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _required(name: str) -> str:
    value = jobkit.read_variable(os.environ, name)
    if value is None:
        raise ConfigError(f"{name} is required")
    return value


def _connect(user: str, password: str, database: str) -> psycopg2.extensions.connection:
    return psycopg2.connect(user=user, password=password, dbname=database, connect_timeout=10)


def _reason(exc: psycopg2.Error) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def admin_connection(user: str, password: str, database: str) -> psycopg2.extensions.connection:
    attempts = int(os.environ.get("WAIT_ATTEMPTS", "30"))
    delay = float(os.environ.get("WAIT_DELAY_SECONDS", "5"))
    where = f"{os.environ.get('PGHOST', 'localhost')}:{os.environ.get('PGPORT', '5432')}"
    for attempt in range(1, attempts + 1):
        try:
            return _connect(user, password, database)
        except psycopg2.OperationalError as exc:
            say(f"[{attempt}/{attempts}] PostgreSQL at {where} not ready for {user}: {_reason(exc)}")
            if attempt == attempts:
                raise Failure(f"PostgreSQL at {where} did not accept {user} after {attempts} attempts") from None
            time.sleep(delay)
            delay = min(delay * 2, MAX_WAIT_DELAY_SECONDS)
    raise Failure("unreachable")  # pragma: no cover (attempts >= 1)


def password_works(role: str, password: str, database: str) -> bool:
    try:
        _connect(role, password, database).close()
    except psycopg2.OperationalError as exc:
        if "password authentication failed" in str(exc) or getattr(exc, "pgcode", None) in (AUTH_FAILED,
                                                                                          INVALID_AUTHORIZATION):
            return False
        raise Failure(f"logging in as {role}: {_reason(exc)}") from None
    return True


def ensure_role(conn: psycopg2.extensions.connection, role: str, password: str, database: str) -> list[str]:
    """Create or repair `role`; the lines to print."""
    done = []
    with conn.cursor() as cur:
        cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,))
        row = cur.fetchone()
        if row is None:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)), (password,))
            return [f"role {role}: created", f"password of {role}: set"]
        if not row[0]:
            cur.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
            done.append(f"role {role}: login enabled")
        else:
            done.append(f"role {role}: unchanged")
        if password_works(role, password, database):
            done.append(f"password of {role}: unchanged")
        else:
            cur.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(role)), (password,))
            done.append(f"password of {role}: set")
    return done


def main() -> int:
    try:
        role = _required("ROLE")
        if not _ROLE_RE.match(role):
            raise ConfigError(f"ROLE {role!r}: expected a lower-case PostgreSQL name (letters, digits, '_')")
        password = _required("ROLE_PASSWORD")
        admin_user, admin_password = _required("ADMIN_USER"), _required("ADMIN_PASSWORD")
        if admin_user == role:
            raise ConfigError(f"ADMIN_USER is the role {role!r} itself: give the login of a role with CREATEROLE")
        database = os.environ.get("ADMIN_DATABASE") or "postgres"
        jobkit.hide((password, admin_password))
    except ConfigError as exc:
        warn(f"error: {exc}")
        return 2
    try:
        conn = admin_connection(admin_user, admin_password, database)
        conn.autocommit = True
        try:
            for line in ensure_role(conn, role, password, database):
                say(line)
        finally:
            conn.close()
    except Failure as exc:
        warn(f"error: {exc}")
        return 1
    except psycopg2.Error as exc:
        warn(f"error: PostgreSQL refused: {_reason(exc)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
