"""minio_setup.py logged in as the instance's setup user (`s3.setupLogin: setupUser`, the default) against a real
MinIO: the user and policy `mlflow-gitops access` prints are enough for every run the setup and cleanup Jobs make
(first run, rerun, drift repair, removal), and MinIO refuses the user anything on another bucket.

What the policy cannot narrow is shown too: MinIO scopes no admin action to a resource, so the setup user may attach
a wider policy to a user it creates (why its Secret is read only by the setup Jobs' ServiceAccount)."""

# ruff: noqa: F401, F811  (the fixtures of test_minio_setup.py, imported by name)
from __future__ import annotations

import json

import pytest
from minio.error import MinioAdminException

from tests.minio_server import MinioServer
from tests.test_minio_setup import (
    SECRET_KEY,
    Names,
    Runner,
    authenticates,
    bucket_exists,
    canonical,
    error_code,
    expected_policy,
    lines,
    minio,
    minio_server,
    names,
    policies_of,
    policy,
    run,
    user_info,
    versioning,
)

pytestmark = pytest.mark.services

SETUP_SECRET = "setup-Secret-from-vault-7"


@pytest.fixture
def as_setup_user(minio: MinioServer, names: Names) -> dict[str, str]:
    """The setup user of `names.bucket`, made as the platform's one-time step does; the script's login settings."""
    access_key = f"{names.bucket}-setup"
    minio.create_setup_user(names.bucket, access_key, SETUP_SECRET)
    return {"MINIO_ROOT_USER": access_key, "MINIO_ROOT_PASSWORD": SETUP_SECRET}


def test_setup_user_runs_first_run_rerun_and_versioning(
    run: Runner,
    minio: MinioServer,
    names: Names,
    as_setup_user: dict[str, str],
) -> None:
    env = {**as_setup_user, "BUCKET_VERSIONING": "true"}
    first = run(env=env)

    assert first.returncode == 0, first.stderr
    out = lines(first)
    assert out[f"bucket {names.bucket}"] == "created"
    assert out["versioning"] == "enabled (was Off)"
    assert out["policy attachment"] == f"attached {names.policy} to {names.access_key}"
    stored = policy(minio, names.policy)
    assert stored is not None and canonical(stored) == canonical(expected_policy(names.bucket))
    assert policies_of(minio, names.access_key) == [names.policy]
    assert authenticates(minio, names.access_key, SECRET_KEY, names.bucket) == "ok"
    assert versioning(minio, names.bucket) == "Enabled"

    again = run(env=env)
    assert again.returncode == 0, again.stderr
    assert lines(again)["done"] == "0 change(s)"


def test_setup_user_repairs_drift(
    run: Runner,
    minio: MinioServer,
    names: Names,
    as_setup_user: dict[str, str],
) -> None:
    assert run(env=as_setup_user).returncode == 0
    admin = minio.admin()
    admin.detach_policy([names.policy], user=names.access_key)
    admin.policy_add(
        names.policy,
        policy={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}],
        },
    )
    admin.user_disable(names.access_key)

    repaired = run(env=as_setup_user)

    assert repaired.returncode == 0, repaired.stderr
    out = lines(repaired)
    assert out[f"policy {names.policy}"] == "updated"
    assert out[f"user {names.access_key}"] == "enabled (was disabled)"
    assert out["policy attachment"] == f"attached {names.policy} to {names.access_key}"
    stored = policy(minio, names.policy)
    assert stored is not None and canonical(stored) == canonical(expected_policy(names.bucket))

    admin.user_remove(names.access_key)
    recreated = run(env=as_setup_user)
    assert recreated.returncode == 0, recreated.stderr
    assert lines(recreated)[f"user {names.access_key}"] == "created"
    assert authenticates(minio, names.access_key, SECRET_KEY, names.bucket) == "ok"


