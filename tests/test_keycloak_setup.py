"""The Keycloak bootstrap script, run as a real subprocess against a real Keycloak (tests/keycloak_server.py).

One Keycloak serves the session; each test works in its own realm (admin events on: the writes a run made are the
realm's admin events after a mark). The script logs in as a master-realm admin, as KEYCLOAK_ADMIN_REALM's default
expects (one test uses a realm-local admin instead).
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.keycloak_server import KeycloakServer, free_port, keycloak, keycloak_port  # noqa: F401 (fixtures)

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "mlflow_gitops" / "scripts" / "keycloak_setup.py"
CLIENT = "mlflow"
ADMIN_USER = "mlflow-setup-admin"
ADMIN_PASSWORD = "Adm1n-pa55word-do-not-print"
CLIENT_SECRET = "mlflow-client-secret-0123456789abcdef"
MLFLOW_URL = "https://mlflow.example.com"
GROUPS = ("mlflow-admins", "mlflow-users")
OWN_VARIABLES = ("KEYCLOAK_", "OIDC_", "MLFLOW_URL", "WAIT_")
EXPECTED_MAPPER_CONFIG = {
    "claim.name": "groups",
    "full.path": "false",
    "id.token.claim": "true",
    "access.token.claim": "true",
    "userinfo.token.claim": "true",
}
KEYCLOAK_MAPPER_EXTRAS = {"introspection.token.claim": "true"}  # Keycloak 26 adds it to a new mapper
OBJECTS = [
    f"client {CLIENT}",
    "client-scope groups",
    "mapper groups/groups",
    f"default-scope {CLIENT}/groups",
    f"default-scope {CLIENT}/profile",
    f"default-scope {CLIENT}/email",
    *(f"group {g}" for g in GROUPS),
]
_REALMS = itertools.count(1)


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


class Realm:
    """A fresh realm of the session's Keycloak, and what was written in it."""

    def __init__(self, kc: KeycloakServer, name: str) -> None:
        self.kc, self.name = kc, name
        kc.create_realm(name)

    def mark(self) -> int:
        return len(self.kc.admin_events(self.name))

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        """(operation, resource path) of every admin-API write since `since`."""
        return [(e["operationType"], e["resourcePath"]) for e in self.kc.admin_events(self.name)[since:]]


@pytest.fixture(scope="session")
def setup_admin(keycloak: KeycloakServer) -> str:  # noqa: F811
    """The admin the script logs in as: a master-realm user with the realm role admin (made once per Keycloak:
    modules importing this fixture each get a session instance of their own)."""
    if not keycloak.api("GET", "/master/users", params={"username": ADMIN_USER, "exact": "true"}):
        keycloak.create_admin(ADMIN_USER, ADMIN_PASSWORD)
    return ADMIN_USER


@pytest.fixture
def realm(keycloak: KeycloakServer, setup_admin: str, request: pytest.FixtureRequest) -> Realm:  # noqa: F811
    slug = "".join(c if c.isalnum() else "-" for c in request.node.name.removeprefix("test_"))[:40].strip("-")
    return Realm(keycloak, f"t{next(_REALMS)}-{slug}")


