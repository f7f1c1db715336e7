"""`mlflow-gitops access`: the platform's one-time steps for the narrow credentials, checked against the render
(tests/test_keycloak_setup.py and tests/test_minio_setup.py run them against the real Keycloak and MinIO)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.gitops.access import format_access, minio_setup_policy
from tests.conftest import find
from tests.test_secret_stores import NAMESPACE_STORES


def access(tmp_path: Path, text: str = "") -> tuple[str, list[dict]]:
    """The script and the documents of one environment file holding `text`."""
    (tmp_path / "dev.yaml").write_text(text)
    [rendered] = render(load_environments(["dev"], tmp_path, {}))
    return format_access(rendered.environment, rendered.documents), list(rendered.documents)


def sections(script: str) -> dict[str, str]:
    """`## title` -> the lines below it, up to the next section."""
    parts = re.split(r"^## ", script, flags=re.M)[1:]
    return {part.split("\n", 1)[0].split(":")[0]: part.split("\n", 1)[1] for part in parts}


def heredoc(section: str, file: str) -> str:
    return section.split(f"cat > {file} <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]


def test_the_vault_policy_reads_exactly_what_the_instance_external_secrets_read(tmp_path):
    script, docs = access(tmp_path, NAMESPACE_STORES)
    for instance, vault_path in (("mlflow", "mlflow"), ("team-b", "team-b")):
        for namespace, role in (
            (instance, f"mlflow-gitops-{instance}"),
            ("postgres", f"mlflow-gitops-{instance}-postgres"),
        ):
            section = script.split(f"## Vault: policy {role} of instance {instance} in namespace {namespace} ")[1]
            hcl = heredoc(section, f"{role}.hcl")
            read = sorted(re.findall(r'^path "kv/data/([^"]+)" \{\n  capabilities = \["read"\]\n\}$', hcl, re.M))
            wanted = sorted(
                {
                    item["remoteRef"]["key"]
                    for doc in find(docs, "ExternalSecret")
                    if doc["metadata"]["labels"]["app.kubernetes.io/instance"] == instance
                    and doc["metadata"]["namespace"] == namespace
                    for item in doc["spec"]["data"]
                }
            )
            assert read == wanted and len(hcl.splitlines()) == 3 * len(wanted)
            assert all(p.startswith(f"{vault_path}/") or p == "keycloak/setup-client" for p in read), read


def test_each_namespace_store_has_its_own_role_bound_to_its_identity_there(tmp_path):
    script, _ = access(tmp_path, NAMESPACE_STORES)
    for namespace, role in (("team-b", "mlflow-gitops-team-b"), ("postgres", "mlflow-gitops-team-b-postgres")):
        assert (
            f"vault write auth/k8s-prod/role/{role} bound_service_account_names=vault-secret-store-team-b "
            f"bound_service_account_namespaces={namespace} policies={role} token_ttl=10m"
        ) in script


def test_the_app_namespace_role_cannot_read_the_db_role_jobs_admin_login(tmp_path):
    script, _ = access(tmp_path)  # the default: CloudNativePG 1.27, the db-role Job in PostgreSQL's namespace
    app = heredoc(script.split("## Vault: policy mlflow-gitops-mlflow of ")[1], "mlflow-gitops-mlflow.hcl")
    postgres = heredoc(
        script.split("## Vault: policy mlflow-gitops-mlflow-postgres of ")[1], "mlflow-gitops-mlflow-postgres.hcl"
    )
    assert "postgres/admin" not in app and 'path "secret/data/postgres/admin"' in postgres


def test_the_minio_setup_user_may_touch_only_its_bucket(tmp_path):
    script, _ = access(tmp_path)
    section = script.split("## MinIO: the setup user mlflow-setup of instance mlflow (bucket mlflow)\n")[1]
    policy = json.loads(heredoc(section, "mlflow-setup-policy.json"))
    assert policy == minio_setup_policy("mlflow")
    resources = {r for statement in policy["Statement"] for r in statement.get("Resource", [])}
    assert resources == {"arn:aws:s3:::mlflow", "arn:aws:s3:::mlflow/*"}
    assert 'vault kv put -mount=secret mlflow/minio-setup username=mlflow-setup "password=$secret"' in section


def test_the_keycloak_client_gets_only_the_setup_roles_and_no_login_flow(tmp_path):
    script, _ = access(tmp_path)
    [section] = [s for title, s in sections(script).items() if title.startswith("Keycloak realm buunstack")]
    assert "-s serviceAccountsEnabled=true -s standardFlowEnabled=false -s directAccessGrantsEnabled=false" in section
    assert (
        "--cclientid realm-management --rolename manage-clients --rolename manage-users "
        "--rolename view-identity-providers --rolename view-realm"
    ) in section
    assert 'vault kv put -mount=secret keycloak/setup-client "client_secret=$secret"' in section


def test_the_opt_in_admin_logins_need_no_setup_credentials(tmp_path):
    script, _ = access(tmp_path, "keycloak:\n  setupLogin: masterAdmin\ns3:\n  setupLogin: root\n")
    assert [title.split(" ")[0] for title in sections(script)] == ["Vault"]


def test_the_script_is_valid_shell_and_holds_no_secret(tmp_path):
    script, _ = access(tmp_path)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert "password=" not in script.replace('"password=$secret"', "")
