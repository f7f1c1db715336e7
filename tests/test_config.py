"""Config: defaults, files, environment variables, and every class of bad input (exit 2, clear message,
output folder untouched)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlflow_gitops.config import DEFAULT_ENVIRONMENT, ConfigError, load_environments
from tests.conftest import EXAMPLES, NO_CONFIG


def load_one(text: str | None, environ: dict[str, str] | None = None, tmp: Path | None = None):
    if text is None:
        return load_environments(None, NO_CONFIG, environ or {})[0]
    assert tmp is not None
    (tmp / "dev.yaml").write_text(text)
    return load_environments(["dev"], tmp, environ or {})[0]


def test_built_in_default_reproduces_the_old_module():
    env = load_one(None)
    assert env.name == DEFAULT_ENVIRONMENT
    assert env.image.ref == "localhost:30500/mlflow:3.6.0-oidc"
    assert env.image.pull_policy == "IfNotPresent"
    assert (env.keycloak.host, env.keycloak.realm) == ("auth.example.com", "buunstack")
    assert env.postgres.host == "postgres-cluster-rw.postgres.svc.cluster.local"
    assert env.s3.endpoint == "http://minio.minio.svc.cluster.local:9000"
    assert env.vault.store == "vault-secret-store"
    [inst] = env.instances
    assert (inst.name, inst.namespace, inst.host) == ("mlflow", "mlflow", "mlflow.example.com")
    assert (inst.database.role, inst.database.name, inst.database.auth_name) == ("mlflow", "mlflow", "mlflow_auth")
    assert (inst.oidc.client_id, inst.oidc.admin_group, inst.oidc.user_group) == (
        "mlflow",
        "mlflow-admins",
        "mlflow-users",
    )
    assert inst.bucket == "mlflow"


def test_instance_names_derive_from_the_instance_name(tmp_path):
    env = load_one("instances:\n  - name: data-team\n", tmp=tmp_path)
    [inst] = env.instances
    assert inst.namespace == "data-team"
    assert inst.host == "data-team.example.com"
    assert inst.database.role == "data_team"
    assert inst.database.auth_name == "data_team_auth"
    assert inst.oidc.admin_group == "data-team-admins"
    assert inst.bucket == "data-team"


def test_file_overrides_defaults_and_keeps_the_rest(tmp_path):
    env = load_one("keycloak:\n  realm: acme\n", tmp=tmp_path)
    assert env.keycloak.realm == "acme"
    assert env.keycloak.host == "auth.example.com"


def test_environment_variables_override_the_file(tmp_path):
    environ = {
        "MLFLOW_NAMESPACE": "ml",
        "MLFLOW_HOST": "ml.acme.io",
        "MLFLOW_IMAGE_TAG": "9.9",
        "IMAGE_REGISTRY": "r.io",
        "MLFLOW_IMAGE_PULL_POLICY": "Always",
        "KEYCLOAK_HOST": "sso.acme.io",
        "KEYCLOAK_REALM": "acme",
        "POSTGRES_NAMESPACE": "db",
        "MINIO_NAMESPACE": "objects",
        "PROMETHEUS_NAMESPACE": "prom",
        "MONITORING_ENABLED": "false",
    }
    env = load_one("keycloak:\n  realm: from-file\n", environ, tmp=tmp_path)
    assert env.instances[0].namespace == "ml"
    assert env.instances[0].host == "ml.acme.io"
    assert env.image.ref == "r.io/mlflow:9.9"
    assert env.image.pull_policy == "Always"
    assert (env.keycloak.host, env.keycloak.realm) == ("sso.acme.io", "acme")
    assert env.postgres.host == "postgres-cluster-rw.db.svc.cluster.local"
    assert env.s3.endpoint == "http://minio.objects.svc.cluster.local:9000"
    assert env.monitoring.prometheus_namespace == "prom"
    assert env.monitoring.enabled is False


def test_all_environments_of_a_folder_load_in_name_order(tmp_path):
    (tmp_path / "prod.yaml").write_text("{}\n")
    (tmp_path / "dev.yml").write_text("{}\n")
    assert [e.name for e in load_environments(None, tmp_path, {})] == ["dev", "prod"]
    assert [e.name for e in load_environments(["default"], tmp_path, {})] == ["default"]


def test_example_environment_is_valid():
    [env] = load_environments(["staging"], EXAMPLES, {})
    assert [i.name for i in env.instances] == ["vision", "nlp-team"]


def problems_of(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_one(text, environ, tmp=tmp_path)
    return [str(p) for p in caught.value.problems]


BAD_INPUT = {
    "unknown key": (
        "keycloak:\n  realmm: x\n",
        {},
        [
            "dev.yaml: keycloak.realmm: 'realmm': unknown key",
            "allowed keys here: admin, adminClientId, adminRealm, displayName, host, realm, serviceAccount, "
            "setupLogin, url",
        ],
    ),
    "wrong type": (
        "instances:\n  - name: a\n    replicas: two\n",
        {},
        ["dev.yaml: instances[0].replicas: 'two': wrong type str; expected integer"],
    ),
    "host not a DNS name": (
        "instances:\n  - name: a\n    host: 'Not A Host!'\n",
        {},
        ["dev.yaml: instances[0].host: 'Not A Host!': must be a lower-case DNS name"],
    ),
    "invalid Kubernetes name": (
        "instances:\n  - name: MLflow_1\n",
        {},
        ["dev.yaml: instances[0].name: 'MLflow_1': must be an RFC 1123 label"],
    ),
    "duplicate instance names": (
        "instances:\n  - name: a\n  - name: a\n",
        {},
        ["dev.yaml: instances[1].name: 'a': instance name already used by instances[0]"],
    ),
    "duplicate host": (
        "instances:\n  - {name: a, host: x.io}\n  - {name: b, host: x.io}\n",
        {},
        ["dev.yaml: instances[1].host: 'x.io': host already used by instances[0]"],
    ),
    "duplicate YAML key": (
        "keycloak:\n  realm: a\n  realm: b\n",
        {},
        ["dev.yaml: line 3, column 3: malformed YAML: duplicate key 'realm'"],
    ),
    "contradicting TLS settings": (
        "ingress:\n  tls: {secretName: a, certResolver: b}\n",
        {},
        ["dev.yaml: ingress.tls: secretName and certResolver contradict each other"],
    ),
    "replicas with pod-local sessions": (
        "instances:\n  - {name: a, replicas: 2}\n",
        {},
        ["dev.yaml: instances[0].replicas: 2: more than one replica needs sessions.store: redis"],
    ),
    "autoscaling with pod-local sessions": (
        "instances:\n  - {name: a, autoscaling: {enabled: true}}\n",
        {},
        [
            "dev.yaml: instances[0].autoscaling.enabled: True: autoscaling runs "
            "several replicas: it needs sessions.store: redis"
        ],
    ),
    "Redis both rendered and existing": (
        "instances:\n  - {name: a, sessions: {store: redis, redis: {host: redis.acme.io}}}\n",
        {},
        ["dev.yaml: instances[0].sessions.redis: deploy and host contradict each other"],
    ),
    "malformed YAML": ("keycloak: [unclosed\n", {}, ["dev.yaml: line 2, column 1: malformed YAML"]),
    "not a mapping": ("- a\n- b\n", {}, ["dev.yaml: 'list': the file must hold a mapping of keys"]),
    "admin Secret collides with an instance Secret": (
        "keycloak:\n  admin: {secretName: mlflow-db-secret}\n",
        {},
        ["dev.yaml: keycloak.admin.secretName: 'mlflow-db-secret': collides with a Secret of instances[0]"],
    ),
    "admin Secrets collide with each other": (
        "s3:\n  admin: {secretName: keycloak-credentials}\n",
        {},
        ["dev.yaml: s3.admin.secretName: 'keycloak-credentials': the same Secret as keycloak.admin.secretName"],
    ),
    "public URL on another host": (
        "instances:\n  - {name: a, host: a.io, url: 'https://b.io'}\n",
        {},
        ["dev.yaml: instances[0].url: 'https://b.io': its host must be the instance host 'a.io'"],
    ),
    "bad enum": (
        "image:\n  pullPolicy: Sometimes\n",
        {},
        ["dev.yaml: image.pullPolicy: 'Sometimes': allowed values: Always, IfNotPresent, Never"],
    ),
    "bad variable value": (
        "{}\n",
        {"MLFLOW_HOST": "bad_host"},
        ["environment variable MLFLOW_HOST: instances[0].host: 'bad_host': must be a lower-case DNS name"],
    ),
    "bad boolean variable": (
        "{}\n",
        {"MONITORING_ENABLED": "maybe"},
        ["environment variable MONITORING_ENABLED: monitoring.enabled: 'maybe': expected true or false"],
    ),
    "single-instance variable with two instances": (
        "instances:\n  - {name: a}\n  - {name: b}\n",
        {"MLFLOW_HOST": "x.io"},
        ["environment variable MLFLOW_HOST: instances: applies only to an environment with exactly one instance"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_names_file_key_value_and_what_is_allowed(case, tmp_path):
    text, environ, expected = BAD_INPUT[case]
    found = "\n".join(problems_of(text, tmp_path, environ))
    for fragment in expected:
        assert fragment in found, f"{fragment!r} not in:\n{found}"


def test_every_problem_is_reported_at_once(tmp_path):
    found = problems_of("keycloak:\n  realmm: x\nimage:\n  tag: 'bad tag'\n", tmp_path)
    assert len(found) == 2


def test_unknown_environment_lists_the_available_ones(tmp_path):
    (tmp_path / "prod.yaml").write_text("{}\n")
    with pytest.raises(ConfigError) as caught:
        load_environments(["stagin"], tmp_path, {})
    assert "'stagin': no such environment" in str(caught.value)
    assert "available: default, prod" in str(caught.value)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", ["unknown key", "malformed YAML", "bad variable value", "duplicate instance names"])
def test_cli_exits_2_and_leaves_the_output_untouched(case, tmp_path, run_cli):
    text, environ, expected = BAD_INPUT[case]
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text(text)
    out = tmp_path / "out"
    (out / "dev").mkdir(parents=True)
    (out / "dev" / "old.yaml").write_text("kept: true\n")
    before = tree_digest(out)
    result = run_cli("synth", "--config-dir", str(config), "--out", str(out), env=environ)
    assert result.returncode == 2, result.stderr
    assert expected[0].replace("dev.yaml", "environments/dev.yaml") in result.stderr
    assert result.stdout == ""
    assert tree_digest(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["dev"]


def test_validate_command(tmp_path, run_cli):
    ok = run_cli("validate", "--config-dir", str(EXAMPLES))
    assert ok.returncode == 0
    assert "staging: ok" in ok.stdout
    bad = run_cli("validate", "--env", "nope")
    assert bad.returncode == 2
    assert "--env: 'nope': no such environment" in bad.stderr


def test_help_documents_both_commands(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    assert "synth" in result.stdout and "validate" in result.stdout
    synth_help = run_cli("synth", "--help").stdout
    for option in ("--env", "--config-dir", "--out"):
        assert option in synth_help
    assert "MLFLOW_HOST" in synth_help
