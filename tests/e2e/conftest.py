"""End-to-end harness: the rendered stack's own containers, run as local processes against real services.

What a GitOps engine would apply is rendered through the normal config path (an environment file with loopback
endpoints), and then walked through in the order the engine and the kubelet would: the platform unit's Secrets
(ExternalSecrets evaluated against a dict standing in for Vault) and PostgreSQL role and databases (exactly as the
DatabaseRole/Database objects say), the bootstrap Jobs (MinIO setup, twice, against a real MinIO server on the
rendered s3.endpoint (tests/minio_server.py); the database migration with its wait-for-postgres init container),
then the server pod (init container, then the `mlflow` and `metrics` containers). Keycloak is a real
Keycloak (tests/keycloak_server.py, the session's one, on the rendered KEYCLOAK_URL's port): the harness creates the
realm and the admin login from the stand-in Vault, the rendered keycloak-setup Job creates the client, groups scope
and groups, then the harness adds the test users; logins go through Keycloak's own HTML login form.

Fixtures are package-scoped: the stack starts once for tests/e2e and stops after its last test. Readiness times and
the suite's wall time are printed at the end and written to ci-artifacts/e2e-timings.txt; each process' log is
attached to a failing test's report and copied to ci-artifacts/e2e-logs/.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from mlflow_gitops.names import KEYCLOAK_SETUP_ROLES
from tests.e2e.pod import LOGS, Image, Pod, PodError, Process
from tests.e2e.readme import run_readme
from tests.e2e.services import (
    Postgres,
    ServiceError,
    apply_cnpg,
    keycloak_login,
    wait_http,
)
from tests.e2e.stack import DECLARED_MEMBER, REALM, Ports, Stack, render_environment
from tests.e2e.venv import ensure_venv
from tests.keycloak_server import KeycloakServer, keycloak, keycloak_port  # noqa: F401 (fixtures)
from tests.minio_server import MinioMissing, MinioServer

E2E = Path(__file__).resolve().parent
REPO = E2E.parents[1]
ARTIFACTS = REPO / "ci-artifacts"

# What an operator put in Vault (README "What you put in Vault"). The database password needs URL escaping in the
# auth DB URI the mlflow-oidc-config ExternalSecret builds.
DB_PASSWORD = "p@ss:w/rd+x y"
VAULT: dict[str, dict[str, str]] = {
    "mlflow/postgres": {"username": "mlflow", "password": DB_PASSWORD},
    "mlflow/s3": {"accesskey": "mlflow-artifacts", "secretkey": "s3-Secret/key+from vault"},
    "mlflow/oidc": {"client_id": "mlflow", "client_secret": "oidc-Client-Secret-e2e"},
    "mlflow/session": {
        "secret_key": "e2e-session-secret-key-0123456789abcdef",
        "flask_secret_key": "e2e-flask-secret-key-0123456789abcdef",
    },
    "mlflow/minio-setup": {"username": "mlflow-setup", "password": "minio-Setup-Password-e2e"},
    "minio/admin": {"username": "minio-root", "password": "minio-Root-Password-e2e"},  # the platform's, not rendered
    "keycloak/setup-client": {"client_secret": "keycloak-Setup-Client-Secret-e2e"},
    "postgres/admin": {"username": "postgres", "password": "postgres-Superuser-Password-e2e"},
}

# Test users of the realm (their email is their username); group names as the README documents them.
ADMIN: dict[str, Any] = {
    "email": "alice.admin@example.com",
    "name": "Alice Admin",
    "groups": ["mlflow-admins"],
    "password": "Alice-Pa55word-e2e",
}
USER: dict[str, Any] = {
    "email": "bob.user@example.com",
    "name": "Bob User",
    "groups": ["mlflow-users"],
    "password": "Bob-Pa55word-e2e",
}
MEMBER: dict[str, Any] = {
    "email": DECLARED_MEMBER,
    "name": "Carol Member",
    "groups": [],  # the Job adds her to mlflow-users: the config declares her
    "password": "Carol-Pa55word-e2e",
}
OUTSIDER: dict[str, Any] = {
    "email": "eve.outsider@example.com",
    "name": "Eve Outsider",
    "groups": ["sales"],
    "password": "Eve-Pa55word-e2e",
}

TIMINGS: dict[str, float] = {}
_CLOCK: dict[str, float] = {}


@contextmanager
def timed(name: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    TIMINGS[name] = time.monotonic() - start


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def _fail(what: str, exc: BaseException) -> None:
    pytest.fail(f"e2e prerequisite failed: {what}: {exc}", pytrace=False)


# ----------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="package", autouse=True)
def _e2e_clock() -> Iterator[None]:
    """Set up first, torn down last: the e2e suite's wall time, stack start and stop included."""
    _CLOCK["start"] = time.monotonic()
    yield
    _CLOCK["end"] = time.monotonic()


