"""The Keycloak bootstrap script, run as a real subprocess against a stateful fake of Keycloak's HTTP API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.keycloak import FakeKeycloak

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "mlflow_gitops" / "scripts" / "keycloak_setup.py"
REALM = "buunstack"
CLIENT = "mlflow"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "Adm1n-pa55word-do-not-print"
CLIENT_SECRET = "mlflow-client-secret-0123456789abcdef"
MLFLOW_URL = "https://mlflow.example.com"
GROUPS = ("mlflow-admins", "mlflow-users")
OWN_VARIABLES = ("KEYCLOAK_", "OIDC_", "MLFLOW_URL", "WAIT_")
EXPECTED_MAPPER_CONFIG = {"claim.name": "groups", "full.path": "false", "id.token.claim": "true",
                          "access.token.claim": "true", "userinfo.token.claim": "true"}
OBJECTS = [f"client {CLIENT}", "client-scope groups", "mapper groups/groups", f"default-scope {CLIENT}/groups",
           f"default-scope {CLIENT}/profile", f"default-scope {CLIENT}/email",
           *(f"group {g}" for g in GROUPS)]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def actions(self) -> dict[str, str]:
        """'client mlflow: updated (redirectUris)' -> {'client mlflow': 'updated (redirectUris)'}."""
        return dict(line.split(": ", 1) for line in self.stdout.splitlines())

    def verbs(self) -> dict[str, str]:
        return {name: action.split(" (")[0] for name, action in self.actions.items()}


Run = Callable[..., Result]


@pytest.fixture
def kc() -> Iterator[FakeKeycloak]:
    with FakeKeycloak(admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD, realms=(REALM,)) as fake:
        yield fake


def script_env(kc: FakeKeycloak, **overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    env.update({
        "KEYCLOAK_URL": kc.url, "KEYCLOAK_REALM": REALM, "KEYCLOAK_ADMIN_USER": ADMIN_USER,
        "KEYCLOAK_ADMIN_PASSWORD": ADMIN_PASSWORD, "OIDC_CLIENT_ID": CLIENT, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "MLFLOW_URL": MLFLOW_URL, "OIDC_GROUPS": ",".join(GROUPS), "WAIT_ATTEMPTS": "3",
        "WAIT_DELAY_SECONDS": "0.05", "KEYCLOAK_TIMEOUT_SECONDS": "5",
    })
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_script(kc: FakeKeycloak, *args: str, secrets: tuple[str, ...] = (), **env: str | None) -> Result:
    """Run the script against `kc`; every run is checked for leaked secrets."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], env=script_env(kc, **env), cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    result = Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    for secret in (ADMIN_PASSWORD, CLIENT_SECRET, *secrets):
        assert secret not in result.stdout + result.stderr, "a secret was printed"
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def run(kc: FakeKeycloak) -> Run:
    def run(*args: str, secrets: tuple[str, ...] = (), **env: str | None) -> Result:
        return run_script(kc, *args, secrets=secrets, **env)

    return run


@dataclass(frozen=True)
class FirstRun:
    result: Result
    state: dict


@pytest.fixture(scope="module")
def first_run() -> FirstRun:
    """One first run against a fresh Keycloak, shared: its state seeds the `converged` fixture."""
    with FakeKeycloak(admin_user=ADMIN_USER, admin_password=ADMIN_PASSWORD, realms=(REALM,)) as fake:
        return FirstRun(run_script(fake), fake.snapshot())


@pytest.fixture
def converged(kc: FakeKeycloak, first_run: FirstRun) -> FakeKeycloak:
    """`kc` holding what a successful first run left (a copy: each test changes its own)."""
    assert_ok(first_run.result)
    kc.restore(first_run.state)
    return kc


