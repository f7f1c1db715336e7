"""`pin-image`: the digest a CI build pushed, written into the environment files and proposed as a pull request
to the config repository, so a new image reaches the cluster as a reviewed change (the config pull request's
diff shows every Deployment and Job it rolls), never as a manual `rollout restart`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow_gitops.config.discovery import display
from mlflow_gitops.config.edit import Edit
from mlflow_gitops.gitops import GitError, run_git
from mlflow_gitops.gitops.forge import Forge, PullRequest
from mlflow_gitops.gitops.publish import DEFAULT_AUTHOR, PublishError, check_ref_name


@dataclass(frozen=True)
class Proposal:
    commit: str | None
    """None: the branch already held these files (nothing committed)."""
    pull_request: PullRequest | None


def identity(environ: Mapping[str, str]) -> dict[str, str]:
    name = environ.get("GIT_AUTHOR_NAME") or DEFAULT_AUTHOR[0]
    email = environ.get("GIT_AUTHOR_EMAIL") or DEFAULT_AUTHOR[1]
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def repository_root(folder: Path) -> Path:
    try:
        top = run_git(["rev-parse", "--show-toplevel"], cwd=folder).stdout.strip()
    except GitError as exc:
        raise PublishError(f"--branch: the config folder {folder} is not in a git repository ({exc})", 2) from exc
    return Path(top)


def propose(
    folder: Path,
    paths: Sequence[Path],
    *,
    branch: str,
    base: str,
    title: str,
    body: str,
    forge: Forge | None,
    environ: Mapping[str, str],
) -> Proposal:
    """Commit `paths` (already written) on `branch`, made from the current HEAD, push it to origin
    (replacing an earlier proposal of the same branch) and, with a forge, open or update its pull request."""
    check_ref_name("--branch", branch)
    check_ref_name("--base", base)
    root = repository_root(folder)
    ids = identity(environ)
    try:
        lease = _lease(root, branch, base, ids["GIT_AUTHOR_EMAIL"])
        run_git(["checkout", "-q", "-B", branch], cwd=root)
        run_git(["add", "--", *(str(p.resolve().relative_to(root.resolve())) for p in paths)], cwd=root)
        staged = run_git(["diff", "--cached", "--quiet"], cwd=root, check=False).returncode != 0
        commit = None
        if staged:
            run_git(["commit", "-q", "-m", title, "-m", body], cwd=root, env=ids)
            commit = run_git(["rev-parse", "HEAD"], cwd=root).stdout.strip()
        run_git(
            ["push", "-q", f"--force-with-lease=refs/heads/{branch}:{lease}", "origin", f"HEAD:refs/heads/{branch}"],
            cwd=root,
        )
    except GitError as exc:
        raise PublishError(f"cannot commit and push branch {branch}: {exc}") from exc
    pull = forge.open_or_update(branch, base, title, body) if forge is not None else None
    return Proposal(commit, pull)


def _lease(root: Path, branch: str, base: str, email: str) -> str:
    """The remote branch's tip that the push may replace ('' when it does not exist): only when every commit
    on it past the base is the tool's (its author email), else PublishError naming the others."""
    heads = run_git(["ls-remote", "origin", f"refs/heads/{branch}", f"refs/heads/{base}"], cwd=root).stdout
    tips = {ref: sha for sha, ref in (line.split("\t", 1) for line in heads.splitlines() if "\t" in line)}
    tip = tips.get(f"refs/heads/{branch}")
    if tip is None:
        return ""
    run_git(
        ["fetch", "-q", "origin", f"refs/heads/{branch}", *([f"refs/heads/{base}"] if base != branch else [])], cwd=root
    )
    since = [f"^{tips[f'refs/heads/{base}']}"] if f"refs/heads/{base}" in tips else []
    authors = run_git(["log", "--format=%h %ae", tip, *since], cwd=root).stdout.split("\n")
    others = [line for line in authors if line.strip() and line.split(" ", 1)[1] != email]
    if others:
        raise PublishError(
            f"branch {branch} of origin holds commits someone else made ({', '.join(others[:3])}); "
            "name another --branch or merge them first",
            2,
        )
    return str(tip)


def origin_url(folder: Path) -> str:
    """The config repository's origin (where the branch is pushed; its URL names the forge's repository)."""
    root = repository_root(folder)
    try:
        return str(run_git(["remote", "get-url", "origin"], cwd=root).stdout).strip()
    except GitError as exc:
        raise PublishError(f"--branch: the config repository {root} has no remote origin to push to", 2) from exc


def proposal_text(edits: Sequence[Edit], values: Mapping[str, str]) -> tuple[str, str]:
    """The commit's and pull request's title and body."""
    pinned = f"{values['tag']}@{values['digest']}" if "tag" in values else values["digest"]
    files = ", ".join(f"`{display(e.path)}`" for e in edits)
    short = values["digest"][: len("sha256:") + 12]
    title = f"image: pin {values['tag']}@{short}" if "tag" in values else f"image: pin {short}"
    body = (
        f"Pins the MLflow image to `{pinned}` in {files} (written by `mlflow-gitops pin-image` after the image "
        "build pushed it).\n\nMerging rolls the servers and re-runs the setup Jobs through the GitOps flow: the "
        "diff comment on this pull request lists every Deployment and Job that changes."
    )
    return title, body
