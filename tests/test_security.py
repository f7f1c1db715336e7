"""Secure and highly available by default, proved by the checkers security teams run (checkov,
detect-secrets) and by the rendered NetworkPolicies, PodDisruptionBudget, topology spread and Redis sessions.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.output import write
from tests.conftest import EXAMPLES, FULL_CLUSTER, NO_CONFIG, REPO, Docs, find, one, render_docs, render_text
from tests.pod_security import pod_specs

CHECKOV = Path(os.environ.get("CHECKOV", REPO / ".checkov-venv" / "bin" / "checkov"))
CHECKOV_CONFIG = REPO / ".checkov.yaml"
SNAPSHOTS = REPO / "tests" / "__snapshots__"


@pytest.fixture(scope="module")
def rendered_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default and every example environment, written as synth writes them."""
    out = tmp_path_factory.mktemp("dist")
    write(render(load_environments(None, NO_CONFIG, {}) + load_environments(None, EXAMPLES, {})), out)
    return out


def checkov(folder: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV} missing: run `make setup` (it builds .checkov-venv)"
    result = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--config-file", str(CHECKOV_CONFIG), "-o", "json", "--quiet"],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_config_skips_at_most_three_checks_each_with_a_reason():
    text = CHECKOV_CONFIG.read_text()
    skips = yaml.safe_load(text)["skip-check"]
    assert 1 <= len(skips) <= 3
    for check in skips:
        before = text[: text.index(f"- {check}")].rstrip().splitlines()[-1]
        assert before.strip().startswith("#") and len(before) > 30, f"{check} needs its reason above it"


@pytest.mark.slow
@pytest.mark.parametrize("env", ["default", "dev", "staging", "prod"])
def test_checkov_finds_no_failed_kubernetes_check(rendered_tree, env):
    report = checkov(rendered_tree / env)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    print(f"checkov {env}: passed {summary['passed']} failed {summary['failed']} skipped {summary['skipped']}")
    assert failed == []
    assert summary["passed"] > 100


# Lines whose values are names by definition, never secret values (detect-secrets' keyword heuristic
# flags them because the key contains "secret"): an ExternalSecret's target key name, a Secret's name,
# our content checksums (hex, so they look like high-entropy strings), and the bind-all address.
# detect-secrets reads YAML values back quoted, hence the optional quotes.
NAME_LINES = [
    r"^\s*-?\s*secretKey: [\"']?[A-Za-z0-9_.-]+[\"']?$",
    r"^\s*secretName: [\"']?[a-z0-9.-]+[\"']?$",
    r"^\s*mlflow-gitops\.io/[a-z-]+-checksum: [\"']?[0-9a-f]+[\"']?$",
    r"^\s*- --host=0\.0\.0\.0$",  # the server's bind-all address (detect-secrets calls it a public IP)
    r"^\s*cidr: [\"']?0\.0\.0\.0/0[\"']?$",  # a NetworkPolicy ipBlock: anywhere (same detector)
]


def detect_secrets(paths: list[Path], scratch: Path) -> dict[str, Any]:
    """detect-secrets with every default plugin. Scripts inside ConfigMaps are scanned as the Python files
    they are (the YAML heuristics misread code such as `secret_key=settings.secret_key`); the rest of each
    YAML file is scanned as YAML, minus the NAME_LINES."""
    from detect_secrets import SecretsCollection
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import transient_settings

    targets = []
    for path in paths:
        if path.suffix != ".yaml":
            targets.append(path)
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for index, doc in enumerate(docs):
            for key, value in (doc.get("data") or {}).items() if doc.get("kind") == "ConfigMap" else ():
                if key.endswith(".py"):
                    script = scratch / f"{path.parent.name}-{path.stem}-{index}-{key}"
                    script.write_text(value)
                    targets.append(script)
                    doc["data"][key] = ""
        rest = scratch / f"{path.parent.name}-{path.name}"
        rest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        targets.append(rest)
    plugins = [{"name": plugin.__name__} for plugin in get_mapping_from_secret_type_to_class().values()]
    assert len(plugins) > 20
    line_filter = {"path": "detect_secrets.filters.regex.should_exclude_line", "pattern": NAME_LINES}
    with transient_settings({"plugins_used": plugins, "filters_used": [line_filter]}):
        secrets = SecretsCollection()
        for target in targets:
            secrets.scan_file(str(target))
        return secrets.json()


