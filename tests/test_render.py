"""What the default environment renders, and how overrides and changes flow into it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import FULL_CLUSTER, Docs, find, one, render_docs, render_text

APP_NAMESPACE_KINDS = {
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "Deployment",
    "Job",
    "IngressRoute",
    "Middleware",
    "ServiceMonitor",
}


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def env_map(container: dict[str, Any], config_maps: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The container's environment as Kubernetes assembles it: envFrom first, then env (later wins)."""
    out: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        out.update(config_maps[source["configMapRef"]["name"]])
    for var in container.get("env", []):
        out[var["name"]] = var.get("value", var.get("valueFrom"))
    return out


def server_container(docs: Docs) -> dict[str, Any]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "mlflow")


def server_env(docs: Docs) -> dict[str, Any]:
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in find(docs, "ConfigMap")}
    return env_map(server_container(docs), config_maps)


def arg(docs: Docs, flag: str) -> str:
    [value] = [a.split("=", 1)[1] for a in server_container(docs)["args"] if a.startswith(f"{flag}=")]
    return value


def kind_counts(docs: Docs) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for doc in docs:
        kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
    return kinds


def test_default_objects_per_kind(default_docs):
    """The old module's platform: CloudNativePG 1.27 (no DatabaseRole: the db-role Job), no Prometheus Operator."""
    assert kind_counts(default_docs) == {
        "Namespace": 1,
        "ServiceAccount": 3,
        "ConfigMap": 4,
        "Service": 1,
        "Deployment": 1,
        "Job": 4,
        "Kustomization": 4,
        "ExternalSecret": 8,
        "Database": 2,
        "IngressRoute": 1,
        "Middleware": 2,
        "NetworkPolicy": 6,
        "PodDisruptionBudget": 1,
    }


def test_a_cluster_with_every_optional_api_gets_the_role_object_and_the_service_monitor(full_docs):
    assert kind_counts(full_docs) == {
        "Namespace": 1,
        "ServiceAccount": 2,
        "ConfigMap": 3,
        "Service": 1,
        "Deployment": 1,
        "Job": 3,
        "Kustomization": 4,
        "ExternalSecret": 7,
        "DatabaseRole": 1,
        "Database": 2,
        "IngressRoute": 1,
        "Middleware": 2,
        "ServiceMonitor": 1,
        "NetworkPolicy": 5,
        "PodDisruptionBudget": 1,
    }


def test_namespace_is_restricted_and_monitored_where_prometheus_is(default_docs, full_docs):
    labels = one(default_docs, "Namespace", "mlflow")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "buun.channel/enable-monitoring" not in labels
    assert one(full_docs, "Namespace", "mlflow")["metadata"]["labels"]["buun.channel/enable-monitoring"] == "true"


def test_server_runs_the_old_modules_command(default_docs):
    container = server_container(default_docs)
    assert container["image"] == "localhost:30500/mlflow:3.6.0-oidc"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == ["mlflow"]
    args = container["args"]
    for expected in (
        "server",
        "--host=0.0.0.0",
        "--port=5000",
        "--backend-store-uri=postgresql://",
        "--artifacts-destination=s3://mlflow/",
        "--serve-artifacts",
        "--app-name=oidc-auth-fastapi",
        "--workers=1",
    ):
        assert expected in args
    assert arg(default_docs, "--expose-prometheus").startswith("/")


def test_allowed_hosts_are_exact_and_never_a_wildcard(default_docs):
    hosts = arg(default_docs, "--allowed-hosts").split(",")
    assert hosts[:2] == ["mlflow.example.com", "mlflow.example.com:443"]
    assert "mlflow.mlflow.svc.cluster.local:5000" in hosts
    assert not any("*" in h for h in hosts)
    assert server_env(default_docs)["MLFLOW_SERVER_ALLOWED_HOSTS"] == ",".join(hosts)


