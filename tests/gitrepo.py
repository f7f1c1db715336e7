"""`git` as the tests' people run it (a seed author, no signing, no hooks, no GIT_* variables of the caller)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SETTINGS = {
    "user.name": "Seed",
    "user.email": "seed@example.com",
    "commit.gpgSign": "false",
    "tag.gpgSign": "false",
    "init.defaultBranch": "main",
    "core.hooksPath": "/dev/null",
}


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd`; its output without the trailing newline (CalledProcessError when it fails)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    options = [part for key, value in SETTINGS.items() for part in ("-c", f"{key}={value}")]
    done = subprocess.run(["git", *options, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()
