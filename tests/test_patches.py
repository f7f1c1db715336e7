"""`patches:` of an environment file: merge and JSON patches of rendered objects, applied before the Jobs are
named (a patched Job is a new Job), refused at validate when the target does not exist and at synth when an
operation does not apply (exit 2, nothing written)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.constructs._hash import content_hash
from mlflow_gitops.constructs._object import canonical
from mlflow_gitops.constructs.patches import merge_patch

Run = Callable[..., subprocess.CompletedProcess[str]]
TWO = "instances:\n  - name: alpha\n  - name: beta\n"
PATCHES = """patches:
  - target: {kind: Deployment, name: beta, instance: beta}
    merge: {spec: {minReadySeconds: 10}, metadata: {labels: {team: beta}}}
    jsonPatch:
      - {op: add, path: /spec/template/spec/tolerations, value: [{key: gpu, operator: Exists, effect: NoSchedule}]}
  - target: {kind: Job, name: alpha-db-migration}
    merge: {spec: {backoffLimit: 1, activeDeadlineSeconds: null}}
"""


def docs_of(folder: Path, text: str) -> dict[tuple[str, str], dict]:
    (folder / "dev.yaml").write_text(text)
    [rendered] = render(load_environments(None, folder, {}))
    return {(d["kind"], d["metadata"]["name"]): d for d in rendered.documents}


def test_merge_patch_is_rfc_7386() -> None:
    assert merge_patch({"a": {"b": 1, "c": [1]}, "d": 2}, {"a": {"b": None, "c": [2]}, "e": 3}) == {
        "a": {"c": [2]},
        "d": 2,
        "e": 3,
    }


def test_patches_change_the_targets_only_and_a_patched_job_gets_a_new_name(tmp_path: Path) -> None:
    plain = docs_of(tmp_path, TWO)
    patched = docs_of(tmp_path, TWO + PATCHES)
    beta, alpha = patched[("Deployment", "beta")], patched[("Deployment", "alpha")]
    assert beta["spec"]["minReadySeconds"] == 10 and beta["metadata"]["labels"]["team"] == "beta"
    assert beta["spec"]["template"]["spec"]["tolerations"] == [
        {"effect": "NoSchedule", "key": "gpu", "operator": "Exists"}
    ]
    assert alpha == plain[("Deployment", "alpha")], "instance: beta leaves alpha alone"
    old = [name for kind, name in plain if kind == "Job" and name.startswith("alpha-db-migration-")]
    new = [name for kind, name in patched if kind == "Job" and name.startswith("alpha-db-migration-")]
    assert len(old) == len(new) == 1 and old != new
    job = patched[("Job", new[0])]
    assert job["spec"]["backoffLimit"] == 1 and "activeDeadlineSeconds" not in job["spec"]
    assert new[0] == f"alpha-db-migration-{content_hash(canonical(job['spec']), 10)}"
    others = {k for k in plain if k[0] == "Job" and not k[1].startswith("alpha-db-migration-")}
    assert others <= set(patched), "the other Jobs keep their names"


def test_bad_patches_exit_2_naming_the_entry(run_cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    cases = [
        (
            "patches:\n  - target: {kind: Deployment, name: nope}\n    merge: {spec: {minReadySeconds: 1}}\n",
            "patches[0].target.name: 'nope': no Deployment of this name in the render; its Deployments: mlflow",
        ),
        (
            "patches:\n  - target: {kind: Job, name: mlflow-db-migration, instance: zzz}\n    merge: {spec: {}}\n",
            "patches[0].target.instance: 'zzz': no such instance; the environment has mlflow",
        ),
        (
            "patches:\n  - target: {kind: Deployment, name: mlflow}\n    merge: {metadata: {name: other}}\n",
            "patches[0].merge.metadata",
        ),
        ("patches:\n  - target: {kind: Deployment, name: mlflow}\n", "patches[0]"),
    ]
    for text, message in cases:
        (config / "dev.yaml").write_text(text)
        done = run_cli("validate", "--config-dir", str(config))
        assert done.returncode == 2 and message in done.stderr, (text, done.stderr)
    (config / "dev.yaml").write_text(
        "patches:\n  - target: {kind: Deployment, name: mlflow}\n    jsonPatch:\n"
        "      - {op: remove, path: /spec/nothing/here}\n"
    )
    assert run_cli("validate", "--config-dir", str(config)).returncode == 0  # only rendering can tell
    done = run_cli("synth", "--config-dir", str(config), "--out", str(tmp_path / "dist"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert re.search(r"patches\[0\]: does not apply to Deployment mlflow: .*here", done.stderr), done.stderr
    assert not (tmp_path / "dist").exists()


def test_a_patched_render_is_written_and_listed(run_cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text(TWO + PATCHES)
    done = run_cli("synth", "--config-dir", str(config), "--out", str(tmp_path / "dist"), "--quiet")
    assert done.returncode == 0, done.stderr
    listed = yaml.safe_load((tmp_path / "dist" / "dev" / "bootstrap" / "kustomization.yaml").read_text())["resources"]
    files = sorted(p.name for p in (tmp_path / "dist" / "dev" / "bootstrap").glob("alpha_job_alpha-db-migration-*"))
    assert len(files) == 1 and files[0] in listed
