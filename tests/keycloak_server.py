"""A real Keycloak (26.x, from the ci/tools.py cache) on 127.0.0.1 for the tests, and its admin REST API.

`KeycloakServer.start(workdir, logdir)` copies the pre-built distribution (``python3 ci/tools.py ensure keycloak``)
into `workdir` (a running server writes into ``data/``), starts ``kc.sh start --optimized`` on 127.0.0.1 (HTTP port
and management port free ones unless given; embedded H2 file database, local caches) with a bootstrap admin in the
master realm, and waits for ``/health/ready`` on the management port. `stop()` ends its process group.

Admin helpers (`requests`, a master-realm admin token refreshed when it is about to expire): `create_realm`,
`create_admin` (a master-realm user with the realm role `admin`), `create_group`, `create_user` (password, groups),
`client`, `client_secret`, `client_scope`, `scope_mappers`, `group_names`, `admin_events` (what was written: the
realms the tests create record admin events), and `api(method, path, ...)` for everything else.

The `keycloak` fixture is session-scoped: import it into a test module or conftest (``from tests.keycloak_server
import keycloak, keycloak_port``). Its HTTP port is the session fixture `keycloak_port` (a free port, chosen before
Keycloak starts): tests/e2e renders its KEYCLOAK_URL with it, so one Keycloak serves both.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.pod import Process
from tests.e2e.services import ServiceError, wait_http

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP_USER = "kc-bootstrap"
BOOTSTRAP_PASSWORD = "Kc-Bootstrap-Pa55word-tests"
START_TIMEOUT = 180.0


class KeycloakError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def distribution() -> tuple[Path, Path]:
    """The pre-built Keycloak folder and its JDK; fails (no skip) when the cache does not hold it."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from ci.tools import ToolError, java_home, path

    try:
        return path("keycloak"), java_home()
    except ToolError as exc:
        pytest.fail(f"Keycloak is not built: {exc}. Run `python3 ci/tools.py ensure keycloak`", pytrace=False)


