// A Keycloak-shaped OpenID provider for the end-to-end tests: oauth2-mock-server behind a small http front.
//
// The front listens on 127.0.0.1:$PORT and serves the realm under /realms/$REALM (the prefix is stripped before
// oauth2-mock-server sees a request), at Keycloak's endpoint paths (/protocol/openid-connect/auth, /token, /certs,
// /userinfo, /logout), so the issuer is http://localhost:$PORT/realms/$REALM like Keycloak's. Unlike the bare mock
// server it checks what Keycloak checks for a confidential client:
//   authorize: client_id known, redirect_uri exactly the registered one, response_type code, scope with openid;
//   token:     grant authorization_code only, client authenticated with its secret (client_secret_basic or
//              client_secret_post), a code this provider issued, used once, redirect_uri equal to the
//              one of the authorization request.
// Who logs in: POST /_e2e/user {"email", "name", "groups", ["sub"]} queues the user for the next authorization
// request (no login form: the mock server redirects back at once). GET /_e2e/events lists what happened (each
// authorize/token request, how the client authenticated, every rejection): the tests assert on it.
// POST /_e2e/redirect-uri {"redirect_uri"} adds a valid redirect URI to the client (Keycloak's "Valid redirect URIs"
// list), for a second rendered environment of the same client (tests/e2e/test_high_availability.py).
//
// Environment: PORT, REALM, ISSUER (http://localhost:PORT/realms/REALM), CLIENT_ID, CLIENT_SECRET, REDIRECT_URI.
import { createServer } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { Readable } from "node:stream";
import { OAuth2Server } from "oauth2-mock-server";

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider: ${name} is required`);
    process.exit(2);
  }
  return value;
};
const PORT = Number(env("PORT"));
const REALM = env("REALM");
const ISSUER = env("ISSUER");
const CLIENT_ID = env("CLIENT_ID");
const CLIENT_SECRET = env("CLIENT_SECRET");
const REDIRECT_URI = env("REDIRECT_URI");
const PREFIX = `/realms/${REALM}`;
const redirectUris = [REDIRECT_URI]; // the client's valid redirect URIs, exact matches
const ENDPOINTS = {
  wellKnownDocument: "/.well-known/openid-configuration",
  authorize: "/protocol/openid-connect/auth",
  token: "/protocol/openid-connect/token",
  jwks: "/protocol/openid-connect/certs",
  userinfo: "/protocol/openid-connect/userinfo",
  endSession: "/protocol/openid-connect/logout",
  revoke: "/protocol/openid-connect/revoke",
  introspect: "/protocol/openid-connect/token/introspect",
};

const events = [];
const log = (event) => {
  events.push({ at: new Date().toISOString(), ...event });
  console.log(JSON.stringify(event));
};
let nextUser = null; // queued by POST /_e2e/user, taken by the next authorization request
const pending = new Map(); // authorization code -> {user, redirectUri}
const tokens = new Map(); // access token -> user (for /userinfo)

const oidc = new OAuth2Server(undefined, undefined, { endpoints: ENDPOINTS });
oidc.issuer.url = ISSUER;
await oidc.issuer.keys.generate("RS256");
const service = oidc.service;

service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const code = redirect.url.searchParams.get("code");
  if (code) {
    pending.set(code, { user: req.e2eUser, redirectUri: req.e2eRedirectUri, scope: req.e2eScope });
  }
});

service.on("beforeTokenSigning", (token, req) => {
  const user = req.e2eUser;
  if (!user) return;
  if ("scope" in token.payload) token.payload.scope = req.e2eScope; // access token: the granted scope
  Object.assign(token.payload, {
    sub: user.sub,
    email: user.email,
    email_verified: true,
    name: user.name,
    preferred_username: user.email,
    groups: user.groups,
    azp: CLIENT_ID,
  });
});

service.on("beforeResponse", (response, req) => {
  const problem = req.e2eProblem;
  if (problem) {
    response.statusCode = problem.status;
    response.body = { error: problem.error, error_description: problem.description };
    return;
  }
  if (response.body.access_token && req.e2eUser) {
    tokens.set(response.body.access_token, req.e2eUser);
    response.body.scope = req.e2eScope;
  }
});

service.on("beforeUserinfo", (response, req) => {
  const bearer = (req.headers.authorization || "").replace(/^Bearer\s+/i, "");
  const user = tokens.get(bearer);
  if (!user) {
    response.statusCode = 401;
    response.body = { error: "invalid_token" };
    return;
  }
  response.body = { sub: user.sub, email: user.email, email_verified: true, name: user.name,
                    preferred_username: user.email, groups: user.groups };
});

const same = (a, b) => {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
};

function send(res, status, body, headers = {}) {
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": typeof body === "string" ? "text/plain" : "application/json",
                          "Content-Length": Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

// Keycloak's discovery document lists the client authentication methods it accepts (the mock's says "none").
function discovery() {
  const url = (path) => `${ISSUER}${path}`;
  return {
    issuer: ISSUER,
    authorization_endpoint: url(ENDPOINTS.authorize),
    token_endpoint: url(ENDPOINTS.token),
    userinfo_endpoint: url(ENDPOINTS.userinfo),
    jwks_uri: url(ENDPOINTS.jwks),
    end_session_endpoint: url(ENDPOINTS.endSession),
    revocation_endpoint: url(ENDPOINTS.revoke),
    introspection_endpoint: url(ENDPOINTS.introspect),
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    scopes_supported: ["openid", "profile", "email", "groups"],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "email", "email_verified", "name", "preferred_username",
                       "groups"],
    code_challenge_methods_supported: ["plain", "S256"],
  };
}

function rejectAuthorize(res, description) {
  log({ type: "authorize-rejected", reason: description });
  // Keycloak shows an error page (no redirect) for a bad client_id or redirect_uri.
  send(res, 400, `We are sorry... ${description}`);
}

function checkAuthorize(req, res, url) {
  const q = url.searchParams;
  if (q.get("client_id") !== CLIENT_ID) return rejectAuthorize(res, `Client not found: ${q.get("client_id")}`);
  if (!redirectUris.includes(q.get("redirect_uri"))) {
    return rejectAuthorize(res, `Invalid parameter: redirect_uri ${q.get("redirect_uri")} (registered: ${redirectUris.join(" ")})`);
  }
  if (q.get("response_type") !== "code") return rejectAuthorize(res, `unsupported response_type ${q.get("response_type")}`);
  const scopes = (q.get("scope") || "").split(" ");
  if (!scopes.includes("openid")) return rejectAuthorize(res, `scope without openid: ${q.get("scope")}`);
  if (!nextUser) return rejectAuthorize(res, "no e2e user queued (POST /_e2e/user first)");
  req.e2eUser = nextUser;
  req.e2eRedirectUri = q.get("redirect_uri");
  req.e2eScope = q.get("scope");
  nextUser = null;
  log({ type: "authorize", user: req.e2eUser.email, scope: q.get("scope"), state: Boolean(q.get("state")),
        nonce: Boolean(q.get("nonce")) });
  return true;
}

function checkToken(req, body) {
  const form = new URLSearchParams(body.toString("utf8"));
  let method = "none";
  let clientId = form.get("client_id");
  let secret = form.get("client_secret");
  const header = req.headers.authorization || "";
  if (/^Basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    // RFC 6749 2.3.1: client id and secret are form-urlencoded before basic encoding
    const decode = (s) => decodeURIComponent(s.replace(/\+/g, " "));
    clientId = decode(decoded.slice(0, colon));
    secret = decode(decoded.slice(colon + 1));
    method = "client_secret_basic";
    if (form.get("client_secret")) return { status: 400, error: "invalid_request", description: "two client authentications" };
  } else if (secret) {
    method = "client_secret_post";
  }
  const problem = (status, error, description) => ({ status, error, description, method });
  if (form.get("grant_type") !== "authorization_code") {
    return problem(400, "unsupported_grant_type", `grant_type ${form.get("grant_type")} not enabled for this client`);
  }
  if (method === "none") return problem(401, "unauthorized_client", "client secret not provided");
  if (clientId !== CLIENT_ID || !same(secret, CLIENT_SECRET)) {
    return problem(401, "unauthorized_client", "Invalid client or Invalid client credentials");
  }
  const grant = pending.get(form.get("code"));
  if (!grant) return problem(400, "invalid_grant", "Code not valid");
  pending.delete(form.get("code")); // one use only
  if (form.get("redirect_uri") !== grant.redirectUri) return problem(400, "invalid_grant", "Incorrect redirect_uri");
  return { user: grant.user, scope: grant.scope, method };
}

const front = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, ISSUER);
    if (url.pathname === "/_e2e/user" && req.method === "POST") {
      const user = JSON.parse((await readBody(req)).toString("utf8"));
      if (!user.email || !user.name || !Array.isArray(user.groups)) {
        return send(res, 400, { error: "need email, name and groups" });
      }
      nextUser = { sub: user.sub || `sub-${user.email}`, ...user };
      log({ type: "user-queued", user: user.email, groups: user.groups });
      return send(res, 204, "");
    }
    if (url.pathname === "/_e2e/redirect-uri" && req.method === "POST") {
      const uri = JSON.parse((await readBody(req)).toString("utf8")).redirect_uri;
      if (typeof uri !== "string" || !/^https?:\/\/[^/]+\/\S*$/.test(uri)) return send(res, 400, { error: "need redirect_uri" });
      if (!redirectUris.includes(uri)) redirectUris.push(uri);
      log({ type: "redirect-uri-added", redirect_uri: uri });
      return send(res, 204, "");
    }
    if (url.pathname === "/_e2e/events" && req.method === "GET") return send(res, 200, events);
    if (url.pathname !== PREFIX && !url.pathname.startsWith(`${PREFIX}/`)) {
      log({ type: "not-found", path: url.pathname });
      return send(res, 404, { error: "Realm does not exist" });
    }
    const path = url.pathname.slice(PREFIX.length) || "/";
    if (path === ENDPOINTS.wellKnownDocument && req.method === "GET") return send(res, 200, discovery());
    if (path === ENDPOINTS.authorize && req.method === "GET" && checkAuthorize(req, res, url) !== true) return;
    if (path === ENDPOINTS.token && req.method === "POST") {
      // Read the body here (to check the client), then hand the mock server a replayable stream of it.
      const body = await readBody(req);
      const verdict = checkToken(req, body);
      if (verdict.user) {
        req.e2eUser = verdict.user;
        req.e2eScope = verdict.scope;
        log({ type: "token", user: verdict.user.email, client_auth: verdict.method });
      } else {
        req.e2eProblem = verdict;
        log({ type: "token-rejected", reason: verdict.description, client_auth: verdict.method });
      }
      const replay = Readable.from([body]);
      for (const key of ["headers", "method", "httpVersion", "e2eUser", "e2eScope", "e2eProblem", "socket", "connection"]) {
        replay[key] = req[key];
      }
      replay.url = `${path}${url.search}`;
      return service.requestHandler(replay, res);
    }
    req.url = `${path}${url.search}`;
    return service.requestHandler(req, res);
  } catch (error) {
    console.error("provider error:", error);
    if (!res.headersSent) send(res, 500, { error: "server_error", error_description: String(error) });
  }
});
front.listen(PORT, "127.0.0.1", () => console.log(`provider: issuer ${ISSUER} on 127.0.0.1:${PORT}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => front.close(() => process.exit(0)));
