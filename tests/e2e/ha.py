"""Several replicas of the rendered server: the pieces tests/e2e/test_high_availability.py puts together.

* `render_variant(config_dir, name, ports, **instance)`: the e2e environment file (stack.environment_yaml) with its
  one instance changed (replicas, sessions, ...), rendered through the normal config path as environment `name`.
* `start_redis(port, password, workdir, logdir)`: Debian's `redis-server` on 127.0.0.1 with `requirepass` (in a
  0600 config file, not on the logged command line) and no persistence (`--save '' --appendonly no`), stopped by
  process group like every harness process;
  `redis_command(port, password, *args)` talks RESP to it (no client library needed).
* `start_replicas(stack, image, names, ...)`: the rendered Deployment's pod once per name, each with its own emptyDirs
  and host ports, init container first, then `mlflow` and `metrics` (the replicas side by side, as a ReplicaSet
  starts them); ready when the startup probe's path answers, as the `server` fixture does it for the one-replica
  stack. `stop_replicas` stops them all at once.
* `RoundRobinProxy`: the Service + ingress in front of the replicas, on the public URL's port: every request (not
  every connection) goes to the next backend in strict rotation; method, path, headers (Host included) and body pass
  through unchanged, with Traefik's X-Forwarded-* added; a redirect is returned to the client, never followed.
  `hops` records which backend answered which request (and its log file, one line per request).
* `submit_login_form(session, page, username, password)`: services.keycloak_login without following Keycloak's
  redirect, for tests that route the /callback hop themselves (or read the code off it).
"""

from __future__ import annotations

import http.client
import shutil
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
import yaml

from mlflow_gitops.app import Rendered, render
from mlflow_gitops.config import load_environments
from tests.e2e.pod import LOGS, Image, Pod, Process
from tests.e2e.services import ServiceError, _LoginForm, wait_http
from tests.e2e.stack import Ports, Stack, environment_yaml

# ---------------------------------------------------------------------------------------------------- rendering


def render_variant(config_dir: Path, name: str, ports: Ports, **instance: Any) -> Rendered:
    """The e2e environment as environment `name`, its instance updated with `instance` (top-level keys)."""
    config = yaml.safe_load(environment_yaml(ports))
    [entry] = config["instances"]
    entry.update(instance)
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    [rendered] = render(load_environments([name], config_dir, {}))  # environ={}, as render_environment
    return rendered


# -------------------------------------------------------------------------------------------- Keycloak login


def submit_login_form(
    session: requests.Session, page: requests.Response, username: str, password: str
) -> requests.Response:
    """Keycloak's login form on `page` posted as services.keycloak_login posts it, but its answer (the redirect to
    the client's redirect URI, code and state in the query) returned unfollowed."""
    if page.status_code != 200:
        raise ServiceError(f"no Keycloak login page at {page.url}: HTTP {page.status_code}: {page.text[:500]}")
    form = _LoginForm()
    form.feed(page.text)
    if form.action is None:
        raise ServiceError(f"no form kc-form-login on {page.url}:\n{page.text[:1000]}")
    for cookie in session.cookies:  # Keycloak's Secure cookies over http on loopback, as keycloak_login does
        if cookie.secure and cookie.domain in ("localhost", "localhost.local", "127.0.0.1"):
            cookie.secure = False
    return session.post(
        urljoin(page.url, form.action),
        data={"username": username, "password": password, "credentialId": ""},
        timeout=60,
        allow_redirects=False,
    )


# -------------------------------------------------------------------------------------------------------- Redis


