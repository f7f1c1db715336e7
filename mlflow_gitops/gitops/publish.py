"""Publish a render to the GitOps repository: replace `SUBDIR/<env>/`, commit once, push a branch.

The checkout is cached under `<workdir>/checkouts/<hash of the repository URL>` (fetched and hard-reset
when reused, cleaned of anything untracked) and guarded by a lock file, so two runs on one machine do not
interleave. Only `SUBDIR/<env>/` of the rendered environments is ever written; a staged path outside them
aborts the run before anything is committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlflow_gitops.gitops import GitError, is_git_repository, join, normalize_subdir, redact, run_git
from mlflow_gitops.gitops.diff import DiffResult, compare
from mlflow_gitops.gitops.source import looks_remote, read_tree_at
from mlflow_gitops.output.ownership import describe, foreign_files

DEFAULT_BRANCH = "mlflow-gitops/update"
DEFAULT_BASE = "main"
DEFAULT_WORKDIR = Path(".mlflow-gitops")
DEFAULT_AUTHOR = ("mlflow-gitops", "mlflow-gitops@localhost")


class PublishError(Exception):
    """Publishing failed. `exit_code` 2: bad input (nothing was touched); 1: git failed."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class PublishResult:
    repo: str
    """The repository, credentials redacted."""
    branch: str
    base: str
    folders: Mapping[str, str]
    """Environment -> its folder in the repository (`<path>/<env>`)."""
    environments: tuple[str, ...]
    changes: DiffResult
    """The render against the branch's head before this run (or the base when the branch is new)."""
    commit: str | None
    """The new commit; None when nothing changed."""
    created_branch: bool
    branch_exists: bool
    """The branch is on the remote after this run."""
    checkout: Path
    rebuilt: bool = False
    """The branch was rebuilt on the base, which had moved on (its earlier commits replaced)."""
    started_base: bool = False
    """The repository was empty: the base was created with an empty first commit, the branch on top."""
    orphans: Mapping[str, str] = field(default_factory=dict)
    """Environment -> its folder: renders of environments the config no longer has (left in place)."""

    @property
    def changed(self) -> bool:
        return self.commit is not None


def checkout_dir(repo_url: str, workdir: Path) -> Path:
    return workdir / "checkouts" / hashlib.sha256(repo_url.encode()).hexdigest()[:16]


def normalize_repo(repo: str) -> str:
    """A local path becomes absolute (so its hash and `origin` are stable); a URL stays as given."""
    if not repo.strip():
        raise PublishError("--repo: empty; give a git URL or the path of a git repository", 2)
    if looks_remote(repo):
        return repo
    path = Path(repo).expanduser()
    if not path.exists():
        raise PublishError(f"--repo {repo}: no such folder, and not a git URL", 2)
    if not is_git_repository(path):
        raise PublishError(f"--repo {repo}: not a git repository", 2)
    return str(path.resolve())


def check_ref_name(option: str, name: str) -> str:
    done = run_git(["check-ref-format", "--branch", name], check=False)
    if done.returncode != 0 or not name or name.startswith("-"):
        raise PublishError(f"{option} {name!r}: not a valid branch name", 2)
    return name


def commit_message(result: DiffResult, message: str | None = None, provenance: Mapping[str, str] | None = None) -> str:
    """First line `mlflow-gitops: 3 changed, 1 added, 0 removed (env default)` (or `message`), then the
    objects and files, one per line, then `provenance` as git trailers (`Mlflow-gitops-version: 0.1.0`)."""
    counts = f"{len(result.changed)} changed, {len(result.added)} added, {len(result.removed)} removed"
    counts += f", {len(result.renamed)} renamed" if result.renamed else ""
    if not result.objects and result.files:  # e.g. only a file that holds no object went: say what changed
        by_status = Counter(f.status for f in result.files)
        counts = "no object changed; files " + ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
    subject = message.strip() if message and message.strip() else f"mlflow-gitops: {counts} ({result.envs_label()})"
    body: list[str] = []
    for status in ("changed", "renamed", "added", "removed", "moved"):
        items = result.of(status)
        if items:
            body.append(f"{status.capitalize()}:")
            body += [f"  {result.label(c.id)}" + (f" (was {c.old_id.name})" if c.old_id else "") for c in items]
    if result.files:
        body.append("Files:")
        body += [f"  {result.repo_path(f.path)} ({f.status})" for f in result.files]
    where = ", ".join(f"{result.roots[env]}/" for env in result.environments)
    lines = [subject, "", f"{OWN_COMMIT_MARK}{where}"]
    if body:
        lines += ["", *body]
    if provenance:
        lines += ["", *(f"{key}: {value}" for key, value in provenance.items())]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


