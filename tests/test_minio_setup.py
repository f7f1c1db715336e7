"""mlflow_gitops/scripts/minio_setup.py run as a subprocess against a real S3 server and a fake MinIO admin API.

moto_server (one per session, reset per test) is the S3 server; tests.fakes.minio_admin.FakeMinio sits in front of it
as the single MinIO endpoint: it answers `/minio/admin/v3/...` itself and forwards all other requests to moto.
Bucket state is checked with boto3 talking to moto directly, IAM state through the fake's inspection helpers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from minio.crypto import decrypt as sdk_decrypt
from minio.crypto import encrypt as sdk_encrypt

from tests.conftest import free_port
from tests.fakes.minio_admin import (
    ARGON2ID_AES_GCM,
    ARGON2ID_CHACHA20_POLY1305,
    PBKDF2_AES_GCM,
    FakeMinio,
    normalize_policy,
    sio_decrypt,
    sio_encrypt,
)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "mlflow_gitops" / "scripts" / "minio_setup.py"

ROOT_USER = "minio-root"
ROOT_PASSWORD = "r00t-Pa55word-do-not-print"
ACCESS_KEY = "mlflow-svc"
SECRET_KEY = "mlflow-Secret-from-vault-42"
BUCKET = "mlflow"
POLICY = "mlflow-readwrite"
SECRETS = (ROOT_PASSWORD, SECRET_KEY)

EXPECTED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
         "Resource": ["arn:aws:s3:::mlflow"]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                       "s3:ListMultipartUploadParts"], "Resource": ["arn:aws:s3:::mlflow/*"]},
    ],
}
SCRIPT_VARIABLES = ("MINIO_URL", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MINIO_VERIFY_TLS", "MINIO_REGION", "BUCKET",
                    "BUCKET_VERSIONING", "MLFLOW_ACCESS_KEY", "MLFLOW_SECRET_KEY", "POLICY_NAME", "WAIT_ATTEMPTS",
                    "WAIT_DELAY_SECONDS", "MLFLOW_ROTATE_SECRET")


@pytest.fixture
def fake(moto_url: str) -> Iterator[FakeMinio]:
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=5).close()
    with FakeMinio(moto_url, ROOT_USER, ROOT_PASSWORD) as server:
        yield server


@pytest.fixture
def s3(moto_url: str):
    """boto3 against moto directly (not through the fake): an independent view of the bucket state."""
    return boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


Runner = Callable[..., subprocess.CompletedProcess[str]]


def script_env(url: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()) -> dict[str, str]:
    """The process environment for one run: ours without any inherited script variable, plus the settings."""
    base = {key: value for key, value in os.environ.items()
            if key not in SCRIPT_VARIABLES and key.removesuffix("_FILE") not in SCRIPT_VARIABLES}
    settings = {
        "MINIO_URL": url, "MINIO_ROOT_USER": ROOT_USER, "MINIO_ROOT_PASSWORD": ROOT_PASSWORD,
        "BUCKET": BUCKET, "MLFLOW_ACCESS_KEY": ACCESS_KEY, "MLFLOW_SECRET_KEY": SECRET_KEY,
        "WAIT_ATTEMPTS": "3", "WAIT_DELAY_SECONDS": "0.05",
    }
    settings.update(env or {})
    for name in unset:
        settings.pop(name, None)
    return {**base, **settings}


def check_output(result: subprocess.CompletedProcess[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    output = result.stdout + result.stderr
    for secret in {*SECRETS, env.get("MLFLOW_SECRET_KEY"), env.get("MINIO_ROOT_PASSWORD")} - {None, ""}:
        assert secret not in output, "a secret value was printed"
    assert "Traceback" not in output, output
    return result


@pytest.fixture
def run(fake: FakeMinio, tmp_path: Path) -> Runner:
    def run_script(*args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = (),
                   timeout: float = 60) -> subprocess.CompletedProcess[str]:
        environment = script_env(fake.url, env, unset)
        result = subprocess.run([sys.executable, str(SCRIPT), *args], env=environment, cwd=tmp_path,
                                capture_output=True, text=True, timeout=timeout)
        return check_output(result, environment)

    return run_script


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """`subject: outcome` lines of the script's stdout."""
    out = {}
    for line in result.stdout.splitlines():
        subject, sep, outcome = line.partition(": ")
        if sep:
            out[subject] = outcome
    return out


