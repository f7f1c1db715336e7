"""The config folder: which entries are environment files (`discover`), and how paths are shown in messages."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from mlflow_gitops.config.errors import ConfigError, Problem
from mlflow_gitops.config.layers import BASE_PREFIX

ENV_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


SUFFIXES = (".yaml", ".yml")


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def _entry_problem(path: Path) -> str | None:
    """Why `path` (a `*.yaml` entry of the config folder) cannot be an environment file, if it cannot."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        return f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        return f"{_KINDS.get(stat.S_IFMT(info.st_mode), 'not a regular file')}, not an environment file"
    return None


def _folder_problem(config_dir: Path) -> str | None:
    if not os.path.lexists(config_dir):
        return "no such folder"
    try:
        info = config_dir.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops"
        return (
            f"a symbolic link to {os.readlink(config_dir)!r}, which does not exist"
            if config_dir.is_symlink()
            else f"cannot be read: {exc.strerror or exc}"
        )
    if not stat.S_ISDIR(info.st_mode):
        return "not a folder"
    return None


def discover(config_dir: Path) -> dict[str, Path]:
    """Environment files in `config_dir`: name -> path (`<name>.yaml` or `<name>.yml`).

    Every entry named like an environment file must be one: a dangling or looping symbolic link, a FIFO, a
    device or a folder there is an error, as are `x.yaml` next to `x.yml`, an upper-case suffix and a name
    that cannot name an output folder. Hidden entries (`.sops.yaml`, `.yamllint.yml`) belong to other tools
    and are left alone. Raises ConfigError naming each path.
    """
    where = display(config_dir)
    problem = _folder_problem(config_dir)
    if problem:
        raise ConfigError([Problem(f"--config-dir {where}", "", problem)])
    try:
        entries = sorted(os.listdir(config_dir))
    except OSError as exc:
        raise ConfigError(
            [Problem(f"--config-dir {where}", "", f"cannot list the folder: {exc.strerror or exc}")]
        ) from None
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    for entry in entries:
        stem, dot, suffix = entry.rpartition(".")
        if entry.startswith((".", BASE_PREFIX)) or not dot or f".{suffix.lower()}" not in SUFFIXES:
            continue  # hidden files belong to other tools; `_name.yaml` is a base that environments extend
        path = config_dir / entry
        if f".{suffix}" not in SUFFIXES:
            problems.append(
                Problem(
                    display(path),
                    "",
                    f"the suffix must be .yaml or .yml in lower case; rename the file to {stem}.{suffix.lower()}",
                )
            )
            continue
        problem = _entry_problem(path)
        if problem:
            problems.append(Problem(display(path), "", problem))
            continue
        if not ENV_NAME.match(stem) or len(stem) > 63:
            problems.append(
                Problem(
                    display(path),
                    "",
                    "an environment file name must be an RFC 1123 label "
                    "(lower-case letters, digits, '-', at most 63): it names the output folder",
                    stem,
                )
            )
            continue
        if stem in found:
            problems.append(
                Problem(
                    display(path),
                    "",
                    f"{found[stem].name} defines the environment {stem!r} too; keep one of the two files",
                )
            )
            continue
        found[stem] = path
    if problems:
        raise ConfigError(problems)
    return found


def display(path: Path) -> str:
    """`path` relative to the working folder when it is inside it (symbolic links are not followed)."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, os.getcwd())
    return absolute if relative.startswith("..") else relative
