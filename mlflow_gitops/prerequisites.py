"""What a render needs besides Python: checked before cdk8s starts, so a missing one is a clear message."""

from __future__ import annotations

import re
import shutil
import subprocess

NODE_MAJOR = 18
"""The oldest Node.js jsii (cdk8s's runtime) supports; Node 20 is what the project is tested with."""


class MissingPrerequisite(Exception):
    """A program the render needs is missing or too old; the message says what to install."""


def require_node() -> None:
    node = shutil.which("node")
    hint = (
        "install Node.js 20 (for example `apt install nodejs` or https://nodejs.org) and put `node` on "
        "PATH: cdk8s renders through it"
    )
    if node is None:
        raise MissingPrerequisite(f"`node` is not on PATH; {hint}")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise MissingPrerequisite(f"`{node} --version` failed ({exc}); {hint}") from None
    found = re.match(r"v(\d+)\.", version)
    if not found or int(found.group(1)) < NODE_MAJOR:
        raise MissingPrerequisite(
            f"`{node}` is Node.js {version or 'of unknown version'}, older than {NODE_MAJOR}; {hint}"
        )
