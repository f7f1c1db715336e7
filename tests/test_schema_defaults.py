"""Every default is spelled once, in the defaults files: the JSON Schema's `default` keywords are derived from
them (and current), and no description spells a default again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlflow_gitops.config import schema_defaults
from tests.conftest import REPO


def spelled(value: Any) -> str:
    """A default as a description would write it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(spelled(v) for v in value) + "]"
    return "none" if value is None else str(value)


def defaulted(node: Any, path: str = "") -> Iterator[tuple[str, Any, str]]:
    """(path, default, description) of every property with a `default`."""
    if isinstance(node, dict):
        if "default" in node:
            yield path, node["default"], node.get("description", "")
        for key, sub in node.items():
            if key != "default":
                yield from defaulted(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from defaulted(sub, f"{path}/{i}")


def test_the_schema_carries_the_defaults_of_the_defaults_files() -> None:
    current = json.loads(schema_defaults.SCHEMA.read_text())
    assert schema_defaults.dumps(schema_defaults.with_defaults(current)) == schema_defaults.SCHEMA.read_text(), (
        "schema.json is not current: run make schema"
    )
    paths = {path for path, _, _ in defaulted(current)}
    assert "/properties/image/properties/tag/default" not in paths  # (the path of the node, not of the keyword)
    assert "/properties/image/properties/tag" in paths
    assert "/$defs/instance/properties/replicas" in paths


def test_no_description_restates_its_default() -> None:
    current = json.loads(schema_defaults.SCHEMA.read_text())
    restated = [
        (path, description)
        for path, value, description in defaulted(current)
        if "default" in description.lower().replace("the default is", "")
        or (not isinstance(value, dict) and f" {spelled(value)}." in f" {description}")
    ]
    assert restated == []


def test_the_readme_shows_the_defaults_files_as_they_are() -> None:
    readme = (REPO / "README.md").read_text()
    assert schema_defaults.with_readme_block(readme) == readme, "README's defaults block is not current: make schema"
    block = readme.split(schema_defaults.README_START, 1)[1].split(schema_defaults.README_END, 1)[0]
    assert "# mlflow_gitops/config/instance-defaults.yaml\n" in block and "\nreplicas: 1\n" in block
