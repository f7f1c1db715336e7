"""The harness' own emulation is strict: what ESO or the kubelet would refuse fails here too (no processes started)."""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import VAULT
from tests.e2e.pod import Image, Pod, PodError, expand
from tests.e2e.secrets import Secret, SecretError, evaluate_all, evaluate_external_secret, render_template
from tests.e2e.stack import Stack

NO_IMAGE = Image(Path("/nonexistent-venv"))


# ---------------------------------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ .user }}", "mlflow"),
        ("{{.user}}@host", "mlflow@host"),
        # Go: url.QueryEscape("p@ss:w/rd+x y") == "p%40ss%3Aw%2Frd%2Bx+y"
        ("{{ .password | urlquery }}", "p%40ss%3Aw%2Frd%2Bx+y"),
        ('{{ .password | urlquery | replace "+" "%20" }}', "p%40ss%3Aw%2Frd%2Bx%20y"),
        ("{{ .odd | urlquery }}", "a-_.~b%21%2A%27%28%29%3B%26%3D%24%2C%3F%23%5B%5D%25%C3%A9"),
        (
            "postgresql://{{ .user | urlquery }}:{{ .password | urlquery }}@h/db",
            "postgresql://mlflow:p%40ss%3Aw%2Frd%2Bx+y@h/db",
        ),
    ],
)
def test_templates_evaluate_like_go(template: str, expected: str) -> None:
    values = {"user": "mlflow", "password": "p@ss:w/rd+x y", "odd": "a-_.~b!*'();&=$,?#[]%é"}
    assert render_template(template, values) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ .missing }}", "not among"),
        ("{{ .user | upper }}", "not supported"),
        ("{{- .user }}", "not supported"),
        ("{{ if .user }}x{{ end }}", "not supported"),
        ('{{ .user | replace "a" }}', "takes 2"),
        ("{{ $x := .user }}", "not supported"),
        ("{{ .user }", "unbalanced"),
        ('{{ .user | printf "%s" }}', "not supported"),
    ],
)
def test_unsupported_or_wrong_templates_fail_loudly(template: str, message: str) -> None:
    with pytest.raises(SecretError, match=message):
        render_template(template, {"user": "mlflow"})


# -------------------------------------------------------------------------------------------- ExternalSecrets


def external_secret(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {
            "data": [{"secretKey": "username", "remoteRef": {"key": "mlflow/postgres", "property": "username"}}],
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
            **spec,
        },
    }


def test_external_secret_without_template_copies_the_data() -> None:
    secret = evaluate_external_secret(external_secret(target={"name": "t"}), VAULT)
    assert (secret.namespace, secret.name, secret.data, secret.type) == ("ns", "t", {"username": "mlflow"}, "Opaque")


def test_template_replace_keeps_only_the_template_keys() -> None:
    doc = external_secret(
        target={
            "template": {
                "engineVersion": "v2",
                "mergePolicy": "Replace",
                "type": "kubernetes.io/basic-auth",
                "data": {"user": "{{ .username }}"},
            }
        }
    )
    secret = evaluate_external_secret(doc, VAULT)
    assert (secret.data, secret.type) == ({"user": "mlflow"}, "kubernetes.io/basic-auth")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["spec"]["data"][0]["remoteRef"].update(key="mlflow/postgress"), "no secret at"),
        (lambda d: d["spec"]["data"][0]["remoteRef"].update(property="user"), "no property"),
        (lambda d: d["spec"].update(dataFrom=[{"extract": {"key": "mlflow/postgres"}}]), "not supported"),
        (lambda d: d["spec"].update(target={"template": {"data": {"x": "{{ .password }}"}}}), "not among"),
        (lambda d: d["spec"].update(target={"template": {"engineVersion": "v1", "data": {}}}), "engineVersion"),
        (lambda d: d["spec"].update(target={"creationPolicy": "Merge"}), "creationPolicy"),
        (lambda d: d["spec"]["data"][0]["remoteRef"].update(decodingStrategy="Base64"), "decodingStrategy"),
    ],
)
def test_external_secret_mistakes_fail(change: Any, message: str) -> None:
    doc = external_secret()
    change(doc)
    with pytest.raises(SecretError, match=message):
        evaluate_external_secret(doc, VAULT)