@pytest.fixture(scope="package")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="package")
def runtime_dir() -> Iterator[Path]:
    """Pods' volumes and working directories: outside pytest's tmp dir (mode 0700), so that the containers' non-root
    user can reach them, and outside /tmp, which the pods mount a volume over. Logs stay in e2e_dir."""
    base = "/var/tmp" if Path("/var/tmp").is_dir() else None
    path = Path(tempfile.mkdtemp(prefix="mlflow-e2e-pods-", dir=base))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
def image() -> Image:
    with timed("e2e venv (image/requirements.txt)"):
        try:
            venv = ensure_venv()
        except (RuntimeError, OSError) as exc:
            _fail("the e2e venv from image/requirements.txt (ci/e2e-setup.sh builds it)", exc)
    return Image.from_dockerfile(venv, REPO / "image" / "Dockerfile")


@pytest.fixture(scope="package")
def ports(keycloak_port: int) -> Ports:  # noqa: F811
    """Free ports; Keycloak's is the session Keycloak's (chosen before it starts, tests/keycloak_server.py)."""
    others = [field.name for field in fields(Ports) if field.name != "keycloak"]
    free = [port for port in _free_ports(len(others) + 1) if port != keycloak_port]
    return Ports(keycloak=keycloak_port, **dict(zip(others, free, strict=False)))


@pytest.fixture(scope="package")
def stack(e2e_dir: Path, ports: Ports) -> Stack:
    with timed("render"):
        rendered = render_environment(e2e_dir / "config", ports)
        return Stack(rendered, VAULT)


@pytest.fixture(scope="package")
def postgres(stack: Stack, ports: Ports, image: Image, runtime_dir: Path, e2e_dir: Path) -> Iterator[Postgres]:
    """PostgreSQL as CloudNativePG 1.27 has it (the superuser's password in Vault postgres/admin), then the rendered
    db-role Job (no DatabaseRole on 1.27) and the rendered Database objects, in the order CNPG converges to."""
    with timed("postgres (initdb, start, db-role Job, CNPG databases)"):
        try:
            pg = Postgres(ports.postgres, e2e_dir / "logs").start()
        except ServiceError as exc:
            _fail("PostgreSQL", exc)
        try:
            pg.psql("ALTER ROLE postgres PASSWORD :'password';", password=VAULT["postgres/admin"]["password"])
            role_jobs = [
                j
                for j in stack.docs
                if j["kind"] == "Job" and j["metadata"]["labels"]["app.kubernetes.io/component"] == "db-role"
            ]
            pg.role_job = [
                run_job(
                    stack,
                    "db-role",
                    image,
                    runtime_dir / "db-role",  # type: ignore[attr-defined]
                    e2e_dir / "logs" / "db-role",
                )
                for _ in role_jobs
            ]
            pg.applied = apply_cnpg(pg, stack.docs, stack.secrets)  # type: ignore[attr-defined]
        except BaseException:
            pg.stop()
            raise
    yield pg
    pg.stop()


@pytest.fixture(scope="package")
def minio(ports: Ports, e2e_dir: Path) -> Iterator[MinioServer]:
    """A real MinIO server at the rendered s3.endpoint (http://127.0.0.1:<ports.s3>), with the platform's root
    credentials, and the instance's setup user (Vault mlflow/minio-setup) the platform made once with them
    (`mlflow-gitops access`): the Jobs log in as that user, never as root."""
    root = VAULT["minio/admin"]
    with timed("MinIO server (/minio/health/ready)"):
        try:
            server = MinioServer(root["username"], root["password"], port=ports.s3, logdir=e2e_dir / "logs").start()
        except (MinioMissing, ServiceError) as exc:
            _fail("MinIO", exc)
        setup = VAULT["mlflow/minio-setup"]
        server.create_setup_user("mlflow", setup["username"], setup["password"])
    yield server
    server.stop()


def job_pod(stack: Stack, component: str, image: Image, workdir: Path, logdir: Path) -> Pod:
    job = stack.job(component)
    spec = job["spec"]["template"]["spec"]
    assert spec.get("restartPolicy") in ("Never", "OnFailure"), f"{job['metadata']['name']}: restartPolicy"
    return Pod(
        job["metadata"]["name"],
        spec,
        job["metadata"]["namespace"],
        workdir,
        image,
        stack.configmaps,
        stack.secrets,
        logdir=logdir,
    )


def run_job(
    stack: Stack, component: str, image: Image, workdir: Path, logdir: Path, timeout: float = 300
) -> list[Process]:
    """The Job's pod to completion: init containers in order, then its container(s); any failure raises."""
    pod = job_pod(stack, component, image, workdir, logdir)
    try:
        pod.run_init_containers(timeout=timeout)
        return [pod.run_to_completion(container, timeout) for container in pod.spec["containers"]]
    finally:
        pod.stop()


