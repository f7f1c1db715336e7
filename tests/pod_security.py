"""Pod Security Standards, `restricted` profile (baseline + restricted controls), checked field by field.

Follows https://kubernetes.io/docs/concepts/security/pod-security-standards/ (Kubernetes 1.28+ wording):
every control applies to containers, init containers and ephemeral containers alike. A container-level
`securityContext` field overrides the pod-level one. For pods with `spec.os.name: windows`, the controls the
standard exempts for Windows (allowPrivilegeEscalation, seccomp, capabilities) are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

Spec = Mapping[str, Any]

ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_ADD_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")

_POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
_CONTAINER_LISTS = (
    ("containers", "container"),
    ("initContainers", "init container"),
    ("ephemeralContainers", "ephemeral container"),
)


# --- finding pod specs -------------------------------------------------------------------------------


def pod_templates(doc: Spec) -> list[tuple[str, Spec, Spec]]:
    """(`<kind>/<name>`, pod metadata, pod spec) for every pod a workload document defines."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    where = f"{kind}/{(doc.get('metadata') or {}).get('name', '<no name>')}"
    if kind == "Pod":
        return [(where, doc.get("metadata") or {}, spec)]
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    elif kind not in _POD_TEMPLATE_KINDS:
        return []
    template = spec.get("template") or {}
    return [(where, template.get("metadata") or {}, template.get("spec") or {})]


def pod_specs(doc: Spec) -> list[tuple[str, dict]]:
    """(`<kind>/<name>`, pod spec) for Deployment/StatefulSet/DaemonSet/ReplicaSet/Job/CronJob/Pod documents."""
    return [(where, dict(spec)) for where, _, spec in pod_templates(doc)]


def containers(pod_spec: Spec) -> Iterator[tuple[str, Spec]]:
    """("container 'x'" / "init container 'x'" / "ephemeral container 'x'", container) for every container."""
    for key, label in _CONTAINER_LISTS:
        for container in pod_spec.get(key) or []:
            yield f"{label} {container.get('name', '<no name>')!r}", container


# --- pod-level controls ------------------------------------------------------------------------------


def _pod_context(pod_spec: Spec) -> Spec:
    return pod_spec.get("securityContext") or {}


def _host_namespaces(pod_spec: Spec) -> list[str]:
    return [f"pod: {field} must not be true" for field in HOST_NAMESPACES if pod_spec.get(field)]


def _volumes(pod_spec: Spec) -> list[str]:
    found = []
    for volume in pod_spec.get("volumes") or []:
        for source in sorted(set(volume) - {"name"} - ALLOWED_VOLUME_TYPES):
            found.append(f"pod: volume {volume.get('name')!r} uses the {source} volume type, which is not allowed")
    return found


def _sysctls(pod_spec: Spec) -> list[str]:
    names = [sysctl.get("name") for sysctl in _pod_context(pod_spec).get("sysctls") or []]
    return [f"pod: sysctl {name!r} is not in the safe set" for name in names if name not in SAFE_SYSCTLS]


def _pod_restricted(pod_spec: Spec) -> list[str]:
    """Pod-level values the restricted profile forbids even when every container overrides them."""
    context, found = _pod_context(pod_spec), []
    if context.get("runAsNonRoot") is False:
        found.append("pod: runAsNonRoot must not be false")
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp not in (None, "Unconfined", *ALLOWED_SECCOMP):  # Unconfined: see _context_controls
        found.append(f"pod: seccompProfile.type {seccomp!r} is not allowed")
    return found


def _apparmor_annotations(annotations: Spec) -> list[str]:
    found = []
    for key, value in annotations.items():
        if (
            key.startswith(APPARMOR_ANNOTATION)
            and value not in ("", "runtime/default")
            and not str(value).startswith("localhost/")
        ):
            name = key[len(APPARMOR_ANNOTATION) :]
            found.append(f"container {name!r}: AppArmor annotation {value!r} is not allowed (unconfined)")
    return found


# --- security-context controls (pod level and container level) ---------------------------------------


