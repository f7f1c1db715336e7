"""Independent checkers on what `synth` writes for the default environment and every example: kubeconform (schemas,
strict), kube-score (triaged below), pluto (no deprecated or removed API for Kubernetes 1.34), netpol-analyzer (the
NetworkPolicies allow exactly the intended connections) and kube-linter. Each binary comes from ci/tools.py's cache
(`python3 ci/tools.py ensure kubeconform kube-score pluto netpol-analyzer kube-linter`); a missing one fails."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings, load_environments
from mlflow_gitops.constructs.network import INGRESS_POD_PORTS
from mlflow_gitops.settings import cluster_service, url_host
from tests.checkers.support import (
    CRDS,
    SCHEMA_LOCATION,
    OpenAPI,
    crd_schemas,
    documents,
    ip_coverage,
    manifest_files,
    namespace_doc,
    parse_connection,
    peer_deployment,
    pod_pairs,
    run,
    synth,
    tool,
    tool_folder,
)
from tests.conftest import EXAMPLES

ENVIRONMENTS = {"default": None, "dev": EXAMPLES, "staging": EXAMPLES, "prod": EXAMPLES}
KUBERNETES_VERSION = "1.34.0"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("render")
    return {env: synth(env, config, out) for env, config in ENVIRONMENTS.items()}


def settings(env: str) -> EnvironmentSettings:
    [found] = load_environments([env], ENVIRONMENTS[env], {})
    return found


# ---------------------------------------------------------------------------------------------------------------
# kubeconform
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory, rendered: dict[str, Path]) -> Path:
    """JSON schemas of every kind rendered: the CRDs' from shared/crds, the built-in kinds' from the OpenAPI v2
    document of Kubernetes (kubeconform's own come from GitHub, unreachable here)."""
    dest = tmp_path_factory.mktemp("schemas")
    custom = crd_schemas(CRDS, dest)
    swagger = tool_folder("kubeconform") / "openapi" / "swagger.json"
    if not swagger.is_file():
        pytest.fail(
            f"{swagger} is missing: remove {swagger.parents[1]} and run `python3 ci/tools.py ensure kubeconform`",
            pytrace=False,
        )
    openapi = OpenAPI(swagger)
    kinds = {(d["apiVersion"], d["kind"]) for folder in rendered.values() for d in documents(manifest_files(folder))}
    missing = [k for k in sorted(kinds - set(custom)) if openapi.write(*k, dest) is None]
    assert not missing, f"no schema for {missing}"
    return dest


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kubeconform_strict(env: str, rendered: dict[str, Path], schemas: Path) -> None:
    files = manifest_files(rendered[env])
    done = run(
        [
            tool("kubeconform"),
            "-strict",
            "-summary",
            "-kubernetes-version",
            KUBERNETES_VERSION,
            "-schema-location",
            f"{schemas}/{SCHEMA_LOCATION}",
            *files,
        ]
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    summary = re.search(
        r"Summary: (\d+) resources? found in (\d+) files? - Valid: (\d+), Invalid: (\d+), "
        r"Errors: (\d+), Skipped: (\d+)",
        output,
    )
    assert summary, output
    found, _, valid, invalid, errors, skipped = map(int, summary.groups())
    assert (found, valid, invalid, errors, skipped) == (len(documents(files)), found, 0, 0, 0), output


def test_strict_schemas_catch_unknown_fields(tmp_path: Path, schemas: Path) -> None:
    """The schemas are strict: an unknown field, built-in kind or CRD, is an error."""
    bad = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}, "dat": {}},
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Database",
            "metadata": {"name": "x", "namespace": "y"},
            "spec": {"name": "x", "owner": "x", "cluster": {"name": "c"}, "ownr": "x"},
        },
    ]
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump_all(bad))
    done = run([tool("kubeconform"), "-strict", "-summary", "-schema-location", f"{schemas}/{SCHEMA_LOCATION}", file])
    assert done.returncode != 0
    assert "Invalid: 2" in done.stdout, done.stdout
    assert "dat" in done.stdout and "ownr" in done.stdout, done.stdout


