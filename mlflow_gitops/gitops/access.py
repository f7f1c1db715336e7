"""`access`: the one-time platform steps that make the narrow credentials the render uses, as a shell script a
platform admin reads and runs (kcadm.sh, mc, vault). It changes nothing itself and holds no secret: each secret
is generated in the script and goes straight to Vault.

- Keycloak, once per realm: the setup client `keycloak.serviceAccount.clientId`, a confidential client with only
  its service account, holding only `names.keycloak_setup_roles` of the realm's realm-management client. The
  setup and cleanup Jobs log in as it (client credentials grant) and can do nothing outside the realm.
- MinIO, once per instance: the setup user `<bucket>-setup` whose policy allows the admin actions minio-setup and
  minio-cleanup perform and the bucket operations on the instance's bucket only (`minio_setup_policy`).
- Vault, once per instance and namespace its ExternalSecrets live in: a policy that reads exactly the paths they
  read there (taken from the render) and, with `vault.namespaceStore`, the Kubernetes auth role that namespace's
  SecretStore logs in with (`Names.vault_role`).

Sections start with `## `, so a reader (or a test) can take one at a time.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

from mlflow_gitops import names as n
from mlflow_gitops.settings import KEYCLOAK_SERVICE_ACCOUNT, MINIO_SETUP_USER, EnvironmentSettings, InstanceSettings

Document = dict[str, Any]

DEFAULT_KV_MOUNT = "secret"
"""Vault's KV mount of the shared store (the old module's): what the commands use without `vault.namespaceStore`."""
ROLE_TTL = "10m"
"""The lifetime of the Vault token a SecretStore's login gets (External Secrets logs in again on each refresh)."""

MINIO_SETUP_ADMIN_ACTIONS = (
    "admin:AttachUserOrGroupPolicy",
    "admin:CreatePolicy",
    "admin:CreateUser",
    "admin:DeletePolicy",
    "admin:DeleteUser",
    "admin:EnableUser",
    "admin:GetPolicy",
    "admin:GetUser",
    "admin:ServerInfo",
)
"""What minio-setup and minio-cleanup do through MinIO's admin API (ServerInfo: the site region, optional).
MinIO scopes no admin action to a resource: a user that may create and attach policies could attach a wider
one to a user it made, so this user is narrower than root (no configuration, no other bucket's data, no other
admin API) but is itself a platform credential; its Secret is read only by the setup Jobs' ServiceAccount."""
MINIO_SETUP_BUCKET_ACTIONS = (
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:PutBucketVersioning",
)
MINIO_SETUP_OBJECT_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
"""minio-cleanup's force removal of a retired instance's objects (every version)."""