def test_server_environment_has_every_value_of_the_old_module(default_docs):
    env = server_env(default_docs)
    expected = {
        "MLFLOW_S3_ENDPOINT_URL": "http://minio.minio.svc.cluster.local:9000",
        "MLFLOW_S3_IGNORE_TLS": "true",
        "OIDC_DISCOVERY_URL": "https://auth.example.com/realms/buunstack/.well-known/openid-configuration",
        "OIDC_REDIRECT_URI": "https://mlflow.example.com/callback",
        "OIDC_SCOPE": "openid profile email groups",
        "OIDC_PROVIDER_DISPLAY_NAME": "Keycloak",
        "OIDC_GROUPS_ATTRIBUTE": "groups",
        "OIDC_ADMIN_GROUP_NAME": "mlflow-admins",
        "OIDC_GROUP_NAME": "mlflow-admins,mlflow-users",
        "DEFAULT_MLFLOW_PERMISSION": "MANAGE",
        "SESSION_TYPE": "cachelib",
        "SESSION_CACHE_DIR": "/tmp/session",
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "https://mlflow.example.com",
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "SAMEORIGIN",
        "PGHOST": "postgres-cluster-rw.postgres.svc.cluster.local",
        "PGPORT": "5432",
        "PGDATABASE": "mlflow",
    }
    assert {k: env[k] for k in expected} == expected
    assert env["OIDC_CLIENT_ID"] == "mlflow", "oidc.clientId, not Vault's"
    for secret_var in (
        "PGUSER",
        "PGPASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "OIDC_CLIENT_SECRET",
        "OIDC_USERS_DB_URI",
        "SECRET_KEY",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
    ):
        assert "secretKeyRef" in env[secret_var], secret_var


def test_every_writable_path_is_an_empty_dir_under_a_read_only_root(default_docs):
    pod = one(default_docs, "Deployment")["spec"]["template"]["spec"]
    env = server_env(default_docs)
    container = server_container(default_docs)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    for path in ("/tmp", env["SESSION_CACHE_DIR"], env["CACHE_DIR"], arg(default_docs, "--expose-prometheus")):
        assert mounts.get(path) in empty_dirs, path
    assert all(c["securityContext"]["readOnlyRootFilesystem"] for c in containers(pod))


def test_probes_and_resources_of_the_old_module_plus_a_startup_probe(default_docs):
    container = server_container(default_docs)
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe] == {
            "httpGet": {"path": "/health", "port": "http"},
            "initialDelaySeconds": 10,
            "periodSeconds": 30,
            "timeoutSeconds": 3,
            "failureThreshold": 5,
        }
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    strategy = one(default_docs, "Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": "100%", "maxUnavailable": 0}


def test_every_container_has_resources(default_docs):
    for doc in find(default_docs, "Deployment") + find(default_docs, "Job"):
        for container in containers(doc["spec"]["template"]["spec"]):
            assert set(container["resources"]) == {"requests", "limits"}, container["name"]


def test_init_container_checks_the_login_not_just_tcp(default_docs):
    pod = one(default_docs, "Deployment")["spec"]["template"]["spec"]
    [init] = pod["initContainers"]
    assert init["command"][-1].endswith("wait_for_postgres.py")
    names = {e["name"] for e in init["env"]}
    assert {"PGUSER", "PGPASSWORD"} <= names
    scripts = one(default_docs, "ConfigMap", "mlflow-scripts")["data"]["wait_for_postgres.py"]
    assert "psycopg2.connect(" in scripts


