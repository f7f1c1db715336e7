"""A real MinIO server on 127.0.0.1 for the tests (the binary ci/tools.py builds; never a fake).

`MinioServer(root_user, root_password, port=..., logdir=...)` starts `minio server <tmp>/data` (single drive) on
loopback ports, waits for `/minio/health/ready` and stops it again (the data folder is removed). It hands out
clients signed as root or as any user: `s3()` (boto3, what MLflow's S3 artifact store uses), `sdk()` (minio.Minio)
and `admin()` (minio.MinioAdmin, the admin API minio_setup.py speaks).

The fixture `minio_server` (session scope, random free ports) is imported by tests/test_minio_setup.py; the e2e
harness (tests/e2e/conftest.py) starts its own on the rendered s3.endpoint's port with the root credentials from its
Vault stand-in. A missing binary fails with the command that builds it; nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider

from ci.tools import ToolError
from ci.tools import path as tool_path
from mlflow_gitops.gitops.access import minio_setup_policy
from tests.background import Service
from tests.e2e.pod import Process
from tests.e2e.services import ServiceError, wait_http

ROOT_USER = "minio-root"
ROOT_PASSWORD = "r00t-Pa55word-do-not-print"
READY_TIMEOUT = 60.0


class MinioMissing(RuntimeError):
    pass


def minio_binary() -> Path:
    try:
        return tool_path("minio", "minio")
    except ToolError as exc:
        raise MinioMissing(f"MinIO is not built ({exc}); run `python3 ci/tools.py ensure minio`") from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MinioServer(Service):
    def __init__(
        self,
        root_user: str = ROOT_USER,
        root_password: str = ROOT_PASSWORD,
        port: int | None = None,
        logdir: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.root_user, self.root_password = root_user, root_password
        self.extra_env = dict(env or {})  # more MINIO_* settings, e.g. MINIO_SITE_REGION
        self.port = port or _free_port()
        self.console_port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-minio-"))
        self.logdir = logdir or self.root
        self.process: Process | None = None
        self.start_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self) -> MinioServer:
        binary = minio_binary()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "MINIO_ROOT_USER": self.root_user,
            "MINIO_ROOT_PASSWORD": self.root_password,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",  # no console, no calls to the update server
            "MINIO_SCANNER_SPEED": "slowest",  # two shared cores: the background scanner may wait
            **self.extra_env,
        }
        argv = [
            str(binary),
            "server",
            str(self.root / "data"),
            "--address",
            self.endpoint,
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            "--quiet",
            "--anonymous",
        ]
        started = time.monotonic()
        self.process = Process("minio", argv, env, self.root, self.logdir / "minio.log").start()
        try:
            wait_http(f"{self.url}/minio/health/ready", READY_TIMEOUT, self.process)
        except ServiceError:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.root / "data", ignore_errors=True)
        if self.logdir != self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------------------------------------------- clients
    @property
    def region(self) -> str:
        return self.extra_env.get("MINIO_SITE_REGION") or "us-east-1"

    def s3(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """boto3 S3 client signed as root (default) or as the given user; no retries, path-style addressing."""
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=access_key or self.root_user,
            aws_secret_access_key=secret_key or self.root_password,
            config=Config(
                retries={"max_attempts": 1}, s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30
            ),
        )

    def sdk(self, access_key: str | None = None, secret_key: str | None = None) -> Minio:
        return Minio(
            self.endpoint,
            access_key=access_key or self.root_user,
            secret_key=secret_key or self.root_password,
            secure=False,
        )

    def admin(self, access_key: str | None = None, secret_key: str | None = None) -> MinioAdmin:
        credentials = StaticProvider(access_key or self.root_user, secret_key or self.root_password)
        return MinioAdmin(endpoint=self.endpoint, credentials=credentials, secure=False)

    def create_setup_user(self, bucket: str, access_key: str, secret_key: str) -> None:
        """What `mlflow-gitops access` prints for MinIO, as root: the setup user of `bucket` and its policy (named
        like the user)."""
        admin = self.admin()
        admin.policy_add(access_key, policy=minio_setup_policy(bucket))
        admin.user_add(access_key, secret_key)
        admin.attach_policy([access_key], user=access_key)


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """One real MinIO for the session (tests use their own bucket and user names on it)."""
    try:
        server = MinioServer(logdir=tmp_path_factory.mktemp("minio")).start()
    except (MinioMissing, ServiceError) as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
