"""The construct library from a user's own cdk8s app (examples/cdk8s-app): the platform from a config checked
as a file is, handles to its parts, intent-level extensions that keep Pod Security "restricted", and objects
of one's own in a unit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cdk8s
import pytest
import yaml

from mlflow_gitops.config import ConfigError
from mlflow_gitops.constructs import MlflowPlatform
from mlflow_gitops.crds import default_crd_dir
from tests.conftest import REPO
from tests.pod_security import pod_specs, restricted_violations
from tests.validation import SchemaValidator

EXAMPLE = REPO / "examples" / "cdk8s-app"
CONFIG = {"instances": [{"name": "vision", "host": "mlflow-vision.acme.io"}]}


def synth_example(out: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "CDK8S_OUTDIR": str(out), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    done = subprocess.run(
        [sys.executable, "main.py"], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [doc for path in sorted(out.glob("*.k8s.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_the_example_app_extends_the_platform(tmp_path: Path) -> None:
    docs = synth_example(tmp_path / "dist")
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    server = next(c for c in spec["containers"] if c["name"] == "mlflow")
    assert {"name": "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "value": "true"} in server["env"]
    assert {"effect": "NoSchedule", "key": "gpu", "operator": "Exists"} in spec["tolerations"]
    assert {"name": "team-ca", "configMap": {"name": "team-ca"}} in spec["volumes"]
    assert {"mountPath": "/etc/team-ca", "name": "team-ca", "readOnly": True} in server["volumeMounts"]
    assert [c["name"] for c in spec["containers"]] == ["mlflow", "metrics", "log-shipper"]
    assert any(d["kind"] == "ConfigMap" and d["metadata"]["name"] == "team-ca" for d in docs)
    for doc in docs:
        for _, pod in pod_specs(doc):
            assert restricted_violations(pod) == [], doc["metadata"]["name"]
    assert SchemaValidator(default_crd_dir()).validate_all(docs) == {}


def test_handles_and_refusals() -> None:
    app = cdk8s.App()
    platform = MlflowPlatform.from_config(app, "vision", config={**CONFIG, "ingress": {"enabled": False}})
    assert platform.ingress is None and platform.redis is None and platform.server.deployment is not None
    assert platform.names.namespace == "vision"
    with pytest.raises(ValueError, match="the render sets this variable itself"):
        platform.server.add_env("PGHOST", "elsewhere")
    platform.server.add_env("TEAM", "vision")
    with pytest.raises(ValueError, match="the render sets this variable itself"):
        platform.server.add_env("TEAM", "again")
    with pytest.raises(ValueError, match="already has a volume of this name"):
        platform.server.add_volume({"name": "tmp", "emptyDir": {}}, "/x")
    with pytest.raises(ValueError, match="already has a container of this name"):
        platform.server.add_sidecar({"name": "metrics", "image": "x.io/y:1"})
    with pytest.raises(ValueError, match="unit 'web'; allowed: platform, bootstrap, app"):
        platform.add_object("web", "x", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    rendered = platform.units["app"].to_json()
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    assert {"name": "TEAM", "value": "vision"} in deployment["spec"]["template"]["spec"]["containers"][0]["env"]


def test_a_bad_config_names_the_key_and_the_construct() -> None:
    app = cdk8s.App()
    with pytest.raises(ConfigError) as bad:
        MlflowPlatform.from_config(app, "vision", config={"instances": [{"name": "vision", "replicas": "two"}]})
    assert bad.value.lines() == [
        "MlflowPlatform 'vision' config: instances[0].replicas: 'two': wrong type str; expected integer"
    ]
    with pytest.raises(ConfigError, match="name one of its instances: alpha, beta"):
        MlflowPlatform.from_config(app, "two", config={"instances": [{"name": "alpha"}, {"name": "beta"}]})
