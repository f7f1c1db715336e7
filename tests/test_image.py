"""image/Dockerfile under the base image's user and permission model, as far as this machine allows (no container
runtime): each instruction is replayed in a scratch root with the ownership Docker gives it.

burakince/mlflow:3.6.0 is Debian python 3.13 slim and ends with `USER mlflow` (uid 1001); files COPY creates are
owned by root whatever USER says; /tmp is sticky (1777); the system site-packages are root's (0755). pip, run by a
user who cannot write there, "defaults to user installation" in ~/.local, where the pods' uid 10001 never looks.
RUN commands run as the user in effect, with a stand-in `pip` that behaves like that (the tests run as root,
as CI does).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlflow_gitops.constructs._pod import RUN_AS_USER

DOCKERFILE = Path(__file__).resolve().parents[1] / "image" / "Dockerfile"
BASE_USER = 1001  # the base image's last `USER mlflow`
SITE_PACKAGES = "usr/local/lib/python3.13/site-packages"
FAKE_PIP = """#!/bin/sh
# pip install -r FILE: the requirements must be readable; packages land in site-packages when writable, else ~/.local
for last; do :; done
cat "$last" > /dev/null || exit 1
if [ -w "$SITE" ]; then touch "$SITE/installed"; else mkdir -p "$HOME/.local" && touch "$HOME/.local/installed"; fi
"""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str


def instructions(text: str) -> list[Instruction]:
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, argument = line.partition(" ")
            found.append(Instruction(keyword.upper(), argument.strip()))
    return found


def uid_of(user: str) -> int:
    name = user.split(":", 1)[0]
    return {"root": 0, "mlflow": BASE_USER}.get(name, int(name) if name.isdigit() else -1)


def replay(dockerfile: str, root: Path) -> tuple[int, list[str]]:
    """Replay the instructions after FROM in `root`; (the final uid, the failures)."""
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    (root / SITE_PACKAGES).mkdir(parents=True, mode=0o755)
    home = root / "home" / "mlflow"
    home.mkdir(parents=True)
    os.chown(home, BASE_USER, BASE_USER)
    bin_dir = root / "fake-bin"
    bin_dir.mkdir(mode=0o755)
    (bin_dir / "pip").write_text(FAKE_PIP)
    (bin_dir / "pip").chmod(0o755)
    uid, failures = BASE_USER, []
    for step in instructions(dockerfile):
        if step.keyword == "USER":
            uid = uid_of(step.argument)
        elif step.keyword == "COPY":
            source, dest = shlex.split(step.argument)[-2:]
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)  # Docker creates missing folders as root
            target.write_text((DOCKERFILE.parent / source).read_text())
            os.chown(target, 0, 0)
        elif step.keyword == "RUN":
            command = re.sub(r"(?<![\w.-])/(tmp|opt|usr)\b", lambda m: f"{root}/{m[1]}", step.argument)
            done = subprocess.run(
                ["sh", "-c", command],
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": f"{bin_dir}:/usr/bin:/bin", "SITE": str(root / SITE_PACKAGES), "HOME": str(home)},
                user=uid if uid >= 0 else None,
            )
            if done.returncode != 0:
                failures.append(f"RUN as uid {uid}: {step.argument}: {done.stderr.strip()}")
    if not (root / SITE_PACKAGES / "installed").exists():
        failures.append("the packages did not reach the system site-packages (pip fell back to ~/.local)")
    return uid, failures


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A scratch root the base image's uid can reach (pytest's tmp folders are root's, mode 0700)."""
    root = Path(tempfile.mkdtemp(prefix="mlflow-image-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_the_dockerfile_builds_under_the_base_images_user_model(scratch: Path) -> None:
    uid, failures = replay(DOCKERFILE.read_text(), scratch)
    assert failures == []
    assert uid == RUN_AS_USER, "the image's user is the pods' runAsUser"


def test_the_replay_sees_the_old_dockerfiles_two_failures(scratch: Path) -> None:
    """What the Dockerfile was before: install as the base image's user, then remove the root-owned copy."""
    old = (
        "FROM burakince/mlflow:3.6.0\nCOPY requirements.txt /tmp/requirements.txt\n"
        "RUN pip install --no-cache-dir -r /tmp/requirements.txt \\\n    && rm /tmp/requirements.txt\n"
        "USER 10001:10001\n"
    )
    _, failures = replay(old, scratch)
    assert any("Operation not permitted" in f or "Permission denied" in f for f in failures), failures
    assert failures[-1].startswith("the packages did not reach the system site-packages")


def test_the_image_and_the_test_venv_install_the_same_pins() -> None:
    """One pin list: the Dockerfile installs image/requirements.txt, and the Job scripts' clients in the test venv
    (pyproject's test extra) carry the same versions."""
    pins = dict(
        line.split("==")
        for line in (DOCKERFILE.parent / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    pyproject = (DOCKERFILE.parents[1] / "pyproject.toml").read_text()
    for package in ("python-keycloak", "minio", "psycopg2-binary"):
        assert f'"{package}=={pins[package]}"' in pyproject, package
    assert "-r /opt/mlflow-gitops/requirements.txt" in DOCKERFILE.read_text()
