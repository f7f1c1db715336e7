"""Run a rendered pod's containers as local processes, the way the kubelet would start them.

`Pod(spec, namespace, ...)` takes a rendered pod template spec and emulates:

* **volumes**: each `emptyDir` is a fresh directory shared by the pod's containers; a `configMap` volume is a
  directory holding the ConfigMap's keys as files (`items`/`defaultMode` honoured); any other volume type is an error.
* **volumeMounts, user, security context** -- as root (CI) each container runs in its own mount namespace
  (`unshare --mount`): the volume directories are bind-mounted at their mount paths (`readOnly` ones read-only), the
  root file system is remounted read-only when `readOnlyRootFilesystem` is set, then `setpriv` switches to the
  container's `runAsUser`/`runAsGroup` (else the image's numeric `USER`) with the pod's `fsGroup` and
  `supplementalGroups`, drops the capability bounding set for `capabilities.drop: [ALL]` and sets no_new_privs for
  `allowPrivilegeEscalation: false`. Paths stay exactly as rendered, and a write the pod could not do fails here too.
  A mount point missing on the host (/opt/mlflow-gitops, ...) is made inside a private overlay over its nearest
  existing ancestor: the host's file system is never changed. Without root (or with E2E_POD_SANDBOX=0) the mounts
  are emulated by rewriting paths instead: a command, argument or environment value that is a mount path, or starts
  with one (`/tmp/x`, `--flag=/tmp/x`), becomes the volume's directory (longest mount path first), `TMPDIR` points
  at the `/tmp` volume, and the process runs as the harness' own user. Either way `runAsNonRoot` with user 0 is
  refused as the kubelet refuses it, and emptyDirs are mode 0777 like the kubelet's. In the sandbox an emptyDir
  with a `sizeLimit` is a tmpfs of that size: what would get the pod evicted fails here (ENOSPC).
* **environment**, in Kubernetes' order: the image's `ENV` (from image/Dockerfile), then `envFrom` (ConfigMaps and
  Secrets, in order, `prefix` honoured), then `env` (`value` with `$(VAR)` expansion as Kubernetes does it: `$$` is a
  literal `$`, an unknown reference stays as written; `valueFrom` `secretKeyRef`/`configMapKeyRef`/`fieldRef`).
  A reference to a missing ConfigMap, Secret or key is an error (unless `optional: true`), as the kubelet refuses to
  start such a container. Command and args are then expanded against the container's full environment.
* **network**: a pod has its own network namespace, the host has one loopback. Every declared `containerPort` is
  mapped to a free host port chosen by the caller: `--port=<containerPort>` arguments and `*PORT` variables whose
  value is the container port are rewritten, and each declared port must be set that way (so the process really
  listens on the port the Service targets); listen addresses `0.0.0.0` become `127.0.0.1`.

The harness adds to every process (below the image's env, so the pod can override them): PATH (the e2e venv first),
LANG, PYTHONUNBUFFERED (logs), and MLFLOW_DISABLE_TELEMETRY/DO_NOT_TRACK (this machine must not send traffic off
loopback; MLflow 3.6 would otherwise post usage telemetry).

Processes start with `start_new_session=True` and are stopped by process group: `mlflow server` forks uvicorn.
Their output goes to one log file each (`Process.log`); `LOGS` lists every log of the session for failure reports.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.secrets import Secret, SecretError

LOGS: list[Path] = []


class PodError(Exception):
    """The rendered pod cannot be started as the kubelet would (missing key, unsupported field, failed container)."""


# ---------------------------------------------------------------------------------------------- $(VAR) expansion


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' third_party/forked/golang/expansion.Expand: `$(NAME)` -> value, `$$` -> `$`, others verbatim."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = text.find(")", i + 2)
            if end == -1:  # incomplete reference: "$(" kept, scanning goes on after it
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : end]
            value = lookup(name)
            out.append(value if value is not None else f"$({name})")
            i = end + 1
        else:
            out.append("$" + following)
            i += 2
    return "".join(out)


# ------------------------------------------------------------------------------------------------------ processes


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    user: int | None = None  # uid/gid/groups to run as (only when the harness runs as root)
    group: int | None = None
    groups: tuple[int, ...] = ()
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        LOGS.append(self.log)
        identity: dict[str, Any] = {}
        if self.user is not None:
            identity = {"user": self.user, "group": self.group, "extra_groups": list(self.groups)}
        with self.log.open("ab") as handle:
            who = f" (uid {self.user}, gid {self.group}, groups {list(self.groups)})" if identity else ""
            handle.write(f"${who} {' '.join(self.argv)}\n".encode())
            handle.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **identity,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} not started"
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise PodError(f"{self.name} did not finish within {timeout:.0f} s\n{self.tail()}") from None

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to the whole process group (uvicorn children included), SIGKILL after `grace` seconds."""
        if self.popen is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.popen.poll() is not None and not _group_alive(self.popen.pid):
                    return
                time.sleep(0.05)
        self.popen.poll()

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"  {self.name}| {line}" for line in text[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------------------------------------ pod


def container_slug(who: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", who)


def sandbox_available() -> bool:
    """Mount namespaces need root (CI runs as root); E2E_POD_SANDBOX=0 forces the path-rewriting emulation."""
    return (
        os.geteuid() == 0
        and os.environ.get("E2E_POD_SANDBOX", "1") != "0"
        and all(shutil.which(tool) for tool in ("unshare", "setpriv", "mount"))
    )


@dataclass
class Image:
    """What the container image provides: an interpreter environment and its ENV lines."""

    venv: Path
    env: dict[str, str] = field(default_factory=dict)
    user: int | None = None  # the image's USER (numeric uid), the default runAsUser
    group: int | None = None

    @classmethod
    def from_dockerfile(cls, venv: Path, dockerfile: Path) -> Image:
        env: dict[str, str] = {}
        user = group = None
        for line in dockerfile.read_text().splitlines():
            match = re.match(r"^\s*ENV\s+(.+)$", line)
            if match:
                for pair in match.group(1).split():
                    key, sep, value = pair.partition("=")
                    if not sep:
                        raise PodError(f"{dockerfile}: legacy 'ENV key value' form not supported: {line}")
                    env[key] = value.strip('"')
            match = re.match(r"^\s*USER\s+(\d+|root)(?::(\d+|root))?\s*$", line)
            if match:  # the last USER wins; root (to install packages) is uid 0
                user = 0 if match.group(1) == "root" else int(match.group(1))
                group = None if not match.group(2) else 0 if match.group(2) == "root" else int(match.group(2))
            elif re.match(r"^\s*USER\s", line):
                raise PodError(f"{dockerfile}: only a numeric USER is emulated: {line}")
        return cls(venv, env, user, group)


QUANTITY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}

_TMPFS: list[Path] = []
"""tmpfs mounts of emptyDirs still mounted (unmounted when their pod stops, or when the test process exits)."""


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "--lazy", str(path)], capture_output=True)
    if path in _TMPFS:
        _TMPFS.remove(path)