def assert_ok(result: Result) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def test_first_run_creates_everything(kc: FakeKeycloak, first_run: FirstRun) -> None:
    result = first_run.result
    kc.restore(first_run.state)

    assert_ok(result)
    assert list(result.actions) == OBJECTS
    assert result.verbs() == {
        f"client {CLIENT}": "created", "client-scope groups": "created", "mapper groups/groups": "created",
        f"default-scope {CLIENT}/groups": "created",
        # Keycloak attaches the realm's default scopes (profile, email, ...) to a new client
        f"default-scope {CLIENT}/profile": "unchanged", f"default-scope {CLIENT}/email": "unchanged",
        "group mlflow-admins": "created", "group mlflow-users": "created",
    }
    client = kc.client(REALM, CLIENT)
    assert client is not None
    assert client["secret"] == CLIENT_SECRET == kc.client_secret(REALM, CLIENT)
    assert client["protocol"] == "openid-connect"
    assert client["publicClient"] is False and client["bearerOnly"] is False
    assert client["clientAuthenticatorType"] == "client-secret"
    assert client["enabled"] is True
    assert client["redirectUris"] == [f"{MLFLOW_URL}/callback"]
    assert client["webOrigins"] == [MLFLOW_URL]
    assert client["standardFlowEnabled"] is True
    assert client["directAccessGrantsEnabled"] is False
    assert client["implicitFlowEnabled"] is False
    assert client["serviceAccountsEnabled"] is False
    assert client["attributes"]["post.logout.redirect.uris"] == f"{MLFLOW_URL}/*"
    assert not client["attributes"].get("pkce.code.challenge.method")

    scope = kc.client_scope(REALM, "groups")
    assert scope is not None
    assert scope["protocol"] == "openid-connect"
    assert scope["attributes"]["include.in.token.scope"] == "true"
    assert scope["attributes"]["display.on.consent.screen"] == "true"
    mapper = kc.mapper(REALM, "groups", "groups")
    assert mapper is not None
    assert mapper["protocolMapper"] == "oidc-group-membership-mapper"
    assert mapper["protocol"] == "openid-connect"
    assert mapper["config"] == EXPECTED_MAPPER_CONFIG

    assert {"groups", "profile", "email"} <= set(kc.default_scope_names(REALM, CLIENT))
    assert set(GROUPS) <= set(kc.group_names(REALM))
    assert "admin-cli" in {c["clientId"] for c in kc.clients(REALM)}


def test_second_run_changes_nothing(converged: FakeKeycloak, run: Run) -> None:
    kc = converged
    before, mark = kc.snapshot(), kc.mark()

    again = run()

    assert_ok(again)
    assert list(again.actions) == OBJECTS
    assert set(again.actions.values()) == {"unchanged"}
    assert kc.writes(since=mark) == []
    assert kc.snapshot() == before
    client = kc.client(REALM, CLIENT)
    assert (client["id"], client["secret"]) == (before[REALM]["clients"][client["id"]]["id"], CLIENT_SECRET)


def test_drift_is_repaired_and_foreign_objects_are_untouched(converged: FakeKeycloak, run: Run) -> None:
    kc = converged
    foreign_uuid = kc.create_client(REALM, {"clientId": "grafana", "publicClient": False, "secret": "grafana-secret",
                                            "redirectUris": ["https://grafana.example.com/*"]})
    kc.create_group(REALM, "grafana-admins")
    kc.create_group(REALM, "team-a", parent="grafana-admins")
    client_uuid = kc.client(REALM, CLIENT)["id"]
    foreign_before = kc.client(REALM, "grafana")
    profile_before = kc.client_scope(REALM, "profile")

    kc.patch_client(REALM, CLIENT, redirectUris=["https://evil.example.com/callback"], directAccessGrantsEnabled=True,
                    attributes={"post.logout.redirect.uris": "https://evil.example.com/*", "other.setting": "kept"})
    kc.remove_mapper(REALM, "groups", "groups")
    kc.detach_default_scope(REALM, CLIENT, "groups")
    kc.detach_default_scope(REALM, CLIENT, "email")
    mark = kc.mark()

    result = run()

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == (
        "updated (directAccessGrantsEnabled, redirectUris, attributes.post.logout.redirect.uris)")
    assert result.verbs() == {
        f"client {CLIENT}": "updated", "client-scope groups": "unchanged", "mapper groups/groups": "created",
        f"default-scope {CLIENT}/groups": "created", f"default-scope {CLIENT}/profile": "unchanged",
        f"default-scope {CLIENT}/email": "created", "group mlflow-admins": "unchanged",
        "group mlflow-users": "unchanged",
    }
    client = kc.client(REALM, CLIENT)
    assert client["id"] == client_uuid
    assert client["redirectUris"] == [f"{MLFLOW_URL}/callback"]
    assert client["directAccessGrantsEnabled"] is False
    assert client["attributes"]["post.logout.redirect.uris"] == f"{MLFLOW_URL}/*"
    assert client["attributes"]["other.setting"] == "kept"  # attributes it does not own stay
    assert client["secret"] == CLIENT_SECRET
    assert kc.mapper(REALM, "groups", "groups")["config"] == EXPECTED_MAPPER_CONFIG
    assert {"groups", "profile", "email"} <= set(kc.default_scope_names(REALM, CLIENT))
    # nothing deleted or re-created, nothing foreign touched
    writes = kc.writes(since=mark)
    assert not [w for w in writes if w[0] == "DELETE"]
    assert ("POST", f"/admin/realms/{REALM}/clients") not in writes
    assert all(foreign_uuid not in path for _, path in writes)
    assert kc.client(REALM, "grafana") == foreign_before
    assert kc.client_scope(REALM, "profile") == profile_before
    assert {"/grafana-admins", "/grafana-admins/team-a"} <= set(kc.group_paths(REALM))

    mark = kc.mark()
    assert set(run().actions.values()) == {"unchanged"}
    assert kc.writes(since=mark) == []


