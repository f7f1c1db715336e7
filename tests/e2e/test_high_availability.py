"""Project issue 6, the HA proof: with `sessions.store: redis`, replicas share their sessions, so a login may start on
one pod and end on another; with the default filesystem store it cannot.

Two more environments are rendered through the normal config path, each with its public URL on its own port and
everything else as the e2e environment (same PostgreSQL, S3, realm and client: the session-scoped services, the
databases the migration Job made and the bucket the MinIO Job made are shared):

* `e2e-ha`: `replicas: 2`, `sessions: {store: redis, redis: {deploy: false, host: localhost, port: <port>}}` (an
  existing Redis: a real `redis-server` with `--requirepass` set to the stand-in Vault's `mlflow/redis` password);
* `e2e-fs`: `replicas: 1` and the default filesystem sessions, its pod nevertheless run twice (the negative control).

Each runs the rendered Deployment's pod twice (own emptyDirs, own host ports) behind a round-robin proxy on the
public URL's port that alternates backends strictly per request (tests/e2e/ha.py); the proxy's record of which pod
answered which path is what the tests assert on. The realm's client (in the session's real Keycloak) learns each
environment's redirect URI as its keycloak-setup Job would register it (client id and secret checked against the
client's), added to the redirect URIs it has and removed again when the environments stop; logins go through
Keycloak's HTML login form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.conftest import ADMIN, USER, VAULT, Provider, _free_ports, job_pod, timed
from tests.e2e.ha import (
    Replica,
    RoundRobinProxy,
    each,
    redis_command,
    render_variant,
    start_redis,
    start_replicas,
    stop_replicas,
    submit_login_form,
)
from tests.e2e.pod import Image, PodError, Process
from tests.e2e.secrets import Vault
from tests.e2e.services import ServiceError, keycloak_login
from tests.e2e.stack import REALM, Ports, Stack

# What the operator adds to Vault for Redis sessions (README "What you put in Vault": <vaultPath>/redis {password}).
REDIS_PASSWORD = "redis-Password-e2e/+x"
HA_VAULT: Vault = {**VAULT, "mlflow/redis": {"password": REDIS_PASSWORD}}
CURRENT_USER = "/api/2.0/mlflow/permissions/users/current"
SESSION_PREFIX = "mlflow_oidc:"  # the plugin's SESSION_KEY_PREFIX default


@dataclass
class Cluster:
    """One rendered environment's replicas behind its proxy, at the environment's public URL."""

    name: str
    stack: Stack
    proxy: RoundRobinProxy
    replicas: list[Replica]
    provider: Provider

    @property
    def url(self) -> str:
        return self.stack.public_url

    def who(self, session: requests.Session) -> str | None:
        """The user the answering pod sees in `session`."""
        return user_of(session.get(f"{self.url}{CURRENT_USER}", timeout=30, allow_redirects=False))


def user_of(response: requests.Response) -> str | None:
    """The username of a current-user answer; None for the plugin's login page (its answer without a session)."""
    if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("application/json"):
        return None
    return response.json().get("username")


@dataclass
class Redis:
    port: int
    password: str
    process: Process

    def keys(self, db: int, pattern: str = f"{SESSION_PREFIX}*") -> list[str]:
        return sorted(redis_command(self.port, self.password, "KEYS", pattern, db=db))

    def session_keys(self) -> list[str]:
        return self.keys(0)


def token_requests(provider: Provider) -> int:
    """Codes redeemed (or tried) at the realm's token endpoint so far."""
    return len(provider.events("CODE_TO_TOKEN", "CODE_TO_TOKEN_ERROR"))


def login(cluster: Cluster, session: requests.Session, user: dict[str, Any]) -> requests.Response:
    """/login through the proxy -> Keycloak's login form, filled in as a browser would -> /callback (proxy) ->
    the landing page."""
    return keycloak_login(session, session.get(f"{cluster.url}/login", timeout=60), user["email"], user["password"])


# ----------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def redis(e2e_dir: Path, runtime_dir: Path) -> Iterator[Redis]:
    [port] = _free_ports(1)
    with timed("HA: redis-server"):
        try:
            process = start_redis(port, REDIS_PASSWORD, runtime_dir / "redis", e2e_dir / "logs")
        except ServiceError as exc:
            pytest.fail(f"e2e prerequisite failed: Redis: {exc}", pytrace=False)
    yield Redis(port, REDIS_PASSWORD, process)
    process.stop()


