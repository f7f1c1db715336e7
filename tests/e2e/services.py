"""The real services the rendered stack talks to, on 127.0.0.1: PostgreSQL 15, moto_server (S3), the OpenID provider.

* `Postgres`: a throw-away cluster (Debian's postgresql-15 binaries; initdb refuses root, so as root the server runs
  as user `postgres` through runuser). Local socket connections are trusted (the harness' own psql), TCP
  connections need a password (scram-sha-256): the rendered credentials are really checked.
  `apply_cnpg(pg, docs, secrets)` creates the roles and databases exactly as the rendered CloudNativePG
  `DatabaseRole`/`Database` objects declare them, with the role password from the Secret the role's `passwordSecret`
  names, checked the way CloudNativePG checks it (basic-auth type, username equal to the role name).
* `start_moto`: `python -m moto.server`, the real S3 implementation behind the fake MinIO.
* `start_oidc`: tests/e2e/oidc/provider.mjs (Node, oauth2-mock-server behind a Keycloak-shaped front).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.pod import LOGS, PodError, Process
from tests.e2e.secrets import Secret

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("E2E_PG_BIN", "/usr/lib/postgresql/15/bin"))
PROVIDER = REPO / "tests" / "e2e" / "oidc" / "provider.mjs"


class ServiceError(Exception):
    pass


def wait_http(url: str, timeout: float, process: Process | None = None, headers: dict[str, str] | None = None,
              ok: tuple[int, ...] = (200,)) -> float:
    """Poll `url` until it answers one of `ok`; the seconds it took. Fails early when `process` died."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        if process is not None and not process.running():
            raise ServiceError(f"{process.name} exited ({process.popen.returncode if process.popen else '?'}) "
                               f"before {url} answered\n{process.tail()}")
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status in ok:
                    return time.monotonic() - start
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return time.monotonic() - start
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    tail = f"\n{process.tail()}" if process is not None else ""
    raise ServiceError(f"{url} did not answer within {timeout:.0f} s (last: {last}){tail}")


# ----------------------------------------------------------------------------------------------------- PostgreSQL