def test_mapper_config_drift_is_repaired_keeping_keycloak_extras(converged: FakeKeycloak, run: Run) -> None:
    kc = converged
    kc.patch_mapper_config(REALM, "groups", "groups", **{"id.token.claim": "false", "full.path": "true",
                                                        "lightweight.claim": "false"})
    scope_before = kc.client_scope(REALM, "groups")
    kc_scope_attrs = {"include.in.token.scope": "false", "gui.order": "7"}
    kc.create_client_scope(REALM, {"name": "unrelated", "protocol": "openid-connect", "attributes": kc_scope_attrs})

    result = run()

    assert_ok(result)
    assert result.actions["mapper groups/groups"] == "updated (config.full.path, config.id.token.claim)"
    mapper = kc.mapper(REALM, "groups", "groups")
    assert mapper["config"] == {**EXPECTED_MAPPER_CONFIG, "lightweight.claim": "false"}
    assert mapper["id"] == next(m["id"] for m in scope_before["protocolMappers"] if m["name"] == "groups")
    assert kc.client_scope(REALM, "unrelated")["attributes"] == kc_scope_attrs


def test_secret_never_rotates(converged: FakeKeycloak, run: Run) -> None:
    kc = converged  # (test_second_run_changes_nothing: a plain re-run leaves id and secret as they are)
    first = kc.client(REALM, CLIENT)
    assert first["secret"] == CLIENT_SECRET

    # Someone regenerated the secret in the console: put MLflow's secret back, same client
    kc.patch_client(REALM, CLIENT, secret="regenerated-in-console-secret")
    mark = kc.mark()
    result = run(secrets=("regenerated-in-console-secret",))

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == "updated (secret)"
    assert kc.client(REALM, CLIENT)["id"] == first["id"]
    assert kc.client_secret(REALM, CLIENT) == CLIENT_SECRET
    assert kc.writes(since=mark) == [("PUT", f"/admin/realms/{REALM}/clients/{first['id']}")]


def test_client_left_by_the_old_justfile_is_adopted(kc: FakeKeycloak, run: Run) -> None:
    old_uuid = kc.create_client(REALM, {"clientId": CLIENT, "publicClient": False, "secret": "old-generated-secret",
                                        "redirectUris": [f"{MLFLOW_URL}/callback"], "directAccessGrantsEnabled": False,
                                        "attributes": {"client.session.idle.timeout": "1800"}})

    result = run(secrets=("old-generated-secret",), OIDC_CLIENT_NAME="MLflow")

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == "updated (attributes.post.logout.redirect.uris, name, secret)"
    client = kc.client(REALM, CLIENT)
    assert client["id"] == old_uuid
    assert client["secret"] == CLIENT_SECRET
    assert client["attributes"]["client.session.idle.timeout"] == "1800"
    assert client["name"] == "MLflow"


@pytest.mark.parametrize("mode", ["refuse", "error", "hang"])
def test_keycloak_down_fails_after_bounded_retries(kc: FakeKeycloak, run: Run, mode: str) -> None:
    url = kc.url
    kc.go_down(mode)

    result = run(WAIT_ATTEMPTS="2", WAIT_DELAY_SECONDS="0.05", KEYCLOAK_TIMEOUT_SECONDS="0.2")

    assert result.returncode == 1
    assert result.seconds < 8
    assert result.stdout == ""
    assert (f"Keycloak did not answer at {url}/realms/master/.well-known/openid-configuration after 2 attempts"
            in result.stderr)
    assert "[1/2] Keycloak not ready" in result.stderr
    if mode == "error":
        assert "HTTP 503" in result.stderr
        assert [r.path for r in kc.requests] == ["/realms/master/.well-known/openid-configuration"] * 2
    assert kc.writes() == []


