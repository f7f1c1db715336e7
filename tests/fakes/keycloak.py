"""A stateful fake of Keycloak's HTTP API (token, discovery and the admin REST endpoints a bootstrap uses).

A real HTTP server (ThreadingHTTPServer on 127.0.0.1, port 0): python-keycloak's real requests go through
it. It keeps what Keycloak would store and answers with Keycloak's payload shapes
(ClientRepresentation, ClientScopeRepresentation, ProtocolMapperRepresentation, GroupRepresentation,
CredentialRepresentation) and Keycloak's write semantics where they matter:

- client update (PUT) changes only the fields sent; attributes are merged key by key ("" is stored);
- a new client gets the realm's default (and optional) client scopes of its protocol, unless the
  payload lists defaultClientScopes / optionalClientScopes;
- linking a client scope that is already linked (as default or optional), or of another protocol,
  is silently ignored (204), as Keycloak's JPA store does;
- a mapper update replaces the mapper's whole config and needs the mapper id in the payload;
- admin endpoints need a bearer token issued by the admin realm (401 otherwise).

Test helpers: `with FakeKeycloak() as kc:` (or start/stop), inspection (client, client_secret,
client_scope, mapper, default_scope_names, group_names, snapshot), drift injection (patch_client,
remove_mapper, patch_mapper_config, detach_default_scope, ...), availability (go_down/come_up with
modes "refuse", "error", "hang") and a request log (requests, writes).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

OIDC = "openid-connect"
SAML = "saml"
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
TOKEN_PATH = re.compile(r"^/realms/[^/]+/protocol/openid-connect/token$")

Json = dict[str, Any]

# Fields of a ClientRepresentation that Keycloak's updateClient copies when present (not null).
CLIENT_SCALAR_FIELDS = (
    "clientId", "name", "description", "rootUrl", "adminUrl", "baseUrl", "enabled", "alwaysDisplayInConsole",
    "bearerOnly", "consentRequired", "standardFlowEnabled", "implicitFlowEnabled", "directAccessGrantsEnabled",
    "serviceAccountsEnabled", "publicClient", "fullScopeAllowed", "frontchannelLogout", "surrogateAuthRequired",
    "nodeReRegistrationTimeout", "clientAuthenticatorType", "protocol", "notBefore", "secret",
)
CLIENT_BOOLEAN_FIELDS = frozenset({
    "enabled", "alwaysDisplayInConsole", "bearerOnly", "consentRequired", "standardFlowEnabled",
    "implicitFlowEnabled", "directAccessGrantsEnabled", "serviceAccountsEnabled", "publicClient",
    "fullScopeAllowed", "frontchannelLogout", "surrogateAuthRequired",
})


def _client_defaults() -> Json:
    return {
        "name": "", "description": "", "rootUrl": "", "adminUrl": "", "baseUrl": "", "surrogateAuthRequired": False,
        "enabled": True, "alwaysDisplayInConsole": False, "clientAuthenticatorType": "client-secret",
        "redirectUris": [], "webOrigins": [], "notBefore": 0, "bearerOnly": False, "consentRequired": False,
        "standardFlowEnabled": True, "implicitFlowEnabled": False, "directAccessGrantsEnabled": True,
        "serviceAccountsEnabled": False, "publicClient": True, "frontchannelLogout": True,
        "protocol": OIDC, "attributes": {}, "authenticationFlowBindingOverrides": {}, "fullScopeAllowed": True,
        "nodeReRegistrationTimeout": -1,
    }


def _mapper(name: str, mapper_type: str, config: dict[str, str], protocol: str = OIDC) -> Json:
    return {"id": str(uuid.uuid4()), "name": name, "protocol": protocol, "protocolMapper": mapper_type,
            "consentRequired": False, "config": dict(config)}


def _claim(attribute: str, claim: str, json_type: str = "String", **extra: str) -> dict[str, str]:
    return {"user.attribute": attribute, "claim.name": claim, "jsonType.label": json_type, "id.token.claim": "true",
            "access.token.claim": "true", "userinfo.token.claim": "true", "introspection.token.claim": "true",
            **extra}


def builtin_client_scopes() -> list[Json]:
    """The client scopes a new Keycloak realm starts with (a representative subset of their mappers)."""
    token_flags = {"id.token.claim": "true", "access.token.claim": "true", "userinfo.token.claim": "true"}
    return [
        {"name": "profile", "description": "OpenID Connect built-in scope: profile", "protocol": OIDC,
         "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "true",
                        "consent.screen.text": "${profileScopeConsentText}"},
         "protocolMappers": [
             _mapper("username", "oidc-usermodel-attribute-mapper", _claim("username", "preferred_username")),
             _mapper("full name", "oidc-full-name-mapper", dict(token_flags)),
             _mapper("given name", "oidc-usermodel-attribute-mapper", _claim("firstName", "given_name")),
             _mapper("family name", "oidc-usermodel-attribute-mapper", _claim("lastName", "family_name")),
         ]},
        {"name": "email", "description": "OpenID Connect built-in scope: email", "protocol": OIDC,
         "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "true",
                        "consent.screen.text": "${emailScopeConsentText}"},
         "protocolMappers": [
             _mapper("email", "oidc-usermodel-attribute-mapper", _claim("email", "email")),
             _mapper("email verified", "oidc-usermodel-property-mapper",
                     _claim("emailVerified", "email_verified", "boolean")),
         ]},
        {"name": "roles", "description": "OpenID Connect scope for add user roles to the access token",
         "protocol": OIDC,
         "attributes": {"include.in.token.scope": "false", "display.on.consent.screen": "true",
                        "consent.screen.text": "${rolesScopeConsentText}"},
         "protocolMappers": [
             _mapper("realm roles", "oidc-usermodel-realm-role-mapper",
                     {"claim.name": "realm_access.roles", "multivalued": "true", "access.token.claim": "true"}),
             _mapper("client roles", "oidc-usermodel-client-role-mapper",
                     {"claim.name": "resource_access.${client_id}.roles", "multivalued": "true",
                      "access.token.claim": "true"}),
             _mapper("audience resolve", "oidc-audience-resolve-mapper", {}),
         ]},
        {"name": "web-origins", "description": "OpenID Connect scope for add allowed web origins to the access token",
         "protocol": OIDC,
         "attributes": {"include.in.token.scope": "false", "display.on.consent.screen": "false"},
         "protocolMappers": [_mapper("allowed web origins", "oidc-allowed-origins-mapper", {})]},
        {"name": "offline_access", "description": "OpenID Connect built-in scope: offline_access", "protocol": OIDC,
         "attributes": {"display.on.consent.screen": "true", "consent.screen.text": "${offlineAccessScopeConsentText}"},
         "protocolMappers": []},
        {"name": "phone", "description": "OpenID Connect built-in scope: phone", "protocol": OIDC,
         "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "true"},
         "protocolMappers": [_mapper("phone number", "oidc-usermodel-attribute-mapper",
                                     _claim("phoneNumber", "phone_number"))]},
        {"name": "role_list", "description": "SAML role list", "protocol": SAML,
         "attributes": {"display.on.consent.screen": "true"},
         "protocolMappers": [_mapper("role list", "saml-role-list-mapper",
                                     {"single": "false", "attribute.name": "Role"}, protocol=SAML)]},
    ]


REALM_DEFAULT_SCOPES = ("profile", "email", "roles", "web-origins", "role_list")
REALM_OPTIONAL_SCOPES = ("offline_access", "phone")


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str = ""
    status: int = 0


@dataclass
class Realm:
    name: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    clients: dict[str, Json] = field(default_factory=dict)  # uuid -> ClientRepresentation (with secret)
    client_scopes: dict[str, Json] = field(default_factory=dict)  # id -> ClientScopeRepresentation
    client_default_scopes: dict[str, list[str]] = field(default_factory=dict)  # client uuid -> scope ids
    client_optional_scopes: dict[str, list[str]] = field(default_factory=dict)
    default_scopes: list[str] = field(default_factory=list)  # realm "default default" scope ids
    optional_scopes: list[str] = field(default_factory=list)
    groups: dict[str, Json] = field(default_factory=dict)  # id -> {id, name, parent, attributes}
    users: dict[str, str] = field(default_factory=dict)  # username -> password


class HTTPError(Exception):
    def __init__(self, status: int, body: Json | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body if body is not None else {"error": f"HTTP {status}"}


def _not_found(what: str) -> HTTPError:
    return HTTPError(404, {"error": f"Could not find {what}"})


def _bad_request(message: str) -> HTTPError:
    return HTTPError(400, {"errorMessage": message})


def _conflict(message: str) -> HTTPError:
    return HTTPError(409, {"errorMessage": message})


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


Route = tuple[str, re.Pattern[str], Callable[..., Response]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeKeycloak


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in one go: no delayed-ACK stalls per request
    wbufsize = 64 * 1024  # flushed by handle_one_request after each response
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the request log instead

    def do_GET(self) -> None:
        self.server.fake._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._serve(self, "POST")

    def do_PUT(self) -> None:
        self.server.fake._serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.fake._serve(self, "DELETE")


class FakeKeycloak:
    """A Keycloak on 127.0.0.1 with an admin realm (admin user + admin-cli) and target realms."""

    def __init__(self, *, admin_realm: str = "master", admin_user: str = "admin",
                 admin_password: str = "admin-password", realms: tuple[str, ...] = ("buunstack",),
                 token_lifespan: int = 300) -> None:
        self.admin_realm = admin_realm
        self.token_lifespan = token_lifespan
        self._lock = threading.RLock()
        self._realms: dict[str, Realm] = {}
        self._tokens: dict[str, tuple[str, str, float]] = {}  # access token -> (realm, user, expiry)
        self._refresh_tokens: dict[str, tuple[str, str]] = {}  # refresh token -> (realm, user)
        self._log: list[LoggedRequest] = []
        self._mode: str | None = None
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._routes = self._build_routes()
        self.add_realm(admin_realm)
        self.add_user(admin_realm, admin_user, admin_password)
        for name in realms:
            self.add_realm(name)

    # ------------------------------------------------------------------------------------- lifecycle

    def start(self) -> FakeKeycloak:
        self._listen()
        return self

    def stop(self) -> None:
        self._release.set()
        self._close_server()

    def __enter__(self) -> FakeKeycloak:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("FakeKeycloak is not started")
        return f"http://127.0.0.1:{self._port}"

    def _listen(self) -> None:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-keycloak-{self._port}", daemon=True)
        self._thread.start()

    def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # keep-alive connections would otherwise still be answered
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ---------------------------------------------------------------------------------- availability

    def go_down(self, mode: str = "refuse") -> None:
        """Stop answering. refuse: nothing listens on the port; error: every request gets 503;
        hang: requests are read but never answered."""
        if mode not in ("refuse", "error", "hang"):
            raise ValueError(f"unknown mode {mode!r}")
        self._mode = mode
        if mode == "refuse":
            self._close_server()
        else:
            self._release.clear()

    def come_up(self) -> None:
        mode, self._mode = self._mode, None
        self._release.set()
        if mode == "refuse" and self._server is None:
            self._listen()

    @contextmanager
    def down(self, mode: str = "refuse") -> Iterator[None]:
        self.go_down(mode)
        try:
            yield
        finally:
            self.come_up()

    # ----------------------------------------------------------------------------------- request log

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def mark(self) -> int:
        """A position in the request log, for requests_since / writes(since=...)."""
        with self._lock:
            return len(self._log)

    def requests_since(self, mark: int) -> list[LoggedRequest]:
        with self._lock:
            return self._log[mark:]

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        """(method, path) of the admin API writes (POST/PUT/DELETE; logins are not writes)."""
        return [(r.method, r.path) for r in self.requests_since(since)
                if r.method in WRITE_METHODS and r.path.startswith("/admin/")]

    # --------------------------------------------------------------------------------- state setup

    def add_realm(self, name: str, *, default_scopes: tuple[str, ...] = REALM_DEFAULT_SCOPES,
                  optional_scopes: tuple[str, ...] = REALM_OPTIONAL_SCOPES) -> None:
        """A realm like a fresh Keycloak one. default_scopes=() models a realm whose new clients do not
        get profile/email attached."""
        with self._lock:
            realm = Realm(name=name)
            self._realms[name] = realm
            for scope in builtin_client_scopes():
                self._store_scope(realm, scope)
            by_name = {s["name"]: s["id"] for s in realm.client_scopes.values()}
            realm.default_scopes = [by_name[n] for n in default_scopes]
            realm.optional_scopes = [by_name[n] for n in optional_scopes]
            self._store_client(realm, {"clientId": "admin-cli", "name": "${client_admin-cli}", "publicClient": True,
                                       "standardFlowEnabled": False, "directAccessGrantsEnabled": True})
            self._store_client(realm, {"clientId": "account", "name": "${client_account}", "publicClient": True,
                                       "redirectUris": [f"/realms/{name}/account/*"],
                                       "directAccessGrantsEnabled": False})
            self._store_client(realm, {"clientId": "realm-management", "bearerOnly": True, "publicClient": False,
                                       "directAccessGrantsEnabled": False})

    def add_user(self, realm: str, username: str, password: str) -> None:
        with self._lock:
            self._realm(realm).users[username] = password

    def create_client(self, realm: str, rep: Json) -> str:
        """Add a client directly (e.g. a foreign one), as the admin API would; returns its uuid."""
        with self._lock:
            return self._store_client(self._realm(realm), copy.deepcopy(rep))

    def create_group(self, realm: str, name: str, parent: str | None = None) -> str:
        with self._lock:
            r = self._realm(realm)
            parent_id = None if parent is None else self._group_by_name(r, parent)["id"]
            return self._store_group(r, {"name": name}, parent_id)

    def create_client_scope(self, realm: str, rep: Json) -> str:
        with self._lock:
            return self._store_scope(self._realm(realm), copy.deepcopy(rep))

    # ---------------------------------------------------------------------------------- inspection

    def realm_names(self) -> list[str]:
        with self._lock:
            return list(self._realms)

    def client(self, realm: str, client_id: str) -> Json | None:
        """The ClientRepresentation (with secret and scope names), or None."""
        with self._lock:
            r = self._realm(realm)
            found = self._client_by_client_id(r, client_id)
            return None if found is None else self._client_rep(r, found)

    def clients(self, realm: str) -> list[Json]:
        with self._lock:
            r = self._realm(realm)
            return [self._client_rep(r, c) for c in r.clients.values()]

    def client_secret(self, realm: str, client_id: str) -> str | None:
        client = self.client(realm, client_id)
        return None if client is None else client.get("secret")

    def client_scope(self, realm: str, name: str) -> Json | None:
        with self._lock:
            r = self._realm(realm)
            scope = self._scope_by_name(r, name)
            return None if scope is None else copy.deepcopy(scope)

    def client_scope_names(self, realm: str) -> list[str]:
        with self._lock:
            return sorted(s["name"] for s in self._realm(realm).client_scopes.values())

    def mapper(self, realm: str, scope: str, name: str) -> Json | None:
        found = self.client_scope(realm, scope)
        if found is None:
            return None
        return next((m for m in found["protocolMappers"] if m["name"] == name), None)

    def default_scope_names(self, realm: str, client_id: str) -> list[str]:
        return self._linked_scope_names(realm, client_id, default=True)

    def optional_scope_names(self, realm: str, client_id: str) -> list[str]:
        return self._linked_scope_names(realm, client_id, default=False)

    def group_names(self, realm: str) -> list[str]:
        """Top-level group names."""
        with self._lock:
            return sorted(g["name"] for g in self._realm(realm).groups.values() if g["parent"] is None)

    def group_paths(self, realm: str) -> list[str]:
        with self._lock:
            r = self._realm(realm)
            return sorted(self._group_path(r, g) for g in r.groups.values())

    def snapshot(self) -> Json:
        """Everything stored (not tokens): compare before/after a run, or restore() into another fake."""
        with self._lock:
            return copy.deepcopy({name: vars(r) for name, r in self._realms.items()})

    def restore(self, snapshot: Json) -> None:
        """Replace all stored state (realms, users, clients, ...) with a snapshot()."""
        with self._lock:
            self._realms = {name: Realm(**copy.deepcopy(state)) for name, state in snapshot.items()}

    # ------------------------------------------------------------------------------- drift injection

    def patch_client(self, realm: str, client_id: str, **fields: Any) -> None:
        """Set client fields directly; `attributes` is merged (None removes a key)."""
        with self._lock:
            client = self._require_client(self._realm(realm), client_id)
            for key, value in fields.items():
                if key == "attributes":
                    for k, v in value.items():
                        if v is None:
                            client["attributes"].pop(k, None)
                        else:
                            client["attributes"][k] = v
                else:
                    client[key] = copy.deepcopy(value)

    def remove_mapper(self, realm: str, scope: str, name: str) -> None:
        with self._lock:
            found = self._scope_by_name(self._realm(realm), scope)
            if found is None:
                raise KeyError(scope)
            found["protocolMappers"] = [m for m in found["protocolMappers"] if m["name"] != name]

    def patch_mapper_config(self, realm: str, scope: str, name: str, **config: str) -> None:
        with self._lock:
            found = self._scope_by_name(self._realm(realm), scope)
            mapper = next(m for m in (found or {}).get("protocolMappers", []) if m["name"] == name)
            mapper["config"].update(config)

    def delete_client_scope(self, realm: str, name: str) -> None:
        """Delete a client scope and its links, as the admin API does."""
        with self._lock:
            r = self._realm(realm)
            self._delete_scope(r, scope_id=self._require_scope_by_name(r, name)["id"])

    def detach_default_scope(self, realm: str, client_id: str, scope: str) -> None:
        with self._lock:
            r = self._realm(realm)
            client = self._require_client(r, client_id)
            scope_id = self._require_scope_by_name(r, scope)["id"]
            r.client_default_scopes[client["id"]].remove(scope_id)

    def attach_optional_scope(self, realm: str, client_id: str, scope: str) -> None:
        """Link a scope as optional (first unlinking it as default), as an admin could."""
        with self._lock:
            r = self._realm(realm)
            client = self._require_client(r, client_id)
            scope_id = self._require_scope_by_name(r, scope)["id"]
            if scope_id in r.client_default_scopes[client["id"]]:
                r.client_default_scopes[client["id"]].remove(scope_id)
            r.client_optional_scopes[client["id"]].append(scope_id)

    # ============================================================================ HTTP dispatching

    def _serve(self, h: _Handler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        entry = LoggedRequest(method, parts.path, parts.query)
        with self._lock:
            self._log.append(entry)
        mode = self._mode
        if mode == "hang":
            self._release.wait()
            h.close_connection = True
            return
        if mode == "error":
            response = Response(503, "Service Unavailable")
        else:
            try:
                response = self._dispatch(method, parts.path, parse_qs(parts.query), h, body)
            except HTTPError as exc:
                response = Response(exc.status, exc.body)
            except Exception as exc:  # a bug in the fake: answer like a server error, keep serving
                response = Response(500, {"error": "unknown_error", "error_description": repr(exc)})
        entry.status = response.status
        self._send(h, response)

    @staticmethod
    def _send(h: _Handler, response: Response) -> None:
        if response.body is None:
            payload, content_type = b"", None
        elif isinstance(response.body, str):
            payload, content_type = response.body.encode(), "text/plain;charset=UTF-8"
        else:
            payload, content_type = json.dumps(response.body).encode(), "application/json"
        h.send_response(response.status)
        if content_type:
            h.send_header("Content-Type", content_type)
        for key, value in response.headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if payload:
            h.wfile.write(payload)

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], h: _Handler, body: bytes) -> Response:
        path_matched = False
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if route_method != method:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            with self._lock:
                if path.startswith("/admin/"):
                    self._authorize(h.headers.get("Authorization", ""))
                realm = self._realms.get(params.pop("realm"))
                if realm is None:
                    raise HTTPError(404, {"error": "Realm not found."} if path.startswith("/admin/")
                                    else {"error": "Realm does not exist"})
                return handler(realm, query=query, body=body, headers=h.headers, **params)
        if path_matched:
            raise HTTPError(405, {"error": "HTTP 405 Method Not Allowed"})
        raise HTTPError(404, {"error": f"RESTEASY003210: Could not find resource for full path: {path}"})

    def _build_routes(self) -> list[Route]:
        realm = r"/realms/(?P<realm>[^/]+)"
        admin = r"/admin/realms/(?P<realm>[^/]+)"
        client = admin + r"/clients/(?P<client_uuid>[^/]+)"
        scope = admin + r"/client-scopes/(?P<scope_id>[^/]+)"
        group = admin + r"/groups/(?P<group_id>[^/]+)"
        table: list[tuple[str, str, Callable[..., Response]]] = [
            ("POST", realm + r"/protocol/openid-connect/token", self._token),
            ("GET", realm + r"/\.well-known/openid-configuration", self._well_known),
            ("GET", admin, self._get_realm),
            ("GET", admin + r"/clients", self._list_clients),
            ("POST", admin + r"/clients", self._create_client),
            ("GET", client, self._get_client),
            ("PUT", client, self._update_client),
            ("DELETE", client, self._delete_client),
            ("GET", client + r"/client-secret", self._get_secret),
            ("POST", client + r"/client-secret", self._regenerate_secret),
            ("GET", client + r"/(?P<kind>default|optional)-client-scopes", self._client_linked_scopes),
            ("PUT", client + r"/(?P<kind>default|optional)-client-scopes/(?P<scope_id>[^/]+)", self._link_scope),
            ("DELETE", client + r"/(?P<kind>default|optional)-client-scopes/(?P<scope_id>[^/]+)",
             self._unlink_scope),
            ("GET", admin + r"/client-scopes", self._list_scopes),
            ("POST", admin + r"/client-scopes", self._create_scope),
            ("GET", scope, self._get_scope),
            ("PUT", scope, self._update_scope),
            ("DELETE", scope, self._delete_scope),
            ("GET", scope + r"/protocol-mappers/models", self._list_mappers),
            ("POST", scope + r"/protocol-mappers/models", self._create_mapper),
            ("GET", scope + r"/protocol-mappers/models/(?P<mapper_id>[^/]+)", self._get_mapper),
            ("PUT", scope + r"/protocol-mappers/models/(?P<mapper_id>[^/]+)", self._update_mapper),
            ("DELETE", scope + r"/protocol-mappers/models/(?P<mapper_id>[^/]+)", self._delete_mapper),
            ("GET", admin + r"/(?P<kind>default|optional)-default-client-scopes", self._realm_default_scopes),
            ("GET", admin + r"/(?P<kind>default|optional)-optional-client-scopes", self._realm_default_scopes),
            ("GET", admin + r"/groups", self._list_groups),
            ("POST", admin + r"/groups", self._create_group),
            ("GET", group, self._get_group),
            ("PUT", group, self._update_group),
            ("DELETE", group, self._delete_group),
            ("GET", group + r"/children", self._list_children),
            ("POST", group + r"/children", self._create_child),
        ]
        return [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in table]

    def _authorize(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        entry = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if entry is None or entry[2] < time.time():
            raise HTTPError(401, {"error": "HTTP 401 Unauthorized"})
        if entry[0] != self.admin_realm:
            raise HTTPError(403, {"error": "HTTP 403 Forbidden"})

    @staticmethod
    def _json_body(body: bytes) -> Any:
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise _bad_request("Unable to parse the request body as JSON") from None

    def _json_object(self, body: bytes) -> Json:
        data = self._json_body(body)
        if not isinstance(data, dict):
            raise _bad_request("expected a JSON object")
        return data

    @staticmethod
    def _page(items: list[Json], query: dict[str, list[str]]) -> list[Json]:
        first = int(query.get("first", ["0"])[0] or 0)
        maximum = query.get("max", [""])[0]
        end = first + int(maximum) if maximum not in ("", "-1") else None
        return items[first:end]

    def _location(self, realm: Realm, *parts: str) -> dict[str, str]:
        return {"Location": f"{self.url}/admin/realms/{realm.name}/" + "/".join(parts)}

    # ------------------------------------------------------------------------- token + discovery

    def _token(self, realm: Realm, *, body: bytes, **_: Any) -> Response:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        client = self._client_by_client_id(realm, form.get("client_id", ""))
        if client is None or (not client.get("publicClient") and form.get("client_secret") != client.get("secret")):
            raise HTTPError(401, {"error": "invalid_client",
                                  "error_description": "Invalid client or Invalid client credentials"})
        grant = form.get("grant_type")
        if grant == "password":
            if not client.get("directAccessGrantsEnabled"):
                raise HTTPError(400, {"error": "unauthorized_client",
                                      "error_description": "Client not allowed for direct access grants"})
            user = form.get("username", "")
            if realm.users.get(user) is None or realm.users[user] != form.get("password"):
                raise HTTPError(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
        elif grant == "refresh_token":
            found = self._refresh_tokens.get(form.get("refresh_token", ""))
            if found is None or found[0] != realm.name:
                raise HTTPError(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
            user = found[1]
        else:
            raise HTTPError(400, {"error": "unsupported_grant_type",
                                  "error_description": "Unsupported grant_type"})
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._tokens[access] = (realm.name, user, time.time() + self.token_lifespan)
        self._refresh_tokens[refresh] = (realm.name, user)
        return Response(200, {"access_token": access, "expires_in": self.token_lifespan,
                              "refresh_expires_in": 1800, "refresh_token": refresh, "token_type": "Bearer",
                              "not-before-policy": 0, "session_state": str(uuid.uuid4()),
                              "scope": "openid profile email"})

    def _well_known(self, realm: Realm, **_: Any) -> Response:
        issuer = f"{self.url}/realms/{realm.name}"
        oidc = f"{issuer}/protocol/openid-connect"
        return Response(200, {
            "issuer": issuer, "authorization_endpoint": f"{oidc}/auth", "token_endpoint": f"{oidc}/token",
            "introspection_endpoint": f"{oidc}/token/introspect", "userinfo_endpoint": f"{oidc}/userinfo",
            "end_session_endpoint": f"{oidc}/logout", "jwks_uri": f"{oidc}/certs",
            "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password",
                                      "client_credentials"],
            "response_types_supported": ["code", "none", "id_token", "token", "id_token token", "code id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", *sorted(s["name"] for s in realm.client_scopes.values()
                                                   if s.get("protocol") == OIDC)],
            "code_challenge_methods_supported": ["plain", "S256"],
        })

    # ------------------------------------------------------------------------------------- realm

    def _get_realm(self, realm: Realm, **_: Any) -> Response:
        return Response(200, {"id": realm.id, "realm": realm.name, "displayName": realm.name, "enabled": True,
                              "sslRequired": "external", "registrationAllowed": False,
                              "defaultSignatureAlgorithm": "RS256"})

    def _realm_default_scopes(self, realm: Realm, *, kind: str, **_: Any) -> Response:
        ids = realm.default_scopes if kind == "default" else realm.optional_scopes
        return Response(200, [{"id": i, "name": realm.client_scopes[i]["name"]} for i in ids])

    # ----------------------------------------------------------------------------------- clients

    def _client_by_client_id(self, realm: Realm, client_id: str) -> Json | None:
        return next((c for c in realm.clients.values() if c["clientId"] == client_id), None)

    def _require_client(self, realm: Realm, client_id: str) -> Json:
        client = self._client_by_client_id(realm, client_id)
        if client is None:
            raise KeyError(client_id)
        return client

    def _client_by_uuid(self, realm: Realm, client_uuid: str) -> Json:
        client = realm.clients.get(client_uuid)
        if client is None:
            raise _not_found("client")
        return client

    def _client_rep(self, realm: Realm, client: Json) -> Json:
        rep = copy.deepcopy(client)
        rep["defaultClientScopes"] = [realm.client_scopes[i]["name"] for i in realm.client_default_scopes[client["id"]]]
        rep["optionalClientScopes"] = [realm.client_scopes[i]["name"]
                                       for i in realm.client_optional_scopes[client["id"]]]
        rep["access"] = {"view": True, "configure": True, "manage": True}
        return rep

    @staticmethod
    def _validate_client_fields(rep: Json) -> None:
        for key in CLIENT_BOOLEAN_FIELDS:
            if key in rep and rep[key] is not None and not isinstance(rep[key], bool):
                raise _bad_request(f"{key} must be a boolean")
        for key in ("redirectUris", "webOrigins"):
            value = rep.get(key)
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise _bad_request(f"{key} must be a list of strings")
        for uri in rep.get("redirectUris") or []:
            if "#" in uri:
                raise _bad_request("Redirect URIs must not contain an URI fragment")
        attributes = rep.get("attributes")
        if attributes is not None and (not isinstance(attributes, dict)
                                       or not all(v is None or isinstance(v, str) for v in attributes.values())):
            raise _bad_request("attributes must map names to strings")

    def _store_client(self, realm: Realm, rep: Json) -> str:
        client_id = rep.get("clientId")
        if not isinstance(client_id, str) or not client_id:
            raise _bad_request("Client id is required")
        if self._client_by_client_id(realm, client_id) is not None:
            raise _conflict(f"Client {client_id} already exists")
        self._validate_client_fields(rep)
        client = _client_defaults()
        client["id"] = rep.get("id") or str(uuid.uuid4())
        for key in CLIENT_SCALAR_FIELDS:
            if rep.get(key) is not None:
                client[key] = rep[key]
        client["redirectUris"] = list(dict.fromkeys(rep.get("redirectUris") or []))
        if rep.get("webOrigins") is not None:
            client["webOrigins"] = list(dict.fromkeys(rep["webOrigins"]))
        else:  # Keycloak derives the web origins from the redirect URIs
            client["webOrigins"] = sorted({"/".join(u.split("/")[:3]) for u in client["redirectUris"]
                                           if u.startswith("http")})
        client["attributes"] = {k: v for k, v in (rep.get("attributes") or {}).items() if v is not None}
        if not client["publicClient"] and client["clientAuthenticatorType"] == "client-secret" \
                and not client.get("secret"):
            client["secret"] = secrets.token_urlsafe(24)
        realm.clients[client["id"]] = client
        realm.client_default_scopes[client["id"]] = []
        realm.client_optional_scopes[client["id"]] = []
        for scope_id in realm.default_scopes:
            self._link(realm, client, scope_id, default=True)
        for scope_id in realm.optional_scopes:
            self._link(realm, client, scope_id, default=False)
        if rep.get("defaultClientScopes") is not None or rep.get("optionalClientScopes") is not None:
            realm.client_default_scopes[client["id"]] = []
            realm.client_optional_scopes[client["id"]] = []
            for default, key in ((True, "defaultClientScopes"), (False, "optionalClientScopes")):
                for name in rep.get(key) or []:
                    scope = self._scope_by_name(realm, name)
                    if scope is not None:  # Keycloak logs "doesn't exist, ignoring"
                        self._link(realm, client, scope["id"], default=default)
        return client["id"]

    def _list_clients(self, realm: Realm, *, query: dict[str, list[str]], **_: Any) -> Response:
        clients = list(realm.clients.values())
        if "clientId" in query:
            wanted = query["clientId"][0]
            if query.get("search", ["false"])[0] == "true":
                clients = [c for c in clients if wanted.lower() in c["clientId"].lower()]
            else:
                clients = [c for c in clients if c["clientId"] == wanted]
        clients.sort(key=lambda c: c["clientId"])
        return Response(200, [self._client_rep(realm, c) for c in self._page(clients, query)])

    def _create_client(self, realm: Realm, *, body: bytes, **_: Any) -> Response:
        client_uuid = self._store_client(realm, self._json_object(body))
        return Response(201, None, self._location(realm, "clients", client_uuid))

    def _get_client(self, realm: Realm, *, client_uuid: str, **_: Any) -> Response:
        return Response(200, self._client_rep(realm, self._client_by_uuid(realm, client_uuid)))

    def _update_client(self, realm: Realm, *, client_uuid: str, body: bytes, **_: Any) -> Response:
        client = self._client_by_uuid(realm, client_uuid)
        rep = self._json_object(body)
        self._validate_client_fields(rep)
        new_client_id = rep.get("clientId")
        if new_client_id is not None and new_client_id != client["clientId"] \
                and self._client_by_client_id(realm, new_client_id) is not None:
            raise _conflict(f"Client {new_client_id} already exists")
        # Keycloak's RepresentationToModel.updateClient: copy what is not null, merge attributes.
        for key in CLIENT_SCALAR_FIELDS:
            if rep.get(key) is not None:
                client[key] = rep[key]
        for key, value in (rep.get("attributes") or {}).items():
            if value is None:
                client["attributes"].pop(key, None)
            else:
                client["attributes"][key] = value
        for key in ("redirectUris", "webOrigins"):
            if rep.get(key) is not None:
                client[key] = list(dict.fromkeys(rep[key]))
        return Response(204)

    def _delete_client(self, realm: Realm, *, client_uuid: str, **_: Any) -> Response:
        self._client_by_uuid(realm, client_uuid)
        del realm.clients[client_uuid]
        realm.client_default_scopes.pop(client_uuid, None)
        realm.client_optional_scopes.pop(client_uuid, None)
        return Response(204)

    def _get_secret(self, realm: Realm, *, client_uuid: str, **_: Any) -> Response:
        client = self._client_by_uuid(realm, client_uuid)
        return Response(200, {"type": "secret", "value": client.get("secret")})

    def _regenerate_secret(self, realm: Realm, *, client_uuid: str, **_: Any) -> Response:
        client = self._client_by_uuid(realm, client_uuid)
        client["secret"] = secrets.token_urlsafe(24)
        return Response(200, {"type": "secret", "value": client["secret"]})

    # --------------------------------------------------------------------- client <-> client scopes

    def _link(self, realm: Realm, client: Json, scope_id: str, *, default: bool) -> None:
        """Keycloak's JPA addClientScopes: skip scopes already linked either way, or of another protocol."""
        scope = realm.client_scopes[scope_id]
        linked = realm.client_default_scopes[client["id"]] + realm.client_optional_scopes[client["id"]]
        if scope_id in linked or (scope.get("protocol") or OIDC) != (client.get("protocol") or OIDC):
            return
        (realm.client_default_scopes if default else realm.client_optional_scopes)[client["id"]].append(scope_id)

    def _linked_scope_names(self, realm_name: str, client_id: str, *, default: bool) -> list[str]:
        with self._lock:
            r = self._realm(realm_name)
            client = self._require_client(r, client_id)
            ids = (r.client_default_scopes if default else r.client_optional_scopes)[client["id"]]
            return sorted(r.client_scopes[i]["name"] for i in ids)

    def _client_linked_scopes(self, realm: Realm, *, client_uuid: str, kind: str, **_: Any) -> Response:
        client = self._client_by_uuid(realm, client_uuid)
        ids = (realm.client_default_scopes if kind == "default" else realm.client_optional_scopes)[client["id"]]
        return Response(200, [{"id": i, "name": realm.client_scopes[i]["name"]} for i in ids])

    def _link_scope(self, realm: Realm, *, client_uuid: str, kind: str, scope_id: str, **_: Any) -> Response:
        client = self._client_by_uuid(realm, client_uuid)
        if scope_id not in realm.client_scopes:
            raise _not_found("client scope")
        self._link(realm, client, scope_id, default=kind == "default")
        return Response(204)

    def _unlink_scope(self, realm: Realm, *, client_uuid: str, kind: str, scope_id: str, **_: Any) -> Response:
        client = self._client_by_uuid(realm, client_uuid)
        if scope_id not in realm.client_scopes:
            raise _not_found("client scope")
        ids = (realm.client_default_scopes if kind == "default" else realm.client_optional_scopes)[client["id"]]
        if scope_id in ids:
            ids.remove(scope_id)
        return Response(204)

    # ------------------------------------------------------------------------------ client scopes

    def _scope_by_name(self, realm: Realm, name: str) -> Json | None:
        return next((s for s in realm.client_scopes.values() if s["name"] == name), None)

    def _require_scope_by_name(self, realm: Realm, name: str) -> Json:
        scope = self._scope_by_name(realm, name)
        if scope is None:
            raise KeyError(name)
        return scope

    def _scope(self, realm: Realm, scope_id: str) -> Json:
        scope = realm.client_scopes.get(scope_id)
        if scope is None:
            raise _not_found("client scope")
        return scope

    @staticmethod
    def _scope_rep(scope: Json) -> Json:
        rep = copy.deepcopy(scope)
        if not rep["protocolMappers"]:  # Keycloak leaves the key out when there is no mapper
            del rep["protocolMappers"]
        return rep

    def _store_scope(self, realm: Realm, rep: Json) -> str:
        name = rep.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _bad_request("Client scope name is required")
        if self._scope_by_name(realm, name) is not None:
            raise _conflict(f"Client Scope {name} already exists")
        attributes = rep.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise _bad_request("attributes must be an object")
        scope: Json = {"id": rep.get("id") or str(uuid.uuid4()), "name": name}
        if rep.get("description") is not None:
            scope["description"] = rep["description"]
        if rep.get("protocol") is not None:
            scope["protocol"] = rep["protocol"]
        scope["attributes"] = {k: v for k, v in attributes.items() if v is not None}
        scope["protocolMappers"] = []
        for mapper in rep.get("protocolMappers") or []:
            scope["protocolMappers"].append(self._new_mapper(scope, mapper))
        realm.client_scopes[scope["id"]] = scope
        return scope["id"]

    def _list_scopes(self, realm: Realm, **_: Any) -> Response:
        scopes = sorted(realm.client_scopes.values(), key=lambda s: s["name"])
        return Response(200, [self._scope_rep(s) for s in scopes])

    def _create_scope(self, realm: Realm, *, body: bytes, **_: Any) -> Response:
        scope_id = self._store_scope(realm, self._json_object(body))
        return Response(201, None, self._location(realm, "client-scopes", scope_id))

    def _get_scope(self, realm: Realm, *, scope_id: str, **_: Any) -> Response:
        return Response(200, self._scope_rep(self._scope(realm, scope_id)))

    def _update_scope(self, realm: Realm, *, scope_id: str, body: bytes, **_: Any) -> Response:
        scope = self._scope(realm, scope_id)
        rep = self._json_object(body)
        name = rep.get("name")
        if name is not None and name != scope["name"] and self._scope_by_name(realm, name) is not None:
            raise _conflict(f"Client Scope {name} already exists")
        for key in ("name", "description", "protocol"):
            if rep.get(key) is not None:
                scope[key] = rep[key]
        for key, value in (rep.get("attributes") or {}).items():  # updateClientScope: setAttribute each
            if value is None:
                scope["attributes"].pop(key, None)
            else:
                scope["attributes"][key] = value
        return Response(204)

    def _delete_scope(self, realm: Realm, *, scope_id: str, **_: Any) -> Response:
        self._scope(realm, scope_id)
        del realm.client_scopes[scope_id]
        for links in (*realm.client_default_scopes.values(), *realm.client_optional_scopes.values(),
                      realm.default_scopes, realm.optional_scopes):
            if scope_id in links:
                links.remove(scope_id)
        return Response(204)

    # ---------------------------------------------------------------------------- protocol mappers

    @staticmethod
    def _new_mapper(scope: Json, rep: Json) -> Json:
        name, mapper_type = rep.get("name"), rep.get("protocolMapper")
        if not isinstance(name, str) or not name:
            raise _bad_request("Protocol mapper name is required")
        if not isinstance(mapper_type, str) or not mapper_type.startswith(("oidc-", "saml-")):
            raise _bad_request(f"ProtocolMapper provider not found: {mapper_type}")
        protocol = rep.get("protocol") or scope.get("protocol") or OIDC
        if any(m["name"] == name and m["protocol"] == protocol for m in scope["protocolMappers"]):
            raise _conflict("Protocol mapper exists with same name")
        config = rep.get("config") or {}
        if not isinstance(config, dict) or not all(isinstance(v, str) for v in config.values()):
            raise _bad_request("config must map names to strings")
        return {"id": str(uuid.uuid4()), "name": name, "protocol": protocol, "protocolMapper": mapper_type,
                "consentRequired": bool(rep.get("consentRequired", False)), "config": dict(config)}

    def _mapper_in(self, scope: Json, mapper_id: str) -> Json:
        mapper = next((m for m in scope["protocolMappers"] if m["id"] == mapper_id), None)
        if mapper is None:
            raise _not_found("protocol mapper")
        return mapper

    def _list_mappers(self, realm: Realm, *, scope_id: str, **_: Any) -> Response:
        return Response(200, copy.deepcopy(self._scope(realm, scope_id)["protocolMappers"]))

    def _create_mapper(self, realm: Realm, *, scope_id: str, body: bytes, **_: Any) -> Response:
        scope = self._scope(realm, scope_id)
        mapper = self._new_mapper(scope, self._json_object(body))
        scope["protocolMappers"].append(mapper)
        return Response(201, None, self._location(realm, "client-scopes", scope_id, "protocol-mappers", "models",
                                                  mapper["id"]))

    def _get_mapper(self, realm: Realm, *, scope_id: str, mapper_id: str, **_: Any) -> Response:
        return Response(200, copy.deepcopy(self._mapper_in(self._scope(realm, scope_id), mapper_id)))

    def _update_mapper(self, realm: Realm, *, scope_id: str, mapper_id: str, body: bytes, **_: Any) -> Response:
        mapper = self._mapper_in(self._scope(realm, scope_id), mapper_id)
        rep = self._json_object(body)
        if rep.get("id") != mapper_id:  # Keycloak takes the id from the payload (a null id fails)
            raise _bad_request("the payload's id must be the mapper's id")
        config = rep.get("config") or {}
        if not isinstance(config, dict) or not all(isinstance(v, str) for v in config.values()):
            raise _bad_request("config must map names to strings")
        if rep.get("protocolMapper") is not None:
            mapper["protocolMapper"] = rep["protocolMapper"]
        mapper["consentRequired"] = bool(rep.get("consentRequired", False))
        mapper["config"] = dict(config)  # replaced as a whole
        return Response(204)

    def _delete_mapper(self, realm: Realm, *, scope_id: str, mapper_id: str, **_: Any) -> Response:
        scope = self._scope(realm, scope_id)
        mapper = self._mapper_in(scope, mapper_id)
        scope["protocolMappers"].remove(mapper)
        return Response(204)

    # ------------------------------------------------------------------------------------- groups

    def _group(self, realm: Realm, group_id: str) -> Json:
        group = realm.groups.get(group_id)
        if group is None:
            raise _not_found("group")
        return group

    def _group_by_name(self, realm: Realm, name: str, parent: str | None = None) -> Json:
        group = next((g for g in realm.groups.values() if g["name"] == name and g["parent"] == parent), None)
        if group is None:
            raise KeyError(name)
        return group

    def _group_path(self, realm: Realm, group: Json) -> str:
        parent = group["parent"]
        return (self._group_path(realm, realm.groups[parent]) if parent else "") + "/" + group["name"]

    def _children(self, realm: Realm, parent: str | None) -> list[Json]:
        return sorted((g for g in realm.groups.values() if g["parent"] == parent), key=lambda g: g["name"])

    def _group_rep(self, realm: Realm, group: Json, query: dict[str, list[str]] | None = None) -> Json:
        rep: Json = {"id": group["id"], "name": group["name"], "path": self._group_path(realm, group),
                     "subGroupCount": len(self._children(realm, group["id"])), "subGroups": []}
        if group["parent"]:
            rep["parentId"] = group["parent"]
        if (query or {}).get("briefRepresentation", ["true"])[0] == "false":
            rep.update({"attributes": copy.deepcopy(group["attributes"]), "realmRoles": [], "clientRoles": {}})
        rep["access"] = {"view": True, "manage": True, "manageMembership": True}
        return rep

    def _store_group(self, realm: Realm, rep: Json, parent: str | None) -> str:
        name = rep.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _bad_request("Group name is missing")
        if any(g["name"] == name for g in self._children(realm, parent)):
            where = "Top level group" if parent is None else "Sibling group"
            raise _conflict(f"{where} named '{name}' already exists.")
        group = {"id": str(uuid.uuid4()), "name": name, "parent": parent,
                 "attributes": copy.deepcopy(rep.get("attributes") or {})}
        realm.groups[group["id"]] = group
        return group["id"]

    def _list_groups(self, realm: Realm, *, query: dict[str, list[str]], **_: Any) -> Response:
        groups = self._children(realm, None)
        search = query.get("search", [""])[0]
        if search:
            exact = query.get("exact", ["false"])[0] == "true"
            groups = [g for g in groups if (g["name"] == search if exact else search.lower() in g["name"].lower())]
        return Response(200, [self._group_rep(realm, g, query) for g in self._page(groups, query)])

    def _create_group(self, realm: Realm, *, body: bytes, **_: Any) -> Response:
        group_id = self._store_group(realm, self._json_object(body), None)
        return Response(201, None, self._location(realm, "groups", group_id))

    def _get_group(self, realm: Realm, *, group_id: str, query: dict[str, list[str]], **_: Any) -> Response:
        return Response(200, self._group_rep(realm, self._group(realm, group_id), {"briefRepresentation": ["false"]}))

    def _update_group(self, realm: Realm, *, group_id: str, body: bytes, **_: Any) -> Response:
        group = self._group(realm, group_id)
        rep = self._json_object(body)
        name = rep.get("name")
        if name is not None and name != group["name"]:
            if any(g["name"] == name for g in self._children(realm, group["parent"])):
                raise _conflict(f"Sibling group named '{name}' already exists.")
            group["name"] = name
        if rep.get("attributes") is not None:
            group["attributes"] = copy.deepcopy(rep["attributes"])
        return Response(204)

    def _delete_group(self, realm: Realm, *, group_id: str, **_: Any) -> Response:
        self._group(realm, group_id)
        doomed = [group_id]
        while doomed:
            current = doomed.pop()
            doomed += [g["id"] for g in self._children(realm, current)]
            realm.groups.pop(current, None)
        return Response(204)

    def _list_children(self, realm: Realm, *, group_id: str, query: dict[str, list[str]], **_: Any) -> Response:
        self._group(realm, group_id)
        children = self._children(realm, group_id)
        return Response(200, [self._group_rep(realm, g, query) for g in self._page(children, query)])

    def _create_child(self, realm: Realm, *, group_id: str, body: bytes, **_: Any) -> Response:
        self._group(realm, group_id)
        child_id = self._store_group(realm, self._json_object(body), group_id)
        return Response(201, None, self._location(realm, "groups", child_id))

    # ------------------------------------------------------------------------------------ helpers

    def _realm(self, name: str) -> Realm:
        realm = self._realms.get(name)
        if realm is None:
            raise KeyError(f"no realm {name}")
        return realm
