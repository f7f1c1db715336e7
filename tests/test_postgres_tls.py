"""postgres.sslMode verify-full with postgres.ca, against a real PostgreSQL serving TLS with a certificate of its own
CA (as CloudNativePG does with <cluster>-ca): the rendered connection settings (PGSSLROOTCERT in the pods, the auth
DB URI's sslrootcert) verify the server, and without the CA the same connection is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from mlflow_gitops.names import POSTGRES_CA_DIR
from tests.conftest import find, free_port, one, render_text
from tests.e2e.services import Postgres
from tests.tls import server_tls

pytestmark = pytest.mark.services

SCRIPTS = Path(__file__).resolve().parents[1] / "mlflow_gitops" / "scripts"
PASSWORD = "tls-Role-password"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Postgres, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="mlflow-pg-tls-"))  # the server (user postgres) must read its key
    server_tls(folder, "postgres-cluster-ca", "postgres-cluster-rw")
    folder.chmod(0o755)
    if os.geteuid() == 0:
        for name in ("tls.crt", "tls.key"):
            shutil.chown(folder / name, "postgres", "postgres")
    pg = Postgres(
        free_port(),
        tmp_path_factory.mktemp("pg-tls-logs"),
        settings={"ssl": "on", "ssl_cert_file": str(folder / "tls.crt"), "ssl_key_file": str(folder / "tls.key")},
    ).start()
    pg.psql("CREATE ROLE tls_user LOGIN PASSWORD :'p';", p=PASSWORD)
    for database in ("tls_user", "tls_user_auth"):
        pg.psql(f"CREATE DATABASE {database} OWNER tls_user;")
    yield pg, folder / "ca.crt"
    pg.stop()
    shutil.rmtree(folder, ignore_errors=True)


def rendered() -> list[dict[str, Any]]:
    return render_text(
        "postgres:\n  host: 127.0.0.1\n  sslMode: verify-full\n  ca: {}\ninstances:\n  - name: tls-user\n"
    )


def init_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The wait-for-postgres init container's plain variables, as rendered."""
    init = one(docs, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    return {v["name"]: v["value"] for v in init["env"] if "value" in v}


def test_the_rendered_pod_settings_verify_the_server(tls: tuple[Postgres, Path]) -> None:
    pg, ca = tls
    docs = rendered()
    env = init_env(docs)
    assert env["PGSSLMODE"] == "verify-full" and env["PGSSLROOTCERT"] == f"{POSTGRES_CA_DIR}/ca.crt"
    for doc in [*find(docs, "Deployment"), *find(docs, "Job")]:
        if doc["metadata"]["labels"]["app.kubernetes.io/component"] in ("server", "db-migration", "db-role"):
            volumes = {v["name"]: v for v in doc["spec"]["template"]["spec"]["volumes"]}
            # db-role runs in PostgreSQL's namespace, with its own copy of the CA there
            want = "tls-user-postgres-ca" if doc["metadata"]["namespace"] == "postgres" else "postgres-ca"
            assert volumes["postgres-ca"]["secret"]["secretName"] == want, doc["metadata"]["name"]
    base = {
        "PATH": os.environ["PATH"],
        "PGPORT": str(pg.port),
        "PGUSER": "tls_user",
        "PGPASSWORD": PASSWORD,
        "WAIT_ATTEMPTS": "1",
        "WAIT_DELAY_SECONDS": "0",
    }
    with_ca = {**base, **env, "PGPORT": str(pg.port), "PGSSLROOTCERT": str(ca)}  # the mounted file, here
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "wait_for_postgres.py")], env=with_ca, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    without = {**with_ca, "PGSSLROOTCERT": str(ca.parent / "missing.crt"), "HOME": str(ca.parent)}
    refused = subprocess.run(
        [sys.executable, str(SCRIPTS / "wait_for_postgres.py")], env=without, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "root certificate file" in refused.stdout, refused.stdout


def test_the_auth_db_uri_carries_the_ca(tls: tuple[Postgres, Path]) -> None:
    pg, ca = tls
    template = one(rendered(), "ExternalSecret", "tls-user-oidc-config")["spec"]["target"]["template"]["data"]
    uri = template["OIDC_USERS_DB_URI"].replace('{{ .password | urlquery | replace "+" "%20" }}', PASSWORD)
    uri = uri.replace("127.0.0.1:5432", f"127.0.0.1:{pg.port}").replace(f"{POSTGRES_CA_DIR}/ca.crt", str(ca))
    assert "sslmode=verify-full&sslrootcert=" in uri
    psycopg2.connect(uri, connect_timeout=5).close()
    with pytest.raises(psycopg2.OperationalError, match=r"certificate verify failed|root certificate"):
        psycopg2.connect(uri.split("&sslrootcert=")[0] + "&sslrootcert=/nonexistent/ca.crt", connect_timeout=5)