def _context_controls(who: str, context: Spec) -> list[str]:
    """Controls that must hold wherever a securityContext appears (pod or container)."""
    found = []
    if context.get("runAsUser") == 0:
        found.append(f"{who}: runAsUser must not be 0 (root)")
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        found.append(f"{who}: windowsOptions.hostProcess must not be true")
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp == "Unconfined":
        found.append(f"{who}: seccompProfile.type must not be Unconfined")
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in ALLOWED_APPARMOR:
        found.append(f"{who}: appArmorProfile.type {apparmor!r} is not allowed")
    return found + _selinux(who, context.get("seLinuxOptions") or {})


def _selinux(who: str, options: Spec) -> list[str]:
    found = []
    if options.get("type", "") not in ALLOWED_SELINUX_TYPES:
        found.append(f"{who}: seLinuxOptions.type {options['type']!r} is not allowed")
    found += [f"{who}: seLinuxOptions.{field} must not be set" for field in ("user", "role") if options.get(field)]
    return found


# --- container-level controls ------------------------------------------------------------------------


def _effective(field: str, context: Spec, pod_context: Spec) -> Any:
    return context[field] if context.get(field) is not None else pod_context.get(field)


def _container_basics(who: str, container: Spec) -> list[str]:
    context = container.get("securityContext") or {}
    found = []
    if context.get("privileged"):
        found.append(f"{who}: privileged must not be true")
    if context.get("procMount", "Default") != "Default":
        found.append(f"{who}: procMount must be Default, not {context['procMount']!r}")
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            found.append(f"{who}: hostPort {port['hostPort']} must not be set")
    return found


def _non_root(who: str, context: Spec, pod_context: Spec) -> list[str]:
    if _effective("runAsNonRoot", context, pod_context) is not True:
        return [f"{who}: runAsNonRoot must be true (in the container or the pod securityContext)"]
    return []


def _seccomp(who: str, context: Spec, pod_context: Spec) -> list[str]:
    seccomp = _effective("seccompProfile", context, pod_context) or {}
    if seccomp.get("type") not in ALLOWED_SECCOMP:
        return [f"{who}: seccompProfile.type must be RuntimeDefault or Localhost (in the container or the pod)"]
    return []


def _escalation(who: str, context: Spec, pod_context: Spec) -> list[str]:
    if context.get("allowPrivilegeEscalation") is not False:
        return [f"{who}: allowPrivilegeEscalation must be false"]
    return []


def _capabilities(who: str, context: Spec, pod_context: Spec) -> list[str]:
    capabilities = context.get("capabilities") or {}
    found = []
    if "ALL" not in (capabilities.get("drop") or []):
        found.append(f"{who}: capabilities.drop must include ALL")
    for added in capabilities.get("add") or []:
        if added not in ALLOWED_ADD_CAPABILITIES:
            found.append(f"{who}: capabilities.add {added!r} is not allowed (only NET_BIND_SERVICE)")
    return found


ContainerCheck = Callable[[str, Spec, Spec], list[str]]
_ALL_OS_CHECKS: tuple[ContainerCheck, ...] = (_non_root,)
_LINUX_ONLY_CHECKS: tuple[ContainerCheck, ...] = (_seccomp, _escalation, _capabilities)


def _container_violations(who: str, container: Spec, pod_context: Spec, windows: bool) -> list[str]:
    context = container.get("securityContext") or {}
    found = _container_basics(who, container) + _context_controls(who, context)
    for check in _ALL_OS_CHECKS + (() if windows else _LINUX_ONLY_CHECKS):
        found += check(who, context, pod_context)
    return found


# --- entry point -------------------------------------------------------------------------------------


def restricted_violations(pod_spec: Spec, annotations: Spec | None = None) -> list[str]:
    """Every way `pod_spec` (and the pod's `annotations`, for AppArmor) breaks the `restricted` profile."""
    pod_context = _pod_context(pod_spec)
    windows = (pod_spec.get("os") or {}).get("name") == "windows"
    found = _host_namespaces(pod_spec) + _volumes(pod_spec) + _sysctls(pod_spec) + _pod_restricted(pod_spec)
    found += _context_controls("pod", pod_context) + _apparmor_annotations(annotations or {})
    for who, container in containers(pod_spec):
        found += _container_violations(who, container, pod_context, windows)
    return found
