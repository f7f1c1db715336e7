"""Sessions on an external Redis with TLS (sessions.redis.ssl): the plugin's session store speaks TLS
(REDIS_SSL), but its Redis cache (mlflow-oidc-auth 5.6.1 cache/rediscache.py) has no TLS setting, so the render
keeps the cache pod-local. Both are checked with the plugin's own modules, imported in the image's Python (the e2e
venv) with the rendered environment, against a real redis-server that only speaks TLS."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, one, render_text
from tests.e2e.venv import ensure_venv
from tests.tls import ServerTls, server_tls

pytestmark = pytest.mark.services

PASSWORD = "redis-Tls-password"
PROBE = """
import os, sys
from flask import Flask
from flask_caching import Cache
from mlflow_oidc_auth.config import AppConfig
config = AppConfig()
config.SESSION_REDIS.ping()
print("session store: ok")
app = Flask("probe")
app.config.from_object(config)
cache = Cache(app)
with app.app_context():
    cache.set("probe", "value")
    assert cache.get("probe") == "value", cache.get("probe")
print("cache:", config.CACHE_TYPE, "ok")
"""


@pytest.fixture(scope="module")
def redis_tls() -> Iterator[tuple[int, ServerTls]]:
    folder = Path(tempfile.mkdtemp(prefix="mlflow-redis-tls-"))
    tls = server_tls(folder, "redis-ca", "redis")
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(tls.cert),
            "--tls-key-file",
            str(tls.key),
            "--tls-ca-cert-file",
            str(tls.ca),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while (
        subprocess.run(
            [
                "redis-cli",
                "--tls",
                "--cacert",
                str(tls.ca),
                "-p",
                str(port),
                "-a",
                PASSWORD,
                "--no-auth-warning",
                "ping",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        != "PONG"
    ):
        assert time.monotonic() < deadline and server.poll() is None, "redis-server with TLS did not start"
        time.sleep(0.2)
    yield port, tls
    server.terminate()
    server.wait(10)
    shutil.rmtree(folder, ignore_errors=True)


def rendered_env(port: int) -> dict[str, str]:
    docs = render_text(
        "instances:\n  - name: mlflow\n    replicas: 2\n    sessions:\n      store: redis\n"
        f"      redis: {{deploy: false, host: localhost, port: {port}, ssl: true}}\n"
    )
    return dict(one(docs, "ConfigMap", "mlflow-env")["data"])


def probe(env: dict[str, str], tls: ServerTls, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    venv = ensure_venv()
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir(exist_ok=True)
    environ = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        **env,
        "CACHE_DIR": str(cache_dir),
        "REDIS_PASSWORD": PASSWORD,
        "CACHE_REDIS_PASSWORD": PASSWORD,
        "SSL_CERT_FILE": str(tls.ca),
    }  # the platform's CA, as a trusted bundle would hold it
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", PROBE], env=environ, capture_output=True, text=True, timeout=180
    )


def test_sessions_go_to_redis_over_tls_and_the_cache_stays_pod_local(
    redis_tls: tuple[int, ServerTls], tmp_path: Path
) -> None:
    port, tls = redis_tls
    env = rendered_env(port)
    assert (env["SESSION_TYPE"], env["REDIS_SSL"], env["CACHE_TYPE"]) == ("redis", "true", "FileSystemCache")
    assert not [key for key in env if key.startswith("CACHE_REDIS_")]
    done = probe(env, tls, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "session store: ok" in done.stdout and "cache: FileSystemCache ok" in done.stdout


def test_the_plugins_redis_cache_cannot_reach_a_tls_redis(redis_tls: tuple[int, ServerTls], tmp_path: Path) -> None:
    """What the render did before: the cache on the same Redis, which the plugin dials without TLS."""
    port, tls = redis_tls
    env = {
        **rendered_env(port),
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_HOST": "localhost",
        "CACHE_REDIS_PORT": str(port),
        "CACHE_REDIS_DB": "1",
    }
    done = probe(env, tls, tmp_path)
    assert done.returncode != 0 and "session store: ok" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "cache: RedisCache ok" not in done.stdout