def redis_command(port: int, password: str | None, *args: str, db: int = 0, timeout: float = 5) -> Any:
    """One command (after AUTH when `password`, SELECT when `db`) over RESP; the reply as str/int/list/None; an
    error reply raises ServiceError."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock, sock.makefile("rb") as reader:
        commands = ([("AUTH", password)] if password is not None else []) + ([("SELECT", str(db))] if db else [])
        commands.append(args)
        for command in commands:
            payload = f"*{len(command)}\r\n".encode()
            for part in command:
                data = part.encode()
                payload += b"$%d\r\n%s\r\n" % (len(data), data)
            sock.sendall(payload)
            reply = _read_reply(reader)
        return reply


def _read_reply(reader: Any) -> Any:
    line = reader.readline()
    if not line:
        raise ServiceError("redis closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n").decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise ServiceError(f"redis: {rest}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        if int(rest) < 0:
            return None
        data = reader.read(int(rest) + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        return None if int(rest) < 0 else [_read_reply(reader) for _ in range(int(rest))]
    raise ServiceError(f"redis: unexpected reply {line!r}")


def start_redis(port: int, password: str, workdir: Path, logdir: Path, timeout: float = 30) -> Process:
    server = shutil.which("redis-server")
    if server is None:
        raise ServiceError("redis-server is required: run ci/e2e-setup.sh (apt-get install redis-server)")
    workdir.mkdir(parents=True, exist_ok=True)
    # requirepass from a file only the harness reads: the command line is logged (and visible in ps)
    if '"' in password or "\\" in password:
        raise ServiceError("the Redis password must not contain a double quote or backslash (redis.conf quoting)")
    config = workdir / "redis.conf"
    config.touch(mode=0o600)
    config.write_text(f'requirepass "{password}"\n')
    argv = [
        server,
        str(config),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    process = Process("redis", argv, {"PATH": "/usr/bin:/bin"}, workdir, logdir / "redis.log").start()
    start, last = time.monotonic(), "no answer"
    while time.monotonic() - start < timeout:
        if not process.running():
            raise ServiceError(f"redis-server exited before answering\n{process.tail()}")
        try:
            if redis_command(port, password, "PING", timeout=1) == "PONG":
                return process
        except (OSError, ServiceError) as exc:
            last = str(exc)
        time.sleep(0.05)
    process.stop()
    raise ServiceError(f"redis-server did not answer within {timeout:.0f} s ({last})\n{process.tail()}")


# ----------------------------------------------------------------------------------------------------- replicas


@dataclass
class Replica:
    name: str
    pod: Pod
    port: int  # host port of the `http` container port
    metrics_port: int
    processes: dict[str, Process] = field(default_factory=dict)


def start_replicas(
    stack: Stack,
    image: Image,
    names: list[str],
    host_ports: list[tuple[int, int]],
    workdir: Path,
    logdir: Path,
    timeout: float = 180,
) -> list[Replica]:
    """The Deployment's pod once per name ((http, metrics) host ports each); all stopped again when one fails."""
    deployment = stack.deployment
    spec = deployment["spec"]["template"]["spec"]
    mlflow_container, http_port = stack.container_port(spec, "http")
    metrics_container, metrics_port = stack.container_port(spec, "metrics")
    probe = mlflow_container["startupProbe"]["httpGet"]
    probe_port = stack.container_port(spec, probe["port"])[1] if isinstance(probe["port"], str) else probe["port"]
    replicas: list[Replica] = []
    try:
        for name, (host_http, host_metrics) in zip(names, host_ports, strict=True):
            pod_name = f"{deployment['metadata']['name']}-{name}"
            pod = Pod(
                pod_name,
                spec,
                deployment["metadata"]["namespace"],
                workdir / pod_name,
                image,
                stack.configmaps,
                stack.secrets,
                {http_port: host_http, metrics_port: host_metrics},
                logdir=logdir / pod_name,
            )
            replicas.append(Replica(name, pod, host_http, host_metrics))
        each(lambda replica: replica.pod.run_init_containers(timeout=120), replicas)
        for replica in replicas:
            replica.processes["mlflow"] = replica.pod.start(mlflow_container)
            # the pod's network namespace, emulated: the sidecar listens on loopback only
            replica.processes["metrics"] = replica.pod.start(metrics_container, extra_env={"METRICS_ADDR": "127.0.0.1"})
        for replica in replicas:
            wait_http(
                f"http://127.0.0.1:{replica.pod.ports[probe_port]}{probe['path']}", timeout, replica.processes["mlflow"]
            )
            wait_http(f"http://127.0.0.1:{replica.metrics_port}/metrics", 30, replica.processes["metrics"])
    except BaseException:
        stop_replicas(replicas)
        raise
    return replicas


