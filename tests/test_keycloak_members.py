"""Group membership as code, identity-provider group mappers and the cleanup of a retired instance: the Keycloak
setup script run as a real subprocess against the real Keycloak of the session (tests/keycloak_server.py)."""

from __future__ import annotations

import json
from typing import Any

from tests.keycloak_server import KeycloakServer, free_port, keycloak, keycloak_port  # noqa: F401 (fixtures)
from tests.test_keycloak_setup import (  # noqa: F401 (fixtures)
    CLIENT,
    GROUPS,
    Realm,
    Run,
    assert_ok,
    converged,
    realm,
    run,
    run_script,
    setup_admin,
)

ADMINS, USERS = GROUPS
MANAGED = "mlflow-gitops.managed-members"


def members_env(admins: list[str], users: list[str] | None = None, **more: str) -> dict[str, str]:
    return {"GROUP_MEMBERS": json.dumps({ADMINS: admins, USERS: users or []}), **more}


def members(kc: KeycloakServer, realm_name: str, group: str) -> set[str]:
    group_id = kc.group_id(realm_name, group)
    found = kc.api("GET", f"/{realm_name}/groups/{group_id}/members", params={"max": 1000})
    return {m["username"] for m in found}


def managed(kc: KeycloakServer, realm_name: str, group: str) -> list[str]:
    rep = kc.api("GET", f"/{realm_name}/groups/{kc.group_id(realm_name, group)}")
    return list((rep.get("attributes") or {}).get(MANAGED, []))


def member_lines(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if line.startswith(("member ", "user ")))


def add_identity_provider(kc: KeycloakServer, realm_name: str, alias: str, provider: str = "oidc") -> None:
    config: dict[str, Any] = {"clientId": "mlflow-broker", "clientSecret": "broker-secret-not-used"}
    if provider == "oidc":
        config |= {
            "authorizationUrl": "https://idp.example.com/authorize",
            "tokenUrl": "https://idp.example.com/token",
        }
    else:
        config = {"singleSignOnServiceUrl": "https://idp.example.com/saml", "entityId": "mlflow"}
    kc.api(
        "POST",
        f"/{realm_name}/identity-provider/instances",
        json={"alias": alias, "providerId": provider, "enabled": True, "config": config},
    )


def idp_mappers(kc: KeycloakServer, realm_name: str, alias: str) -> dict[str, dict[str, Any]]:
    found = kc.api("GET", f"/{realm_name}/identity-provider/instances/{alias}/mappers")
    return {m["name"]: m for m in found}


def test_declared_members_are_added_and_only_those_added_are_removed(
    keycloak: KeycloakServer,  # noqa: F811
    converged: Realm,  # noqa: F811
    run: Run,  # noqa: F811
) -> None:
    kc, name = keycloak, converged.name
    kc.create_user(name, "alice", "pw-alice-12345")
    kc.create_user(name, "bob", "pw-bob-123456", email="bob@corp.example.com")
    kc.create_user(name, "carol", "pw-carol-12345", groups=(ADMINS,))  # a membership made by hand

    first = run(**members_env(["alice", "Bob@corp.example.com", "ghost"], ["alice"]))

    assert_ok(first)
    assert member_lines(first.stdout) == {
        f"member {ADMINS}/alice": "added",
        f"member {ADMINS}/bob@corp.example.com": "added",
        f"member {ADMINS}/ghost": f"missing (no such user in realm {name}; not created (CREATE_MISSING_USERS=false))",
        f"member {USERS}/alice": "added",
    }
    assert members(kc, name, ADMINS) == {"alice", "bob", "carol"}
    assert members(kc, name, USERS) == {"alice"}
    assert "ghost" not in {u["username"] for u in kc.api("GET", f"/{name}/users", params={"max": 1000})}

    mark = converged.mark()
    again = run(**members_env(["alice", "bob@corp.example.com", "ghost"], ["alice"]))
    assert_ok(again)
    assert set(member_lines(again.stdout).values()) == {
        "unchanged",
        f"missing (no such user in realm {name}; not created (CREATE_MISSING_USERS=false))",
    }
    assert converged.writes(since=mark) == [], "a second run wrote"

    # carol is declared too (already a member: nothing to add), then alice and carol leave the config
    run(**members_env(["alice", "bob@corp.example.com", "carol"], ["alice"]))
    removed = run(**members_env(["bob@corp.example.com"], []))

    assert_ok(removed)
    assert member_lines(removed.stdout) == {
        f"member {ADMINS}/bob@corp.example.com": "unchanged",
        f"member {ADMINS}/alice": "removed",
        f"member {USERS}/alice": "removed",
    }
    assert members(kc, name, ADMINS) == {"bob", "carol"}, "the hand-made membership of carol was removed"
    assert members(kc, name, USERS) == set()
    assert managed(kc, name, ADMINS) == [kc.api("GET", f"/{name}/users", params={"username": "bob"})[0]["id"]]


