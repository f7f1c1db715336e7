"""The README's "log a run" instructions (section "Using MLflow"), extracted and executed as a user would.

The bash and python code blocks between `<!-- e2e:log-a-run:start -->` and `<!-- e2e:log-a-run:end -->` are taken
verbatim; only the placeholders are filled in (URL, email, access key; each must occur exactly once). They run in a
fresh `bash` whose environment holds nothing but PATH/HOME/LANG (and telemetry off): the exports of the bash block are
the only credentials the python block gets. A short epilogue, appended to the python block and marked as not from the
README, logs an artifact into the run the README's code created (the README's example logs none) and prints the ids.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
START, END = "<!-- e2e:log-a-run:start -->", "<!-- e2e:log-a-run:end -->"
URL_PLACEHOLDER, EMAIL_PLACEHOLDER, KEY_PLACEHOLDER = "https://mlflow.example.com", "you@example.com", "<access key>"
EXPERIMENT = "my-experiment"  # what the README's python block creates
ARTIFACT_TEXT = "hello from the e2e test\n"

EPILOGUE = f"""
# ---- e2e epilogue (not from the README): an artifact for the run the README's code logged, and the ids
import json as _e2e_json

_e2e_run = mlflow.last_active_run()
with mlflow.start_run(run_id=_e2e_run.info.run_id):
    mlflow.log_text({ARTIFACT_TEXT!r}, "e2e/hello.txt")
_e2e_ids = {{"experiment_id": _e2e_run.info.experiment_id, "run_id": _e2e_run.info.run_id}}
print("E2E-RESULT " + _e2e_json.dumps(_e2e_ids))
"""


def readme_blocks(readme: Path = README) -> tuple[str, str]:
    """The bash and python code blocks between the README's e2e markers, verbatim."""
    text = readme.read_text()
    assert text.count(START) == 1 and text.count(END) == 1, f"{readme.name} must hold {START} ... {END} once"
    section = text[text.index(START) + len(START) : text.index(END)]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, re.S | re.M)
    assert [language for language, _ in blocks] == ["bash", "python"], f"expected a bash and a python block: {blocks}"
    return blocks[0][1], blocks[1][1]


def substitute(block: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        assert block.count(placeholder) == 1, f"the README block must contain {placeholder!r} once:\n{block}"
        block = block.replace(placeholder, value)
    return block


def run_readme(url: str, email: str, access_key: str, python: Path, workdir: Path) -> dict[str, Any]:
    """Execute the README's blocks; the ids of the run they logged, and the output."""
    bash_block, python_block = readme_blocks()
    bash_block = substitute(
        bash_block, {URL_PLACEHOLDER: url, EMAIL_PLACEHOLDER: email, KEY_PLACEHOLDER: shlex.quote(access_key)}
    )
    script = workdir / "log_a_run.py"
    script.write_text(python_block + EPILOGUE)
    (workdir / "log_a_run.sh").write_text(bash_block)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    command = f"set -euo pipefail\n{bash_block}\nexec {shlex.quote(str(python))} {shlex.quote(str(script))}\n"
    result = subprocess.run(["bash", "-c", command], env=env, cwd=workdir, capture_output=True, text=True, timeout=180)
    output = result.stdout + result.stderr
    (workdir / "output.txt").write_text(output)
    assert result.returncode == 0, f"the README's instructions failed (exit {result.returncode}):\n{output}"
    [line] = [line for line in result.stdout.splitlines() if line.startswith("E2E-RESULT ")]
    return {**json.loads(line.removeprefix("E2E-RESULT ")), "output": output}
