"""The real services the rendered stack talks to, on 127.0.0.1: PostgreSQL 15 (MinIO: see tests/minio_server.py;
Keycloak: tests/keycloak_server.py).

* `Postgres`: a throw-away cluster (Debian's postgresql-15 binaries; initdb refuses root, so as root the server runs
  as user `postgres` through runuser). Local socket connections are trusted (the harness' own psql), TCP
  connections need a password (scram-sha-256): the rendered credentials are really checked.
  `apply_cnpg(pg, docs, secrets)` creates the roles and databases exactly as the rendered CloudNativePG
  `DatabaseRole`/`Database` objects declare them, with the role password from the Secret the role's `passwordSecret`
  names, checked the way CloudNativePG checks it (basic-auth type, username equal to the role name).
* `keycloak_login`: submits Keycloak's real HTML login form (Keycloak itself: tests/keycloak_server.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from tests.e2e.pod import LOGS, PodError, Process
from tests.e2e.secrets import Secret

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("E2E_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ServiceError(Exception):
    pass


def wait_http(
    url: str,
    timeout: float,
    process: Process | None = None,
    headers: dict[str, str] | None = None,
    ok: tuple[int, ...] = (200,),
) -> float:
    """Poll `url` until it answers one of `ok`; the seconds it took. Fails early when `process` died."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout:
        if process is not None and not process.running():
            raise ServiceError(
                f"{process.name} exited ({process.popen.returncode if process.popen else '?'}) "
                f"before {url} answered\n{process.tail()}"
            )
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
    def __init__(self, port: int, logdir: Path, settings: dict[str, str] | None = None):
        """`settings`: extra server settings (`-c name=value`), e.g. ssl=on and its files."""
        self.port, self.logdir, self.settings = port, logdir, dict(settings or {})
        for tool in ("initdb", "pg_ctl", "psql"):
            if not (PG_BIN / tool).exists():
                raise ServiceError(
                    f"PostgreSQL 15 is required ({PG_BIN / tool} is missing): "
                    "run ci/e2e-setup.sh (apt-get install postgresql)"
                )
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
        self._run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
        LOGS.append(self.log)
        options = f"-p {self.port} -k {self.socket} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
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
        argv = [
            str(PG_BIN / "psql"),
            "-h",
            str(self.socket),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        for name, value in variables.items():
            argv += ["-v", f"{name}={value}"]
        out = self._run(argv, stdin=sql)
        return [line.split("\t") for line in out.splitlines() if line]


CNPG_ROLE_FIELDS = {
    "cluster",
    "name",
    "ensure",
    "login",
    "passwordSecret",
    "databaseRoleReclaimPolicy",
    "comment",
    "superuser",
    "createdb",
    "createrole",
    "inherit",
    "replication",
    "bypassrls",
    "connectionLimit",
}
CNPG_DATABASE_FIELDS = {"cluster", "name", "owner", "ensure", "databaseReclaimPolicy"}
ROLE_FLAGS = {
    "login": "LOGIN",
    "superuser": "SUPERUSER",
    "createdb": "CREATEDB",
    "createrole": "CREATEROLE",
    "inherit": "INHERIT",
    "replication": "REPLICATION",
    "bypassrls": "BYPASSRLS",
}


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
                raise PodError(
                    f"{where}: passwordSecret {key} has type {secret.type}, CloudNativePG needs "
                    "kubernetes.io/basic-auth"
                )
            if secret.get("username", where) != spec["name"]:
                raise PodError(
                    f"{where}: passwordSecret username {secret.data['username']!r} is not the role "
                    f"name {spec['name']!r} (CloudNativePG refuses it)"
                )
            variables["password"] = secret.get("password", where)
            password_clause = " PASSWORD :'password'"
        limit = f" CONNECTION LIMIT {int(spec['connectionLimit'])}" if "connectionLimit" in spec else ""
        pg.psql(f'CREATE ROLE :"role" WITH {" ".join(flags)}{limit}{password_clause};', **variables)
        applied["roles"].append(
            {
                "name": spec["name"],
                "login": bool(spec.get("login")),
                "password_from": spec.get("passwordSecret", {}).get("name"),
            }
        )
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


# ------------------------------------------------------------------------------------------- Keycloak login form


class _LoginForm(HTMLParser):
    """The action of Keycloak's login form (`<form id="kc-form-login" action=...>`)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == "kc-form-login":
            self.action = attributes.get("action")


def keycloak_login(
    session: requests.Session, page: requests.Response, username: str, password: str
) -> requests.Response:
    """Fill in Keycloak's HTML login form on `page` (a response that followed the redirects to it) as a browser
    would: POST username and password to the form's action with the session's cookies, redirects followed. The
    final response's history holds every hop from `page`'s first request on (login page included)."""
    if page.status_code != 200:
        raise ServiceError(f"no Keycloak login page at {page.url}: HTTP {page.status_code}: {page.text[:500]}")
    form = _LoginForm()
    form.feed(page.text)
    if form.action is None:
        raise ServiceError(f"no form kc-form-login on {page.url}:\n{page.text[:1000]}")
    # Keycloak 26 marks its cookies Secure (SameSite=None) even over http. Browsers send Secure cookies to loopback
    # hosts (http://localhost is a secure context); Python's cookie jar does not: do as the browser does.
    for cookie in session.cookies:
        if cookie.secure and cookie.domain in ("localhost", "localhost.local", "127.0.0.1"):
            cookie.secure = False
    response = session.post(
        urljoin(page.url, form.action),
        data={"username": username, "password": password, "credentialId": ""},
        timeout=60,
    )
    response.history = [*page.history, page, *response.history]
    return response