class KeycloakServer:
    def __init__(self, port: int | None = None, management_port: int | None = None) -> None:
        self.port = port or free_port()
        self.management_port = management_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Process | None = None
        self.startup_seconds = 0.0
        self._token: tuple[str, float] | None = None
        self.http = requests.Session()

    # ------------------------------------------------------------------------------------------- lifecycle

    def start(self, workdir: Path, logdir: Path) -> KeycloakServer:
        source, jdk = distribution()
        home = workdir / "keycloak"
        shutil.copytree(source, home, symlinks=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "JAVA_HOME": str(jdk),
            "KC_BOOTSTRAP_ADMIN_USERNAME": BOOTSTRAP_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": BOOTSTRAP_PASSWORD,
            # two shared cores: keep the JVM small and its start quick
            "JAVA_OPTS_KC_HEAP": "-XX:MaxRAMPercentage=25 -XX:InitialRAMPercentage=5",
        }
        argv = [
            str(home / "bin" / "kc.sh"),
            "start",
            "--optimized",
            "--http-enabled=true",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--http-management-port={self.management_port}",
            "--cache=local",
            "--hostname-strict=false",
        ]
        started = time.monotonic()
        self.process = Process("keycloak", argv, env, home, logdir / "keycloak.log").start()
        try:
            wait_http(f"http://127.0.0.1:{self.management_port}/health/ready", START_TIMEOUT, self.process)
        except ServiceError:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.http.close()

    # ------------------------------------------------------------------------------------------- admin API

    def token(self) -> str:
        if self._token is None or self._token[1] < time.monotonic() + 10:
            response = self.http.post(
                f"{self.url}/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": BOOTSTRAP_USER,
                    "password": BOOTSTRAP_PASSWORD,
                },
                timeout=30,
            )
            if response.status_code != 200:
                raise KeycloakError(f"bootstrap admin login: HTTP {response.status_code}: {response.text[:300]}")
            body = response.json()
            self._token = (body["access_token"], time.monotonic() + float(body["expires_in"]))
        return self._token[0]

    def api(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kwargs: Any) -> Any:
        """`method` /admin/realms`path`; the JSON answer (None when empty); an answer not in `ok` raises."""
        response = self.http.request(
            method,
            f"{self.url}/admin/realms{path}",
            timeout=30,
            headers={"Authorization": f"Bearer {self.token()}"},
            **kwargs,
        )
        if response.status_code not in ok:
            raise KeycloakError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        if not response.content or not response.headers.get("Content-Type", "").startswith("application/json"):
            return None
        return response.json()

    def create_realm(self, realm: str, **fields: Any) -> None:
        """An enabled realm that records admin events (what the tests assert writes on)."""
        self.api(
            "POST",
            "",
            json={
                "realm": realm,
                "enabled": True,
                "adminEventsEnabled": True,
                "adminEventsDetailsEnabled": True,
                **fields,
            },
        )

    def create_user(
        self,
        realm: str,
        username: str,
        password: str,
        *,
        email: str | None = None,
        first_name: str = "Test",
        last_name: str = "User",
        groups: tuple[str, ...] = (),
    ) -> str:
        """A user who can log in at once (no required actions): email verified, password not temporary."""
        self.api(
            "POST",
            f"/{realm}/users",
            json={
                "username": username,
                "email": email or (username if "@" in username else f"{username}@example.com"),
                "emailVerified": True,
                "firstName": first_name,
                "lastName": last_name,
                "enabled": True,
                "requiredActions": [],
                "groups": [f"/{g}" for g in groups],
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )
        [user] = self.api("GET", f"/{realm}/users", params={"username": username, "exact": "true"})
        got = {g["name"] for g in self.api("GET", f"/{realm}/users/{user['id']}/groups")}
        if got != set(groups):
            raise KeycloakError(f"user {username}: groups {sorted(got)}, wanted {sorted(groups)} (groups missing?)")
        return str(user["id"])

    def create_admin(self, username: str, password: str) -> str:
        """A master-realm user with the realm role `admin` (may manage every realm), like an operator's admin."""
        user_id = self.create_user("master", username, password)
        role = self.api("GET", "/master/roles/admin")
        self.api("POST", f"/master/users/{user_id}/role-mappings/realm", json=[role])
        return user_id

    def create_setup_client(self, realm: str, client_id: str, secret: str, roles: tuple[str, ...]) -> str:
        """What `mlflow-gitops access` prints for Keycloak (tests/test_keycloak_setup_client.py runs the printed
        kcadm.sh commands): a confidential client of `realm` with only its service account, holding `roles` of
        the realm's realm-management client."""
        client = self.create_client(
            realm,
            {
                "clientId": client_id,
                "secret": secret,
                "publicClient": False,
                "serviceAccountsEnabled": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": False,
            },
        )
        account = self.api("GET", f"/{realm}/clients/{client}/service-account-user")
        management = self.client(realm, "realm-management")["id"]
        wanted = [self.api("GET", f"/{realm}/clients/{management}/roles/{role}") for role in roles]
        self.api("POST", f"/{realm}/users/{account['id']}/role-mappings/clients/{management}", json=wanted)
        return client

    def create_group(self, realm: str, name: str, parent: str | None = None) -> str:
        if parent is None:
            self.api("POST", f"/{realm}/groups", json={"name": name})
        else:
            self.api("POST", f"/{realm}/groups/{self.group_id(realm, parent)}/children", json={"name": name})
        return self.group_id(realm, name if parent is None else f"{parent}/{name}")

    def group_id(self, realm: str, path: str) -> str:
        return str(self.api("GET", f"/{realm}/group-by-path/{path}")["id"])

    def group_names(self, realm: str) -> list[str]:
        return sorted(g["name"] for g in self.api("GET", f"/{realm}/groups", params={"max": 1000}))

    def clients(self, realm: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/{realm}/clients", params={"max": 1000}))

    def client(self, realm: str, client_id: str) -> dict[str, Any]:
        found = self.api("GET", f"/{realm}/clients", params={"clientId": client_id})
        if len(found) != 1:
            raise KeycloakError(f"realm {realm}: {len(found)} clients {client_id}")
        return dict(found[0])

    def create_client(self, realm: str, rep: dict[str, Any]) -> str:
        self.api("POST", f"/{realm}/clients", json=rep)
        return str(self.client(realm, rep["clientId"])["id"])

    def update_client(self, realm: str, client_id: str, **fields: Any) -> None:
        current = self.client(realm, client_id)
        self.api("PUT", f"/{realm}/clients/{current['id']}", json={**current, **fields})

    def client_secret(self, realm: str, client_id: str) -> str:
        uuid = self.client(realm, client_id)["id"]
        return str(self.api("GET", f"/{realm}/clients/{uuid}/client-secret")["value"])

    def default_scope_names(self, realm: str, client_id: str) -> list[str]:
        uuid = self.client(realm, client_id)["id"]
        return sorted(s["name"] for s in self.api("GET", f"/{realm}/clients/{uuid}/default-client-scopes"))

    def optional_scope_names(self, realm: str, client_id: str) -> list[str]:
        uuid = self.client(realm, client_id)["id"]
        return sorted(s["name"] for s in self.api("GET", f"/{realm}/clients/{uuid}/optional-client-scopes"))

    def client_scope(self, realm: str, name: str) -> dict[str, Any]:
        [scope] = [s for s in self.api("GET", f"/{realm}/client-scopes") if s["name"] == name]
        return dict(scope)

    def scope_mappers(self, realm: str, scope: str) -> list[dict[str, Any]]:
        scope_id = self.client_scope(realm, scope)["id"]
        return list(self.api("GET", f"/{realm}/client-scopes/{scope_id}/protocol-mappers/models"))

    def admin_events(self, realm: str) -> list[dict[str, Any]]:
        """The realm's admin events (writes through the admin API), oldest first."""
        events = self.api("GET", f"/{realm}/admin-events", params={"max": 10000})
        return sorted(events, key=lambda e: e["time"])


_SHARED: dict[str, Any] = {"users": 0}
"""One Keycloak per test process: the fixtures below are imported into several modules (each import is a fixture
definition of its own, with its own session cache), so they share the port and the server through this dict."""


@pytest.fixture(scope="session")
def keycloak_port() -> int:
    """The HTTP port of the session's Keycloak, chosen before it starts."""
    if "port" not in _SHARED:
        _SHARED["port"] = free_port()
    return int(_SHARED["port"])


@pytest.fixture(scope="session")
def keycloak(keycloak_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeycloakServer]:
    """One real Keycloak for the test session (each test makes its own realm); stopped after its last user."""
    server: KeycloakServer | None = _SHARED.get("server")
    if server is None:
        root = tmp_path_factory.mktemp("keycloak")
        server = KeycloakServer(keycloak_port)
        try:
            server.start(root, root / "logs")
        except ServiceError as exc:
            pytest.fail(f"Keycloak did not start: {exc}", pytrace=False)
        _SHARED["server"] = server
    _SHARED["users"] += 1
    yield server
    _SHARED["users"] -= 1
    if _SHARED["users"] == 0:
        _SHARED.pop("server").stop()
