"""Logging in through the rendered OIDC settings: /login -> the real Keycloak's login form -> /callback, no browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from tests.e2e.conftest import ADMIN, MEMBER, OUTSIDER, USER, VAULT, Server
from tests.e2e.stack import MISSING_MEMBER

CURRENT_USER = "/api/2.0/mlflow/permissions/users/current"


def current_user(server: Server, session: requests.Session) -> dict:
    response = session.get(f"{server.url}{CURRENT_USER}", timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_admin_logs_in_and_is_admin(server: Server) -> None:
    tokens_before = len(server.provider.events("CODE_TO_TOKEN"))
    session, landing = server.login(ADMIN)
    assert landing.status_code == 200
    # the round trip: /login -> Keycloak's authorization endpoint (issuer as rendered; its login page) -> the
    # login form's POST -> /callback
    hops = [urlsplit(r.url) for r in landing.history]
    assert [hop.path for hop in hops] == [
        "/login",
        "/realms/e2e/protocol/openid-connect/auth",
        "/realms/e2e/login-actions/authenticate",
        "/callback",
    ]
    assert hops[1].netloc == urlsplit(server.stack.server_env["OIDC_DISCOVERY_URL"]).netloc
    authorize = parse_qs(hops[1].query)
    assert authorize["redirect_uri"] == [server.stack.server_env["OIDC_REDIRECT_URI"]] == [f"{server.url}/callback"]
    assert authorize["client_id"] == [server.provider.client_id]
    assert authorize["scope"] == [server.stack.server_env["OIDC_SCOPE"]] == ["openid profile email groups"]
    me = current_user(server, session)
    assert me["username"] == ADMIN["email"]
    assert me["display_name"] == ADMIN["name"]
    assert me["is_admin"] is True
    assert [group["group_name"] for group in me["groups"]] == ["mlflow-admins"]
    # the server redeemed the code at the token endpoint, authenticated with the client secret Keycloak holds
    token_events = server.provider.events("CODE_TO_TOKEN")[tokens_before:]
    assert len(token_events) == 1, token_events
    assert token_events[0]["clientId"] == server.provider.client_id
    assert token_events[0]["details"]["client_auth_method"] == "client-secret"
    assert not server.provider.events("CODE_TO_TOKEN_ERROR")


def test_user_logs_in_and_is_not_admin(server: Server) -> None:
    session, landing = server.login(USER)
    assert landing.status_code == 200
    me = current_user(server, session)
    assert me["username"] == USER["email"]
    assert me["is_admin"] is False
    assert [group["group_name"] for group in me["groups"]] == ["mlflow-users"]


def test_a_member_the_config_declares_was_added_by_the_job_and_logs_in_as_a_user(server: Server) -> None:
    """`members.users` in the config: the rendered keycloak-setup Job put the existing user into mlflow-users
    (she had no group), reported the one the realm does not have, and the server lets her in as a user."""
    log = "".join(process.log.read_text() for process in server.provider.setup)
    assert f"member mlflow-users/{MEMBER['email']}: added" in log
    assert f"member mlflow-users/{MISSING_MEMBER}: missing" in log
    session, landing = server.login(MEMBER)
    assert landing.status_code == 200
    me = current_user(server, session)
    assert (me["username"], me["is_admin"]) == (MEMBER["email"], False)
    assert [group["group_name"] for group in me["groups"]] == ["mlflow-users"]


def test_user_in_neither_group_is_refused(server: Server) -> None:
    session, page = server.login(OUTSIDER)
    assert "Authorization error: User is not allowed to login." in page.text
    assert urlsplit(page.url).path == "/callback"
    response = session.get(f"{server.url}{CURRENT_USER}", timeout=30, allow_redirects=False)
    assert OUTSIDER["email"] not in response.text
    assert response.status_code != 200 or "username" not in response.text
    experiments = session.get(
        f"{server.url}/api/2.0/mlflow/experiments/search",
        params={"max_results": 100},
        timeout=30,
        allow_redirects=False,
    )
    assert '"experiments"' not in experiments.text


def test_keycloak_refuses_a_foreign_redirect_and_a_wrong_secret(server: Server) -> None:
    """The client the keycloak-setup Job created is strict, so a green login above means the rendered client id,
    secret and redirect URI are the registered ones."""
    base = f"http://localhost:{server.provider.port}/realms/e2e/protocol/openid-connect"
    wrong_redirect = requests.get(
        f"{base}/auth",
        params={
            "client_id": server.provider.client_id,
            "redirect_uri": "http://evil.example.com/callback",
            "response_type": "code",
            "scope": "openid",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert wrong_redirect.status_code == 400
    wrong_secret = requests.post(
        f"{base}/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": server.provider.redirect_uri},
        auth=(server.provider.client_id, "not-the-secret"),
        timeout=10,
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "unauthorized_client", wrong_secret.text
    assert server.provider.redirect_uri == server.stack.server_env["OIDC_REDIRECT_URI"]


def test_the_keycloak_setup_job_made_the_client_mlflow_uses(server: Server) -> None:
    """What the rendered Job left in the real Keycloak: MLflow's secret as is, its redirect URI, the groups claim."""
    keycloak, client_id = server.provider.keycloak, server.provider.client_id
    assert all(process.popen is not None and process.popen.returncode == 0 for process in server.provider.setup)
    client = keycloak.client("e2e", client_id)
    assert (
        keycloak.client_secret("e2e", client_id)
        == server.provider.client_secret
        == VAULT["mlflow/oidc"]["client_secret"]
    )
    assert client["redirectUris"] == [server.stack.server_env["OIDC_REDIRECT_URI"]]
    assert client["attributes"].get("pkce.code.challenge.method", "") == ""  # the plugin sends no PKCE
    assert "groups" in keycloak.default_scope_names("e2e", client_id)
    assert {"mlflow-admins", "mlflow-users"} <= set(keycloak.group_names("e2e"))