def test_keycloak_that_comes_up_while_waiting_is_used(kc: FakeKeycloak, run: Run) -> None:
    kc.go_down("error")

    def come_up_after_two_requests() -> None:
        deadline = time.monotonic() + 20
        while len(kc.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        kc.come_up()

    threading.Thread(target=come_up_after_two_requests, daemon=True).start()

    result = run(WAIT_ATTEMPTS="10", WAIT_DELAY_SECONDS="0.05")

    assert_ok(result)
    assert "[2/10] Keycloak not ready" in result.stderr
    assert result.verbs()[f"client {CLIENT}"] == "created"


def test_wrong_admin_password(kc: FakeKeycloak, run: Run) -> None:
    wrong = "Wr0ng-pa55word-not-printed"

    result = run(KEYCLOAK_ADMIN_PASSWORD=wrong, secrets=(wrong,))

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"admin login to {kc.url} realm master as {ADMIN_USER} failed: HTTP 401: Invalid user credentials" in (
        result.stderr)
    assert not [r for r in kc.requests if r.path.startswith("/admin/")]


def test_missing_realm_is_not_created(kc: FakeKeycloak, run: Run) -> None:
    result = run(KEYCLOAK_REALM="no-such-realm")

    assert result.returncode == 1
    assert f"realm no-such-realm does not exist at {kc.url}" in result.stderr
    assert "never creates realms" in result.stderr
    assert kc.writes() == []
    assert "no-such-realm" not in kc.realm_names()


def test_dry_run_prints_the_plan_and_changes_nothing(kc: FakeKeycloak, run: Run, first_run: FirstRun) -> None:
    before = kc.snapshot()

    plan = run("--dry-run")

    assert_ok(plan)
    assert list(plan.actions) == OBJECTS
    assert plan.verbs() == {
        f"client {CLIENT}": "would create", "client-scope groups": "would create",
        "mapper groups/groups": "would create", f"default-scope {CLIENT}/groups": "would create",
        f"default-scope {CLIENT}/profile": "unchanged", f"default-scope {CLIENT}/email": "unchanged",
        "group mlflow-admins": "would create", "group mlflow-users": "would create",
    }
    assert kc.writes() == []
    assert kc.snapshot() == before

    kc.restore(first_run.state)
    kc.patch_client(REALM, CLIENT, webOrigins=["*"])
    kc.remove_mapper(REALM, "groups", "groups")
    before, mark = kc.snapshot(), kc.mark()

    plan = run("--dry-run")

    assert_ok(plan)
    assert plan.actions[f"client {CLIENT}"] == "would update (webOrigins)"
    assert plan.actions["mapper groups/groups"] == "would create"
    assert plan.actions["group mlflow-users"] == "unchanged"
    assert kc.writes(since=mark) == []
    assert kc.snapshot() == before


def test_pkce_setting(kc: FakeKeycloak, run: Run) -> None:
    assert_ok(run(OIDC_PKCE="true"))
    assert kc.client(REALM, CLIENT)["attributes"]["pkce.code.challenge.method"] == "S256"

    result = run(OIDC_PKCE="false")

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == "updated (attributes.pkce.code.challenge.method)"
    assert kc.client(REALM, CLIENT)["attributes"].get("pkce.code.challenge.method", "") == ""


def test_realm_whose_new_clients_lack_profile_and_email(kc: FakeKeycloak, run: Run) -> None:
    kc.add_realm("bare", default_scopes=("roles",))
    kc.create_client("bare", {"clientId": CLIENT, "publicClient": False, "secret": CLIENT_SECRET})
    kc.attach_optional_scope("bare", CLIENT, "email")

    result = run(KEYCLOAK_REALM="bare")

    assert_ok(result)
    assert result.actions[f"default-scope {CLIENT}/profile"] == "created"
    assert result.actions[f"default-scope {CLIENT}/email"] == "updated (was optional)"
    assert {"groups", "profile", "email", "roles"} <= set(kc.default_scope_names("bare", CLIENT))
    assert "email" not in kc.optional_scope_names("bare", CLIENT)
    assert kc.group_names(REALM) == []  # the other realm is untouched


def test_missing_builtin_scope_fails_clearly(kc: FakeKeycloak, run: Run) -> None:
    kc.add_realm("broken")
    kc.delete_client_scope("broken", "email")

    result = run(KEYCLOAK_REALM="broken")

    assert result.returncode == 1
    assert "realm broken has no client scope email" in result.stderr
    assert kc.writes() == []


def test_secrets_from_files(kc: FakeKeycloak, run: Run, tmp_path: Path) -> None:
    (tmp_path / "password").write_text(ADMIN_PASSWORD + "\n")
    (tmp_path / "secret").write_text(CLIENT_SECRET + "\n")

    result = run(KEYCLOAK_ADMIN_PASSWORD=None, KEYCLOAK_ADMIN_PASSWORD_FILE=str(tmp_path / "password"),
                 OIDC_CLIENT_SECRET=None, OIDC_CLIENT_SECRET_FILE=str(tmp_path / "secret"))

    assert_ok(result)
    assert kc.client_secret(REALM, CLIENT) == CLIENT_SECRET


def test_missing_variable_exits_2_naming_it(kc: FakeKeycloak, run: Run) -> None:
    result = run(KEYCLOAK_REALM=None)

    assert result.returncode == 2
    assert result.stderr.strip() == "keycloak-setup: configuration error: KEYCLOAK_REALM is required but not set"
    assert kc.requests == []


def test_missing_and_invalid_variables_are_all_reported_at_once(kc: FakeKeycloak, run: Run, tmp_path: Path) -> None:
    missing = ("KEYCLOAK_URL", "KEYCLOAK_ADMIN_USER", "KEYCLOAK_ADMIN_PASSWORD", "OIDC_CLIENT_ID", "OIDC_GROUPS")
    result = run(**dict.fromkeys(missing), MLFLOW_URL="mlflow.example.com", WAIT_ATTEMPTS="0", OIDC_PKCE="maybe",
                 KEYCLOAK_VERIFY_TLS="sure", OIDC_CLIENT_SECRET_FILE=str(tmp_path / "absent"),
                 WAIT_DELAY_SECONDS="soon")

    assert result.returncode == 2
    assert result.stdout == ""
    for name in missing:
        assert f"configuration error: {name}" in result.stderr
    for fragment in ("MLFLOW_URL must be an http(s) URL", "WAIT_ATTEMPTS must be an integer >= 1",
                     "OIDC_PKCE must be true or false", "KEYCLOAK_VERIFY_TLS must be true or false",
                     "set either OIDC_CLIENT_SECRET or OIDC_CLIENT_SECRET_FILE, not both",
                     "WAIT_DELAY_SECONDS must be a number"):
        assert fragment in result.stderr
    assert kc.requests == []


def test_fake_keycloak_guards_like_keycloak(kc: FakeKeycloak) -> None:
    """The fake's own contract: bearer token on admin endpoints, Keycloak's login errors, 404 for realms."""

    def call(method: str, path: str, data: bytes | None = None, token: str = "") -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(kc.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    token_path = "/realms/master/protocol/openid-connect/token"
    form = {"grant_type": "password", "client_id": "admin-cli", "username": ADMIN_USER}
    assert call("GET", f"/admin/realms/{REALM}")[0] == 401
    assert call("POST", token_path, urllib.parse.urlencode({**form, "password": "wrong"}).encode()) == (
        401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
    status, tokens = call("POST", token_path, urllib.parse.urlencode({**form, "password": ADMIN_PASSWORD}).encode())
    assert status == 200 and tokens["token_type"] == "Bearer"
    assert call("GET", f"/admin/realms/{REALM}", token=tokens["access_token"])[1]["realm"] == REALM
    assert call("GET", "/admin/realms/missing", token=tokens["access_token"])[0] == 404
    assert call("GET", "/realms/missing/.well-known/openid-configuration")[0] == 404
    body = json.dumps({"name": "mlflow-users"}).encode()
    assert call("POST", f"/admin/realms/{REALM}/groups", body, token=tokens["access_token"])[0] == 201
    assert call("POST", f"/admin/realms/{REALM}/groups", body, token=tokens["access_token"])[0] == 409