def render_cluster(
    name: str,
    vault: Vault,
    instance: dict[str, Any],
    *,
    stack: Stack,
    ports: Ports,
    oidc: Provider,
    image: Image,
    runtime_dir: Path,
    e2e_dir: Path,
) -> Cluster:
    """Render environment `name` with its public URL on a new proxy's port; check that it shares the e2e
    environment's database, bucket and OIDC client; register its redirect URI. No pods yet."""
    proxy = RoundRobinProxy(log=e2e_dir / "logs" / f"proxy-{name}.log")
    try:
        variant = Stack(
            render_variant(e2e_dir / f"config-{name}", name, replace(ports, mlflow=proxy.port), **instance), vault
        )
        assert urlsplit(variant.public_url).port == proxy.port
        # the shared services hold what this environment would create: same role, databases, migration, bucket
        for kind in ("DatabaseRole", "Database"):
            assert [d["spec"] for d in variant.find(kind)] == [d["spec"] for d in stack.find(kind)], kind
        assert variant.job("db-migration")["metadata"]["name"] == stack.job("db-migration")["metadata"]["name"]
        assert variant.server_arg("--artifacts-destination") == stack.server_arg("--artifacts-destination")
        # the realm's client as this environment's keycloak-setup Job would register it
        setup = job_pod(
            variant,
            "keycloak-setup",
            image,
            runtime_dir / f"{name}-keycloak-setup",
            e2e_dir / "logs" / f"{name}-keycloak-setup",
        )
        env = setup.environment(setup.container("keycloak-setup"))
        assert (env["KEYCLOAK_REALM"], env["OIDC_CLIENT_ID"], env["OIDC_CLIENT_SECRET"]) == (
            REALM,
            oidc.client_id,
            oidc.client_secret,
        )
        redirect = env["MLFLOW_URL"].rstrip("/") + "/callback"
        assert redirect == variant.server_env["OIDC_REDIRECT_URI"] == f"{variant.public_url}/callback"
        client = oidc.keycloak.client(REALM, oidc.client_id)
        if redirect not in client["redirectUris"]:
            oidc.keycloak.update_client(REALM, oidc.client_id, redirectUris=[*client["redirectUris"], redirect])
    except BaseException:
        proxy.stop()
        raise
    return Cluster(name, variant, proxy, [], oidc)


def start_pods(cluster: Cluster, pods: int, image: Image, runtime_dir: Path, e2e_dir: Path) -> None:
    """The environment's Deployment pod `pods` times, then the proxy in front of them."""
    names = [f"{cluster.name.removeprefix('e2e-')}-{suffix}" for suffix in "abcdefgh"[:pods]]
    free = _free_ports(2 * pods)
    try:
        cluster.replicas = start_replicas(
            cluster.stack, image, names, list(zip(free[::2], free[1::2], strict=True)), runtime_dir, e2e_dir / "logs"
        )
    except (PodError, ServiceError) as exc:
        pytest.fail(f"the {cluster.name} server pods did not start: {exc}", pytrace=False)
    cluster.proxy.start([(replica.name, replica.port) for replica in cluster.replicas])


@pytest.fixture(scope="module")
def clusters(
    redis: Redis,
    stack: Stack,
    ports: Ports,
    migration: list[Process],
    minio_setup: list[Process],
    oidc: Provider,
    image: Image,
    runtime_dir: Path,
    e2e_dir: Path,
) -> Iterator[dict[str, Cluster]]:
    """Both environments, rendered one after the other (cdk8s's jsii kernel is not thread-safe), their pods then
    started side by side (the CPUs are the limit, not the order)."""
    environments = {
        # replicas: 2 with an existing Redis (deploy: false)
        "e2e-ha": (
            HA_VAULT,
            {
                "replicas": 2,
                "sessions": {"store": "redis", "redis": {"deploy": False, "host": "localhost", "port": redis.port}},
            },
        ),
        # the default: replicas 1, filesystem sessions; its pod is nevertheless run twice
        "e2e-fs": (VAULT, {"replicas": 1}),
    }
    started: dict[str, Cluster] = {}
    # the client's redirect URIs as the e2e environment's keycloak-setup Job left them (test_login.py checks them)
    redirect_uris = oidc.keycloak.client(REALM, oidc.client_id)["redirectUris"]

    def launch(cluster: Cluster) -> None:
        with timed(f"HA: {cluster.name}: its pod twice (init, mlflow + metrics)"):
            start_pods(cluster, 2, image, runtime_dir, e2e_dir)

    try:
        with timed("HA: render e2e-ha and e2e-fs"):
            for name, (vault, instance) in environments.items():
                started[name] = render_cluster(
                    name,
                    vault,
                    instance,
                    stack=stack,
                    ports=ports,
                    oidc=oidc,
                    image=image,
                    runtime_dir=runtime_dir,
                    e2e_dir=e2e_dir,
                )
        with timed("HA: all 4 pods ready (both environments side by side)"):
            each(launch, list(started.values()))
        yield started
    finally:
        for cluster in started.values():
            cluster.proxy.stop()
        stop_replicas([replica for cluster in started.values() for replica in cluster.replicas])
        oidc.keycloak.update_client(REALM, oidc.client_id, redirectUris=redirect_uris)