CHECKOUT_MARKER = "mlflow-gitops-checkout"
"""File inside a cached checkout's .git folder: this tool made the checkout, so it may reset or remove it."""


def _prepare_checkout(url: str, target: Path) -> None:
    """Clone `url` into `target`, or reuse it: fetch, and drop local state. Only a checkout this tool made
    (its marker in .git) is ever reset or removed."""
    if os.path.lexists(target):
        if target.is_symlink() or not (target / ".git" / CHECKOUT_MARKER).is_file():
            raise PublishError(
                f"{target} exists but was not made by mlflow-gitops (no .git/{CHECKOUT_MARKER}); "
                "it resets and cleans its checkouts, so it will not touch this one: remove it or "
                "choose another --workdir",
                2,
            )
        origin = run_git(["config", "--get", "remote.origin.url"], target, check=False).stdout.strip()
        if origin == url:
            run_git(["fetch", "--quiet", "--prune", "--no-tags", "origin"], target)
            return
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".clone-", dir=target.parent))
    try:
        run_git(["clone", "--quiet", "--no-tags", "--no-checkout", url, str(staging / "repo")])
        (staging / "repo" / ".git" / CHECKOUT_MARKER).write_text(f"made by mlflow-gitops for {redact(url)}\n")
        (staging / "repo").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remote_commit(checkout: Path, branch: str) -> str | None:
    done = run_git(
        ["rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}^{{commit}}"], checkout, check=False
    )
    return done.stdout.strip() or None


def _safe_target(checkout: Path, relative: str) -> Path:
    """`checkout/relative`, refusing any symbolic link on the way (it could lead outside the checkout)."""
    current = checkout
    for part in relative.split("/"):
        if part == ".":
            continue
        current = current / part
        if current.is_symlink():
            raise PublishError(
                f"{relative}: {current.relative_to(checkout)} is a symbolic link in the repository; "
                "refusing to write through it",
                2,
            )
    return current


def _environments(files: Mapping[str, str], environments: Sequence[str] | None) -> tuple[str, ...]:
    envs = tuple(sorted(set(environments) if environments is not None else {p.split("/", 1)[0] for p in files}))
    if not envs:
        raise PublishError("nothing to publish: no environment was rendered", 2)
    for relative in files:
        env, _, rest = relative.partition("/")
        parts = rest.split("/")
        if env not in envs or not rest or any(p in {"", ".", ".."} for p in parts):
            raise PublishError(f"refusing to write {relative!r}: not a file inside a rendered environment's folder")
    return envs


OWN_COMMIT_MARK = "Rendered by mlflow-gitops into "
"""A line of every commit message this tool writes (`commit_message`)."""


def _folders(path: str | Mapping[str, str], envs: Sequence[str]) -> dict[str, str]:
    """Environment -> `<path>/<env>`, each path checked to stay inside the repository."""
    folders = {}
    for env in envs:
        where = path if isinstance(path, str) else path.get(env)
        if where is None:
            raise PublishError(f"no repository folder given for environment {env!r}", 2)
        try:
            folders[env] = join(normalize_subdir(where), env)
        except ValueError as exc:
            option = "--path" if isinstance(path, str) else f"gitops.path of environment {env!r}"
            raise PublishError(f"{option} {exc}", 2) from exc
    for env, folder in folders.items():
        for other, inner in folders.items():
            if other != env and (inner + "/").startswith(folder + "/"):
                raise PublishError(
                    f"environment {other!r} would be written to {inner}/, inside {folder}/ of "
                    f"environment {env!r}: give them gitops.path values that do not nest",
                    2,
                )
    return folders


