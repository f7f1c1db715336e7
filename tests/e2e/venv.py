"""The e2e venv: the custom image's Python packages (image/requirements.txt, the image's own pin list).

The image is burakince/mlflow:3.6.0 plus image/requirements.txt; that list pins mlflow 3.6.0 itself, so a venv made
from it alone holds what the rendered containers run. It lives in `.e2e-venv/<hash of requirements.txt and the
interpreter>/` (ignored by git; world-readable, since the containers run as the rendered non-root user) and is built
once (about 2 minutes, from PyPI): by `ci/e2e-setup.sh`, or by the test session when missing. A `.complete` marker is
written last, so an interrupted build is rebuilt rather than used half-installed; venvs of earlier requirement lists
are removed after a build.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "image" / "requirements.txt"
CACHE = REPO / ".e2e-venv"


def interpreter() -> str:
    """The Python the venv is made from: $E2E_PYTHON, else the system's python3 (readable by the non-root user the
    pods run as; a pyenv interpreter under /root is not), else the one running the tests."""
    for candidate in (os.environ.get("E2E_PYTHON"), "/usr/bin/python3"):
        if candidate and Path(candidate).exists():
            return candidate
    return getattr(sys, "_base_executable", sys.executable)


def venv_path(requirements: Path = REQUIREMENTS, python: str | None = None) -> Path:
    digest = hashlib.sha256(requirements.read_bytes() + (python or interpreter()).encode()).hexdigest()[:12]
    return CACHE / digest


def ensure_venv(requirements: Path = REQUIREMENTS, python: str | None = None) -> Path:
    """The venv for `requirements`, built when missing or incomplete; raises RuntimeError with pip's output."""
    python = python or interpreter()
    venv = venv_path(requirements, python)
    if (venv / ".complete").exists():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # The venv must be created at its final path: console scripts (bin/mlflow) hard-code it in their shebang.
    steps = [
        [python, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
            str(requirements),
        ],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            raise RuntimeError(f"building the e2e venv failed: {' '.join(step)}\n{result.stdout}\n{result.stderr}")
    (venv / ".complete").write_text(requirements.read_text())
    for stale in CACHE.iterdir():  # venvs of earlier requirement lists
        if stale != venv and stale.is_dir() and re.fullmatch(r"[0-9a-f]{12}", stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    return venv


if __name__ == "__main__":  # used by ci/e2e-setup.sh
    print(ensure_venv())
