"""A stateful fake of MinIO's admin API (`/minio/admin/v3/...`) in front of a real S3 server, over real HTTP.

`FakeMinio` listens on 127.0.0.1 and is one endpoint for both APIs, as MinIO is:

* `/minio/admin/v3/<command>` is answered from memory (users, canned policies, user -> policy mappings);
* every other request is forwarded unchanged (method, raw path and query, headers including Host, body) to an
  upstream S3 server, in the tests a real `moto_server`, so bucket calls hit a real S3 implementation.

Protocol as MinIO speaks it to `minio.MinioAdmin` 7.2.20 (and to `minio.Minio` for the proxied S3 calls):

* Every request is authenticated like MinIO does it: AWS Signature V4 in the Authorization header (service `s3`,
  the region taken from the credential scope), recomputed here from the raw request and checked against the root
  credentials or a (enabled) user's; `x-amz-content-sha256` is checked against the body and `x-amz-date` for skew.
  Failures answer 403 `InvalidAccessKeyId` / `SignatureDoesNotMatch` (admin: JSON body, S3: XML body, as MinIO).
  Only root may use the admin API (others: 403 AccessDenied).
* S3 requests signed by root are forwarded. S3 requests signed by a user are forwarded when the user's attached
  policies allow them, else answered 403 AccessDenied (MinIO's XML error): the request is mapped to its IAM action and
  resource (`s3_requests`, path-style requests only, e.g. GET /b/k -> s3:GetObject on arn:aws:s3:::b/k) and evaluated
  (`evaluate`): an explicit Deny wins, else an Allow statement whose Action and Resource patterns (`*`/`?`
  wildcards, as MinIO's wildcard.Match) match allows. A request the fake cannot map, or a policy statement it cannot
  evaluate (Condition, NotAction, NotResource, Principal), is answered 501 NotImplemented: never a silent allow.
* Admin errors are MinIO's JSON `APIErrorResponse` (`{"Code", "Message", "Resource", "RequestId", "HostId"}`) with
  MinIO's status codes, e.g. 404 `XMinioAdminNoSuchUser`, 404 `XMinioAdminNoSuchPolicy`, 400
  `XMinioAdminPolicyChangeAlreadyApplied` for an attach/detach that changes nothing; the SDK raises them as
  `MinioAdminException(status, body)`.
* Encrypted bodies (add-user, idp/builtin/policy/attach|detach requests; list-users and attach|detach responses) use
  madmin's format: salt(32) | AEAD id(1) | nonce(8) | sio/DARE chunks of 16 KiB + 16-byte tag, the key derived from
  the root secret key with Argon2id (id 0 AES-256-GCM, id 1 ChaCha20-Poly1305) or PBKDF2-SHA256 (id 2, FIPS builds).
  This is implemented here from that format description, independently of `minio.crypto` (it only shares the
  low-level primitives argon2-cffi and pycryptodome): a body the SDK encrypts is decrypted by different code, and
  the SDK decrypts what this code encrypts.
* Canned policies are stored re-serialized as MinIO does (Action/Resource as sorted lists, duplicates dropped,
  unknown keys rejected), so `info-canned-policy` does not echo the exact bytes that were sent.
* `down = True` (or `down_for = n`: the next n requests) answers with 503 `XMinioServerNotInitialized` and
  `Retry-After: 120`, like a starting MinIO.

Not modelled: groups, service accounts, LDAP/OpenID, STS, presigned (query-string) auth, streaming (chunked) payload
signatures, policy conditions, bucket policies (anonymous access), virtual-host-style requests, persistence.

Test helpers: `FakeMinio(upstream_url, root_user, root_password, port=0)` as a context manager; `url`; state inspection
(`users`, `policies`, `policies_of`, `user_secret`); drift injection (`put_policy`, `detach`, `delete_user`,
`set_user_status`); `before(command, callback)` to act just before a command is handled (e.g. a concurrent change);
`down`, `down_for`; `requests` (method, path, query, status, api, identity, actions) with `writes()` and
`clear_requests()`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import json
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from argon2.low_level import Type, hash_secret_raw
from Crypto.Cipher import AES, ChaCha20_Poly1305

ADMIN_PREFIX = "/minio/admin/v3/"
WRITE_METHODS = frozenset({"PUT", "POST", "DELETE", "PATCH"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                        "transfer-encoding", "upgrade", "content-length"})
MAX_SKEW = timedelta(minutes=15)

# MinIO's built-in canned policies (cmd/iam.go); they exist on every server.
BUILTIN_POLICIES: dict[str, dict[str, Any]] = {
    "readwrite": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}]},
    "readonly": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:GetObject"], "Resource": ["arn:aws:s3:::*"]}]},
    "writeonly": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::*"]}]},
    "diagnostics": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["admin:OBDInfo", "admin:Profiling", "admin:ServerInfo", "admin:ServerTrace",
                                       "admin:TopLocksInfo"], "Resource": ["arn:minio:admin:::*"]}]},
    "consoleAdmin": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["admin:*"]}, {"Effect": "Allow", "Action": ["kms:*"]},
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}]},
}

# ----------------------------------------------------------------------------------- madmin payload encryption (sio)

_SALT_LEN, _NONCE_LEN, _TAG_LEN, _CHUNK = 32, 8, 16, 16 * 1024
ARGON2ID_AES_GCM, ARGON2ID_CHACHA20_POLY1305, PBKDF2_AES_GCM = 0, 1, 2


@functools.lru_cache(maxsize=16)
def _derive_key(password: str, salt: bytes, aead_id: int) -> bytes:
    if aead_id == PBKDF2_AES_GCM:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 8192, 32)
    # madmin-go: argon2.IDKey(password, salt, time=1, memory=64*1024 KiB, threads=4, keyLen=32)
    return hash_secret_raw(secret=password.encode(), salt=salt, time_cost=1, memory_cost=64 * 1024, parallelism=4,
                           hash_len=32, type=Type.ID, version=19)


def _aead(aead_id: int, key: bytes, nonce: bytes, seq: int) -> Any:
    full_nonce = nonce + seq.to_bytes(4, "little")
    if aead_id in (ARGON2ID_AES_GCM, PBKDF2_AES_GCM):
        return AES.new(key, AES.MODE_GCM, nonce=full_nonce)
    if aead_id == ARGON2ID_CHACHA20_POLY1305:
        return ChaCha20_Poly1305.new(key=key, nonce=full_nonce)
    raise ValueError(f"unknown AEAD id {aead_id}")


def _associated_data(aead_id: int, key: bytes, nonce: bytes) -> bytes:
    # sio: the per-stream associated data is the tag of sealing nothing with sequence number 0, flag byte in front.
    return b"\x00" + _aead(aead_id, key, nonce, 0).digest()


def sio_encrypt(plaintext: bytes, password: str, aead_id: int = ARGON2ID_AES_GCM, salt: bytes | None = None) -> bytes:
    """madmin.EncryptData. A fixed `salt` lets the (cached) key derivation be reused; the nonce is always fresh."""
    salt, nonce = salt or os.urandom(_SALT_LEN), os.urandom(_NONCE_LEN)
    key = _derive_key(password, salt, aead_id)
    data = _associated_data(aead_id, key, nonce)
    out = [salt, bytes([aead_id]), nonce]
    chunks = [plaintext[i:i + _CHUNK] for i in range(0, len(plaintext), _CHUNK)] or [b""]
    for seq, chunk in enumerate(chunks, start=1):
        ad = (b"\x80" + data[1:]) if seq == len(chunks) else data
        cipher = _aead(aead_id, key, nonce, seq)
        cipher.update(ad)
        ciphertext, tag = cipher.encrypt_and_digest(chunk)
        out += [ciphertext, tag]
    return b"".join(out)


def sio_decrypt(message: bytes, password: str) -> bytes:
    """Raises ValueError when the message is malformed or was encrypted with another password."""
    header = _SALT_LEN + 1 + _NONCE_LEN
    if len(message) < header + _TAG_LEN:
        raise ValueError("encrypted payload too short")
    salt, aead_id, nonce = message[:_SALT_LEN], message[_SALT_LEN], message[_SALT_LEN + 1:header]
    key = _derive_key(password, salt, aead_id)
    data = _associated_data(aead_id, key, nonce)
    body = message[header:]
    sealed = [body[i:i + _CHUNK + _TAG_LEN] for i in range(0, len(body), _CHUNK + _TAG_LEN)]
    plain = []
    for seq, chunk in enumerate(sealed, start=1):
        ad = (b"\x80" + data[1:]) if seq == len(sealed) else data
        cipher = _aead(aead_id, key, nonce, seq)
        cipher.update(ad)
        plain.append(cipher.decrypt_and_verify(chunk[:-_TAG_LEN], chunk[-_TAG_LEN:]))
    return b"".join(plain)


# ------------------------------------------------------------------------------------------------------ SigV4 (s3)

_AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,]*)/"
                      r"(?P<service>[^/,]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
                      r"Signature=(?P<signature>[0-9a-f]{64})$")


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        if part:
            key, _, value = part.partition("=")
            pairs.append((_uri_encode(unquote(key)), _uri_encode(unquote(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def sigv4_signature(secret_key: str, method: str, raw_path: str, raw_query: str, headers: dict[str, list[str]],
                    signed_headers: list[str], payload_hash: str, amz_date: str, scope: str) -> str:
    """The Signature V4 hex signature of a request (headers: lower-case name -> values), per the AWS spec."""
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(value.split()) for value in headers.get(name, []))}\n" for name in signed_headers)
    canonical_request = "\n".join([method, raw_path or "/", canonical_query(raw_query), canonical_headers,
                                   ";".join(signed_headers), payload_hash])
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


# -------------------------------------------------------------------------------------------------------- policies


def normalize_policy(document: Any) -> dict[str, Any]:
    """Parse and re-serialize a policy like minio/pkg/policy does; ValueError for a malformed one."""
    if not isinstance(document, dict):
        raise ValueError("policy must be a JSON object")
    unknown = set(document) - {"Version", "ID", "Id", "Statement"}
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}")
    version = document.get("Version", "")
    if version not in ("", "2012-10-17"):
        raise ValueError(f"invalid version '{version}'")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise ValueError("policy has no statements")
    result: list[dict[str, Any]] = []
    for statement in statements:
        if not isinstance(statement, dict):
            raise ValueError("statement must be a JSON object")
        unknown = set(statement) - {"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource",
                                    "Condition"}
        if unknown:
            raise ValueError(f"unknown statement field(s) {sorted(unknown)}")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"invalid Effect {statement.get('Effect')!r}")
        out: dict[str, Any] = {}
        if statement.get("Sid"):
            out["Sid"] = statement["Sid"]
        out["Effect"] = statement["Effect"]
        for key in ("Principal", "Action", "NotAction", "Resource", "NotResource", "Condition"):
            value = statement.get(key)
            if value in (None, "", [], {}):
                continue
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                values = [value] if isinstance(value, str) else value
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise ValueError(f"{key} must be a string or a list of strings")
                value = sorted(set(values))
            out[key] = value
        if "Action" not in out and "NotAction" not in out:
            raise ValueError("statement has no Action")
        if out not in result:
            result.append(out)
    return {"Version": version or "2012-10-17", "Statement": result}


# ------------------------------------------------------------------------------------------- IAM policy evaluation


class Unsupported(Exception):
    """A request or a policy the fake cannot evaluate faithfully (answered 501, never allowed by accident)."""


# Sub-resources (query keys) of bucket and object requests: (method, sub-resource) -> IAM action. "" = none.
_BUCKET_ACTIONS: dict[tuple[str, str], str] = {
    ("GET", ""): "s3:ListBucket", ("HEAD", ""): "s3:ListBucket", ("PUT", ""): "s3:CreateBucket",
    ("DELETE", ""): "s3:DeleteBucket", ("GET", "location"): "s3:GetBucketLocation",
    ("GET", "versioning"): "s3:GetBucketVersioning", ("PUT", "versioning"): "s3:PutBucketVersioning",
    ("GET", "versions"): "s3:ListBucketVersions", ("GET", "uploads"): "s3:ListBucketMultipartUploads",
    ("GET", "policy"): "s3:GetBucketPolicy", ("PUT", "policy"): "s3:PutBucketPolicy",
    ("DELETE", "policy"): "s3:DeleteBucketPolicy", ("GET", "tagging"): "s3:GetBucketTagging",
    ("PUT", "tagging"): "s3:PutBucketTagging", ("DELETE", "tagging"): "s3:PutBucketTagging",
    ("GET", "acl"): "s3:GetBucketAcl", ("GET", "lifecycle"): "s3:GetLifecycleConfiguration",
    ("PUT", "lifecycle"): "s3:PutLifecycleConfiguration", ("POST", "delete"): "s3:DeleteObject",
}
_OBJECT_ACTIONS: dict[tuple[str, str], str] = {
    ("GET", ""): "s3:GetObject", ("HEAD", ""): "s3:GetObject", ("PUT", ""): "s3:PutObject",
    ("DELETE", ""): "s3:DeleteObject", ("POST", "uploads"): "s3:PutObject", ("POST", "uploadId"): "s3:PutObject",
    ("PUT", "uploadId"): "s3:PutObject", ("GET", "uploadId"): "s3:ListMultipartUploadParts",
    ("DELETE", "uploadId"): "s3:AbortMultipartUpload", ("GET", "tagging"): "s3:GetObjectTagging",
    ("PUT", "tagging"): "s3:PutObjectTagging", ("DELETE", "tagging"): "s3:DeleteObjectTagging",
    ("GET", "acl"): "s3:GetObjectAcl",
}
# Query keys that only shape a response (listing options, part numbers): not sub-resources.
_PLAIN_QUERY = frozenset({"list-type", "prefix", "delimiter", "max-keys", "marker", "continuation-token",
                          "start-after", "fetch-owner", "encoding-type", "partNumber", "max-parts",
                          "part-number-marker", "versionId", "key-marker", "upload-id-marker", "max-uploads",
                          "version-id-marker", "response-content-type", "response-content-disposition",
                          "response-cache-control", "response-content-encoding", "response-content-language",
                          "response-expires", "x-id"})


def s3_requests(method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                body: bytes = b"") -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs a path-style S3 request needs; raises Unsupported for others."""
    path = unquote(raw_path)
    bucket, _, key = path.lstrip("/").partition("/")
    query = parse_qs(raw_query, keep_blank_values=True)
    sub = sorted(set(query) - _PLAIN_QUERY)
    if len(sub) > 1:
        raise Unsupported(f"unmapped S3 sub-resources {sub}")
    resource_key = sub[0] if sub else ""
    if not bucket:
        if method == "GET" and not resource_key:
            return [("s3:ListAllMyBuckets", "arn:aws:s3:::*")]
        raise Unsupported(f"unmapped S3 request {method} /?{raw_query}")
    if not key:
        action = _BUCKET_ACTIONS.get((method, resource_key))
        if action is None:
            raise Unsupported(f"unmapped S3 bucket request {method} /{bucket}?{raw_query}")
        if resource_key == "delete":  # DeleteObjects: each key in the XML body needs s3:DeleteObject
            keys = [unquote(k) for k in re.findall(r"<Key>(.*?)</Key>", body.decode("utf-8", "replace"), re.S)]
            if not keys:
                raise Unsupported("DeleteObjects request without keys")
            return [(action, f"arn:aws:s3:::{bucket}/{k}") for k in keys]
        return [(action, f"arn:aws:s3:::{bucket}")]
    action = _OBJECT_ACTIONS.get((method, resource_key))
    if action is None:
        raise Unsupported(f"unmapped S3 object request {method} /{bucket}/...?{raw_query}")
    needed = [(action, f"arn:aws:s3:::{bucket}/{key}")]
    source = headers.get("x-amz-copy-source")
    if source and method == "PUT":  # CopyObject / UploadPartCopy also read the source object
        source_path = unquote(source.split("?", 1)[0]).lstrip("/")
        needed.append(("s3:GetObject", f"arn:aws:s3:::{source_path}"))
    return needed


