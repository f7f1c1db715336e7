"""One real browser: headless Chromium logs in on Keycloak's login page and sees the experiment the client created."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ADMIN, ARTIFACTS, REPO, Server
from tests.e2e.readme import EXPERIMENT

SCRIPT = REPO / "tests" / "e2e" / "browser" / "ui.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def test_browser_login_shows_the_experiment(server: Server, logged_run: dict[str, Any]) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run ci/e2e-setup.sh (apt-get install chromium chromium-driver)"
    node = shutil.which("node")
    assert node, "Node.js is required to drive Chromium (playwright-core)"
    assert (REPO / "node_modules" / "playwright-core").is_dir(), "npm package playwright-core missing: run `npm ci`"
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "e2e-mlflow-ui.png"
    screenshot.unlink(missing_ok=True)
    # the password reaches the script through its environment, not its command line
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(ARTIFACTS),
        "CHROMIUM": str(CHROMIUM),
        "E2E_USERNAME": ADMIN["email"],
        "E2E_PASSWORD": ADMIN["password"],
    }
    result = subprocess.run(
        [node, str(SCRIPT), server.url, EXPERIMENT, str(screenshot)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from {SCRIPT.name} (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    outcome = json.loads(lines[-1])
    assert result.returncode == 0 and outcome["ok"], f"{json.dumps(outcome, indent=1)}\n{result.stderr[-3000:]}"
    assert screenshot.stat().st_size > 10_000, "the screenshot looks empty"
    assert outcome["url"].startswith(server.url)
    assert outcome["loginPage"].startswith(f"http://localhost:{server.provider.port}/realms/e2e/"), outcome
    assert not outcome["blocked"], f"the UI tried to reach other hosts: {outcome['blocked']}"