@pytest.fixture(scope="package")
def minio_setup(stack: Stack, minio: MinioServer, image: Image, runtime_dir: Path, e2e_dir: Path) -> list[Process]:
    """The rendered minio-setup Job against the real MinIO, then once more (a re-sync, a second replica of the Job):
    the processes of both runs, in order (test_tracking.py reads what each printed)."""
    logs = e2e_dir / "logs"
    with timed("minio-setup Job"):
        first = run_job(stack, "minio-setup", image, runtime_dir / "minio-setup", logs / "minio-setup")
    with timed("minio-setup Job, second run"):
        second = run_job(stack, "minio-setup", image, runtime_dir / "minio-setup-2", logs / "minio-setup-2")
    return [*first, *second]


@dataclass
class Provider:
    """The realm `REALM` of the real Keycloak, with the client the keycloak-setup Job made in it."""

    port: int
    client_id: str
    client_secret: str
    redirect_uri: str
    keycloak: KeycloakServer
    setup: list[Process]

    def events(self, *types: str) -> list[dict[str, Any]]:
        """The realm's login events of `types` (e.g. CODE_TO_TOKEN), oldest first."""
        params = [("type", t) for t in types] + [("max", "1000")]
        return sorted(self.keycloak.api("GET", f"/{REALM}/events", params=params), key=lambda event: event["time"])


@pytest.fixture(scope="package")
def oidc(
    stack: Stack,
    keycloak: KeycloakServer,  # noqa: F811 (the fixture)
    image: Image,
    runtime_dir: Path,
    e2e_dir: Path,
) -> Provider:
    """Keycloak as the platform has it before the Job runs (the realm, its setup client from Vault, made once by
    `mlflow-gitops access`; no master admin), then the rendered keycloak-setup Job against it (client, groups scope
    and mapper, groups), then the test users."""
    TIMINGS["Keycloak start (kc.sh start --optimized, /health/ready)"] = keycloak.startup_seconds
    pod = job_pod(stack, "keycloak-setup", image, runtime_dir / "keycloak-setup", e2e_dir / "logs" / "keycloak-setup")
    env = pod.environment(pod.container("keycloak-setup"))
    assert env["KEYCLOAK_REALM"] == REALM
    assert env["KEYCLOAK_ADMIN_REALM"] == REALM, "the Job logs in to the MLflow realm, not master"
    assert urlsplit(env["KEYCLOAK_URL"]).port == keycloak.port, env["KEYCLOAK_URL"]
    keycloak.create_realm(
        REALM, eventsEnabled=True, enabledEventTypes=["LOGIN", "LOGIN_ERROR", "CODE_TO_TOKEN", "CODE_TO_TOKEN_ERROR"]
    )
    keycloak.create_setup_client(
        REALM, env["KEYCLOAK_ADMIN_CLIENT_ID"], VAULT["keycloak/setup-client"]["client_secret"], KEYCLOAK_SETUP_ROLES
    )
    first, last = MEMBER["name"].split(" ", 1)
    keycloak.create_user(
        REALM, MEMBER["email"], MEMBER["password"], email=MEMBER["email"], first_name=first, last_name=last
    )
    with timed("keycloak-setup Job (real Keycloak)"):
        setup = run_job(
            stack, "keycloak-setup", image, runtime_dir / "keycloak-setup", e2e_dir / "logs" / "keycloak-setup"
        )
    keycloak.create_group(REALM, "sales")
    for user in (ADMIN, USER, OUTSIDER):
        first, last = user["name"].split(" ", 1)
        keycloak.create_user(
            REALM,
            user["email"],
            user["password"],
            email=user["email"],
            first_name=first,
            last_name=last,
            groups=tuple(user["groups"]),
        )
    redirect = env["MLFLOW_URL"].rstrip("/") + "/callback"
    return Provider(keycloak.port, env["OIDC_CLIENT_ID"], env["OIDC_CLIENT_SECRET"], redirect, keycloak, setup)


@pytest.fixture(scope="package")
def migration(stack: Stack, postgres: Postgres, image: Image, runtime_dir: Path, e2e_dir: Path) -> list[Process]:
    with timed("db-migration Job (wait-for-postgres + migrate_db.py)"):
        return run_job(stack, "db-migration", image, runtime_dir / "db-migration", e2e_dir / "logs" / "db-migration")


