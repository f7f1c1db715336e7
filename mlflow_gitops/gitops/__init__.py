"""The GitOps repository side: diff a fresh render against it, publish a render to it, open a pull request.

- `diff`: parse the rendered files and what the GitOps repository holds (a local folder or a git
  repository at a ref) into Kubernetes objects, mask secret-looking values and report added, removed and
  changed objects with unified diffs, as text or as a pull-request body in Markdown.
- `publish`: replace `SUBDIR/<env>/` in a checkout of the GitOps repository, commit once, push a branch.
- `forge` / `gitea`: open or update the pull request of that branch through GitHub's REST API or Gitea's
  (and Forgejo's).
- `cluster`: a live cluster against the render (`validate` / `diff --against-cluster`); `migrate`: the
  preflight of the move from the old module's Helm release.

This module holds the one way the package runs `git`: a subprocess with `-c` options that pin every
setting that would change its behaviour (so the user's global config does not matter), no terminal
prompts, no hooks, literal pathspecs, and errors that never show credentials of a URL.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow_gitops.config.limits import repository_folder
from mlflow_gitops.text import redact

__all__ = ["GIT_OPTIONS", "GitError", "is_git_repository", "join", "normalize_subdir", "redact", "run_git"]

GIT_OPTIONS: tuple[str, ...] = (
    "-c",
    "core.autocrlf=false",
    "-c",
    "core.safecrlf=false",
    "-c",
    "core.eol=lf",
    "-c",
    "core.quotepath=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.pager=cat",
    "-c",
    "core.sparseCheckout=false",
    "-c",
    "color.ui=false",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "tag.gpgSign=false",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    "-c",
    "fetch.recurseSubmodules=false",
    "-c",
    "submodule.recurse=false",
    "-c",
    "push.recurseSubmodules=no",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "advice.detachedHead=false",
    "-c",
    "i18n.commitEncoding=utf-8",
    "-c",
    "credential.interactive=false",
)
"""Settings that pin git's behaviour whatever the user's global or system config says. Credential helpers
and proxy settings are left alone on purpose: pushing to a real remote needs them."""

# Variables that would point git at another repository, index or object store than the one we name.
_GIT_LOCATION_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)


class GitError(Exception):
    """A git command failed; the message names the command (credentials redacted) and git's error."""


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GCM_INTERACTIVE": "never",
            "GIT_LITERAL_PATHSPECS": "1",
            "GIT_OPTIONAL_LOCKS": "0",
            "LC_ALL": "C",
        }
    )
    env.update(extra or {})
    return env


def run_git(
    args: Sequence[str],
    cwd: Path | None = None,
    *,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    text: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[Any]:
    """Run `git <GIT_OPTIONS> <args>`; raise GitError (with git's stderr) on failure when `check`."""
    command = ["git", *GIT_OPTIONS, *args]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            input=input,
            env=git_environment(env),
            capture_output=True,
            text=text,
            stdin=None if input is not None else subprocess.DEVNULL,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed (or not on PATH)") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {redact(' '.join(args))}: no answer after {timeout:.0f}s") from exc
    if check and done.returncode != 0:
        stderr = done.stderr if isinstance(done.stderr, str) else done.stderr.decode("utf-8", "replace")
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        detail = "; ".join(lines[-3:]) or f"exit code {done.returncode}"
        raise GitError(redact(f"git {' '.join(args)}: {detail}"))
    return done


def is_git_repository(path: Path) -> bool:
    """True for the top folder of a work tree (has .git) or a bare repository (HEAD, objects/, refs/)."""
    return (path / ".git").exists() or (
        (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()
    )


def normalize_subdir(value: str) -> str:
    """Check a `--path SUBDIR` (relative, inside the repository) and return it normalised ('.' for the root).

    Raises ValueError with a message saying what is allowed.
    """
    return repository_folder(value)


def join(subdir: str, *parts: str) -> str:
    """`subdir/part/...` with '.' as the root: join('.', 'default') == 'default'."""
    return "/".join(p for p in (subdir, *parts) if p and p != ".") or "."
