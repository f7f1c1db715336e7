"""`pin-image` on the config folder: every named environment file gets the image's digest (and tag), each
edit proven to load and validate before any file is replaced; any problem: nothing is written."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlflow_gitops.config.discovery import discover, display
from mlflow_gitops.config.edit import Edit, check_image_values, image_edit, replace_file
from mlflow_gitops.config.errors import ConfigError, Problem
from mlflow_gitops.config.load import load_environment


def _validates(name: str, edit: Edit, environ: Mapping[str, str]) -> list[Problem]:
    """The problems of the environment as the edited file would make it (named after the real file)."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", prefix=f".{edit.path.name}.", suffix=".check.yaml", dir=edit.path.parent
    ) as check:
        check.write(edit.text)
        check.flush()
        try:
            load_environment(name, Path(check.name), environ)
        except ConfigError as exc:
            shown = display(Path(check.name))
            return [dataclasses.replace(p, source=display(edit.path)) if p.source == shown else p for p in exc.problems]
    return []


def pin_image(
    config_dir: Path, names: Sequence[str], values: Mapping[str, str], environ: Mapping[str, str]
) -> list[Edit]:
    """Set `image.<key>` to each of `values` in the files of `names`; the edits made (unchanged ones too)."""
    problems = check_image_values(values)
    files = discover(config_dir)
    for name in names:
        if name not in files:
            available = ", ".join(sorted(files)) or "none"
            problems.append(
                Problem("--env", "", f"no such environment file in {display(config_dir)}; there are: {available}", name)
            )
    if problems:
        raise ConfigError(problems)
    edits = [image_edit(files[name], values, display(files[name])) for name in names]
    for name, edit in zip(names, edits, strict=True):
        problems += _validates(name, edit, environ)
    if problems:
        raise ConfigError(problems)
    for edit in edits:
        if edit.changed:
            replace_file(edit.path, edit.text)
    return edits
