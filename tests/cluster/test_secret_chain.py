"""The secret chain with the real parts: Vault (a Vault-compatible server, tests/cluster/vault.py) -> the External
Secrets Operator (tests/cluster/external_secrets.py) -> Secrets -> what the pods and CloudNativePG objects read.

Two environments go through it: one with `vault.namespaceStore` (a SecretStore per instance and namespace, logging
in with the Vault policy and role `mlflow-gitops access` prints, run here as printed), and one reading the platform's
shared ClusterSecretStore `vault-secret-store` as the old module did. The Secrets External Secrets makes are
compared with what the pods and CloudNativePG objects reference and with tests/e2e/secrets.py's evaluation (which
the end-to-end tier builds its Secrets with); a value changed in Vault must reach its Secret within the
refreshInterval; an instance's store must not read another instance's paths; and with real RBAC the app namespaces
hold no admin credential and no rendered ServiceAccount can list Secrets."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.control_plane import ControlPlane, tool
from tests.cluster.external_secrets import ExternalSecrets, decoded, start_external_secrets
from tests.cluster.vault import ROOT_TOKEN, Vault, start_vault
from tests.conftest import REPO, find, render_docs
from tests.e2e.secrets import evaluate_all

KV, AUTH = "kv", "k8s-chain"
REFRESH_SECONDS = 10
POSTGRES_NAMESPACE = "chain-postgres"
ENVIRONMENTS = {
    # instances a and b read through their own SecretStores; `shared` through the platform's ClusterSecretStore,
    # on CloudNativePG 1.27 as buun-stack (the db-role Job, with the PostgreSQL admin login in its namespace)
    "chain": """\
cluster:
  apiVersions: [postgresql.cnpg.io/v1, external-secrets.io/v1, traefik.io/v1alpha1, kustomize.toolkit.fluxcd.io/v1]
postgres: {{namespace: {postgres}, roleManagement: DatabaseRole}}
vault:
  storeKind: SecretStore
  refreshInterval: {refresh}s
  namespaceStore: {{server: '{server}', kvMount: {kv}, authMount: {auth}}}
instances:
  - {{name: chain-a, namespace: chain-a, host: a.example.com}}
  - {{name: chain-b, namespace: chain-b, host: b.example.com}}
""",
    "shared": """\
cluster:
  apiVersions: [postgresql.cnpg.io/v1, external-secrets.io/v1, traefik.io/v1alpha1, kustomize.toolkit.fluxcd.io/v1]
postgres: {{namespace: {postgres}, roleManagement: job}}
vault: {{refreshInterval: {refresh}s}}
instances:
  - {{name: chain-shared, namespace: chain-shared, host: shared.example.com}}
