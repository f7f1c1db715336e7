"""Who can reach whom under the rendered NetworkPolicies, asked of the platform the old module ran on.

buun-stack is k3s with its bundled Traefik in kube-system; Keycloak (and an external S3) answer at public
names (a Cloudflare Tunnel), so from a pod they resolve to public addresses. Each test asks tests.netpol
whether a connection would pass, the way the cluster's policy controller would decide it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Docs, render_docs
from tests.netpol import Address, Pod, connects

K3S_TRAEFIK = Pod(
    "kube-system", {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-kube-system"}
)
CLOUDFLARE = Address("104.16.132.229")
"""Where auth.<domain> resolves from a pod when the name goes through a Cloudflare Tunnel."""
MINIO_POD = Pod("minio", {"app": "minio"})


def component(docs: Docs, name: str, instance: str = "mlflow") -> Pod:
    """The pod a Deployment or Job of `instance` creates, by its component label."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            if labels.get("app.kubernetes.io/component") == name and labels["app.kubernetes.io/instance"] == instance:
                return Pod(doc["metadata"]["namespace"], labels)
    raise AssertionError(f"no pod of component {name} in instance {instance}")


def env_docs(tmp_path: Path, text: str) -> Docs:
    (tmp_path / "dev.yaml").write_text(text)
    return render_docs(names=["dev"], config_dir=tmp_path)


def test_k3s_bundled_traefik_reaches_the_server_and_nothing_else_in_kube_system_does(default_docs):
    server = component(default_docs, "server")
    assert connects(default_docs, K3S_TRAEFIK, server, 5000)
    assert not connects(default_docs, Pod("kube-system", {"k8s-app": "metrics-server"}), server, 5000)
    assert not connects(default_docs, K3S_TRAEFIK, server, 9464), "metrics stay for Prometheus"


def test_a_traefik_of_its_own_namespace_is_one_setting_away(tmp_path):
    docs = env_docs(tmp_path, "network:\n  ingressNamespace: traefik\n")
    server = component(docs, "server")
    assert connects(docs, Pod("traefik", {"app.kubernetes.io/name": "traefik"}), server, 5000)
    assert not connects(docs, K3S_TRAEFIK, server, 5000)


@pytest.mark.parametrize("name", ["server", "keycloak-setup"])
def test_a_public_keycloak_is_reachable_on_its_url_port_only(default_docs, name):
    pod = component(default_docs, name)
    assert connects(default_docs, pod, CLOUDFLARE, 443), "discovery, token and JWKS calls go to a public address"
    assert not connects(default_docs, pod, CLOUDFLARE, 80)
    assert not connects(default_docs, pod, CLOUDFLARE, 22)


def test_keycloak_cidrs_narrow_the_public_keycloak(tmp_path):
    docs = env_docs(tmp_path, "network:\n  keycloakCidrs: [104.16.0.0/13]\n")
    server = component(docs, "server")
    assert connects(docs, server, CLOUDFLARE, 443)
    assert not connects(docs, server, Address("8.8.8.8"), 443)


def test_an_in_cluster_keycloak_needs_no_public_egress(tmp_path):
    docs = env_docs(tmp_path, "keycloak:\n  url: http://keycloak.keycloak.svc.cluster.local:8080\n")
    server = component(docs, "server")
    assert connects(docs, server, Pod("keycloak", {"app": "keycloak"}), 8080)
    assert not connects(docs, server, CLOUDFLARE, 443)
    assert not connects(docs, component(docs, "keycloak-setup"), CLOUDFLARE, 8080)


def test_in_cluster_minio_is_matched_on_its_pod_port_whatever_the_service_port(tmp_path):
    docs = env_docs(tmp_path, "s3:\n  endpoint: http://minio.minio.svc.cluster.local\n")  # Service on 80
    for name in ("server", "minio-setup"):
        assert connects(docs, component(docs, name), MINIO_POD, 9000), name
        assert not connects(docs, component(docs, name), CLOUDFLARE, 80), name


@pytest.mark.parametrize("name", ["server", "minio-setup"])
def test_an_external_s3_is_reachable_on_its_url_port(tmp_path, name):
    docs = env_docs(tmp_path, "s3:\n  endpoint: https://s3.acme.io\n  ignoreTls: false\n")
    pod = component(docs, name)
    assert connects(docs, pod, Address("52.216.1.10"), 443)
    assert not connects(docs, pod, MINIO_POD, 443), "an external endpoint opens no in-cluster namespace"
    assert not connects(docs, pod, Address("52.216.1.10"), 9000)


def test_default_in_cluster_targets(default_docs):
    server = component(default_docs, "server")
    assert connects(default_docs, server, Pod("postgres", {"cnpg.io/cluster": "postgres-cluster"}), 5432)
    assert connects(default_docs, server, MINIO_POD, 9000)
    assert not connects(default_docs, server, Address("10.0.0.5"), 5432)
    assert not connects(default_docs, server, Address("10.0.0.5"), 9000)
    migration = component(default_docs, "db-migration")
    assert not connects(default_docs, migration, CLOUDFLARE, 443)


REDIS = (
    "  - name: mlflow\n    replicas: 2\n    sessions:\n      store: redis\n"
    "      redis:\n        deploy: false\n        host: {host}\n"
)


def test_an_in_cluster_redis_opens_its_namespace_only(tmp_path):
    docs = env_docs(tmp_path, "instances:\n" + REDIS.format(host="redis.platform.svc.cluster.local"))
    server = component(docs, "server")
    assert connects(docs, server, Pod("platform", {"app": "redis"}), 6379)
    assert not connects(docs, server, Pod("other", {"app": "redis"}), 6379)
    assert not connects(docs, server, Address("10.1.2.3"), 6379)


def test_an_external_redis_is_reached_by_address_not_any_pod(tmp_path):
    docs = env_docs(
        tmp_path,
        "instances:\n" + REDIS.format(host="redis.platform.acme.internal") + "network:\n  redisCidrs: [10.30.0.0/24]\n",
    )
    server = component(docs, "server")
    assert connects(docs, server, Address("10.30.0.7"), 6379)
    assert not connects(docs, server, Address("10.31.0.7"), 6379)
    assert not connects(docs, server, Pod("other", {"app": "redis"}), 6379)


def test_endpoints_given_as_addresses_open_those_addresses_only(tmp_path):
    docs = env_docs(
        tmp_path,
        "s3:\n  endpoint: https://10.40.0.9:9443\n  ignoreTls: false\ninstances:\n" + REDIS.format(host="10.30.0.7"),
    )
    for name in ("server", "minio-setup"):
        pod = component(docs, name)
        assert connects(docs, pod, Address("10.40.0.9"), 9443), name
        assert not connects(docs, pod, Address("10.40.0.10"), 9443), f"{name}: only the endpoint's address"
        assert not connects(docs, pod, Address("10.40.0.9"), 9000), f"{name}: only the endpoint's port"
    server = component(docs, "server")
    assert connects(docs, server, Address("10.30.0.7"), 6379)
    assert not connects(docs, server, Address("10.30.0.8"), 6379)
    assert connects(docs, server, CLOUDFLARE, 443), "a Keycloak by name stays reachable wherever it resolves"