# ---------------------------------------------------------------------------------------------------------------
# kube-score
# ---------------------------------------------------------------------------------------------------------------
KUBE_SCORE_IGNORED = {
    "container-ephemeral-storage-request-and-limit": (
        "every container runs with readOnlyRootFilesystem and writes only to emptyDir volumes that each have a "
        "sizeLimit (tests/test_security.py), so ephemeral storage is already bounded per volume; a container-wide "
        "limit would add a second, guessed bound that evicts the pod (MLflow buffers artifact uploads in /tmp)"
    ),
    "container-image-pull-policy": (
        "the pull policy is the config's `image.pullPolicy` (IfNotPresent by default, Always in staging); the "
        "staging and prod images are pinned by digest, where Always only adds a registry round trip per start"
    ),
    "pod-probes-identical": (
        "kube-score compares only the handler: MLflow 3.6 has one health endpoint (/health), the metrics sidecar and "
        "Redis only a TCP port; the liveness thresholds are never stricter than the readiness ones"
    ),
    "deployment-replicas": (
        "replicas is the config's `instances[].replicas` (1 by default: the filesystem session store works with one "
        "replica only; several need `sessions.store: redis`); the in-namespace Redis is a single session cache"
    ),
    "deployment-has-host-podantiaffinity": (
        "a server with several replicas spreads them over nodes and zones with topologySpreadConstraints "
        "(ScheduleAnyway, so a small cluster still schedules); kube-score only recognises podAntiAffinity"
    ),
    "deployment-strategy": (
        "the Redis session cache uses Recreate on purpose: one in-memory instance, never two behind the Service "
        "during a rollout; the server itself uses RollingUpdate (maxUnavailable 0)"
    ),
}
"""kube-score checks left out, each with the reason (every other check must pass, warnings included)."""


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kube_score(env: str, rendered: dict[str, Path]) -> None:
    ignored = [arg for check in KUBE_SCORE_IGNORED for arg in ("--ignore-test", check)]
    minor = "v" + KUBERNETES_VERSION.rsplit(".", 1)[0]  # kube-score takes vN.NN
    done = run(
        [
            tool("kube-score"),
            "score",
            "--kubernetes-version",
            minor,
            "-o",
            "ci",
            "--exit-one-on-warning",
            *ignored,
            *manifest_files(rendered[env]),
        ]
    )
    findings = [line for line in done.stdout.splitlines() if not line.startswith(("[OK]", "[SKIPPED]"))]
    assert done.returncode == 0 and not findings, "\n".join(findings) or done.stderr


def test_kube_score_ignores_are_known_checks() -> None:
    done = run([tool("kube-score"), "list"])
    known = {line.split(",")[0] for line in done.stdout.splitlines()}
    assert set(KUBE_SCORE_IGNORED) <= known, set(KUBE_SCORE_IGNORED) - known


# ---------------------------------------------------------------------------------------------------------------
# pluto
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pluto_no_deprecated_apis(env: str, rendered: dict[str, Path]) -> None:
    done = run(
        [
            tool("pluto"),
            "detect-files",
            "-d",
            rendered[env],
            "--target-versions",
            f"k8s=v{KUBERNETES_VERSION}",
            "-o",
            "json",
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert not report.get("items"), json.dumps(report, indent=1)


def test_pluto_finds_a_removed_api(tmp_path: Path) -> None:
    """pluto does look at the files: an old apiVersion is reported (exit 3: removed in the target version)."""
    (tmp_path / "old.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "policy/v1beta1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "x"},
                "spec": {"minAvailable": 1},
            }
        )
    )
    done = run([tool("pluto"), "detect-files", "-d", tmp_path, "--target-versions", f"k8s=v{KUBERNETES_VERSION}"])
    assert done.returncode == 3 and "policy/v1beta1" in done.stdout, done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------------------------
# netpol-analyzer
# ---------------------------------------------------------------------------------------------------------------
DNS = ("TCP 53", "UDP 53")

