"""The realm's setup client (`keycloak.setupLogin: serviceAccount`, the default), made by the Keycloak section of
`mlflow-gitops access` run with the real kcadm.sh against the real Keycloak of the session: it is enough for the
setup script (first run, rerun, drift repair, members, identity-provider mappers, removal) and refused for
anything else (another realm, the realm's own settings, the master realm)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import requests

from mlflow_gitops import names as n
from mlflow_gitops.config import load_environments
from mlflow_gitops.gitops.access import keycloak_section
from tests.keycloak_server import (  # noqa: F401 (fixtures)
    BOOTSTRAP_PASSWORD,
    BOOTSTRAP_USER,
    KeycloakServer,
    distribution,
    keycloak,
    keycloak_port,
)
from tests.test_keycloak_members import add_identity_provider, idp_mappers, members
from tests.test_keycloak_setup import (  # noqa: F401 (fixtures)
    CLIENT,
    GROUPS,
    Realm,
    Result,
    assert_ok,
    realm,
    run_script,
    setup_admin,
)

SETUP_CLIENT = "mlflow-gitops-setup"
UPSTREAM = "members:\n      upstream:\n        - {identityProvider: corp, claim: groups, admins: [ml]}\n"


def bootstrap(kc: KeycloakServer, realm_name: str, tmp_path: Path, instance_extra: str = "") -> str:
    """Run the printed Keycloak section (kcadm.sh logged in as the master admin, a `vault` that records what it
    is given); return the client secret it put in Vault."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "dev.yaml").write_text(
        f"keycloak:\n  url: {kc.url}\n  realm: {realm_name}\ninstances:\n  - name: mlflow\n    {instance_extra}"
    )
    [env] = load_environments(["dev"], tmp_path / "env", {})
    section = "\n".join(keycloak_section(env))
    folder, jdk = distribution()
    shell_env = {
        "PATH": f"{folder / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "JAVA_HOME": str(jdk),
        "VAULT_LOG": str(tmp_path / "vault.log"),
    }
    login = ["kcadm.sh", "config", "credentials", "--server", kc.url, "--realm", "master", "--user", BOOTSTRAP_USER]
    done = subprocess.run(
        [*login, "--password", BOOTSTRAP_PASSWORD], env=shell_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    script = 'vault() { printf "%s\\n" "$*" >> "$VAULT_LOG"; }\nset -eu\n' + section
    done = subprocess.run(["bash", "-c", script], env=shell_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [put] = (tmp_path / "vault.log").read_text().splitlines()
    match = re.fullmatch(r"kv put -mount=secret keycloak/setup-client client_secret=([0-9a-f]{64})", put)
    assert match, put
    return match.group(1)


def as_client(kc: KeycloakServer, realm_name: str, secret: str, *args: str, **env: str | None) -> Result:
    """The setup script logged in as the setup client of `realm_name`, managing KEYCLOAK_REALM (default the same)."""
    login = {
        "KEYCLOAK_ADMIN_REALM": realm_name,
        "KEYCLOAK_ADMIN_CLIENT_ID": SETUP_CLIENT,
        "KEYCLOAK_ADMIN_CLIENT_SECRET": secret,
        "KEYCLOAK_ADMIN_USER": None,
        "KEYCLOAK_ADMIN_PASSWORD": None,
    }
    target = env.pop("KEYCLOAK_REALM", None) or realm_name
    return run_script(kc.url, target, *args, secrets=(secret,), **{**login, **env})


def client_token(kc: KeycloakServer, realm_name: str, secret: str) -> str:
    response = requests.post(
        f"{kc.url}/realms/{realm_name}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": SETUP_CLIENT, "client_secret": secret},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_the_setup_client_holds_only_the_setup_roles_and_no_login_flow(
    keycloak: KeycloakServer,  # noqa: F811
    realm: Realm,  # noqa: F811
    tmp_path: Path,
) -> None:
    kc, name = keycloak, realm.name
    bootstrap(kc, name, tmp_path)
    client = kc.client(name, SETUP_CLIENT)
    assert client["serviceAccountsEnabled"] and not client["publicClient"]
    assert not client["standardFlowEnabled"] and not client["directAccessGrantsEnabled"]
    account = kc.api("GET", f"/{name}/clients/{client['id']}/service-account-user")
    mappings = kc.api("GET", f"/{name}/users/{account['id']}/role-mappings")
    granted = {role["name"] for role in mappings["clientMappings"]["realm-management"]["mappings"]}
    assert granted == set(n.KEYCLOAK_SETUP_ROLES)
    assert set(mappings["clientMappings"]) == {"realm-management"}


def test_the_setup_client_is_enough_for_the_setup_job_first_run_rerun_drift_and_removal(
    keycloak: KeycloakServer,  # noqa: F811
    realm: Realm,  # noqa: F811
    tmp_path: Path,
) -> None:
    kc, name = keycloak, realm.name
    secret = bootstrap(kc, name, tmp_path)
    member = "carol@example.com"
    kc.create_user(name, member, "Carol-Pa55word-t", email=member)
    with_members = {"GROUP_MEMBERS": json.dumps({GROUPS[0]: [], GROUPS[1]: [member]})}

    first = as_client(kc, name, secret, **with_members)
    assert_ok(first)
    assert first.verbs()[f"client {CLIENT}"] == "created"
    assert members(kc, name, GROUPS[1]) == {member}

    again = as_client(kc, name, secret, **with_members)
    assert_ok(again)
    assert set(again.verbs().values()) == {"unchanged"}, again.stdout

    kc.update_client(name, CLIENT, redirectUris=["https://evil.example.com/*"], directAccessGrantsEnabled=True)
    kc.api("DELETE", f"/{name}/groups/{kc.group_id(name, GROUPS[0])}")
    repaired = as_client(kc, name, secret, **with_members)
    assert_ok(repaired)
    assert repaired.verbs()[f"client {CLIENT}"] == "updated"
    assert repaired.verbs()[f"group {GROUPS[0]}"] == "created"
    assert kc.client(name, CLIENT)["redirectUris"] != ["https://evil.example.com/*"]

    removed = as_client(kc, name, secret, "--remove", MLFLOW_URL=None, OIDC_CLIENT_SECRET=None)
    assert_ok(removed)
    assert CLIENT not in {c["clientId"] for c in kc.clients(name)}
    assert SETUP_CLIENT in {c["clientId"] for c in kc.clients(name)}, "removal took the setup client"


def test_with_upstream_groups_the_client_also_manages_the_identity_providers_mappers(
    keycloak: KeycloakServer,  # noqa: F811
    realm: Realm,  # noqa: F811
    tmp_path: Path,
) -> None:
    kc, name = keycloak, realm.name
    add_identity_provider(kc, name, "corp")
    secret = bootstrap(kc, name, tmp_path, UPSTREAM)
    upstream = [{"identityProvider": "corp", "claim": "groups", "value": "ml", "group": GROUPS[0]}]
    assert_ok(as_client(kc, name, secret, UPSTREAM_GROUPS=json.dumps(upstream)))
    assert list(idp_mappers(kc, name, "corp")) == [f"mlflow-gitops:{CLIENT}:{GROUPS[0]}:ml"]


def test_the_setup_client_is_refused_for_another_realm_and_for_the_realms_own_settings(
    keycloak: KeycloakServer,  # noqa: F811
    realm: Realm,  # noqa: F811
    tmp_path: Path,
) -> None:
    kc, name = keycloak, realm.name
    secret = bootstrap(kc, name, tmp_path)
    other = Realm(kc, f"{name}-other")

    refused = as_client(kc, name, secret, KEYCLOAK_REALM=other.name)
    assert refused.returncode != 0
    assert f"the service account of client {SETUP_CLIENT} may not manage realm {other.name}" in refused.stderr
    assert other.writes() == [] and CLIENT not in {c["clientId"] for c in kc.clients(other.name)}

    headers = {"Authorization": f"Bearer {client_token(kc, name, secret)}"}
    admin = f"{kc.url}/admin/realms"
    for method, url, body in (
        ("PUT", f"{admin}/{name}", {"registrationAllowed": True}),
        ("POST", f"{admin}/{name}/identity-provider/instances", {"alias": "x", "providerId": "oidc"}),
        ("GET", f"{admin}/master/users", None),
        ("GET", f"{admin}/{other.name}/clients", None),
        ("POST", admin, {"realm": "made-by-setup-client"}),
    ):
        response = requests.request(method, url, json=body, headers=headers, timeout=30)
        assert response.status_code == 403, f"{method} {url}: {response.status_code} {response.text[:200]}"
    assert kc.api("GET", f"/{name}")["registrationAllowed"] is False


def test_a_wrong_client_secret_fails_the_login_without_a_write(
    keycloak: KeycloakServer,  # noqa: F811
    realm: Realm,  # noqa: F811
    tmp_path: Path,
) -> None:
    kc, name = keycloak, realm.name
    bootstrap(kc, name, tmp_path)
    mark = realm.mark()
    result = as_client(kc, name, "0" * 64)
    assert result.returncode != 0
    assert f"as the service account of client {SETUP_CLIENT} failed" in result.stderr
    assert realm.writes(mark) == []
