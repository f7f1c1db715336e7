"""Real Flux reconciles what `publish` pushed: a git repository served over smart HTTP on 127.0.0.1, Flux's
source-controller and kustomize-controller (built from source) against the test control plane.

For every Flux environment shipped (the default and the examples), each Kustomization becomes Ready in
`dependsOn` order, the Jobs Complete, the Deployments Available, every pod admitted under restricted. Then,
on a two-instance environment: a second reconcile changes nothing; a changed Job setting runs the new Job
and prunes the old; removing an instance prunes exactly its objects.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlflow_gitops.names import UNITS
from tests.cluster.control_plane import ARTIFACTS, ControlPlane
from tests.cluster.flux import NAMESPACE, Flux
from tests.cluster.git_http import GitHttpServer
from tests.cluster.test_apply import all_done, platform_namespaces, refused_pods
from tests.conftest import EXAMPLES, REPO

PATH = "clusters/test"
READY_TIMEOUT = 240


def publish(config: Path, env: str, url: str, extra: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow_gitops",
            "publish",
            "--config-dir",
            str(config),
            "--env",
            env,
            "--repo",
            url,
            "--path",
            PATH,
            "--branch",
            "main",
            "--base",
            "main",
            "--workdir",
            str(config.parent / "work"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**__import__("os").environ, **(extra or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def kustomizations(env: str) -> list[str]:
    return [f"mlflow-{env}-{unit}" for unit in UNITS]


def bootstrap_source(plane: ControlPlane, name: str, url: str) -> None:
    """What `flux bootstrap` would have made: the GitRepository the rendered Kustomizations read."""
    plane.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}},
            }
        ),
    )


def apply_engine(plane: ControlPlane, checkout: Path, env: str) -> None:
    """What a cluster's bootstrap path would apply: the rendered entry point alone (it applies the rest)."""
    platform_namespaces(plane, checkout / PATH / env)
    plane.kubectl("apply", "--server-side", "--field-manager=bootstrap", "-k", str(checkout / PATH / env / "entry"))


def wait_ready_in_order(plane: ControlPlane, flux: Flux, env: str) -> dict[str, float]:
    """Seconds from now until each Kustomization was first seen Ready."""
    started, seen = time.monotonic(), {}

    def probe() -> bool:
        for name in kustomizations(env):
            if name not in seen and flux.ready("kustomization", name)[0]:
                seen[name] = time.monotonic() - started
        return len(seen) == len(UNITS)

    try:
        plane.wait_for(f"{env}: Kustomizations Ready", timeout=READY_TIMEOUT, probe=probe)
    except Exception:
        states = {name: flux.ready("kustomization", name) for name in kustomizations(env)}
        raise AssertionError(f"not Ready: {states}") from None
    return seen


def inventory(plane: ControlPlane, name: str) -> list[tuple[str, str, str, str]]:
    """(namespace, name, group, kind) of every object a Kustomization applied."""
    entries = plane.get("kustomization", name, "-n", NAMESPACE)["status"]["inventory"]["entries"]
    return [tuple(entry["id"].split("_", 3)) for entry in entries]  # type: ignore[misc]


def versions(plane: ControlPlane, env: str) -> dict[str, str]:
    found = {}
    for kustomization in kustomizations(env):
        for namespace, name, group, kind in inventory(plane, kustomization):
            resource = f"{kind}.{group}" if group else kind
            args = ["-n", namespace] if namespace else []
            item = plane.get(resource, name, *args)
            found[f"{resource}/{namespace}/{name}"] = item["metadata"]["resourceVersion"]
    return found


def reconcile_all(flux: Flux, env: str, source: str) -> None:
    flux.reconcile("gitrepository", source)
    for name in [f"mlflow-{env}", *kustomizations(env)]:
        flux.reconcile("kustomization", name, timeout=READY_TIMEOUT)


