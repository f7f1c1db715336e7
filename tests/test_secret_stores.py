"""Where the ExternalSecrets read from: the shared ClusterSecretStore by default, or with `vault.namespaceStore`
a SecretStore per instance and namespace that logs in to Vault as the instance's own role."""

from __future__ import annotations

from tests.conftest import find, one, render_text

NAMESPACE_STORES = """\
cluster:
  apiVersions: [postgresql.cnpg.io/v1, external-secrets.io/v1, traefik.io/v1alpha1, kustomize.toolkit.fluxcd.io/v1]
postgres:
  roleManagement: DatabaseRole
vault:
  storeKind: SecretStore
  namespaceStore: {server: 'https://vault.vault.svc:8200', kvMount: kv, authMount: k8s-prod}
instances:
  - {name: mlflow}
  - {name: team-b, namespace: team-b, host: b.example.com, vaultPath: team-b}
"""


def test_by_default_every_external_secret_reads_the_shared_cluster_store(default_docs):
    refs = {tuple(sorted(doc["spec"]["secretStoreRef"].items())) for doc in find(default_docs, "ExternalSecret")}
    assert refs == {(("kind", "ClusterSecretStore"), ("name", "vault-secret-store"))}
    assert find(default_docs, "SecretStore") == []


def test_each_instance_reads_through_its_own_store_in_each_namespace_its_secrets_live_in():
    docs = render_text(NAMESPACE_STORES)
    stores = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in find(docs, "SecretStore")}
    assert stores == {
        ("mlflow", "vault-secret-store-mlflow"),
        ("postgres", "vault-secret-store-mlflow"),
        ("team-b", "vault-secret-store-team-b"),
        ("postgres", "vault-secret-store-team-b"),
    }
    for doc in find(docs, "ExternalSecret"):
        instance = doc["metadata"]["labels"]["app.kubernetes.io/instance"]
        assert doc["spec"]["secretStoreRef"] == {"name": f"vault-secret-store-{instance}", "kind": "SecretStore"}
        assert (doc["metadata"]["namespace"], doc["spec"]["secretStoreRef"]["name"]) in stores


def test_a_store_logs_in_as_its_own_token_less_service_account_with_the_instance_role():
    docs = render_text(NAMESPACE_STORES)
    store = [
        d for d in find(docs, "SecretStore", "vault-secret-store-team-b") if d["metadata"]["namespace"] == "team-b"
    ]
    assert store[0]["spec"]["provider"]["vault"] == {
        "server": "https://vault.vault.svc:8200",
        "path": "kv",
        "version": "v2",
        "auth": {
            "kubernetes": {
                "mountPath": "k8s-prod",
                "role": "mlflow-gitops-team-b",
                "serviceAccountRef": {"name": "vault-secret-store-team-b"},
            }
        },
    }
    accounts = find(docs, "ServiceAccount", "vault-secret-store-team-b")
    assert {d["metadata"]["namespace"] for d in accounts} == {"team-b", "postgres"}
    assert all(d["automountServiceAccountToken"] is False for d in accounts)
    assert one(docs, "Namespace", "team-b")


def test_the_store_in_the_postgres_namespace_logs_in_with_that_namespace_role():
    docs = render_text(NAMESPACE_STORES)
    roles = {
        d["metadata"]["namespace"]: d["spec"]["provider"]["vault"]["auth"]["kubernetes"]["role"]
        for d in find(docs, "SecretStore", "vault-secret-store-team-b")
    }
    assert roles == {"team-b": "mlflow-gitops-team-b", "postgres": "mlflow-gitops-team-b-postgres"}
