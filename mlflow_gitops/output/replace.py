"""Replace `<out>/<env>/` folders safely: only folders this tool wrote, atomically, crash-safe, one writer.

- Refused, before anything is touched: `/`, the home folder and any folder above it, the config folder and
  any folder above it, an `--out` that is not a folder, and an `<env>` entry that is a symbolic link, a file,
  or a folder holding anything this tool did not write (see `ownership`).
- One writer at a time: an exclusive `flock` on the `--out` folder itself, so no lock file is left behind.
- The new tree is written into a staging folder inside `--out` (the same filesystem), flushed to disk, then
  swapped with the old one in one `renameat2(RENAME_EXCHANGE)`: a reader sees the old tree or the new one,
  never a missing or mixed folder, and a kill at any point leaves one of the two in place. Where the kernel or
  filesystem cannot exchange, two renames are used and a kill between them is repaired by the next run.
- The staging folder holds a `.gitignore` of `*` from its first moment (so `git add -A` never picks up a
  leftover) and every run removes the leftovers of killed runs, including the `.staging-*` folders of
  earlier versions, when everything in them is this tool's.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from mlflow_gitops.output.ownership import describe, foreign_files

STAGING_PREFIX = ".mlflow-gitops-staging-"
LEGACY_STAGING_PREFIX = ".staging-"
"""Staging folders of versions before 0.2, which swapped with two plain renames."""
STAGING_MARKER = ".gitignore"
STAGING_MARKER_TEXT = "# mlflow-gitops staging folder: removed by the next synth; never commit it\n*\n"
PREVIOUS = ".previous-"
"""Prefix, inside a staging folder, of an old tree moved aside by the two-rename fallback."""

_AT_FDCWD = -100
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


class OutputError(Exception):
    """The output folder cannot be written as asked; nothing was touched. Exit code 2."""

    exit_code = 2


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name, None)
    except OSError:  # pragma: no cover - no C library to load
        return None


_renameat2 = _libc_function("renameat2")
_linkat = _libc_function("linkat")
_AT_EMPTY_PATH = 0x1000
_syncfs = _libc_function("syncfs")


def _rename2(source: Path, target: Path, flags: int) -> bool:
    """renameat2(2); False when this kernel, C library or filesystem does not support `flags`."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(target))


def _flush(fd: int) -> None:
    """Put everything written on the filesystem of `fd` on disk (one syncfs instead of an fsync per file)."""
    if _syncfs is None or _syncfs(fd) != 0:
        os.sync()


def protected_reason(out: Path, config_dir: Path | None) -> str | None:
    """Why `out` must never hold environment folders, if it must not."""
    try:
        target = out.resolve()
        home = Path.home().resolve() if os.environ.get("HOME") else None
        config = config_dir.resolve() if config_dir is not None else None
    except (OSError, RuntimeError) as exc:
        return f"cannot be resolved ({exc})"
    if target == Path(target.anchor):
        return "is the root folder"
    if home is not None and (target == home or target in home.parents):
        return f"is your home folder {home} or a folder above it"
    if config is not None and (target == config or target in config.parents):
        return f"is the config folder {config_dir} or a folder above it: synth would replace the config"
    return None


def check_destination(out: Path, folders: Sequence[str], *, config_dir: Path | None = None) -> None:
    """Raise OutputError if writing `folders` into `out` would touch what this tool did not write."""
    reason = protected_reason(out, config_dir)
    if reason:
        raise OutputError(f"--out {out}: {reason}; choose a folder of its own, such as dist")
    if os.path.lexists(out) and not out.is_dir():
        raise OutputError(f"--out {out}: exists and is not a folder")
    for folder in folders:
        _check_folder(out / folder, folder)


def _check_folder(target: Path, env: str) -> None:
    if not os.path.lexists(target):
        return
    if target.is_symlink():
        raise OutputError(
            f"{target} is a symbolic link, not a folder mlflow-gitops wrote; remove it or choose another --out"
        )
    if not target.is_dir():
        raise OutputError(f"{target} exists and is not a folder; remove it or choose another --out")
    foreign = foreign_files(target, env)
    if foreign:
        raise OutputError(
            f"{target} holds files mlflow-gitops did not write for environment {env!r} (no "
            f"mlflow-gitops header): {describe(foreign, str(target))}; it replaces only folders it "
            "wrote: move them away or choose another --out. Nothing was written"
        )