def bucket_exists(s3, name: str = BUCKET) -> bool:
    return any(bucket["Name"] == name for bucket in s3.list_buckets().get("Buckets", []))


@pytest.fixture
def converged(fake: FakeMinio, s3) -> FakeMinio:
    """The state a successful run leaves, made directly (bucket in moto; policy, user, mapping in the fake)."""
    s3.create_bucket(Bucket=BUCKET)
    fake.put_policy(POLICY, EXPECTED_POLICY)
    fake.add_user(ACCESS_KEY, SECRET_KEY)
    fake.attach(ACCESS_KEY, POLICY)
    return fake


# ------------------------------------------------------------------------------------------------------ first run


def test_first_run_creates_bucket_policy_user_and_attachment(run: Runner, fake: FakeMinio, s3) -> None:
    assert not bucket_exists(s3)

    result = run()

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"bucket {BUCKET}"] == "created"
    assert out["versioning"].startswith("not managed (BUCKET_VERSIONING=false)")
    assert out[f"policy {POLICY}"] == "created"
    assert out[f"user {ACCESS_KEY}"] == "created"
    assert out["policy attachment"] == f"attached {POLICY} to {ACCESS_KEY}"
    # the bucket is real: moto has it, and versioning was not touched
    assert bucket_exists(s3)
    assert "Status" not in s3.get_bucket_versioning(Bucket=BUCKET)
    # IAM state in the fake: bucket-scoped policy only, a dedicated user with the credentials from the environment
    assert fake.policies == {POLICY: normalize_policy(EXPECTED_POLICY)}
    assert fake.users == {ACCESS_KEY: {"status": "enabled", "policies": [POLICY]}}
    assert fake.user_secret(ACCESS_KEY) == SECRET_KEY
    assert ROOT_USER not in fake.users
    # bucket calls went through the proxy to moto, IAM calls to the admin API, all signed with the root credentials
    assert {request.api for request in fake.requests} == {"s3", "admin"}
    assert all(request.status < 500 for request in fake.requests)


def test_second_run_changes_nothing(run: Runner, fake: FakeMinio, s3) -> None:
    first = run(env={"BUCKET_VERSIONING": "true"})
    assert first.returncode == 0, first.stderr
    assert lines(first)["versioning"] == "enabled (was Off)"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    fake.clear_requests()

    result = run(env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"bucket {BUCKET}"] == "unchanged"
    assert out["versioning"] == "unchanged (Enabled)"
    assert out[f"policy {POLICY}"] == "unchanged"
    assert out[f"user {ACCESS_KEY}"].startswith("unchanged")
    assert out["policy attachment"].startswith("unchanged")
    assert out["done"] == "0 change(s)"
    assert fake.writes() == []
    assert {request.method for request in fake.requests} <= {"GET", "HEAD"}


# ----------------------------------------------------------------------------------------------------- versioning


def test_versioning_true_enables_suspended_versioning(run: Runner, converged: FakeMinio, s3) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})

    result = run(env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    assert lines(result)["versioning"] == "enabled (was Suspended)"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert [(request.method, request.path) for request in converged.writes()] == [("PUT", f"/{BUCKET}")]


def test_versioning_false_leaves_someone_elses_versioning_alone(run: Runner, fake: FakeMinio, s3) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})

    result = run(env={"BUCKET_VERSIONING": "false"})

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"bucket {BUCKET}"] == "unchanged"
    assert out["versioning"] == "not managed (BUCKET_VERSIONING=false), left as Suspended"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"
    assert not [request for request in fake.writes() if request.api == "s3"]


# ---------------------------------------------------------------------------------------------------------- drift