CONNECTIONS: tuple[tuple[str, str, str, str], ...] = (
    # source          destination       ports                         when
    ("traefik", "server", "http", "always"),
    ("allow-from", "server", "http", "always"),  # each network.allowFrom namespace
    ("prometheus", "server", "metrics", "monitoring"),
    ("server", "kube-dns", "dns", "always"),
    ("server", "postgres", "postgres", "always"),
    ("server", "postgres-cidrs", "postgres", "always"),
    ("server", "minio", "s3-pods", "s3-service"),
    ("server", "traefik", "s3-ingress", "s3-public"),  # a public S3 name
    ("server", "s3-cidrs", "s3-url", "always"),
    ("server", "keycloak", "keycloak-pods", "keycloak-service"),
    ("server", "traefik", "keycloak-ingress", "keycloak-public"),  # a public Keycloak name
    ("server", "keycloak-cidrs", "keycloak-url", "always"),
    ("server", "redis", "redis", "redis-deployed"),
    ("server", "redis-service", "redis", "redis-service"),
    ("server", "redis-cidrs", "redis", "redis-external"),
    ("db-migration", "kube-dns", "dns", "always"),
    ("db-migration", "postgres", "postgres", "always"),
    ("db-migration", "postgres-cidrs", "postgres", "always"),
    ("db-role", "kube-dns", "dns", "role-job"),
    ("db-role", "postgres", "postgres", "role-job"),
    ("db-role", "postgres-cidrs", "postgres", "role-job"),
    ("keycloak-setup", "kube-dns", "dns", "keycloak-bootstrap"),
    ("keycloak-setup", "keycloak", "keycloak-pods", "keycloak-bootstrap+keycloak-service"),
    ("keycloak-setup", "traefik", "keycloak-ingress", "keycloak-bootstrap+keycloak-public"),
    ("keycloak-setup", "keycloak-cidrs", "keycloak-url", "keycloak-bootstrap"),
    ("minio-setup", "kube-dns", "dns", "minio-bootstrap"),
    ("minio-setup", "minio", "s3-pods", "minio-bootstrap+s3-service"),
    ("minio-setup", "traefik", "s3-ingress", "minio-bootstrap+s3-public"),
    ("minio-setup", "s3-cidrs", "s3-url", "minio-bootstrap"),
    # a retired instance: only its cleanup Jobs run, reaching what the setup Jobs reached
    ("oidc-cleanup", "kube-dns", "dns", "keycloak-bootstrap"),
    ("oidc-cleanup", "keycloak", "keycloak-pods", "keycloak-bootstrap+keycloak-service"),
    ("oidc-cleanup", "traefik", "keycloak-ingress", "keycloak-bootstrap+keycloak-public"),
    ("oidc-cleanup", "keycloak-cidrs", "keycloak-url", "keycloak-bootstrap"),
    ("minio-cleanup", "kube-dns", "dns", "minio-bootstrap"),
    ("minio-cleanup", "minio", "s3-pods", "minio-bootstrap+s3-service"),
    ("minio-cleanup", "traefik", "s3-ingress", "minio-bootstrap+s3-public"),
    ("minio-cleanup", "s3-cidrs", "s3-url", "minio-bootstrap"),
)
"""Every connection the NetworkPolicies are meant to allow to or from an instance's pods, per instance; nothing
else may show up (decoys: another pod in the PostgreSQL and DNS namespaces, a pod in an unrelated namespace).
An endpoint that is a cluster Service is reached in its namespace on its pods' ports; a public name through
the ingress controller's pods and by address (network.*Cidrs, default anywhere) on the URL's port."""


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _ingress_ports(url: str) -> list[int]:
    return list(INGRESS_POD_PORTS["https" if urlsplit(url).scheme == "https" else "http"])


def _ports(env: EnvironmentSettings, instance: InstanceSettings, name: str) -> frozenset[str]:
    tcp = {
        "http": [n.HTTP_PORT],
        "metrics": [n.METRICS_PORT],
        "postgres": [env.postgres.port],
        "s3-pods": list(env.network.minio_ports),
        "s3-ingress": _ingress_ports(env.s3.endpoint),
        "s3-url": [_url_port(env.s3.endpoint)],
        "keycloak-pods": list(env.network.keycloak_ports),
        "keycloak-ingress": _ingress_ports(env.keycloak.url),
        "keycloak-url": [_url_port(env.keycloak.url)],
        "redis": [instance.sessions.redis.port],
    }
    return frozenset(DNS) if name == "dns" else frozenset(f"TCP {p}" for p in tcp[name])


def _redis_service(instance: InstanceSettings) -> tuple[str, str] | None:
    redis = instance.sessions.redis
    return cluster_service(redis.host or "") if not redis.deploy else None


