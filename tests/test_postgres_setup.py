"""mlflow_gitops/scripts/postgres_setup.py (the db-role Job of CloudNativePG 1.27-1.29) as a subprocess against a
real PostgreSQL: first run creates the role, a second run changes nothing, a drifted password is repaired, the
role can own the CloudNativePG Databases afterwards, and bad settings or a wrong admin login fail clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import free_port
from tests.e2e.services import Postgres

pytestmark = pytest.mark.services

SCRIPT = Path(__file__).resolve().parents[1] / "mlflow_gitops" / "scripts" / "postgres_setup.py"
ADMIN_PASSWORD = "platform-Admin-pw-from-vault"
ROLE_PASSWORD = "p@ss:w/rd+x y"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    pg = Postgres(free_port(), tmp_path_factory.mktemp("pg-logs")).start()
    pg.psql("ALTER ROLE postgres PASSWORD :'password';", password=ADMIN_PASSWORD)  # CNPG's superuser, from Vault
    yield pg
    pg.stop()


def run(pg: Postgres, role: str, password: str = ROLE_PASSWORD, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pg.port),
        "PGSSLMODE": "disable",
        "ADMIN_USER": "postgres",
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ROLE": role,
        "ROLE_PASSWORD": password,
        "WAIT_ATTEMPTS": "2",
        "WAIT_DELAY_SECONDS": "0.2",
        **extra,
    }
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    for secret in (ADMIN_PASSWORD, password):
        assert secret not in done.stdout + done.stderr
    return done


def logs_in(pg: Postgres, role: str, password: str) -> bool:
    try:
        psycopg2.connect(
            host="127.0.0.1", port=pg.port, user=role, password=password, dbname="postgres", connect_timeout=5
        ).close()
    except psycopg2.OperationalError:
        return False
    return True


def test_first_run_creates_the_role_and_a_second_changes_nothing(postgres: Postgres) -> None:
    first = run(postgres, "team_a")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["role team_a: created", "password of team_a: set"]
    assert logs_in(postgres, "team_a", ROLE_PASSWORD)
    second = run(postgres, "team_a")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["role team_a: unchanged", "password of team_a: unchanged"]
    # what CloudNativePG's Database object then does with the owner
    postgres.psql('CREATE DATABASE :"db" OWNER :"owner";', db="team_a", owner="team_a")
    assert postgres.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'team_a';") == [["team_a"]]


def test_drift_is_repaired_and_a_new_password_from_vault_arrives(postgres: Postgres) -> None:
    assert run(postgres, "team_b").returncode == 0
    postgres.psql("ALTER ROLE :\"role\" NOLOGIN PASSWORD :'password';", role="team_b", password="someone-else")
    repaired = run(postgres, "team_b")
    assert repaired.returncode == 0, repaired.stderr
    assert repaired.stdout.splitlines() == ["role team_b: login enabled", "password of team_b: set"]
    assert logs_in(postgres, "team_b", ROLE_PASSWORD)
    rotated = run(postgres, "team_b", password="rotated-in-vault")
    assert rotated.stdout.splitlines() == ["role team_b: unchanged", "password of team_b: set"]
    assert logs_in(postgres, "team_b", "rotated-in-vault") and not logs_in(postgres, "team_b", ROLE_PASSWORD)


def test_a_wrong_admin_login_fails_without_printing_it(postgres: Postgres) -> None:
    done = run(postgres, "team_c", ADMIN_PASSWORD="wrong-admin-password")
    assert done.returncode == 1
    assert "did not accept postgres after 2 attempts" in done.stderr
    assert "wrong-admin-password" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ROLE": "Team-A"}, "ROLE 'Team-A': expected a lower-case PostgreSQL name"),
        ({"ROLE_PASSWORD": ""}, "ROLE_PASSWORD is required"),
        ({"ADMIN_USER": "team_d"}, "ADMIN_USER is the role 'team_d' itself"),
    ],
)
def test_bad_settings_exit_2(postgres: Postgres, override: dict[str, str], message: str) -> None:
    role = override.get("ROLE", "team_d")
    done = run(postgres, role, **{k: v for k, v in override.items() if k != "ROLE"})
    assert done.returncode == 2 and message in done.stderr, done.stderr