def test_converged_state_is_recognized(run: Runner, converged: FakeMinio) -> None:
    result = run()

    assert result.returncode == 0, result.stderr
    assert lines(result)["done"] == "0 change(s)"
    assert converged.writes() == []


def test_drift_is_repaired(run: Runner, converged: FakeMinio) -> None:
    fake = converged
    fake.put_policy(POLICY, {"Version": "2012-10-17",
                             "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}]})
    fake.detach(ACCESS_KEY, POLICY)
    fake.attach(ACCESS_KEY, "readwrite")
    fake.set_user_status(ACCESS_KEY, "disabled")

    result = run()

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"policy {POLICY}"] == "updated"
    assert out[f"user {ACCESS_KEY}"] == "enabled (was disabled)"
    assert out["policy attachment"] == f"attached {POLICY} to {ACCESS_KEY}"
    assert "WARNING: user mlflow-svc also has policies not managed here: readwrite" in result.stdout
    assert fake.policies[POLICY] == normalize_policy(EXPECTED_POLICY)
    assert fake.users[ACCESS_KEY] == {"status": "enabled", "policies": ["readwrite", POLICY]}


def test_deleted_user_is_recreated_with_the_vault_credentials(run: Runner, converged: FakeMinio) -> None:
    fake = converged
    fake.delete_user(ACCESS_KEY)

    result = run()

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"policy {POLICY}"] == "unchanged"
    assert out[f"user {ACCESS_KEY}"] == "created"
    assert out["policy attachment"] == f"attached {POLICY} to {ACCESS_KEY}"
    assert fake.users[ACCESS_KEY] == {"status": "enabled", "policies": [POLICY]}
    assert fake.user_secret(ACCESS_KEY) == SECRET_KEY


def test_policy_attached_meanwhile_is_not_an_error(run: Runner, fake: FakeMinio) -> None:
    # Another run attaches the policy between our user-info read and our attach: MinIO answers
    # 400 XMinioAdminPolicyChangeAlreadyApplied, which means "unchanged".
    fake.before("idp/builtin/policy/attach", lambda: fake.attach(ACCESS_KEY, POLICY))

    result = run()

    assert result.returncode == 0, result.stderr
    assert lines(result)["policy attachment"] == f"unchanged ({POLICY} already attached to {ACCESS_KEY})"
    attach = [request for request in fake.requests if request.command == "idp/builtin/policy/attach"]
    assert [request.status for request in attach] == [400]
    assert fake.policies_of(ACCESS_KEY) == [POLICY]


# ------------------------------------------------------------------------------------------------------- secrets


def test_changed_secret_is_only_applied_with_rotate_secret(run: Runner, converged: FakeMinio) -> None:
    fake = converged
    new_secret = "rotated-in-vault-0987"

    plain = run(env={"MLFLOW_SECRET_KEY": new_secret})
    assert plain.returncode == 0, plain.stderr
    assert "--rotate-secret" in lines(plain)[f"user {ACCESS_KEY}"]
    assert fake.user_secret(ACCESS_KEY) == SECRET_KEY

    rotated = run("--rotate-secret", env={"MLFLOW_SECRET_KEY": new_secret})
    assert rotated.returncode == 0, rotated.stderr
    assert lines(rotated)[f"user {ACCESS_KEY}"] == "secret key updated (--rotate-secret)"
    assert new_secret not in rotated.stdout + rotated.stderr
    assert fake.user_secret(ACCESS_KEY) == new_secret
    assert fake.users[ACCESS_KEY] == {"status": "enabled", "policies": [POLICY]}


def test_credentials_from_files(run: Runner, fake: FakeMinio, tmp_path: Path) -> None:
    (tmp_path / "root").write_text(ROOT_PASSWORD + "\n")
    (tmp_path / "secret").write_text(SECRET_KEY + "\n")

    result = run(env={"MINIO_ROOT_PASSWORD_FILE": str(tmp_path / "root"),
                      "MLFLOW_SECRET_KEY_FILE": str(tmp_path / "secret")},
                 unset=("MINIO_ROOT_PASSWORD", "MLFLOW_SECRET_KEY"))

    assert result.returncode == 0, result.stderr
    assert fake.user_secret(ACCESS_KEY) == SECRET_KEY