def _applies(env: EnvironmentSettings, instance: InstanceSettings, when: str) -> bool:
    redis = instance.sessions.store == "redis"
    s3_service = cluster_service(url_host(env.s3.endpoint)) is not None
    keycloak_service = cluster_service(url_host(env.keycloak.url)) is not None
    facts = {
        "always": True,
        "monitoring": env.monitoring.enabled,
        "keycloak-bootstrap": env.bootstrap.keycloak,
        "minio-bootstrap": env.bootstrap.minio,
        "redis-deployed": redis and instance.sessions.redis.deploy,
        "redis-service": redis and _redis_service(instance) is not None,
        "redis-external": redis and not instance.sessions.redis.deploy and _redis_service(instance) is None,
        "s3-service": s3_service,
        "s3-public": not s3_service,
        "keycloak-service": keycloak_service,
        "keycloak-public": not keycloak_service,
        "role-job": env.postgres.role_management == "job",
    }
    facts |= {"service": True}  # "keycloak-bootstrap+keycloak-service" reads "keycloak-bootstrap and keycloak-service"
    first, _, second = when.partition("+")
    if second in ("service", "public"):
        second = f"{first.split('-')[0].replace('minio', 's3')}-{second}"
    return facts[first] and (not second or facts[second])


def peers(env: EnvironmentSettings) -> dict[str, list[tuple[str, str, dict[str, str]]]]:
    """role -> stand-in workloads (namespace, name, pod labels), with the labels the render's policies select."""
    net, pg = env.network, env.postgres
    s3_namespace = (cluster_service(url_host(env.s3.endpoint)) or ("", env.s3.minio_namespace))[1]
    redis_namespaces = sorted(
        {service[1] for i in env.instances if i.sessions.store == "redis" for service in [_redis_service(i)] if service}
    )
    return {
        "traefik": [(net.ingress_namespace, "traefik", dict(net.ingress_pods) or {"app": "ingress"})],
        "allow-from": [(ns, "client", {"app": "client"}) for ns in net.allow_from],
        "prometheus": [(env.monitoring.prometheus_namespace, "prometheus", {"app.kubernetes.io/name": "prometheus"})],
        "kube-dns": [(net.dns_namespace, "coredns", {"k8s-app": "kube-dns"})],
        "postgres": [
            (pg.namespace, f"{pg.cluster}-1", {"cnpg.io/cluster": pg.cluster, "cnpg.io/instanceRole": "primary"})
        ],
        "minio": [(s3_namespace, "minio", {"app": "minio"})],
        "keycloak": [(net.keycloak_namespace, "keycloak", {"app": "keycloak"})],
        "redis-service": [(ns, "redis", {"app": "redis"}) for ns in redis_namespaces],
        "decoy": [
            (pg.namespace, "other-database", {"cnpg.io/cluster": "other"}),
            (net.dns_namespace, "metrics-server", {"k8s-app": "metrics-server"}),
            ("unrelated", "stranger", {"app": "stranger"}),
        ],
    }


def cidrs(env: EnvironmentSettings) -> dict[str, list[str]]:
    net = env.network
    return {
        "postgres-cidrs": list(net.postgres_cidrs),
        "s3-cidrs": list(net.s3_cidrs),
        "keycloak-cidrs": list(net.keycloak_cidrs),
        "redis-cidrs": list(net.redis_cidrs),
    }


def _cidr_range(cidr: str) -> str:
    import ipaddress

    network = ipaddress.ip_network(cidr)
    return f"{network.network_address}-{network.broadcast_address}"


def _workloads(env: EnvironmentSettings, docs: list[dict[str, object]]) -> dict[str, dict[str, str]]:
    """instance name -> role -> analyzer name (`ns/name[Kind]`) of its rendered workloads."""
    found: dict[str, dict[str, str]] = {i.name: {} for i in env.instances}
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        meta = doc["metadata"]
        assert isinstance(meta, dict)
        labels = meta.get("labels") or {}
        instance, component = labels.get("app.kubernetes.io/instance"), labels.get("app.kubernetes.io/component")
        assert instance in found and component, f"{meta['name']}: labels {labels}"
        found[instance][component] = f"{meta['namespace']}/{meta['name']}[{doc['kind']}]"
    return found


def expected(env: EnvironmentSettings, docs: list[dict[str, object]]) -> dict[tuple[str, str], frozenset[str]]:
    """CONNECTIONS resolved for env: (source, destination) as the analyzer names them -> protocol/port set."""
    stand_ins = {role: [f"{ns}/{name}[Deployment]" for ns, name, _ in found] for role, found in peers(env).items()}
    # netpol-analyzer 1.4.4 models IPv4 only: the ::/0 half of "anywhere" never shows in its output (it is in the
    # rendered ipBlocks, tests/test_network_reach.py and the snapshots)
    blocks = {role: [_cidr_range(c) for c in found if ":" not in c] for role, found in cidrs(env).items()}
    result: dict[tuple[str, str], frozenset[str]] = {}
    for instance in env.instances:
        workloads = _workloads(env, docs)[instance.name]
        for source, destination, ports, when in CONNECTIONS:
            if not _applies(env, instance, when) or instance.retired != source.endswith("-cleanup"):
                continue
            sources = [workloads[source]] if source in workloads else stand_ins[source]
            if destination in workloads:
                destinations = [workloads[destination]]
            else:
                destinations = stand_ins.get(destination) or blocks.get(destination) or []
            for pair in ((s, d) for s in sources for d in destinations):
                result[pair] = result.get(pair, frozenset()) | _ports(env, instance, ports)
    return result