def test_service_account_mounts_no_token(default_docs):
    for account in find(default_docs, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False
    for doc in find(default_docs, "Deployment") + find(default_docs, "Job"):
        assert doc["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_migration_job_is_safe_under_gitops(default_docs):
    [job] = [j for j in find(default_docs, "Job") if j["metadata"]["name"].startswith("mlflow-db-migration-")]
    # named by a hash of its spec (so a changed spec is a new Job the engine runs again)
    assert re.fullmatch(r"mlflow-db-migration-[0-9a-f]{10}", job["metadata"]["name"]), job["metadata"]["name"]
    assert job["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/force"] == "enabled"
    assert job["spec"]["backoffLimit"] > 0
    assert job["spec"]["activeDeadlineSeconds"] > 0
    assert "ttlSecondsAfterFinished" not in job["spec"]
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"][-1].endswith("migrate_db.py")
    volumes = {v["name"]: v for v in pod["volumes"]}
    script = one(default_docs, "ConfigMap", volumes["scripts"]["configMap"]["name"])["data"]["migrate_db.py"]
    assert "_initialize_tables" in script, "mlflow db upgrade alone fails on an empty database"
    deployment_pod = one(default_docs, "Deployment")["spec"]["template"]["spec"]
    assert all("migrate" not in c["name"] for c in containers(deployment_pod))


def test_database_objects_live_in_the_postgres_namespace(full_docs):
    default_docs = full_docs
    role = one(default_docs, "DatabaseRole")
    assert role["metadata"]["namespace"] == "postgres"
    assert role["spec"]["name"] == "mlflow"
    assert role["spec"]["login"] is True
    assert role["spec"]["databaseRoleReclaimPolicy"] == "retain"
    secret = role["spec"]["passwordSecret"]["name"]
    source = one(default_docs, "ExternalSecret", secret)
    assert source["metadata"]["namespace"] == "postgres"
    template = source["spec"]["target"]["template"]
    assert template["type"] == "kubernetes.io/basic-auth"
    assert template["metadata"]["labels"] == {"cnpg.io/reload": "true"}
    databases = {d["spec"]["name"]: d for d in find(default_docs, "Database")}
    assert set(databases) == {"mlflow", "mlflow_auth"}
    for db in databases.values():
        assert db["metadata"]["namespace"] == "postgres"
        assert db["spec"]["owner"] == "mlflow"
        assert db["spec"]["cluster"] == {"name": "postgres-cluster"}
        assert db["spec"]["databaseReclaimPolicy"] == "retain"


def test_external_secrets_use_the_old_vault_layout(default_docs):
    secrets = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"] for d in find(default_docs, "ExternalSecret")
    }
    for spec in secrets.values():
        assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "vault-secret-store"}
        assert spec["refreshInterval"] == "1h"
        assert spec["target"]["creationPolicy"] == "Owner"
    refs = {
        (ns, name): {(d["secretKey"], d["remoteRef"]["key"], d["remoteRef"]["property"]) for d in spec["data"]}
        for (ns, name), spec in secrets.items()
    }
    assert refs[("mlflow", "mlflow-db-secret")] == {("password", "mlflow/postgres", "password")}
    login = secrets[("mlflow", "mlflow-db-secret")]["target"]["template"]["data"]
    assert login == {"username": "mlflow", "password": "{{ .password }}"}, "the login is the role, not Vault's"
    assert refs[("mlflow", "mlflow-s3-secret")] == {
        ("AWS_ACCESS_KEY_ID", "mlflow/s3", "accesskey"),
        ("AWS_SECRET_ACCESS_KEY", "mlflow/s3", "secretkey"),
    }
    oidc = secrets[("mlflow", "mlflow-oidc-config")]["target"]["template"]["data"]
    assert set(oidc) == {"OIDC_CLIENT_SECRET", "OIDC_USERS_DB_URI"}
    assert "urlquery" in oidc["OIDC_USERS_DB_URI"], "the password must be URL-escaped"
    assert oidc["OIDC_USERS_DB_URI"].startswith("postgresql://mlflow:{{ .password")
    assert oidc["OIDC_USERS_DB_URI"].endswith(
        "@postgres-cluster-rw.postgres.svc.cluster.local:5432/mlflow_auth?sslmode=prefer"
    )


def test_every_secret_reference_is_made_by_an_external_secret(default_docs):
    """A secretKeyRef must name a Secret some ExternalSecret makes, in the same namespace, with that key."""
    made: dict[tuple[str, str], set[str]] = {}
    for es in find(default_docs, "ExternalSecret"):
        spec = es["spec"]
        template = spec["target"].get("template", {}).get("data")
        keys = set(template) if template else {d["secretKey"] for d in spec["data"]}
        made[(es["metadata"]["namespace"], spec["target"]["name"])] = keys
    checked = 0
    for doc in find(default_docs, "Deployment") + find(default_docs, "Job"):
        for container in containers(doc["spec"]["template"]["spec"]):
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in made[(doc["metadata"]["namespace"], ref["name"])], var["name"]
                    checked += 1
    assert checked >= 10
    assert not find(default_docs, "Secret"), "no Secret with data may be rendered"