# ------------------------------------------------------------------------------------------------ environment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)", "x1y2"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("$A", "$A"),
        ("$", "$"),
        ("a$$b", "a$b"),
        ("$()", "$()"),
    ],
)
def test_expansion_is_kubernetes_expansion(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}.get) == expected


def pod(
    containers: list[dict[str, Any]],
    tmp_path: Path,
    secrets: dict[tuple[str, str], Secret] | None = None,
    configmaps: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> Pod:
    return Pod("p", {"containers": containers}, "ns", tmp_path, NO_IMAGE, configmaps or {}, secrets or {})


def test_env_order_is_envfrom_then_env(tmp_path: Path) -> None:
    secrets = {("ns", "s"): Secret("ns", "s", {"X": "from-secret", "PW": "pw"})}
    configmaps = {("ns", "c"): {"data": {"X": "from-configmap", "Y": "y"}}}
    container = {
        "name": "c",
        "command": ["true"],
        "envFrom": [{"configMapRef": {"name": "c"}}, {"secretRef": {"name": "s"}, "prefix": "S_"}],
        "env": [
            {"name": "Y", "value": "env-$(X)"},
            {"name": "Z", "valueFrom": {"secretKeyRef": {"name": "s", "key": "PW"}}},
            {"name": "W", "value": "$(Z)$$(Z)"},
        ],
    }
    env = pod([container], tmp_path, secrets, configmaps).environment(container)
    assert env == {
        "X": "from-configmap",
        "Y": "env-from-configmap",
        "S_X": "from-secret",
        "S_PW": "pw",
        "Z": "pw",
        "W": "pw$(Z)",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope"}}}], "has no key 'nope'"),
        ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}}], "made by no ExternalSecret"),
        ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "nope"}}}], "has no key"),
        ([{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}], "not emulated"),
    ],
)
def test_references_the_kubelet_would_refuse_fail(env: list[dict[str, Any]], message: str, tmp_path: Path) -> None:
    container = {"name": "c", "command": ["true"], "env": env}
    p = pod([container], tmp_path, {("ns", "s"): Secret("ns", "s", {"k": "v"})}, {("ns", "c"): {"data": {"k": "v"}}})
    with pytest.raises(PodError, match=message):
        p.environment(container)


def test_optional_references_may_be_missing(tmp_path: Path) -> None:
    container = {
        "name": "c",
        "command": ["true"],
        "envFrom": [{"secretRef": {"name": "gone", "optional": True}}],
        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}}],
    }
    assert pod([container], tmp_path).environment(container) == {}


def test_mounts_ports_and_listen_addresses_are_rewritten(tmp_path: Path) -> None:
    spec = {
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "session", "emptyDir": {}},
            {"name": "scripts", "configMap": {"name": "c", "defaultMode": 0o444}},
        ],
        "containers": [
            {
                "name": "c",
                "command": ["sh"],
                "args": ["--port=5000", "--host=0.0.0.0", "/opt/s/run.py", "--dir=/tmp/session/x", "/tmpfoo"],
                "env": [{"name": "HOME", "value": "/tmp"}, {"name": "METRICS_PORT", "value": "9464"}],
                "ports": [{"containerPort": 5000}, {"containerPort": 9464}],
                "volumeMounts": [
                    {"name": "tmp", "mountPath": "/tmp"},
                    {"name": "session", "mountPath": "/tmp/session"},
                    {"name": "scripts", "mountPath": "/opt/s", "readOnly": True},
                ],
            }
        ],
    }
    p = Pod(
        "p",
        spec,
        "ns",
        tmp_path,
        Image(tmp_path / "venv", user=1000),
        {("ns", "c"): {"data": {"run.py": "1"}}},
        {},
        {5000: 15000, 9464: 19464},
        sandbox=False,
    )
    process = p.process(spec["containers"][0])
    volumes = tmp_path / "volumes"
    assert process.argv[1:] == [
        "--port=15000",
        "--host=127.0.0.1",
        f"{volumes}/scripts/run.py",
        f"--dir={volumes}/session/x",
        "/tmpfoo",
    ]
    assert (volumes / "scripts" / "run.py").read_text() == "1"
    assert process.env["HOME"] == str(volumes / "tmp") == process.env["TMPDIR"]
    assert process.env["METRICS_PORT"] == "19464"


