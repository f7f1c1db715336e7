"""Read one environment file safely: bounded in size, nesting and alias expansion, keys checked.

A config file is small (a 100-instance environment is about 20 KB), so anything far larger, nested deeper
or expanding to more values than any real config is refused before it is built, fast and with a message:
a YAML alias bomb of a few hundred bytes would otherwise expand into gigabytes in every later step
(merging, validation and error messages walk the expanded tree).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from mlflow_gitops.config.errors import ConfigError, Problem

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32
"""Nesting of mappings and lists; the schema's deepest key is 5 levels down."""
MAX_VALUES = 100_000
"""Values (scalars, mappings, lists) after expanding aliases; a 1,000-instance file has about 10,000."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present


class _UniqueKeyLoader(_Loader):  # type: ignore[misc, valid-type]
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently) and a
    key that is not a string (the config has only string keys; a list or mapping key would crash later)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: its keys may be overridden here
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                shown = type(key).__name__ if isinstance(key, list | dict | set | tuple | bytes) else repr(key)
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a string, found {shown}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        mapping = super().construct_mapping(node, deep=deep)
        for key in mapping:  # keys brought in by a merge
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a string, found {key!r}", node.start_mark
                )
        return dict(mapping)


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _check_shape(text: str, source: str) -> None:
    """One pass over the parser's events: nesting depth and the value count after alias expansion."""
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []  # (anchor, values so far) per open collection
    total = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            sizes.pop(event.anchor or "", None)  # an alias inside refers to this collection: recursive
            stack.append((event.anchor, 1))
            if len(stack) > MAX_DEPTH:
                raise ConfigError(
                    [
                        Problem(
                            source,
                            _where(event.start_mark),
                            f"nested more than {MAX_DEPTH} levels deep; an environment file needs 6",
                        )
                    ]
                )
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                raise ConfigError(
                    [
                        Problem(
                            source,
                            _where(event.start_mark),
                            f"alias *{event.anchor} refers to a value that holds it (a recursive "
                            "alias) or to no anchor",
                        )
                    ]
                )
            anchor, size = None, sizes[event.anchor]
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if stack:
            stack[-1] = (stack[-1][0], stack[-1][1] + size)
        else:
            total += size
        if total + sum(open_size for _, open_size in stack) > MAX_VALUES:
            raise ConfigError(
                [
                    Problem(
                        source,
                        _where(event.start_mark),
                        f"expands to more than {MAX_VALUES} values (YAML aliases repeat what they "
                        "point at); an environment file needs a few thousand",
                    )
                ]
            )


def _read_bytes(path: Path, source: str) -> bytes:
    """The file's bytes, refusing anything but a regular file of at most MAX_FILE_BYTES (never blocking on a
    FIFO, never reading a device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError([Problem(source, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError([Problem(source, "", "not a regular file: an environment file must be a plain file")])
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(
                [
                    Problem(
                        source,
                        "",
                        f"the file is {info.st_size} bytes; at most {MAX_FILE_BYTES} "
                        "are allowed (an environment file is a few KB)",
                    )
                ]
            )
        chunks, size = [], 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise ConfigError([Problem(source, "", f"the file grew past {MAX_FILE_BYTES} bytes while read")])
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError([Problem(source, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    finally:
        os.close(fd)


def read_yaml(path: Path, source: str) -> dict[str, Any]:
    """The mapping an environment file holds ({} for an empty file). Raises ConfigError naming `source`."""
    try:
        text = _read_bytes(path, source).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(source, "", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        _check_shape(text, source)
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context, problem = getattr(exc, "context", None), getattr(exc, "problem", None)
        problem = ", ".join(p for p in (context, problem) if p) or str(exc).splitlines()[0]
        raise ConfigError([Problem(source, _where(mark), f"malformed YAML: {problem}")]) from None
    except RecursionError:  # pragma: no cover - _check_shape bounds the depth first
        raise ConfigError([Problem(source, "", f"nested more than {MAX_DEPTH} levels deep")]) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError([Problem(source, "", "the file must hold a mapping of keys", type(doc).__name__)])
    return doc