def remove(plane: ControlPlane, env: str) -> None:
    """Delete the Kustomizations: Flux prunes what they applied (their finalizer); wait until the namespaces
    they made are gone, so that the next environment does not meet a terminating one."""
    namespaces = namespaces_of(plane, env)
    for name in [f"mlflow-{env}", *reversed(kustomizations(env))]:  # the entry first: it would re-create them
        plane.kubectl(
            "delete", "kustomization", name, "-n", NAMESPACE, "--wait=true", "--timeout=180s", "--ignore-not-found"
        )
    for namespace in namespaces:
        plane.kubectl("wait", "--for=delete", f"namespace/{namespace}", "--timeout=180s", check=False)


def namespaces_of(plane: ControlPlane, env: str) -> list[str]:
    """The namespaces the platform unit created (inventory ids of cluster-scoped objects have no namespace)."""
    return sorted(name for _, name, _, kind in inventory(plane, f"mlflow-{env}-platform") if kind == "Namespace")


def record(env: str, text: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "flux.txt").open("a") as handle:
        handle.write(f"{env}: {text}\n")


@pytest.mark.parametrize("env", ["default", "dev", "staging"])
def test_flux_reconciles_each_environment_in_order(
    env: str, plane: ControlPlane, flux: Flux, git_server: GitHttpServer, tmp_path: Path
) -> None:
    bare, url = git_server.repository(f"gitops-{env}")
    config = tmp_path / "environments"
    config.mkdir()
    source = "flux-system"
    if env == "default":
        (config / "default.yaml").write_text("gitops:\n  interval: 1m\n  timeout: 4m\n")
    else:
        for base in EXAMPLES.glob("_*.yaml"):  # the shared bases the examples extend
            (config / base.name).write_text(base.read_text())
        doc = yaml.safe_load((EXAMPLES / f"{env}.yaml").read_text())
        doc.setdefault("gitops", {}).update({"interval": "1m", "timeout": "4m"})
        if doc["gitops"].get("repository", {}).get("url"):
            doc["gitops"]["repository"]["url"] = url  # the loopback server instead of the forge
            source = f"mlflow-gitops-{env}"
            secret = doc["gitops"]["repository"].get("secretName")
            if secret:
                plane.kubectl("create", "secret", "generic", secret, "-n", NAMESPACE, check=False)
        (config / f"{env}.yaml").write_text(yaml.safe_dump(doc))
    publish(config, env, str(bare))
    if source == "flux-system":
        bootstrap_source(plane, source, url)
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(bare), str(checkout)], check=True)
    started = time.monotonic()
    apply_engine(plane, checkout, env)
    ready = wait_ready_in_order(plane, flux, env)
    names = kustomizations(env)
    assert ready[names[0]] <= ready[names[1]] <= ready[names[2]], ready
    namespaces = namespaces_of(plane, env)
    assert all_done(plane, namespaces)
    assert refused_pods(plane, namespaces) == []
    objects = sum(len(inventory(plane, n)) for n in names)
    record(
        env,
        f"{objects} objects; Ready after "
        + ", ".join(f"{n.rsplit('-', 1)[1]} {ready[n]:.1f} s" for n in names)
        + f" (from the engine objects' apply; {time.monotonic() - started:.1f} s in all)",
    )
    remove(plane, env)
    if source == "flux-system":
        plane.kubectl("delete", "gitrepository", source, "-n", NAMESPACE, "--wait=true")


TEAM = """gitops:
  interval: 1m
  timeout: 4m
  repository: {{url: '{url}'}}
bootstrap:
  minio: {{versioning: {versioning}}}
instances:
{instances}"""


def jobs_complete(plane: ControlPlane, namespace: str) -> bool:
    jobs = plane.get("jobs", "-n", namespace)["items"]
    conditions = [j.get("status", {}).get("conditions", []) for j in jobs]
    return bool(jobs) and all(any(c["type"] == "Complete" and c["status"] == "True" for c in cs) for cs in conditions)


def team(url: str, instances: list[str], versioning: bool = False, retired: tuple[str, ...] = ()) -> str:
    entries = "".join(f"  - name: {name}\n" + ("    retired: true\n" if name in retired else "") for name in instances)
    return TEAM.format(url=url, versioning=str(versioning).lower(), instances=entries)


