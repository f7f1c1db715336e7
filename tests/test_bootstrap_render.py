"""The rendered bootstrap Jobs: wiring, GitOps safety, switches, and content-addressed names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlflow_gitops import scripts
from mlflow_gitops.constructs import bootstrap
from tests.conftest import Docs, find, one, render_docs, render_text


def job(docs: Docs, component: str) -> dict[str, Any]:
    [found] = [d for d in find(docs, "Job") if d["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return found


def job_env(docs: Docs, component: str) -> dict[str, Any]:
    [container] = job(docs, component)["spec"]["template"]["spec"]["containers"]
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


def secret_ref(value: dict[str, Any]) -> tuple[str, str]:
    ref = value["secretKeyRef"]
    return ref["name"], ref["key"]


@pytest.mark.parametrize("component", ["keycloak-setup", "minio-setup"])
def test_setup_jobs_are_safe_under_gitops(default_docs, component):
    found = job(default_docs, component)
    assert found["metadata"]["name"].startswith(f"mlflow-{component}-")
    assert len(found["metadata"]["name"].rsplit("-", 1)[1]) == 10
    assert found["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/force": "enabled"}
    assert found["spec"]["template"]["spec"]["serviceAccountName"] == "mlflow-bootstrap"
    spec = found["spec"]
    assert spec["backoffLimit"] > 0 and spec["activeDeadlineSeconds"] > 0
    assert "ttlSecondsAfterFinished" not in spec
    [container] = spec["template"]["spec"]["containers"]
    assert container["image"] == "localhost:30500/mlflow:3.6.0-oidc", "runs on the custom image"
    assert set(container["resources"]) == {"requests", "limits"}
    script = container["command"][-1].rsplit("/", 1)[1]
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    config_map = one(default_docs, "ConfigMap", volumes["scripts"]["configMap"]["name"])
    assert script in config_map["data"], "the script reaches the cluster through the GitOps output"


def test_keycloak_job_reads_the_servers_client_secret_and_its_realm_service_account(default_docs):
    env = job_env(default_docs, "keycloak-setup")
    assert env["KEYCLOAK_URL"] == "https://auth.example.com"
    assert env["KEYCLOAK_REALM"] == "buunstack"
    assert (env["KEYCLOAK_ADMIN_REALM"], env["KEYCLOAK_ADMIN_CLIENT_ID"]) == ("buunstack", "mlflow-gitops-setup")
    assert env["MLFLOW_URL"] == "https://mlflow.example.com"
    assert env["OIDC_GROUPS"] == "mlflow-admins,mlflow-users"
    assert env["OIDC_PKCE"] == "false"
    assert secret_ref(env["KEYCLOAK_ADMIN_CLIENT_SECRET"]) == ("keycloak-setup-client", "client-secret")
    assert "KEYCLOAK_ADMIN_USER" not in env and "KEYCLOAK_ADMIN_PASSWORD" not in env
    deployment = one(default_docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    server = {v["name"]: v.get("valueFrom") for v in deployment["env"]}
    assert env["OIDC_CLIENT_SECRET"] == server["OIDC_CLIENT_SECRET"], "same Secret: a re-run never rotates it"
    assert env["OIDC_CLIENT_ID"] == "mlflow" and env["OIDC_GROUPS_CLAIM"] == "groups"
    login = one(default_docs, "ExternalSecret", "keycloak-setup-client")
    assert login["metadata"]["namespace"] == "mlflow"
    assert [(d["secretKey"], d["remoteRef"]) for d in login["spec"]["data"]] == [
        ("client-secret", {"key": "keycloak/setup-client", "property": "client_secret"})
    ]
    assert not find(default_docs, "ExternalSecret", "keycloak-credentials"), "no master admin in the namespace"


def test_the_master_admin_login_is_an_explicit_opt_in(tmp_path):
    (tmp_path / "dev.yaml").write_text("keycloak:\n  setupLogin: masterAdmin\n")
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    env = job_env(docs, "keycloak-setup")
    assert (env["KEYCLOAK_ADMIN_REALM"], env["KEYCLOAK_ADMIN_CLIENT_ID"]) == ("master", "admin-cli")
    assert secret_ref(env["KEYCLOAK_ADMIN_USER"]) == ("keycloak-credentials", "admin-user")
    assert secret_ref(env["KEYCLOAK_ADMIN_PASSWORD"]) == ("keycloak-credentials", "password")
    assert "KEYCLOAK_ADMIN_CLIENT_SECRET" not in env
    admin = one(docs, "ExternalSecret", "keycloak-credentials")
    assert {(d["secretKey"], d["remoteRef"]["key"]) for d in admin["spec"]["data"]} == {
        ("admin-user", "keycloak/admin"),
        ("password", "keycloak/admin"),
    }
    assert not find(docs, "ExternalSecret", "keycloak-setup-client")


def test_client_id_and_groups_claim_come_from_the_config(tmp_path):
    """oidc.clientId names the client in Keycloak and in the server (not Vault); oidc.groupsAttribute is the claim
    the server reads and the one the Job's mapper writes, so a login carries the groups where they are looked for."""
    (tmp_path / "dev.yaml").write_text(
        "instances:\n  - name: mlflow\n    oidc: {clientId: ml-platform, groupsAttribute: team_groups}\n"
    )
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    job = job_env(docs, "keycloak-setup")
    server = {**one(docs, "ConfigMap", "mlflow-env")["data"]}
    assert (job["OIDC_CLIENT_ID"], server["OIDC_CLIENT_ID"]) == ("ml-platform", "ml-platform")
    assert (job["OIDC_GROUPS_CLAIM"], server["OIDC_GROUPS_ATTRIBUTE"]) == ("team_groups", "team_groups")
    oidc = one(docs, "ExternalSecret", "mlflow-oidc-config")
    assert [d["remoteRef"]["property"] for d in oidc["spec"]["data"]] == ["client_secret", "password"]
    assert "OIDC_CLIENT_ID" not in oidc["spec"]["target"]["template"]["data"]


