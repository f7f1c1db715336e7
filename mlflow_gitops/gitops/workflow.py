"""The `publish` workflow around `publish.publish`: its input checked before anything is rendered or cloned,
what a run did said in lines, and the pull request of the branch opened or updated with the diff against
the base. The command line only parses arguments, prints these lines and maps errors to exit codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlflow_gitops.gitops import GitError
from mlflow_gitops.gitops.diff import compare
from mlflow_gitops.gitops.forge import Forge, GitHub
from mlflow_gitops.gitops.forge_names import FORGE_NAMES
from mlflow_gitops.gitops.gitea import Gitea
from mlflow_gitops.gitops.publish import (
    PublishError,
    PublishResult,
    check_ref_name,
    commit_message,
    files_at,
    normalize_repo,
)
from mlflow_gitops.gitops.reports import format_markdown

FORGES: dict[str, type[GitHub] | type[Gitea]] = dict(zip(FORGE_NAMES, (GitHub, Gitea), strict=True))
"""Each forge's client, by its name on the command line."""


def check_input(
    repo: str, branch: str, base: str, open_pr: bool, forge: str, environ: Mapping[str, str]
) -> Forge | None:
    """The repository, the branch names and the forge's settings, before anything is rendered: PublishError
    or ForgeError (exit code 2) for bad input; GitError when git itself cannot run. The forge, or None."""
    normalize_repo(repo)
    check_ref_name("--branch", branch)
    check_ref_name("--base", base)
    if not open_pr:
        return None
    if branch == base:
        raise PublishError(f"--open-pr: --branch and --base are both {base!r}; a pull request needs two branches", 2)
    return FORGES[forge].from_environment(environ, repo)


def _how(result: PublishResult) -> str:
    if result.started_base:
        return f"the repository was empty: {result.base} starts with an empty commit, {result.branch} on top"
    if result.created_branch:
        return f"new branch from {result.base}"
    if result.rebuilt:
        return f"rebuilt on {result.base}, which moved on since the last update"
    return "on top of the branch"


def outcome(
    result: PublishResult, environments: Sequence[str], removed: Sequence[str], message: str | None
) -> list[str]:
    """What the run did, a line each: environments left behind by the config, removed ones, the commit."""
    lines = [
        f"warning: {folder}/ holds the render of environment {name!r}, which the config no longer has; it "
        f"stays (and stays applied) until you run publish --remove-env {name}"
        for name, folder in sorted(result.orphans.items())
    ]
    if result.commit is not None:
        lines += [f"environment {name} removed: {result.folders[name]}/ deleted in this commit" for name in removed]
    where = ", ".join(f"{result.folders[name]}/" for name in environments)
    if result.commit is None:
        on = result.branch if result.branch_exists else result.base
        created = "" if result.branch_exists else f"; branch {result.branch} not created"
        lines.append(
            f"no changes: branch {on} of {result.repo} already holds the render of "
            f"{result.changes.envs_label()} in {where}{created}"
        )
    else:
        lines.append(f"published {result.commit[:12]} to branch {result.branch} of {result.repo} ({_how(result)})")
        lines.append(commit_message(result.changes, message).split("\n", 1)[0])
    return lines


def propose(result: PublishResult, files: Mapping[str, str], forge: Forge, message: str | None) -> str:
    """Open or update the pull request of the branch into the base, its body the diff against the base; the
    line that says what happened. ForgeError when the forge refuses; PublishError when git fails."""
    if not result.branch_exists:
        return f"no pull request: branch {result.branch} does not exist (nothing to propose)"
    try:
        against_base = compare(
            files_at(result, result.base),
            files,
            list(result.environments),
            roots=result.folders,
            source=f"{result.repo}@{result.base}",
        )
    except GitError as exc:
        raise PublishError(str(exc)) from exc
    if not against_base.has_changes:
        return f"no pull request: branch {result.branch} holds what {result.base} holds"
    body = format_markdown(against_base, heading=f"mlflow-gitops: {result.branch} -> {result.base}")
    commit = f" ({result.commit[:12]})" if result.commit else ""
    body += f"\n---\n_Published by `mlflow-gitops publish`{commit}; the diff is against `{result.base}`._\n"
    title = commit_message(against_base, message).split("\n", 1)[0]
    pull = forge.open_or_update(result.branch, result.base, title, body)
    return f"pull request #{pull.number} {pull.action}: {pull.url}"