def test_reconcile_again_change_a_job_and_remove_an_instance(
    plane: ControlPlane, flux: Flux, git_server: GitHttpServer, tmp_path: Path
) -> None:
    bare, url = git_server.repository("gitops-team")
    config = tmp_path / "environments"
    config.mkdir()
    (config / "team.yaml").write_text(team(url, ["alpha", "beta"]))
    publish(config, "team", str(bare))
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(bare), str(checkout)], check=True)
    apply_engine(plane, checkout, "team")
    wait_ready_in_order(plane, flux, "team")
    assert all_done(plane, ["alpha", "beta"])

    # 1. a second reconcile changes nothing
    before = versions(plane, "team")
    reconcile_all(flux, "team", "mlflow-gitops-team")
    assert versions(plane, "team") == before

    # 2. a changed Job setting: the new minio-setup Job runs, the old one is pruned, nothing else changes
    old_jobs = {j["metadata"]["name"] for j in plane.get("jobs", "-n", "alpha")["items"]}
    (config / "team.yaml").write_text(team(url, ["alpha", "beta"], versioning=True))
    publish(config, "team", str(bare))
    reconcile_all(flux, "team", "mlflow-gitops-team")
    plane.wait_for("the new Jobs Complete", timeout=READY_TIMEOUT, probe=lambda: all_done(plane, ["alpha", "beta"]))
    new_jobs = {j["metadata"]["name"] for j in plane.get("jobs", "-n", "alpha")["items"]}
    assert len(new_jobs) == len(old_jobs) and len(new_jobs - old_jobs) == 1
    [added] = new_jobs - old_jobs
    [gone] = old_jobs - new_jobs
    assert added.startswith("alpha-minio-setup-") and gone.startswith("alpha-minio-setup-")
    after = versions(plane, "team")
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert all("minio-setup" in k for k in changed), sorted(changed)

    # 3. retiring an instance: its server and databases' objects are pruned, its cleanup Jobs run in its namespace
    databases = [plane.get("database.postgresql.cnpg.io", name, "-n", "postgres") for name in ("beta", "beta-auth")]
    assert all(d["spec"]["databaseReclaimPolicy"] == "retain" for d in databases)
    (config / "team.yaml").write_text(team(url, ["alpha", "beta"], versioning=True, retired=("beta",)))
    publish(config, "team", str(bare))
    reconcile_all(flux, "team", "mlflow-gitops-team")
    plane.wait_for("the cleanup Jobs Complete", timeout=READY_TIMEOUT, probe=lambda: jobs_complete(plane, "beta"))
    jobs = sorted(j["metadata"]["name"].rsplit("-", 1)[0] for j in plane.get("jobs", "-n", "beta")["items"])
    assert jobs == ["beta-minio-cleanup", "beta-oidc-cleanup"], jobs
    assert plane.get("deployments", "-n", "beta")["items"] == []
    assert plane.kubectl("get", "database.postgresql.cnpg.io", "beta", "-n", "postgres", check=False).returncode != 0
    retired = versions(plane, "team")
    assert {k: after[k] for k in retired if k in after and "beta" not in k} == {
        k: v for k, v in retired.items() if "beta" not in k
    }, "objects of the remaining instance changed"
    assert any(k.endswith("/beta") and k.startswith("Namespace/") for k in retired), "the namespace stays"

    # 4. removing the retired entry prunes exactly what was left of it, the namespace with it
    after = retired
    beta = {k for k in after if "/beta/" in k or k.endswith("/beta") or "/beta-" in k}
    (config / "team.yaml").write_text(team(url, ["alpha"], versioning=True))
    publish(config, "team", str(bare))
    reconcile_all(flux, "team", "mlflow-gitops-team")
    plane.wait_for(
        "namespace beta gone",
        timeout=READY_TIMEOUT,
        probe=lambda: plane.kubectl("get", "namespace", "beta", check=False).returncode != 0,
    )
    final = versions(plane, "team")
    assert set(after) - set(final) == beta, sorted((set(after) - set(final)) ^ beta)
    assert {k: after[k] for k in final} == final, "objects of the remaining instance changed"
    remove(plane, "team")
