"""What `validate` checks without rendering is what the render makes: the object inventory in `names` equals
the rendered objects for every kind of config, names at their limit render valid objects and one character
more is refused, and each limit agrees with an independent oracle (git, the CRDs' own patterns, Python's
ipaddress)."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mlflow_gitops import names as n
from mlflow_gitops.app import render
from mlflow_gitops.config import ConfigError, limits, load_environments
from mlflow_gitops.crds import default_crd_dir
from tests.conftest import EXAMPLES, FULL_CLUSTER
from tests.validation import SchemaValidator

ARGO_CD_CLUSTER = (
    "cluster:\n  apiVersions: [postgresql.cnpg.io/v1/Database, external-secrets.io/v1, "
    "traefik.io/v1alpha1, argoproj.io/v1alpha1]\n"
)
"""A cluster with Argo CD instead of Flux (and CloudNativePG 1.27)."""
VARIANTS = {
    "default": None,
    "redis-autoscaled": "instances:\n  - {name: team-a, sessions: {store: redis}, autoscaling: {enabled: true}}\n",
    "external-redis": "instances:\n  - {name: team-a, replicas: 2, sessions: {store: redis, redis: {deploy: false, "
    "host: redis.data.svc.cluster.local}}}\n",
    "no-bootstrap-no-policies": "bootstrap:\n  keycloak: {enabled: false}\n  minio: {enabled: false}\n"
    "network:\n  policies: false\ninstances:\n  - name: team-a\n",
    "no-ingress-no-monitoring": "ingress:\n  enabled: false\nmonitoring:\n  enabled: false\n"
    "instances:\n  - name: team-a\n  - name: team-b\n",
    "existing-admin-secrets": "keycloak:\n  admin: {vaultPath: null}\ns3:\n  admin: {vaultPath: null}\n"
    "instances:\n  - name: team-a\n",
    "flux-with-repository": "gitops:\n  repository: {url: 'ssh://git@github.com/acme/gitops.git'}\n"
    "instances:\n  - name: team-a\n",
    "argocd": "gitops:\n  engine: argocd\n  repository: {url: 'https://github.com/acme/gitops.git'}\n"
    "instances:\n  - name: team-a\n" + ARGO_CD_CLUSTER,
    "cnpg-130-prometheus": FULL_CLUSTER + "instances:\n  - name: team-a\n",
}
JOB_HASH = re.compile(rf"-[0-9a-f]{{{n.JOB_HASH_LENGTH}}}$")


def load(name: str, text: str | None, tmp_path: Path):
    if text is None:
        return load_environments(None, None, {})
    (tmp_path / f"{name}.yaml").write_text(text)
    return load_environments([name], tmp_path, {})


def identities(doc: dict) -> tuple[str, str | None, str]:
    meta = doc["metadata"]
    name = meta["name"]
    if doc["kind"] == "Job":
        assert JOB_HASH.search(name), name
        name = JOB_HASH.sub(f"-<{n.JOB_HASH_LENGTH}-character hash>", name)
    return doc["kind"], meta.get("namespace"), name


@pytest.mark.parametrize("variant", [*VARIANTS, "staging", "prod", "dev"])
def test_the_inventory_validate_checks_is_exactly_what_renders(variant: str, tmp_path: Path) -> None:
    envs = (
        load_environments([variant], EXAMPLES, {})
        if variant not in VARIANTS
        else load(variant, VARIANTS[variant], tmp_path)
    )
    [rendered] = render(envs)
    env = rendered.environment
    predicted = [o.identity for inst in env.instances for o in n.Names(env, inst).objects()]
    predicted += [o.identity for o in n.engine_objects(env)]
    made = [identities(doc) for doc in rendered.documents]
    assert sorted(predicted, key=str) == sorted(made, key=str)


def kubernetes_name_problem(doc: dict) -> str | None:
    """The API server's rule for the name of `doc`'s kind (independent of the inventory's rules)."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    if kind == "Service":
        return limits.rfc1035_label(name)
    if kind in ("Namespace", "Job", "Kustomization", "Application"):
        return limits.dns_label(name)
    return limits.dns_subdomain(name)


@pytest.fixture(scope="module")
def validator() -> SchemaValidator:
    return SchemaValidator(default_crd_dir())


@pytest.mark.parametrize(
    ("config", "longest"),
    [
        ("instances:\n  - name: {name}\n", 37),
        ("bootstrap:\n  keycloak: {{enabled: false}}\ninstances:\n  - name: {name}\n", 39),
        ("bootstrap:\n  keycloak: {{enabled: false}}\n  minio: {{enabled: false}}\ninstances:\n  - name: {name}\n", 39),
    ],
)
def test_names_at_their_limit_render_valid_objects_and_one_more_is_refused(
    config: str, longest: int, tmp_path: Path, validator
) -> None:
    name = "m" + "x" * (longest - 1)
    [rendered] = render(load("edge", config.format(name=name), tmp_path))
    docs = list(rendered.documents)
    assert validator.validate_all(docs) == {}
    assert {d["metadata"]["name"]: kubernetes_name_problem(d) for d in docs if kubernetes_name_problem(d)} == {}
    assert max(len(d["metadata"]["name"]) for d in docs if d["kind"] == "Job") == 63
    with pytest.raises(ConfigError, match=f"use at most {longest} characters"):
        load("edge", config.format(name=name + "x"), tmp_path)


def test_environment_names_at_the_limit_of_the_engine_objects(tmp_path: Path) -> None:
    argocd = ARGO_CD_CLUSTER + "gitops:\n  engine: argocd\n  repository: {url: 'https://g.example.com/x.git'}\n"
    # Flux: a Kustomization mlflow-<env>-bootstrap per unit; Argo CD: one Application mlflow-<env>
    for engine, longest in (("", 63 - len("mlflow--bootstrap")), (argocd, 63 - len("mlflow-"))):
        (tmp_path / ("e" * longest + ".yaml")).write_text(engine or "{}\n")
        [env] = load_environments(["e" * longest], tmp_path, {})
        assert all(len(o.name) <= 63 for o in n.engine_objects(env))
        (tmp_path / ("e" * (longest + 1) + ".yaml")).write_text(engine or "{}\n")
        with pytest.raises(ConfigError, match=f"at most {longest} characters"):
            load_environments(["e" * (longest + 1)], tmp_path, {})
        for path in tmp_path.iterdir():
            path.unlink()


BRANCHES = [
    "main",
    "release/1.2",
    "feature/x-y_z",
    "a..b",
    "x.lock",
    "a/.hidden",
    "-x",
    "/x",
    "x/",
    "a//b",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "@",
    "a@{b",
    "x.",
    ".x",
    "v1.0",
    "a/b.lock/c",
    "HEAD",
    "@x",
    "a.b/c-d",
    "ü",
    "a\tb",
]


@pytest.mark.parametrize("branch", BRANCHES)
def test_branch_names_agree_with_git(branch: str) -> None:
    done = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, text=True)
    if branch == "@":  # git expands @ to the current branch; as a branch Flux checks out it is refused
        assert limits.git_branch(branch)
        return
    assert (limits.git_branch(branch) is None) == (done.returncode == 0), branch


