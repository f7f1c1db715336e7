"""Bootstrap MinIO for MLflow: bucket, bucket-scoped policy and a dedicated user (instead of the root credentials).

Standalone: needs Python >= 3.11 and the `minio` SDK (7.2.x, plus its own dependencies urllib3 and certifi) only.
The policy is attached with the `idp/builtin/policy/attach` admin API (what `mc admin policy attach` uses, MinIO
releases from 2023 on).

    python minio_setup.py [--dry-run] [--rotate-secret]
    python minio_setup.py --remove [--dry-run]      (REMOVE=true: the cleanup Job of a retired instance)

Idempotent: every object is read first and only written when missing or different, so a second run makes no writes.
It prints one line per object (`bucket mlflow: created|unchanged`, ...). Secret values are never printed.

Environment (a variable marked [file] may instead be read from the file named by `<NAME>_FILE`, e.g. a Vault Agent
template; set one of the two, not both; one trailing newline is stripped):
  MINIO_URL                 required  http(s)://host[:port] of the MinIO S3 API; the scheme decides TLS
  MINIO_ROOT_USER           required  [file] the setup login's access key (the instance's setup user, or root)
  MINIO_ROOT_PASSWORD       required  [file] the setup login's secret key
  MINIO_VERIFY_TLS          optional  true|false, default true (verify the server certificate for https)
  MINIO_REGION              optional  region to sign requests for (default: the region MinIO reports, if any)
  SSL_CERT_FILE             optional  CA bundle for https (default: certifi's bundle), as the minio SDK does
  BUCKET                    required  bucket for MLflow artifacts
  BUCKET_VERSIONING         optional  true|false, default false. true: versioning is Enabled. false: versioning is
                                      not managed at all (an Enabled/Suspended state set by someone is left alone)
  MLFLOW_ACCESS_KEY         required  [file] access key of the dedicated MLflow user (from Vault)
  MLFLOW_SECRET_KEY         required  [file] secret key of the dedicated MLflow user (from Vault, >= 8 characters)
  POLICY_NAME               optional  default `<BUCKET>-readwrite`
  WAIT_ATTEMPTS             optional  default 30, attempts to reach MinIO before giving up
  WAIT_DELAY_SECONDS        optional  default 5, first delay between attempts; doubles, capped at 30 s
  MLFLOW_ROTATE_SECRET      optional  true|false, default false; same as --rotate-secret
  REMOVE                    optional  true|false, default false; same as --remove: delete the dedicated user and
                                      its policy (MLFLOW_SECRET_KEY is then not needed), and the bucket as
                                      BUCKET_CLEANUP says
  BUCKET_CLEANUP            optional  with --remove: keep (default: the bucket and its artifacts stay), delete
                                      (only an empty bucket; one holding objects fails, naming how many), force
                                      (every object and object version, then the bucket)

Secrets: MinIO cannot return a user's secret key, so an existing user's secret is not compared with
MLFLOW_SECRET_KEY. After the secret changed in Vault, run once with `--rotate-secret` (or set
MLFLOW_ROTATE_SECRET=true): the user's secret key is then set to MLFLOW_SECRET_KEY (and the user enabled).

Exit codes: 0 success (or dry-run plan printed), 1 MinIO unreachable or an operation failed, 2 invalid settings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, MinioAdminException, MinioException, S3Error, ServerError
from minio.versioningconfig import ENABLED, VersioningConfig
from urllib3.util import Retry, Timeout

try:
    from mlflow_gitops.scripts import jobkit
except ImportError:  # in the pod: jobkit.py beside this script (the bootstrap ConfigMap)
    import jobkit  # type: ignore[no-redef]

ConfigError = jobkit.ConfigError
Failure = jobkit.Failure
say, warn = jobkit.say, jobkit.warn

MAX_WAIT_DELAY_SECONDS = 30.0
FILE_VARIABLES = ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MLFLOW_ACCESS_KEY", "MLFLOW_SECRET_KEY")
BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
OBJECT_ACTIONS = ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts",
                  "s3:PutObject")
# S3 error codes that no amount of waiting fixes: wrong credentials, clock skew, wrong region.
AUTH_ERRORS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
                         "RequestTimeTooSkewed", "AuthorizationHeaderMalformed", "InvalidRequest"})
ALREADY_APPLIED = "XMinioAdminPolicyChangeAlreadyApplied"
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def fail(message: str) -> NoReturn:
    raise Failure(message)


# --------------------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    url: str
    endpoint: str
    secure: bool
    root_user: str
    root_password: str = field(repr=False)
    verify_tls: bool
    region: str
    bucket: str
    versioning: bool
    access_key: str
    secret_key: str = field(repr=False)
    policy_name: str
    wait_attempts: int
    wait_delay: float
    rotate_secret: bool
    remove: bool = False
    bucket_cleanup: str = "keep"


def _read(env: dict[str, str], name: str, default: str | None = None) -> str:
    """The value of `name` (or of the file named by `<name>_FILE` for credential variables); '' when unset."""
    value = jobkit.read_variable(env, name, file_ok=name in FILE_VARIABLES)
    if value is None:
        return default if default is not None else ""
    return value


def _required(env: dict[str, str], name: str) -> str:
    value = _read(env, name)
    if not value.strip():
        hint = f" (or {name}_FILE)" if name in FILE_VARIABLES else ""
        raise ConfigError(f"{name}{hint} is required but not set")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    value = _read(env, name, "true" if default else "false")
    try:
        return jobkit.parse_flag(value)
    except ValueError:
        raise ConfigError(f"{name} must be true or false, got {value.strip().lower()!r}") from None


def _number(env: dict[str, str], name: str, default: str, kind: type[int] | type[float], minimum: float) -> Any:
    raw = _read(env, name, default).strip()
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


BUCKET_CLEANUPS = ("keep", "delete", "force")


def load_settings(env: dict[str, str], rotate_secret: bool = False, remove: bool = False) -> Settings:
    remove = remove or _bool(env, "REMOVE", False)
    bucket_cleanup = _read(env, "BUCKET_CLEANUP", "keep").strip().lower()
    if bucket_cleanup not in BUCKET_CLEANUPS:
        raise ConfigError(f"BUCKET_CLEANUP must be one of {', '.join(BUCKET_CLEANUPS)}, got {bucket_cleanup!r}")
    url = _required(env, "MINIO_URL").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"MINIO_URL must look like http(s)://host[:port], got {url!r}")
    if parts.username or parts.password:
        raise ConfigError("MINIO_URL must not contain credentials; use MINIO_ROOT_USER/MINIO_ROOT_PASSWORD")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"MINIO_URL must not have a path or query, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"MINIO_URL has an invalid port: {url!r}") from None

    root_user = _required(env, "MINIO_ROOT_USER")
    root_password = _required(env, "MINIO_ROOT_PASSWORD")
    access_key = _required(env, "MLFLOW_ACCESS_KEY")
    secret_key = "" if remove else _required(env, "MLFLOW_SECRET_KEY")  # removing needs no secret key
    # Defense in depth: no message contains them, but any output is scrubbed of them (not of very short values,
    # which would garble it; MinIO requires >= 8 characters anyway).
    jobkit.hide((root_password, secret_key))
    bucket = _required(env, "BUCKET").strip()

    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise ConfigError(f"BUCKET must be a valid bucket name (3-63 of a-z, 0-9, '.', '-'), got {bucket!r}")
    # MinIO's own limits for users: access key >= 3 characters without '=' or ',', secret key >= 8 characters.
    if len(access_key) < 3 or any(ch in access_key for ch in "=,") or access_key != access_key.strip():
        raise ConfigError("MLFLOW_ACCESS_KEY must have at least 3 characters, no '=', ',' or surrounding spaces")
    if len(secret_key) < 8 and not remove:
        raise ConfigError("MLFLOW_SECRET_KEY must have at least 8 characters (MinIO's minimum)")
    if access_key == root_user:
        raise ConfigError("MLFLOW_ACCESS_KEY must differ from MINIO_ROOT_USER: MLflow gets its own user")
    if secret_key == root_password:
        raise ConfigError("MLFLOW_SECRET_KEY must differ from MINIO_ROOT_PASSWORD")
    policy_name = _read(env, "POLICY_NAME", f"{bucket}-readwrite").strip()
    if not re.fullmatch(r"[A-Za-z0-9_.@+=-]{1,128}", policy_name):
        raise ConfigError(f"POLICY_NAME may only contain letters, digits and _.@+=-, got {policy_name!r}")

    return Settings(
        url=url.rstrip("/"),
        endpoint=parts.netloc,
        secure=parts.scheme == "https",
        root_user=root_user,
        root_password=root_password,
        verify_tls=_bool(env, "MINIO_VERIFY_TLS", True),
        region=_read(env, "MINIO_REGION").strip(),
        bucket=bucket,
        versioning=_bool(env, "BUCKET_VERSIONING", False),
        access_key=access_key,
        secret_key=secret_key,
        policy_name=policy_name,
        wait_attempts=_number(env, "WAIT_ATTEMPTS", "30", int, 1),
        wait_delay=_number(env, "WAIT_DELAY_SECONDS", "5", float, 0),
        rotate_secret=rotate_secret or _bool(env, "MLFLOW_ROTATE_SECRET", False),
        remove=remove,
        bucket_cleanup=bucket_cleanup,
    )


# ----------------------------------------------------------------------------------------------------------- policy


def desired_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": list(OBJECT_ACTIONS), "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        ],
    }


def canonical_policy(document: Any) -> Any:
    """A comparable form: MinIO re-serializes policies (sorted action/resource sets, a string becomes a list)."""
    if not isinstance(document, dict):
        return document
    if "Statement" not in document and isinstance(document.get("Policy"), dict):  # `info-canned-policy?v=2` shape
        document = document["Policy"]
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    canonical = set()
    for statement in statements:
        if not isinstance(statement, dict):
            canonical.add(json.dumps(statement, sort_keys=True))
            continue
        normalized = {}
        for key, value in statement.items():
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                value = sorted({value} if isinstance(value, str) else set(value or []))
            if value in (None, "", [], {}):
                continue
            normalized[key] = value
        canonical.add(json.dumps(normalized, sort_keys=True))
    return {"Version": document.get("Version") or "2012-10-17", "Statement": sorted(canonical)}


# ------------------------------------------------------------------------------------------------------------ MinIO


def http_client(settings: Settings, retries: Retry | bool) -> urllib3.PoolManager:
    """Like the SDK's default pool, but bounded: Retry-After of a starting MinIO (120 s) is not honoured."""
    return urllib3.PoolManager(
        timeout=Timeout(connect=5, read=60),
        maxsize=4,
        cert_reqs="CERT_REQUIRED" if settings.verify_tls else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=retries,
    )


