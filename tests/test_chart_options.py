"""What the old chart let users set: placement and metadata of every pod (instances[].pods) and the server's own
options (instances[].server). The render stays valid against the API's schemas and Pod Security restricted."""

from __future__ import annotations

from typing import Any

from mlflow_gitops.crds import default_crd_dir
from mlflow_gitops.names import render_owns_env
from tests.conftest import Docs, find, one, render_text
from tests.pod_security import restricted_violations
from tests.validation import SchemaValidator

OPTIONS = """instances:
  - name: mlflow
    replicas: 2
    sessions: {store: redis}
    pods:
      nodeSelector: {node-role.kubernetes.io/ml: "true"}
      tolerations: [{key: dedicated, operator: Equal, value: ml, effect: NoSchedule}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}]
      priorityClassName: ml-platform
      imagePullSecrets: [registry-acme]
      labels: {team: research}
      annotations: {cost-center: "4711"}
    server:
      logLevel: DEBUG
      automaticLoginRedirect: true
      staticPrefix: /mlflow
      extraEnv: {MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD: "true"}
      serviceAnnotations: {example.com/scrape: "no"}
      serviceLabels: {team: research}
      extraEnvFrom: [{configMap: team-settings}, {secret: team-tokens}]
      ingressAnnotations: {example.com/owner: research}
      proxyFix: {xFor: 2, xPrefix: 0}
      sidecars:
        - name: log-shipper
          image: registry.acme.io/vector:0.43
          args: [--config, /etc/vector/vector.yaml]
          env: {VECTOR_LOG: info}
          ports: [{name: vector-api, containerPort: 8686}]
          volumeMounts: [{name: vector-config, mountPath: /etc/vector, readOnly: true}]
      initContainers:
        - name: warm-cache
          image: registry.acme.io/busybox:1.37
          command: [sh, -c, "echo warm"]
          resources: {limits: {memory: 64Mi}}
      extraVolumes:
        - {name: vector-config, configMap: {name: vector}}
        - {name: models, emptyDir: {sizeLimit: 2Gi}}
      extraVolumeMounts: [{name: models, mountPath: /models}]
"""


def pods(docs: Docs) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(template metadata, pod spec) of every Deployment and Job."""
    return [
        (d["spec"]["template"]["metadata"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    ]


def test_every_pod_gets_the_placement_and_metadata() -> None:
    docs = render_text(OPTIONS)
    found = pods(docs)
    assert len(found) == 6  # server, Redis, 4 Jobs
    for meta, spec in found:
        assert spec["nodeSelector"] == {"node-role.kubernetes.io/ml": "true"}
        assert spec["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
        assert "nodeAffinity" in spec["affinity"] and spec["priorityClassName"] == "ml-platform"
        assert spec["imagePullSecrets"] == [{"name": "registry-acme"}]
        assert meta["labels"]["team"] == "research" and meta["labels"]["app.kubernetes.io/instance"] == "mlflow"
        assert meta["annotations"]["cost-center"] == "4711"
        assert restricted_violations(spec) == []
    assert SchemaValidator(default_crd_dir()).validate_all(docs) == {}


def test_the_servers_own_options() -> None:
    docs = render_text(OPTIONS)
    env = one(docs, "ConfigMap", "mlflow-env")["data"]
    assert (env["LOG_LEVEL"], env["MLFLOW_LOGGING_LEVEL"]) == ("DEBUG", "DEBUG")
    assert env["AUTOMATIC_LOGIN_REDIRECT"] == "true"
    assert env["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] == "true"
    assert (env["PROXY_FIX_X_FOR"], env["PROXY_FIX_X_PREFIX"]) == ("2", "0") and "PROXY_FIX_X_HOST" not in env
    server = next(
        c for c in one(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow"
    )
    assert "--static-prefix=/mlflow" in server["args"]
    assert one(docs, "Service", "mlflow")["metadata"]["annotations"] == {"example.com/scrape": "no"}
    assert one(docs, "Service", "mlflow")["metadata"]["labels"]["team"] == "research"
    assert server["envFrom"][1:] == [
        {"configMapRef": {"name": "team-settings"}},
        {"secretRef": {"name": "team-tokens"}},
    ]
    assert one(docs, "IngressRoute")["metadata"]["annotations"] == {"example.com/owner": "research"}


def test_defaults_add_nothing(default_docs: Docs) -> None:
    for _, spec in pods(default_docs):
        assert not {"nodeSelector", "tolerations", "affinity", "priorityClassName", "imagePullSecrets"} & set(spec)
    assert "annotations" not in one(default_docs, "Service")["metadata"]
    assert one(default_docs, "ConfigMap", "mlflow-env")["data"]["LOG_LEVEL"] == "INFO"


def test_every_variable_the_render_sets_is_one_extra_env_may_not_override() -> None:
    for text in ("{}\n", OPTIONS, "postgres:\n  sslMode: verify-full\n  ca: {}\ns3:\n  region: eu-1\n"):
        docs = render_text(text)
        deployment = one(docs, "Deployment", "mlflow")
        container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow")
        rendered = {*one(docs, "ConfigMap", "mlflow-env")["data"], *(e["name"] for e in container["env"])}
        extra = {"MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"} if text == OPTIONS else set()
        assert {name for name in rendered - extra if not render_owns_env(name)} == set()
    assert not find(render_text("{}\n"), "Secret")


def test_sidecars_init_containers_and_volumes_are_restricted_like_the_rest() -> None:
    docs = render_text(OPTIONS)
    spec = one(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["wait-for-postgres", "warm-cache"]
    assert [c["name"] for c in spec["containers"]] == ["mlflow", "metrics", "log-shipper"]
    shipper = spec["containers"][2]
    assert shipper["securityContext"]["readOnlyRootFilesystem"] is True
    assert shipper["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert shipper["resources"]["limits"] == {"cpu": "200m", "memory": "256Mi"}
    assert spec["initContainers"][1]["resources"]["limits"]["memory"] == "64Mi"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["vector-config"] == {"name": "vector-config", "configMap": {"name": "vector"}}
    assert volumes["models"]["emptyDir"] == {"sizeLimit": "2Gi"}
    mlflow = spec["containers"][0]
    assert {"name": "models", "mountPath": "/models"} in mlflow["volumeMounts"]
    assert restricted_violations(spec) == []