def test_ingress_route_serves_https_on_the_host(default_docs):
    route = one(default_docs, "IngressRoute")["spec"]
    assert route["entryPoints"] == ["websecure"]
    [rule] = route["routes"]
    assert rule["match"] == "Host(`mlflow.example.com`) && !PathPrefix(`/metrics`)"
    assert rule["services"] == [{"name": "mlflow", "port": "http"}]
    assert route["tls"] == {"secretName": "mlflow-tls"}
    middlewares = {m["metadata"]["name"]: m["spec"]["headers"] for m in find(default_docs, "Middleware")}
    assert {m["name"] for m in rule["middlewares"]} == set(middlewares)
    assert middlewares["mlflow-forwarded-headers"]["customRequestHeaders"] == {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "mlflow.example.com",
        "X-Forwarded-Port": "443",
    }
    security = middlewares["mlflow-security-headers"]
    assert security["stsSeconds"] >= 31536000
    assert security["contentTypeNosniff"] is True
    assert security["customFrameOptionsValue"] == "SAMEORIGIN"


def test_service_monitor_scrapes_a_port_the_service_and_pod_have(full_docs):
    default_docs = full_docs
    monitor = one(default_docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["path"], endpoint["interval"], endpoint["scrapeTimeout"]) == ("/metrics", "30s", "10s")
    service = one(default_docs, "Service")
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    pod = one(default_docs, "Deployment")["spec"]["template"]["spec"]
    pod_ports = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
    assert pod_ports[port["targetPort"]] == port["port"]


def test_service_selects_the_server_pods(default_docs):
    service = one(default_docs, "Service")
    pod_labels = one(default_docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


OVERRIDES = {
    "MLFLOW_NAMESPACE": "ml",
    "MLFLOW_HOST": "ml.acme.io",
    "KEYCLOAK_HOST": "sso.acme.io",
    "KEYCLOAK_REALM": "acme",
    "MLFLOW_IMAGE_TAG": "3.6.0-oidc-7",
    "IMAGE_REGISTRY": "registry.acme.io",
    "MLFLOW_IMAGE_PULL_POLICY": "Always",
    "POSTGRES_NAMESPACE": "db",
    "MINIO_NAMESPACE": "objects",
}


@pytest.fixture(scope="module")
def overridden() -> Docs:
    return render_text(FULL_CLUSTER, OVERRIDES)


def test_host_override_lands_everywhere(overridden):
    env = server_env(overridden)
    assert env["OIDC_REDIRECT_URI"] == "https://ml.acme.io/callback"
    assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == "https://ml.acme.io"
    assert arg(overridden, "--allowed-hosts").split(",")[:2] == ["ml.acme.io", "ml.acme.io:443"]
    assert "mlflow.ml.svc.cluster.local:5000" in arg(overridden, "--allowed-hosts")
    assert one(overridden, "IngressRoute")["spec"]["routes"][0]["match"].startswith("Host(`ml.acme.io`) ")
    forwarded = one(overridden, "Middleware", "mlflow-forwarded-headers")["spec"]["headers"]
    assert forwarded["customRequestHeaders"]["X-Forwarded-Host"] == "ml.acme.io"
    rendered = [d for d in overridden if not d["metadata"]["name"].endswith(("-scripts", "-bootstrap"))]
    assert "mlflow.example.com" not in str(rendered)


def test_keycloak_override_lands_in_the_discovery_url(overridden):
    assert server_env(overridden)["OIDC_DISCOVERY_URL"] == (
        "https://sso.acme.io/realms/acme/.well-known/openid-configuration"
    )


def test_namespace_override_lands_on_every_app_object(overridden):
    assert one(overridden, "Namespace")["metadata"]["name"] == "ml"
    app_objects = [d for d in overridden if d["kind"] in APP_NAMESPACE_KINDS]
    assert len(app_objects) == 14
    assert {d["metadata"]["namespace"] for d in app_objects} == {"ml"}
    assert one(overridden, "ServiceMonitor")["spec"]["namespaceSelector"] == {"matchNames": ["ml"]}
    app_secrets = [d for d in find(overridden, "ExternalSecret") if d["metadata"]["name"] != "mlflow-db-role"]
    assert len(app_secrets) == 6
    assert {d["metadata"]["namespace"] for d in app_secrets} == {"ml"}


def test_image_override_lands_in_every_container(overridden):
    for doc in find(overridden, "Deployment") + find(overridden, "Job"):
        for container in containers(doc["spec"]["template"]["spec"]):
            assert container["image"] == "registry.acme.io/mlflow:3.6.0-oidc-7"
            assert container["imagePullPolicy"] == "Always"


def test_platform_namespace_overrides(overridden):
    for doc in find(overridden, "Database") + find(overridden, "DatabaseRole"):
        assert doc["metadata"]["namespace"] == "db"
    assert one(overridden, "ExternalSecret", "mlflow-db-role")["metadata"]["namespace"] == "db"
    env = server_env(overridden)
    assert env["PGHOST"] == "postgres-cluster-rw.db.svc.cluster.local"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio.objects.svc.cluster.local:9000"


def test_monitoring_can_be_switched_off():
    docs = render_docs({"MONITORING_ENABLED": "false"})
    assert not find(docs, "ServiceMonitor")
    assert "buun.channel/enable-monitoring" not in one(docs, "Namespace")["metadata"]["labels"]


def test_migration_job_name_changes_with_its_content_only(default_docs):
    def migration(docs: Docs) -> str:
        [name] = [j["metadata"]["name"] for j in find(docs, "Job") if "db-migration" in j["metadata"]["name"]]
        return name

    name = migration(default_docs)
    assert migration(render_docs()) == name
    assert migration(render_docs({"MLFLOW_HOST": "other.example.com"})) == name
    assert migration(render_docs({"MLFLOW_IMAGE_TAG": "3.6.1-oidc"})) != name
    assert migration(render_docs({"POSTGRES_NAMESPACE": "pg"})) != name


def test_deployment_rolls_when_its_config_changes(default_docs):
    def checksum(docs: Docs) -> str:
        return one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"][
            "mlflow-gitops.io/config-checksum"
        ]

    assert checksum(render_docs({"KEYCLOAK_REALM": "other"})) != checksum(default_docs)


