"""Every case of the bad-input corpus (tests/badinput/cases.py) through the real command line: exit 2, a
message naming the file (or variable, or option), key path and value, no traceback, nothing touched, fast.

The corpus runs once, in a fresh interpreter that forks one process per case (tests/badinput/runner.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.badinput.cases import CASES
from tests.conftest import REPO

MAX_SECONDS = 1.0
MAX_RSS_MB = 200


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.badinput.runner", "--json"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return {r["name"]: r for r in json.loads(done.stdout)}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}: {c.name}" for c in CASES])
def test_bad_input_exits_2_with_a_precise_message_and_touches_nothing(case, results):
    result = results[case.name]
    stderr = result["stderr"]
    assert result["exit_code"] == 2, f"exit {result['exit_code']}:\n{stderr}"
    assert "Traceback" not in stderr
    assert result["stdout"] == ""
    lines = stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), stderr
    for fragment in case.expect:
        assert fragment in stderr, f"{fragment!r} not in:\n{stderr}"
    assert result["untouched"], f"changed: {result['changed']}"
    if case.secret:
        assert case.secret not in stderr
    assert result["seconds"] < MAX_SECONDS
    assert result["max_rss_mb"] < MAX_RSS_MB


def test_the_corpus_covers_every_class_of_the_issue():
    groups = {c.group for c in CASES}
    assert groups >= {
        "yaml",
        "schema",
        "contradiction",
        "derived",
        "limits",
        "namespace",
        "collision",
        "environment",
        "credentials",
        "files",
        "command line",
    }
    assert len(CASES) >= 150


def test_a_missing_node_is_named_with_what_to_install(run_cli, tmp_path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_cli("synth", "--out", str(tmp_path / "out"), env={"PATH": str(empty)})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "`node` is not on PATH" in result.stderr and "Node.js 20" in result.stderr
    assert not (tmp_path / "out").exists()


def test_version(run_cli) -> None:
    from mlflow_gitops import __version__

    result = run_cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"mlflow-gitops {__version__}")
