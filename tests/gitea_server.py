"""A real Gitea (1.27, the binary ci/tools.py builds; never a fake) on 127.0.0.1 for the tests, and its REST API.

`GiteaServer(logdir=...)` writes an app.ini into a temporary folder (INSTALL_LOCK, SQLite through Gitea's pure-Go
driver, offline: no SSH, no mailer, no update checker, no Actions or packages, registration off), starts `gitea web`
on a free loopback port, waits for `/api/v1/version`, then creates an admin user (`gitea admin user create`) and an
access token of scope `all` (`gitea admin user generate-access-token`). `stop()` ends its process group and removes
the folder.

Helpers: `api(method, path, ...)` (`/api/v1<path>` as the admin, token or basic auth), `create_org`, `create_repo`
(auto-initialised, default branch main), `pulls(owner, repo)`, `repo_url`, and `git_env(token)`: the environment
that makes git send `Authorization: token ...` to this server alone (http.<url>.extraHeader through
GIT_CONFIG_COUNT), so no token is ever part of a URL that publish prints.

The `gitea_server` fixture is session-scoped (import it: ``from tests.gitea_server import gitea_server``); each test
uses its own repository. A missing binary fails with the command that builds it; nothing is skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ci.tools import ToolError
from ci.tools import path as tool_path
from tests.background import Service
from tests.conftest import free_port
from tests.e2e.pod import Process
from tests.e2e.services import ServiceError, wait_http

ADMIN_USER = "gitops-admin"
ADMIN_PASSWORD = "G1tea-Adm1n-Pa55word-tests"
ADMIN_EMAIL = "gitops-admin@example.com"
READY_TIMEOUT = 60.0


class GiteaMissing(RuntimeError):
    pass


class GiteaError(Exception):
    pass


def gitea_binary() -> Path:
    try:
        return tool_path("gitea", "gitea")
    except ToolError as exc:
        raise GiteaMissing(f"Gitea is not built ({exc}); run `python3 ci/tools.py ensure gitea`") from None


def app_ini(root: Path, port: int, static: Path) -> str:
    """The whole configuration: a server for the API and git over HTTP only, reachable on loopback alone."""
    unsafe_root = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n" if os.geteuid() == 0 else ""  # test harness as root
    return f"""\
APP_NAME = mlflow-gitops tests
RUN_MODE = prod
WORK_PATH = {root}
{unsafe_root}
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {port}
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:{port}/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = {static}
APP_DATA_PATH = {root}/data

[database]
DB_TYPE = sqlite3
PATH = {root}/data/gitea.db

[repository]
ROOT = {root}/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true

[service]
DISABLE_REGISTRATION = true

[mailer]
ENABLED = false

[cron.update_checker]
ENABLED = false

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[actions]
ENABLED = false

[packages]
ENABLED = false

[log]
MODE = console
LEVEL = Info
ROOT_PATH = {root}/log
"""


class GiteaServer(Service):
    def __init__(self, port: int | None = None, logdir: Path | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-gitea-"))
        self.logdir = logdir or self.root
        self.config = self.root / "app.ini"
        self.process: Process | None = None
        self.start_seconds = 0.0
        self.token = ""
        self.http = requests.Session()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------------------------------- lifecycle

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "USER": "gitea",
            "GITEA_WORK_DIR": str(self.root),
        }

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self) -> GiteaServer:
        started = time.monotonic()
        try:
            binary = gitea_binary()
            self.config.write_text(app_ini(self.root, self.port, binary.parent.parent))
            argv = [str(binary), "web", "--config", str(self.config), "--work-path", str(self.root)]
            self.process = Process("gitea", argv, self._env(), self.root, self.logdir / "gitea.log").start()
            wait_http(f"{self.url}/api/v1/version", READY_TIMEOUT, self.process)
            self.admin_cli(
                "user",
                "create",
                "--admin",
                "--username",
                ADMIN_USER,
                "--password",
                ADMIN_PASSWORD,
                "--email",
                ADMIN_EMAIL,
                "--must-change-password=false",
            )
            self.token = self.new_token("tests")
        except (GiteaMissing, ServiceError, GiteaError):
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.http.close()
        if self.logdir != self.root:  # else the caller keeps the folder, its log in it
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            shutil.rmtree(self.root / "data", ignore_errors=True)
            shutil.rmtree(self.root / "repositories", ignore_errors=True)

    def admin_cli(self, *args: str) -> str:
        """`gitea admin ARGS` on this server's config and database; its stdout (the output never names a secret
        the caller did not pass)."""
        argv = [str(gitea_binary()), "--config", str(self.config), "--work-path", str(self.root), "admin", *args]
        done = subprocess.run(
            argv,
            env=self._env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            raise GiteaError(f"gitea admin {args[0]} {args[1]} exited {done.returncode}: {done.stderr[-500:]}")
        return done.stdout

    def new_token(self, name: str, scopes: str = "all") -> str:
        """A new access token of the admin (shown once by Gitea, kept by the caller)."""
        suffix = secrets.token_hex(4)
        token = self.admin_cli(
            "user",
            "generate-access-token",
            "--username",
            ADMIN_USER,
            "--token-name",
            f"{name}-{suffix}",
            "--scopes",
            scopes,
            "--raw",
        ).strip()
        if len(token) != 40:
            raise GiteaError(f"generate-access-token printed no token ({len(token)} characters)")
        return token

    # ------------------------------------------------------------------------------------------- REST API

    def api(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), token: str | None = None, **kwargs: Any
    ) -> Any:
        """`method /api/v1<path>` as the admin (its token unless `token`); the JSON answer (None when empty)."""
        headers = {"Authorization": f"token {token or self.token}"}
        response = self.http.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)
        if response.status_code not in ok:
            raise GiteaError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def create_org(self, name: str) -> dict[str, Any]:
        found = self.http.get(
            f"{self.url}/api/v1/orgs/{name}", headers={"Authorization": f"token {self.token}"}, timeout=30
        )
        if found.status_code == 200:
            return dict(found.json())
        return dict(self.api("POST", "/orgs", json={"username": name, "visibility": "private"}))

    def create_repo(self, owner: str, name: str) -> dict[str, Any]:
        """A private repository of organisation `owner` whose main holds one commit (a README)."""
        self.create_org(owner)
        return dict(
            self.api(
                "POST",
                f"/orgs/{owner}/repos",
                json={"name": name, "private": True, "auto_init": True, "default_branch": "main", "readme": "Default"},
            )
        )

    def pulls(self, owner: str, repo: str, state: str = "all") -> list[dict[str, Any]]:
        return list(self.api("GET", f"/repos/{owner}/{repo}/pulls", params={"state": state, "limit": 50}))

    def repo_url(self, owner: str, repo: str) -> str:
        return f"{self.url}/{owner}/{repo}.git"

    def git_env(self, token: str | None = None) -> dict[str, str]:
        """Make git send the token to this server only (an extra header scoped to its URL), never in a URL."""
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{self.url}/.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: token {token or self.token}",
        }


@pytest.fixture(scope="session")
def gitea_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GiteaServer]:
    """One real Gitea for the session (tests use their own repositories on it)."""
    try:
        server = GiteaServer(logdir=tmp_path_factory.mktemp("gitea")).start()
    except (GiteaMissing, ServiceError, GiteaError) as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
