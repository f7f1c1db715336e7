"""`pin-image`: the digest an image build pushed, written into environment files line by line and proposed
to the config repository as a pull request (real git repositories; the GitHub API is the stateful fake)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO, find, render_docs
from tests.fakes.github import FakeGitHub
from tests.gitrepo import git

Run = Callable[..., subprocess.CompletedProcess[str]]
DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER = "sha256:" + "fedcba9876543210" * 4
TOKEN = "ghs_" + "PinT0k3n" * 5
AUTHOR = {"GIT_AUTHOR_NAME": "mlflow-gitops", "GIT_AUTHOR_EMAIL": "mlflow-gitops@localhost"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the examples' environment files."""
    folder = tmp_path / "environments"
    shutil.copytree(EXAMPLES, folder)
    return folder


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    assert len(before.splitlines()) <= len(after.splitlines())
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=False) if a != b]


def test_the_digest_and_tag_replace_their_lines_only_and_the_render_pins_the_image(run_cli: Run, config: Path) -> None:
    before = (config / "staging.yaml").read_text()

    done = run_cli(
        "pin-image", "--config-dir", str(config), "--env", "staging", "--digest", DIGEST, "--tag", "3.6.0-oidc-9"
    )

    assert done.returncode == 0, done.stderr
    old = "sha256:4f5c1e9d2b7a8c6e3f1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
    assert f"staging.yaml: image.digest: {old} -> {DIGEST}" in done.stdout
    after = (config / "staging.yaml").read_text()
    assert changed_lines(before, after) == [
        ("  tag: 3.6.0-oidc-2", "  tag: 3.6.0-oidc-9"),
        ("  digest: sha256:4f5c1e9d2b7a8c6e3f1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d", f"  digest: {DIGEST}"),
    ]
    assert len(after.splitlines()) == len(before.splitlines()), "comments and other keys stay"
    docs = render_docs(names=["staging"], config_dir=config)
    images = {
        c["image"]
        for d in find(docs, "Deployment") + find(docs, "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
        if "mlflow" in c["image"]
    }
    assert images == {f"registry.staging.acme.internal/mlflow:3.6.0-oidc-9@{DIGEST}"}

    again = run_cli("pin-image", "--config-dir", str(config), "--env", "staging", "--digest", DIGEST)
    assert again.returncode == 0 and "image.digest: unchanged" in again.stdout
    assert (config / "staging.yaml").read_text() == after


def test_a_file_without_an_image_block_gets_one_and_a_numeric_tag_stays_a_string(run_cli: Run, config: Path) -> None:
    done = run_cli("pin-image", "--config-dir", str(config), "--env", "dev", "--digest", DIGEST, "--tag", "1.10")

    assert done.returncode == 0, done.stderr
    assert (config / "dev.yaml").read_text().endswith(f'image:\n  tag: "1.10"\n  digest: {DIGEST}\n')
    [deployment] = [d for d in find(render_docs(names=["dev"], config_dir=config), "Deployment")]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":1.10@{DIGEST}")


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("image: {tag: x}\n", ("--digest", DIGEST), "dev.yaml: image: '{tag: x}': is written in flow style"),
        ("instances: [{name: Bad_Name}]\n", ("--digest", DIGEST), "dev.yaml: instances[0].name: 'Bad_Name'"),
        ("{}\n", ("--digest", "sha256:abc"), "--digest: 'sha256:abc': must be sha256: and 64 lower-case hex"),
        ("{}\n", ("--digest", DIGEST, "--env", "nope"), "--env: 'nope': no such environment file"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    run_cli: Run, tmp_path: Path, text: str, args: tuple[str, ...], expected: str
) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "dev.yaml").write_text(text)

    done = run_cli("pin-image", "--config-dir", str(folder), "--env", "dev", *args)

    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert (folder / "dev.yaml").read_text() == text
    assert sorted(p.name for p in folder.iterdir()) == ["dev.yaml"], "a temporary file was left"


def config_repository(tmp_path: Path, config: Path) -> tuple[Path, Path]:
    """A bare origin holding the config on main, and a clone of it (what CI checks out)."""
    bare = tmp_path / "config.git"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    clone = tmp_path / "clone"
    git("clone", "-q", str(bare), str(clone), cwd=tmp_path)
    shutil.copytree(config, clone / "environments")
    git("add", "-A", cwd=clone)
    git("-c", "user.name=dev", "-c", "user.email=dev@acme.io", "commit", "-q", "-m", "config", cwd=clone)
    git("push", "-q", "origin", "main", cwd=clone)
    return bare, clone