def test_minio_job_gives_the_server_a_dedicated_user(default_docs):
    env = job_env(default_docs, "minio-setup")
    assert env["MINIO_URL"] == "http://minio.minio.svc.cluster.local:9000"
    assert env["BUCKET"] == "mlflow"
    assert env["POLICY_NAME"] == "mlflow-readwrite"
    assert env["BUCKET_VERSIONING"] == "false"
    assert secret_ref(env["MINIO_ROOT_USER"]) == ("minio-setup-credentials", "accesskey")
    assert secret_ref(env["MINIO_ROOT_PASSWORD"]) == ("minio-setup-credentials", "secretkey")
    login = one(default_docs, "ExternalSecret", "minio-setup-credentials")
    assert {(d["secretKey"], d["remoteRef"]["key"], d["remoteRef"]["property"]) for d in login["spec"]["data"]} == {
        ("accesskey", "mlflow/minio-setup", "username"),
        ("secretkey", "mlflow/minio-setup", "password"),
    }, "the instance's own setup user, under the instance's Vault path"
    assert not find(default_docs, "ExternalSecret", "minio-root-credentials"), "no MinIO root in the namespace"
    deployment = one(default_docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    server = {v["name"]: v.get("valueFrom") for v in deployment["env"]}
    assert env["MLFLOW_ACCESS_KEY"] == server["AWS_ACCESS_KEY_ID"]
    assert env["MLFLOW_SECRET_KEY"] == server["AWS_SECRET_ACCESS_KEY"]
    assert secret_ref(env["MLFLOW_ACCESS_KEY"])[0] != "minio-setup-credentials"


def test_the_minio_root_login_is_an_explicit_opt_in(tmp_path):
    (tmp_path / "dev.yaml").write_text("s3:\n  setupLogin: root\n")
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    env = job_env(docs, "minio-setup")
    assert secret_ref(env["MINIO_ROOT_USER"]) == ("minio-root-credentials", "rootUser")
    root = one(docs, "ExternalSecret", "minio-root-credentials")
    assert {d["remoteRef"]["key"] for d in root["spec"]["data"]} == {"minio/admin"}
    assert not find(docs, "ExternalSecret", "minio-setup-credentials")


def test_admin_credentials_only_through_secret_references(default_docs):
    for component in ("keycloak-setup", "minio-setup"):
        for name, value in job_env(default_docs, component).items():
            if any(word in name for word in ("PASSWORD", "SECRET", "_USER", "ACCESS_KEY")):
                assert isinstance(value, dict) and "secretKeyRef" in value, name


def test_switches_turn_each_job_off(tmp_path):
    (tmp_path / "dev.yaml").write_text("bootstrap:\n  keycloak: {enabled: false}\n")
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    assert [j["metadata"]["labels"]["app.kubernetes.io/component"] for j in find(docs, "Job")] == [
        "db-migration",
        "db-role",
        "minio-setup",
    ]
    assert not find(docs, "ExternalSecret", "keycloak-setup-client")
    assert set(one(docs, "ConfigMap", "mlflow-bootstrap")["data"]) == {
        "migrate_db.py",
        "wait_for_postgres.py",
        "minio_setup.py",
        "jobkit.py",
    }
    assert set(one(docs, "ConfigMap", "mlflow-db-role")["data"]) == {"postgres_setup.py", "jobkit.py"}
    (tmp_path / "dev.yaml").write_text("bootstrap:\n  keycloak: {enabled: false}\n  minio: {enabled: false}\n")
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    assert len(find(docs, "Job")) == 2, "the migration and the db-role Job stay"
    assert set(one(docs, "ConfigMap", "mlflow-bootstrap")["data"]) == {"migrate_db.py", "wait_for_postgres.py"}
    assert set(one(docs, "ConfigMap", "mlflow-db-role")["data"]) == {"postgres_setup.py", "jobkit.py"}
    assert not find(docs, "ExternalSecret", "minio-setup-credentials")


def test_existing_admin_secret_renders_no_external_secret(tmp_path):
    (tmp_path / "dev.yaml").write_text(
        "keycloak:\n  setupLogin: masterAdmin\n"
        "  admin: {secretName: kc-admin, userKey: user, passwordKey: pass, vaultPath: null}\n"
    )
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    assert not find(docs, "ExternalSecret", "kc-admin")
    assert not find(docs, "ExternalSecret", "keycloak-credentials")
    env = job_env(docs, "keycloak-setup")
    assert secret_ref(env["KEYCLOAK_ADMIN_PASSWORD"]) == ("kc-admin", "pass")
    (tmp_path / "dev.yaml").write_text("keycloak:\n  serviceAccount: {vaultPath: null, secretName: kc-setup}\n")
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    assert not find(docs, "ExternalSecret", "kc-setup")
    assert secret_ref(job_env(docs, "keycloak-setup")["KEYCLOAK_ADMIN_CLIENT_SECRET"]) == ("kc-setup", "client-secret")


def test_versioning_and_pkce_switches(tmp_path):
    (tmp_path / "dev.yaml").write_text(
        "bootstrap:\n  minio: {versioning: true}\ninstances:\n  - {name: mlflow, oidc: {pkce: false}}\n"
    )
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    assert job_env(docs, "minio-setup")["BUCKET_VERSIONING"] == "true"
    # oidc.pkce: true is refused by validate (the plugin sends no PKCE; tests/badinput/cases.py)
    assert job_env(docs, "keycloak-setup")["OIDC_PKCE"] == "false"


def names_of(docs: Docs) -> dict[str, str]:
    return {j["metadata"]["labels"]["app.kubernetes.io/component"]: j["metadata"]["name"] for j in find(docs, "Job")}


def test_job_names_change_exactly_when_their_content_does(default_docs):
    before = names_of(default_docs)
    assert names_of(render_docs()) == before, "an unchanged render leaves the Jobs alone"
    realm = names_of(render_docs({"KEYCLOAK_REALM": "other"}))
    assert realm["keycloak-setup"] != before["keycloak-setup"]
    assert realm["minio-setup"] == before["minio-setup"]
    minio = names_of(render_docs({"MINIO_NAMESPACE": "objects"}))
    assert minio["minio-setup"] != before["minio-setup"]
    assert minio["keycloak-setup"] == before["keycloak-setup"]


def edit_script(monkeypatch, edited_name: str) -> None:
    original = scripts.script_source

    def edited(name: str) -> str:
        text = original(name)
        return text + "\n# edited\n" if name == edited_name else text

    monkeypatch.setattr(scripts, "script_source", edited)


def test_job_name_changes_when_its_script_changes(default_docs, monkeypatch):
    before = names_of(default_docs)
    edit_script(monkeypatch, "keycloak_setup.py")
    after = names_of(render_docs())
    assert after["keycloak-setup"] != before["keycloak-setup"]
    assert after["minio-setup"] == before["minio-setup"]
    assert after["db-migration"] == before["db-migration"]


def test_the_setup_jobs_ship_and_hash_their_shared_helper(default_docs, monkeypatch):
    bootstrap_scripts = one(default_docs, "ConfigMap", "mlflow-bootstrap")["data"]
    assert bootstrap_scripts["jobkit.py"] == scripts.script_source("jobkit.py")
    assert "jobkit.py" not in one(default_docs, "ConfigMap", "mlflow-scripts")["data"]
    before = names_of(default_docs)
    edit_script(monkeypatch, "jobkit.py")
    after = names_of(render_docs())
    for setup in ("keycloak-setup", "minio-setup", "db-role"):
        assert after[setup] != before[setup], setup
    assert after["db-migration"] == before["db-migration"]


def test_bootstrap_scripts_do_not_roll_the_server(default_docs):
    deployment = one(default_docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["scripts"]["configMap"]["name"] == "mlflow-scripts"
    assert "keycloak_setup.py" not in one(default_docs, "ConfigMap", "mlflow-scripts")["data"]


def test_scripts_exist_in_the_package():
    here = Path(bootstrap.__file__).resolve().parents[1] / "scripts"
    assert (here / "keycloak_setup.py").is_file() and (here / "minio_setup.py").is_file()


def test_s3_region_is_what_the_server_and_the_minio_job_sign_for(tmp_path, default_docs):
    # A MinIO with a site region refuses requests signed for us-east-1 (seen against the real server).
    (tmp_path / "dev.yaml").write_text("s3:\n  region: eu-west-1\n")
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    assert job_env(docs, "minio-setup")["MINIO_REGION"] == "eu-west-1"
    [server_env] = [d for d in find(docs, "ConfigMap") if "MLFLOW_S3_ENDPOINT_URL" in d.get("data", {})]
    assert server_env["data"]["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert "MINIO_REGION" not in job_env(default_docs, "minio-setup")
    [default_env] = [d for d in find(default_docs, "ConfigMap") if "MLFLOW_S3_ENDPOINT_URL" in d.get("data", {})]
    assert "AWS_DEFAULT_REGION" not in default_env["data"]


def test_a_new_secret_generation_runs_every_setup_job_again_and_reloader_rolls_the_pods(default_docs):
    """vault.rotation: the values now in Vault reach PostgreSQL, MinIO (MLFLOW_ROTATE_SECRET: MinIO cannot show a
    secret to compare) and Keycloak; vault.reloadPods: Stakater Reloader rolls the Deployments on a Secret change."""

    def jobs(docs: list[dict[str, Any]]) -> dict[str, str]:
        return {
            j["metadata"]["labels"]["app.kubernetes.io/component"]: j["metadata"]["name"] for j in find(docs, "Job")
        }

    rotated = render_text("vault:\n  rotation: '2026-12'\n  reloadPods: true\n")
    before, after = jobs(default_docs), jobs(rotated)
    assert set(before) == set(after)
    for component in ("db-role", "keycloak-setup", "minio-setup"):
        assert after[component] != before[component], component
        assert job_env(rotated, component)["SECRET_ROTATION"] == "2026-12"
    assert after["db-migration"] == before["db-migration"], "the migration has nothing to rotate"
    assert job_env(rotated, "minio-setup")["MLFLOW_ROTATE_SECRET"] == "true"
    assert "MLFLOW_ROTATE_SECRET" not in job_env(default_docs, "minio-setup")
    assert one(rotated, "Deployment")["metadata"]["annotations"] == {"reloader.stakater.com/auto": "true"}
    assert "annotations" not in one(default_docs, "Deployment")["metadata"]


def test_declared_members_and_upstream_groups_reach_the_keycloak_job(tmp_path):
    """`members` becomes the Job's GROUP_MEMBERS / UPSTREAM_GROUPS (always set: an entry the config drops is
    removed by the next run), and a change to it renames the Job, so the engine runs it again."""
    plain = job(render_docs(), "keycloak-setup")
    assert job_env(render_docs(), "keycloak-setup")["GROUP_MEMBERS"] == '{"mlflow-admins":[],"mlflow-users":[]}'
    (tmp_path / "dev.yaml").write_text(
        "instances:\n  - name: mlflow\n    members:\n      admins: [Alice, bob@acme.io]\n      users: [carol]\n"
        "      exclusive: true\n      upstream:\n        - {identityProvider: corp, claim: groups, "
        "admins: [ml-admins], users: [ml-users, ml-guests]}\n"
    )
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    env = job_env(docs, "keycloak-setup")
    assert json.loads(env["GROUP_MEMBERS"]) == {"mlflow-admins": ["alice", "bob@acme.io"], "mlflow-users": ["carol"]}
    assert json.loads(env["UPSTREAM_GROUPS"]) == [
        {"identityProvider": "corp", "claim": "groups", "value": "ml-admins", "group": "mlflow-admins"},
        {"identityProvider": "corp", "claim": "groups", "value": "ml-users", "group": "mlflow-users"},
        {"identityProvider": "corp", "claim": "groups", "value": "ml-guests", "group": "mlflow-users"},
    ]
    assert env["GROUP_MEMBERS_EXCLUSIVE"] == "true"
    assert "CREATE_MISSING_USERS" not in env
    assert job(docs, "keycloak-setup")["metadata"]["name"] != plain["metadata"]["name"]