def test_setup_user_removes_a_retired_instance(
    run: Runner,
    minio: MinioServer,
    names: Names,
    as_setup_user: dict[str, str],
) -> None:
    assert run(env={**as_setup_user, "BUCKET_VERSIONING": "true"}).returncode == 0
    s3 = minio.s3()
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=names.bucket, Key="1/artifacts/model.pkl", Body=body)

    forced = run("--remove", env={**as_setup_user, "BUCKET_CLEANUP": "force"}, unset=("MLFLOW_SECRET_KEY",))

    assert forced.returncode == 0, forced.stderr
    assert lines(forced) == {
        f"user {names.access_key}": "deleted",
        f"policy {names.policy}": "deleted",
        f"bucket {names.bucket}": "deleted (with 2 object version(s))",
        "done": "3 change(s)",
    }
    assert not bucket_exists(minio, names.bucket)
    assert user_info(minio, names.access_key) is None


def test_setup_user_is_refused_another_bucket(
    run: Runner,
    minio: MinioServer,
    names: Names,
    as_setup_user: dict[str, str],
) -> None:
    root = minio.s3()
    root.create_bucket(Bucket=names.other_bucket)
    root.put_object(Bucket=names.other_bucket, Key="secret-model.pkl", Body=b"theirs")
    setup = minio.s3(as_setup_user["MINIO_ROOT_USER"], SETUP_SECRET)

    assert error_code(setup.list_objects_v2, Bucket=names.other_bucket) == "AccessDenied"
    assert error_code(setup.get_object, Bucket=names.other_bucket, Key="secret-model.pkl") == "AccessDenied"
    assert error_code(setup.put_object, Bucket=names.other_bucket, Key="x", Body=b"1") == "AccessDenied"
    assert error_code(setup.delete_object, Bucket=names.other_bucket, Key="secret-model.pkl") == "AccessDenied"
    assert error_code(setup.delete_bucket, Bucket=names.other_bucket) == "AccessDenied"
    assert error_code(setup.create_bucket, Bucket=names.other_bucket + "-new") == "AccessDenied"
    assert error_code(setup.list_buckets) == "AccessDenied"
    # even its own bucket's objects: the setup user deletes them (force removal), it does not read or write them
    assert run(env=as_setup_user).returncode == 0
    root.put_object(Bucket=names.bucket, Key="model.pkl", Body=b"ours")
    assert error_code(setup.get_object, Bucket=names.bucket, Key="model.pkl") == "AccessDenied"
    assert error_code(setup.put_object, Bucket=names.bucket, Key="y", Body=b"1") == "AccessDenied"

    # the script pointed at another instance's bucket fails cleanly, and that bucket is untouched
    other = run(env={**as_setup_user, "BUCKET": names.other_bucket, "POLICY_NAME": names.other_bucket + "-readwrite"})
    assert other.returncode == 1
    assert "AccessDenied" in other.stderr
    assert root.get_object(Bucket=names.other_bucket, Key="secret-model.pkl")["Body"].read() == b"theirs"


def test_setup_user_has_no_other_admin_api(minio: MinioServer, as_setup_user: dict[str, str]) -> None:
    admin = minio.admin(as_setup_user["MINIO_ROOT_USER"], SETUP_SECRET)
    calls = {
        "user_list": lambda: admin.user_list(),
        "policy_list": lambda: admin.policy_list(),
        "group_list": lambda: admin.group_list(),
        "service_restart": lambda: admin.service_restart(),
    }
    for name, call in calls.items():
        with pytest.raises(MinioAdminException) as info:
            call()
        assert "AccessDenied" in str(info.value), name


def test_limit_admin_actions_are_not_scoped_to_a_resource(
    minio: MinioServer,
    names: Names,
    as_setup_user: dict[str, str],
) -> None:
    """MinIO's admin actions take no Resource: the setup user may attach MinIO's own `readwrite` to a user it makes.
    This is the documented limit (README, `mlflow-gitops access`) why the setup user stays a platform credential."""
    admin = minio.admin(as_setup_user["MINIO_ROOT_USER"], SETUP_SECRET)
    escalated = f"{names.bucket}-escalated"
    admin.user_add(escalated, "escalated-secret-1")
    admin.attach_policy(["readwrite"], user=escalated)
    assert "readwrite" in json.loads(minio.admin().user_info(escalated))["policyName"]
    minio.admin().user_remove(escalated)