@dataclass
class Server:
    url: str
    host: str
    pod: Pod
    processes: dict[str, Process]
    ports: dict[int, int]
    stack: Stack
    provider: Provider
    minio: MinioServer

    @property
    def port(self) -> int:
        """The host port the server listens on (its public URL's port: the emulated Service + ingress)."""
        return int(urlsplit(self.url).port or 80)

    def login(self, user: dict[str, Any]) -> tuple[requests.Session, requests.Response]:
        """Log `user` in as a browser would: /login -> Keycloak's login page (redirects followed), its form filled
        in and posted -> /callback -> the landing page. The response's history holds every hop from /login on."""
        session = requests.Session()
        page = session.get(f"{self.url}/login", timeout=60)
        return session, keycloak_login(session, page, user["email"], user["password"])


@pytest.fixture(scope="package")
def server(
    stack: Stack,
    migration: list[Process],
    minio_setup: list[Process],
    minio: MinioServer,
    oidc: Provider,
    image: Image,
    ports: Ports,
    runtime_dir: Path,
    e2e_dir: Path,
) -> Iterator[Server]:
    """The Deployment's pod: init container to completion, then `mlflow` and `metrics`; ready when the startup
    probe's path answers on the probe's port."""
    deployment = stack.deployment
    spec = deployment["spec"]["template"]["spec"]
    mlflow_container, http_port = stack.container_port(spec, "http")
    metrics_container, metrics_port = stack.container_port(spec, "metrics")
    port_map = {http_port: ports.mlflow, metrics_port: ports.metrics}
    pod = Pod(
        deployment["metadata"]["name"],
        spec,
        deployment["metadata"]["namespace"],
        runtime_dir / "server",
        image,
        stack.configmaps,
        stack.secrets,
        port_map,
        logdir=e2e_dir / "logs" / "server",
    )
    try:
        with timed("server pod: /health (init container, then mlflow + metrics)"):
            pod.run_init_containers(timeout=120)
            processes = {"mlflow": pod.start(mlflow_container)}
            # the pod's network namespace, emulated: the sidecar listens on loopback only
            processes["metrics"] = pod.start(metrics_container, extra_env={"METRICS_ADDR": "127.0.0.1"})
            probe = mlflow_container["startupProbe"]["httpGet"]
            _, probe_port = (
                stack.container_port(spec, probe["port"]) if isinstance(probe["port"], str) else (None, probe["port"])
            )
            wait_http(f"http://127.0.0.1:{port_map[probe_port]}{probe['path']}", 180, processes["mlflow"])
        wait_http(f"http://127.0.0.1:{ports.metrics}/metrics", 30, processes["metrics"])
    except (PodError, ServiceError) as exc:
        pod.stop()
        pytest.fail(f"the server pod did not start: {exc}", pytrace=False)
    yield Server(stack.public_url, stack.public_host, pod, processes, port_map, stack, oidc, minio)
    pod.stop()


@pytest.fixture(scope="package")
def access_key(server: Server) -> str:
    """The admin's access key, created as the permissions UI ("Create access key") does it."""
    session, _ = server.login(ADMIN)
    expiration = (datetime.now(UTC) + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    response = session.patch(
        f"{server.url}/api/2.0/mlflow/permissions/users/access-token",
        json={"username": ADMIN["email"], "expiration": expiration},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture(scope="package")
def logged_run(server: Server, access_key: str, e2e_dir: Path) -> dict[str, Any]:
    """The README's "log a run" instructions, run by the admin in a fresh process (tests/e2e/readme.py)."""
    workdir = e2e_dir / "readme-client"
    workdir.mkdir()
    with timed("README instructions (fresh client process)"):
        return run_readme(server.url, ADMIN["email"], access_key, server.pod.image.venv / "bin" / "python", workdir)


# -------------------------------------------------------------------------------------------------------- hooks


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.failed and LOGS:
        sections = []
        for path in LOGS:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            sections.append(f"----- {path.name} ({path}) -----\n" + "\n".join(lines[-120:]))
        report.sections.append(("e2e process logs (last 120 lines each)", "\n".join(sections)))


def _timings_text() -> str:
    lines = ["e2e timings (seconds)"]
    if "start" in _CLOCK:
        end = _CLOCK.get("end", time.monotonic())
        lines.append(f"  {'suite wall time (stack start to stop)':<62} {end - _CLOCK['start']:7.2f}")
    for name, seconds in TIMINGS.items():
        lines.append(f"  {name:<62} {seconds:7.2f}")
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "start" not in _CLOCK:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-timings.txt").write_text(_timings_text())
    logs = ARTIFACTS / "e2e-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    for path in LOGS:
        if path.exists():  # <e2e>/logs/<pod>/<container>.log -> <pod>-<container>.log
            in_pod = path.parent.name != "logs"
            shutil.copyfile(path, logs / (f"{path.parent.name}-{path.name}" if in_pod else path.name))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "start" in _CLOCK:
        terminalreporter.write_sep("-", "e2e timings")
        terminalreporter.write(_timings_text())