@functools.lru_cache(maxsize=256)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """MinIO's wildcard.Match: `*` any sequence (also empty), `?` exactly one character, nothing else special."""
    return re.compile("".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern), re.S)


def wildcard_match(pattern: str, value: str) -> bool:
    return _wildcard(pattern).fullmatch(value) is not None


def evaluate(policies: list[dict[str, Any]], action: str, resource: str) -> bool:
    """True when the (normalized) policies allow `action` on `resource`: no matching Deny and a matching Allow."""
    allowed = False
    for document in policies:
        for statement in document.get("Statement", []):
            unsupported = {"Condition", "NotAction", "NotResource", "Principal"} & set(statement)
            if unsupported:
                raise Unsupported(f"fake MinIO does not evaluate {sorted(unsupported)} in policies")
            if not any(wildcard_match(pattern, action) for pattern in statement.get("Action", [])):
                continue
            if not any(wildcard_match(pattern, resource) for pattern in statement.get("Resource", [])):
                continue
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


# -------------------------------------------------------------------------------------------------------------- fake


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


NO_SUCH_USER = (404, "XMinioAdminNoSuchUser", "The specified user does not exist.")
NO_SUCH_POLICY = (404, "XMinioAdminNoSuchPolicy", "The canned policy does not exist.")
ALREADY_APPLIED = (400, "XMinioAdminPolicyChangeAlreadyApplied", "The specified policy change is already in effect.")
INVALID_ACCESS_KEY = (403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")
SIGNATURE_MISMATCH = (403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                      "signature you provided. Check your key and signing method.")
ACCESS_DENIED = (403, "AccessDenied", "Access Denied.")
NOT_INITIALIZED = (503, "XMinioServerNotInitialized", "Server not initialized yet, please try again.")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    api: str  # "admin" or "s3"
    status: int = 0
    identity: str = ""  # access key of a correctly signed request
    actions: list[tuple[str, str]] = field(default_factory=list)  # (IAM action, resource) of a user's S3 request

    @property
    def command(self) -> str:
        return self.path[len(ADMIN_PREFIX):] if self.api == "admin" else ""

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class User:
    secret_key: str
    status: str = "enabled"
    policies: list[str] = field(default_factory=list)
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _go_json(value: Any) -> bytes:
    """Compact JSON as Go's json.Marshal writes it."""
    return json.dumps(value, separators=(",", ":")).encode()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeMinio:
    """MinIO admin API fake + reverse proxy to `upstream` (an S3 server URL). Use as a context manager."""

    def __init__(self, upstream: str, root_user: str, root_password: str, region: str | None = None,
                 port: int = 0):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.root_user, self.root_password, self.region = root_user, root_password, region
        self.listen_port = port  # 0: any free port
        self.down = False
        self.down_for = 0  # answer this many more requests as if down (then up again)
        self.requests: list[Request] = []
        self._users: dict[str, User] = {}
        self._policies: dict[str, dict[str, Any]] = {name: normalize_policy(doc) for name, doc in
                                                     BUILTIN_POLICIES.items()}
        self._policy_dates: dict[str, tuple[str, str]] = {}
        self._hooks: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.RLock()
        self._salt = os.urandom(_SALT_LEN)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> FakeMinio:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", self.listen_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-minio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeMinio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------------------------------- state inspection
    @property
    def users(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {key: {"status": user.status, "policies": list(user.policies)} for key, user in self._users.items()}

    def user_secret(self, access_key: str) -> str:
        with self._lock:
            return self._users[access_key].secret_key

    @property
    def policies(self) -> dict[str, dict[str, Any]]:
        """Canned policies other than MinIO's built-in ones, as stored (normalized)."""
        with self._lock:
            return {name: json.loads(json.dumps(doc)) for name, doc in self._policies.items()
                    if name not in BUILTIN_POLICIES}

    def policies_of(self, access_key: str) -> list[str]:
        with self._lock:
            return list(self._users[access_key].policies)

    def writes(self) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.is_write]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # -------------------------------------------------------------------------------------------- drift injection
    def put_policy(self, name: str, document: dict[str, Any]) -> None:
        with self._lock:
            self._policies[name] = normalize_policy(document)

    def add_user(self, access_key: str, secret_key: str, status: str = "enabled") -> None:
        with self._lock:
            self._users[access_key] = User(secret_key, status)

    def delete_user(self, access_key: str) -> None:
        with self._lock:
            del self._users[access_key]

    def set_user_status(self, access_key: str, status: str) -> None:
        with self._lock:
            self._users[access_key].status = status

    def attach(self, access_key: str, policy: str) -> None:
        with self._lock:
            if policy not in self._users[access_key].policies:
                self._users[access_key].policies.append(policy)

    def detach(self, access_key: str, policy: str) -> None:
        with self._lock:
            self._users[access_key].policies.remove(policy)

    def before(self, command: str, callback: Callable[[], None]) -> None:
        """Run `callback` once, right before the next admin `command` (e.g. "idp/builtin/policy/attach")."""
        with self._lock:
            self._hooks.setdefault(command, []).append(callback)

    # ----------------------------------------------------------------------------------------------- admin API
    def handle_admin(self, method: str, command: str, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """(status, JSON body) for an authenticated root request; raises AdminError."""
        with self._lock:
            for callback in self._hooks.pop(command, []):
                callback()
            route = {
                ("GET", "user-info"): self._user_info,
                ("PUT", "add-user"): self._add_user,
                ("PUT", "set-user-status"): self._set_user_status,
                ("DELETE", "remove-user"): self._remove_user,
                ("GET", "list-users"): self._list_users,
                ("PUT", "add-canned-policy"): self._add_policy,
                ("GET", "info-canned-policy"): self._policy_info,
                ("GET", "list-canned-policies"): self._list_policies,
                ("DELETE", "remove-canned-policy"): self._remove_policy,
                ("PUT", "set-user-or-group-policy"): self._set_policy,
                ("POST", "idp/builtin/policy/attach"): lambda q, b: self._attach_detach(b, attach=True),
                ("POST", "idp/builtin/policy/detach"): lambda q, b: self._attach_detach(b, attach=False),
            }.get((method, command))
            if route is None:
                raise AdminError(501, "NotImplemented", f"fake MinIO does not implement {method} {command}")
            return route(query, body)

    def _encrypt(self, payload: bytes) -> bytes:
        # One salt per fake (MinIO: one per response) so that the Argon2id derivation is done once: keeps tests fast.
        return sio_encrypt(payload, self.root_password, salt=self._salt)

    def _decrypt(self, body: bytes) -> Any:
        try:
            return json.loads(sio_decrypt(body, self.root_password))
        except ValueError as exc:  # wrong key, tampered or not encrypted; MinIO: ErrAdminConfigBadJSON
            raise AdminError(400, "XMinioAdminConfigBadJSON", f"Unable to decrypt/parse the request body: {exc}") \
                from None

    def _user(self, access_key: str) -> User:
        if access_key not in self._users:
            raise AdminError(*NO_SUCH_USER)
        return self._users[access_key]

    def _user_info(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        user = self._user(query.get("accessKey", ""))
        info: dict[str, Any] = {}
        if user.policies:
            info["policyName"] = ",".join(user.policies)
        info["status"] = user.status
        info["updatedAt"] = user.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return 200, _go_json(info)

    def _add_user(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        access_key = query.get("accessKey", "")
        request = self._decrypt(body)
        secret_key, status = request.get("secretKey", ""), request.get("status") or "enabled"
        if access_key == self.root_user:
            raise AdminError(403, "XMinioInvalidIAMCredentials",
                             "Credential is not allowed to be same as admin access key")
        if len(access_key) < 3 or any(ch in access_key for ch in "=,"):
            raise AdminError(400, "XMinioAdminInvalidAccessKey", "The access key is invalid.")
        if len(secret_key) < 8:
            raise AdminError(400, "XMinioAdminInvalidSecretKey", "The secret key is invalid.")
        if status not in ("enabled", "disabled"):
            raise AdminError(400, "XMinioAdminInvalidArgument", "Invalid arguments specified.")
        user = self._users.get(access_key)
        if user is None:
            self._users[access_key] = User(secret_key, status)
        else:  # MinIO: add-user on an existing user replaces credentials and status, keeps the policy mapping
            user.secret_key, user.status, user.updated_at = secret_key, status, datetime.now(UTC)
        return 200, b""

    def _set_user_status(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        user = self._user(query.get("accessKey", ""))
        if query.get("status") not in ("enabled", "disabled"):
            raise AdminError(400, "XMinioAdminInvalidArgument", "Invalid arguments specified.")
        user.status, user.updated_at = query["status"], datetime.now(UTC)
        return 200, b""

    def _remove_user(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self._user(query.get("accessKey", ""))
        del self._users[query["accessKey"]]
        return 200, b""

    def _list_users(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        listing = {key: {"policyName": ",".join(user.policies), "status": user.status}
                   for key, user in self._users.items()}
        return 200, self._encrypt(_go_json(listing))

    def _add_policy(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        name = query.get("name", "")
        if not name or "," in name:
            raise AdminError(400, "XMinioAdminInvalidArgument", "Policy name may not contain comma")
        if not body:
            raise AdminError(400, "XMinioAdminInvalidArgument", "Policy document is empty")
        try:
            document = normalize_policy(json.loads(body))
        except ValueError as exc:
            raise AdminError(400, "XMinioMalformedIAMPolicy", str(exc)) from None
        created = self._policy_dates.get(name, (_now(), ""))[0]
        self._policies[name], self._policy_dates[name] = document, (created, _now())
        return 200, b""

    def _policy(self, name: str) -> dict[str, Any]:
        if name not in self._policies:
            raise AdminError(*NO_SUCH_POLICY)
        return self._policies[name]

    def _policy_info(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        name = query.get("name", "")
        document = self._policy(name)
        version = query.get("v", "")
        if version == "2":
            created, updated = self._policy_dates.get(name, ("", ""))
            info = {"PolicyName": name, "Policy": document, "CreateDate": created, "UpdateDate": updated}
            return 200, json.dumps(info, indent=1).encode()
        if version:
            raise AdminError(400, "InvalidRequest", "Invalid Request")
        return 200, json.dumps(document, indent=1).encode()  # Go: json.MarshalIndent(policy, "", " ")

    def _list_policies(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        return 200, _go_json(self._policies)

    def _remove_policy(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        name = query.get("name", "")
        self._policy(name)
        del self._policies[name]
        for user in self._users.values():
            if name in user.policies:
                user.policies.remove(name)
        return 200, b""

    def _set_policy(self, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Legacy `policy_set`: replaces the user's mapping (groups not modelled)."""
        if query.get("isGroup") == "true":
            raise AdminError(501, "NotImplemented", "fake MinIO does not model groups")
        user = self._user(query.get("userOrGroup", ""))
        names = [name for name in query.get("policyName", "").split(",") if name]
        for name in names:
            self._policy(name)
        user.policies = names
        return 200, b""

    def _attach_detach(self, body: bytes, attach: bool) -> tuple[int, bytes]:
        request = self._decrypt(body)
        if request.get("group"):
            raise AdminError(501, "NotImplemented", "fake MinIO does not model groups")
        user = self._user(str(request.get("user", "")))
        names = [str(name) for name in request.get("policies") or []]
        if not names:
            raise AdminError(400, "XMinioAdminInvalidArgument", "No policies given")
        if attach:
            for name in names:
                self._policy(name)
            changed = [name for name in names if name not in user.policies]
            user.policies += changed
        else:
            changed = [name for name in names if name in user.policies]
            user.policies = [name for name in user.policies if name not in changed]
        if not changed:  # MinIO: errNoPolicyToAttachOrDetach -> ErrAdminPolicyChangeAlreadyApplied
            raise AdminError(*ALREADY_APPLIED)
        user.updated_at = datetime.now(UTC)
        response = {"updatedAt": _now(), ("policiesAttached" if attach else "policiesDetached"): changed}
        return 200, self._encrypt(_go_json(response))

    # ---------------------------------------------------------------------------------------------- authorization
    def allows(self, access_key: str, action: str, resource: str) -> bool:
        """Whether the user's attached policies allow `action` on `resource` (root: always)."""
        with self._lock:
            if access_key == self.root_user:
                return True
            user = self._users.get(access_key)
            if user is None or user.status != "enabled":
                return False
            documents = [self._policies[name] for name in user.policies if name in self._policies]
        return evaluate(documents, action, resource)

    # ---------------------------------------------------------------------------------------------- authentication
    def secret_of(self, access_key: str) -> tuple[str | None, bool]:
        """(secret key, enabled) of an identity; (None, False) when unknown."""
        with self._lock:
            if access_key == self.root_user:
                return self.root_password, True
            user = self._users.get(access_key)
            return (user.secret_key, user.status == "enabled") if user else (None, False)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMinio
    protocol_version = "HTTP/1.1"
    server_version = "MinIO"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_GET

    # --------------------------------------------------------------------------------------------------- plumbing
    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        raw_path, raw_query = parts.path, parts.query
        admin = raw_path.startswith(ADMIN_PREFIX)
        record = Request(self.command, unquote(raw_path), parse_qs(raw_query, keep_blank_values=True),
                         "admin" if admin else "s3")
        with self.fake._lock:
            self.fake.requests.append(record)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            record.status = self._error(admin, raw_path, 501, "NotImplemented", "chunked bodies are not supported")
            return
        with self.fake._lock:
            down = self.fake.down or self.fake.down_for > 0
            self.fake.down_for = max(0, self.fake.down_for - 1)
        if down:
            record.status = self._error(admin, raw_path, *NOT_INITIALIZED, extra={"Retry-After": "120"})
            return
        try:
            identity = self._authenticate(raw_path, raw_query, body)
        except AdminError as exc:
            record.status = self._error(admin, raw_path, exc.status, exc.code, exc.message)
            return
        record.identity = identity
        if admin:
            if identity != self.fake.root_user:
                record.status = self._error(True, raw_path, *ACCESS_DENIED)
                return
            query = {key: values[0] for key, values in record.query.items()}
            try:
                status, payload = self.fake.handle_admin(self.command, raw_path[len(ADMIN_PREFIX):], query, body)
            except AdminError as exc:
                record.status = self._error(True, raw_path, exc.status, exc.code, exc.message)
                return
            record.status = self._send(status, payload, "application/json" if payload else None)
            return
        if identity != self.fake.root_user:
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                record.actions = s3_requests(self.command, raw_path, raw_query, headers, body)
                allowed = all(self.fake.allows(identity, action, resource) for action, resource in record.actions)
                if not allowed and record.actions[0][0] == "s3:ListAllMyBuckets":
                    # MinIO then lists the buckets the user may list (403 only when none): not modelled.
                    raise Unsupported("ListBuckets by a user without s3:ListAllMyBuckets (MinIO filters per bucket)")
            except Unsupported as exc:
                record.status = self._error(False, raw_path, 501, "NotImplemented", f"fake MinIO: {exc}")
                return
            if not allowed:
                record.status = self._error(False, raw_path, *ACCESS_DENIED)
                return
        record.status = self._forward(body)

    def _authenticate(self, raw_path: str, raw_query: str, body: bytes) -> str:
        """The access key of a correctly signed request; raises AdminError like MinIO's signature checks."""
        if "X-Amz-Credential" in raw_query or "X-Amz-Signature" in raw_query:
            raise AdminError(501, "NotImplemented", "fake MinIO does not support presigned requests")
        authorization = self.headers.get("Authorization")
        if not authorization:
            raise AdminError(*ACCESS_DENIED)  # anonymous: no bucket policies in the fake
        match = _AUTH_RE.match(authorization.strip())
        if not match:
            raise AdminError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed.")
        if match["service"] != "s3":
            raise AdminError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; "
                             f"incorrect service '{match['service']}'. This endpoint belongs to 's3'.")
        if self.fake.region and match["region"] not in ("", self.fake.region):
            raise AdminError(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region "
                             f"is wrong; expecting '{self.fake.region}'.")
        secret, enabled = self.fake.secret_of(match["key"])
        if secret is None:
            raise AdminError(*INVALID_ACCESS_KEY)
        if not enabled:
            raise AdminError(403, "InvalidAccessKeyId", "Your account is disabled; please contact your administrator.")
        amz_date = self.headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise AdminError(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") \
                from None
        if abs(datetime.now(UTC) - signed_at) > MAX_SKEW:
            raise AdminError(403, "RequestTimeTooSkewed", "The difference between the request time and the server's "
                             "time is too large.")
        if amz_date[:8] != match["date"]:
            raise AdminError(*SIGNATURE_MISMATCH)
        payload_hash = self.headers.get("x-amz-content-sha256", "")
        if payload_hash.startswith("STREAMING-"):
            raise AdminError(501, "NotImplemented", "fake MinIO does not support streaming signatures")
        if payload_hash != "UNSIGNED-PAYLOAD" and payload_hash != hashlib.sha256(body).hexdigest():
            raise AdminError(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not "
                             "match what was computed.")
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        signed = match["signed"].split(";")
        if "host" not in signed:
            raise AdminError(*SIGNATURE_MISMATCH)
        scope = f"{match['date']}/{match['region']}/{match['service']}/aws4_request"
        expected = sigv4_signature(secret, self.command, raw_path, raw_query, headers, signed, payload_hash, amz_date,
                                   scope)
        if not hmac.compare_digest(expected, match["signature"]):
            raise AdminError(*SIGNATURE_MISMATCH)
        return match["key"]

    def _send(self, status: int, payload: bytes, content_type: str | None,
              extra: dict[str, str] | None = None) -> int:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)
        return status

    def _error(self, admin: bool, resource: str, status: int, code: str, message: str,
               extra: dict[str, str] | None = None) -> int:
        request_id = uuid.uuid4().hex[:16].upper()
        if admin:  # MinIO writeErrorResponseJSON(APIErrorResponse)
            payload = _go_json({"Code": code, "Message": message, "Resource": resource, "RequestId": request_id,
                                "HostId": "fake-minio"})
            return self._send(status, payload, "application/json", extra)
        payload = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + escape(code) + "</Code><Message>"
                   + escape(message) + "</Message><Resource>" + escape(resource) + "</Resource><RequestId>"
                   + request_id + "</RequestId><HostId>fake-minio</HostId></Error>").encode()
        return self._send(status, payload, "application/xml", extra)

    def _forward(self, body: bytes) -> int:
        """Relay the request unchanged to the upstream S3 server and its answer back."""
        connection = http.client.HTTPConnection(*self.fake.upstream, timeout=30)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            payload = response.read()
            headers = [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP]
            upstream_length = response.getheader("Content-Length")
        except OSError as exc:
            return self._error(False, urlsplit(self.path).path, 502, "BadGateway", f"upstream S3 unreachable: {exc}")
        finally:
            connection.close()
        self.send_response(response.status)
        for name, value in headers:
            if name.lower() not in ("server", "date"):
                self.send_header(name, value)
        length = upstream_length if self.command == "HEAD" and upstream_length else str(len(payload))
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)
        return response.status

