"""Server-side apply of every environment's units, in the engine's order, against a real API server with
Pod Security admission: dry-run first, then for real, zero errors and zero warnings; then the controllers
(kube-controller-manager, kube-scheduler, kwok's fake nodes) run what was applied: every Job Complete,
every Deployment Available, every pod admitted under `enforce: restricted`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path

import pytest
import yaml

from mlflow_gitops.names import UNITS
from tests.cluster.control_plane import ARTIFACTS, ClusterError, ControlPlane
from tests.conftest import EXAMPLES, REPO

ENVIRONMENTS = {"default": None, "dev": EXAMPLES, "staging": EXAMPLES, "prod": EXAMPLES}
FIELD_MANAGER = "mlflow-gitops-tests"


def synth(env: str, config: Path | None, out: Path) -> Path:
    args = ["synth", "--quiet", "--out", str(out), "--env", env, *(["--config-dir", str(config)] if config else [])]
    done = subprocess.run(
        [sys.executable, "-m", "mlflow_gitops", *args], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return out / env


def apply(plane: ControlPlane, folder: Path) -> tuple[list[str], list[str]]:
    """Server-side apply a kustomize folder in Flux's kustomize-controller's stages, Namespaces (and CRDs)
    first, then the rest, each a dry run first and then for real (a dry run cannot place objects in a
    namespace the same apply creates); the objects applied and every line kubectl printed on stderr."""
    docs = [d for d in yaml.safe_load_all(plane.kubectl("kustomize", str(folder)).stdout) if d]
    first = [d for d in docs if d["kind"] in ("Namespace", "CustomResourceDefinition")]
    names: list[str] = []
    printed: list[str] = []
    for stage in (first, [d for d in docs if d not in first]):
        for dry_run in (True, False) if stage else ():
            done = plane.kubectl(
                "apply",
                "--server-side",
                f"--field-manager={FIELD_MANAGER}",
                "-f",
                "-",
                "-o",
                "name",
                *(["--dry-run=server"] if dry_run else []),
                input=yaml.safe_dump_all(stage),
                check=False,
            )
            assert done.returncode == 0, f"{folder.name}{' (dry run)' if dry_run else ''}: {done.stderr}"
            printed += [
                f"{folder.name}{' (dry run)' if dry_run else ''}: {line}"
                for line in done.stderr.splitlines()
                if line.strip()
            ]
            if not dry_run:
                names += [line for line in done.stdout.splitlines() if line.strip()]
    return names, printed


def platform_namespaces(plane: ControlPlane, folder: Path) -> None:
    """The namespaces the platform's services live in (PostgreSQL, ...), which the cluster already has."""
    docs = [d for d in yaml.safe_load_all(plane.kubectl("kustomize", str(folder / "platform")).stdout) if d]
    created = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    for namespace in sorted({d["metadata"].get("namespace") for d in docs} - created - {None}):
        plane.kubectl("create", "namespace", namespace, check=False)


def job_namespaces(plane: ControlPlane, folder: Path) -> set[str]:
    """Where the bootstrap unit's Jobs run (the db-role Job in PostgreSQL's namespace)."""
    docs = yaml.safe_load_all(plane.kubectl("kustomize", str(folder / "bootstrap")).stdout)
    return {d["metadata"]["namespace"] for d in docs if d and d["kind"] == "Job"}


def all_done(plane: ControlPlane, namespaces: list[str], jobs_only: Collection[str] = ()) -> bool:
    """Every Job Complete and Deployment Available; a namespace of `jobs_only` (the platform's, where the db-role
    Job runs) or of a retired instance holds Jobs alone."""
    for namespace in namespaces:
        jobs = plane.get("jobs", "-n", namespace)["items"]
        deployments = plane.get("deployments", "-n", namespace)["items"]
        complete = all(
            any(c["type"] == "Complete" and c["status"] == "True" for c in j.get("status", {}).get("conditions", []))
            for j in jobs
        )
        available = all(
            d.get("status", {}).get("availableReplicas", 0) >= (d["spec"].get("replicas") or 1) for d in deployments
        )
        retired = namespace in jobs_only or all(
            j["metadata"]["labels"]["app.kubernetes.io/component"].endswith("-cleanup") for j in jobs
        )
        if not (jobs and (deployments or retired) and complete and available):  # a retired instance: Jobs only
            return False
    return True


