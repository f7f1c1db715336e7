"""What the config declares the cluster serves (cluster.apiVersions) decides the optional parts, and validate's
table of needed APIs is exactly what the render holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.config.rules import needed_apis
from tests.conftest import EXAMPLES, FULL_CLUSTER, find, one, render_text

BUILT_IN_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1", "autoscaling/v2")
VARIANTS = {
    "default": "{}\n",
    "full": FULL_CLUSTER,
    "no-ingress-no-monitoring": FULL_CLUSTER + "ingress:\n  enabled: false\nmonitoring:\n  enabled: false\n",
    "flux-repository": "gitops:\n  repository: {url: 'ssh://git@github.com/acme/gitops.git'}\n",
    "role-job-on-1.30": FULL_CLUSTER + "postgres:\n  roleManagement: job\n",
}


@pytest.mark.parametrize("variant", [*VARIANTS, "dev", "staging", "prod"])
def test_needed_apis_are_exactly_the_custom_kinds_rendered(variant: str, tmp_path: Path) -> None:
    if variant in VARIANTS:
        (tmp_path / "dev.yaml").write_text(VARIANTS[variant])
        [env] = load_environments(["dev"], tmp_path, {})
    else:
        [env] = load_environments([variant], EXAMPLES, {})
    [rendered] = render([env])
    kinds = {f"{d['apiVersion']}/{d['kind']}" for d in rendered.documents if d["apiVersion"] not in BUILT_IN_GROUPS}
    assert kinds == {api for api, _, _ in needed_apis(env)}
    assert all(env.cluster.serves(api) for api in kinds)


def test_the_default_cluster_is_the_old_modules_platform(default_docs):
    """CloudNativePG 1.27 (chart 0.26): no DatabaseRole, so the db-role Job makes the role; no Prometheus
    Operator, so no ServiceMonitor (the old chart rendered one only when the API was served)."""
    assert not find(default_docs, "DatabaseRole") and not find(default_docs, "ServiceMonitor")
    [job] = [j for j in find(default_docs, "Job") if j["metadata"]["name"].startswith("mlflow-db-role-")]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1].endswith("postgres_setup.py")
    admin = one(default_docs, "ExternalSecret", "mlflow-postgres-admin")
    assert [d["remoteRef"] for d in admin["spec"]["data"]] == [
        {"key": "postgres/admin", "property": "username"},
        {"key": "postgres/admin", "property": "password"},
    ]


def test_the_db_role_job_and_its_admin_login_live_in_the_postgres_namespace(default_docs):
    """The app namespace holds no PostgreSQL admin credential: the Job runs where the database is."""
    [job] = [j for j in find(default_docs, "Job") if j["metadata"]["name"].startswith("mlflow-db-role-")]
    spec = job["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == "postgres" and spec["serviceAccountName"] == "mlflow-db-role"
    read = {e["valueFrom"]["secretKeyRef"]["name"] for e in spec["containers"][0]["env"] if "valueFrom" in e}
    assert read == {"mlflow-postgres-admin", "mlflow-db-role"}
    for name in read:
        assert one(default_docs, "ExternalSecret", name)["metadata"]["namespace"] == "postgres"
    assert one(default_docs, "ConfigMap", "mlflow-db-role")["metadata"]["namespace"] == "postgres"
    policy = one(default_docs, "NetworkPolicy", "mlflow-db-role")
    assert policy["metadata"]["namespace"] == "postgres" and policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    in_app = [e for e in find(default_docs, "ExternalSecret") if e["metadata"]["namespace"] == "mlflow"]
    assert not [e for e in in_app for d in e["spec"]["data"] if d["remoteRef"]["key"] == "postgres/admin"]


def test_declaring_the_apis_brings_the_optional_parts(full_docs):
    assert find(full_docs, "DatabaseRole") and find(full_docs, "ServiceMonitor")
    assert not [j for j in find(full_docs, "Job") if "-db-role-" in j["metadata"]["name"]]


def test_a_kind_or_its_whole_group_version_declares_it():
    by_kind = render_text(
        "cluster:\n  apiVersions: [postgresql.cnpg.io/v1/Database, postgresql.cnpg.io/v1/"
        "DatabaseRole, external-secrets.io/v1, traefik.io/v1alpha1, kustomize.toolkit.fluxcd.io/v1, "
        "monitoring.coreos.com/v1/ServiceMonitor]\n"
    )
    assert find(by_kind, "DatabaseRole") and find(by_kind, "ServiceMonitor")
    switched_off = render_text(FULL_CLUSTER + "monitoring:\n  enabled: false\n")
    assert not find(switched_off, "ServiceMonitor")