@pytest.fixture(scope="module")
def redis_cluster(clusters: dict[str, Cluster]) -> Cluster:
    return clusters["e2e-ha"]


@pytest.fixture(scope="module")
def filesystem_cluster(clusters: dict[str, Cluster]) -> Cluster:
    return clusters["e2e-fs"]


# -------------------------------------------------------------------------------------------------------- tests


def test_rendered_for_redis_sessions(redis_cluster: Cluster, redis: Redis) -> None:
    stack = redis_cluster.stack
    assert stack.deployment["spec"]["replicas"] == 2 == len(redis_cluster.replicas)
    env = stack.server_env
    assert {key: env.get(key) for key in ("SESSION_TYPE", "REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_SSL")} == {
        "SESSION_TYPE": "redis",
        "REDIS_HOST": "localhost",
        "REDIS_PORT": str(redis.port),
        "REDIS_DB": "0",
        "REDIS_SSL": "false",
    }
    assert env["CACHE_TYPE"] == "RedisCache"
    assert (env["CACHE_REDIS_HOST"], env["CACHE_REDIS_PORT"]) == ("localhost", str(redis.port))
    # an existing Redis (deploy: false): nothing of Redis is rendered but the password's ExternalSecret
    assert not [d for d in stack.docs if d["kind"] in ("Deployment", "Service") and "redis" in d["metadata"]["name"]]
    [external] = [d for d in stack.find("ExternalSecret") if d["metadata"]["name"] == "mlflow-redis"]
    assert [(item["remoteRef"]["key"], item["remoteRef"]["property"]) for item in external["spec"]["data"]] == [
        ("mlflow/redis", "password")
    ]
    with pytest.raises(ServiceError, match="NOAUTH"):  # the pods got in with the password from Vault
        redis_command(redis.port, None, "PING")
    # what the replicas' mlflow processes really got: the password from Vault, one SECRET_KEY for all
    for replica in redis_cluster.replicas:
        process_env = replica.processes["mlflow"].env
        assert process_env["REDIS_PASSWORD"] == process_env["CACHE_REDIS_PASSWORD"] == REDIS_PASSWORD
        assert process_env["SECRET_KEY"] == VAULT["mlflow/session"]["secret_key"]
        assert process_env["REDIS_PORT"] == str(redis.port)  # not a container port: not remapped


def test_login_crosses_replicas_with_redis_sessions(redis_cluster: Cluster, redis: Redis) -> None:
    cluster, proxy = redis_cluster, redis_cluster.proxy
    session = requests.Session()
    mark = proxy.mark
    landing = login(cluster, session, ADMIN)
    hops = proxy.since(mark)
    assert [urlsplit(hop.path).path for hop in hops[:2]] == ["/login", "/callback"], hops
    assert hops[0].backend != hops[1].backend, f"the login did not cross the replicas: {hops}"
    assert [urlsplit(r.url).path for r in landing.history][:4] == [
        "/login",
        f"/realms/{REALM}/protocol/openid-connect/auth",
        f"/realms/{REALM}/login-actions/authenticate",
        "/callback",
    ]
    assert landing.status_code == 200, landing.text[:500]
    assert "Session error" not in landing.text and "Security error" not in landing.text
    # authenticated API calls alternate between the pods, and both know the session
    mark = proxy.mark
    users = [cluster.who(session) for _ in range(4)]
    assert users == [ADMIN["email"]] * 4
    served = [hop.backend for hop in proxy.since(mark)]
    assert served in ([hops[0].backend, hops[1].backend] * 2, [hops[1].backend, hops[0].backend] * 2), served
    # the session lives in Redis (not in a pod's session emptyDir)
    sid = session.cookies.get("session")
    assert sid and f"{SESSION_PREFIX}{sid}" in redis.session_keys()
    for replica in cluster.replicas:
        assert not any(replica.pod.volumes["session"].iterdir()), f"{replica.name}: a session file on disk"