def provenance(config_dir: Path | None, version: str) -> dict[str, str]:
    """The trailers that say what made a commit: the tool's version and the config repository's commit
    (`+dirty` when the config folder has uncommitted changes; `none` outside a git repository)."""
    commit = "none (the config is not in a git repository)"
    folder = config_dir if config_dir is not None and config_dir.is_dir() else None
    if folder is not None:
        head = run_git(["rev-parse", "--verify", "--quiet", "HEAD"], folder, check=False)
        if head.returncode == 0 and head.stdout.strip():
            dirty = run_git(["status", "--porcelain", "--", "."], folder, check=False).stdout.strip()
            commit = head.stdout.strip() + ("+dirty" if dirty else "")
    return {"Mlflow-gitops-version": version, "Config-commit": commit}


def _check_only_own_commits(checkout: Path, base: str, head: str, branch: str, shown: str) -> None:
    """The branch is rebuilt on the base each run: refuse when that would drop a commit someone else made."""
    log = run_git(["log", "--format=%H%x00%B%x01", f"{base}..{head}"], checkout).stdout
    foreign = []
    for entry in filter(str.strip, log.split("\x01")):
        sha, _, body = entry.strip().partition("\0")
        if OWN_COMMIT_MARK not in body:
            foreign.append(f"{sha[:12]} {body.strip().splitlines()[0] if body.strip() else ''}".strip())
    if foreign:
        raise PublishError(
            f"--branch {branch!r} of {shown} holds commits mlflow-gitops did not make: "
            f"{'; '.join(foreign[:5])}; each update rebuilds the branch on --base and would drop "
            "them: merge or move them, or publish to another --branch",
            2,
        )


def _removed_folder(checkout: Path, name: str, bases: Sequence[str], envs: Sequence[str], shown: str, ref: str) -> str:
    """The folder of environment `name` (no longer configured) under one of `bases`, to remove."""
    if name in envs:
        raise PublishError(
            f"--remove-env {name!r}: {name!r} is still in the config (and rendered); delete its environment file first",
            2,
        )
    found = [join(base, name) for base in bases if _safe_target(checkout, join(base, name)).is_dir()]
    if not found:
        raise PublishError(
            f"--remove-env {name!r}: no folder {', '.join(f'{join(b, name)}/' for b in bases)} on {ref} of {shown}", 2
        )
    return found[0]


def _orphans(checkout: Path, bases: Sequence[str], known: Collection[str], envs: Sequence[str]) -> dict[str, str]:
    """Folders `<base>/<name>/` that hold only files this tool wrote for an environment `name` the config
    no longer has."""
    found: dict[str, str] = {}
    for base in bases:
        folder = _safe_target(checkout, base)
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if name in known or name in envs or name in found or entry.is_symlink() or not entry.is_dir():
                continue
            if any(entry.rglob("*")) and not foreign_files(entry, name):
                found[name] = join(base, name)
    return found


def _empty_root_commit(checkout: Path, base: str, identity: Mapping[str, str]) -> str:
    """A commit without files or parents that starts `base` in an empty repository (pushed with the branch)."""
    tree = run_git(["mktree"], checkout, input="").stdout.strip()
    message = (
        f"mlflow-gitops: start {base} of an empty repository\n\nAn empty first commit, so that the pull "
        f"request of the first render has a base.\n"
    )
    return str(run_git(["commit-tree", tree, "-F", "-"], checkout, input=message, env=identity).stdout).strip()


_RACE = ("non-fast-forward", "fetch first", "stale info", "[rejected]")
_DENIED = (
    "authentication failed",
    "permission denied",
    "403",
    "401",
    "could not read username",
    "not authorized",
    "access denied",
    "write access",
)


