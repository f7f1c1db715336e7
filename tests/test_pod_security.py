"""Every rendered pod meets the Pod Security Standards `restricted` profile; each control is really checked."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.pod_security import pod_specs, pod_templates, restricted_violations

Doc = dict[str, Any]
PodSpec = dict[str, Any]


@pytest.fixture
def pod(default_docs: list[Doc]) -> PodSpec:
    """A mutable copy of the rendered Deployment's pod spec."""
    [deployment] = [doc for doc in default_docs if doc["kind"] == "Deployment"]
    [(_, spec)] = pod_specs(deployment)
    return copy.deepcopy(spec)


def test_every_rendered_pod_is_restricted(default_docs: list[Doc]) -> None:
    found = [(where, metadata, spec) for doc in default_docs for where, metadata, spec in pod_templates(doc)]
    assert {where.split("/")[0] for where, _, _ in found} >= {"Deployment", "Job"}
    assert len(found) >= 2
    for where, metadata, spec in found:
        assert restricted_violations(spec, metadata.get("annotations")) == [], where


def test_rendered_deployment_uses_every_container_list(pod: PodSpec) -> None:
    assert pod["containers"] and pod["initContainers"]


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"])
def test_pod_specs_finds_every_workload_kind(kind: str) -> None:
    spec = {"containers": [{"name": "c"}]}
    template = {"template": {"spec": spec}}
    body = {"Pod": spec, "CronJob": {"jobTemplate": {"spec": template}}}.get(kind, template)
    assert pod_specs({"kind": kind, "metadata": {"name": "x"}, "spec": body}) == [(f"{kind}/x", spec)]
    assert pod_specs({"kind": "Service", "metadata": {"name": "x"}, "spec": {}}) == []


def _context(pod: PodSpec, index: int = 0, key: str = "containers") -> dict[str, Any]:
    return pod[key][index]["securityContext"]


def _set(path: str, value: Any) -> Callable[[PodSpec], None]:
    """A mutation setting `value` at a dotted `path` under the pod spec (numbers index lists)."""

    def mutate(pod: PodSpec) -> None:
        *parents, last = path.split(".")
        node: Any = pod
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    mutate.__name__ = f"{path}={value!r}"
    return mutate


def _drop_pod_and_container(field: str) -> Callable[[PodSpec], None]:
    def mutate(pod: PodSpec) -> None:
        pod["securityContext"].pop(field, None)
        _context(pod, 1).pop(field, None)

    mutate.__name__ = f"no {field} on the pod and container 1"
    return mutate


def _add_volume(source: dict[str, Any]) -> Callable[[PodSpec], None]:
    def mutate(pod: PodSpec) -> None:
        pod["volumes"].append({"name": "extra", **source})

    mutate.__name__ = f"volume {next(iter(source))}"
    return mutate


def _ephemeral_container(pod: PodSpec) -> None:
    debug = copy.deepcopy(pod["containers"][0])
    debug.update(name="debug", securityContext={"capabilities": {"drop": ["ALL"]}})
    pod["ephemeralContainers"] = [debug]