def test_exclusive_groups_hold_exactly_the_declared_users(
    keycloak: KeycloakServer,  # noqa: F811
    converged: Realm,  # noqa: F811
    run: Run,  # noqa: F811
) -> None:
    kc, name = keycloak, converged.name
    kc.create_user(name, "dan", "pw-dan-123456")
    kc.create_user(name, "erin", "pw-erin-12345", groups=(ADMINS, USERS))

    dry = run("--dry-run", **members_env(["dan"], [], GROUP_MEMBERS_EXCLUSIVE="true"))
    assert member_lines(dry.stdout) == {
        f"member {ADMINS}/dan": "would add",
        f"member {ADMINS}/erin": "would remove (hand-made membership, GROUP_MEMBERS_EXCLUSIVE)",
        f"member {USERS}/erin": "would remove (hand-made membership, GROUP_MEMBERS_EXCLUSIVE)",
    }
    assert members(kc, name, ADMINS) == {"erin"}

    result = run(**members_env(["dan"], [], GROUP_MEMBERS_EXCLUSIVE="true"))

    assert_ok(result)
    assert members(kc, name, ADMINS) == {"dan"}
    assert members(kc, name, USERS) == set()


def test_missing_users_are_created_only_when_the_config_says_so(
    keycloak: KeycloakServer,  # noqa: F811
    converged: Realm,  # noqa: F811
    run: Run,  # noqa: F811
) -> None:
    kc, name = keycloak, converged.name

    result = run(**members_env(["frank@corp.example.com"], ["gina"], CREATE_MISSING_USERS="true"))

    assert_ok(result)
    assert member_lines(result.stdout) == {
        "user frank@corp.example.com": "created",
        f"member {ADMINS}/frank@corp.example.com": "added",
        "user gina": "created",
        f"member {USERS}/gina": "added",
    }
    [frank] = kc.api("GET", f"/{name}/users", params={"email": "frank@corp.example.com", "exact": "true"})
    assert frank["enabled"] is True
    assert kc.api("GET", f"/{name}/users/{frank['id']}/credentials") == [], "a created user got a password"
    assert members(kc, name, ADMINS) == {"frank@corp.example.com"}
    assert members(kc, name, USERS) == {"gina"}


def test_upstream_groups_become_identity_provider_mappers_it_owns(
    keycloak: KeycloakServer,  # noqa: F811
    converged: Realm,  # noqa: F811
    run: Run,  # noqa: F811
) -> None:
    kc, name = keycloak, converged.name
    add_identity_provider(kc, name, "corp")
    add_identity_provider(kc, name, "partner", provider="saml")
    kc.api(  # someone's own mapper on the same provider
        "POST",
        f"/{name}/identity-provider/instances/corp/mappers",
        json={
            "name": "hand-made",
            "identityProviderAlias": "corp",
            "identityProviderMapper": "hardcoded-group-idp-mapper",
            "config": {"group": f"/{USERS}", "syncMode": "INHERIT"},
        },
    )
    declared = [
        {"identityProvider": "corp", "claim": "groups", "value": "ml-admins", "group": ADMINS},
        {"identityProvider": "partner", "claim": "memberOf", "value": "ml-users", "group": USERS},
    ]

    first = run(UPSTREAM_GROUPS=json.dumps(declared))

    assert_ok(first)
    admins_mapper = f"mlflow-gitops:{CLIENT}:{ADMINS}:ml-admins"
    users_mapper = f"mlflow-gitops:{CLIENT}:{USERS}:ml-users"
    assert f"idp-mapper corp/{admins_mapper}: created" in first.stdout
    assert f"idp-mapper partner/{users_mapper}: created" in first.stdout
    corp = idp_mappers(kc, name, "corp")
    assert corp[admins_mapper]["identityProviderMapper"] == "oidc-advanced-group-idp-mapper"
    assert json.loads(corp[admins_mapper]["config"]["claims"]) == [{"key": "groups", "value": "ml-admins"}]
    assert corp[admins_mapper]["config"]["group"] == f"/{ADMINS}"
    assert corp[admins_mapper]["config"]["syncMode"] == "FORCE"
    partner = idp_mappers(kc, name, "partner")
    assert partner[users_mapper]["identityProviderMapper"] == "saml-advanced-group-idp-mapper"
    assert json.loads(partner[users_mapper]["config"]["attributes"]) == [{"key": "memberOf", "value": "ml-users"}]

    mark = converged.mark()
    again = run(UPSTREAM_GROUPS=json.dumps(declared))
    assert f"idp-mapper corp/{admins_mapper}: unchanged" in again.stdout
    assert converged.writes(since=mark) == []

    dropped = run(UPSTREAM_GROUPS=json.dumps(declared[:1]))
    assert_ok(dropped)
    assert f"idp-mapper partner/{users_mapper}: deleted" in dropped.stdout
    assert set(idp_mappers(kc, name, "partner")) == set()
    assert set(idp_mappers(kc, name, "corp")) == {admins_mapper, "hand-made"}


