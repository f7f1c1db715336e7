"""Changing one key of an environment file in place (`pin-image`), keeping its comments and layout.

The file is edited as text, one line per key, and the edit is proven: the new text must load to the old
document with only those keys changed, and the environment must still validate, before the file is replaced
(atomically: a temporary file in the same folder, flushed, renamed over it).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlflow_gitops.config.errors import ConfigError, Problem

DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_-]*):(?P<rest>.*)$")
_SUB_KEY = re.compile(r"^(?P<indent>[ ]+)(?P<key>[A-Za-z_][A-Za-z0-9_-]*):(?P<value>[^#]*?)(?P<comment>\s+#.*)?$")


@dataclass(frozen=True)
class Edit:
    path: Path
    before: dict[str, Any]
    """image.<key> -> the value the file set before (None: not set in the file)."""
    after: dict[str, str]
    text: str

    @property
    def changed(self) -> bool:
        return any(self.before.get(key) != value for key, value in self.after.items())


def check_image_values(values: Mapping[str, str]) -> list[Problem]:
    problems = []
    if "digest" in values and not DIGEST.match(values["digest"]):
        problems.append(Problem("--digest", "", "must be sha256: and 64 lower-case hex digits", values["digest"]))
    if "tag" in values and not TAG.match(values["tag"]):
        problems.append(
            Problem("--tag", "", "must be an image tag: letters, digits, '_', '.', '-', at most 128", values["tag"])
        )
    return problems


BUILDX_DIGEST = "containerimage.digest"


def digest_from_metadata(path: Path) -> str:
    """The pushed image's digest from the metadata file of `docker buildx build --metadata-file`."""
    source = f"--digest-file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError([Problem(source, "", f"cannot read buildx metadata: {exc}")]) from None
    digest = data.get(BUILDX_DIGEST) if isinstance(data, dict) else None
    if not isinstance(digest, str):
        raise ConfigError(
            [Problem(source, BUILDX_DIGEST, "missing: was the image pushed (docker buildx build --push)?")]
        )
    return digest


def _scalar(value: str) -> str:
    """`value` as YAML that loads back to the same string (a tag such as 1.10 would otherwise be a number)."""
    return value if yaml.safe_load(value) == value else json.dumps(value)


def image_edit(path: Path, values: Mapping[str, str], source: str) -> Edit:
    """The file's text with `image.<key>: value` for each of `values` (ConfigError when it cannot be done
    line by line: flow-style `image: {...}`, or a result that would not load as intended)."""
    text = path.read_text(encoding="utf-8")
    old = yaml.safe_load(text) or {}
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _TOP_KEY.match(line) and line.startswith("image:")), None)
    before = dict.fromkeys(values)
    if start is None:
        tail = "" if not lines or lines[-1].endswith("\n") else "\n"
        block = "".join(f"  {key}: {_scalar(value)}\n" for key, value in values.items())
        new_text = text + tail + "image:\n" + block
    else:
        rest = _TOP_KEY.match(lines[start]).group("rest")  # type: ignore[union-attr]
        if rest.split("#", 1)[0].strip():
            raise ConfigError(
                [
                    Problem(
                        source,
                        "image",
                        "is written in flow style; write it as a block (image:, then one key per line) so "
                        "pin-image can change the lines it sets",
                        rest.strip(),
                    )
                ]
            )
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " #"):
            end += 1
        keys = {m["key"]: i for i in range(start + 1, end) if (m := _SUB_KEY.match(lines[i].rstrip("\n")))}
        indent = next((_SUB_KEY.match(lines[i].rstrip("\n"))["indent"] for i in keys.values()), "  ")  # type: ignore[index]
        last = max(keys.values(), default=start)
        for key, value in values.items():
            if key in keys:
                i = keys[key]
                match = _SUB_KEY.match(lines[i].rstrip("\n"))
                assert match is not None
                before[key] = (old.get("image") or {}).get(key)
                lines[i] = f"{match['indent']}{key}: {_scalar(value)}{match['comment'] or ''}\n"
            else:
                last += 1
                lines.insert(last, f"{indent}{key}: {_scalar(value)}\n")
        new_text = "".join(lines)
    expected = {**old, "image": {**(old.get("image") or {}), **values}}
    if yaml.safe_load(new_text) != expected:
        raise ConfigError(
            [Problem(source, "image", "cannot be changed line by line here (unusual layout): set it by hand")]
        )
    return Edit(path, before, dict(values), new_text)


def replace_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, keeping the file's mode."""
    mode = path.stat().st_mode & 0o7777
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, mode)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
