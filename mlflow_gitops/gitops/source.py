"""Read the GitOps repository's side of a diff: a local folder as it is, or a git repository (a URL, or the
path of a work tree or bare repository) fetched shallowly at a ref into a temporary folder; an empty
repository (nothing ever pushed) reads as empty.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlflow_gitops.gitops import GitError, is_git_repository, redact, run_git


class SourceError(Exception):
    """The GitOps repository (or the ref asked for) cannot be read."""


@dataclass(frozen=True)
class Against:
    """A parsed `PATH_OR_GIT_URL[@REF]`."""

    location: str
    ref: str | None
    git: bool

    def describe(self) -> str:
        where = redact(self.location)
        return f"{where}@{self.ref}" if self.ref else where


_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def looks_remote(location: str) -> bool:
    """A git URL (scheme://host/path, file://, or scp-like user@host:path) rather than a local path."""
    if _URL.match(location):
        rest = location.split("://", 1)[1]
        return location.startswith("file://") or ("/" in rest and not rest.startswith("/"))
    return bool(_SCP_LIKE.match(location))


def parse_against(spec: str) -> Against:
    """Split `PATH_OR_GIT_URL[@REF]`: the ref is what follows the last '@' when what precedes it is an
    existing path or a git URL (so `git@host:org/repo.git` and `https://user@host/x` keep their '@')."""
    spec = spec.strip()
    if not spec:
        raise SourceError("--against: empty; give a folder, a git repository path or a git URL, optionally @REF")
    location, ref = spec, None
    if "@" in spec and not Path(spec).exists():
        base, candidate = spec.rsplit("@", 1)
        if candidate and ":" not in candidate and (Path(base).exists() or looks_remote(base)):
            location, ref = base, candidate
    if looks_remote(location):
        return Against(location, ref, True)
    path = Path(location)
    if not path.exists():
        raise SourceError(f"--against {redact(spec)}: no such folder, and not a git URL")
    if not path.is_dir():
        raise SourceError(f"--against {redact(spec)}: not a folder")
    if is_git_repository(path):
        return Against(str(path.resolve()), ref, True)
    if ref:
        raise SourceError(
            f"--against {redact(spec)}: {location} is not a git repository, so @{ref} cannot be "
            "checked out; drop @REF to read the folder as it is"
        )
    return Against(str(path.resolve()), None, False)


def read_folder(root: Path, folder: str) -> dict[str, str]:
    """The files below `root/folder` ('.': root), relative path -> text; symbolic links and .git skipped."""
    base = root if folder == "." else root / folder
    files: dict[str, str] = {}
    if not base.is_dir():
        return files
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            files[full.relative_to(base).as_posix()] = full.read_bytes().decode("utf-8", "replace")
    return files


def read_tree_at(git_dir: Path, revision: str, folders: Iterable[str]) -> dict[str, dict[str, str]]:
    """Files of each folder at `revision` of the repository at `git_dir`: folder -> {relative path: text}.
    Symbolic links and submodules are skipped."""
    result: dict[str, dict[str, str]] = {}
    blobs: list[tuple[str, str, str]] = []
    for folder in folders:
        result[folder] = {}
        spec = [] if folder == "." else ["--", folder]
        listing = run_git(["ls-tree", "-r", "-z", "--full-tree", revision, *spec], git_dir).stdout
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            mode, kind, sha = meta.split()
            if kind != "blob" or mode == "120000":
                continue
            rel = path if folder == "." else path[len(folder) + 1 :]
            blobs.append((folder, rel, sha))
    if not blobs:
        return result
    batch = run_git(
        ["cat-file", "--batch"], git_dir, input="".join(f"{sha}\n" for _, _, sha in blobs).encode(), text=False
    ).stdout
    offset = 0
    for folder, rel, _ in blobs:
        header_end = batch.index(b"\n", offset)
        _, kind, size = batch[offset:header_end].decode().split()
        start = header_end + 1
        result[folder][rel] = batch[start : start + int(size)].decode("utf-8", "replace")
        offset = start + int(size) + 1
    return result


def _is_empty(url: str) -> bool:
    """The repository answers and has no branch or tag at all (created, never pushed to)."""
    done = run_git(["ls-remote", url], check=False)
    return done.returncode == 0 and not done.stdout.strip()


def _fetch(against: Against, workdir: Path) -> str | None:
    """Fetch `against` at its ref (default: the remote's HEAD) into the bare repository `workdir`; return the
    commit, or None when the repository is empty (nothing was ever pushed: a first publish comes next)."""
    url = against.location
    if not looks_remote(url):
        url = Path(url).resolve().as_uri()
    ref = against.ref or "HEAD"
    run_git(["init", "--quiet", "--bare", str(workdir)])
    try:
        run_git(["fetch", "--quiet", "--depth", "1", "--no-tags", url, ref], workdir)
        return str(run_git(["rev-parse", "--verify", "FETCH_HEAD^{commit}"], workdir).stdout).strip()
    except GitError as exc:
        first = exc
    if _is_empty(url):
        return None
    if against.ref and re.fullmatch(r"[0-9a-fA-F]{4,40}", against.ref):
        # An abbreviated commit: the server cannot look it up, so fetch everything and resolve it here.
        try:
            run_git(
                ["fetch", "--quiet", "--no-tags", url, "+refs/heads/*:refs/remotes/src/*", "+refs/tags/*:refs/tags/*"],
                workdir,
            )
            return str(run_git(["rev-parse", "--verify", f"{against.ref}^{{commit}}"], workdir).stdout).strip()
        except GitError:
            pass
    message = str(first)
    if "couldn't find remote ref" in message or "not our ref" in message or "unadvertised object" in message:
        raise SourceError(
            f"--against {against.describe()}: no branch, tag or commit {ref!r} in {redact(against.location)}"
        ) from first
    raise SourceError(f"--against {against.describe()}: cannot read the repository: {message}") from first


def read_against(spec: str | Against, folders: Iterable[str]) -> tuple[dict[str, dict[str, str]], str]:
    """Read each folder (relative to the repository's root) from `PATH_OR_GIT_URL[@REF]`.

    Returns (folder -> {relative path: text}, a description of what was read, such as `repo.git@main
    (a1b2c3d)`). A missing folder reads as empty, and so does a repository nothing was ever pushed to (its
    first publish comes next). Raises SourceError.
    """
    against = parse_against(spec) if isinstance(spec, str) else spec
    folders = list(dict.fromkeys(folders))
    if not against.git:
        root = Path(against.location)
        return {folder: read_folder(root, folder) for folder in folders}, against.describe()
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-gitops-diff-"))
    try:
        commit = _fetch(against, workdir / "repo.git")
        if commit is None:
            return {folder: {} for folder in folders}, f"{against.describe()} (an empty repository)"
        files = read_tree_at(workdir / "repo.git", commit, folders)
        return files, f"{against.describe()} ({commit[:12]})"
    except GitError as exc:
        raise SourceError(f"--against {against.describe()}: {exc}") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def prefixed(per_folder: Mapping[str, Mapping[str, str]], folders: Mapping[str, str]) -> dict[str, str]:
    """{env: folder} and folder -> files  ->  `<env>/<rel>` -> text (the shape `compare` takes)."""
    return {f"{env}/{rel}": text for env, folder in folders.items() for rel, text in per_folder[folder].items()}


__all__ = [
    "Against",
    "SourceError",
    "looks_remote",
    "parse_against",
    "prefixed",
    "read_against",
    "read_folder",
    "read_tree_at",
]
