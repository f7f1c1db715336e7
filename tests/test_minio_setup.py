"""mlflow_gitops/scripts/minio_setup.py run as a subprocess against a real MinIO server (tests/minio_server.py).

One MinIO for the session; every test uses its own bucket, policy and user names on it. State is checked with the
root's admin and S3 clients, and what the dedicated user may do with real S3 requests signed as that user (boto3,
what MLflow's S3 artifact store uses).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from minio.error import MinioAdminException

from tests.conftest import free_port
from tests.minio_server import ROOT_PASSWORD, ROOT_USER, MinioServer, minio_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "mlflow_gitops" / "scripts" / "minio_setup.py"

SECRET_KEY = "mlflow-Secret-from-vault-42"
SECRETS = (ROOT_PASSWORD, SECRET_KEY)
SCRIPT_VARIABLES = (
    "MINIO_URL",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "MINIO_VERIFY_TLS",
    "MINIO_REGION",
    "BUCKET",
    "BUCKET_VERSIONING",
    "MLFLOW_ACCESS_KEY",
    "MLFLOW_SECRET_KEY",
    "POLICY_NAME",
    "WAIT_ATTEMPTS",
    "WAIT_DELAY_SECONDS",
    "MLFLOW_ROTATE_SECRET",
)
WIDE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}],
}


def expected_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
        ],
    }


def canonical(document: dict[str, Any]) -> Any:
    """Statements as sets of (effect, sorted actions, sorted resources): MinIO re-serializes what it stores."""
    statements = document.get("Statement") or []
    return sorted(
        (
            s["Effect"],
            sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"]),
            sorted([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]),
        )
        for s in statements
    )


@dataclass
class Names:
    """One test's bucket, policy and user on the shared server."""

    bucket: str
    policy: str
    access_key: str
    other_bucket: str


@pytest.fixture
def names() -> Names:
    tag = uuid.uuid4().hex[:10]
    return Names(f"mlflow-{tag}", f"mlflow-{tag}-readwrite", f"svc-{tag}", f"other-{tag}")


@pytest.fixture
def minio(minio_server: MinioServer) -> MinioServer:  # noqa: F811
    return minio_server


Runner = Callable[..., subprocess.CompletedProcess[str]]


def script_env(
    url: str, names: Names, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> dict[str, str]:
    """The process environment for one run: ours without any inherited script variable, plus the settings."""
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in SCRIPT_VARIABLES and key.removesuffix("_FILE") not in SCRIPT_VARIABLES
    }
    settings = {
        "MINIO_URL": url,
        "MINIO_ROOT_USER": ROOT_USER,
        "MINIO_ROOT_PASSWORD": ROOT_PASSWORD,
        "BUCKET": names.bucket,
        "MLFLOW_ACCESS_KEY": names.access_key,
        "MLFLOW_SECRET_KEY": SECRET_KEY,
        "WAIT_ATTEMPTS": "3",
        "WAIT_DELAY_SECONDS": "0.05",
    }
    settings.update(env or {})
    for name in unset:
        settings.pop(name, None)
    return {**base, **settings}