def test_the_pin_is_committed_on_a_branch_and_proposed_as_a_pull_request(
    run_cli: Run, tmp_path: Path, config: Path
) -> None:
    bare, clone = config_repository(tmp_path, config)
    branch = "mlflow-gitops/image"
    with FakeGitHub(token=TOKEN, repositories=("acme/mlflow-config",)) as github:
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/mlflow-config", **AUTHOR}
        args = ("pin-image", "--config-dir", "environments", "--env", "staging", "--branch", branch, "--open-pr")

        first = run_cli(*args, "--digest", DIGEST, env=env, cwd=clone)

        assert first.returncode == 0, first.stderr
        assert "pull request #1 created" in first.stdout
        assert TOKEN not in first.stdout + first.stderr
        [pull] = github.open_pulls("acme/mlflow-config")
        assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "main")
        assert pull["title"] == f"image: pin {DIGEST[:19]}"
        assert f"`{DIGEST}`" in pull["body"]
        assert "Merging rolls the servers" in pull["body"]
        assert git("log", "-1", "--format=%s", branch, cwd=bare) == f"image: pin {DIGEST[:19]}"
        assert f"digest: {DIGEST}" in git("show", f"{branch}:environments/staging.yaml", cwd=bare)
        assert git("diff", "--name-only", "main", branch, cwd=bare) == "environments/staging.yaml"

        # a newer build: the same branch and pull request, now with the newer digest
        git("checkout", "-q", "main", cwd=clone)
        second = run_cli(*args, "--digest", OTHER, env=env, cwd=clone)
        assert second.returncode == 0, second.stderr
        assert "pull request #1 updated" in second.stdout
        assert f"digest: {OTHER}" in git("show", f"{branch}:environments/staging.yaml", cwd=bare)
        assert git("rev-list", "--count", f"main..{branch}", cwd=bare) == "1"

        # someone pushed to the branch: it is not replaced
        git("checkout", "-q", branch, cwd=clone)
        (clone / "environments" / "notes.txt").write_text("review notes\n")
        git("add", "-A", cwd=clone)
        git("-c", "user.name=dev", "-c", "user.email=dev@acme.io", "commit", "-q", "-m", "notes", cwd=clone)
        git("push", "-q", "origin", branch, cwd=clone)
        git("checkout", "-q", "main", cwd=clone)
        refused = run_cli(*args, "--digest", DIGEST, env=env, cwd=clone)
        assert refused.returncode == 2
        assert "holds commits someone else made" in refused.stderr and "dev@acme.io" in refused.stderr
        assert git("log", "-1", "--format=%s", branch, cwd=bare) == "notes"


def test_the_digest_is_read_from_the_buildx_metadata_file(run_cli: Run, config: Path, tmp_path: Path) -> None:
    metadata = tmp_path / "image.json"
    metadata.write_text(json.dumps({"containerimage.digest": DIGEST, "image.name": "registry/mlflow:9"}))

    done = run_cli("pin-image", "--config-dir", str(config), "--env", "prod", "--digest-file", str(metadata))

    assert done.returncode == 0, done.stderr
    assert f"digest: {DIGEST}" in (config / "prod.yaml").read_text()
    metadata.write_text("{}")
    missing = run_cli("pin-image", "--config-dir", str(config), "--env", "prod", "--digest-file", str(metadata))
    assert missing.returncode == 2
    assert "containerimage.digest: missing: was the image pushed" in missing.stderr


def test_the_example_workflows_pin_step_proposes_the_pushed_digest(tmp_path: Path, config: Path) -> None:
    """The image job's last step, run as the workflow runs it (bash, its script verbatim, its variables), on a
    clone of a real config repository after a build wrote buildx's metadata file."""
    workflow = yaml.safe_load((REPO / "examples" / "github" / "workflows" / "mlflow-gitops.yml").read_text())
    [step] = [s for s in workflow["jobs"]["image"]["steps"] if s.get("name", "").startswith("Pin the pushed digest")]
    bare, clone = config_repository(tmp_path, config)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    (runner_temp / "image.json").write_text(json.dumps({"containerimage.digest": DIGEST}))
    with FakeGitHub(token=TOKEN, repositories=("acme/mlflow-config",)) as github:
        inputs = {
            "secrets.CONFIG_PR_TOKEN": TOKEN,
            "inputs.image_tag": "3.6.0-oidc-7",
            "inputs.environments": "dev staging",
            "github.event.repository.default_branch": "main",
        }
        env = {
            key: next((v for k, v in inputs.items() if value == "${{ " + k + " }}"), value)
            for key, value in step["env"].items()
        }
        assert not [v for v in env.values() if "${{" in v], env
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
            cwd=clone,
            env={
                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                "HOME": str(tmp_path),
                "RUNNER_TEMP": str(runner_temp),
                "GITHUB_API_URL": github.url,
                "GITHUB_REPOSITORY": "acme/mlflow-config",
                **env,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        [pull] = github.open_pulls("acme/mlflow-config")
        assert pull["head"]["ref"] == "mlflow-gitops/image"
        assert pull["title"] == f"image: pin 3.6.0-oidc-7@{DIGEST[:19]}"
    changed = git("diff", "--name-only", "main", "mlflow-gitops/image", cwd=bare).split()
    assert changed == ["environments/dev.yaml", "environments/staging.yaml"]
    for name in changed:
        pinned = yaml.safe_load(git("show", f"mlflow-gitops/image:{name}", cwd=bare))["image"]
        assert (pinned["tag"], pinned["digest"]) == ("3.6.0-oidc-7", DIGEST)
