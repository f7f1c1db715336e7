"""Flux's source-controller and kustomize-controller, built from source (ci/tools.py), run out of cluster
against the test control plane, and the helpers that drive a reconcile and read its outcome."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.control_plane import ClusterError, ControlPlane, tool
from tests.conftest import free_port
from tests.e2e.pod import Process

NAMESPACE = "flux-system"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


def flux_crds() -> list[Path]:
    """Every CRD of the two controllers, from their module sources in the tool cache (data, not committed)."""
    part = tool("flux", "source-controller").parents[1]
    found = sorted(part.glob("crds/*.yaml"))
    if not found:
        raise ClusterError(f"no Flux CRDs under {part}/crds: rebuild with `python3 ci/tools.py ensure flux`")
    return found


@dataclass
class Flux:
    plane: ControlPlane
    processes: list[Process]

    def stop(self) -> None:
        for process in self.processes:
            process.stop(grace=5)

    def reconcile(self, kind: str, name: str, namespace: str = NAMESPACE, timeout: float = 120) -> float:
        """Ask for a reconcile now and wait until the controller has handled it; the seconds it took."""
        stamp = f"{time.time():.6f}"
        self.plane.kubectl("annotate", "--overwrite", "-n", namespace, kind, name, f"{REQUESTED_AT}={stamp}")
        return self.plane.wait_for(
            f"{kind}/{name} reconciled",
            timeout=timeout,
            probe=lambda: (
                self.plane.get(kind, name, "-n", namespace).get("status", {}).get("lastHandledReconcileAt") == stamp
            ),
        )

    def ready(self, kind: str, name: str, namespace: str = NAMESPACE) -> tuple[bool, str]:
        conditions = self.plane.get(kind, name, "-n", namespace).get("status", {}).get("conditions", [])
        for condition in conditions:
            if condition["type"] == "Ready":
                return condition["status"] == "True", condition.get("message", "")
        return False, "no Ready condition yet"


def start_flux(plane: ControlPlane) -> Flux:
    """Start both controllers watching every namespace (their CRDs must be installed)."""
    plane.kubectl("create", "namespace", NAMESPACE, check=False)
    storage, health = free_port(), free_port()
    (plane.root / "flux-storage").mkdir(exist_ok=True)
    source = plane.start(
        "source-controller",
        [
            str(tool("flux", "source-controller")),
            "--watch-all-namespaces=true",
            f"--storage-path={plane.root / 'flux-storage'}",
            f"--storage-addr=127.0.0.1:{storage}",
            f"--storage-adv-addr=127.0.0.1:{storage}",
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-addr=127.0.0.1:{health}",
            "--log-level=info",
            "--concurrent=4",
            "--requeue-dependency=5s",
        ],
    )
    kustomize = plane.start(
        "kustomize-controller",
        [
            str(tool("flux", "kustomize-controller")),
            "--watch-all-namespaces=true",
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-addr=127.0.0.1:{free_port()}",
            "--log-level=info",
            "--concurrent=4",
            "--requeue-dependency=5s",
        ],
    )
    return Flux(plane, [source, kustomize])
