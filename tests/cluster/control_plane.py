"""A real Kubernetes control plane on 127.0.0.1 for the cluster tier: etcd, kube-apiserver (RBAC, Pod
Security admission and the other default admission plugins), kube-controller-manager, kube-scheduler and
kwok with fake nodes, so Deployments become Available and Jobs Complete without a kubelet.

Binaries come from the tool cache (`python3 ci/tools.py ensure`); logs go to `ci-artifacts/cluster/`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.pki import Pki, kubeconfig, make_pki
from tests.conftest import REPO, free_port
from tests.e2e.pod import Process

ARTIFACTS = REPO / "ci-artifacts" / "cluster"
SHARED_CRDS = REPO.parent / "shared" / "crds"
READY_TIMEOUT = 120
FAKE_NODES = (("kwok-node-a", "zone-a"), ("kwok-node-b", "zone-b"))


class ClusterError(Exception):
    pass


def tool(part: str, binary: str) -> Path:
    """A binary from the tool cache, or a failure that says how to build it."""
    try:
        from ci.tools import path
    except ImportError as exc:  # pragma: no cover - the repository always has ci/tools.py
        raise ClusterError(f"ci/tools.py cannot be imported: {exc}") from exc
    try:
        return path(part, binary)
    except Exception as exc:
        raise ClusterError(f"{part}/{binary} is not built: run `python3 ci/tools.py ensure {part}` ({exc})") from exc


@dataclass
class ControlPlane:
    root: Path
    pki: Pki
    server: str
    kubeconfig: Path
    processes: list[Process] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(tool("kubernetes", "kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: exit {done.returncode}\n{done.stderr}{done.stdout}")
        return done

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def env(self) -> dict[str, str]:
        """Environment for a process that talks to this cluster (controllers out of cluster)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Process:
        process = Process(
            name=name, argv=list(argv), env=env or self.env(), cwd=self.root, log=ARTIFACTS / f"{name}.log"
        ).start()
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(grace=5)
        self.processes.clear()

    def wait_for(self, what: str, *, probe: Callable[[], bool], timeout: float = READY_TIMEOUT) -> float:
        """Poll `probe()` until it returns true; the seconds it took."""
        started = time.monotonic()
        last: Exception | None = None
        while time.monotonic() - started < timeout:
            for process in self.processes:
                if not process.running():
                    raise ClusterError(f"{process.name} exited while waiting for {what}\n{process.tail()}")
            try:
                if probe():
                    return time.monotonic() - started
            except (ClusterError, subprocess.TimeoutExpired, OSError) as exc:
                last = exc
            time.sleep(0.25)
        raise ClusterError(f"{what}: not within {timeout:.0f} s ({last})")

    def install_crds(self, files: Iterable[Path]) -> list[str]:
        names = []
        for path in files:
            done = self.kubectl(
                "apply", "--server-side", "--field-manager=cluster-tests", "-f", str(path), "-o", "name"
            )
            names += [line.strip() for line in done.stdout.splitlines() if line.strip()]
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
        return names


def start_control_plane(root: Path) -> ControlPlane:
    """Start etcd, the API server, controller-manager, scheduler and kwok; return once a fake node is Ready."""
    root.mkdir(parents=True, exist_ok=True)
    pki = make_pki(root / "pki")
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    plane = ControlPlane(root, pki, server, kubeconfig(root / "kubeconfig", server, pki))
    etcd_client, etcd_peer = free_port(), free_port()
    started = time.monotonic()
    plane.start(
        "etcd",
        [
            str(tool("etcd", "etcd")),
            "--data-dir",
            str(root / "etcd"),
            "--name",
            "test",
            "--listen-client-urls",
            f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster",
            f"test=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync",
            "--log-level",
            "warn",
        ],
    )
    plane.start(
        "kube-apiserver",
        [
            str(tool("kubernetes", "kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.server_cert}",
            f"--tls-private-key-file={pki.server_key}",
            f"--client-ca-file={pki.ca}",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={pki.sa_public}",
            f"--service-account-signing-key-file={pki.sa_private}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            f"--cert-dir={root / 'certs'}",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
        ],
    )
    plane.timings["etcd + kube-apiserver ready"] = plane.wait_for(
        "kube-apiserver /readyz", probe=lambda: plane.kubectl("get", "--raw", "/readyz", check=False).returncode == 0
    )
    plane.start(
        "kube-controller-manager",
        [
            str(tool("kubernetes", "kube-controller-manager")),
            f"--kubeconfig={plane.kubeconfig}",
            "--leader-elect=false",
            f"--secure-port={free_port()}",
            "--bind-address=127.0.0.1",
            f"--service-account-private-key-file={pki.sa_private}",
            f"--root-ca-file={pki.ca}",
            "--use-service-account-credentials=false",
            "--controllers=*,-nodeipam,-service-lb-controller",
            "--v=1",
        ],
    )
    plane.start(
        "kube-scheduler",
        [
            str(tool("kubernetes", "kube-scheduler")),
            f"--kubeconfig={plane.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--v=1",
        ],
    )
    # kwok's client-go asks for watch-list streams, which kube-apiserver refuses on etcd older than 3.5.13
    # (RequestWatchProgress); each refused watch ends and relists, delaying pod transitions by tens of seconds.
    plane.start(
        "kwok",
        [
            str(tool("kwok", "kwok")),
            f"--kubeconfig={plane.kubeconfig}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            # Without leases kwok's status heartbeats can lag past the node monitor's grace period, and the node
            # lifecycle controller marks the nodes (and their pods) NotReady.
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{free_port()}",
        ],
    )
    for node, zone in FAKE_NODES:
        plane.kubectl("apply", "-f", "-", input=_node(node, zone))
    plane.timings["fake nodes Ready"] = plane.wait_for(
        "fake nodes Ready",
        probe=lambda: (
            all(
                any(
                    c["type"] == "Ready" and c["status"] == "True" for c in item.get("status", {}).get("conditions", [])
                )
                for item in plane.get("nodes")["items"]
            )
            and len(plane.get("nodes")["items"]) == len(FAKE_NODES)
        ),
    )
    plane.wait_for(
        "the default ServiceAccount",
        probe=lambda: plane.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
    )
    plane.timings["control plane"] = time.monotonic() - started
    return plane


def _node(name: str, zone: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/zone": zone,
                    "type": "kwok",
                },
            },
            "spec": {},
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            },
        }
    )


def shared_crds() -> list[Path]:
    """Every CRD file of ../shared/crds (the platform's CRDs at the versions we render for)."""
    if not SHARED_CRDS.is_dir():
        raise ClusterError(f"{SHARED_CRDS} not found: the cluster tier installs the platform CRDs from there")
    return sorted(p for p in SHARED_CRDS.rglob("*") if p.suffix in (".yaml", ".yml"))