def script_env(url: str, realm: str, **overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    env.update(
        {
            "KEYCLOAK_URL": url,
            "KEYCLOAK_REALM": realm,
            "KEYCLOAK_ADMIN_USER": ADMIN_USER,
            "KEYCLOAK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "OIDC_CLIENT_ID": CLIENT,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "MLFLOW_URL": MLFLOW_URL,
            "OIDC_GROUPS": ",".join(GROUPS),
            "WAIT_ATTEMPTS": "3",
            "WAIT_DELAY_SECONDS": "0.05",
            "KEYCLOAK_TIMEOUT_SECONDS": "10",
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_script(url: str, realm: str, *args: str, secrets: tuple[str, ...] = (), **env: str | None) -> Result:
    """Run the script; every run is checked for leaked secrets and tracebacks."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=script_env(url, realm, **env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    for secret in (ADMIN_PASSWORD, CLIENT_SECRET, *secrets):
        assert secret not in result.stdout + result.stderr, "a secret was printed"
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def run(keycloak: KeycloakServer, realm: Realm) -> Run:  # noqa: F811
    def run(*args: str, secrets: tuple[str, ...] = (), **env: str | None) -> Result:
        return run_script(keycloak.url, realm.name, *args, secrets=secrets, **env)

    return run


def assert_ok(result: Result) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def converged(realm: Realm, run: Run) -> Realm:
    """`realm` after a successful first run."""
    first = run()
    assert_ok(first)
    assert set(first.verbs().values()) <= {"created", "unchanged"}
    return realm


def mapper(kc: KeycloakServer, realm: str) -> dict[str, Any]:
    [groups_mapper] = [m for m in kc.scope_mappers(realm, "groups") if m["name"] == "groups"]
    return groups_mapper


# ---------------------------------------------------------------------------------------------------- tests


def test_first_run_creates_everything(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    kc, name = keycloak, realm.name
    mark = realm.mark()

    result = run()

    assert_ok(result)
    assert list(result.actions) == OBJECTS
    assert result.verbs() == {
        f"client {CLIENT}": "created",
        "client-scope groups": "created",
        "mapper groups/groups": "created",
        f"default-scope {CLIENT}/groups": "created",
        # Keycloak attaches the realm's default scopes (profile, email, ...) to a new client
        f"default-scope {CLIENT}/profile": "unchanged",
        f"default-scope {CLIENT}/email": "unchanged",
        "group mlflow-admins": "created",
        "group mlflow-users": "created",
    }
    client = kc.client(name, CLIENT)
    assert kc.client_secret(name, CLIENT) == CLIENT_SECRET
    assert client["publicClient"] is False
    assert client["clientAuthenticatorType"] == "client-secret"
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["serviceAccountsEnabled"] is False
    assert client["redirectUris"] == [f"{MLFLOW_URL}/callback"]
    assert client["webOrigins"] == [MLFLOW_URL]
    assert client["attributes"]["post.logout.redirect.uris"] == f"{MLFLOW_URL}/*"
    assert client["attributes"].get("pkce.code.challenge.method", "") == ""

    scope = kc.client_scope(name, "groups")
    assert scope["protocol"] == "openid-connect"
    assert scope["attributes"]["include.in.token.scope"] == "true"
    groups_mapper = mapper(kc, name)
    assert groups_mapper["protocolMapper"] == "oidc-group-membership-mapper"
    assert groups_mapper["protocol"] == "openid-connect"
    assert groups_mapper["config"] == {**EXPECTED_MAPPER_CONFIG, **KEYCLOAK_MAPPER_EXTRAS}

    assert {"groups", "profile", "email"} <= set(kc.default_scope_names(name, CLIENT))
    assert kc.group_names(name) == sorted(GROUPS)
    assert "admin-cli" in {c["clientId"] for c in kc.clients(name)}
    # no deletes, one client created
    writes = realm.writes(since=mark)
    assert not [w for w in writes if w[0] == "DELETE"]
    assert [w for w in writes if w == ("CREATE", f"clients/{client['id']}")] == [("CREATE", f"clients/{client['id']}")]


def test_second_run_changes_nothing(keycloak: KeycloakServer, converged: Realm, run: Run) -> None:  # noqa: F811
    kc, name = keycloak, converged.name
    before = (kc.client(name, CLIENT), kc.client_scope(name, "groups"), kc.group_names(name))
    mark = converged.mark()

    again = run()

    assert_ok(again)
    assert list(again.actions) == OBJECTS
    assert set(again.actions.values()) == {"unchanged"}
    assert converged.writes(since=mark) == []
    assert (kc.client(name, CLIENT), kc.client_scope(name, "groups"), kc.group_names(name)) == before
    assert kc.client_secret(name, CLIENT) == CLIENT_SECRET


def test_drift_is_repaired_and_foreign_objects_are_untouched(
    keycloak: KeycloakServer,  # noqa: F811 (the fixture)
    converged: Realm,
    run: Run,
) -> None:
    kc, name = keycloak, converged.name
    foreign_uuid = kc.create_client(
        name,
        {
            "clientId": "grafana",
            "publicClient": False,
            "secret": "grafana-secret",
            "redirectUris": ["https://grafana.example.com/*"],
        },
    )
    kc.create_group(name, "grafana-admins")
    kc.create_group(name, "team-a", parent="grafana-admins")
    client_uuid = kc.client(name, CLIENT)["id"]
    foreign_before = kc.client(name, "grafana")
    profile_before = kc.client_scope(name, "profile")

    attributes = {
        **kc.client(name, CLIENT)["attributes"],
        "post.logout.redirect.uris": "https://evil.example.com/*",
        "other.setting": "kept",
    }
    kc.update_client(
        name,
        CLIENT,
        redirectUris=["https://evil.example.com/callback"],
        directAccessGrantsEnabled=True,
        attributes=attributes,
    )
    scope_id = kc.client_scope(name, "groups")["id"]
    kc.api("DELETE", f"/{name}/client-scopes/{scope_id}/protocol-mappers/models/{mapper(kc, name)['id']}")
    for scope in ("groups", "email"):
        kc.api("DELETE", f"/{name}/clients/{client_uuid}/default-client-scopes/{kc.client_scope(name, scope)['id']}")
    kc.api("DELETE", f"/{name}/groups/{kc.group_id(name, 'mlflow-users')}")
    mark = converged.mark()

    result = run()

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == (
        "updated (directAccessGrantsEnabled, redirectUris, attributes.post.logout.redirect.uris)"
    )
    assert result.verbs() == {
        f"client {CLIENT}": "updated",
        "client-scope groups": "unchanged",
        "mapper groups/groups": "created",
        f"default-scope {CLIENT}/groups": "created",
        f"default-scope {CLIENT}/profile": "unchanged",
        f"default-scope {CLIENT}/email": "created",
        "group mlflow-admins": "unchanged",
        "group mlflow-users": "created",
    }
    client = kc.client(name, CLIENT)
    assert client["id"] == client_uuid
    assert client["redirectUris"] == [f"{MLFLOW_URL}/callback"]
    assert client["directAccessGrantsEnabled"] is False
    assert client["attributes"]["post.logout.redirect.uris"] == f"{MLFLOW_URL}/*"
    assert client["attributes"]["other.setting"] == "kept"  # attributes it does not own stay
    assert kc.client_secret(name, CLIENT) == CLIENT_SECRET
    assert mapper(kc, name)["config"] == {**EXPECTED_MAPPER_CONFIG, **KEYCLOAK_MAPPER_EXTRAS}
    assert {"groups", "profile", "email"} <= set(kc.default_scope_names(name, CLIENT))
    assert kc.group_names(name) == sorted([*GROUPS, "grafana-admins"])
    # nothing deleted or re-created, nothing foreign touched
    writes = converged.writes(since=mark)
    assert writes, "the repair wrote nothing?"
    assert not [w for w in writes if w[0] == "DELETE"]
    assert not [w for w in writes if w[0] == "CREATE" and w[1].startswith("clients/") and w[1].count("/") == 1]
    assert all(foreign_uuid not in path for _, path in writes)
    assert kc.client(name, "grafana") == foreign_before
    assert kc.client_secret(name, "grafana") == "grafana-secret"
    assert kc.client_scope(name, "profile") == profile_before
    assert kc.group_id(name, "grafana-admins/team-a")

    mark = converged.mark()
    assert set(run().actions.values()) == {"unchanged"}
    assert converged.writes(since=mark) == []


def test_mapper_config_drift_is_repaired_keeping_keycloak_extras(
    keycloak: KeycloakServer,  # noqa: F811 (the fixture)
    converged: Realm,
    run: Run,
) -> None:
    kc, name = keycloak, converged.name
    scope_id = kc.client_scope(name, "groups")["id"]
    before = mapper(kc, name)
    drifted = {**before["config"], "id.token.claim": "false", "full.path": "true", "lightweight.claim": "false"}
    kc.api(
        "PUT",
        f"/{name}/client-scopes/{scope_id}/protocol-mappers/models/{before['id']}",
        json={**before, "config": drifted},
    )
    kc_scope_attrs = {"include.in.token.scope": "false", "gui.order": "7"}
    kc.api(
        "POST",
        f"/{name}/client-scopes",
        json={"name": "unrelated", "protocol": "openid-connect", "attributes": kc_scope_attrs},
    )

    result = run()

    assert_ok(result)
    assert result.actions["mapper groups/groups"] == "updated (config.full.path, config.id.token.claim)"
    after = mapper(kc, name)
    assert after["config"] == {**EXPECTED_MAPPER_CONFIG, **KEYCLOAK_MAPPER_EXTRAS, "lightweight.claim": "false"}
    assert after["id"] == before["id"]
    assert kc.client_scope(name, "unrelated")["attributes"] == kc_scope_attrs


def test_secret_never_rotates(keycloak: KeycloakServer, converged: Realm, run: Run) -> None:  # noqa: F811
    kc, name = keycloak, converged.name  # (test_second_run_changes_nothing: a re-run leaves id and secret alone)
    uuid = kc.client(name, CLIENT)["id"]
    assert kc.client_secret(name, CLIENT) == CLIENT_SECRET

    # Someone pressed "Regenerate" in the console: put MLflow's secret back, same client
    regenerated = kc.api("POST", f"/{name}/clients/{uuid}/client-secret")["value"]
    assert regenerated != CLIENT_SECRET
    mark = converged.mark()
    result = run(secrets=(regenerated,))

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == "updated (secret)"
    assert kc.client(name, CLIENT)["id"] == uuid
    assert kc.client_secret(name, CLIENT) == CLIENT_SECRET
    assert converged.writes(since=mark) == [("UPDATE", f"clients/{uuid}")]


def test_client_left_by_the_old_justfile_is_adopted(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    """The old justfile created the client through the admin API with a secret of its own (and deleted and
    re-created it on every install): the script adopts it in place and sets MLflow's secret."""
    kc, name = keycloak, realm.name
    old_uuid = kc.create_client(
        name,
        {
            "clientId": CLIENT,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "secret": "old-generated-secret",
            "redirectUris": [f"{MLFLOW_URL}/callback"],
            "webOrigins": [MLFLOW_URL],
            "directAccessGrantsEnabled": False,
            "attributes": {"client.session.idle.timeout": "1800"},
        },
    )

    result = run(secrets=("old-generated-secret",), OIDC_CLIENT_NAME="MLflow")

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == "updated (attributes.post.logout.redirect.uris, name, secret)"
    client = kc.client(name, CLIENT)
    assert client["id"] == old_uuid
    assert kc.client_secret(name, CLIENT) == CLIENT_SECRET
    assert client["attributes"]["client.session.idle.timeout"] == "1800"
    assert client["name"] == "MLflow"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", ["refuse", "hang"])
def test_keycloak_down_fails_after_bounded_retries(realm: Realm, mode: str, request: pytest.FixtureRequest) -> None:
    port = free_port() if mode == "refuse" else request.getfixturevalue("silent_port")
    url = f"http://127.0.0.1:{port}"

    result = run_script(url, realm.name, WAIT_ATTEMPTS="2", WAIT_DELAY_SECONDS="0.05", KEYCLOAK_TIMEOUT_SECONDS="0.5")

    assert result.returncode == 1
    assert result.seconds < 15
    assert result.stdout == ""
    assert (
        f"Keycloak did not answer at {url}/realms/master/.well-known/openid-configuration after 2 attempts"
        in result.stderr
    )
    assert "[1/2] Keycloak not ready" in result.stderr
    assert realm.writes() == []


def test_wrong_admin_password(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    wrong = "Wr0ng-pa55word-not-printed"

    result = run(KEYCLOAK_ADMIN_PASSWORD=wrong, secrets=(wrong,))

    assert result.returncode == 1
    assert result.stdout == ""
    # Keycloak 26 answers a refused password grant with 400 invalid_grant (RFC 6749 5.2), not 401
    assert (
        f"admin login to {keycloak.url} realm master as user {ADMIN_USER} failed: HTTP 400: Invalid user credentials"
        in result.stderr
    )
    assert realm.writes() == []


def test_realm_admin_of_the_target_realm(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    """KEYCLOAK_ADMIN_REALM = the MLflow realm: a user of that realm with realm-management's realm-admin role."""
    kc, name = keycloak, realm.name
    user_id = kc.create_user(name, "realm-admin", ADMIN_PASSWORD)
    management = kc.client(name, "realm-management")["id"]
    role = kc.api("GET", f"/{name}/clients/{management}/roles/realm-admin")
    kc.api("POST", f"/{name}/users/{user_id}/role-mappings/clients/{management}", json=[role])

    result = run(KEYCLOAK_ADMIN_REALM=name, KEYCLOAK_ADMIN_USER="realm-admin")

    assert_ok(result)
    assert f"Keycloak answers at {kc.url}/realms/{name}/.well-known/openid-configuration" in result.stderr
    assert result.verbs()[f"client {CLIENT}"] == "created"
    assert kc.client_secret(name, CLIENT) == CLIENT_SECRET
    again = run(KEYCLOAK_ADMIN_REALM=name, KEYCLOAK_ADMIN_USER="realm-admin")
    assert_ok(again)
    assert set(again.actions.values()) == {"unchanged"}


def test_missing_realm_is_not_created(keycloak: KeycloakServer, setup_admin: str) -> None:  # noqa: F811
    missing = f"no-such-realm-{next(_REALMS)}"

    result = run_script(keycloak.url, missing)

    assert result.returncode == 1
    assert f"realm {missing} does not exist at {keycloak.url}" in result.stderr
    assert "never creates realms" in result.stderr
    assert missing not in {r["realm"] for r in keycloak.api("GET", "")}


def test_dry_run_prints_the_plan_and_changes_nothing(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    kc, name = keycloak, realm.name

    plan = run("--dry-run")

    assert_ok(plan)
    assert list(plan.actions) == OBJECTS
    assert plan.verbs() == {
        f"client {CLIENT}": "would create",
        "client-scope groups": "would create",
        "mapper groups/groups": "would create",
        f"default-scope {CLIENT}/groups": "would create",
        f"default-scope {CLIENT}/profile": "unchanged",
        f"default-scope {CLIENT}/email": "unchanged",
        "group mlflow-admins": "would create",
        "group mlflow-users": "would create",
    }
    assert realm.writes() == []
    assert CLIENT not in {c["clientId"] for c in kc.clients(name)}

    assert_ok(run())
    kc.update_client(name, CLIENT, webOrigins=["*"])
    scope_id = kc.client_scope(name, "groups")["id"]
    kc.api("DELETE", f"/{name}/client-scopes/{scope_id}/protocol-mappers/models/{mapper(kc, name)['id']}")
    before, mark = kc.client(name, CLIENT), realm.mark()

    plan = run("--dry-run")

    assert_ok(plan)
    assert plan.actions[f"client {CLIENT}"] == "would update (webOrigins)"
    assert plan.actions["mapper groups/groups"] == "would create"
    assert plan.actions["group mlflow-users"] == "unchanged"
    assert realm.writes(since=mark) == []
    assert kc.client(name, CLIENT) == before


def test_pkce_setting(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    """What the script does with OIDC_PKCE, and why the config refuses oidc.pkce: true: the plugin's authorization
    request (mlflow-oidc-auth 5.6.1: Authlib without code_challenge_method) carries no code_challenge, and Keycloak
    refuses such a request for a client that requires PKCE."""
    kc, name = keycloak, realm.name

    def authorize() -> requests.Response:
        """The authorization request as the plugin makes it (no code_challenge)."""
        return requests.get(
            f"{kc.url}/realms/{name}/protocol/openid-connect/auth",
            params={
                "client_id": CLIENT,
                "redirect_uri": f"{MLFLOW_URL}/callback",
                "response_type": "code",
                "scope": "openid profile email groups",
                "state": "s",
            },
            allow_redirects=False,
            timeout=30,
        )

    assert_ok(run(OIDC_PKCE="true"))
    assert kc.client(name, CLIENT)["attributes"]["pkce.code.challenge.method"] == "S256"
    refused = authorize()
    assert refused.status_code == 302, refused.text[:300]
    error = parse_qs(urlsplit(refused.headers["Location"]).query)
    assert (error["error"], error["error_description"]) == (
        ["invalid_request"],
        ["Missing parameter: code_challenge_method"],
    )

    result = run(OIDC_PKCE="false")

    assert_ok(result)
    assert result.actions[f"client {CLIENT}"] == "updated (attributes.pkce.code.challenge.method)"
    assert kc.client(name, CLIENT)["attributes"].get("pkce.code.challenge.method", "") == ""
    assert set(run(OIDC_PKCE="false").actions.values()) == {"unchanged"}
    login_page = authorize()
    assert login_page.status_code == 200 and 'id="kc-form-login"' in login_page.text


def test_groups_claim_follows_the_config(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    """oidc.groupsAttribute other than `groups`: the mapper writes that claim, so the userinfo the plugin reads
    carries the user's groups under the name the server looks for (Keycloak's own evaluation of the client's
    scopes for a real user); switching back repairs the mapper."""
    kc, name = keycloak, realm.name
    assert_ok(run(OIDC_GROUPS_CLAIM="team_groups"))
    assert mapper(kc, name)["config"]["claim.name"] == "team_groups"
    user = kc.create_user(name, "carol@example.com", "Carol-Pa55word", groups=("mlflow-users",))
    client = kc.client(name, CLIENT)["id"]
    userinfo = kc.api(
        "GET",
        f"/{name}/clients/{client}/evaluate-scopes/generate-example-userinfo",
        params={"userId": user, "scope": "openid profile email groups"},
    )
    assert userinfo["team_groups"] == ["mlflow-users"] and "groups" not in userinfo
    back = run()
    assert back.actions["mapper groups/groups"] == "updated (config.claim.name)"
    assert mapper(kc, name)["config"]["claim.name"] == "groups"


def test_realm_whose_new_clients_lack_profile_and_email(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    kc, name = keycloak, realm.name
    for scope in ("profile", "email"):
        kc.api("DELETE", f"/{name}/default-default-client-scopes/{kc.client_scope(name, scope)['id']}")
    uuid = kc.create_client(name, {"clientId": CLIENT, "publicClient": False, "secret": CLIENT_SECRET})
    assert not {"profile", "email"} & set(kc.default_scope_names(name, CLIENT))
    kc.api("PUT", f"/{name}/clients/{uuid}/optional-client-scopes/{kc.client_scope(name, 'email')['id']}")

    result = run()

    assert_ok(result)
    assert result.actions[f"default-scope {CLIENT}/profile"] == "created"
    assert result.actions[f"default-scope {CLIENT}/email"] == "updated (was optional)"
    assert {"groups", "profile", "email", "roles"} <= set(kc.default_scope_names(name, CLIENT))
    assert "email" not in kc.optional_scope_names(name, CLIENT)


def test_missing_builtin_scope_fails_clearly(keycloak: KeycloakServer, realm: Realm, run: Run) -> None:  # noqa: F811
    kc, name = keycloak, realm.name
    email = kc.client_scope(name, "email")["id"]
    kc.api("DELETE", f"/{name}/default-default-client-scopes/{email}")
    kc.api("DELETE", f"/{name}/client-scopes/{email}")
    mark = realm.mark()

    result = run()

    assert result.returncode == 1
    assert f"realm {name} has no client scope email" in result.stderr
    assert realm.writes(since=mark) == []


def test_secrets_from_files(keycloak: KeycloakServer, realm: Realm, run: Run, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "password").write_text(ADMIN_PASSWORD + "\n")
    (tmp_path / "secret").write_text(CLIENT_SECRET + "\n")

    result = run(
        KEYCLOAK_ADMIN_PASSWORD=None,
        KEYCLOAK_ADMIN_PASSWORD_FILE=str(tmp_path / "password"),
        OIDC_CLIENT_SECRET=None,
        OIDC_CLIENT_SECRET_FILE=str(tmp_path / "secret"),
    )

    assert_ok(result)
    assert keycloak.client_secret(realm.name, CLIENT) == CLIENT_SECRET


def test_missing_variable_exits_2_naming_it(realm: Realm, run: Run) -> None:
    result = run_script("http://127.0.0.1:9", realm.name, KEYCLOAK_REALM=None)

    assert result.returncode == 2
    assert result.stderr.strip() == "keycloak-setup: configuration error: KEYCLOAK_REALM is required but not set"


def test_missing_and_invalid_variables_are_all_reported_at_once(tmp_path: Path) -> None:
    missing = ("KEYCLOAK_URL", "KEYCLOAK_ADMIN_USER", "KEYCLOAK_ADMIN_PASSWORD", "OIDC_CLIENT_ID", "OIDC_GROUPS")
    unset: dict[str, str | None] = dict.fromkeys(missing)
    result = run_script(
        "http://127.0.0.1:9",
        "any",
        **unset,
        MLFLOW_URL="mlflow.example.com",  # type: ignore[arg-type]
        WAIT_ATTEMPTS="0",
        OIDC_PKCE="maybe",
        KEYCLOAK_VERIFY_TLS="sure",
        OIDC_CLIENT_SECRET_FILE=str(tmp_path / "absent"),
        WAIT_DELAY_SECONDS="soon",
    )

    assert result.returncode == 2
    assert result.stdout == ""
    for name in missing:
        assert f"configuration error: {name}" in result.stderr
    for fragment in (
        "MLFLOW_URL must be an http(s) URL",
        "WAIT_ATTEMPTS must be an integer >= 1",
        "OIDC_PKCE must be true or false",
        "KEYCLOAK_VERIFY_TLS must be true or false",
        "set either OIDC_CLIENT_SECRET or OIDC_CLIENT_SECRET_FILE, not both",
        "WAIT_DELAY_SECONDS must be a number",
    ):
        assert fragment in result.stderr
