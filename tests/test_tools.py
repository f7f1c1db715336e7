"""ci/tools.py's go wrapper: a transient proxy answer is retried, a real failure is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import tools

FAKE_GO = """#!/bin/sh
count=$(cat "$COUNTER" 2>/dev/null || echo 0); count=$((count + 1)); echo $count > "$COUNTER"
if [ "$count" -le "$FAILURES" ]; then
  echo "verifying module: reading https://proxy.golang.org/sumdb/sum.golang.org/lookup/x@v1: $MESSAGE" >&2
  exit 1
fi
echo built
"""


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tools.Build:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "go").write_text(FAKE_GO)
    (tmp_path / "bin" / "go").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("MLFLOW_GITOPS_TOOLS", str(tmp_path / "cache"))
    monkeypatch.setenv("COUNTER", str(tmp_path / "count"))
    monkeypatch.setattr(tools, "GO_RETRY_SECONDS", (0, 0))
    part = tools.Part("probe", "v1", lambda b: None, ())
    b = tools.Build(part)
    b.log.parent.mkdir(parents=True)
    return b


def run(build: tools.Build, failures: int, message: str) -> str:
    env = {**tools.go_env(), "FAILURES": str(failures), "MESSAGE": message}
    return tools.go(build, "mod", "download", cwd=build.log.parent, capture=True, env=env)


def test_a_transient_sumdb_404_is_retried(build: tools.Build) -> None:
    assert run(build, 2, "404 Not Found").strip() == "built"
    assert (Path(build.log.parent.parent.parent) / "count").read_text().strip() == "3"


def test_a_lasting_failure_gives_up_after_the_attempts(build: tools.Build) -> None:
    with pytest.raises(tools.ToolError):
        run(build, 5, "404 Not Found")
    assert (Path(build.log.parent.parent.parent) / "count").read_text().strip() == str(tools.GO_ATTEMPTS)


def test_a_real_error_is_not_retried(build: tools.Build) -> None:
    with pytest.raises(tools.ToolError):
        run(build, 1, "go.mod has non-wrapper.local module path")
    assert (Path(build.log.parent.parent.parent) / "count").read_text().strip() == "1"