def test_an_unknown_identity_provider_fails_naming_those_there_are(
    keycloak: KeycloakServer,  # noqa: F811
    converged: Realm,  # noqa: F811
    run: Run,  # noqa: F811
) -> None:
    add_identity_provider(keycloak, converged.name, "corp")
    upstream = [{"identityProvider": "crop", "claim": "groups", "value": "x", "group": ADMINS}]

    result = run(UPSTREAM_GROUPS=json.dumps(upstream))

    assert result.returncode == 1
    assert f"realm {converged.name} has no identity provider 'crop' (it has: corp)" in result.stderr


def test_remove_deletes_the_client_its_groups_and_mappers_and_nothing_else(
    keycloak: KeycloakServer,  # noqa: F811
    converged: Realm,  # noqa: F811
    run: Run,  # noqa: F811
) -> None:
    kc, name = keycloak, converged.name
    add_identity_provider(kc, name, "corp")
    upstream = [{"identityProvider": "corp", "claim": "groups", "value": "ml", "group": ADMINS}]
    assert_ok(run(UPSTREAM_GROUPS=json.dumps(upstream)))
    kc.create_group(name, "other-team-admins")
    kc.create_client(name, {"clientId": "other-team", "protocol": "openid-connect"})

    plan = run("--remove", "--dry-run", MLFLOW_URL=None, OIDC_CLIENT_SECRET=None)
    assert plan.stdout.splitlines() == [
        f"idp-mapper corp/mlflow-gitops:{CLIENT}:{ADMINS}:ml: would delete",
        f"group {ADMINS}: would delete",
        f"group {USERS}: would delete",
        f"client {CLIENT}: would delete",
    ]
    assert CLIENT in {c["clientId"] for c in kc.clients(name)}

    removed = run("--remove", MLFLOW_URL=None, OIDC_CLIENT_SECRET=None)

    assert_ok(removed)
    assert [line.rsplit(": ", 1)[1] for line in removed.stdout.splitlines()] == ["deleted"] * 4
    assert CLIENT not in {c["clientId"] for c in kc.clients(name)}
    assert "other-team" in {c["clientId"] for c in kc.clients(name)}
    assert kc.group_names(name) == ["other-team-admins"]
    assert kc.client_scope(name, "groups")["name"] == "groups", "the shared groups scope was removed"
    assert idp_mappers(kc, name, "corp") == {}

    again = run("--remove", MLFLOW_URL=None, OIDC_CLIENT_SECRET=None)
    assert_ok(again)
    assert again.stdout.splitlines() == [
        f"group {ADMINS}: absent",
        f"group {USERS}: absent",
        f"client {CLIENT}: absent",
    ]


def test_bad_membership_settings_exit_2_naming_the_variable(realm: Realm) -> None:  # noqa: F811
    result = run_script(
        "http://127.0.0.1:9",
        realm.name,
        GROUP_MEMBERS='{"mlflow-admins": "alice", "other": []}',
        UPSTREAM_GROUPS="[{",
        GROUP_MEMBERS_EXCLUSIVE="perhaps",
    )

    assert result.returncode == 2
    assert "GROUP_MEMBERS: mlflow-admins: must be a list of user names or emails, got 'alice'" in result.stderr
    assert "GROUP_MEMBERS: 'other' is not one of OIDC_GROUPS (mlflow-admins, mlflow-users)" in result.stderr
    assert "UPSTREAM_GROUPS must be JSON" in result.stderr
    assert "GROUP_MEMBERS_EXCLUSIVE must be true or false" in result.stderr