def pending(plane: ControlPlane, namespaces: list[str]) -> str:
    """What is not done yet: each Job, Deployment and pod with its status, and the namespaces' warnings."""
    lines = []
    for namespace in namespaces:
        for kind in ("jobs", "deployments", "pods"):
            for item in plane.get(kind, "-n", namespace)["items"]:
                status = item.get("status", {})
                lines.append(
                    f"{namespace} {kind}/{item['metadata']['name']}: {status.get('conditions') or status.get('phase')}"
                )
        lines += [
            f"{namespace} event {e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e['reason']}: "
            f"{e.get('message', '')}"
            for e in plane.get("events", "-n", namespace)["items"]
            if e.get("type") == "Warning"
        ]
    return "\n".join(lines)


def refused_pods(plane: ControlPlane, namespaces: list[str]) -> list[str]:
    """Events of pods the API server refused to create (Pod Security, quota, ...)."""
    found = []
    for namespace in namespaces:
        for event in plane.get("events", "-n", namespace)["items"]:
            if event.get("reason") in ("FailedCreate", "FailedCreatePodSandBox") or "forbidden" in event.get(
                "message", ""
            ):
                found.append(
                    f"{namespace}: {event['involvedObject']['kind']}/{event['involvedObject']['name']}: "
                    f"{event['message']}"
                )
    return found


def assert_restricted_enforced(plane: ControlPlane, namespace: str) -> None:
    """The control: the API server really enforces restricted there (a root pod is refused)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root-probe", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"runAsUser": 0}}]},
    }
    done = plane.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod), check=False)
    assert done.returncode != 0 and 'violates PodSecurity "restricted:latest"' in done.stderr, done.stderr


def delete_all(plane: ControlPlane, folder: Path, engine: Path) -> None:
    """Remove what an environment applied, so the next one starts from the platform's namespaces alone."""
    if (folder / "entry").is_dir():
        plane.kubectl(
            "delete", "-k", str(folder / "entry"), "--wait=true", "--timeout=60s", "--ignore-not-found", check=False
        )
    plane.kubectl("delete", "-k", str(engine), "--wait=true", "--timeout=60s", "--ignore-not-found", check=False)
    for unit in reversed(UNITS):
        plane.kubectl(
            "delete", "-k", str(folder / unit), "--wait=true", "--timeout=120s", "--ignore-not-found", check=False
        )


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_every_unit_applies_server_side_without_errors_or_warnings(
    env: str, plane: ControlPlane, tmp_path: Path
) -> None:
    folder = synth(env, ENVIRONMENTS[env], tmp_path / "dist")
    engine = next(p for p in (folder / "flux", folder / "argocd") if p.is_dir())
    try:
        check_apply(env, plane, folder, engine)
    finally:
        delete_all(plane, folder, engine)


def check_apply(env: str, plane: ControlPlane, folder: Path, engine: Path) -> None:
    started = time.monotonic()
    applied: dict[str, list[str]] = {}
    warnings = []
    platform_namespaces(plane, folder)
    for unit in UNITS:
        applied[unit], printed = apply(plane, folder / unit)
        warnings += printed
    owned = {name.split("/", 1)[1] for name in applied["platform"] if name.startswith("namespace/")}
    namespaces = sorted(owned | job_namespaces(plane, folder))
    try:
        seconds = plane.wait_for(
            f"{env}: Jobs Complete and Deployments Available",
            timeout=180,
            probe=lambda: all_done(plane, namespaces, set(namespaces) - owned),
        )
    except ClusterError as exc:
        raise AssertionError(f"{exc}\n{pending(plane, namespaces)}") from None
    plane.kubectl("create", "namespace", "flux-system" if engine.name == "flux" else "argocd", check=False)
    applied[engine.name], printed = apply(plane, engine)
    warnings += printed
    if (folder / "entry").is_dir():  # Flux's entry point, which a cluster's bootstrap path holds
        applied["entry"], printed = apply(plane, folder / "entry")
        warnings += printed
    refused = refused_pods(plane, namespaces)
    for namespace in sorted(owned):  # the platform's namespaces (PostgreSQL's) keep their own Pod Security
        assert_restricted_enforced(plane, namespace)
    total = sum(len(v) for v in applied.values())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"apply-{env}.txt").write_text(
        f"{env}: {total} objects applied ({', '.join(f'{k} {len(v)}' for k, v in applied.items())}); warnings "
        f"{len(warnings)}; Jobs Complete and Deployments Available {seconds:.1f} s after the apply; total "
        f"{time.monotonic() - started:.1f} s\n"
    )
    assert warnings == []
    assert refused == []