def check_output(result: subprocess.CompletedProcess[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    output = result.stdout + result.stderr
    for secret in {*SECRETS, env.get("MLFLOW_SECRET_KEY", ""), env.get("MINIO_ROOT_PASSWORD", "")} - {""}:
        assert secret not in output, "a secret value was printed"
    assert "Traceback" not in output, output
    return result


@pytest.fixture
def run(minio: MinioServer, names: Names, tmp_path: Path) -> Runner:
    def run_script(
        *args: str, env: dict[str, str] | None = None, unset: tuple[str, ...] = (), timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        environment = script_env(minio.url, names, env, unset)
        result = subprocess.run(
            [sys.executable, str(SCRIPT), *args],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
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


# ------------------------------------------------------------------------------------------- state, read as root


def bucket_exists(minio: MinioServer, bucket: str) -> bool:
    return any(b["Name"] == bucket for b in minio.s3().list_buckets().get("Buckets", []))


def user_info(minio: MinioServer, access_key: str) -> dict[str, Any] | None:
    try:
        return json.loads(minio.admin().user_info(access_key))
    except MinioAdminException as exc:
        if "XMinioAdminNoSuchUser" in str(exc):
            return None
        raise


def policies_of(minio: MinioServer, access_key: str) -> list[str]:
    info = user_info(minio, access_key) or {}
    return sorted(p for p in str(info.get("policyName") or "").split(",") if p)


def policy(minio: MinioServer, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(minio.admin().policy_info(name))
    except MinioAdminException as exc:
        if "XMinioAdminNoSuchPolicy" in str(exc):
            return None
        raise


def versioning(minio: MinioServer, bucket: str) -> str | None:
    return minio.s3().get_bucket_versioning(Bucket=bucket).get("Status")


def error_code(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return str(info.value.response["Error"]["Code"])


def authenticates(minio: MinioServer, access_key: str, secret_key: str, bucket: str) -> str:
    """'ok' when a request signed with these credentials is accepted, else MinIO's error code."""
    try:
        minio.s3(access_key, secret_key).list_objects_v2(Bucket=bucket, MaxKeys=1)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


@pytest.fixture
def converged(minio: MinioServer, names: Names) -> Names:
    """The state a successful run leaves, made directly through the root's S3 and admin APIs."""
    minio.s3().create_bucket(Bucket=names.bucket)
    admin = minio.admin()
    admin.policy_add(names.policy, policy=expected_policy(names.bucket))
    admin.user_add(names.access_key, SECRET_KEY)
    admin.attach_policy([names.policy], user=names.access_key)
    return names


# ------------------------------------------------------------------------------------------------------ first run


def test_first_run_creates_bucket_policy_user_and_attachment(run: Runner, minio: MinioServer, names: Names) -> None:
    assert not bucket_exists(minio, names.bucket)

    result = run()

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"bucket {names.bucket}"] == "created"
    assert out["versioning"] == "not managed (BUCKET_VERSIONING=false), left as Off"
    assert out[f"policy {names.policy}"] == "created"
    assert out[f"user {names.access_key}"] == "created"
    assert out["policy attachment"] == f"attached {names.policy} to {names.access_key}"
    assert out["done"] == "4 change(s)"
    # what MinIO now holds: the bucket (versioning untouched), the bucket-scoped policy, the enabled user with only it
    assert bucket_exists(minio, names.bucket)
    assert versioning(minio, names.bucket) is None
    stored = policy(minio, names.policy)
    assert stored is not None and canonical(stored) == canonical(expected_policy(names.bucket))
    info = user_info(minio, names.access_key)
    assert info is not None and info["status"] == "enabled"
    assert policies_of(minio, names.access_key) == [names.policy]
    # the user's secret key is the one from the environment (Vault): MinIO accepts requests signed with it
    assert authenticates(minio, names.access_key, SECRET_KEY, names.bucket) == "ok"
    assert authenticates(minio, names.access_key, "some-other-secret", names.bucket) == "SignatureDoesNotMatch"


def test_second_run_changes_nothing(run: Runner, minio: MinioServer, names: Names) -> None:
    first = run(env={"BUCKET_VERSIONING": "true"})
    assert first.returncode == 0, first.stderr
    assert lines(first)["versioning"] == "enabled (was Off)"
    assert versioning(minio, names.bucket) == "Enabled"
    user_before, policy_before = user_info(minio, names.access_key), policy(minio, names.policy)

    result = run(env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    assert lines(result) == {  # every object unchanged, nothing else printed
        f"bucket {names.bucket}": "unchanged",
        "versioning": "unchanged (Enabled)",
        f"policy {names.policy}": "unchanged",
        f"user {names.access_key}": "unchanged (secret key not compared; see --rotate-secret)",
        "policy attachment": f"unchanged ({names.policy} attached to {names.access_key})",
        "done": "0 change(s)",
    }
    assert f"MinIO {minio.url} is ready (attempt 1/3)" in result.stdout
    # no write reached MinIO: the user's record (its updatedAt changes on every add-user/attach) and the policy
    assert user_info(minio, names.access_key) == user_before
    policy_after = policy(minio, names.policy)
    assert policy_before is not None and policy_after is not None
    assert canonical(policy_after) == canonical(policy_before)  # MinIO returns the action set in any order
    assert versioning(minio, names.bucket) == "Enabled"


# ----------------------------------------------------------------------------------------------- the user's access


def test_user_reads_and_writes_its_bucket_and_nothing_else(run: Runner, minio: MinioServer, names: Names) -> None:
    root = minio.s3()
    root.create_bucket(Bucket=names.other_bucket)
    root.put_object(Bucket=names.other_bucket, Key="secret.txt", Body=b"not yours")
    assert run().returncode == 0

    user = minio.s3(names.access_key, SECRET_KEY)
    bucket, key = names.bucket, "1/run/artifacts/model.txt"
    # everything MLflow's S3 artifact store does in its bucket
    user.put_object(Bucket=bucket, Key=key, Body=b"weights")
    assert user.get_object(Bucket=bucket, Key=key)["Body"].read() == b"weights"
    assert user.head_object(Bucket=bucket, Key=key)["ContentLength"] == 7
    listing = user.list_objects_v2(Bucket=bucket, Prefix="1/", Delimiter="/")
    assert [p["Prefix"] for p in listing.get("CommonPrefixes", [])] == ["1/run/"]
    user.head_bucket(Bucket=bucket)
    user.get_bucket_location(Bucket=bucket)
    upload = user.create_multipart_upload(Bucket=bucket, Key="big.bin")
    part = user.upload_part(Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 10)
    assert [
        p["PartNumber"] for p in user.list_parts(Bucket=bucket, Key="big.bin", UploadId=upload["UploadId"])["Parts"]
    ] == [1]
    assert [u["Key"] for u in user.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == ["big.bin"]
    user.complete_multipart_upload(
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    aborted = user.create_multipart_upload(Bucket=bucket, Key="aborted.bin")
    user.abort_multipart_upload(Bucket=bucket, Key="aborted.bin", UploadId=aborted["UploadId"])
    user.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "big.bin"}]})  # MLflow's delete_artifacts
    user.delete_object(Bucket=bucket, Key=key)
    assert root.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    # nothing outside it: other buckets, bucket administration, IAM
    assert error_code(user.get_object, Bucket=names.other_bucket, Key="secret.txt") == "AccessDenied"
    assert error_code(user.put_object, Bucket=names.other_bucket, Key="x", Body=b"x") == "AccessDenied"
    assert error_code(user.list_objects_v2, Bucket=names.other_bucket) == "AccessDenied"
    assert error_code(user.delete_object, Bucket=names.other_bucket, Key="secret.txt") == "AccessDenied"
    assert error_code(user.create_bucket, Bucket=f"{names.bucket}-new") == "AccessDenied"
    assert error_code(user.delete_bucket, Bucket=bucket) == "AccessDenied"
    assert (
        error_code(user.put_bucket_versioning, Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        == "AccessDenied"
    )
    assert error_code(user.put_bucket_policy, Bucket=bucket, Policy=json.dumps(WIDE_POLICY)) == "AccessDenied"
    assert error_code(user.get_bucket_policy, Bucket=bucket) == "AccessDenied"
    # ListBuckets is not refused by MinIO but filtered: the user sees its own bucket only, never the others
    assert [b["Name"] for b in user.list_buckets()["Buckets"]] == [bucket]
    user_admin = minio.admin(names.access_key, SECRET_KEY)
    for call in (
        user_admin.user_list,
        user_admin.policy_list,
        user_admin.info,
        lambda: user_admin.attach_policy(["readwrite"], user=names.access_key),
        lambda: user_admin.user_add("intruder", "intruder-secret-1"),
    ):
        with pytest.raises(MinioAdminException, match=r"Status: 403.*AccessDenied"):
            call()
    assert root.get_object(Bucket=names.other_bucket, Key="secret.txt")["Body"].read() == b"not yours"
    assert policies_of(minio, names.access_key) == [names.policy]


# ----------------------------------------------------------------------------------------------------- versioning


def test_versioning_true_enables_suspended_versioning(run: Runner, converged: Names, minio: MinioServer) -> None:
    minio.s3().put_bucket_versioning(Bucket=converged.bucket, VersioningConfiguration={"Status": "Suspended"})

    result = run(env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    assert lines(result)["versioning"] == "enabled (was Suspended)"
    assert lines(result)["done"] == "1 change(s)"
    assert versioning(minio, converged.bucket) == "Enabled"


def test_versioning_false_leaves_someone_elses_versioning_alone(run: Runner, minio: MinioServer, names: Names) -> None:
    minio.s3().create_bucket(Bucket=names.bucket)
    minio.s3().put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Suspended"})

    result = run(env={"BUCKET_VERSIONING": "false"})

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"bucket {names.bucket}"] == "unchanged"
    assert out["versioning"] == "not managed (BUCKET_VERSIONING=false), left as Suspended"
    assert versioning(minio, names.bucket) == "Suspended"


# ---------------------------------------------------------------------------------------------------------- drift


def test_converged_state_is_recognized(run: Runner, converged: Names, minio: MinioServer) -> None:
    before = user_info(minio, converged.access_key)

    result = run()

    assert result.returncode == 0, result.stderr
    assert lines(result)["done"] == "0 change(s)"
    assert user_info(minio, converged.access_key) == before


def test_drift_is_repaired(run: Runner, converged: Names, minio: MinioServer) -> None:
    names = converged
    admin = minio.admin()
    user = minio.s3(names.access_key, SECRET_KEY)
    user.put_object(Bucket=names.bucket, Key="k", Body=b"1")
    admin.policy_add(names.policy, policy=WIDE_POLICY)
    admin.detach_policy([names.policy], user=names.access_key)
    assert error_code(user.get_object, Bucket=names.bucket, Key="k") == "AccessDenied"  # detaching really cuts it off
    admin.attach_policy(["readwrite"], user=names.access_key)  # MinIO's built-in: every bucket
    admin.user_disable(names.access_key)
    assert authenticates(minio, names.access_key, SECRET_KEY, names.bucket) == "InvalidAccessKeyId"

    result = run()

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"policy {names.policy}"] == "updated"
    assert out[f"user {names.access_key}"] == "enabled (was disabled)"
    assert out["policy attachment"] == f"attached {names.policy} to {names.access_key}"
    assert out["done"] == "3 change(s)"
    assert f"WARNING: user {names.access_key} also has policies not managed here: readwrite" in result.stdout
    stored = policy(minio, names.policy)
    assert stored is not None and canonical(stored) == canonical(expected_policy(names.bucket))
    assert policies_of(minio, names.access_key) == sorted(["readwrite", names.policy])
    assert (user_info(minio, names.access_key) or {})["status"] == "enabled"
    assert user.get_object(Bucket=names.bucket, Key="k")["Body"].read() == b"1"
    # the unmanaged policy is only warned about; once someone detaches it, the next run is quiet and changes nothing
    admin.detach_policy(["readwrite"], user=names.access_key)
    again = run()
    assert lines(again)["done"] == "0 change(s)" and "WARNING" not in again.stdout


def test_policy_changed_only_in_its_resources_is_updated(run: Runner, converged: Names, minio: MinioServer) -> None:
    # same actions, but for another bucket: the user would lose its own bucket
    minio.admin().policy_add(converged.policy, policy=expected_policy(converged.other_bucket))
    assert authenticates(minio, converged.access_key, SECRET_KEY, converged.bucket) == "AccessDenied"

    result = run()

    assert result.returncode == 0, result.stderr
    assert lines(result)[f"policy {converged.policy}"] == "updated"
    assert authenticates(minio, converged.access_key, SECRET_KEY, converged.bucket) == "ok"


def test_deleted_user_is_recreated_with_the_vault_credentials(
    run: Runner, converged: Names, minio: MinioServer
) -> None:
    minio.admin().user_remove(converged.access_key)
    assert user_info(minio, converged.access_key) is None

    result = run()

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"policy {converged.policy}"] == "unchanged"
    assert out[f"user {converged.access_key}"] == "created"
    assert out["policy attachment"] == f"attached {converged.policy} to {converged.access_key}"
    assert policies_of(minio, converged.access_key) == [converged.policy]
    assert authenticates(minio, converged.access_key, SECRET_KEY, converged.bucket) == "ok"


def _load_script(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location("minio_setup_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def test_policy_attached_meanwhile_is_not_an_error(
    minio: MinioServer, names: Names, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another run attaches the policy between our user-info read and our attach: MinIO itself answers
    400 XMinioAdminPolicyChangeAlreadyApplied, which the script takes as "unchanged". (In-process, to place the
    concurrent attach exactly there.)"""
    script = _load_script(monkeypatch)
    original = script.MinioAdmin.user_info
    raced: list[str] = []

    def user_info_then_race(self: Any, access_key: str) -> str:
        info = original(self, access_key)
        if not raced:
            raced.append(access_key)
            minio.admin().attach_policy([names.policy], user=access_key)  # the concurrent run
        return info

    for key, value in script_env(minio.url, names).items():
        monkeypatch.setenv(key, value)
    minio.s3().create_bucket(Bucket=names.bucket)
    minio.admin().policy_add(names.policy, policy=expected_policy(names.bucket))
    minio.admin().user_add(names.access_key, SECRET_KEY)
    monkeypatch.setattr(script.MinioAdmin, "user_info", user_info_then_race)

    assert script.main([]) == 0
    out = capsys.readouterr().out

    assert raced == [names.access_key]
    assert f"policy attachment: unchanged ({names.policy} already attached to {names.access_key})" in out
    assert policies_of(minio, names.access_key) == [names.policy]


# ------------------------------------------------------------------------------------------------------- secrets


def test_changed_secret_is_only_applied_with_rotate_secret(run: Runner, converged: Names, minio: MinioServer) -> None:
    names = converged
    new_secret = "rotated-in-vault-0987"

    plain = run(env={"MLFLOW_SECRET_KEY": new_secret})
    assert plain.returncode == 0, plain.stderr
    assert "--rotate-secret" in lines(plain)[f"user {names.access_key}"]
    assert authenticates(minio, names.access_key, SECRET_KEY, names.bucket) == "ok"
    assert authenticates(minio, names.access_key, new_secret, names.bucket) == "SignatureDoesNotMatch"

    rotated = run("--rotate-secret", env={"MLFLOW_SECRET_KEY": new_secret})
    assert rotated.returncode == 0, rotated.stderr
    assert lines(rotated)[f"user {names.access_key}"] == "secret key updated (--rotate-secret)"
    assert new_secret not in rotated.stdout + rotated.stderr
    assert authenticates(minio, names.access_key, new_secret, names.bucket) == "ok"
    assert authenticates(minio, names.access_key, SECRET_KEY, names.bucket) == "SignatureDoesNotMatch"
    assert policies_of(minio, names.access_key) == [names.policy]  # add-user on an existing user keeps its policies


def test_rotate_secret_enables_a_disabled_user(run: Runner, converged: Names, minio: MinioServer) -> None:
    minio.admin().user_disable(converged.access_key)

    result = run("--rotate-secret")

    assert result.returncode == 0, result.stderr
    assert lines(result)[f"user {converged.access_key}"] == "secret key updated (--rotate-secret), user enabled"
    assert (user_info(minio, converged.access_key) or {})["status"] == "enabled"
    assert authenticates(minio, converged.access_key, SECRET_KEY, converged.bucket) == "ok"


def test_credentials_from_files(run: Runner, minio: MinioServer, names: Names, tmp_path: Path) -> None:
    (tmp_path / "root").write_text(ROOT_PASSWORD + "\n")
    (tmp_path / "secret").write_text(SECRET_KEY + "\n")

    result = run(
        env={"MINIO_ROOT_PASSWORD_FILE": str(tmp_path / "root"), "MLFLOW_SECRET_KEY_FILE": str(tmp_path / "secret")},
        unset=("MINIO_ROOT_PASSWORD", "MLFLOW_SECRET_KEY"),
    )

    assert result.returncode == 0, result.stderr
    assert authenticates(minio, names.access_key, SECRET_KEY, names.bucket) == "ok"  # the trailing newline stripped


# ------------------------------------------------------------------------------------------------------ dry run


def test_dry_run_changes_nothing(run: Runner, minio: MinioServer, names: Names) -> None:
    result = run("--dry-run", env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[f"bucket {names.bucket}"] == "would create"
    assert out["versioning"] == "would enable"
    assert out[f"policy {names.policy}"] == "would be created"
    assert out[f"user {names.access_key}"] == "would create"
    assert out["policy attachment"] == f"would attach {names.policy} to {names.access_key}"
    assert not bucket_exists(minio, names.bucket)
    assert policy(minio, names.policy) is None
    assert user_info(minio, names.access_key) is None


def test_dry_run_reports_drift_without_repairing_it(run: Runner, converged: Names, minio: MinioServer) -> None:
    names = converged
    minio.admin().policy_add(names.policy, policy=WIDE_POLICY)
    minio.admin().detach_policy([names.policy], user=names.access_key)

    result = run("--dry-run", env={"BUCKET_VERSIONING": "true"})

    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out["versioning"] == "would enable (currently Off)"
    assert out[f"policy {names.policy}"] == "would be updated"
    assert out["policy attachment"] == f"would attach {names.policy} to {names.access_key}"
    assert policies_of(minio, names.access_key) == []
    stored = policy(minio, names.policy)
    assert stored is not None and canonical(stored) == canonical(WIDE_POLICY)
    assert versioning(minio, names.bucket) is None


# ------------------------------------------------------------------------------------------------------- failures


def test_minio_down_fails_after_bounded_retries(run: Runner) -> None:
    started = time.monotonic()
    result = run(
        env={"MINIO_URL": f"http://127.0.0.1:{free_port()}", "WAIT_ATTEMPTS": "3", "WAIT_DELAY_SECONDS": "0.05"}
    )

    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert "did not become ready after 3 attempts" in result.stderr
    assert "cannot connect" in result.stderr
    assert result.stdout.count("not ready") == 3


def test_waits_until_minio_is_up(names: Names, tmp_path: Path) -> None:
    """The Job may start before MinIO: the script keeps trying until a MinIO starting on that port answers."""
    late = MinioServer(port=free_port(), logdir=tmp_path)
    env = script_env(late.url, names, {"WAIT_ATTEMPTS": "30", "WAIT_DELAY_SECONDS": "0.2"})
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        time.sleep(1.5)  # let the script fail a few attempts first
        with late:
            stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = check_output(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), env)

    assert result.returncode == 0, result.stderr
    assert "not ready: cannot connect" in result.stdout
    assert f"MinIO {late.url} is ready (attempt " in result.stdout
    assert lines(result)["done"] == "4 change(s)"


def test_minio_with_a_site_region(names: Names, tmp_path: Path) -> None:
    """A MinIO with a region (MINIO_SITE_REGION) refuses requests signed for another one; without MINIO_REGION the
    script creates the bucket in the region MinIO reports (the SDK alone signs CreateBucket for us-east-1)."""
    with MinioServer(port=free_port(), logdir=tmp_path, env={"MINIO_SITE_REGION": "eu-central-1"}) as regional:
        env = script_env(regional.url, names)
        result = check_output(
            subprocess.run(
                [sys.executable, str(SCRIPT)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
            ),
            env,
        )

        assert result.returncode == 0, result.stderr
        assert lines(result)[f"bucket {names.bucket}"] == "created"
        assert regional.s3().get_bucket_location(Bucket=names.bucket)["LocationConstraint"] == "eu-central-1"
        user = regional.s3(names.access_key, SECRET_KEY)
        user.put_object(Bucket=names.bucket, Key="k", Body=b"1")
        assert user.get_object(Bucket=names.bucket, Key="k")["Body"].read() == b"1"
        again = check_output(
            subprocess.run(
                [sys.executable, str(SCRIPT)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
            ),
            env,
        )
        assert lines(again)["done"] == "0 change(s)"


def test_wrong_root_password_fails_fast_without_printing_secrets(run: Runner, minio: MinioServer, names: Names) -> None:
    wrong = "wrong-Password-also-secret"

    started = time.monotonic()
    result = run(env={"MINIO_ROOT_PASSWORD": wrong, "WAIT_ATTEMPTS": "5", "WAIT_DELAY_SECONDS": "1"})

    assert result.returncode == 1
    assert time.monotonic() - started < 5  # no retries: waiting does not fix credentials
    assert "rejected" in result.stderr and "MINIO_ROOT_USER/MINIO_ROOT_PASSWORD" in result.stderr
    assert "SignatureDoesNotMatch" in result.stderr
    assert "not ready" not in result.stdout
    assert wrong not in result.stdout + result.stderr
    assert not bucket_exists(minio, names.bucket)


def test_unknown_root_user_fails(run: Runner) -> None:
    result = run(env={"MINIO_ROOT_USER": "not-the-root"})

    assert result.returncode == 1
    assert "InvalidAccessKeyId" in result.stderr


def test_dedicated_user_as_root_is_refused_by_minio(run: Runner, converged: Names) -> None:
    """The Job must be given the root credentials: the MLflow user itself may not manage IAM."""
    result = run(
        env={
            "MINIO_ROOT_USER": converged.access_key,
            "MINIO_ROOT_PASSWORD": SECRET_KEY,
            "MLFLOW_ACCESS_KEY": f"{converged.access_key}-2",
            "MLFLOW_SECRET_KEY": "another-Secret-42",
        }
    )

    assert result.returncode == 1
    assert "AccessDenied" in result.stderr


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
def config_errors(
    minio_server: MinioServer,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Names, dict[str, Any]]]:
    """All invalid-settings runs, started at once (each is just interpreter start-up), against the real MinIO."""
    cwd = tmp_path_factory.mktemp("config-errors")
    tag = uuid.uuid4().hex[:10]
    names = Names(f"cfg-{tag}", f"cfg-{tag}-readwrite", f"cfg-svc-{tag}", f"cfg-other-{tag}")
    cases = {f"missing-{name}": script_env(minio_server.url, names, unset=(name,)) for name in MISSING}
    for case, (env, _) in INVALID.items():
        cases[case] = script_env(
            minio_server.url, names, env, unset=("MINIO_ROOT_PASSWORD",) if case == "unreadable" else ()
        )
    processes = {
        case: subprocess.Popen(
            [sys.executable, str(SCRIPT)], env=env, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for case, env in cases.items()
    }
    results = {}
    for case, process in processes.items():
        stdout, stderr = process.communicate(timeout=60)
        results[case] = check_output(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), cases[case]
        )
    yield names, results
    assert not bucket_exists(minio_server, names.bucket)  # no run got as far as MinIO
    assert user_info(minio_server, names.access_key) is None


@pytest.mark.parametrize("name", MISSING)
def test_missing_setting_exits_2_naming_it(config_errors: tuple[Names, dict[str, Any]], name: str) -> None:
    _, results = config_errors
    result = results[f"missing-{name}"]

    assert result.returncode == 2, result.stderr
    assert name in result.stderr and "required" in result.stderr
    assert result.stdout == ""  # refused before contacting MinIO


@pytest.mark.parametrize("case", INVALID)
def test_invalid_setting_exits_2(config_errors: tuple[Names, dict[str, Any]], case: str) -> None:
    _, results = config_errors
    result = results[case]

    assert result.returncode == 2, result.stderr
    assert INVALID[case][1] in result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------------------------ removal (a retired instance)


def policy_exists(minio: MinioServer, name: str) -> bool:
    try:
        minio.admin().policy_info(name)
    except MinioAdminException as exc:
        if "XMinioAdminNoSuchPolicy" in str(exc):
            return False
        raise
    return True


def test_remove_deletes_user_and_policy_and_keeps_the_bucket_unless_asked(
    minio: MinioServer,
    names: Names,
    run: Runner,
) -> None:
    assert run().returncode == 0
    s3 = minio.s3()
    s3.put_object(Bucket=names.bucket, Key="1/artifacts/model.pkl", Body=b"weights")
    s3.create_bucket(Bucket=names.other_bucket)
    no_secret = {"REMOVE": "true"}

    kept = run(env=no_secret, unset=("MLFLOW_SECRET_KEY",))

    assert kept.returncode == 0, kept.stderr
    assert lines(kept) == {
        f"user {names.access_key}": "deleted",
        f"policy {names.policy}": "deleted",
        f"bucket {names.bucket}": "kept (BUCKET_CLEANUP=keep: its artifacts stay)",
        "done": "2 change(s)",
    }
    assert user_info(minio, names.access_key) is None
    assert not policy_exists(minio, names.policy)
    assert bucket_exists(minio, names.bucket)

    refused = run("--remove", env={"BUCKET_CLEANUP": "delete"}, unset=("MLFLOW_SECRET_KEY",))
    assert refused.returncode == 1
    assert f"bucket {names.bucket} holds 1 object version(s): it is kept" in refused.stderr
    assert lines(refused)[f"user {names.access_key}"] == "absent"
    assert bucket_exists(minio, names.bucket)

    plan = run("--remove", "--dry-run", env={"BUCKET_CLEANUP": "force"}, unset=("MLFLOW_SECRET_KEY",))
    assert lines(plan)[f"bucket {names.bucket}"] == "would delete (with 1 object version(s))"
    assert bucket_exists(minio, names.bucket)

    forced = run("--remove", env={"BUCKET_CLEANUP": "force"}, unset=("MLFLOW_SECRET_KEY",))
    assert forced.returncode == 0, forced.stderr
    assert lines(forced)[f"bucket {names.bucket}"] == "deleted (with 1 object version(s))"
    assert not bucket_exists(minio, names.bucket)
    assert bucket_exists(minio, names.other_bucket), "another bucket was touched"

    again = run("--remove", env={"BUCKET_CLEANUP": "force"}, unset=("MLFLOW_SECRET_KEY",))
    assert again.returncode == 0
    assert set(lines(again).values()) == {"absent", "0 change(s)"}


def test_remove_deletes_an_empty_bucket_and_every_version_when_forced(
    minio: MinioServer,
    names: Names,
    run: Runner,
) -> None:
    assert run(env={"BUCKET_VERSIONING": "true"}).returncode == 0
    s3 = minio.s3()
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=names.bucket, Key="model.pkl", Body=body)
    s3.delete_object(Bucket=names.bucket, Key="model.pkl")  # a delete marker over two versions

    forced = run("--remove", env={"BUCKET_CLEANUP": "force"}, unset=("MLFLOW_SECRET_KEY",))

    assert forced.returncode == 0, forced.stderr
    assert lines(forced)[f"bucket {names.bucket}"] == "deleted (with 3 object version(s))"
    assert not bucket_exists(minio, names.bucket)

    s3.create_bucket(Bucket=names.other_bucket + "-empty")
    empty = run(
        "--remove",
        env={"BUCKET_CLEANUP": "delete", "BUCKET": names.other_bucket + "-empty"},
        unset=("MLFLOW_SECRET_KEY",),
    )
    assert empty.returncode == 0, empty.stderr
    assert lines(empty)[f"bucket {names.other_bucket}-empty"] == "deleted"