def crd_duration_pattern() -> re.Pattern[str]:
    crd = yaml.safe_load(
        (default_crd_dir() / "prometheus-operator" / "monitoring.coreos.com_servicemonitors.yaml").read_text()
    )
    endpoint = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["endpoints"][
        "items"
    ]["properties"]
    return re.compile(endpoint["interval"]["pattern"])


def test_prometheus_durations_we_accept_are_accepted_by_the_service_monitor_crd() -> None:
    pattern, rng = crd_duration_pattern(), random.Random(7)
    for _ in range(3000):
        value = "".join(f"{rng.randint(0, 99)}{rng.choice(['h', 'm', 's', 'ms'])}" for _ in range(rng.randint(1, 3)))
        if limits.prometheus_duration(value) is None:
            assert pattern.match(value), value
        elif pattern.match(value) and limits.go_duration(value) is None:
            raise AssertionError(f"{value!r} refused although the CRD and Go accept it")


def test_cidrs_agree_with_a_canonical_network() -> None:
    assert limits.cidr("10.0.0.0/16") is None and limits.cidr("fd00::/64") is None
    for bad in ("999.1.1.1/99", "10.0.0.0/33", "10.0.0.1/8", "010.0.0.0/8", "10.0.0.0", "fd00::1/64", "x/8"):
        assert limits.cidr(bad), bad


def test_quantities_compare_across_units() -> None:
    assert limits.memory_bytes("512Mi") < limits.memory_bytes("600M") < limits.memory_bytes("1Gi")
    assert limits.cpu_cores("500m") == limits.cpu_cores("0.5")


def test_bucket_rules() -> None:
    assert limits.s3_bucket("mlflow") is None and limits.s3_bucket("team.artifacts-1") is None
    for bad in ("ab", "a" * 64, "a..b", "a.-b", "192.168.0.1", "xn--x", "x-s3alias", "Upper", "-x", "x-"):
        assert limits.s3_bucket(bad), bad