@pytest.mark.slow
def test_no_secret_in_the_rendered_output_or_the_snapshots(rendered_tree, tmp_path):
    files = sorted(p for p in rendered_tree.rglob("*.yaml")) + sorted(SNAPSHOTS.glob("*"))
    assert len(files) > 100
    assert detect_secrets(files, tmp_path) == {}


def test_detect_secrets_would_notice_a_secret(tmp_path):
    planted = tmp_path / "leak.yaml"
    planted.write_text(
        "apiVersion: v1\nkind: Secret\nstringData:\n  password: hunter2-Zq8!xT4#pL\n"
        "  aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    script = tmp_path / "leak-script.yaml"
    script.write_text(
        "kind: ConfigMap\ndata:\n  s.py: |\n    AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'\n"
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert detect_secrets([planted], scratch) != {}
    assert detect_secrets([script], scratch) != {}


def test_no_rendered_secret_carries_data(rendered_tree):
    for path in rendered_tree.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Secret":
                assert not doc.get("data") and not doc.get("stringData"), path


def policies(docs: Docs) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p["spec"] for p in find(docs, "NetworkPolicy")}


def test_default_deny_then_only_what_each_pod_needs(default_docs):
    specs = policies(default_docs)
    assert set(specs) == {
        "mlflow-default-deny",
        "mlflow-server",
        "mlflow-db-migration",
        "mlflow-db-role",
        "mlflow-keycloak-setup",
        "mlflow-minio-setup",
    }
    deny = specs["mlflow-default-deny"]
    assert deny["podSelector"] == {"matchLabels": {}} and deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny

    def namespaces(rules: list[dict[str, Any]]) -> set[str]:
        return {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for rule in rules
            for peer in rule.get("to", rule.get("from", []))
            if "namespaceSelector" in peer
        }

    server = specs["mlflow-server"]
    # Keycloak at a public name: through the ingress controller (kube-system, k3s's Traefik) or by address
    assert namespaces(server["egress"]) == {"kube-system", "postgres", "minio"}
    ingress = {
        (r["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], r["ports"][0]["port"])
        for r in server["ingress"]
    }
    assert ingress == {("kube-system", 5000)}, "no Prometheus Operator on the default cluster: no scrape"
    assert namespaces(specs["mlflow-db-migration"]["egress"]) == {"kube-system", "postgres"}
    assert namespaces(specs["mlflow-db-role"]["egress"]) == {"kube-system", "postgres"}
    assert namespaces(specs["mlflow-keycloak-setup"]["egress"]) == {"kube-system"}
    assert namespaces(specs["mlflow-minio-setup"]["egress"]) == {"kube-system", "minio"}
    for name, spec in specs.items():
        if name != "mlflow-default-deny":
            assert (spec["policyTypes"][-1] == "Egress" and "ingress" not in spec) or name == "mlflow-server"


def test_every_pod_is_selected_by_a_policy_that_matches_its_labels(default_docs):
    specs = policies(default_docs)
    for doc in default_docs:
        for _, _spec in pod_specs(doc):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            selecting = [
                name
                for name, spec in specs.items()
                if spec["podSelector"]["matchLabels"].items() <= labels.items() and name != "mlflow-default-deny"
            ]
            assert selecting, f"{doc['kind']} {doc['metadata']['name']} has no allow policy: it could not talk"


def test_prometheus_namespace_override_lands_in_the_policy():
    specs = policies(render_text(FULL_CLUSTER, {"PROMETHEUS_NAMESPACE": "observability"}))
    sources = [
        r["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for r in specs["mlflow-server"]["ingress"]
    ]
    assert sources == ["kube-system", "observability"]


def test_disruption_budget_and_no_spread_for_one_replica(default_docs):
    budget = one(default_docs, "PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    pod_labels = one(default_docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "topologySpreadConstraints" not in one(default_docs, "Deployment")["spec"]["template"]["spec"]
    assert not find(default_docs, "HorizontalPodAutoscaler")


@pytest.fixture(scope="module")
def prod_docs() -> Docs:
    [prod] = render(load_environments(["prod"], EXAMPLES, {}))
    return list(prod.documents)


def server_of(docs: Docs, namespace: str) -> dict[str, Any]:
    [deployment] = [
        d
        for d in find(docs, "Deployment")
        if d["metadata"]["namespace"] == namespace and d["metadata"]["name"] == namespace
    ]
    return deployment


def env_of(deployment: dict[str, Any], docs: Docs) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    config = {
        c["metadata"]["name"]: c["data"]
        for c in find(docs, "ConfigMap")
        if c["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    }
    out: dict[str, Any] = {}
    for source in container["envFrom"]:
        out.update(config[source["configMapRef"]["name"]])
    out.update({v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]})
    return out


def test_several_replicas_share_redis_sessions_and_one_secret_key(prod_docs):
    research = server_of(prod_docs, "research")
    spec = research["spec"]
    assert "replicas" not in spec, "the HPA owns the replica count"
    spread = spec["template"]["spec"]["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    env = env_of(research, prod_docs)
    assert env["SESSION_TYPE"] == "redis"
    assert env["REDIS_HOST"] == "research-redis.research.svc.cluster.local"
    assert env["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "research-redis", "key": "REDIS_PASSWORD"}
    assert env["SECRET_KEY"]["secretKeyRef"]["name"] == "research-session-secret", "one key for every replica"
    assert "SESSION_CACHE_DIR" not in env
    redis_secret = one(prod_docs, "ExternalSecret", "research-redis")
    assert redis_secret["spec"]["data"][0]["remoteRef"] == {"key": "research/redis", "property": "password"}
    [hpa] = [h for h in find(prod_docs, "HorizontalPodAutoscaler") if h["metadata"]["namespace"] == "research"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "research"}
    migrations = [
        j
        for j in find(prod_docs, "Job")
        if j["metadata"]["namespace"] == "research" and "db-migration" in j["metadata"]["name"]
    ]
    assert len(migrations) == 1, "the migration stays a single Job, never run by replicas"


def test_rendered_redis_is_restricted_and_reachable_only_from_the_server(prod_docs):
    redis = one(prod_docs, "Deployment", "research-redis")
    [container] = redis["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "$(REDIS_PASSWORD)" in container["args"]
    [policy] = [p for p in find(prod_docs, "NetworkPolicy") if p["metadata"]["name"] == "research-redis"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "egress" not in policy["spec"]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "mlflow",
                    "app.kubernetes.io/instance": "research",
                    "app.kubernetes.io/component": "server",
                }
            }
        }
    ]


def test_existing_redis_is_used_without_rendering_one(prod_docs):
    forecasting = server_of(prod_docs, "forecasting")
    env = env_of(forecasting, prod_docs)
    assert (env["REDIS_HOST"], env["REDIS_SSL"]) == ("redis.platform.acme.internal", "true")
    assert not [d for d in find(prod_docs, "Deployment") if d["metadata"]["name"] == "forecasting-redis"]
    assert forecasting["spec"]["replicas"] == 2


def test_external_postgres_cidr_and_client_namespaces(prod_docs):
    [server] = [p["spec"] for p in find(prod_docs, "NetworkPolicy") if p["metadata"]["name"] == "vision-server"]
    cidrs = [peer["ipBlock"]["cidr"] for rule in server["egress"] for peer in rule.get("to", []) if "ipBlock" in peer]
    assert "10.20.0.0/24" in cidrs
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in server["ingress"][0]["from"]
    }
    assert sources == {"traefik-system", "notebooks", "pipelines"}


def test_network_policies_can_be_switched_off(tmp_path):
    (tmp_path / "dev.yaml").write_text("network:\n  policies: false\n")
    assert not find(render_docs(names=["dev"], config_dir=tmp_path), "NetworkPolicy")
