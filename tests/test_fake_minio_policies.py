"""The fake MinIO's IAM evaluation for S3 requests signed by a (non-root) user.

Unit tests of the request -> (action, resource) mapping and of the policy evaluation, then boto3 (what MLflow's S3
artifact store uses) signing as a user through the fake in front of a real moto_server: allowed requests reach moto,
everything else is 403 AccessDenied, and what the fake cannot evaluate is 501 (never allowed by accident).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fakes.minio_admin import FakeMinio, Unsupported, evaluate, normalize_policy, s3_requests, wildcard_match

ROOT_USER, ROOT_PASSWORD = "minio-root", "r00t-Pa55word"
USER, SECRET = "mlflow-svc", "mlflow-Secret-42"

# What minio_setup.py attaches to the MLflow user (desired_policy("mlflow")).
BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
         "Resource": ["arn:aws:s3:::mlflow"]},
        {"Effect": "Allow", "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject",
                                       "s3:ListMultipartUploadParts", "s3:PutObject"],
         "Resource": ["arn:aws:s3:::mlflow/*"]},
    ],
}


# ------------------------------------------------------------------------------------------------------- unit tests


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/", "", [("s3:ListAllMyBuckets", "arn:aws:s3:::*")]),
    ("HEAD", "/mlflow", "", [("s3:ListBucket", "arn:aws:s3:::mlflow")]),
    ("GET", "/mlflow", "list-type=2&prefix=1%2F&delimiter=%2F", [("s3:ListBucket", "arn:aws:s3:::mlflow")]),
    ("GET", "/mlflow", "location", [("s3:GetBucketLocation", "arn:aws:s3:::mlflow")]),
    ("GET", "/mlflow", "uploads", [("s3:ListBucketMultipartUploads", "arn:aws:s3:::mlflow")]),
    ("PUT", "/mlflow", "", [("s3:CreateBucket", "arn:aws:s3:::mlflow")]),
    ("PUT", "/mlflow", "versioning", [("s3:PutBucketVersioning", "arn:aws:s3:::mlflow")]),
    ("GET", "/mlflow/1/abc/artifacts/a%20b.txt", "", [("s3:GetObject", "arn:aws:s3:::mlflow/1/abc/artifacts/a b.txt")]),
    ("HEAD", "/mlflow/k", "", [("s3:GetObject", "arn:aws:s3:::mlflow/k")]),
    ("PUT", "/mlflow/k", "x-id=PutObject", [("s3:PutObject", "arn:aws:s3:::mlflow/k")]),
    ("DELETE", "/mlflow/k", "", [("s3:DeleteObject", "arn:aws:s3:::mlflow/k")]),
    ("POST", "/mlflow/k", "uploads", [("s3:PutObject", "arn:aws:s3:::mlflow/k")]),
    ("PUT", "/mlflow/k", "partNumber=1&uploadId=u", [("s3:PutObject", "arn:aws:s3:::mlflow/k")]),
    ("POST", "/mlflow/k", "uploadId=u", [("s3:PutObject", "arn:aws:s3:::mlflow/k")]),
    ("GET", "/mlflow/k", "uploadId=u", [("s3:ListMultipartUploadParts", "arn:aws:s3:::mlflow/k")]),
    ("DELETE", "/mlflow/k", "uploadId=u", [("s3:AbortMultipartUpload", "arn:aws:s3:::mlflow/k")]),
])
def test_requests_map_to_actions_and_resources(method: str, path: str, query: str,
                                               expected: list[tuple[str, str]]) -> None:
    assert s3_requests(method, path, query, {}) == expected


def test_copy_and_multi_delete_need_every_object() -> None:
    assert s3_requests("PUT", "/mlflow/new", "", {"x-amz-copy-source": "/other/old%20key"}) == [
        ("s3:PutObject", "arn:aws:s3:::mlflow/new"), ("s3:GetObject", "arn:aws:s3:::other/old key")]
    body = b"<Delete><Object><Key>a/1</Key></Object><Object><Key>b</Key></Object></Delete>"
    assert s3_requests("POST", "/mlflow", "delete", {}, body) == [
        ("s3:DeleteObject", "arn:aws:s3:::mlflow/a/1"), ("s3:DeleteObject", "arn:aws:s3:::mlflow/b")]


@pytest.mark.parametrize(("method", "path", "query"), [
    ("GET", "/mlflow", "cors"), ("POST", "/mlflow/k", "select&select-type=2"), ("PUT", "/", ""),
    ("GET", "/mlflow/k", "acl&tagging"),
])
def test_unmapped_requests_are_unsupported(method: str, path: str, query: str) -> None:
    with pytest.raises(Unsupported):
        s3_requests(method, path, query, {})


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("s3:*", "s3:GetObject", True), ("s3:Get*", "s3:GetObject", True), ("s3:Get*", "s3:PutObject", False),
    ("s3:GetObjec?", "s3:GetObject", True), ("s3:GetObjec?", "s3:GetObjects", False),
    ("arn:aws:s3:::mlflow/*", "arn:aws:s3:::mlflow/1/a.txt", True),
    ("arn:aws:s3:::mlflow/*", "arn:aws:s3:::mlflow", False), ("arn:aws:s3:::mlflow", "arn:aws:s3:::mlflow2", False),
    ("arn:aws:s3:::mlflow*", "arn:aws:s3:::mlflow-other/x", True),
    ("arn:aws:s3:::[m]lflow", "arn:aws:s3:::mlflow", False),
])
def test_wildcards_are_minio_wildcards(pattern: str, value: str, matches: bool) -> None:
    assert wildcard_match(pattern, value) is matches


def test_allow_statements_need_action_and_resource_match() -> None:
    policy = normalize_policy(BUCKET_POLICY)
    assert evaluate([policy], "s3:PutObject", "arn:aws:s3:::mlflow/1/x")
    assert evaluate([policy], "s3:ListBucket", "arn:aws:s3:::mlflow")
    assert not evaluate([policy], "s3:ListBucket", "arn:aws:s3:::mlflow/x")  # object ARN for a bucket action
    assert not evaluate([policy], "s3:PutObject", "arn:aws:s3:::mlflow")
    assert not evaluate([policy], "s3:PutObject", "arn:aws:s3:::other/x")
    assert not evaluate([policy], "s3:CreateBucket", "arn:aws:s3:::mlflow")
    assert not evaluate([], "s3:GetObject", "arn:aws:s3:::mlflow/x")


def test_explicit_deny_wins_over_allow() -> None:
    deny = normalize_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::mlflow/keep/*"}]})
    allow = normalize_policy(BUCKET_POLICY)
    assert not evaluate([allow, deny], "s3:DeleteObject", "arn:aws:s3:::mlflow/keep/x")
    assert evaluate([allow, deny], "s3:DeleteObject", "arn:aws:s3:::mlflow/other/x")


def test_conditions_are_not_silently_ignored() -> None:
    policy = normalize_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::mlflow",
         "Condition": {"StringLike": {"s3:prefix": ["1/*"]}}}]})
    with pytest.raises(Unsupported, match="Condition"):
        evaluate([policy], "s3:ListBucket", "arn:aws:s3:::mlflow")


# ------------------------------------------------------------------------------------- boto3 through the fake, moto


@pytest.fixture
def fake(moto_url: str) -> Iterator[FakeMinio]:
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=5).close()
    with FakeMinio(moto_url, ROOT_USER, ROOT_PASSWORD) as server:
        root = client(server.url, ROOT_USER, ROOT_PASSWORD)
        root.create_bucket(Bucket="mlflow")
        root.create_bucket(Bucket="other")
        root.put_object(Bucket="other", Key="secret.txt", Body=b"not yours")
        server.add_user(USER, SECRET)
        server.put_policy("mlflow-readwrite", BUCKET_POLICY)
        server.attach(USER, "mlflow-readwrite")
        yield server


def client(url: str, key: str, secret: str):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value.response["Error"]["Code"]


def test_user_reads_and_writes_its_bucket(fake: FakeMinio, moto_url: str) -> None:
    user = client(fake.url, USER, SECRET)
    user.put_object(Bucket="mlflow", Key="1/run/artifacts/model.txt", Body=b"weights")
    assert user.get_object(Bucket="mlflow", Key="1/run/artifacts/model.txt")["Body"].read() == b"weights"
    assert user.head_object(Bucket="mlflow", Key="1/run/artifacts/model.txt")["ContentLength"] == 7
    listing = user.list_objects_v2(Bucket="mlflow", Prefix="1/", Delimiter="/")
    assert [p["Prefix"] for p in listing.get("CommonPrefixes", [])] == ["1/run/"]
    user.head_bucket(Bucket="mlflow")
    upload = user.create_multipart_upload(Bucket="mlflow", Key="big.bin")
    part = user.upload_part(Bucket="mlflow", Key="big.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 10)
    user.complete_multipart_upload(Bucket="mlflow", Key="big.bin", UploadId=upload["UploadId"],
                                   MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    user.delete_object(Bucket="mlflow", Key="big.bin")
    # moto itself (not through the fake) holds what the user wrote
    direct = client(moto_url, "testing", "testing")
    assert direct.get_object(Bucket="mlflow", Key="1/run/artifacts/model.txt")["Body"].read() == b"weights"
    user_requests = [r for r in fake.requests if r.identity == USER]
    assert user_requests and all(r.status < 300 for r in user_requests)


def test_user_is_denied_outside_its_policy(fake: FakeMinio) -> None:
    user = client(fake.url, USER, SECRET)
    assert error_code(user.get_object, Bucket="other", Key="secret.txt") == "AccessDenied"
    assert error_code(user.put_object, Bucket="other", Key="x", Body=b"x") == "AccessDenied"
    assert error_code(user.list_objects_v2, Bucket="other") == "AccessDenied"
    assert error_code(user.create_bucket, Bucket="new-bucket") == "AccessDenied"
    assert error_code(user.put_bucket_versioning, Bucket="mlflow",
                      VersioningConfiguration={"Status": "Enabled"}) == "AccessDenied"
    denied = [r for r in fake.requests if r.identity == USER]
    assert denied and all(r.status == 403 for r in denied)


def test_policy_changes_take_effect(fake: FakeMinio) -> None:
    user = client(fake.url, USER, SECRET)
    user.put_object(Bucket="mlflow", Key="k", Body=b"1")
    fake.detach(USER, "mlflow-readwrite")
    assert error_code(user.get_object, Bucket="mlflow", Key="k") == "AccessDenied"
    fake.attach(USER, "readonly")  # MinIO's built-in: GetBucketLocation + GetObject on every bucket
    assert user.get_object(Bucket="other", Key="secret.txt")["Body"].read() == b"not yours"
    assert error_code(user.put_object, Bucket="mlflow", Key="k", Body=b"2") == "AccessDenied"


def test_disabled_unknown_and_wrongly_signed_users_are_rejected(fake: FakeMinio) -> None:
    assert error_code(client(fake.url, USER, "wrong-secret-1").get_object, Bucket="mlflow",
                      Key="k") == "SignatureDoesNotMatch"
    assert error_code(client(fake.url, "nobody", SECRET).get_object, Bucket="mlflow", Key="k") == "InvalidAccessKeyId"
    fake.set_user_status(USER, "disabled")
    assert error_code(client(fake.url, USER, SECRET).get_object, Bucket="mlflow", Key="k") == "InvalidAccessKeyId"


def test_unmapped_requests_are_501_not_allowed(fake: FakeMinio) -> None:
    user = client(fake.url, USER, SECRET)
    assert error_code(user.get_bucket_cors, Bucket="mlflow") == "NotImplemented"
    assert error_code(user.list_buckets) == "NotImplemented"  # MinIO would filter the list per bucket
    fake.put_policy("conditional", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}}]})
    fake.attach(USER, "conditional")
    assert error_code(user.get_object, Bucket="other", Key="secret.txt") == "NotImplemented"


def test_root_is_not_restricted(fake: FakeMinio) -> None:
    root = client(fake.url, ROOT_USER, ROOT_PASSWORD)
    root.create_bucket(Bucket="anything")
    assert root.get_object(Bucket="other", Key="secret.txt")["Body"].read() == b"not yours"