@contextlib.contextmanager
def locked(out: Path, waiting: Callable[[], None] | None = None) -> Iterator[int]:
    """Hold an exclusive lock on the folder `out` (its own inode: no lock file); yield its descriptor."""
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _is_ours(staging: Path) -> bool:
    """A staging folder with the marker, or (killed while writing it without O_TMPFILE) only a partial one."""
    try:
        text = (staging / STAGING_MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return text == STAGING_MARKER_TEXT or (
        STAGING_MARKER_TEXT.startswith(text) and os.listdir(staging) == [STAGING_MARKER]
    )


def sweep(out: Path) -> list[str]:
    """Finish or remove what killed runs left in `out` (hold the lock); return the names removed.

    An old tree moved aside by the two-rename fallback (or by an earlier version) whose folder is missing is
    put back first, so a kill between two renames never loses an environment.
    """
    removed = []
    for entry in sorted(os.listdir(out)):
        path = out / entry
        if entry.startswith(STAGING_PREFIX) and path.is_dir() and not path.is_symlink():
            if not _is_ours(path):
                with contextlib.suppress(OSError):
                    path.rmdir()  # killed before the marker was written: empty
                    removed.append(entry)
                continue
            _restore(path, out, PREVIOUS)
            remove_staging(path)
        elif entry.startswith(LEGACY_STAGING_PREFIX) and path.is_dir() and not path.is_symlink():
            if foreign_files(path, None):
                continue  # not only ours: leave it
            _restore(path, out, ".old-")
            shutil.rmtree(path)
        else:
            continue
        removed.append(entry)
    return removed


def remove_staging(staging: Path) -> None:
    """Remove a staging folder, its marker last: until everything else is gone, git still ignores it."""
    for entry in os.listdir(staging):
        if entry != STAGING_MARKER:
            path = staging / entry
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    with contextlib.suppress(FileNotFoundError):
        (staging / STAGING_MARKER).unlink()
    staging.rmdir()


def _restore(staging: Path, out: Path, prefix: str) -> None:
    for entry in os.listdir(staging):
        if entry.startswith(prefix):
            target = out / entry.removeprefix(prefix)
            if not os.path.lexists(target):
                os.rename(staging / entry, target)


def _write_marker(staging: Path) -> None:
    """Give `staging` its `.gitignore` so that the name appears with its whole content at once: written to an
    unnamed file (O_TMPFILE) that is then linked in. A kill never leaves an empty `.gitignore` that git
    would pick up. Where O_TMPFILE is not supported, a plain write (and `sweep` knows a partial marker)."""
    try:
        fd = os.open(staging, os.O_TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o644)
    except (AttributeError, OSError):
        _write_file(staging / STAGING_MARKER, STAGING_MARKER_TEXT)
        return
    try:
        os.write(fd, STAGING_MARKER_TEXT.encode())
        target = os.fsencode(staging / STAGING_MARKER)
        if _linkat is not None and _linkat(fd, b"", _AT_FDCWD, target, _AT_EMPTY_PATH) == 0:
            return
        try:
            os.link(f"/proc/self/fd/{fd}", target)
        except OSError:
            _write_file(staging / STAGING_MARKER, STAGING_MARKER_TEXT)
    finally:
        os.close(fd)


def _write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _swap(staged: Path, target: Path, staging: Path, folder: str) -> None:
    """Put `staged` at `target`: one atomic exchange (or rename), else two renames repaired by `sweep`."""
    if os.path.lexists(target):
        if _rename2(staged, target, _RENAME_EXCHANGE):
            return
        os.rename(target, staging / f"{PREVIOUS}{folder}")
        os.rename(staged, target)
    elif not _rename2(staged, target, _RENAME_NOREPLACE):
        os.rename(staged, target)


def write_tree(
    files: Mapping[str, str],
    out: Path,
    folders: Sequence[str],
    *,
    config_dir: Path | None = None,
    waiting: Callable[[], None] | None = None,
) -> None:
    """Write `files` (paths relative to `out`, each below one of `folders`), replacing each folder whole.

    Raises OutputError (nothing touched) when a folder is not this tool's to replace; see the module doc.
    """
    check_destination(out, folders, config_dir=config_dir)
    for relative in files:
        parts = relative.split("/")
        if parts[0] not in folders or len(parts) < 2 or any(p in {"", ".", ".."} for p in parts):
            raise ValueError(f"refusing to write {relative!r}: not a file inside one of {', '.join(folders)}")
    out.mkdir(parents=True, exist_ok=True)
    with locked(out, waiting) as out_fd:
        sweep(out)
        for folder in folders:
            _check_folder(out / folder, folder)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
        try:
            _write_marker(staging)
            for folder in folders:
                (staging / folder).mkdir(mode=0o755)
            for relative, text in files.items():
                _write_file(staging / relative, text)
            _flush(out_fd)
            for folder in folders:
                _check_folder(out / folder, folder)  # again: a file may have been added meanwhile
                _swap(staging / folder, out / folder, staging, folder)
            os.fsync(out_fd)
        finally:
            with contextlib.suppress(OSError):
                remove_staging(staging)
