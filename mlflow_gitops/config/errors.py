"""Config problems: each names where it came from, the key, the bad value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NO_VALUE = object()
"""Marks a problem that has no single value to show (a whole mapping or list)."""


@dataclass(frozen=True)
class Problem:
    source: str
    """The file (or `environment variable NAME`) the bad value came from."""
    path: str
    """Key path inside the config, such as `instances[0].host`."""
    message: str
    """What is wrong and what is allowed."""
    value: Any = NO_VALUE

    def __str__(self) -> str:
        shown = "" if self.value is NO_VALUE else f" {self.value!r}:"
        where = f" {self.path}:" if self.path else ""
        return f"{self.source}:{where}{shown} {self.message}"


class ConfigError(Exception):
    """Raised with every problem found, so a user fixes them in one pass."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def key_path(parts: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