def clients(settings: Settings, retries: Retry | bool) -> tuple[Minio, MinioAdmin]:
    pool = http_client(settings, retries)
    s3 = Minio(settings.endpoint, access_key=settings.root_user, secret_key=settings.root_password,
               secure=settings.secure, region=settings.region or None, http_client=pool,
               cert_check=settings.verify_tls)
    credentials = StaticProvider(settings.root_user, settings.root_password)
    admin = MinioAdmin(endpoint=settings.endpoint, credentials=credentials,
                       region=settings.region, secure=settings.secure, cert_check=settings.verify_tls,
                       http_client=pool)
    return s3, admin


def describe(exc: BaseException) -> str:
    """A one-line reason without secrets (S3/admin error codes, connection errors)."""
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}" if exc.message else str(exc.code)
    if isinstance(exc, MinioAdminException):
        status, code, message = admin_error(exc)
        return f"HTTP {status} {code}: {message}".strip()
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return describe(exc.reason)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return f"cannot connect: {str(exc).split(': ', 1)[-1]}"
    if isinstance(exc, InvalidResponseError | ServerError):
        return str(exc).replace("\n", " ")[:300]
    text = str(exc).replace("\n", " ")[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def admin_error(exc: MinioAdminException) -> tuple[str, str, str]:
    """(HTTP status, MinIO error code, message) of an admin API error; the SDK keeps them as text only."""
    text = str(exc)  # "admin request failed; Status: 404, Body: {...}"
    status = str(getattr(exc, "_code", "") or text.partition("Status: ")[2].partition(",")[0])
    body = str(getattr(exc, "_body", "") or text.partition("Body: ")[2])
    try:
        data = json.loads(body)
    except ValueError:
        return status, "", body.strip()[:300]
    if not isinstance(data, dict):
        return status, "", body.strip()[:300]
    return status, str(data.get("Code", "")), str(data.get("Message", ""))


def is_admin_error(exc: BaseException, code: str) -> bool:
    return isinstance(exc, MinioAdminException) and admin_error(exc)[1] == code


def wait_for_minio(settings: Settings) -> None:
    s3, _ = clients(settings, retries=False)
    delay = settings.wait_delay
    for attempt in range(1, settings.wait_attempts + 1):
        try:
            # one key of the instance's own bucket, not ListAllMyBuckets: the setup user may list only that bucket
            next(iter(s3.list_objects(settings.bucket)), None)
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                say(f"MinIO {settings.url} is ready (attempt {attempt}/{settings.wait_attempts})")
                return
            if exc.code in AUTH_ERRORS:
                fail(f"MinIO at {settings.url} rejected the request signed with MINIO_ROOT_USER/MINIO_ROOT_PASSWORD "
                     f"({describe(exc)}); check the setup login's credentials and policy, the clock and MINIO_REGION")
            reason = describe(exc)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            reason = describe(exc)
        else:
            say(f"MinIO {settings.url} is ready (attempt {attempt}/{settings.wait_attempts})")
            return
        say(f"[{attempt}/{settings.wait_attempts}] MinIO {settings.url} not ready: {reason}")
        if attempt < settings.wait_attempts:
            time.sleep(delay)
            delay = min(delay * 2, max(MAX_WAIT_DELAY_SECONDS, settings.wait_delay))
    fail(f"MinIO {settings.url} did not become ready after {settings.wait_attempts} attempts; last error: {reason}")


@dataclass
class Run:
    settings: Settings
    s3: Minio
    admin: MinioAdmin
    dry_run: bool
    changes: int = 0

    def report(self, subject: str, outcome: str, changed: bool) -> None:
        self.changes += changed
        say(f"{subject}: {outcome}")

    def step(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the SDK; an error becomes a Failure naming the step."""
        try:
            return func(*args, **kwargs)
        except (MinioException, MinioAdminException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            fail(f"{what} failed: {describe(exc)}")

    # ------------------------------------------------------------------------------------------------------ bucket
    def ensure_bucket(self) -> bool:
        bucket = self.settings.bucket
        if self.step(f"checking bucket {bucket}", self.s3.bucket_exists, bucket):
            self.report(f"bucket {bucket}", "unchanged", False)
            return True
        if self.dry_run:
            self.report(f"bucket {bucket}", "would create", True)
            return False
        self.step(f"creating bucket {bucket}", self.s3.make_bucket, bucket, self.server_region())
        self.report(f"bucket {bucket}", "created", True)
        return True

    def server_region(self) -> str | None:
        """The region to create the bucket in: MINIO_REGION, else the one MinIO reports (MINIO_SITE_REGION).

        The SDK discovers the region of an existing bucket (GetBucketLocation) for every other call, but signs
        CreateBucket for us-east-1 unless told otherwise, which a MinIO with a site region refuses
        (AuthorizationHeaderMalformed: the region is wrong). None: MinIO has no region (any is accepted), or an
        admin login without admin:ServerInfo (then MINIO_REGION is the way to name it)."""
        if self.settings.region:
            return self.settings.region
        try:
            region = json.loads(self.admin.info()).get("region")
        except (MinioException, MinioAdminException, urllib3.exceptions.HTTPError, OSError, ValueError,
                AttributeError):
            return None
        return region if isinstance(region, str) and region else None

    def ensure_versioning(self, bucket_exists: bool) -> None:
        bucket = self.settings.bucket
        if not bucket_exists:  # dry run, bucket not created yet
            plan = "would enable" if self.settings.versioning else "not managed (BUCKET_VERSIONING=false)"
            self.report("versioning", plan, self.settings.versioning)
            return
        config = self.step(f"reading versioning of bucket {bucket}", self.s3.get_bucket_versioning, bucket)
        current = config.status_string
        if not self.settings.versioning:
            self.report("versioning", f"not managed (BUCKET_VERSIONING=false), left as {current}", False)
            return
        if current == ENABLED:
            self.report("versioning", "unchanged (Enabled)", False)
            return
        if self.dry_run:
            self.report("versioning", f"would enable (currently {current})", True)
            return
        self.step(f"enabling versioning of bucket {bucket}", self.s3.set_bucket_versioning, bucket,
                  VersioningConfig(ENABLED))
        self.report("versioning", f"enabled (was {current})", True)

    # ------------------------------------------------------------------------------------------------------ policy
    def ensure_policy(self) -> None:
        name = self.settings.policy_name
        wanted = desired_policy(self.settings.bucket)
        try:
            current: Any = json.loads(self.admin.policy_info(name))
        except MinioAdminException as exc:
            if not is_admin_error(exc, "XMinioAdminNoSuchPolicy"):
                fail(f"reading policy {name} failed: {describe(exc)}")
            current = None
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            fail(f"reading policy {name} failed: {describe(exc)}")
        if current is not None and canonical_policy(current) == canonical_policy(wanted):
            self.report(f"policy {name}", "unchanged", False)
            return
        verb = "created" if current is None else "updated"
        if self.dry_run:
            self.report(f"policy {name}", f"would be {verb}", True)
            return
        self.step(f"writing policy {name}", self.admin.policy_add, name, policy=wanted)
        self.report(f"policy {name}", verb, True)

    # -------------------------------------------------------------------------------------------------------- user
    def user_info(self) -> dict[str, Any] | None:
        key = self.settings.access_key
        try:
            info = json.loads(self.admin.user_info(key))
        except MinioAdminException as exc:
            if is_admin_error(exc, "XMinioAdminNoSuchUser"):
                return None
            fail(f"reading user {key} failed: {describe(exc)}")
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            fail(f"reading user {key} failed: {describe(exc)}")
        return info if isinstance(info, dict) else {}

    def ensure_user(self) -> list[str]:
        """Make the user exist and be enabled; return its directly attached policies."""
        key, secret = self.settings.access_key, self.settings.secret_key
        info = self.user_info()
        subject = f"user {key}"
        if info is None:
            if self.dry_run:
                self.report(subject, "would create", True)
                return []
            self.step(f"creating user {key}", self.admin.user_add, key, secret)
            self.report(subject, "created", True)
            return []  # a new user has no policies (MinIO drops a user's mapping when the user is removed)
        if self.settings.rotate_secret:
            if self.dry_run:
                self.report(subject, "would set the secret key from MLFLOW_SECRET_KEY (--rotate-secret)", True)
            else:
                # add-user on an existing user replaces its secret key and sets it enabled; policies stay.
                self.step(f"updating secret key of user {key}", self.admin.user_add, key, secret)
                enabled = "" if str(info.get("status", "enabled")).lower() == "enabled" else ", user enabled"
                self.report(subject, f"secret key updated (--rotate-secret){enabled}", True)
        elif str(info.get("status", "enabled")).lower() != "enabled":
            if self.dry_run:
                self.report(subject, f"would enable (currently {info.get('status')})", True)
            else:
                self.step(f"enabling user {key}", self.admin.user_enable, key)
                self.report(subject, f"enabled (was {info.get('status')})", True)
        else:
            self.report(subject, "unchanged (secret key not compared; see --rotate-secret)", False)
        return self.attached(info)

    @staticmethod
    def attached(info: dict[str, Any] | None) -> list[str]:
        names = str((info or {}).get("policyName") or "")
        return [name.strip() for name in names.split(",") if name.strip()]

    def ensure_attachment(self, attached: list[str]) -> None:
        name, key = self.settings.policy_name, self.settings.access_key
        others = [policy for policy in attached if policy != name]
        if others:
            say(f"WARNING: user {key} also has policies not managed here: {', '.join(others)} "
                f"(they widen its access beyond bucket {self.settings.bucket}; detach them if unintended)")
        if name in attached:
            self.report("policy attachment", f"unchanged ({name} attached to {key})", False)
            return
        if self.dry_run:
            self.report("policy attachment", f"would attach {name} to {key}", True)
            return
        try:
            self.admin.attach_policy([name], user=key)
        except MinioAdminException as exc:
            if is_admin_error(exc, ALREADY_APPLIED):  # attached meanwhile (e.g. a concurrent run)
                self.report("policy attachment", f"unchanged ({name} already attached to {key})", False)
                return
            fail(f"attaching policy {name} to user {key} failed: {describe(exc)}")
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            fail(f"attaching policy {name} to user {key} failed: {describe(exc)}")
        self.report("policy attachment", f"attached {name} to {key}", True)


    # ----------------------------------------------------------------------------------------------------- removal
    def remove_user(self) -> None:
        key = self.settings.access_key
        if self.user_info() is None:
            self.report(f"user {key}", "absent", False)
            return
        if not self.dry_run:
            self.step(f"deleting user {key}", self.admin.user_remove, key)
        self.report(f"user {key}", "would delete" if self.dry_run else "deleted", True)

    def remove_policy(self) -> None:
        name = self.settings.policy_name
        try:
            self.admin.policy_info(name)
        except MinioAdminException as exc:
            if is_admin_error(exc, "XMinioAdminNoSuchPolicy"):
                self.report(f"policy {name}", "absent", False)
                return
            fail(f"reading policy {name} failed: {describe(exc)}")
        if not self.dry_run:
            self.step(f"deleting policy {name}", self.admin.policy_remove, name)
        self.report(f"policy {name}", "would delete" if self.dry_run else "deleted", True)

    def remove_bucket(self) -> None:
        bucket, how = self.settings.bucket, self.settings.bucket_cleanup
        subject = f"bucket {bucket}"
        if not self.step(f"checking bucket {bucket}", self.s3.bucket_exists, bucket):
            self.report(subject, "absent", False)
            return
        if how == "keep":
            self.report(subject, "kept (BUCKET_CLEANUP=keep: its artifacts stay)", False)
            return
        listing = self.s3.list_objects(bucket, recursive=True, include_version=True)
        objects = self.step(f"listing bucket {bucket}", list, listing)
        if objects and how != "force":
            fail(f"bucket {bucket} holds {len(objects)} object version(s): it is kept; delete them first, or set "
                 "BUCKET_CLEANUP=force (config: cleanup.bucket: force) to delete them with the bucket")
        if self.dry_run:
            self.report(subject, f"would delete (with {len(objects)} object version(s))", True)
            return
        if objects:
            batch = [DeleteObject(o.object_name, o.version_id) for o in objects]
            errors = self.step(f"deleting the objects of bucket {bucket}", list,
                               self.s3.remove_objects(bucket, batch))
            if errors:
                fail(f"deleting the objects of bucket {bucket}: {len(errors)} refused, e.g. {errors[0].message}")
        self.step(f"deleting bucket {bucket}", self.s3.remove_bucket, bucket)
        self.report(subject, f"deleted (with {len(objects)} object version(s))" if objects else "deleted", True)


def remove(job: Run) -> None:
    """A retired instance's cleanup: the user (its policy mapping goes with it), the policy, the bucket."""
    job.remove_user()
    job.remove_policy()
    job.remove_bucket()


def run(settings: Settings, dry_run: bool) -> None:
    if dry_run:
        say("dry run: reading only, nothing will be changed")
    if settings.secure and not settings.verify_tls:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        say("WARNING: MINIO_VERIFY_TLS=false, the server certificate is not verified")
    wait_for_minio(settings)
    # After MinIO answered: a few quick retries for connection hiccups and 502/503/504 on idempotent requests.
    retries = Retry(total=3, connect=3, read=0, status=2, backoff_factor=0.2, status_forcelist=(502, 503, 504),
                    respect_retry_after_header=False, raise_on_status=False)
    s3, admin = clients(settings, retries)
    job = Run(settings, s3, admin, dry_run)
    if settings.remove:
        remove(job)
        say(f"{'dry run: ' if dry_run else 'done: '}{job.changes} change(s){' planned' if dry_run else ''}")
        return
    bucket_exists = job.ensure_bucket()
    job.ensure_versioning(bucket_exists)
    job.ensure_policy()
    attached = job.ensure_user()
    job.ensure_attachment(attached)
    if dry_run:
        say(f"dry run: {job.changes} change(s) planned, nothing changed")
    else:
        say(f"done: {job.changes} change(s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="read only: print the plan, change nothing")
    parser.add_argument("--rotate-secret", action="store_true",
                        help="set the existing user's secret key to MLFLOW_SECRET_KEY (after a rotation in Vault)")
    parser.add_argument("--remove", action="store_true",
                        help="delete the user and policy (and the bucket as BUCKET_CLEANUP says): a retired instance")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(dict(os.environ), rotate_secret=args.rotate_secret, remove=args.remove)
    except ConfigError as exc:
        warn(f"ERROR: {exc}")
        return 2
    try:
        run(settings, args.dry_run)
    except Failure as exc:
        warn(f"ERROR: {exc}")
        return 1
    except Exception as exc:  # never a traceback that could carry request details
        warn(f"ERROR: unexpected {describe(exc)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