def _push_failure(branch: str, shown: str, output: str) -> str:
    """Why a push failed, and what helps: a race (run again), credentials, or a rule of the remote."""
    detail = redact(
        "; ".join(line.strip() for line in output.splitlines() if line.strip() and not line.startswith("To "))[-500:]
    )
    lowered = detail.lower()
    if any(word in lowered for word in _DENIED):
        why = (
            "the credentials git uses cannot push to it (check the token's write permission on the "
            "repository, or the credential helper)"
        )
    elif "[remote rejected]" in lowered or "unpack failed" in lowered or "declined" in lowered:
        why = (
            "the remote refused it: a protected branch, a server hook or a size or file rule of the remote; "
            "running again will not help: change that rule or publish to another --branch"
        )
    elif any(word in lowered for word in _RACE):
        why = "the branch moved on the remote meanwhile: run again"
    else:
        why = "git could not push"
    return f"push of {branch} to {shown} failed: {why}: {detail}"


def _descends(checkout: Path, head: str, base: str) -> bool:
    return run_git(["merge-base", "--is-ancestor", base, head], checkout, check=False).returncode == 0


def publish(
    files: Mapping[str, str],
    repo: str,
    path: str | Mapping[str, str],
    branch: str = DEFAULT_BRANCH,
    base: str = DEFAULT_BASE,
    message: str | None = None,
    workdir: Path = DEFAULT_WORKDIR,
    *,
    environments: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    provenance: Mapping[str, str] | None = None,
    known: Collection[str] | None = None,
    remove: Sequence[str] = (),
) -> PublishResult:
    """Make `branch` of `repo` hold `files` (`<env>/<relative path>` -> text) under `path/<env>/`.

    `path` is the repository folder holding every environment's folder, or a map environment -> its own
    (each environment's `gitops.path`, which its engine objects point at).

    The branch gets one commit on top while it still contains `base`; once `base` moved on (an earlier
    update squash-merged) it is rebuilt from `base`, so its pull request shows exactly this render's change:
    the remote branch is then replaced with a lease on the head seen, and only when every commit on it was
    made by this tool. A new branch starts from `base`. Each
    rendered environment's folder is replaced as a whole; nothing outside these folders is written. When the
    result equals the branch's head nothing is committed or pushed; else one commit (author and committer
    from GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL, default `mlflow-gitops <mlflow-gitops@localhost>`) is pushed,
    fast-forward only unless rebuilt. Raises PublishError.

    `known` (every environment the config has) makes the result name the folders next to these that hold
    the render of an environment no longer in it (`orphans`); `remove` names such environments whose folder
    is deleted in the same commit (only when every file in it is the tool's, for that environment).
    """
    environ = os.environ if environ is None else environ
    check_ref_name("--branch", branch)
    check_ref_name("--base", base)
    envs = _environments(files, environments)
    folders = _folders(path, envs)
    url = normalize_repo(repo)
    shown = redact(url)
    name = environ.get("GIT_AUTHOR_NAME") or DEFAULT_AUTHOR[0]
    email = environ.get("GIT_AUTHOR_EMAIL") or DEFAULT_AUTHOR[1]
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }

    target = checkout_dir(url, workdir)
    with _locked(target.with_name(target.name + ".lock")):
        try:
            _prepare_checkout(url, target)
        except GitError as exc:
            raise PublishError(f"cannot clone or fetch {shown}: {exc}") from exc
        try:
            head = _remote_commit(target, branch)
            base_commit = _remote_commit(target, base)
            base_start: str | None = None
            created = head is None
            # On top of the branch while it still holds the base; rebuilt on the base once the base moved on
            # (a squash merge of an earlier update), so the pull request shows exactly this render's change.
            rebuilt = (
                head is not None
                and base_commit is not None
                and branch != base
                and not _descends(target, head, base_commit)
            )
            if rebuilt:
                _check_only_own_commits(target, base_commit or "", head or "", branch, shown)
            start = base_commit if rebuilt or head is None else head
            before: dict[str, str] = {}
            if start is not None:
                run_git(["checkout", "--quiet", "--force", "--no-track", "-B", branch, start], target)
                run_git(["clean", "--quiet", "-ffdx"], target)
            elif run_git(["for-each-ref", "--count=1", "refs/remotes/origin/"], target).stdout.strip():
                raise PublishError(f"--base {base!r}: no such branch in {shown}", 2)
            elif branch == base:  # an empty repository: the branch starts with the first commit
                run_git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], target)
                run_git(["update-ref", "-d", f"refs/heads/{branch}"], target, check=False)
                run_git(["read-tree", "--empty"], target)
                run_git(["clean", "--quiet", "-ffdx"], target)
            else:  # an empty repository: the base starts with an empty commit, so a pull request has a base
                base_start = _empty_root_commit(target, base, identity)
                run_git(["checkout", "--quiet", "--force", "--no-track", "-B", branch, base_start], target)
                run_git(["clean", "--quiet", "-ffdx"], target)
            start_ref = base if start == base_commit else branch
            bases = sorted({folder.rpartition("/")[0] or "." for folder in folders.values()})
            for name in remove:
                folders[name] = _removed_folder(target, name, bases, envs, shown, start_ref)
            envs = tuple(sorted({*envs, *remove}))
            orphans = _orphans(target, bases, known, envs) if known is not None else {}
            if start is not None:
                old = read_tree_at(target, "HEAD", folders.values())
                before = {f"{env}/{rel}": text for env, folder in folders.items() for rel, text in old[folder].items()}
            changes = compare(before, files, envs, roots=folders, source=f"{shown}@{start_ref}")

            for env, folder in folders.items():
                destination = _safe_target(target, folder)
                foreign = foreign_files(destination, env) if destination.is_dir() else []
                if foreign or (os.path.lexists(destination) and not destination.is_dir()):
                    listed = describe(foreign, folder) if foreign else folder
                    raise PublishError(
                        f"{folder}/ on {start_ref} of {shown} holds what "
                        f"mlflow-gitops did not write for environment {env!r}: {listed}; it "
                        "replaces only folders it wrote: move them in a commit of your own first",
                        2,
                    )
            for folder in folders.values():
                destination = _safe_target(target, folder)
                if destination.is_dir():
                    shutil.rmtree(destination)
                elif destination.exists():
                    destination.unlink()
            for relative, text in sorted(files.items()):
                env, _, rest = relative.partition("/")
                destination = _safe_target(target, join(folders[env], rest))
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_text(text, encoding="utf-8")

            pathspecs = [folders[env] for env in envs]
            run_git(["add", "--all", "--", *pathspecs], target)
            staged = run_git(["diff", "--cached", "--name-only", "-z"], target).stdout.split("\0")
            staged = [p for p in staged if p]
            outside = [p for p in staged if not any(p == f or p.startswith(f + "/") or f == "." for f in pathspecs)]
            if outside:
                raise PublishError(f"refusing to commit files outside {', '.join(pathspecs)}: {', '.join(outside)}")
            if not staged:
                return PublishResult(
                    shown, branch, base, folders, envs, changes, None, False, not created, target, orphans=orphans
                )

            run_git(
                ["commit", "--quiet", "--no-verify", "--no-edit", "-F", "-"],
                target,
                input=commit_message(changes, message, provenance),
                env=identity,
            )
            commit = run_git(["rev-parse", "HEAD"], target).stdout.strip()
            lease = [f"--force-with-lease=refs/heads/{branch}:{head}"] if rebuilt else []
            refspecs = [f"HEAD:refs/heads/{branch}"] + ([f"{base_start}:refs/heads/{base}"] if base_start else [])
            push = run_git(
                ["push", "--quiet", "--no-verify", "--porcelain", "--atomic", *lease, "origin", *refspecs],
                target,
                check=False,
            )
            if push.returncode != 0:
                raise PublishError(_push_failure(branch, shown, push.stderr + push.stdout))
            return PublishResult(
                shown,
                branch,
                base,
                folders,
                envs,
                changes,
                commit,
                created,
                True,
                target,
                rebuilt,
                started_base=base_start is not None,
                orphans=orphans,
            )
        except GitError as exc:
            raise PublishError(f"{shown}: {exc}") from exc


def files_at(result: PublishResult, branch: str) -> dict[str, str]:
    """The files of the published environments on the remote's `branch`, `<env>/<rel>` -> text (empty when
    the branch does not exist)."""
    if _remote_commit(result.checkout, branch) is None:
        return {}
    folders = result.folders
    found = read_tree_at(result.checkout, f"refs/remotes/origin/{branch}", folders.values())
    return {f"{env}/{rel}": text for env, folder in folders.items() for rel, text in found[folder].items()}