def test_logout_on_one_replica_ends_the_session_on_both(redis_cluster: Cluster, redis: Redis) -> None:
    cluster, proxy = redis_cluster, redis_cluster.proxy
    session = requests.Session()
    assert login(cluster, session, USER).status_code == 200
    sid = session.cookies.get("session")
    assert [cluster.who(session) for _ in range(2)] == [USER["email"]] * 2
    assert f"{SESSION_PREFIX}{sid}" in redis.session_keys()
    logout = session.get(f"{cluster.url}/logout", timeout=30, allow_redirects=False)
    assert logout.status_code in (200, 302), logout.text[:500]
    assert f"{SESSION_PREFIX}{sid}" not in redis.session_keys()
    # the old cookie, replayed, is known to neither pod any more
    mark = proxy.mark
    replayed = [
        requests.get(
            f"{cluster.url}{CURRENT_USER}", headers={"Cookie": f"session={sid}"}, timeout=30, allow_redirects=False
        )
        for _ in range(2)
    ]
    assert len({hop.backend for hop in proxy.since(mark)}) == 2
    assert [user_of(response) for response in replayed] == [None, None]


def test_writes_on_one_replica_are_read_on_the_other(redis_cluster: Cluster) -> None:
    """A POST with a JSON body through the proxy (method and body forwarded) on one pod, read back on the other."""
    cluster, proxy = redis_cluster, redis_cluster.proxy
    session = requests.Session()
    assert login(cluster, session, ADMIN).status_code == 200
    name = "e2e-ha-written-on-one-replica"
    mark = proxy.mark
    created = session.post(f"{cluster.url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=30)
    assert created.status_code == 200, created.text[:500]
    found = session.get(
        f"{cluster.url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}, timeout=30
    )
    assert found.status_code == 200, found.text[:500]
    assert found.json()["experiment"]["experiment_id"] == created.json()["experiment_id"]
    hops = proxy.since(mark)
    assert [(hop.method, urlsplit(hop.path).path) for hop in hops] == [
        ("POST", "/api/2.0/mlflow/experiments/create"),
        ("GET", "/api/2.0/mlflow/experiments/get-by-name"),
    ]
    assert hops[0].backend != hops[1].backend


def test_plugin_cache_is_in_redis(redis_cluster: Cluster, redis: Redis) -> None:
    """CACHE_TYPE=RedisCache with the CACHE_REDIS_* settings: the provider's JWKS, fetched by one pod to check a
    bearer token, is cached in the rendered cache database for all replicas."""
    cluster, provider = redis_cluster, redis_cluster.provider
    db = int(cluster.stack.server_env["CACHE_REDIS_DB"])
    assert db != int(cluster.stack.server_env["REDIS_DB"])
    # an access token (a JWT) from Keycloak, by the client's own authorization code flow: the admin logs in through
    # the login form, the code is read off Keycloak's redirect to the environment's /callback (not followed)
    base = f"http://localhost:{provider.port}/realms/{REALM}/protocol/openid-connect"
    redirect = cluster.stack.server_env["OIDC_REDIRECT_URI"]
    keycloak_session = requests.Session()
    page = keycloak_session.get(
        f"{base}/auth",
        params={
            "client_id": provider.client_id,
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "openid email",
            "state": "s",
        },
        timeout=30,
    )
    authorize = submit_login_form(keycloak_session, page, ADMIN["email"], ADMIN["password"])
    assert authorize.status_code == 302, authorize.text[:1000]
    assert authorize.headers["Location"].startswith(f"{redirect}?"), authorize.headers["Location"]
    query = parse_qs(urlsplit(authorize.headers["Location"]).query)
    assert query["state"] == ["s"]
    code = query["code"][0]
    token = requests.post(
        f"{base}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
        auth=(provider.client_id, provider.client_secret),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    redis_command(redis.port, redis.password, "DEL", f"{SESSION_PREFIX}jwks", db=db)
    mark = cluster.proxy.mark
    for _ in cluster.replicas:
        response = requests.get(
            f"{cluster.url}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text[:500]
    assert len({hop.backend for hop in cluster.proxy.since(mark)}) == 2
    assert redis.keys(db, "*jwks*") == [f"{SESSION_PREFIX}jwks"]
    assert 0 < redis_command(redis.port, redis.password, "TTL", f"{SESSION_PREFIX}jwks", db=db) <= 3600


def test_proxy_keeps_the_host_and_returns_redirects(redis_cluster: Cluster) -> None:
    """The pods see the client's Host header (their allowed-hosts check applies), and a redirect reaches the client
    unfollowed."""
    cluster = redis_cluster
    search = f"{cluster.url}/api/2.0/mlflow/experiments/search?max_results=1"
    for _ in cluster.replicas:
        foreign = requests.get(search, headers={"Host": "evil.example.com"}, timeout=30)
        assert foreign.status_code == 403, (foreign.status_code, foreign.text[:200])
    redirect = requests.get(f"{cluster.url}/login", timeout=30, allow_redirects=False)
    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith(f"http://localhost:{cluster.provider.port}/realms/{REALM}/")


def test_filesystem_sessions_do_not_cross_replicas(filesystem_cluster: Cluster) -> None:
    """The negative control: the same login, its callback on the other pod, fails without Redis."""
    cluster, proxy = filesystem_cluster, filesystem_cluster.proxy
    env = cluster.stack.server_env
    assert cluster.stack.deployment["spec"]["replicas"] == 1
    assert (env["SESSION_TYPE"], env["SESSION_CACHE_DIR"]) == ("cachelib", "/tmp/session")  # the pod's emptyDir
    assert not [key for key in env if "REDIS" in key] and env["CACHE_TYPE"] == "FileSystemCache"  # pod-local
    tokens = token_requests(cluster.provider)
    session = requests.Session()
    mark = proxy.mark
    page = login(cluster, session, ADMIN)
    hops = proxy.since(mark)
    assert [urlsplit(hop.path).path for hop in hops] == ["/login", "/callback"], hops
    assert hops[0].backend != hops[1].backend
    assert "Session error: Missing OAuth state in session" in page.text, page.text[:1000]
    assert token_requests(cluster.provider) == tokens, "the code must not be redeemed without the state"
    assert [cluster.who(session) for _ in range(2)] == [None, None]


def test_filesystem_sessions_work_on_one_replica_only(filesystem_cluster: Cluster) -> None:
    """The control's control: the same pods log in when /login and /callback land on one pod, and then only that
    pod knows the session."""
    cluster, proxy = filesystem_cluster, filesystem_cluster.proxy
    session = requests.Session()
    mark = proxy.mark
    start = session.get(f"{cluster.url}/login", timeout=30, allow_redirects=False)
    assert start.status_code == 302
    assert requests.get(f"{cluster.url}/health", timeout=30).status_code == 200  # the other pod's turn
    # Keycloak's login page (not through the proxy), its form posted; its redirect to /callback followed by hand
    page = session.get(start.headers["Location"], timeout=30)
    authorize = submit_login_form(session, page, ADMIN["email"], ADMIN["password"])
    assert authorize.status_code == 302 and authorize.headers["Location"].startswith(f"{cluster.url}/callback?")
    callback = session.get(authorize.headers["Location"], timeout=60, allow_redirects=False)
    assert callback.status_code == 302, callback.text[:1000]
    sid = session.cookies.get("session")
    hops = proxy.since(mark)
    assert [urlsplit(hop.path).path for hop in hops] == ["/login", "/health", "/callback"]
    assert hops[0].backend == hops[2].backend != hops[1].backend
    # the login pod knows the session, the other does not (and its answer drops the cookie, as a browser would)
    assert requests.get(f"{cluster.url}/health", timeout=30).status_code == 200  # the other pod's turn again
    mark = proxy.mark
    users = [cluster.who(session) for _ in range(2)]
    served = [hop.backend for hop in proxy.since(mark)]
    assert list(zip(served, users, strict=True)) == [(hops[0].backend, ADMIN["email"]), (hops[1].backend, None)]
    # the session is a file in the login pod's session emptyDir only (cachelib names it sha256(prefix + sid))
    stored = hashlib.sha256(f"{SESSION_PREFIX}{sid}".encode()).hexdigest()
    on_disk = {replica.name: (replica.pod.volumes["session"] / stored).is_file() for replica in cluster.replicas}
    assert on_disk == {hops[0].backend: True, hops[1].backend: False}