def minio_setup_policy(bucket: str) -> Document:
    """The setup user's MinIO policy: the admin actions it performs, and only `bucket`'s operations."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(MINIO_SETUP_ADMIN_ACTIONS)},
            {"Effect": "Allow", "Action": list(MINIO_SETUP_BUCKET_ACTIONS), "Resource": [f"arn:aws:s3:::{bucket}"]},
            {"Effect": "Allow", "Action": list(MINIO_SETUP_OBJECT_ACTIONS), "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        ],
    }


def vault_paths(documents: Iterable[Document], names: n.Names, namespace: str) -> list[str]:
    """Every Vault path the instance's ExternalSecrets in `namespace` read, sorted."""
    instance = names.selector_labels["app.kubernetes.io/instance"]
    return sorted(
        {
            item["remoteRef"]["key"]
            for doc in documents
            if doc.get("kind") == "ExternalSecret"
            and doc["metadata"].get("namespace") == namespace
            and doc["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == instance
            for item in doc["spec"].get("data", ())
        }
    )


def vault_policy(kv_mount: str, paths: Iterable[str]) -> str:
    """HCL: read on exactly `paths` of the KV version 2 mount (its data/ paths), nothing else."""
    return "".join(f'path "{kv_mount}/data/{path}" {{\n  capabilities = ["read"]\n}}\n' for path in paths)


def _command(*words: str) -> str:
    return " ".join(word if word.startswith('"') else shlex.quote(word) for word in words)


def _heredoc(file: str, content: str) -> list[str]:
    return [f"cat > {shlex.quote(file)} <<'EOF'", content.rstrip("\n"), "EOF"]


def keycloak_section(env: EnvironmentSettings) -> list[str]:
    kc, client = env.keycloak, env.keycloak.service_account
    if not env.bootstrap.keycloak or kc.setup_login != KEYCLOAK_SERVICE_ACCOUNT or client is None:
        return []
    kv_mount = env.vault.namespace_store.kv_mount if env.vault.namespace_store else DEFAULT_KV_MOUNT
    roles = n.keycloak_setup_roles(env)
    lines = [
        f"## Keycloak realm {kc.realm}: the setup client {client.client_id} "
        f"(realm-management roles {', '.join(roles)})",
        f"# first log in as an admin of the realm: kcadm.sh config credentials --server {kc.url} --realm "
        f"{kc.admin_realm} --user <admin>",
        'secret="$(openssl rand -hex 32)"',
        _command(
            "kcadm.sh",
            "create",
            "clients",
            "-r",
            kc.realm,
            "-s",
            f"clientId={client.client_id}",
            "-s",
            "enabled=true",
            "-s",
            "publicClient=false",
            "-s",
            "serviceAccountsEnabled=true",
            "-s",
            "standardFlowEnabled=false",
            "-s",
            "directAccessGrantsEnabled=false",
            "-s",
            "implicitFlowEnabled=false",
            "-s",
            '"secret=$secret"',
        ),
        _command(
            "kcadm.sh",
            "add-roles",
            "-r",
            kc.realm,
            "--uusername",
            f"service-account-{client.client_id}",
            "--cclientid",
            "realm-management",
            *(word for role in roles for word in ("--rolename", role)),
        ),
    ]
    if client.vault_path:
        lines.append(_command("vault", "kv", "put", f"-mount={kv_mount}", client.vault_path, '"client_secret=$secret"'))
    else:
        lines.append(f"# put $secret in Secret {client.secret_name} (key {client.key}) of each instance namespace")
    return [*lines, ""]


def minio_section(env: EnvironmentSettings, instance: InstanceSettings) -> list[str]:
    s3 = env.s3
    if not env.bootstrap.minio or s3.setup_login != MINIO_SETUP_USER or instance.retired:
        return []
    names = n.Names(env, instance)
    user, credential = names.minio_setup_user, names.minio_setup_credential
    kv_mount = env.vault.namespace_store.kv_mount if env.vault.namespace_store else DEFAULT_KV_MOUNT
    policy_file = f"{user}-policy.json"
    return [
        f"## MinIO: the setup user {user} of instance {instance.name} (bucket {instance.bucket})",
        f"# first log in as MinIO's root: mc alias set platform {s3.endpoint} <root user>",
        *_heredoc(policy_file, json.dumps(minio_setup_policy(instance.bucket), indent=2)),
        _command("mc", "admin", "policy", "create", "platform", user, policy_file),
        'secret="$(openssl rand -hex 24)"',
        _command("mc", "admin", "user", "add", "platform", user, '"$secret"'),
        _command("mc", "admin", "policy", "attach", "platform", user, "--user", user),
        _command(
            "vault",
            "kv",
            "put",
            f"-mount={kv_mount}",
            str(credential.vault_path),
            f"username={user}",
            '"password=$secret"',
        ),
        "",
    ]


def vault_section(env: EnvironmentSettings, instance: InstanceSettings, documents: Iterable[Document]) -> list[str]:
    """Per namespace the instance's ExternalSecrets live in: a policy of exactly the paths they read there and,
    with `vault.namespaceStore`, the Kubernetes auth role of that namespace's SecretStore."""
    names = n.Names(env, instance)
    store = env.vault.namespace_store
    kv_mount = store.kv_mount if store else DEFAULT_KV_MOUNT
    docs = list(documents)
    lines: list[str] = []
    for namespace in names.secret_namespaces():
        paths = vault_paths(docs, names, namespace)
        if not paths:
            continue
        role = names.vault_role(namespace)
        lines += [
            f"## Vault: policy {role} of instance {instance.name} in namespace {namespace} (the paths its "
            "ExternalSecrets there read)",
            *_heredoc(f"{role}.hcl", vault_policy(kv_mount, paths)),
            _command("vault", "policy", "write", role, f"{role}.hcl"),
        ]
        if store:
            lines.append(
                _command(
                    "vault",
                    "write",
                    f"auth/{store.auth_mount}/role/{role}",
                    f"bound_service_account_names={names.secret_store}",
                    f"bound_service_account_namespaces={namespace}",
                    f"policies={role}",
                    f"token_ttl={ROLE_TTL}",
                )
            )
        else:
            lines.append(
                f"# with vault.namespaceStore, the SecretStore {names.instance_store} in {namespace} logs in with a "
                "Kubernetes auth role bound to this policy alone"
            )
        lines.append("")
    return lines


def format_access(env: EnvironmentSettings, documents: Iterable[Document]) -> str:
    """The environment's script: Keycloak's setup client, then per instance its MinIO setup user and Vault policy."""
    docs = list(documents)
    lines = [
        f"# mlflow-gitops access: environment {env.name}. Run once, as a platform admin; review before running.",
        "set -eu",
        "",
        *keycloak_section(env),
    ]
    for instance in env.instances:
        lines += [*minio_section(env, instance), *vault_section(env, instance, docs)]
    return "\n".join(lines).rstrip("\n") + "\n"
