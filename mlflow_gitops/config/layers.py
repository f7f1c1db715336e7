"""An environment file and the shared bases it extends, as layers merged lowest first.

`extends: _base.yaml` (or a list) at the top of an environment file names files, relative to the file that
names them, whose keys apply under the file's own: built-in defaults < each base, in the order given (a base
may extend others, which apply under it; a base reached twice applies once, where it came first) < the
file < environment variables < `--path`. Mappings merge key
by key; a list (such as `instances`) or a scalar set in a later layer replaces the earlier value whole.
Files in the config folder whose name starts with `_` are bases, never environments of their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_gitops.config.errors import ConfigError, Problem, key_path
from mlflow_gitops.config.yaml_file import read_yaml

EXTENDS = "extends"
MAX_LAYERS = 8
"""Files one environment may be made of: enough for a base per team and per cluster, and a bound on a loop."""
BASE_PREFIX = "_"
"""Config-folder files named `_<name>.yaml` are bases, not environments."""


@dataclass(frozen=True)
class Layer:
    source: str
    """The file as shown in messages."""
    doc: dict[str, Any]
    """Its keys, without `extends`."""


def _names(value: Any, source: str) -> list[str]:
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return list(value)
    raise ConfigError(
        [
            Problem(
                source,
                EXTENDS,
                "must be a file name or a list of file names (relative to this file), such as _base.yaml",
                value,
            )
        ]
    )


def layers(path: Path, display: Callable[[Path], str]) -> list[Layer]:
    """The layers of the environment file `path`, lowest first (its deepest base first, the file last)."""
    found: list[Layer] = []
    visiting: list[Path] = []
    done: set[Path] = set()

    def visit(file: Path, named_by: str | None) -> None:
        source = display(file)
        real = Path(os.path.realpath(file))
        if real in done:  # reached again through another base: it applies once, where it came first
            return
        if real in visiting:
            chain = " -> ".join(display(p) for p in [*visiting, real])
            raise ConfigError([Problem(named_by or source, EXTENDS, f"extends itself through {chain}")])
        if len(found) + len(visiting) >= MAX_LAYERS:
            raise ConfigError(
                [
                    Problem(
                        named_by or source,
                        EXTENDS,
                        f"more than {MAX_LAYERS} files extend one another; an environment is made of at most that many",
                    )
                ]
            )
        if not file.is_file():
            raise ConfigError(
                [
                    Problem(
                        named_by or source,
                        EXTENDS,
                        "no such file (the path is relative to the file that names it)",
                        str(file),
                    )
                ]
            )
        doc = read_yaml(file, source)
        bases = _names(doc.pop(EXTENDS), source) if EXTENDS in doc else []
        visiting.append(real)
        for base in bases:
            visit(file.parent / base, source)
        visiting.pop()
        done.add(real)
        found.append(Layer(source, doc))

    visit(path, None)
    return found


def _leaves(doc: dict[str, Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], bool]]:
    """(key path, is a non-empty mapping) for every key of `doc`, parents before their keys."""
    for key, value in doc.items():
        path = (*prefix, key)
        nested = isinstance(value, dict) and bool(value)
        yield path, nested
        if nested:
            yield from _leaves(value, path)


def _walk(layer_list: list[Layer]) -> tuple[dict[tuple[Any, ...], str], list[str]]:
    """Key path -> the last layer that set it (down to the values that are not mappings), and the
    `key (later over earlier)` lines of values set again over a base's."""
    origins: dict[tuple[Any, ...], str] = {}
    mappings: set[tuple[Any, ...]] = set()
    found: list[str] = []
    for layer in layer_list:
        for path, nested in _leaves(layer.doc):
            if nested:
                mappings.add(path)
                continue
            earlier = origins.get(path)
            if path in mappings:  # a mapping replaced whole by a value: its keys were set earlier
                below = [k for k in origins if k[: len(path)] == path]
                earlier = earlier or (origins[below[0]] if below else None)
                for known in below:
                    del origins[known]
                mappings.discard(path)
            if earlier is not None and earlier != layer.source:
                found.append(f"{key_path(path)} ({layer.source} over {earlier})")
            origins[path] = layer.source
    return origins, found


def key_origins(layer_list: list[Layer]) -> dict[tuple[Any, ...], str]:
    """Key path -> the last layer that set it, down to the values that are not mappings."""
    return _walk(layer_list)[0]


def overrides(layer_list: list[Layer]) -> list[str]:
    """`key (later file over earlier file)` for each value a later layer sets again over a base's."""
    return _walk(layer_list)[1]
