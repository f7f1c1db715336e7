"""A shared base under each environment (`extends:`), its precedence shown by validate, and the cross-field
rules the loader enforces present in the JSON Schema, so an editor flags what validate refuses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from mlflow_gitops.config import load_environments
from mlflow_gitops.config.errors import ConfigError

Run = Callable[..., subprocess.CompletedProcess[str]]
SCHEMA = json.loads((Path(__file__).parent.parent / "mlflow_gitops/config/schema.json").read_text())
BASE = "keycloak:\n  host: auth.acme.io\n  realm: acme\nimage:\n  tag: '1.0'\ninstances:\n  - name: alpha\n"


def config(root: Path, files: dict[str, str]) -> Path:
    folder = root / "environments"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_environments_extend_a_shared_base_with_clear_precedence(run_cli: Run, tmp_path: Path) -> None:
    folder = config(
        tmp_path,
        {
            "_base.yaml": BASE,
            "dev.yaml": "extends: _base.yaml\nkeycloak:\n  realm: acme-dev\n",
            "prod.yaml": "extends: [_base.yaml, shared/_prod-cluster.yaml]\ninstances:\n  - name: alpha\n"
            "    replicas: 1\n  - name: beta\n",
            "shared/_prod-cluster.yaml": "extends: ../_base.yaml\nkeycloak:\n  realm: acme-prod\n",
        },
    )
    dev, prod = load_environments(None, folder, {})
    assert [dev.name, prod.name] == ["dev", "prod"], "a _name.yaml file is a base, not an environment"
    assert (dev.keycloak.host, dev.keycloak.realm, dev.image.tag) == ("auth.acme.io", "acme-dev", "1.0")
    assert prod.keycloak.realm == "acme-prod" and [i.name for i in prod.instances] == ["alpha", "beta"]
    [tagged] = load_environments(["dev"], folder, {"MLFLOW_IMAGE_TAG": "2.0"})
    assert tagged.image.tag == "2.0"

    done = run_cli("validate", "--config-dir", str(folder), env={"MLFLOW_IMAGE_TAG": "2.0"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("dev: ok (")
    assert lines[1] == (
        "  precedence, lowest first: built-in defaults < environments/_base.yaml < "
        "environments/dev.yaml < environment variable MLFLOW_IMAGE_TAG"
    )
    assert "  overrides keycloak.realm (environments/dev.yaml over environments/_base.yaml)" in lines
    assert "  overrides image.tag (environment variable MLFLOW_IMAGE_TAG over environments/_base.yaml)" in lines
    # a base that a second base extends too applies once, under it
    assert (
        "  precedence, lowest first: built-in defaults < environments/_base.yaml < "
        "environments/shared/_prod-cluster.yaml < environments/prod.yaml < environment variable "
        "MLFLOW_IMAGE_TAG"
    ) in lines
    assert "  overrides keycloak.realm (environments/shared/_prod-cluster.yaml over environments/_base.yaml)" in lines
    assert "  overrides instances (environments/prod.yaml over environments/_base.yaml)" in lines


def test_a_bad_value_in_a_base_names_the_base(tmp_path: Path) -> None:
    folder = config(tmp_path, {"_base.yaml": "keycloak:\n  host: 7\n", "dev.yaml": "extends: _base.yaml\n"})
    with pytest.raises(ConfigError) as error:
        load_environments(None, folder, {})
    [line] = error.value.lines()
    assert line.endswith("environments/_base.yaml: keycloak.host: 7: wrong type int; expected string"), line


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"dev.yaml": "extends: _missing.yaml\n"}, "dev.yaml: extends: "),
        ({"dev.yaml": "extends: 5\n"}, "extends: 5: must be a file name or a list of file names"),
        ({"dev.yaml": "extends: _a.yaml\n", "_a.yaml": "extends: dev.yaml\n"}, "extends itself through"),
        ({"dev.yaml": "extends: _a.yaml\n", "_a.yaml": "instances: {}\n"}, "_a.yaml: instances: "),
    ],
)
def test_bad_extends_exits_2_naming_the_file(run_cli: Run, tmp_path: Path, files: dict[str, str], message: str) -> None:
    folder = config(tmp_path, files)
    done = run_cli("validate", "--config-dir", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr, done.stderr


CROSS_FIELD = [
    # (file, what validate says): each also fails the schema alone, as an editor checks it
    ("instances:\n  - name: alpha\n    replicas: 2\n", "more than one replica needs sessions.store: redis"),
    ("instances:\n  - name: alpha\n    autoscaling:\n      enabled: true\n", "autoscaling runs several replicas"),
    ("instances:\n  - name: alpha\n    oidc:\n      pkce: true\n", "sends no PKCE code_challenge"),
    (
        "instances:\n  - name: alpha\n    sessions:\n      store: redis\n      redis:\n        deploy: false\n",
        "name the existing Redis with host",
    ),
    (
        "instances:\n  - name: alpha\n    sessions:\n      store: redis\n      redis:\n        host: redis.example\n",
        "deploy and host contradict each other",
    ),
    ("ingress:\n  tls:\n    secretName: x\n    certResolver: le\n", "secretName and certResolver contradict"),
    ("postgres:\n  sslMode: verify-full\n", "none is configured"),
    ("gitops:\n  engine: argocd\n", "Argo CD Applications need the GitOps repository's URL"),
]


@pytest.mark.parametrize(("text", "message"), CROSS_FIELD, ids=[m for _, m in CROSS_FIELD])
def test_cross_field_rules_are_in_the_schema_too(tmp_path: Path, text: str, message: str) -> None:
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(yaml.safe_load(text)))
    assert errors, "an editor using the schema would not flag this"
    folder = config(tmp_path, {"dev.yaml": text})
    with pytest.raises(ConfigError) as refused:
        load_environments(None, folder, {})
    lines = refused.value.lines()
    assert any(message in line for line in lines), lines
    assert sum(message in line for line in lines) == 1, lines
    generic = ("False schema", "is a required property", "was expected", "should not be valid")
    assert not [line for line in lines if any(g in line for g in generic)], (
        "the schema's copy of the rule is for editors: validate reports the rule once, in its own words"
    )
    # and the fixed file passes both
    fixed = {"replicas: 2": "replicas: 2\n    sessions:\n      store: redis"}
    for old, new in fixed.items():
        if old in text:
            good = yaml.safe_load(text.replace(old, new))
            assert not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(good))