# ------------------------------------------------------------------------------------------------------ dry run


def test_dry_run_changes_nothing(run: Runner, fake: FakeMinio, s3) -> None:
    result = run("--dry-run", env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"bucket {BUCKET}"] == "would create"
    assert out["versioning"] == "would enable"
    assert out[f"policy {POLICY}"] == "would be created"
    assert out[f"user {ACCESS_KEY}"] == "would create"
    assert out["policy attachment"] == f"would attach {POLICY} to {ACCESS_KEY}"
    assert fake.writes() == []
    assert not bucket_exists(s3)
    assert fake.users == {} and fake.policies == {}


def test_dry_run_reports_drift_without_repairing_it(run: Runner, converged: FakeMinio, s3) -> None:
    fake = converged
    fake.put_policy(POLICY, {"Version": "2012-10-17",
                             "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}]})
    fake.detach(ACCESS_KEY, POLICY)

    result = run("--dry-run", env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out["versioning"] == "would enable (currently Off)"
    assert out[f"policy {POLICY}"] == "would be updated"
    assert out["policy attachment"] == f"would attach {POLICY} to {ACCESS_KEY}"
    assert fake.writes() == []
    assert fake.policies_of(ACCESS_KEY) == []
    assert "Status" not in s3.get_bucket_versioning(Bucket=BUCKET)


# ------------------------------------------------------------------------------------------------------- failures


def test_minio_down_fails_after_bounded_retries(run: Runner, fake: FakeMinio) -> None:
    fake.down = True  # 503 XMinioServerNotInitialized with Retry-After: 120, like a starting MinIO

    started = time.monotonic()
    result = run(env={"WAIT_ATTEMPTS": "3", "WAIT_DELAY_SECONDS": "0.05"})

    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert "did not become ready after 3 attempts" in result.stderr
    assert "XMinioServerNotInitialized" in result.stderr
    assert result.stdout.count("not ready") == 3
    assert len(fake.requests) == 3 and fake.writes() == []


def test_unreachable_minio_fails_quickly(run: Runner) -> None:
    started = time.monotonic()
    result = run(env={"MINIO_URL": f"http://127.0.0.1:{free_port()}", "WAIT_ATTEMPTS": "2"})

    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert "did not become ready after 2 attempts" in result.stderr
    assert "cannot connect" in result.stderr


def test_waits_until_minio_is_up(run: Runner, converged: FakeMinio) -> None:
    converged.down_for = 2  # the first two requests see a starting MinIO

    result = run(env={"WAIT_ATTEMPTS": "5", "WAIT_DELAY_SECONDS": "0.05"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("not ready: XMinioServerNotInitialized") == 2
    assert "is ready (attempt 3/5)" in result.stdout
    assert lines(result)["done"] == "0 change(s)"


def test_wrong_root_password_fails_fast_without_printing_secrets(run: Runner, fake: FakeMinio) -> None:
    wrong = "wrong-Password-also-secret"

    result = run(env={"MINIO_ROOT_PASSWORD": wrong, "WAIT_ATTEMPTS": "5"})

    assert result.returncode == 1
    assert "rejected" in result.stderr and "MINIO_ROOT_USER/MINIO_ROOT_PASSWORD" in result.stderr
    assert "SignatureDoesNotMatch" in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert [(request.method, request.status) for request in fake.requests] == [("GET", 403)]  # no retries


def test_unknown_root_user_fails(run: Runner) -> None:
    result = run(env={"MINIO_ROOT_USER": "not-the-root"})

    assert result.returncode == 1
    assert "InvalidAccessKeyId" in result.stderr


MISSING = ("MINIO_URL", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "BUCKET", "MLFLOW_ACCESS_KEY", "MLFLOW_SECRET_KEY")
INVALID = {
    "versioning": ({"BUCKET_VERSIONING": "maybe"}, "BUCKET_VERSIONING must be true or false"),
    "url": ({"MINIO_URL": "minio:9000"}, "MINIO_URL must look like http(s)://host[:port]"),
    "same-user": ({"MLFLOW_ACCESS_KEY": ROOT_USER}, "MLFLOW_ACCESS_KEY must differ from MINIO_ROOT_USER"),
    "short-secret": ({"MLFLOW_SECRET_KEY": "short"}, "MLFLOW_SECRET_KEY must have at least 8 characters"),
    "attempts": ({"WAIT_ATTEMPTS": "0"}, "WAIT_ATTEMPTS must be >= 1"),
    "bucket": ({"BUCKET": "Not_A_Bucket"}, "BUCKET must be a valid bucket name"),
    "both": ({"MLFLOW_SECRET_KEY_FILE": "/nonexistent"}, "set either MLFLOW_SECRET_KEY or MLFLOW_SECRET_KEY_FILE"),
    "unreadable": ({"MINIO_ROOT_PASSWORD_FILE": "/nonexistent/root"}, "MINIO_ROOT_PASSWORD_FILE: cannot read"),
}


@pytest.fixture(scope="module")
def config_errors(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeMinio, dict]]:
    """All invalid-settings runs, started at once (each is just interpreter start-up), against one recording fake."""
    cwd = tmp_path_factory.mktemp("config-errors")
    with FakeMinio(moto_url, ROOT_USER, ROOT_PASSWORD) as fake:
        cases = {f"missing-{name}": script_env(fake.url, unset=(name,)) for name in MISSING}
        for case, (env, _) in INVALID.items():
            cases[case] = script_env(fake.url, env, unset=("MINIO_ROOT_PASSWORD",) if case == "unreadable" else ())
        processes = {case: subprocess.Popen([sys.executable, str(SCRIPT)], env=env, cwd=cwd, text=True,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for case, env in cases.items()}
        results = {}
        for case, process in processes.items():
            stdout, stderr = process.communicate(timeout=60)
            results[case] = check_output(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr),
                                         cases[case])
        yield fake, results


@pytest.mark.parametrize("name", MISSING)
def test_missing_setting_exits_2_naming_it(config_errors: tuple[FakeMinio, dict], name: str) -> None:
    fake, results = config_errors
    result = results[f"missing-{name}"]

    assert result.returncode == 2, result.stderr
    assert name in result.stderr and "required" in result.stderr
    assert fake.requests == []


@pytest.mark.parametrize("case", INVALID)
def test_invalid_setting_exits_2(config_errors: tuple[FakeMinio, dict], case: str) -> None:
    fake, results = config_errors
    result = results[case]

    assert result.returncode == 2, result.stderr
    assert INVALID[case][1] in result.stderr
    assert fake.requests == []


# ------------------------------------------------------------------------------------------ the fake's protocol


class _Body(BytesIO):
    """What minio.crypto.decrypt reads from: a urllib3 response."""

    def release_conn(self) -> None:
        pass


def test_fake_crypto_interoperates_with_the_sdk() -> None:
    """The fake's own madmin/sio code and minio.crypto read each other's messages (both directions)."""
    payload = json.dumps({"secretKey": "x" * 40000}).encode()  # spans several 16 KiB chunks
    assert sio_decrypt(sdk_encrypt(payload, "pw"), "pw") == payload
    salt = os.urandom(32)
    for aead_id in (ARGON2ID_AES_GCM, ARGON2ID_CHACHA20_POLY1305):
        assert sdk_decrypt(_Body(sio_encrypt(payload, "pw", aead_id, salt=salt)), "pw") == payload
    assert sio_decrypt(sio_encrypt(b"x", "pw", PBKDF2_AES_GCM), "pw") == b"x"
    with pytest.raises(ValueError):
        sio_decrypt(sio_encrypt(b"x", "pw", salt=salt), "other")