""",
}
ADMIN_PATHS = {
    # the platform's own admin credentials, in Vault next to the instances' (the old module's paths)
    "keycloak/admin": {"username": "admin", "password": "Keycloak-Master-Admin-chain"},
    "minio/admin": {"username": "minio-root", "password": "MinIO-Root-Password-chain"},
    "postgres/admin": {"username": "postgres", "password": "Postgres-Superuser-chain"},
}
SHARED_STORE_ACCOUNT = ("external-secrets", "external-secrets")
WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet")
SELF_REVIEWS = {
    # what every authenticated identity may do (system:basic-user and friends): ask about itself
    "selfsubjectreviews.authentication.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
}


def value_for(path: str, prop: str) -> str:
    """A distinct test value per Vault path and property; passwords carry every character a URI must escape."""
    return f"{path}:{prop}@p/ss:w+rd y%" if prop == "password" else f"{path.replace('/', '-')}-{prop}"


def vault_values(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    values: dict[str, dict[str, str]] = {}
    for doc in find(docs, "ExternalSecret"):
        for item in doc["spec"].get("data") or []:
            ref = item["remoteRef"]
            values.setdefault(ref["key"], {})[ref["property"]] = value_for(ref["key"], ref["property"])
    return values


def pod_secret_refs(spec: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                yield ref["name"], ref["key"]
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                yield source["secretRef"]["name"], None
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            yield volume["secret"]["secretName"], None
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                yield source["secret"]["name"], None


def cnpg_secret_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("passwordSecret", "secret", "superuserSecret") and isinstance(value, dict) and "name" in value:
                yield value["name"]
            else:
                yield from cnpg_secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from cnpg_secret_refs(value)


def referenced_secrets(docs: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    """(namespace, Secret, key or None) for every Secret a rendered pod or CloudNativePG object reads."""
    refs: set[tuple[str, str, str | None]] = set()
    for doc in docs:
        namespace = doc["metadata"].get("namespace")
        if doc["kind"] in WORKLOADS:
            refs |= {(namespace, n, k) for n, k in pod_secret_refs(doc["spec"]["template"]["spec"])}
        elif doc["apiVersion"].startswith("postgresql.cnpg.io/"):
            refs |= {(namespace, n, None) for n in cnpg_secret_refs(doc["spec"])}
    return refs


def apply(plane: ControlPlane, docs: list[dict[str, Any]]) -> None:
    plane.kubectl(
        "apply", "--server-side", "--field-manager=secret-chain-tests", "-f", "-", input=yaml.safe_dump_all(docs)
    )


def run_access_vault_sections(vault: Vault, config_dir: Path, env: str, workdir: Path) -> list[str]:
    """Run the `## Vault:` sections of `mlflow-gitops access` with the real vault CLI; the sections run."""
    done = subprocess.run(
        [sys.executable, "-m", "mlflow_gitops", "access", "--env", env, "--config-dir", str(config_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sections = ["## " + s for s in done.stdout.split("\n## ")[1:] if s.startswith("Vault:")]
    assert sections, done.stdout
    for section in sections:
        script = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", section],
            cwd=workdir,
            env={
                "PATH": f"{tool('vault', 'vault').parent}:/usr/bin:/bin",
                "VAULT_ADDR": vault.address,
                "VAULT_TOKEN": ROOT_TOKEN,
                "HOME": str(workdir),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert script.returncode == 0, f"{section}\n{script.stderr}"
    return sections


class Chain:
    def __init__(self, plane: ControlPlane, vault: Vault, eso: ExternalSecrets, root: Path) -> None:
        self.plane, self.vault, self.eso, self.root = plane, vault, eso, root
        self.docs: dict[str, list[dict[str, Any]]] = {}
        self.values: dict[str, dict[str, str]] = dict(ADMIN_PATHS)
        self.seconds: dict[str, float] = {}

    def render(self, env: str) -> list[dict[str, Any]]:
        folder = self.root / "config"
        folder.mkdir(exist_ok=True)
        text = ENVIRONMENTS[env].format(
            postgres=POSTGRES_NAMESPACE, refresh=REFRESH_SECONDS, server=self.vault.address, kv=KV, auth=AUTH
        )
        (folder / f"{env}.yaml").write_text(text)
        self.docs[env] = render_docs(None, [env], folder)
        return self.docs[env]

    def external_secrets(self, env: str) -> list[dict[str, Any]]:
        return find(self.docs[env], "ExternalSecret")

    def synced(self, env: str) -> float:
        """Wait until every ExternalSecret of env is Ready; the seconds it took."""
        pending = self.external_secrets(env)
        return self.plane.wait_for(
            f"{env}: every ExternalSecret synced",
            timeout=120,
            probe=lambda: all(
                self.eso.condition("externalsecret", d["metadata"]["name"], d["metadata"]["namespace"])[0] == "True"
                for d in pending
            ),
        )


def platform_shared_store(chain: Chain) -> None:
    """The platform's ClusterSecretStore as a buun-stack cluster has one: Kubernetes auth as External Secrets'
    own ServiceAccount, with a role that reads every path of the KV mount."""
    namespace, account = SHARED_STORE_ACCOUNT
    chain.plane.kubectl("create", "namespace", namespace, check=False)
    chain.plane.kubectl("create", "serviceaccount", account, "-n", namespace, check=False)
    chain.vault.cli(
        "policy", "write", "external-secrets", "-", input=f'path "{KV}/data/*" {{ capabilities = ["read"] }}\n'
    )
    chain.vault.cli(
        "write",
        f"auth/{AUTH}/role/external-secrets",
        f"bound_service_account_names={account}",
        f"bound_service_account_namespaces={namespace}",
        "policies=external-secrets",
        "token_ttl=10m",
    )
    store = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "vault-secret-store"},
        "spec": {
            "provider": {
                "vault": {
                    "server": chain.vault.address,
                    "path": KV,
                    "version": "v2",
                    "auth": {
                        "kubernetes": {
                            "mountPath": AUTH,
                            "role": "external-secrets",
                            "serviceAccountRef": {"name": account, "namespace": namespace},
                        }
                    },
                }
            }
        },
    }
    apply(chain.plane, [store])


@pytest.fixture(scope="module")
def chain(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    vault = start_vault(plane)
    eso = start_external_secrets(plane)
    chain = Chain(plane, vault, eso, tmp_path_factory.mktemp("secret-chain"))
    try:
        vault.enable_kv(KV)
        vault.enable_kubernetes_auth(AUTH)
        platform_shared_store(chain)
        plane.kubectl("create", "namespace", POSTGRES_NAMESPACE, check=False)
        for env in ENVIRONMENTS:
            chain.values.update(vault_values(chain.render(env)))
        for path, values in sorted(chain.values.items()):
            vault.put(KV, path, values)
        run_access_vault_sections(vault, chain.root / "config", "chain", chain.root)
        for env in ENVIRONMENTS:
            docs = chain.docs[env]
            apply(plane, [d for d in docs if d["kind"] == "Namespace"])
            apply(plane, [d for d in docs if d["kind"] in ("ServiceAccount", "SecretStore", "ExternalSecret")])
        for env in ENVIRONMENTS:
            chain.seconds[f"{env}: every ExternalSecret synced"] = chain.synced(env)
        yield chain
    finally:
        eso.stop()
        vault.stop()
        plane.timings.update({f"secret chain, {k}": v for k, v in chain.seconds.items()})


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_the_stores_are_ready(chain: Chain, env: str) -> None:
    for store in find(chain.docs[env], "SecretStore"):
        status, reason, message = chain.eso.condition(
            "secretstore", store["metadata"]["name"], store["metadata"]["namespace"]
        )
        assert status == "True", f"{store['metadata']['namespace']}/{store['metadata']['name']}: {reason} {message}"
    if env == "shared":
        assert chain.eso.condition("clustersecretstore", "vault-secret-store", None)[0] == "True"


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_external_secrets_make_exactly_the_secrets_the_pods_and_cloudnativepg_read(chain: Chain, env: str) -> None:
    docs = chain.docs[env]
    expected = evaluate_all(docs, chain.values)
    made = {}
    for (namespace, name), want in expected.items():
        secret = chain.eso.secret(namespace, name)
        assert secret is not None, f"External Secrets made no Secret {namespace}/{name}"
        made[(namespace, name)] = secret
        assert decoded(secret) == want.data, f"{namespace}/{name}"
        assert secret["type"] == want.type, f"{namespace}/{name}"
        labels = secret["metadata"].get("labels", {})
        assert want.labels.items() <= labels.items(), f"{namespace}/{name}: {labels}"
    references = referenced_secrets(docs)
    assert {(ns, name) for ns, name, _ in references} == set(made), "made vs read"
    for namespace, name, key in references:
        if key is not None:
            assert key in decoded(made[(namespace, name)]), f"{namespace}/{name} has no key {key}"


def test_the_auth_db_uri_is_url_escaped(chain: Chain) -> None:
    for instance in ("chain-a", "chain-b"):
        uri = decoded(chain.eso.secret(instance, f"{instance}-oidc-config") or {})["OIDC_USERS_DB_URI"]
        parsed = urllib.parse.urlsplit(uri)
        password = chain.values[f"{instance}/postgres"]["password"]
        assert urllib.parse.unquote(parsed.password or "") == password, uri
        assert parsed.hostname and parsed.path.lstrip("/"), uri
        assert password not in uri  # '@', '/', ':', ' ' and '%' escaped


def test_a_value_changed_in_vault_reaches_its_secret_within_the_refresh_interval(chain: Chain) -> None:
    for env, instance in (("chain", "chain-a"), ("shared", "chain-shared")):
        path = f"{instance}/s3"
        rotated = {**chain.values[path], "secretkey": f"rotated-{time.time_ns()}"}
        chain.vault.put(KV, path, rotated)
        changed = time.monotonic()
        seconds = chain.plane.wait_for(
            f"{env}: the rotated S3 key in {instance}/{instance}-s3-secret",
            timeout=REFRESH_SECONDS * 4,
            probe=lambda instance=instance, want=rotated["secretkey"]: (  # type: ignore[misc]
                decoded(chain.eso.secret(instance, f"{instance}-s3-secret") or {}).get("AWS_SECRET_ACCESS_KEY") == want
            ),
        )
        elapsed = time.monotonic() - changed
        chain.seconds[f"{env}: rotation reached the Secret"] = seconds
        chain.values[path] = rotated
        assert elapsed <= REFRESH_SECONDS + 5, f"{env}: {elapsed:.1f} s for a {REFRESH_SECONDS} s refreshInterval"


def test_an_instance_store_cannot_read_another_instance_or_the_admin_paths(chain: Chain, tmp_path: Path) -> None:
    probe = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "reach-into-chain-b", "namespace": "chain-a"},
        "spec": {
            "refreshInterval": f"{REFRESH_SECONDS}s",
            "secretStoreRef": {"kind": "SecretStore", "name": "vault-secret-store-chain-a"},
            "target": {"name": "reach-into-chain-b"},
            "data": [{"secretKey": "password", "remoteRef": {"key": "chain-b/postgres", "property": "password"}}],
        },
    }
    apply(chain.plane, [probe])
    chain.plane.wait_for(
        "the probe ExternalSecret refused",
        timeout=60,
        probe=lambda: chain.eso.condition("externalsecret", "reach-into-chain-b", "chain-a")[1] == "SecretSyncedError",
    )
    assert chain.eso.secret("chain-a", "reach-into-chain-b") is None
    events = chain.plane.get("events", "-n", "chain-a", "--field-selector", "involvedObject.name=reach-into-chain-b")
    said = " ".join(e.get("message", "") for e in events["items"])
    assert "Code: 403" in said and "permission denied" in said, said  # Vault refused it, not a wiring error
    chain.plane.kubectl("delete", "externalsecret", "reach-into-chain-b", "-n", "chain-a")

    # the same with Vault directly, as the store's ServiceAccount
    jwt = chain.plane.kubectl("create", "token", "vault-secret-store-chain-a", "-n", "chain-a").stdout.strip()
    status, body = chain.vault.login(AUTH, "mlflow-gitops-chain-a", jwt)
    assert status == 200, body
    token = body["auth"]["client_token"]
    assert chain.vault.api("GET", f"{KV}/data/chain-a/postgres", token=token)[0] == 200
    for path in ("chain-b/postgres", "chain-shared/postgres", *ADMIN_PATHS):
        assert chain.vault.api("GET", f"{KV}/data/{path}", token=token)[0] == 403, path
    # and it cannot log in as the other instance's role
    status, body = chain.vault.login(AUTH, "mlflow-gitops-chain-b", jwt)
    assert status == 403, body
    # nor as its own role of PostgreSQL's namespace (each namespace's store has its own role)
    assert chain.vault.login(AUTH, f"mlflow-gitops-chain-a-{POSTGRES_NAMESPACE}", jwt)[0] == 403
    in_postgres = chain.plane.kubectl("create", "token", "vault-secret-store-chain-a", "-n", POSTGRES_NAMESPACE)
    assert chain.vault.login(AUTH, f"mlflow-gitops-chain-a-{POSTGRES_NAMESPACE}", in_postgres.stdout.strip())[0] == 200
    # nor can another ServiceAccount of its namespace (the server's) log in as it
    server = chain.plane.kubectl("create", "token", "chain-a", "-n", "chain-a").stdout.strip()
    assert chain.vault.login(AUTH, "mlflow-gitops-chain-a", server)[0] == 403


def test_the_app_namespaces_hold_no_admin_credential(chain: Chain) -> None:
    admin_values = {chain.values[path]["password"] for path in ADMIN_PATHS}
    namespaces = {"chain-a", "chain-b", "chain-shared"}
    for namespace in sorted(namespaces):
        for secret in chain.plane.get("secrets", "-n", namespace)["items"]:
            held = set(decoded(secret).values())
            assert not held & admin_values, f"{namespace}/{secret['metadata']['name']} holds an admin credential"
    for env in ENVIRONMENTS:
        for doc in chain.external_secrets(env):
            keys = {item["remoteRef"]["key"] for item in doc["spec"].get("data") or []}
            if doc["metadata"]["namespace"] != POSTGRES_NAMESPACE:
                assert not keys & set(ADMIN_PATHS), f"{doc['metadata']['namespace']}/{doc['metadata']['name']}: {keys}"
    # the db-role Job's login is there, in the PostgreSQL namespace, where the Job runs
    admin = decoded(chain.eso.secret(POSTGRES_NAMESPACE, "chain-shared-postgres-admin") or {})
    assert admin == chain.values["postgres/admin"], "the db-role Job's login in the PostgreSQL namespace"


def test_no_rendered_service_account_can_read_secrets(chain: Chain) -> None:
    accounts = sorted(
        {
            (d["metadata"]["namespace"], d["metadata"]["name"])
            for env in ENVIRONMENTS
            for d in find(chain.docs[env], "ServiceAccount")
        }
    )
    assert len(accounts) >= 8, accounts
    for namespace, account in accounts:
        who = f"system:serviceaccount:{namespace}:{account}"
        for verb in ("list", "get", "watch"):
            for where in (["-n", namespace], ["-n", POSTGRES_NAMESPACE], ["--all-namespaces"]):
                done = chain.plane.kubectl("auth", "can-i", verb, "secrets", "--as", who, *where, check=False)
                assert done.stdout.strip() == "no", f"{who} can {verb} secrets {where}: {done.stdout}{done.stderr}"
        rules = chain.plane.kubectl("auth", "can-i", "--list", "--as", who, "-n", namespace).stdout
        resources = {line.split()[0] for line in rules.splitlines()[1:] if line[:1].strip()}
        assert resources <= SELF_REVIEWS, f"{who} holds API permissions:\n{rules}"
