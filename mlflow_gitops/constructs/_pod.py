"""Pod building blocks shared by the Deployment and the Jobs: Pod Security "restricted" by construction.

Each helper returns a plain dict (or list of dicts) in the Kubernetes API's own shape (camelCase keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlflow_gitops import names as n
from mlflow_gitops.constructs._service import container_port
from mlflow_gitops.settings import PodSettings, Resources

RUN_AS_USER = 10001
"""A high UID (checkov CKV_K8S_40): no clash with a host user; the image runs as it too (image/Dockerfile)."""
SCRIPTS_VOLUME = "scripts"

RELOADER = {"reloader.stakater.com/auto": "true"}
"""Stakater Reloader: roll the Deployment when a Secret or ConfigMap its pods read changes (vault.reloadPods)."""

Container = dict[str, Any]
EnvVar = dict[str, Any]
Volume = dict[str, Any]


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(res: Resources) -> dict[str, Any]:
    return {
        "requests": {"cpu": res.cpu_request, "memory": res.memory_request},
        "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit},
    }


SMALL = Resources(cpu_request="10m", memory_request="64Mi", cpu_limit="200m", memory_limit="256Mi")
"""Resources of helper containers (wait-for-postgres, metrics)."""
JOB = Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi")
"""Resources of one-shot Jobs (migration)."""


def secret_env(name: str, secret: str, key: str) -> EnvVar:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def plain_env(values: Mapping[str, str]) -> list[EnvVar]:
    return [{"name": key, "value": value} for key, value in values.items()]


def config_map_env(config_map: str) -> dict[str, Any]:
    return {"configMapRef": {"name": config_map}}


def extra_container(spec: Mapping[str, Any], pull_policy: str) -> Container:
    """A user's sidecar or init container (instances[].server), made restricted like every rendered one."""
    res = spec.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    return container(
        str(spec["name"]),
        image=str(spec["image"]),
        pull_policy=pull_policy,
        res=Resources(
            cpu_request=requests.get("cpu", SMALL.cpu_request),
            memory_request=requests.get("memory", SMALL.memory_request),
            cpu_limit=limits.get("cpu", SMALL.cpu_limit),
            memory_limit=limits.get("memory", SMALL.memory_limit),
        ),
        command=spec.get("command"),
        args=spec.get("args"),
        env=plain_env(dict(spec.get("env") or {})) or None,
        ports=[
            container_port(p["name"], p["containerPort"])
            if p.get("name")
            else {"containerPort": p["containerPort"], "protocol": "TCP"}
            for p in spec.get("ports") or []
        ]
        or None,
        volumeMounts=[dict(m) for m in spec.get("volumeMounts") or []] or None,
    )


def extra_volume(spec: Mapping[str, Any]) -> Volume:
    if "emptyDir" in spec:
        return empty_dir(str(spec["name"]), (spec["emptyDir"] or {}).get("sizeLimit", "256Mi"))
    return dict(spec)


def volume_mount(name: str, path: str, read_only: bool | None = None) -> dict[str, Any]:
    return {"name": name, "mountPath": path, "readOnly": read_only}


def empty_dir(name: str, size: str = "256Mi", memory: bool = False) -> Volume:
    """An emptyDir capped at `size`; on tmpfs (counted against the memory limit) when `memory`."""
    return {"name": name, "emptyDir": {"sizeLimit": size, **({"medium": "Memory"} if memory else {})}}


def scripts_volume(config_map: str) -> Volume:
    return {"name": SCRIPTS_VOLUME, "configMap": {"name": config_map, "defaultMode": 0o444}}


def scripts_mount() -> dict[str, Any]:
    return volume_mount(SCRIPTS_VOLUME, n.SCRIPTS_DIR, read_only=True)


def script_command(script: str) -> list[str]:
    return ["python", f"{n.SCRIPTS_DIR}/{script}"]


def tcp_probe(port: str, **timing: int) -> dict[str, Any]:
    """A probe that connects to the named container port (`timing`: periodSeconds, failureThreshold...)."""
    return {"tcpSocket": {"port": port}, **timing}


def http_probe(path: str, port: str, **timing: int) -> dict[str, Any]:
    """A probe that GETs `path` on the named container port (`timing`: periodSeconds, failureThreshold...)."""
    return {"httpGet": {"path": path, "port": port}, **timing}


def container(name: str, *, image: str, pull_policy: str, res: Resources, **fields: Any) -> Container:
    """A container that runs restricted (see `container_security_context`) with `res`; `fields` are the
    other Container fields, camelCase, None for absent."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        **fields,
        "resources": resources(res),
        "securityContext": container_security_context(),
    }


def restricted_pod_spec(
    *,
    service_account: str,
    containers: Sequence[Container],
    volumes: Sequence[Volume],
    placement: PodSettings,
    **fields: Any,
) -> dict[str, Any]:
    """A PodSpec with no service account token, no service links and the restricted pod security context,
    placed as the instance's `pods` say; `fields` are the other PodSpec fields, camelCase, None for absent."""
    return {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "nodeSelector": dict(placement.node_selector) or None,
        "tolerations": list(placement.tolerations) or None,
        "affinity": placement.affinity,
        "priorityClassName": placement.priority_class_name,
        "imagePullSecrets": [{"name": name} for name in placement.image_pull_secrets] or None,
        **fields,
        "containers": list(containers),
        "volumes": list(volumes),
    }


def template_metadata(
    labels: Mapping[str, str], placement: PodSettings, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A pod template's metadata: the render's labels and annotations, plus the instance's extra ones."""
    return {
        "labels": {**dict(placement.labels), **labels},
        "annotations": {**dict(placement.annotations), **(annotations or {})} or None,
    }