def test_a_declared_port_nothing_listens_on_fails(tmp_path: Path) -> None:
    container = {"name": "c", "command": ["sh"], "args": ["--port=8080"], "ports": [{"containerPort": 5000}]}
    p = Pod("p", {"containers": [container]}, "ns", tmp_path, NO_IMAGE, {}, {}, {5000: 15000}, sandbox=False)
    with pytest.raises(PodError, match="would not listen"):
        p.process(container)


def test_a_container_gets_the_pods_file_system_user_and_privileges(tmp_path: Path) -> None:
    """As root (CI): a mount namespace with the volumes at their mount paths, read-only root and read-only mounts,
    the pod's user and no capabilities. Otherwise: the path-rewriting emulation."""
    runtime = Path(tempfile.mkdtemp(prefix="mlflow-e2e-harness-", dir="/var/tmp"))
    runtime.chmod(0o755)
    probe = Path("/var/tmp") / f"e2e-probe-{runtime.name}"  # world-writable on the host's root file system
    script = (
        f"id -u; id -G; echo written > /tmp/f; cat /opt/e2e-scripts/run.txt; grep CapEff /proc/self/status; "
        f"(echo x > {probe}) 2>&1 || true; (echo x > /opt/e2e-scripts/new) 2>&1 || true"
    )
    spec = {
        "securityContext": {"runAsUser": 10001, "runAsGroup": 10002, "fsGroup": 10003, "runAsNonRoot": True},
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "scripts", "configMap": {"name": "c"}}],
        "containers": [
            {
                "name": "c",
                "command": ["sh", "-c", script],
                "securityContext": {
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    {"name": "tmp", "mountPath": "/tmp"},
                    {"name": "scripts", "mountPath": "/opt/e2e-scripts", "readOnly": True},
                ],
            }
        ],
    }
    pod = Pod(
        "p",
        spec,
        "ns",
        runtime / "p",
        Image(Path("/nonexistent-venv")),
        {("ns", "c"): {"data": {"run.txt": "from the configmap"}}},
        {},
        logdir=tmp_path,
    )
    try:
        process = pod.run_to_completion(pod.spec["containers"][0], timeout=30)
        output = process.log.read_text()
        if pod.sandbox:
            assert "\n10001\n10002 10003\n" in output
            assert (runtime / "p" / "volumes" / "tmp" / "f").read_text() == "written\n"
            assert "from the configmap" in output
            assert "CapEff:\t0000000000000000" in output
            assert f"{probe}: Read-only file system" in output
            assert "/opt/e2e-scripts/new: Read-only file system" in output
        else:
            assert process.argv[-1] == script  # a shell script is not rewritten: only the fallback's limits
    finally:
        pod.stop()
        probe.unlink(missing_ok=True)
        shutil.rmtree(runtime, ignore_errors=True)
    assert not Path("/opt/e2e-scripts").exists(), "the host's file system must not change (overlay mount point)"