VIOLATIONS: list[tuple[Callable[[PodSpec], None], str]] = [
    (_set("hostNetwork", True), "pod: hostNetwork must not be true"),
    (_set("hostPID", True), "pod: hostPID must not be true"),
    (_set("hostIPC", True), "pod: hostIPC must not be true"),
    (_add_volume({"hostPath": {"path": "/etc"}}), "pod: volume 'extra' uses the hostPath volume type"),
    (_add_volume({"nfs": {"server": "nfs", "path": "/"}}), "pod: volume 'extra' uses the nfs volume type"),
    (_set("containers.0.ports.0.hostPort", 5000), "container 'mlflow': hostPort 5000 must not be set"),
    (_set("containers.0.securityContext.privileged", True), "container 'mlflow': privileged must not be true"),
    (
        _set("initContainers.0.securityContext.capabilities.drop", ["NET_RAW"]),
        "init container 'wait-for-postgres': capabilities.drop must include ALL",
    ),
    (
        _set("containers.1.securityContext.capabilities.add", ["SYS_ADMIN"]),
        "container 'metrics': capabilities.add 'SYS_ADMIN' is not allowed",
    ),
    (
        _set("containers.0.securityContext.allowPrivilegeEscalation", True),
        "container 'mlflow': allowPrivilegeEscalation must be false",
    ),
    (
        _set("initContainers.0.securityContext.allowPrivilegeEscalation", None),
        "init container 'wait-for-postgres': allowPrivilegeEscalation must be false",
    ),
    (_ephemeral_container, "ephemeral container 'debug': allowPrivilegeEscalation must be false"),
    (_set("containers.1.securityContext.runAsNonRoot", False), "container 'metrics': runAsNonRoot must be true"),
    (_drop_pod_and_container("runAsNonRoot"), "container 'metrics': runAsNonRoot must be true"),
    (_set("securityContext.runAsNonRoot", False), "pod: runAsNonRoot must not be false"),
    (_set("securityContext.runAsUser", 0), "pod: runAsUser must not be 0"),
    (_set("containers.0.securityContext.runAsUser", 0), "container 'mlflow': runAsUser must not be 0"),
    (
        _set("containers.0.securityContext.seccompProfile", {"type": "Unconfined"}),
        "container 'mlflow': seccompProfile.type must not be Unconfined",
    ),
    (_set("securityContext.seccompProfile", {"type": "Unconfined"}), "pod: seccompProfile.type must not be Unconfined"),
    (_drop_pod_and_container("seccompProfile"), "container 'metrics': seccompProfile.type must be RuntimeDefault"),
    (_set("containers.0.securityContext.procMount", "Unmasked"), "container 'mlflow': procMount must be Default"),
    (
        _set("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
        "pod: sysctl 'kernel.msgmax' is not in the safe set",
    ),
    (
        _set("containers.0.securityContext.appArmorProfile", {"type": "Unconfined"}),
        "container 'mlflow': appArmorProfile.type 'Unconfined' is not allowed",
    ),
    (_set("securityContext.windowsOptions", {"hostProcess": True}), "pod: windowsOptions.hostProcess must not be true"),
    (
        _set("containers.0.securityContext.seLinuxOptions", {"type": "spc_t"}),
        "container 'mlflow': seLinuxOptions.type 'spc_t' is not allowed",
    ),
    (_set("securityContext.seLinuxOptions", {"user": "system_u"}), "pod: seLinuxOptions.user must not be set"),
]


@pytest.mark.parametrize(("mutate", "expected"), VIOLATIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_each_violation_is_reported(pod: PodSpec, mutate: Callable[[PodSpec], None], expected: str) -> None:
    assert restricted_violations(pod) == []
    mutate(pod)
    violations = restricted_violations(pod)
    assert any(v.startswith(expected) for v in violations), violations


def test_apparmor_unconfined_annotation_is_reported(pod: PodSpec) -> None:
    annotations = {"container.apparmor.security.beta.kubernetes.io/mlflow": "unconfined"}
    assert restricted_violations(pod, annotations) == [
        "container 'mlflow': AppArmor annotation 'unconfined' is not allowed (unconfined)"
    ]
    annotations["container.apparmor.security.beta.kubernetes.io/mlflow"] = "runtime/default"
    assert restricted_violations(pod, annotations) == []


def test_allowed_values_are_not_reported(pod: PodSpec) -> None:
    _context(pod)["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    _context(pod)["seccompProfile"] = {"type": "Localhost", "localhostProfile": "profiles/mlflow.json"}
    _context(pod)["seLinuxOptions"] = {"type": "container_t", "level": "s0:c1,c2"}
    pod["securityContext"]["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    pod["volumes"].append({"name": "data", "persistentVolumeClaim": {"claimName": "data"}})
    assert restricted_violations(pod) == []


def test_container_level_settings_satisfy_the_pod_level_controls(pod: PodSpec) -> None:
    pod_context = pod.pop("securityContext")
    for key in ("containers", "initContainers"):
        for container in pod[key]:
            container["securityContext"].update(runAsNonRoot=True, seccompProfile=pod_context["seccompProfile"])
    assert restricted_violations(pod) == []
