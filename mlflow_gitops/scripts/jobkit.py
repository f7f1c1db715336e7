"""What the setup Jobs share, shipped beside them in the bootstrap ConfigMap (a script imports it as `jobkit`):
the errors that set the exit code, redaction of secrets from every line printed, and reading a setting from
a variable or the file a `<NAME>_FILE` variable names.

Standard library only: it runs on the custom image and in the tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
MIN_REDACTED_LENGTH = 6
"""Shorter values are not redacted: they would mangle ordinary words ("admin") in messages."""


class ConfigError(Exception):
    """Invalid or missing settings: exit code 2."""


class Failure(Exception):
    """A failure explained in plain words (a service unreachable, an operation refused): exit code 1."""


_SECRETS: list[str] = []


def hide(values: Iterable[str]) -> None:
    """Redact these values from every line printed from now on (longest first, so none is half-shown)."""
    kept = {*_SECRETS, *(v for v in values if len(v) >= MIN_REDACTED_LENGTH)}
    _SECRETS[:] = sorted(kept, key=len, reverse=True)


def redact(text: str) -> str:
    """Defence in depth: no message is built from a secret, but a server's error could echo one."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def say(line: str) -> None:
    """A line of progress on stdout, redacted."""
    print(redact(line), flush=True)


def warn(line: str) -> None:
    """A line on stderr, redacted."""
    print(redact(line), file=sys.stderr, flush=True)


def parse_flag(value: str) -> bool:
    """true/false, also 1/0, yes/no, on/off (any case); ValueError otherwise."""
    word = value.strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


def read_variable(environ: Mapping[str, str], name: str, *, file_ok: bool = False) -> str | None:
    """The value of `name`, or (`file_ok`) of the file `<name>_FILE` names without its line ending; None when
    unset or blank. ConfigError when both are set or the file cannot be read or is empty."""
    value = environ.get(name)
    if value is not None and not value.strip():
        value = None
    file_name = environ.get(f"{name}_FILE", "").strip() if file_ok else ""
    if not file_name:
        return value
    if value is not None:
        raise ConfigError(f"set either {name} or {name}_FILE, not both")
    try:
        text = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{name}_FILE: cannot read {file_name}: {reason}") from None
    if not text.strip():
        raise ConfigError(f"{name}_FILE: {file_name} is empty")
    return text
