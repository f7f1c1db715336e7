"""Logging in through the rendered OIDC settings: /login -> provider (Keycloak-shaped) -> /callback, no browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from tests.e2e.conftest import ADMIN, OUTSIDER, USER, Server
from tests.e2e.services import provider_events

CURRENT_USER = "/api/2.0/mlflow/permissions/users/current"


def current_user(server: Server, session: requests.Session) -> dict:
    response = session.get(f"{server.url}{CURRENT_USER}", timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_admin_logs_in_and_is_admin(server: Server) -> None:
    session, landing = server.login(ADMIN)
    assert landing.status_code == 200
    # the round trip: /login -> the provider's authorization endpoint (issuer as rendered) -> /callback
    hops = [urlsplit(r.url) for r in landing.history]
    assert [hop.path for hop in hops] == ["/login", "/realms/e2e/protocol/openid-connect/auth", "/callback"]
    authorize = parse_qs(hops[1].query)
    assert authorize["redirect_uri"] == [server.stack.server_env["OIDC_REDIRECT_URI"]] == [f"{server.url}/callback"]
    assert authorize["client_id"] == [server.provider.client_id]
    assert authorize["scope"] == [server.stack.server_env["OIDC_SCOPE"]] == ["openid profile email groups"]
    me = current_user(server, session)
    assert me["username"] == ADMIN["email"]
    assert me["display_name"] == ADMIN["name"]
    assert me["is_admin"] is True
    assert [group["group_name"] for group in me["groups"]] == ["mlflow-admins"]
    # the server authenticated to the token endpoint with the client secret the provider holds
    token_events = [e for e in provider_events(server.provider.port) if e["type"].startswith("token")]
    assert token_events[-1]["type"] == "token", token_events
    assert token_events[-1]["client_auth"] in ("client_secret_basic", "client_secret_post")


def test_user_logs_in_and_is_not_admin(server: Server) -> None:
    session, landing = server.login(USER)
    assert landing.status_code == 200
    me = current_user(server, session)
    assert me["username"] == USER["email"]
    assert me["is_admin"] is False
    assert [group["group_name"] for group in me["groups"]] == ["mlflow-users"]


def test_user_in_neither_group_is_refused(server: Server) -> None:
    session, page = server.login(OUTSIDER)
    assert "Authorization error: User is not allowed to login." in page.text
    assert urlsplit(page.url).path == "/callback"
    response = session.get(f"{server.url}{CURRENT_USER}", timeout=30, allow_redirects=False)
    assert OUTSIDER["email"] not in response.text
    assert response.status_code != 200 or "username" not in response.text
    experiments = session.get(f"{server.url}/api/2.0/mlflow/experiments/search", params={"max_results": 100},
                              timeout=30, allow_redirects=False)
    assert '"experiments"' not in experiments.text


def test_provider_rejects_what_keycloak_would(server: Server) -> None:
    """The provider is as strict as the Keycloak client the keycloak-setup Job creates, so a green login above
    means the rendered client id, secret and redirect URI are the registered ones."""
    base = f"http://localhost:{server.provider.port}/realms/e2e/protocol/openid-connect"
    wrong_redirect = requests.get(f"{base}/auth", params={
        "client_id": server.provider.client_id, "redirect_uri": "http://evil.example.com/callback",
        "response_type": "code", "scope": "openid"}, allow_redirects=False, timeout=10)
    assert wrong_redirect.status_code == 400
    wrong_secret = requests.post(f"{base}/token", data={"grant_type": "authorization_code", "code": "x",
                                                        "redirect_uri": server.provider.redirect_uri},
                                 auth=(server.provider.client_id, "not-the-secret"), timeout=10)
    assert wrong_secret.status_code == 401
    assert server.provider.redirect_uri == server.stack.server_env["OIDC_REDIRECT_URI"]
