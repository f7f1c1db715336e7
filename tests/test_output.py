"""The output folder: layout, kustomize, determinism across processes, atomic replacement, cdk8s CLI parity."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from mlflow_gitops.config.load import ENV_OVERRIDES
from mlflow_gitops.output import header
from tests.conftest import EXAMPLES, REPO
from tests.test_config import tree_digest


def synth(run_cli, out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = run_cli("synth", "--out", str(out), *extra, env=env)
    assert result.returncode == 0, result.stderr
    return result


def test_units_hold_one_file_per_object_and_a_kustomization(tmp_path, run_cli):
    result = synth(run_cli, tmp_path / "dist")
    folder = tmp_path / "dist" / "default"
    assert sorted(p.name for p in folder.iterdir()) == [
        "app",
        "bootstrap",
        "entry",
        "flux",
        "kustomization.yaml",
        "platform",
    ]
    top = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert top["resources"] == ["platform", "bootstrap", "app"], "the engine's folder is not part of the build"
    seen: dict[str, set[str]] = {}
    for unit in ("platform", "bootstrap", "app", "flux"):
        files = sorted(p.name for p in (folder / unit).iterdir())
        kustomization = yaml.safe_load((folder / unit / "kustomization.yaml").read_text())
        assert sorted(kustomization["resources"]) == [f for f in files if f != "kustomization.yaml"]
        for name in kustomization["resources"]:
            docs = list(yaml.safe_load_all((folder / unit / name).read_text()))
            assert len(docs) == 1
            meta = docs[0]["metadata"]
            assert name == f"{meta.get('namespace', 'cluster')}_{docs[0]['kind'].lower()}_{meta['name']}.yaml"
            seen.setdefault(unit, set()).add(docs[0]["kind"])
    assert seen["platform"] == {"Namespace", "ExternalSecret", "Database", "NetworkPolicy"}
    assert seen["bootstrap"] == {"ServiceAccount", "ConfigMap", "Job"}
    assert seen["app"] == {
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "IngressRoute",
        "Middleware",
        "PodDisruptionBudget",
    }  # no ServiceMonitor: the default cluster has no Prometheus Operator
    assert seen["flux"] == {"Kustomization"}
    assert "default: 38 objects" in result.stdout
    assert "Deployment 1" in result.stdout and str(folder) in result.stdout


def test_kubectl_kustomize_builds_each_environment(tmp_path, run_cli):
    synth(run_cli, tmp_path / "dist", "--config-dir", str(EXAMPLES), "--env", "staging", "--env", "default")
    for env in ("default", "staging"):
        for folder in ("", "platform", "bootstrap", "app", "flux"):
            built = subprocess.run(
                ["kubectl", "kustomize", str(tmp_path / "dist" / env / folder)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert built.returncode == 0, built.stderr
            kinds = {d["kind"] for d in yaml.safe_load_all(built.stdout)}
            assert kinds, f"{env}/{folder} built nothing"
        whole = {
            d["kind"]
            for d in yaml.safe_load_all(
                subprocess.run(
                    ["kubectl", "kustomize", str(tmp_path / "dist" / env)], capture_output=True, text=True
                ).stdout
            )
        }
        assert {"Deployment", "ExternalSecret", "Job", "Database"} <= whole
        assert "Kustomization" not in whole


def test_same_config_gives_the_same_bytes_in_fresh_processes(tmp_path, run_cli):
    args = ("--config-dir", str(EXAMPLES), "--env", "staging", "--env", "default")
    synth(run_cli, tmp_path / "a", *args, env={"PYTHONHASHSEED": "1"})
    synth(run_cli, tmp_path / "b", *args, env={"PYTHONHASHSEED": "2"})
    first = tree_digest(tmp_path / "a")
    assert len(first) > 50
    assert first == tree_digest(tmp_path / "b")


def test_resynth_replaces_the_environment_folder_and_keeps_others(tmp_path, run_cli):
    out = tmp_path / "dist"
    synth(run_cli, out)
    stale = header("default") + "apiVersion: batch/v1\nkind: Job\n"  # an object an older render had
    (out / "default" / "bootstrap" / "mlflow_job_mlflow-db-migration-stale.yaml").write_text(stale)
    (out / "other-env").mkdir()
    (out / "other-env" / "keep.yaml").write_text("keep: true\n")
    synth(run_cli, out, env={"MLFLOW_IMAGE_TAG": "3.6.1-oidc"})
    files = {p.name for p in (out / "default" / "bootstrap").iterdir()}
    assert "mlflow_job_mlflow-db-migration-stale.yaml" not in files
    assert len([f for f in files if f.startswith("mlflow_job_mlflow-db-migration-")]) == 1
    assert (out / "other-env" / "keep.yaml").exists()
    assert sorted(p.name for p in out.iterdir()) == ["default", "other-env"], "no staging folder left behind"


def test_cdk8s_synth_and_the_cli_write_the_same_files(tmp_path, run_cli):
    npx = shutil.which("npx")
    assert npx, "npx is needed (make setup installs the cdk8s CLI)"
    assert (REPO / "node_modules" / ".bin" / "cdk8s").exists(), "run `make setup` (npm ci) first"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CDK8S_CHECK_UPGRADE": "false",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    for var in ENV_OVERRIDES:
        env.pop(var, None)
    result = subprocess.run(
        [npx, "cdk8s", "synth", "--output", str(tmp_path / "cdk8s")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    cli = subprocess.run(
        [sys.executable, "-m", "mlflow_gitops", "synth", "--out", str(tmp_path / "cli")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert tree_digest(tmp_path / "cdk8s") == tree_digest(tmp_path / "cli")
    assert (tmp_path / "cli" / "default" / "kustomization.yaml").exists()
