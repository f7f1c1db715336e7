"""`customize.py` beside the environment files: its `customize(platform)` extends each instance's platform
before `patches:` and before patched Jobs are named; a broken file is an exit-2 error naming its line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

Run = Callable[..., subprocess.CompletedProcess[str]]
CUSTOMIZE = """
def customize(platform):
    if platform.environment.name != "prod":
        return
    platform.server.add_toleration({"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"})
    platform.patch("Job", f"{platform.instance.name}-minio-setup", merge={"spec": {"backoffLimit": 6}})
    platform.add_object("platform", "quota", {
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "team-quota", "namespace": platform.names.namespace},
        "spec": {"hard": {"pods": "20"}},
    })
"""


def documents(folder: Path) -> list[dict]:
    return [
        d
        for p in sorted(folder.rglob("*.yaml"))
        if p.name != "kustomization.yaml"
        for d in yaml.safe_load_all(p.read_text())
        if d
    ]


def test_customize_extends_each_platform_before_jobs_are_named(run_cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    for env in ("dev", "prod"):
        (config / f"{env}.yaml").write_text("instances:\n  - name: alpha\n")
    (config / "customize.py").write_text(CUSTOMIZE)
    done = run_cli("synth", "--config-dir", str(config), "--out", str(tmp_path / "dist"), "--quiet")
    assert done.returncode == 0, done.stderr
    dev, prod = documents(tmp_path / "dist" / "dev"), documents(tmp_path / "dist" / "prod")
    [deployment] = [d for d in prod if d["kind"] == "Deployment"]
    assert {"effect": "NoSchedule", "key": "dedicated", "operator": "Equal", "value": "ml"} in deployment["spec"][
        "template"
    ]["spec"]["tolerations"]
    assert [d["metadata"]["name"] for d in prod if d["kind"] == "ResourceQuota"] == ["team-quota"]
    jobs = {
        env: {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
        for env, docs in (("dev", dev), ("prod", prod))
    }
    [dev_minio] = [n for n in jobs["dev"] if n.startswith("alpha-minio-setup-")]
    [prod_minio] = [n for n in jobs["prod"] if n.startswith("alpha-minio-setup-")]
    assert jobs["prod"][prod_minio]["spec"]["backoffLimit"] == 6 and dev_minio != prod_minio
    assert not any(d["kind"] == "ResourceQuota" for d in dev), "the function chose prod only"


def test_a_broken_customize_is_an_exit_2_error_naming_its_line(run_cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text("instances:\n  - name: alpha\n")
    for text, message in (
        (
            "def customize(platform):\n    platform.server.add_env('PGHOST', 'x')\n",
            "customize.py: customize(dev-alpha) failed at line 2: ValueError: add_env 'PGHOST': the render sets",
        ),
        ("def customize(platform):\n    platform.patch('Job', 'nope')\n", "ValueError: patch: no Job named nope"),
        ("import no_such_module\n", "customize.py: fails to load at line 1: ModuleNotFoundError"),
        ("x = 1\n", "customize.py: defines no function customize(platform)"),
    ):
        (config / "customize.py").write_text(text)
        done = run_cli("synth", "--config-dir", str(config), "--out", str(tmp_path / "dist"))
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "dist").exists()