def analyzer_input(env: EnvironmentSettings, folder: Path, dest: Path) -> list[dict[str, object]]:
    """dest/: the rendered workloads and NetworkPolicies, the namespaces and the stand-in peers; the docs copied."""
    docs = [
        d for d in documents(manifest_files(folder)) if d["kind"] in ("Namespace", "Deployment", "Job", "NetworkPolicy")
    ]
    stand_ins = [p for found in peers(env).values() for p in found]
    rendered_namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    extra = sorted({ns for ns, _, _ in stand_ins} - rendered_namespaces)
    (dest / "rendered.yaml").write_text(yaml.safe_dump_all(docs))
    (dest / "peers.yaml").write_text(
        yaml.safe_dump_all(
            [
                *(namespace_doc(ns) for ns in extra),
                *(peer_deployment(ns, name, labels) for ns, name, labels in stand_ins),
            ]
        )
    )
    return docs


def _involves(pair: tuple[str, str], rendered_names: set[str]) -> bool:
    return pair[0] in rendered_names or pair[1] in rendered_names


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_policies_allow_exactly_the_intended_connections(
    env: str, rendered: dict[str, Path], tmp_path: Path
) -> None:
    config = settings(env)
    docs = analyzer_input(config, rendered[env], tmp_path)
    # not --fail: v1.4.4 then stops with "Error getting resourceInfos from dir path: <nil>" on any input
    done = run([tool("netpol-analyzer", "netpolicy"), "list", "--dirpath", tmp_path, "-o", "json"])
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr
    rendered_names = {w for found in _workloads(config, docs).values() for w in found.values()}
    actual = {(c["src"], c["dst"]): c["conn"] for c in json.loads(done.stdout)}
    allowed = {pair: parse_connection(conn) for pair, conn in actual.items() if _involves(pair, rendered_names)}
    want = expected(config, docs)
    assert len(pod_pairs(want)) >= 10 * len(config.instances), want
    problems = [
        f"{what}: {detail}"
        for what, detail in (
            *_compare(pod_pairs(allowed), pod_pairs(want)),
            *_compare(ip_coverage(allowed), ip_coverage(want)),
        )
    ]
    assert not problems, "\n".join(problems)


def _compare(allowed: Mapping[Any, Any], intended: Mapping[Any, Any]) -> Iterator[tuple[str, str]]:
    def show(value: Any) -> str:
        return ", ".join(sorted(value)) if isinstance(value, frozenset) else str(value)

    for key in sorted(set(allowed) | set(intended)):
        if key not in intended:
            yield "unintended", f"{' -> '.join(key)}: {show(allowed[key])}"
        elif key not in allowed:
            yield "missing", f"{' -> '.join(key)}: {show(intended[key])}"
        elif allowed[key] != intended[key]:
            yield "different", f"{' -> '.join(key)}: allowed {show(allowed[key])}, intended {show(intended[key])}"


# ---------------------------------------------------------------------------------------------------------------
# kube-linter
# ---------------------------------------------------------------------------------------------------------------
KUBE_LINTER_IGNORED = {
    "job-ttl-seconds-after-finished": (
        "the Jobs are GitOps-managed objects (Flux Kustomization / Argo CD Application, prune on): a TTL would let "
        "the cluster delete a finished Job that the engine then re-creates, re-running the migration and setup "
        "Jobs on every reconcile; a config change renames the Job (content hash) instead"
    ),
    "no-anti-affinity": KUBE_SCORE_IGNORED["deployment-has-host-podantiaffinity"],
}
"""kube-linter checks left out, each with the reason."""


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kube_linter(env: str, rendered: dict[str, Path]) -> None:
    excluded = [arg for check in KUBE_LINTER_IGNORED for arg in ("--exclude", check)]
    done = run([tool("kube-linter"), "lint", *excluded, *manifest_files(rendered[env])])
    assert done.returncode == 0, done.stdout + done.stderr