def stop_replicas(replicas: list[Replica]) -> None:
    """Every process of every replica at once (each by its process group, SIGKILL after the grace period)."""
    each(lambda process: process.stop(), [process for replica in replicas for process in replica.pod.processes])
    for replica in replicas:
        replica.pod.stop()  # its processes are gone: this unmounts its emptyDirs' tmpfs


def each(function: Callable[[Any], Any], items: list[Any]) -> None:
    """`function` on all `items` in parallel threads; the first exception raised once all have finished."""
    with ThreadPoolExecutor(max_workers=max(len(items), 1)) as pool:
        futures = [pool.submit(function, item) for item in items]
    for future in futures:
        future.result()


# -------------------------------------------------------------------------------------------------------- proxy

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class Hop:
    number: int  # the request's place in the rotation
    method: str
    path: str
    backend: str
    status: int


class RoundRobinProxy:
    def __init__(self, log: Path | None = None) -> None:
        self.backends: list[tuple[str, int]] = []
        self.hops: list[Hop] = []
        self.log = log  # one line per request, also in the failure reports and ci-artifacts/e2e-logs/
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            LOGS.append(log)
        self._lock = threading.Lock()
        self._count = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                proxy._forward(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = forward

            def log_message(self, format: str, *args: Any) -> None:  # the hops are the log
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name=f"proxy-{self.port}", daemon=True)

    def start(self, backends: list[tuple[str, int]]) -> RoundRobinProxy:
        """Serve on 127.0.0.1:self.port, rotating over (name, port) backends."""
        self.backends = list(backends)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def since(self, mark: int) -> list[Hop]:
        with self._lock:
            return [hop for hop in self.hops if hop.number >= mark]

    @property
    def mark(self) -> int:
        """The number the next request will get (for `since`)."""
        with self._lock:
            return self._count

    def _next(self) -> tuple[int, str, int]:
        with self._lock:
            number, self._count = self._count, self._count + 1
        name, port = self.backends[number % len(self.backends)]
        return number, name, port

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        number, name, port = self._next()
        if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
            handler.send_error(411, "chunked request bodies are not proxied")
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        client = handler.client_address[0]
        host = handler.headers.get("Host", "")
        forwarded = {
            "X-Forwarded-For": client,
            "X-Forwarded-Host": host,
            "X-Forwarded-Port": str(self.port),
            "X-Forwarded-Proto": "http",
        }
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
            for key, value in handler.headers.items():
                if key.lower() not in HOP_BY_HOP and not key.lower().startswith("x-forwarded-"):
                    connection.putheader(key, value)
            for key, value in forwarded.items():
                connection.putheader(key, value)
            connection.endheaders(body)
            response = connection.getresponse()
            status, reason, headers, data = response.status, response.reason, response.getheaders(), response.read()
        except OSError as exc:
            status, reason, headers, data = 502, "Bad Gateway", [], f"proxy: backend {name}: {exc}\n".encode()
        finally:
            connection.close()
        hop = Hop(number, handler.command, handler.path, name, status)
        with self._lock:
            self.hops.append(hop)
            if self.log is not None:
                with self.log.open("a") as out:
                    out.write(f"#{hop.number} {hop.method} {hop.path} -> {hop.backend} {hop.status}\n")
        handler.send_response_only(status, reason)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                handler.send_header(key, value)
        if handler.command == "HEAD":
            content_length = next((v for k, v in headers if k.lower() == "content-length"), None)
            if content_length is not None:
                handler.send_header("Content-Length", content_length)
        else:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD" and data:
            handler.wfile.write(data)
