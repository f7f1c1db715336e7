"""The example GitHub Actions workflow (examples/github/workflows/mlflow-gitops.yml): clean under actionlint (built
from source by ci/tools.py) and zizmor's pedantic audits, and the hardening its header promises."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.checkers.support import run, tool
from tests.conftest import REPO

WORKFLOW = REPO / "examples" / "github" / "workflows" / "mlflow-gitops.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def workflow() -> dict[Any, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return dict(doc)


def steps(job: str) -> list[dict[str, Any]]:
    return list(workflow()["jobs"][job]["steps"])


def test_actionlint_finds_nothing() -> None:
    done = run([tool("actionlint"), "-no-color", WORKFLOW])
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_zizmor_pedantic_finds_nothing(tmp_path: Path) -> None:
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent))
    assert zizmor, "zizmor is in the test extra (pip install -e .[test])"
    done = run([zizmor, "--offline", "--persona", "pedantic", "--no-progress", WORKFLOW], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_actions_are_pinned_by_commit_and_checkouts_keep_no_credentials() -> None:
    text = WORKFLOW.read_text()
    for job in workflow()["jobs"]:
        for step in steps(job):
            if "uses" in step:
                assert PINNED.match(step["uses"]), step["uses"]
                line = next(x for x in text.splitlines() if step["uses"] in x)
                assert re.search(r"#\s*v\d+\.\d+\.\d+$", line), f"no version comment: {line}"
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            if str(step.get("uses", "")).startswith("actions/setup-python@"):
                assert step["with"]["cache"] == "pip"
            assert "${{" not in str(step.get("run", "")), f"an expression expanded inside a script: {step}"


def test_permissions_are_per_job_and_the_diff_job_reads_only() -> None:
    doc = workflow()
    assert doc["permissions"] == {}
    assert doc["jobs"]["diff"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert doc["jobs"]["publish"]["permissions"] == {"contents": "read"}
    diff = yaml.safe_dump(doc["jobs"]["diff"])
    assert "secrets.GITOPS_READ_TOKEN" in diff and "secrets.GITOPS_TOKEN" not in diff
    assert doc["jobs"]["publish"]["environment"] == "gitops-publish"


def test_the_diff_job_renders_once_and_comments_in_place() -> None:
    scripts = [str(s.get("run", "")) for s in steps("diff")]
    assert sum("mlflow-gitops synth" in s for s in scripts) == 1
    [diff] = [s for s in scripts if "mlflow-gitops diff" in s]
    assert "--rendered dist" in diff and "--comment-on-pr" in diff and "--format markdown" in diff
    # one folder rule: each environment's gitops.path, so no --path anywhere
    assert "--path" not in WORKFLOW.read_text().split("name: mlflow-gitops", 1)[1]
