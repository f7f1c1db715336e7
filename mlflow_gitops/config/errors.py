"""Config problems: each names where it came from, the key, the bad value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow_gitops.text import redact, shorten

MAX_VALUE_SHOWN = 120
"""Characters of a bad value echoed in a message (a value can be megabytes)."""
MAX_MESSAGE = 600
MAX_PROBLEMS = 50
"""Problems printed per run; the rest are counted."""

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
        """One line: source, key path, the value (credentials in URLs masked, long values cut), message."""
        shown = "" if self.value is NO_VALUE else f" {shorten(redact(repr(self.value)), MAX_VALUE_SHOWN)}:"
        where = f" {shorten(self.path, MAX_VALUE_SHOWN)}:" if self.path else ""
        line = f"{self.source}:{where}{shown} {redact(self.message)}"
        return shorten(line.replace("\n", " "), MAX_MESSAGE)


class ConfigError(Exception):
    """Raised with every problem found, so a user fixes them in one pass."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """What to print: every problem up to MAX_PROBLEMS, then how many more there are."""
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS]]
        if len(self.problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(self.problems) - MAX_PROBLEMS} more problems (fix these first)")
        return shown


def key_path(parts: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in parts:
        out += (
            f"[{part}]"
            if isinstance(part, int)
            else (f".{shorten(str(part), MAX_VALUE_SHOWN)}" if out else shorten(str(part), MAX_VALUE_SHOWN))
        )
    return out