def test_an_empty_dir_holds_at_most_its_size_limit(tmp_path: Path) -> None:
    """What the kubelet does to a pod whose emptyDir outgrows sizeLimit (eviction) shows here as a failed write:
    2 MiB into a 1Mi /tmp fails, 512 KiB fits (so a 256Mi /tmp cannot spool a 300 MiB artifact)."""
    runtime = Path(tempfile.mkdtemp(prefix="mlflow-e2e-harness-", dir="/var/tmp"))
    runtime.chmod(0o755)
    spec = {
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Mi"}}],
        "containers": [
            {
                "name": "c",
                "command": ["sh", "-c", "head -c $BYTES /dev/zero > /tmp/spool"],
                "securityContext": {"runAsUser": 10001},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
    }
    pod = Pod("p", spec, "ns", runtime / "p", Image(Path("/nonexistent-venv")), {}, {}, logdir=tmp_path)
    try:
        assert pod.sandbox, "CI runs as root: the sandbox (and the size limit) must be there"
        container = pod.spec["containers"][0]
        pod.run_to_completion(container, timeout=30, extra_env={"BYTES": str(512 * 1024)})
        with pytest.raises(PodError, match="exited with 1"):
            pod.run_to_completion(container, timeout=30, extra_env={"BYTES": str(2 * 1024 * 1024)})
    finally:
        pod.stop()
        shutil.rmtree(runtime, ignore_errors=True)


def test_the_image_stays_visible_under_a_volume_mounted_over_its_parent() -> None:
    """A checkout under /tmp: the pod's /tmp volume must not hide the e2e venv (console scripts name its path)."""
    checkout = Path(tempfile.mkdtemp(prefix="mlflow-e2e-checkout-", dir="/tmp"))
    runtime = Path(tempfile.mkdtemp(prefix="mlflow-e2e-harness-", dir="/var/tmp"))
    try:
        checkout.chmod(0o755)
        runtime.chmod(0o755)
        tool = checkout / "venv" / "bin" / "image-tool"
        tool.parent.mkdir(parents=True)
        tool.write_text("#!/bin/sh\necho image tool runs; ls /tmp\n")
        tool.chmod(0o755)
        (checkout / "venv").chmod(0o755)
        spec = {
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "containers": [
                {
                    "name": "c",
                    "command": ["image-tool"],
                    "securityContext": {"runAsUser": 10001},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
        }
        pod = Pod("p", spec, "ns", runtime / "p", Image(checkout / "venv"), {}, {}, logdir=runtime / "logs")
        process = pod.run_to_completion(spec["containers"][0], timeout=30)
        assert "image tool runs" in process.log.read_text()
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


def test_run_as_root_is_refused_with_run_as_non_root(tmp_path: Path) -> None:
    spec = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 0},
        "containers": [{"name": "c", "command": ["true"]}],
    }
    pod = Pod("p", spec, "ns", tmp_path, NO_IMAGE, {}, {})
    with pytest.raises(PodError, match="runAsNonRoot"):
        pod.process(spec["containers"][0])


# ------------------------------------------------------------------------------------- the rendered e2e stack


def all_pods(stack: Stack) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (doc["metadata"]["name"], doc["metadata"]["namespace"], doc["spec"]["template"]["spec"])
        for doc in stack.docs
        if doc["kind"] in ("Deployment", "Job")
    ]


def test_every_rendered_container_environment_resolves(stack: Stack, tmp_path: Path) -> None:
    """Every secretKeyRef/configMapKeyRef/envFrom of every rendered pod finds its Secret key or ConfigMap key."""
    pods = all_pods(stack)
    assert {name.rsplit("-", 1)[0] for name, _, _ in pods} >= {
        "mlflow",
        "mlflow-db-migration",
        "mlflow-minio-setup",
        "mlflow-keycloak-setup",
    }
    for name, namespace, spec in pods:
        p = Pod(name, spec, namespace, tmp_path / name, NO_IMAGE, stack.configmaps, stack.secrets)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            env = p.environment(container)
            assert all(isinstance(value, str) for value in env.values())


def test_a_wrong_secret_key_in_the_render_fails(stack: Stack, tmp_path: Path) -> None:
    deployment = copy.deepcopy(stack.deployment)
    spec = deployment["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "mlflow")
    ref = next(e for e in container["env"] if e["name"] == "OIDC_USERS_DB_URI")["valueFrom"]["secretKeyRef"]
    ref["key"] = "OIDC_USERS_DB_URL"
    p = Pod("mlflow", spec, deployment["metadata"]["namespace"], tmp_path, NO_IMAGE, stack.configmaps, stack.secrets)
    with pytest.raises(PodError, match="has no key 'OIDC_USERS_DB_URL'"):
        p.environment(container)


def test_a_wrong_vault_property_in_the_render_fails(stack: Stack) -> None:
    docs = copy.deepcopy(stack.docs)
    oidc = next(d for d in docs if d["kind"] == "ExternalSecret" and d["metadata"]["name"] == "mlflow-oidc-config")
    oidc["spec"]["data"][1]["remoteRef"]["property"] = "clientSecret"
    with pytest.raises(SecretError, match="no property 'clientSecret'"):
        evaluate_all(docs, VAULT)
