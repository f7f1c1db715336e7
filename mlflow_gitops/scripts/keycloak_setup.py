"""Create or update MLflow's OIDC client in Keycloak without ever rotating its secret.

Runs inside a Kubernetes Job on an image with Python 3.11 and python-keycloak 7.1.1 only: this file is
standalone (standard library + python-keycloak and its dependencies, and jobkit.py shipped beside it).
It replaces a justfile that deleted and re-created the client on every install. Every object is
read first and written only when it differs from the desired state, so a second run makes no writes.
It never creates realms and never deletes anything it does not own; with --remove (the cleanup Job of a
retired instance) it deletes the instance's client, groups and mappers, and only those.

Usage: python keycloak_setup.py [--dry-run] [--remove]

Environment (a variable marked [file] may instead be read from the file named by <NAME>_FILE, e.g. a
mounted Secret key; trailing newlines of the file are dropped; setting both is an error):
  KEYCLOAK_URL               Keycloak base URL, e.g. https://auth.example.com (required)
  KEYCLOAK_REALM             realm that holds the MLflow client (required; must already exist)
  KEYCLOAK_ADMIN_REALM       realm of the admin login (default master)
  KEYCLOAK_ADMIN_CLIENT_ID   client used for the admin login (default admin-cli)
  KEYCLOAK_ADMIN_CLIENT_SECRET  that client's secret [file]: when set, the login is the client's own service
                             account (client credentials grant; no user and password), e.g. a client of the
                             MLflow realm holding only the realm-management roles names.KEYCLOAK_SETUP_ROLES lists
  KEYCLOAK_ADMIN_USER        admin user name (required without KEYCLOAK_ADMIN_CLIENT_SECRET) [file]
  KEYCLOAK_ADMIN_PASSWORD    admin password (required without KEYCLOAK_ADMIN_CLIENT_SECRET) [file]
  KEYCLOAK_VERIFY_TLS        true|false (default true)
  KEYCLOAK_CA_BUNDLE         CA bundle file used to verify Keycloak's certificate (optional)
  KEYCLOAK_TIMEOUT_SECONDS   timeout of each HTTP request (default 30)
  OIDC_CLIENT_ID             client id of the MLflow client (required)
  OIDC_CLIENT_SECRET         the client secret MLflow uses; set on the client as is (required) [file]
  OIDC_CLIENT_NAME           display name of the client (optional; when unset the name is not managed)
  OIDC_GROUPS                comma-separated top-level groups to ensure (required), e.g. mlflow-admins,mlflow-users
  OIDC_PKCE                  true|false: require PKCE S256 (default false)
  OIDC_GROUPS_CLAIM          claim the groups mapper writes (default groups): the server's OIDC_GROUPS_ATTRIBUTE
  MLFLOW_URL                 public base URL of MLflow, e.g. https://mlflow.example.com (required):
                             redirect <MLFLOW_URL>/callback, web origin, post-logout <MLFLOW_URL>/*
  GROUP_MEMBERS              JSON object: group (one of OIDC_GROUPS) -> list of user names or emails the group
                             must hold (optional; unset: memberships are not managed). A member the script added
                             and the list no longer names is removed; a membership made by hand never is.
                             What it added is kept in the group's attribute mlflow-gitops.managed-members.
  GROUP_MEMBERS_EXCLUSIVE    true|false (default false): the listed users are the whole membership of each group
                             in OIDC_GROUPS; every other member is removed, hand-made ones too
  CREATE_MISSING_USERS       true|false (default false): create a listed user that does not exist (enabled, no
                             password: they log in through an identity provider or get a reset by mail); false:
                             report it (`member <group>/<user>: missing`) and go on
  UPSTREAM_GROUPS            JSON list of {"identityProvider": alias, "claim": name, "value": group, "group":
                             one of OIDC_GROUPS}: at each login through that identity provider (oidc,
                             keycloak-oidc or saml) a user whose claim holds the value joins the group (and
                             leaves it when the claim no longer does). One mapper per entry, named
                             mlflow-gitops:<client>:<group>:<value>; the script's mappers no list names are removed.
  REMOVE                     true|false (default false), same as --remove: delete what the setup made for this
                             instance (the client, its groups, its identity-provider mappers); nothing else
  WAIT_ATTEMPTS              how many times to try reaching Keycloak (default 30)
  WAIT_DELAY_SECONDS         first delay between attempts, doubled each time up to 30 s (default 5)

Output: one line per object on stdout (`client mlflow: created|updated|unchanged`, with --dry-run
`would create|would update|unchanged`; an update names the changed fields in parentheses, e.g.
`client mlflow: updated (redirectUris, secret)`; memberships `member mlflow-admins/alice: added|removed|
unchanged|missing`; with --remove `deleted|absent`); diagnostics on stderr. No secret is ever printed.
Exit codes: 0 success, 1 failure (Keycloak unreachable, login refused, realm missing, API error),
2 invalid settings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakConnectionError, KeycloakError, KeycloakGetError

try:
    from mlflow_gitops.scripts import jobkit
except ImportError:  # in the pod: jobkit.py beside this script (the bootstrap ConfigMap)
    import jobkit  # type: ignore[no-redef]

ConfigError = jobkit.ConfigError
Failure = jobkit.Failure
say, warn = jobkit.say, jobkit.warn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

MAX_WAIT_DELAY_SECONDS = 30.0
OIDC = "openid-connect"
GROUPS_SCOPE = "groups"
GROUPS_MAPPER = "groups"
GROUPS_MAPPER_TYPE = "oidc-group-membership-mapper"
BUILTIN_SCOPES = ("profile", "email")
PKCE_ATTRIBUTE = "pkce.code.challenge.method"
POST_LOGOUT_ATTRIBUTE = "post.logout.redirect.uris"
MANAGED_MEMBERS = "mlflow-gitops.managed-members"
"""Group attribute: the ids of the users this script added to the group (the only ones it may remove)."""
MAPPER_PREFIX = "mlflow-gitops:"
UPSTREAM_MAPPER_TYPES = {  # identity provider type -> (mapper type, config key of the claims, its regex flag)
    "oidc": ("oidc-advanced-group-idp-mapper", "claims", "are.claim.values.regex"),
    "keycloak-oidc": ("oidc-advanced-group-idp-mapper", "claims", "are.claim.values.regex"),
    "saml": ("saml-advanced-group-idp-mapper", "attributes", "are.attribute.values.regex"),
}
PAST = {"create": "created", "update": "updated", "add": "added", "remove": "removed", "delete": "deleted"}
GROUPS_SCOPE_ATTRIBUTES = {"include.in.token.scope": "true", "display.on.consent.screen": "true"}
GROUPS_MAPPER_CONFIG = {
    "full.path": "false",
    "id.token.claim": "true",
    "access.token.claim": "true",
    "userinfo.token.claim": "true",
}
# Defaults Keycloak applies when a field is absent from a representation.
CLIENT_FIELD_DEFAULTS: dict[str, Any] = {
    "protocol": OIDC,
    "clientAuthenticatorType": "client-secret",
    "publicClient": False,
    "bearerOnly": False,
    "standardFlowEnabled": True,
    "implicitFlowEnabled": False,
    "directAccessGrantsEnabled": False,
    "serviceAccountsEnabled": False,
}


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class UpstreamGroup:
    """Members of an identity provider's group (a claim value) join one of the instance's groups at login."""

    identity_provider: str
    claim: str
    value: str
    group: str

    def mapper_name(self, client_id: str) -> str:
        return f"{MAPPER_PREFIX}{client_id}:{self.group}:{self.value}"


@dataclass(frozen=True)
class Settings:
    keycloak_url: str  # without trailing slash, for messages
    realm: str
    admin_realm: str
    admin_client_id: str
    admin_user: str  # empty with a client secret
    admin_password: str = field(repr=False)
    verify: bool | str
    timeout: float
    client_id: str
    client_secret: str = field(repr=False)
    client_name: str | None
    mlflow_url: str  # without trailing slash
    groups: tuple[str, ...]
    pkce: bool
    wait_attempts: int
    wait_delay: float
    groups_claim: str = "groups"
    members: Mapping[str, tuple[str, ...]] | None = None
    """group -> the users (names or emails) it must hold; None: memberships are not managed."""
    members_exclusive: bool = False
    create_users: bool = False
    upstream: tuple[UpstreamGroup, ...] | None = None
    """None: identity-provider mappers are not managed."""
    remove: bool = False

    @property
    def mapper_prefix(self) -> str:
        return f"{MAPPER_PREFIX}{self.client_id}:"

    @property
    def mapper_config(self) -> dict[str, str]:
        """The groups mapper's config: group names (no path) in the id token, access token and userinfo."""
        return {"claim.name": self.groups_claim, **GROUPS_MAPPER_CONFIG}

    @property
    def mlflow_origin(self) -> str:
        """scheme://host[:port] of MLFLOW_URL: a CORS web origin has no path."""
        parts = urlsplit(self.mlflow_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def server_url(self) -> str:
        # python-keycloak joins relative paths with urljoin: a trailing slash keeps a path prefix (/auth).
        return self.keycloak_url + "/"


class _Reader:
    """Reads variables, collecting every problem so one run reports them all."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.failed: set[str] = set()

    def raw(self, name: str, *, file_ok: bool = False) -> str | None:
        """The value (from NAME or the file named by NAME_FILE), None when unset or unreadable."""
        try:
            return jobkit.read_variable(self.environ, name, file_ok=file_ok)
        except ConfigError as exc:
            return self.problem(name, str(exc))

    def problem(self, name: str, message: str) -> None:
        self.failed.add(name)
        self.problems.append(message)

    def text(self, name: str, default: str | None = None, *, file_ok: bool = False, secret: bool = False) -> str:
        value = self.raw(name, file_ok=file_ok)
        if value is None:
            if default is not None:
                return default
            if name not in self.failed:
                hint = f" (or {name}_FILE)" if file_ok else ""
                self.problem(name, f"{name}{hint} is required but not set")
            return ""
        return value if secret else value.strip()

    def name(self, name: str, default: str | None = None, *, file_ok: bool = False) -> str:
        value = self.text(name, default, file_ok=file_ok)
        if value and (any(c.isspace() for c in value) or "/" in value):
            self.problems.append(f"{name} must not contain spaces or '/', got {value!r}")
        return value

    def url(self, name: str) -> str:
        value = self.text(name)
        if not value:
            return ""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.problems.append(f"{name} must be an http(s) URL such as https://host.example.com, got {value!r}")
        elif parts.query or parts.fragment or "*" in value:
            self.problems.append(f"{name} must be a plain base URL (no query, fragment or '*'), got {value!r}")
        return value.rstrip("/")

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return jobkit.parse_flag(value)
        except ValueError:
            self.problems.append(f"{name} must be true or false, got {value!r}")
            return default

    def number(self, name: str, default: float, *, integer: bool = False, minimum: float = 0.0) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            number = None
        if number is None or not math.isfinite(number) or number < minimum:
            kind = "an integer" if integer else "a number"
            self.problems.append(f"{name} must be {kind} >= {minimum:g}, got {value!r}")
            return default
        return number


def _json(r: _Reader, name: str, kind: type) -> Any:
    value = r.raw(name)
    if value is None:
        return None
    try:
        data = json.loads(value)
    except ValueError as exc:
        r.problems.append(f"{name} must be JSON ({exc.msg} at character {exc.pos})")
        return None
    if not isinstance(data, kind):
        r.problems.append(f"{name} must be a JSON {'object' if kind is dict else 'list'}, got {type(data).__name__}")
        return None
    return data


def _members(r: _Reader, groups: list[str]) -> dict[str, tuple[str, ...]] | None:
    data = _json(r, "GROUP_MEMBERS", dict)
    if data is None:
        return None
    members: dict[str, tuple[str, ...]] = {}
    for group, users in data.items():
        if group not in groups:
            r.problems.append(f"GROUP_MEMBERS: {group!r} is not one of OIDC_GROUPS ({', '.join(groups)})")
        elif not isinstance(users, list) or not all(isinstance(u, str) and u.strip() for u in users):
            r.problems.append(f"GROUP_MEMBERS: {group}: must be a list of user names or emails, got {users!r}")
        else:
            members[group] = tuple(dict.fromkeys(u.strip().lower() for u in users))
    return members


def _upstream(r: _Reader, groups: list[str]) -> tuple[UpstreamGroup, ...] | None:
    data = _json(r, "UPSTREAM_GROUPS", list)
    if data is None:
        return None
    keys = ("identityProvider", "claim", "value", "group")
    entries: list[UpstreamGroup] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or set(item) != set(keys) or not all(
            isinstance(item[k], str) and item[k].strip() for k in keys
        ):
            r.problems.append(f"UPSTREAM_GROUPS[{index}] must be an object of the strings {', '.join(keys)}, "
                              f"got {item!r}")
        elif item["group"] not in groups:
            r.problems.append(f"UPSTREAM_GROUPS[{index}].group: {item['group']!r} is not one of OIDC_GROUPS "
                              f"({', '.join(groups)})")
        else:
            entries.append(UpstreamGroup(*(item[k].strip() for k in keys)))
    return tuple(dict.fromkeys(entries))


def load_settings(environ: Mapping[str, str], *, remove: bool = False) -> Settings:
    r = _Reader(environ)
    remove = remove or r.flag("REMOVE", False)
    keycloak_url = r.url("KEYCLOAK_URL")
    realm = r.name("KEYCLOAK_REALM")
    admin_realm = r.name("KEYCLOAK_ADMIN_REALM", "master")
    admin_client_id = r.name("KEYCLOAK_ADMIN_CLIENT_ID", "admin-cli")
    admin_client_secret = r.text("KEYCLOAK_ADMIN_CLIENT_SECRET", "", file_ok=True, secret=True)
    if admin_client_secret:
        for name in ("KEYCLOAK_ADMIN_USER", "KEYCLOAK_ADMIN_PASSWORD"):
            if r.raw(name, file_ok=True) is not None:
                r.problem(name, f"{name} is set with KEYCLOAK_ADMIN_CLIENT_SECRET: the login is either the "
                                "client's service account or a user, not both")
        admin_user, admin_password = "", admin_client_secret
    else:
        admin_user = r.text("KEYCLOAK_ADMIN_USER", file_ok=True)
        admin_password = r.text("KEYCLOAK_ADMIN_PASSWORD", file_ok=True, secret=True)
    verify_tls = r.flag("KEYCLOAK_VERIFY_TLS", True)
    ca_bundle = r.raw("KEYCLOAK_CA_BUNDLE")
    verify: bool | str = verify_tls
    if ca_bundle is not None:
        ca_bundle = ca_bundle.strip()
        if not verify_tls:
            r.problems.append("KEYCLOAK_CA_BUNDLE is set but KEYCLOAK_VERIFY_TLS is false: choose one")
        elif not Path(ca_bundle).is_file():
            r.problems.append(f"KEYCLOAK_CA_BUNDLE: {ca_bundle} is not a readable file")
        else:
            verify = ca_bundle
    timeout = r.number("KEYCLOAK_TIMEOUT_SECONDS", 30.0, minimum=0.1)
    client_id = r.name("OIDC_CLIENT_ID")
    # Removing needs neither the secret nor the URL the client is set up with.
    client_secret = r.text("OIDC_CLIENT_SECRET", "" if remove else None, file_ok=True, secret=True)
    client_name = r.raw("OIDC_CLIENT_NAME")
    mlflow_url = "" if remove else r.url("MLFLOW_URL")
    groups_text = r.text("OIDC_GROUPS")
    groups: list[str] = []
    for item in groups_text.split(","):
        group = item.strip()
        if not group:
            continue
        if "/" in group:
            r.problems.append(f"OIDC_GROUPS: {group!r} must be a top-level group name (no '/')")
        elif group not in groups:
            groups.append(group)
    if groups_text and not groups:
        r.problems.append("OIDC_GROUPS must name at least one group")
    pkce = r.flag("OIDC_PKCE", False)
    groups_claim = r.raw("OIDC_GROUPS_CLAIM") or "groups"
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", groups_claim):
        r.problems.append(f"OIDC_GROUPS_CLAIM: {groups_claim!r} must be a claim name (letters, digits, '_', '.', '-')")
    members = _members(r, groups)
    upstream = _upstream(r, groups)
    members_exclusive = r.flag("GROUP_MEMBERS_EXCLUSIVE", False)
    create_users = r.flag("CREATE_MISSING_USERS", False)
    wait_attempts = int(r.number("WAIT_ATTEMPTS", 30, integer=True, minimum=1))
    wait_delay = r.number("WAIT_DELAY_SECONDS", 5.0, minimum=0.0)
    # Register secrets before anything can be printed.
    jobkit.hide((admin_password, client_secret))
    if r.problems:
        raise ConfigError("\n".join(r.problems))
    return Settings(
        keycloak_url=keycloak_url, realm=realm, admin_realm=admin_realm, admin_client_id=admin_client_id,
        admin_user=admin_user, admin_password=admin_password, verify=verify, timeout=timeout,
        client_id=client_id, client_secret=client_secret,
        client_name=client_name.strip() if client_name is not None else None,
        mlflow_url=mlflow_url, groups=tuple(groups), pkce=pkce, wait_attempts=wait_attempts,
        wait_delay=wait_delay, groups_claim=groups_claim, members=members,
        members_exclusive=members_exclusive, create_users=create_users, upstream=upstream, remove=remove,
    )


# ------------------------------------------------------------------------------------------ error texts


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """A one-line reason for a python-keycloak (or other) error, without response dumps."""
    if isinstance(exc, KeycloakConnectionError):
        # requests' ConnectionError wraps urllib3's MaxRetryError, whose .reason is the real failure
        cause = exc.__cause__
        inner = cause.args[0] if cause is not None and cause.args else cause
        reason = getattr(inner, "reason", None) or inner
        if reason is None:
            return "cannot connect"
        text = re.sub(r"^(<[^>]*>|\w+\([^)]*\)): ", "", str(reason))  # drop "HTTPConnection(host=..): "
        return f"cannot connect ({type(reason).__name__}: {_short(text, 200)})"
    if isinstance(exc, KeycloakError):
        detail = None
        body = exc.response_body
        if body:
            try:
                data = json.loads(body)
            except (ValueError, TypeError):
                data = None
            if isinstance(data, dict):
                for key in ("error_description", "errorMessage", "error", "message"):
                    if isinstance(data.get(key), str) and data[key]:
                        detail = data[key]
                        break
        if detail is None:
            message = exc.error_message
            detail = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
        detail = _short(detail) or type(exc).__name__
        return f"HTTP {exc.response_code}: {detail}" if exc.response_code else detail
    return _short(f"{type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------------------- connect + login


def connect(s: Settings) -> KeycloakOpenIDConnection:
    """The admin connection: logs in to the admin realm (as a user, or as the client's service account when
    there is no user), manages the target realm."""
    login: dict[str, Any] = (
        {"username": s.admin_user, "password": s.admin_password} if s.admin_user
        else {"client_secret_key": s.admin_password}
    )
    return KeycloakOpenIDConnection(
        server_url=s.server_url, realm_name=s.realm, user_realm_name=s.admin_realm, client_id=s.admin_client_id,
        verify=s.verify, timeout=s.timeout, **login,  # type: ignore[arg-type]
    )


def login_name(s: Settings) -> str:
    """Who logs in, for messages."""
    return f"user {s.admin_user}" if s.admin_user else f"the service account of client {s.admin_client_id}"


def wait_for_keycloak(s: Settings, connection: KeycloakOpenIDConnection) -> None:
    """Bounded retries with exponential backoff on the admin realm's discovery document."""
    url = f"{s.keycloak_url}/realms/{s.admin_realm}/.well-known/openid-configuration"
    oidc = connection.keycloak_openid  # the admin realm's OpenID client (also used for the login)
    delay = s.wait_delay
    reason = "no attempt made"
    for attempt in range(1, s.wait_attempts + 1):
        try:
            document = oidc.well_known()
            if isinstance(document, dict) and document.get("issuer"):
                warn(f"keycloak-setup: Keycloak answers at {url}")
                return
            reason = "the answer is not an OpenID configuration document"
        except (KeycloakError, TypeError, ValueError) as exc:
            reason = describe(exc)
        if attempt < s.wait_attempts:
            warn(f"keycloak-setup: [{attempt}/{s.wait_attempts}] Keycloak not ready at {url}: {reason}; "
                f"next try in {delay:g} s")
            time.sleep(delay)
            delay = min(delay * 2, MAX_WAIT_DELAY_SECONDS)
    attempts = f"{s.wait_attempts} attempt" + ("s" if s.wait_attempts != 1 else "")
    raise Failure(f"Keycloak did not answer at {url} after {attempts}: {reason}")


def login(s: Settings, connection: KeycloakOpenIDConnection) -> KeycloakAdmin:
    try:
        connection.get_token()
    except KeycloakError as exc:
        raise Failure(f"admin login to {s.keycloak_url} realm {s.admin_realm} as {login_name(s)} failed: "
                         f"{describe(exc)}") from None
    return KeycloakAdmin(connection=connection)


# -------------------------------------------------------------------------------------- desired state


def desired_client(s: Settings) -> dict[str, Any]:
    """The client fields this script owns (Keycloak keeps every other field as it is)."""
    rep: dict[str, Any] = {
        "clientId": s.client_id,
        **CLIENT_FIELD_DEFAULTS,
        "redirectUris": [f"{s.mlflow_url}/callback"],
        "webOrigins": [s.mlflow_origin],
        "attributes": {
            POST_LOGOUT_ATTRIBUTE: f"{s.mlflow_url}/*",
            PKCE_ATTRIBUTE: "S256" if s.pkce else "",  # Keycloak: "" means no PKCE
        },
    }
    if s.client_name is not None:
        rep["name"] = s.client_name
    return rep


def client_drift(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """Names of the owned fields whose current value differs from the desired one."""
    changed: list[str] = []
    for key, want in desired.items():
        if key == "attributes":
            have_attrs = current.get("attributes") or {}
            changed += [f"attributes.{k}" for k, v in want.items() if (have_attrs.get(k) or "") != v]
        elif key in ("redirectUris", "webOrigins"):
            if sorted(set(current.get(key) or [])) != sorted(set(want)):
                changed.append(key)
        else:
            have = current.get(key)
            if have is None:
                have = CLIENT_FIELD_DEFAULTS.get(key, "" if isinstance(want, str) else None)
            if have != want:
                changed.append(key)
    return changed


# ---------------------------------------------------------------------------------------------- the run


class Bootstrap:
    def __init__(self, admin: KeycloakAdmin, s: Settings, *, dry_run: bool) -> None:
        self.admin = admin
        self.s = s
        self.dry_run = dry_run
        self.step = "start"

    def report(self, kind: str, name: str, action: str, detail: str = "") -> None:
        """action: create | update | add | remove | delete, or a state (unchanged, missing, absent)."""
        if action not in PAST:
            verb = action
        elif self.dry_run:
            verb = f"would {action}"
        else:
            verb = PAST[action]
        say(f"{kind} {name}: {verb}" + (f" ({detail})" if detail else ""))

    def run(self) -> None:
        self.step = f"realm {self.s.realm}"
        self.check_realm()
        scopes = {scope.get("name"): scope for scope in self.admin.get_client_scopes()}
        missing = [name for name in BUILTIN_SCOPES if name not in scopes]
        if missing:
            raise Failure(f"realm {self.s.realm} has no client scope {', '.join(missing)}: the built-in "
                             "scopes carry the profile and email claims; restore them (this script does not "
                             "create or edit them)")
        client_uuid = self.ensure_client()
        groups_scope_id = self.ensure_groups_scope(scopes.get(GROUPS_SCOPE))
        self.ensure_groups_mapper(groups_scope_id)
        scope_ids = {name: scopes[name]["id"] for name in BUILTIN_SCOPES}
        scope_ids[GROUPS_SCOPE] = groups_scope_id
        self.ensure_default_scopes(client_uuid, scope_ids)
        group_ids = self.ensure_groups()
        if self.s.members is not None:
            for group in self.s.groups:
                self.ensure_members(group, group_ids.get(group))
        if self.s.upstream is not None:
            self.ensure_upstream_mappers()

    def remove(self) -> None:
        """The cleanup of a retired instance: its mappers, groups and client; the shared groups scope stays."""
        self.step = f"realm {self.s.realm}"
        self.check_realm()
        self.remove_upstream_mappers()
        groups = self.admin.get_groups({"briefRepresentation": True})
        existing = {group.get("name"): group.get("id") for group in groups}
        for name in self.s.groups:
            self.step = f"group {name}"
            if existing.get(name) is None:
                self.report("group", name, "absent")
                continue
            if not self.dry_run:
                self.admin.delete_group(existing[name])
            self.report("group", name, "delete")
        self.step = f"client {self.s.client_id}"
        client_uuid = self.admin.get_client_id(self.s.client_id)
        if client_uuid is None:
            self.report("client", self.s.client_id, "absent")
            return
        if not self.dry_run:
            self.admin.delete_client(client_uuid)
        self.report("client", self.s.client_id, "delete")

    def check_realm(self) -> None:
        try:
            self.admin.get_realm(self.s.realm)
        except KeycloakGetError as exc:
            if exc.response_code == 404:
                raise Failure(f"realm {self.s.realm} does not exist at {self.s.keycloak_url}; create it first "
                                 "(this script never creates realms)") from None
            if exc.response_code == 403:
                raise Failure(f"{login_name(self.s)} may not manage realm {self.s.realm} "
                                 f"({describe(exc)})") from None
            raise

    # client ------------------------------------------------------------------------------------------

    def current_secret(self, client_uuid: str) -> str | None:
        try:
            credential = self.admin.get_client_secrets(client_uuid)
        except KeycloakGetError:
            return None  # e.g. the client is currently public: the update below sets the secret
        value = credential.get("value") if isinstance(credential, dict) else None
        return value if isinstance(value, str) else None

    def ensure_client(self) -> str | None:
        s = self.s
        self.step = f"client {s.client_id}"
        desired = desired_client(s)
        client_uuid = self.admin.get_client_id(s.client_id)
        if client_uuid is None:
            if not self.dry_run:
                payload = {**desired, "enabled": True, "secret": s.client_secret,
                           "attributes": {k: v for k, v in desired["attributes"].items() if v}}
                client_uuid = self.admin.create_client(payload)
                self.check_secret(client_uuid)
            self.report("client", s.client_id, "create")
            return client_uuid
        changed = client_drift(self.admin.get_client(client_uuid), desired)
        if self.current_secret(client_uuid) != s.client_secret:
            changed.append("secret")
        if not changed:
            self.report("client", s.client_id, "unchanged")
            return client_uuid
        if not self.dry_run:
            # Keycloak's update merges: only the fields sent change, attributes not sent are kept.
            payload = {"id": client_uuid, **desired}
            if "secret" in changed:
                payload["secret"] = s.client_secret
            self.admin.update_client(client_uuid, payload)
            if "secret" in changed:
                self.check_secret(client_uuid)
        self.report("client", s.client_id, "update", ", ".join(changed))
        return client_uuid

    def check_secret(self, client_uuid: str) -> None:
        if self.current_secret(client_uuid) != self.s.client_secret:
            raise Failure(f"Keycloak did not keep the client secret of {self.s.client_id} as given "
                             "(a client policy may generate secrets); MLflow's OIDC_CLIENT_SECRET would not match")

    # groups scope + mapper ---------------------------------------------------------------------------

    def ensure_groups_scope(self, current: Mapping[str, Any] | None) -> str | None:
        self.step = f"client-scope {GROUPS_SCOPE}"
        if current is None:
            scope_id = None
            if not self.dry_run:
                scope_id = self.admin.create_client_scope({
                    "name": GROUPS_SCOPE,
                    "description": "Group membership (groups claim), managed by the MLflow bootstrap Job",
                    "protocol": OIDC,
                    "attributes": dict(GROUPS_SCOPE_ATTRIBUTES),
                })
            self.report("client-scope", GROUPS_SCOPE, "create")
            return scope_id
        scope_id = current["id"]
        attributes = current.get("attributes") or {}
        changed = [f"attributes.{k}" for k, v in GROUPS_SCOPE_ATTRIBUTES.items() if attributes.get(k) != v]
        if (current.get("protocol") or OIDC) != OIDC:
            changed.insert(0, "protocol")
        if not changed:
            self.report("client-scope", GROUPS_SCOPE, "unchanged")
            return scope_id
        if not self.dry_run:
            self.admin.update_client_scope(scope_id, {
                "id": scope_id, "name": GROUPS_SCOPE, "protocol": OIDC,
                "attributes": {**attributes, **GROUPS_SCOPE_ATTRIBUTES},
            })
        self.report("client-scope", GROUPS_SCOPE, "update", ", ".join(changed))
        return scope_id

    def ensure_groups_mapper(self, scope_id: str | None) -> None:
        name = f"{GROUPS_SCOPE}/{GROUPS_MAPPER}"
        self.step = f"mapper {name}"
        desired = {"name": GROUPS_MAPPER, "protocol": OIDC, "protocolMapper": GROUPS_MAPPER_TYPE,
                   "consentRequired": False, "config": self.s.mapper_config}
        mappers = self.admin.get_mappers_from_client_scope(scope_id) if scope_id else []
        current = next((m for m in mappers if m.get("name") == GROUPS_MAPPER), None)
        if current is None:
            if not self.dry_run:
                self.admin.add_mapper_to_client_scope(scope_id, desired)  # type: ignore[arg-type]
            self.report("mapper", name, "create")
            return
        if current.get("protocolMapper") != GROUPS_MAPPER_TYPE or (current.get("protocol") or OIDC) != OIDC:
            # A mapper's type cannot be changed in place: replace the mapper this script owns.
            if not self.dry_run:
                self.admin.delete_mapper_from_client_scope(scope_id, current["id"])  # type: ignore[arg-type]
                self.admin.add_mapper_to_client_scope(scope_id, desired)  # type: ignore[arg-type]
            self.report("mapper", name, "update", f"replaced mapper of type {current.get('protocolMapper')}")
            return
        config = current.get("config") or {}
        changed = [f"config.{k}" for k, v in self.s.mapper_config.items() if config.get(k) != v]
        if not changed:
            self.report("mapper", name, "unchanged")
            return
        if not self.dry_run:
            # Keycloak replaces a mapper's whole config: keep keys it added (e.g. lightweight.claim).
            self.admin.update_mapper_in_client_scope(scope_id, current["id"], {  # type: ignore[arg-type]
                **current, "config": {**config, **self.s.mapper_config},
            })
        self.report("mapper", name, "update", ", ".join(changed))

    # default client scopes of the client -------------------------------------------------------------

    def ensure_default_scopes(self, client_uuid: str | None, scope_ids: Mapping[str, str | None]) -> None:
        s = self.s
        wanted = [GROUPS_SCOPE, *BUILTIN_SCOPES]
        if client_uuid is None:  # dry run, client to be created: Keycloak attaches the realm's defaults
            self.step = "realm default client scopes"
            realm_defaults = {scope.get("name") for scope in self.admin.get_default_default_client_scopes()}
            for name in wanted:
                action = "unchanged" if name in realm_defaults else "create"
                self.report("default-scope", f"{s.client_id}/{name}", action,
                            "realm default" if action == "unchanged" else "")
            return
        self.step = f"default client scopes of {s.client_id}"
        defaults = {scope.get("name") for scope in self.admin.get_client_default_client_scopes(client_uuid)}
        missing = [name for name in wanted if name not in defaults]
        optional: set[str] = set()
        if missing:
            optional = {scope.get("name") for scope in self.admin.get_client_optional_client_scopes(client_uuid)}
        for name in wanted:
            label = f"{s.client_id}/{name}"
            self.step = f"default-scope {label}"
            if name in defaults:
                self.report("default-scope", label, "unchanged")
                continue
            scope_id = scope_ids.get(name)
            if not self.dry_run:
                assert scope_id is not None
                if name in optional:  # Keycloak links a scope once: as default or as optional
                    self.admin.delete_client_optional_client_scope(client_uuid, scope_id)
                self.admin.add_client_default_client_scope(
                    client_uuid, scope_id, {"realm": s.realm, "client": client_uuid, "clientScopeId": scope_id})
            if name in optional:
                self.report("default-scope", label, "update", "was optional")
            else:
                self.report("default-scope", label, "create")
        if missing and not self.dry_run:
            self.step = f"default client scopes of {s.client_id}"
            now = {scope.get("name") for scope in self.admin.get_client_default_client_scopes(client_uuid)}
            still = [name for name in wanted if name not in now]
            if still:
                raise Failure(f"Keycloak did not attach {', '.join(still)} as default client scope(s) of "
                                 f"{s.client_id} (is the scope's protocol {OIDC}?)")

    # groups ------------------------------------------------------------------------------------------

    def ensure_groups(self) -> dict[str, str]:
        """The top-level groups, made when missing; their ids (none for a group a dry run would create)."""
        self.step = "groups"
        groups = self.admin.get_groups({"briefRepresentation": True})
        existing = {group.get("name"): group.get("id") for group in groups}
        ids: dict[str, str] = {}
        for name in self.s.groups:
            self.step = f"group {name}"
            if existing.get(name) is not None:
                ids[name] = existing[name]
                self.report("group", name, "unchanged")
                continue
            if not self.dry_run:
                ids[name] = str(self.admin.create_group({"name": name}))
            self.report("group", name, "create")
        return ids

    # memberships -------------------------------------------------------------------------------------

    def find_user(self, who: str) -> list[dict[str, Any]]:
        """The users whose user name (or, for an address, email) is exactly `who`."""
        field_name = "email" if "@" in who else "username"
        found = self.admin.get_users({field_name: who, "exact": "true", "briefRepresentation": "true"})
        return [u for u in found if str(u.get(field_name, "")).lower() == who]

    def declared_users(self, group: str) -> dict[str, str]:
        """user id -> the name the config gives, for the users the group must hold (missing ones reported)."""
        wanted: dict[str, str] = {}
        for who in (self.s.members or {}).get(group, ()):
            self.step = f"member {group}/{who}"
            found = self.find_user(who)
            if len(found) > 1:
                self.report("member", f"{group}/{who}", "ambiguous",
                            f"{len(found)} users have this email; name the user name instead")
            elif found:
                wanted[found[0]["id"]] = who
            elif not self.s.create_users:
                self.report("member", f"{group}/{who}", "missing",
                            f"no such user in realm {self.s.realm}; not created (CREATE_MISSING_USERS=false)")
            else:
                user = {"username": who, "enabled": True, **({"email": who} if "@" in who else {})}
                user_id = "" if self.dry_run else self.admin.create_user(user, exist_ok=False)
                self.report("user", who, "create")
                wanted[user_id or f"new:{who}"] = who
        return wanted

    def ensure_members(self, group: str, group_id: str | None) -> None:
        """Adds the declared users; removes those it added earlier that are no longer declared (with
        GROUP_MEMBERS_EXCLUSIVE: every undeclared member). Its own additions are kept in MANAGED_MEMBERS."""
        wanted = self.declared_users(group)
        self.step = f"members of {group}"
        current: dict[str, str] = {}
        attributes: dict[str, Any] = {}
        if group_id is not None:
            members = self.admin.get_group_members(group_id, {"briefRepresentation": True})
            current = {m["id"]: str(m.get("username", m["id"])) for m in members}
            attributes = dict(self.admin.get_group(group_id).get("attributes") or {})
        managed = set(attributes.get(MANAGED_MEMBERS) or ())
        removable = set(current) if self.s.members_exclusive else managed & set(current)
        for user_id, who in sorted(wanted.items(), key=lambda item: item[1]):
            label = f"{group}/{who}"
            if user_id in current:
                self.report("member", label, "unchanged")
                continue
            if not self.dry_run:
                assert group_id is not None
                self.admin.group_user_add(user_id, group_id)
            self.report("member", label, "add")
        for user_id in sorted(removable - set(wanted), key=lambda uid: current[uid]):
            if not self.dry_run:
                assert group_id is not None
                self.admin.group_user_remove(user_id, group_id)
            self.report("member", f"{group}/{current[user_id]}", "remove",
                        "hand-made membership, GROUP_MEMBERS_EXCLUSIVE" if user_id not in managed else "")
        # Ours from now on: what we added, and (exclusive) every declared member; hand-made ones stay hand-made.
        added = {uid for uid in wanted if uid not in current}
        kept = set(wanted) & set(current) & (set(current) if self.s.members_exclusive else managed)
        now = sorted(added | kept)
        if group_id is not None and not self.dry_run and sorted(managed) != now:
            self.admin.update_group(group_id, {"name": group, "attributes": {**attributes, MANAGED_MEMBERS: now}})

    # identity-provider group mappers -----------------------------------------------------------------

    def owned_mappers(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(identity provider, mapper name) -> the mappers this script made for this client."""
        self.step = "identity providers"
        owned: dict[tuple[str, str], dict[str, Any]] = {}
        for idp in self.admin.get_idps():
            alias = idp["alias"]
            for mapper in self.admin.get_idp_mappers(alias):
                if str(mapper.get("name", "")).startswith(self.s.mapper_prefix):
                    owned[(alias, mapper["name"])] = mapper
        return owned

    def ensure_upstream_mappers(self) -> None:
        owned = self.owned_mappers()
        providers = {idp["alias"]: idp.get("providerId") for idp in self.admin.get_idps()}
        for entry in self.s.upstream or ():
            name = entry.mapper_name(self.s.client_id)
            label = f"{entry.identity_provider}/{name}"
            self.step = f"idp-mapper {label}"
            kind = providers.get(entry.identity_provider)
            if entry.identity_provider not in providers:
                raise Failure(f"realm {self.s.realm} has no identity provider {entry.identity_provider!r} "
                              f"(it has: {', '.join(sorted(providers)) or 'none'}); add it first")
            if kind not in UPSTREAM_MAPPER_TYPES:
                raise Failure(f"identity provider {entry.identity_provider} is of type {kind}; upstream groups "
                              f"work with {', '.join(UPSTREAM_MAPPER_TYPES)} providers")
            mapper_type, claims_key, regex_key = UPSTREAM_MAPPER_TYPES[kind]
            config = {
                "syncMode": "FORCE",
                claims_key: json.dumps([{"key": entry.claim, "value": entry.value}], separators=(",", ":")),
                regex_key: "false",
                "group": f"/{entry.group}",
            }
            desired = {"name": name, "identityProviderAlias": entry.identity_provider,
                       "identityProviderMapper": mapper_type, "config": config}
            current = owned.pop((entry.identity_provider, name), None)
            if current is None:
                if not self.dry_run:
                    self.admin.add_mapper_to_idp(entry.identity_provider, desired)
                self.report("idp-mapper", label, "create")
                continue
            have = current.get("config") or {}
            changed = [f"config.{k}" for k, v in config.items() if have.get(k) != v]
            if current.get("identityProviderMapper") != mapper_type:
                changed.insert(0, "identityProviderMapper")
            if not changed:
                self.report("idp-mapper", label, "unchanged")
                continue
            if not self.dry_run:
                self.admin.update_mapper_in_idp(entry.identity_provider, current["id"],
                                                {**desired, "id": current["id"]})
            self.report("idp-mapper", label, "update", ", ".join(changed))
        self.delete_mappers(owned)

    def remove_upstream_mappers(self) -> None:
        self.delete_mappers(self.owned_mappers())

    def delete_mappers(self, mappers: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        for (alias, name), mapper in sorted(mappers.items()):
            self.step = f"idp-mapper {alias}/{name}"
            if not self.dry_run:
                path = f"admin/realms/{self.s.realm}/identity-provider/instances/{alias}/mappers/{mapper['id']}"
                response = self.admin.connection.raw_delete(path)
                if response.status_code not in (204, 404):
                    raise Failure(f"deleting mapper {name} of identity provider {alias}: HTTP {response.status_code}")
            self.report("idp-mapper", f"{alias}/{name}", "delete")


# ------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keycloak_setup.py",
        description="Create or update MLflow's OIDC client, groups scope and groups in Keycloak (idempotent).",
        epilog="Settings come from environment variables: see the module docstring.",
    )
    parser.add_argument("--dry-run", action="store_true", help="log in and read, print the plan, change nothing")
    parser.add_argument("--remove", action="store_true",
                        help="delete the client, groups and mappers the setup made (a retired instance's cleanup)")
    args = parser.parse_args(argv)
    try:
        s = load_settings(os.environ if environ is None else environ, remove=args.remove)
    except ConfigError as exc:
        for problem in str(exc).splitlines():
            warn(f"keycloak-setup: configuration error: {problem}")
        return EXIT_CONFIG
    bootstrap: Bootstrap | None = None
    try:
        connection = connect(s)
        wait_for_keycloak(s, connection)
        admin = login(s, connection)
        bootstrap = Bootstrap(admin, s, dry_run=args.dry_run)
        bootstrap.remove() if s.remove else bootstrap.run()
    except Failure as exc:
        warn(f"keycloak-setup: {exc}")
        return EXIT_FAILED
    except Exception as exc:  # report any failure in one redacted line, never a dump of a response
        where = f" at {bootstrap.step}" if bootstrap else ""
        if isinstance(exc, KeycloakConnectionError):
            warn(f"keycloak-setup: lost connection to Keycloak at {s.keycloak_url}{where}: {describe(exc)}")
        else:
            warn(f"keycloak-setup: failed{where} (realm {s.realm}): {describe(exc)}")
        return EXIT_FAILED
    warn("keycloak-setup: dry run, nothing changed" if args.dry_run else "keycloak-setup: done")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