atexit.register(lambda: [_unmount(path) for path in list(_TMPFS)])


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes quantity (128Mi, 10Gi, 1G, 500000) in bytes."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", quantity)
    if not match:
        raise PodError(f"quantity {quantity!r} not emulated")
    return int(match[1]) * QUANTITY_UNITS.get(match[2] or "", 1)


class Pod:
    def __init__(
        self,
        name: str,
        spec: dict[str, Any],
        namespace: str,
        workdir: Path,
        image: Image,
        configmaps: dict[tuple[str, str], dict[str, Any]],
        secrets: dict[tuple[str, str], Secret],
        ports: dict[int, int] | None = None,
        logdir: Path | None = None,
        sandbox: bool | None = None,
    ):
        self.name, self.spec, self.namespace, self.image = name, spec, namespace, image
        self.sandbox = sandbox_available() if sandbox is None else sandbox
        self.workdir = workdir
        self.logdir = logdir or workdir / "logs"
        self.configmaps, self.secrets = configmaps, secrets
        self.ports = dict(ports or {})
        self.processes: list[Process] = []
        self.volumes: dict[str, Path] = {}
        self.size_limits: dict[Path, int] = {}
        """emptyDir directory -> its sizeLimit in bytes, enforced (a tmpfs of that size) once a container starts."""
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)
        for volume in spec.get("volumes", []):
            self.volumes[volume["name"]] = self._make_volume(volume)

    # ------------------------------------------------------------------------------------------------- volumes
    def _make_volume(self, volume: dict[str, Any]) -> Path:
        path = self.workdir / "volumes" / volume["name"]
        path.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o755)
        path.chmod(0o755)
        kinds = set(volume) - {"name"}
        if kinds == {"emptyDir"}:
            path.chmod(0o777)  # as the kubelet makes an emptyDir: writable by the pod's (non-root) user
            limit = (volume["emptyDir"] or {}).get("sizeLimit")
            if limit:
                self.size_limits[path] = quantity_bytes(limit)
            return path
        if kinds == {"configMap"}:
            source = volume["configMap"]
            configmap = self.configmaps.get((self.namespace, source["name"]))
            if configmap is None:
                if source.get("optional"):
                    return path
                raise PodError(
                    f"pod {self.name}: volume {volume['name']}: no ConfigMap "
                    f"{self.namespace}/{source['name']} in the rendered output"
                )
            data = configmap.get("data") or {}
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                if item["key"] not in data:
                    raise PodError(
                        f"pod {self.name}: volume {volume['name']}: ConfigMap {source['name']} has no key "
                        f"{item['key']!r}"
                    )
                target = path / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[item["key"]])
                target.chmod(item.get("mode", source.get("defaultMode", 0o644)))
            return path
        raise PodError(f"pod {self.name}: volume {volume['name']}: type {sorted(kinds)} not emulated")

    def _mounts(self, container: dict[str, Any]) -> list[tuple[str, Path, bool]]:
        """(mountPath, volume directory, readOnly), the longest mount path first."""
        mounts = []
        for mount in container.get("volumeMounts", []):
            unsupported = set(mount) - {"name", "mountPath", "readOnly"}
            if unsupported:
                raise PodError(f"{container['name']}: volumeMount fields {sorted(unsupported)} not emulated")
            if mount["name"] not in self.volumes:
                raise PodError(f"{container['name']}: volumeMount {mount['name']} names no volume of the pod")
            path = mount["mountPath"].rstrip("/")
            if not path.startswith("/") or path == "" or ".." in path.split("/"):
                raise PodError(f"{container['name']}: mountPath {mount['mountPath']!r} not emulated")
            mounts.append((path, self.volumes[mount["name"]], bool(mount.get("readOnly"))))
        return sorted(mounts, key=lambda item: len(item[0]), reverse=True)

    @staticmethod
    def _rewrite_path(value: str, mounts: list[tuple[str, Path, bool]]) -> str:
        prefix = ""
        match = re.match(r"^(--?[A-Za-z0-9][\w-]*=)(/.*)$", value)
        if match:
            prefix, value = match.group(1), match.group(2)
        for mount_path, host, _ in mounts:
            if value == mount_path or value.startswith(mount_path + "/"):
                return prefix + str(host) + value[len(mount_path) :]
        return prefix + value

    def _sandbox_argv(
        self,
        argv: list[str],
        mounts: list[tuple[str, Path, bool]],
        context: dict[str, Any],
        identity: tuple[int, int, tuple[int, ...]],
        who: str,
    ) -> list[str]:
        """`argv` wrapped to run in a private mount namespace with the volumes mounted where the pod mounts them,
        the root file system read-only (readOnlyRootFilesystem), then as the pod's user with its capabilities and
        no_new_privs (setpriv)."""
        user, group, groups = identity

        def shadowed(path: Path) -> list[str]:
            return [m for m, _, _ in mounts if str(path) == m or str(path).startswith(m + "/")]

        for _, host, _ in mounts:
            if shadowed(host):
                raise PodError(
                    f"{who}: volume directory {host} lies under the mount path {shadowed(host)[0]}: keep "
                    "the pods' directories outside every mount path (e.g. in /var/tmp)"
                )
        q = shlex.quote
        script, read_only_mounts = ["set -e"], []
        # The image (the e2e venv) must stay visible at its own path (console scripts name it in their shebang),
        # also when a volume is mounted over a parent of it (a checkout under /tmp): stage it, re-expose it later.
        image = self.image.venv.resolve()
        stage = self.workdir / "image"
        if shadowed(image):
            stage.mkdir(parents=True, exist_ok=True)
            script.append(f"mount --bind {q(str(image))} {q(str(stage))}")
        overlays: list[str] = []
        for mount_path, host, read_only in sorted(mounts, key=lambda item: len(item[0])):
            parent = next(
                (
                    m
                    for m in sorted(mounts, key=lambda item: -len(item[0]))
                    if m[0] != mount_path and mount_path.startswith(m[0] + "/")
                ),
                None,
            )
            if parent is not None:  # a mount inside another volume: its mount point lives in that volume
                (parent[1] / mount_path[len(parent[0]) + 1 :]).mkdir(parents=True, exist_ok=True)
            elif not Path(mount_path).is_dir():
                # A missing mount point is made in a private overlay over its nearest existing ancestor, so the
                # host's file system is never changed (the image would have the directory).
                ancestor = next(a for a in Path(mount_path).parents if a.exists()).resolve()
                if ancestor == Path("/"):
                    raise PodError(f"{who}: mount point {mount_path} would need a directory in / (not emulated)")
                if str(ancestor) not in overlays:
                    upper = self.workdir / "overlays" / f"{container_slug(who)}-{len(overlays)}"
                    (upper / "upper").mkdir(parents=True, exist_ok=True)
                    (upper / "work").mkdir(parents=True, exist_ok=True)
                    options = f"lowerdir={ancestor},upperdir={upper / 'upper'},workdir={upper / 'work'}"
                    script.append(f"mount -t overlay overlay -o {q(options)} {q(str(ancestor))}")
                    overlays.append(str(ancestor))
                script.append(f"mkdir -p {q(mount_path)}")
            script.append(f"mount --bind {q(str(host))} {q(mount_path)}")
            if read_only:
                read_only_mounts.append(mount_path)
        if shadowed(image):
            script += [f"mkdir -p {q(str(image))}", f"mount --bind {q(str(stage))} {q(str(image))}"]
            read_only_mounts.append(str(image))
        script += [f"mount -o remount,bind,ro {q(path)}" for path in read_only_mounts]
        if context.get("readOnlyRootFilesystem"):
            script.append("mount -o remount,bind,ro /")
            script += [f"mount -o remount,ro {q(overlay)}" for overlay in overlays]
        setpriv = [
            "setpriv",
            f"--reuid={user}",
            f"--regid={group}",
            f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups",
        ]
        capabilities = context.get("capabilities") or {}
        if capabilities.get("add"):
            raise PodError(f"{who}: capabilities.add {capabilities['add']} not emulated")
        if "ALL" in capabilities.get("drop", []):
            setpriv += ["--inh-caps=-all", "--bounding-set=-all"]
        if context.get("allowPrivilegeEscalation") is False:
            setpriv.append("--no-new-privs")
        script.append("exec " + " ".join(q(part) for part in setpriv) + ' -- "$@"')
        unshare = shutil.which("unshare") or "unshare"
        return [
            unshare,
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            "\n".join(script),
            "pod-sandbox",
            *argv,
        ]

    # ----------------------------------------------------------------------------------------------- environment
    def _configmap(self, name: str) -> dict[str, str] | None:
        configmap = self.configmaps.get((self.namespace, name))
        return None if configmap is None else dict(configmap.get("data") or {})

    def _secret(self, name: str) -> Secret | None:
        return self.secrets.get((self.namespace, name))

    def environment(self, container: dict[str, Any]) -> dict[str, str]:
        """The container's environment as the kubelet builds it (without the harness' and image's base)."""
        who = f"pod {self.name} container {container['name']}"
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]
                data = self._configmap(ref["name"])
                if data is None:
                    if ref.get("optional"):
                        continue
                    raise PodError(f"{who}: envFrom ConfigMap {self.namespace}/{ref['name']} is not rendered")
            elif "secretRef" in source:
                ref = source["secretRef"]
                secret = self._secret(ref["name"])
                if secret is None:
                    if ref.get("optional"):
                        continue
                    raise PodError(f"{who}: envFrom Secret {self.namespace}/{ref['name']} is made by no ExternalSecret")
                data = secret.data
            else:
                raise PodError(f"{who}: envFrom {source} not emulated")
            for key, value in data.items():
                env[prefix + key] = value
        for item in container.get("env", []):
            name = item["name"]
            if "value" in item:
                env[name] = expand(str(item["value"]), env.get)
            elif "valueFrom" in item:
                value = self._value_from(who, name, item["valueFrom"])
                if value is not None:
                    env[name] = value
            else:
                env[name] = ""
        return env

    def _value_from(self, who: str, name: str, source: dict[str, Any]) -> str | None:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self._secret(ref["name"])
            if secret is None:
                if ref.get("optional"):
                    return None
                made = sorted(n for ns, n in self.secrets if ns == self.namespace)
                raise PodError(
                    f"{who}: env {name}: Secret {self.namespace}/{ref['name']} is made by no "
                    f"ExternalSecret (Secrets in the namespace: {made})"
                )
            if ref["key"] not in secret.data and ref.get("optional"):
                return None
            try:
                return secret.get(ref["key"], f"{who}: env {name}")
            except SecretError as exc:
                raise PodError(str(exc)) from None
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = self._configmap(ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    return None
                raise PodError(
                    f"{who}: env {name}: ConfigMap {self.namespace}/{ref['name']} "
                    f"{'has no key ' + repr(ref['key']) if data is not None else 'is not rendered'}"
                )
            return data[ref["key"]]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {"metadata.namespace": self.namespace, "metadata.name": self.name, "status.podIP": "127.0.0.1"}
            if path not in fields:
                raise PodError(f"{who}: env {name}: fieldRef {path} not emulated")
            return fields[path]
        raise PodError(f"{who}: env {name}: valueFrom {sorted(source)} not emulated")

    # -------------------------------------------------------------------------------------------------- processes
    def process(self, container: dict[str, Any], extra_env: dict[str, str] | None = None) -> Process:
        """The container as a (not yet started) local process."""
        who = f"pod {self.name} container {container['name']}"
        if "command" not in container:
            raise PodError(f"{who}: no command: the image's entrypoint is not emulated")
        unsupported = {"workingDir", "lifecycle", "stdin", "tty"} & set(container)
        if unsupported:
            raise PodError(f"{who}: fields {sorted(unsupported)} not emulated")
        mounts = self._mounts(container)
        self.enforce_size_limits()
        env = self.environment(container)
        argv = [expand(part, env.get) for part in [*container["command"], *container.get("args", [])]]
        # network: declared container ports -> host ports chosen by the harness
        declared = [port["containerPort"] for port in container.get("ports", [])]
        for container_port in declared:
            if container_port not in self.ports:
                raise PodError(f"{who}: no host port mapped for containerPort {container_port}")
            host_port, mapped = str(self.ports[container_port]), False
            for i, arg in enumerate(argv):
                if arg == f"--port={container_port}":
                    argv[i], mapped = f"--port={host_port}", True
            for key, value in env.items():
                if key.endswith("PORT") and value == str(container_port):
                    env[key], mapped = host_port, True
            if not mapped:
                raise PodError(
                    f"{who}: declares containerPort {container_port}, but neither a --port argument nor "
                    f"a *PORT variable sets it: the process would not listen where the Service points"
                )
        argv = ["--host=127.0.0.1" if arg == "--host=0.0.0.0" else arg for arg in argv]
        image_env = dict(self.image.env)
        if not self.sandbox:  # volume mounts by rewriting paths
            argv = [self._rewrite_path(arg, mounts) for arg in argv]
            env = {key: self._rewrite_path(value, mounts) for key, value in env.items()}
            image_env = {key: self._rewrite_path(value, mounts) for key, value in image_env.items()}
        base = {
            "PATH": f"{self.image.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
        tmp = next((host for path, host, _ in mounts if path == "/tmp"), None)
        if tmp is not None and not self.sandbox:
            base["TMPDIR"] = str(tmp)
        full_env = {**base, **image_env, **env, **(extra_env or {})}
        executable = shutil.which(argv[0], path=full_env["PATH"])
        if executable is None:
            raise PodError(f"{who}: command {argv[0]!r} not found in the image (PATH {full_env['PATH']})")
        argv[0] = executable
        # an empty working directory the container's user cannot write to (the image's root file system)
        cwd = self.workdir / "cwd" / container["name"]
        cwd.mkdir(parents=True, exist_ok=True)
        cwd.parent.chmod(0o755)
        cwd.chmod(0o755)
        context = {**(self.spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
        user, group, groups = self.identity(container)
        log = self.logdir / f"{container['name']}.log"
        if self.sandbox:
            assert user is not None and group is not None
            argv = self._sandbox_argv(argv, mounts, context, (user, group, groups), who)
            process = Process(f"{self.name}/{container['name']}", argv, full_env, cwd, log)
        else:
            process = Process(f"{self.name}/{container['name']}", argv, full_env, cwd, log, user, group, groups)
        self.processes.append(process)
        return process

    def identity(self, container: dict[str, Any]) -> tuple[int | None, int | None, tuple[int, ...]]:
        """(uid, gid, supplementary groups) the kubelet would run the container as; (None, None, ()) when the
        harness cannot switch users (not root): then it runs as itself."""
        who = f"pod {self.name} container {container['name']}"
        pod_context = self.spec.get("securityContext") or {}
        context = {**pod_context, **(container.get("securityContext") or {})}
        user = context.get("runAsUser", self.image.user)
        group = context.get("runAsGroup", self.image.group if self.image.group is not None else user)
        if context.get("runAsNonRoot") and user in (None, 0):
            raise PodError(f"{who}: runAsNonRoot, but the user is {user!r}: the kubelet refuses to start it")
        if user is None:
            raise PodError(f"{who}: no runAsUser and no numeric USER in the image: the user is not emulated")
        groups = tuple(
            g for g in (pod_context.get("fsGroup"), *pod_context.get("supplementalGroups", [])) if g is not None
        )
        if os.geteuid() != 0:
            return None, None, ()
        return int(user), int(group), tuple(int(g) for g in groups)

    def container(self, name: str, init: bool = False) -> dict[str, Any]:
        for container in self.spec.get("initContainers" if init else "containers", []):
            if container["name"] == name:
                return container
        raise PodError(f"pod {self.name} has no {'init ' if init else ''}container {name!r}")

    def run_init_containers(self, timeout: float = 120, extra_env: dict[str, str] | None = None) -> None:
        """Each init container in order, to completion; a non-zero exit fails the pod, as the kubelet does."""
        for container in self.spec.get("initContainers", []):
            self.run_to_completion(container, timeout, extra_env)

    def run_to_completion(
        self, container: dict[str, Any], timeout: float = 300, extra_env: dict[str, str] | None = None
    ) -> Process:
        process = self.process(container, extra_env).start()
        code = process.wait(timeout)
        if code != 0:
            raise PodError(f"{process.name} exited with {code}\n{process.tail()}")
        return process

    def start(self, container: dict[str, Any], extra_env: dict[str, str] | None = None) -> Process:
        return self.process(container, extra_env).start()

    def enforce_size_limits(self) -> None:
        """The kubelet evicts a pod whose emptyDir outgrows its sizeLimit (a Memory one is a tmpfs of that size): in
        the sandbox each such volume becomes a tmpfs of exactly that size, so the write that would get the pod
        evicted fails here (ENOSPC). Mounted once, when the first container starts; unmounted by stop()."""
        if not self.sandbox:
            return
        for path, size in list(self.size_limits.items()):
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "emptydir", str(path)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise PodError(
                    f"pod {self.name}: cannot mount a tmpfs of {size} bytes on {path} to enforce the "
                    f"emptyDir's sizeLimit: {done.stderr.strip()}"
                )
            _TMPFS.append(path)
            del self.size_limits[path]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for path in [p for p in self.volumes.values() if p in _TMPFS]:
            _unmount(path)