def test_staging_example_renders_two_isolated_instances(staging_docs):
    namespaces = {d["metadata"]["namespace"] for d in find(staging_docs, "Deployment")}
    assert namespaces == {"vision", "mlflow-nlp"}
    assert not find(staging_docs, "ServiceMonitor")
    routes = {r["metadata"]["namespace"]: r["spec"]["tls"] for r in find(staging_docs, "IngressRoute")}
    assert routes == {"vision": {"certResolver": "letsencrypt"}, "mlflow-nlp": {"certResolver": "letsencrypt"}}
    images = {c["image"] for d in find(staging_docs, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]}
    assert len(images) == 1 and "@sha256:" in images.pop()
    role_jobs = [
        j for j in find(staging_docs, "Job") if j["metadata"]["labels"]["app.kubernetes.io/component"] == "db-role"
    ]
    roles = {
        v["value"]
        for j in role_jobs
        for v in j["spec"]["template"]["spec"]["containers"][0]["env"]
        if v["name"] == "ROLE"
    }
    assert roles == {"vision", "mlflow_nlp"}


def test_public_url_with_a_port_is_allowed_and_used(tmp_path):
    (tmp_path / "dev.yaml").write_text(
        "instances:\n  - {name: mlflow, host: localhost, url: 'http://localhost:8080'}\n"
    )
    docs = render_docs(names=["dev"], config_dir=tmp_path)
    hosts = arg(docs, "--allowed-hosts").split(",")
    assert hosts[:3] == ["localhost", "localhost:443", "localhost:8080"]
    env = server_env(docs)
    assert env["OIDC_REDIRECT_URI"] == "http://localhost:8080/callback"
    assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == "http://localhost:8080"


def test_tmp_holds_multi_gigabyte_artifacts_and_can_be_tmpfs(default_docs):
    """MLflow 3.6 spools each proxied upload and download whole in /tmp: the default holds a model of gigabytes
    (the old 256Mi evicted the only pod for a few hundred MB)."""

    def tmp_volume(docs: Docs) -> dict[str, Any]:
        volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        return next(v["emptyDir"] for v in volumes if v["name"] == "tmp")

    assert tmp_volume(default_docs) == {"sizeLimit": "10Gi"}
    memory = render_text("instances:\n  - name: mlflow\n    tmp: {sizeLimit: 1Gi, medium: memory}\n")
    assert tmp_volume(memory) == {"sizeLimit": "1Gi", "medium": "Memory"}