class Postgres:
    def __init__(self, port: int, logdir: Path):
        self.port, self.logdir = port, logdir
        for tool in ("initdb", "pg_ctl", "psql"):
            if not (PG_BIN / tool).exists():
                raise ServiceError(f"PostgreSQL 15 is required ({PG_BIN / tool} is missing): "
                                   "run ci/e2e-setup.sh (apt-get install postgresql)")
        # Not under pytest's tmp dir: user postgres must be able to reach it (pytest's is 0700 root).
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-e2e-pg-"))
        self.data, self.socket, self.log = self.root / "data", self.root / "socket", self.root / "postgres.log"
        self.socket.mkdir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket, "postgres", "postgres")

    def _run(self, argv: list[str], stdin: str | None = None, timeout: float = 120) -> str:
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self) -> Postgres:
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync"])
        LOGS.append(self.log)
        options = f"-p {self.port} -k {self.socket} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
                   "start"])
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            keep = self.logdir / "postgres.log"
            if self.log.exists():
                self.logdir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.log, keep)
                LOGS[:] = [keep if path == self.log else path for path in LOGS]
            shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres", **variables: str) -> list[list[str]]:
        """Rows of the last statement's output; `:name`/`:'name'`/`:"name"` in `sql` are psql variables."""
        argv = [str(PG_BIN / "psql"), "-h", str(self.socket), "-p", str(self.port), "-U", "postgres", "-d", database,
                "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
        for name, value in variables.items():
            argv += ["-v", f"{name}={value}"]
        out = self._run(argv, stdin=sql)
        return [line.split("\t") for line in out.splitlines() if line]


CNPG_ROLE_FIELDS = {"cluster", "name", "ensure", "login", "passwordSecret", "databaseRoleReclaimPolicy", "comment",
                    "superuser", "createdb", "createrole", "inherit", "replication", "bypassrls", "connectionLimit"}
CNPG_DATABASE_FIELDS = {"cluster", "name", "owner", "ensure", "databaseReclaimPolicy"}
ROLE_FLAGS = {"login": "LOGIN", "superuser": "SUPERUSER", "createdb": "CREATEDB", "createrole": "CREATEROLE",
              "inherit": "INHERIT", "replication": "REPLICATION", "bypassrls": "BYPASSRLS"}


def apply_cnpg(pg: Postgres, docs: list[dict[str, Any]], secrets: dict[tuple[str, str], Secret]) -> dict[str, Any]:
    """Create what the rendered DatabaseRole/Database objects declare; returns {"roles": [...], "databases": [...]}."""
    applied: dict[str, Any] = {"roles": [], "databases": []}
    for doc in (d for d in docs if d["kind"] == "DatabaseRole"):
        spec, where = doc["spec"], f"DatabaseRole {doc['metadata']['namespace']}/{doc['metadata']['name']}"
        unknown = set(spec) - CNPG_ROLE_FIELDS
        if unknown:
            raise PodError(f"{where}: fields {sorted(unknown)} not emulated")
        if spec.get("ensure", "present") != "present":
            continue
        flags = [flag if spec.get(key, key == "inherit") else f"NO{flag}" for key, flag in ROLE_FLAGS.items()]
        variables = {"role": spec["name"]}
        password_clause = ""
        if "passwordSecret" in spec:
            key = (doc["metadata"]["namespace"], spec["passwordSecret"]["name"])
            secret = secrets.get(key)
            if secret is None:
                raise PodError(f"{where}: passwordSecret {key} is made by no ExternalSecret")
            if secret.type != "kubernetes.io/basic-auth":
                raise PodError(f"{where}: passwordSecret {key} has type {secret.type}, CloudNativePG needs "
                               "kubernetes.io/basic-auth")
            if secret.get("username", where) != spec["name"]:
                raise PodError(f"{where}: passwordSecret username {secret.data['username']!r} is not the role "
                               f"name {spec['name']!r} (CloudNativePG refuses it)")
            variables["password"] = secret.get("password", where)
            password_clause = " PASSWORD :'password'"
        limit = f" CONNECTION LIMIT {int(spec['connectionLimit'])}" if "connectionLimit" in spec else ""
        pg.psql(f'CREATE ROLE :"role" WITH {" ".join(flags)}{limit}{password_clause};', **variables)
        applied["roles"].append({"name": spec["name"], "login": bool(spec.get("login")),
                                 "password_from": spec.get("passwordSecret", {}).get("name")})
    for doc in (d for d in docs if d["kind"] == "Database"):
        spec, where = doc["spec"], f"Database {doc['metadata']['namespace']}/{doc['metadata']['name']}"
        unknown = set(spec) - CNPG_DATABASE_FIELDS
        if unknown:
            raise PodError(f"{where}: fields {sorted(unknown)} not emulated")
        if spec.get("ensure", "present") != "present":
            continue
        pg.psql('CREATE DATABASE :"db" OWNER :"owner";', db=spec["name"], owner=spec["owner"])
        applied["databases"].append({"name": spec["name"], "owner": spec["owner"]})
    return applied


# ------------------------------------------------------------------------------------------------------------ moto


def start_moto(port: int, logdir: Path) -> Process:
    process = Process("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                      {**os.environ, "PYTHONUNBUFFERED": "1"}, logdir, logdir / "moto.log").start()
    wait_http(f"http://127.0.0.1:{port}/moto-api/", 30, process)
    return process


# ----------------------------------------------------------------------------------------------- OpenID provider


def start_oidc(port: int, realm: str, client_id: str, client_secret: str, redirect_uri: str, logdir: Path) -> Process:
    node = shutil.which("node")
    if node is None:
        raise ServiceError("Node.js is required for the OpenID provider (tests/e2e/oidc/provider.mjs)")
    if not (REPO / "node_modules" / "oauth2-mock-server").is_dir():
        raise ServiceError("npm package oauth2-mock-server is missing: run `npm ci` (ci/e2e-setup.sh)")
    issuer = f"http://localhost:{port}/realms/{realm}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "REALM": realm, "ISSUER": issuer,
           "CLIENT_ID": client_id, "CLIENT_SECRET": client_secret, "REDIRECT_URI": redirect_uri}
    process = Process("oidc-provider", [node, str(PROVIDER)], env, REPO, logdir / "oidc-provider.log").start()
    wait_http(f"http://127.0.0.1:{port}/realms/{realm}/.well-known/openid-configuration", 30, process)
    return process


def queue_user(port: int, user: dict[str, Any]) -> None:
    """Choose who logs in at the provider's next authorization request."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_e2e/user", data=json.dumps(user).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204


def add_redirect_uri(port: int, redirect_uri: str) -> None:
    """Add a valid redirect URI to the provider's client (another rendered environment of the same client)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_e2e/redirect-uri",
                                     data=json.dumps({"redirect_uri": redirect_uri}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204


def provider_events(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_e2e/events", timeout=5) as response:
        return json.load(response)
