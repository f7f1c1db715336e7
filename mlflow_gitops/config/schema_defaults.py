"""The copies of the defaults files where every default is spelled (`defaults.yaml` for the environment,
`instance-defaults.yaml` for each entry of `instances`, `optional-defaults.yaml` for the keys of an object
that is off unless set): the JSON Schema's `default` keywords, so an editor
shows them, and the README's block of built-in defaults. `python -m mlflow_gitops.config.schema_defaults
[README]` rewrites schema.json (and the README's block; `make schema`); tests/test_schema_defaults.py checks
both are current and that no description restates a default.
"""

from __future__ import annotations

import copy
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from mlflow_gitops.config import builtin

SCHEMA = Path(str(resources.files("mlflow_gitops.config").joinpath("schema.json")))
README_START, README_END = "<!-- defaults:start -->", "<!-- defaults:end -->"
NOT_ANNOTATED = frozenset({"instances"})
"""Environment defaults too large to show as a `default` (the one built-in instance)."""


def _target(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The schema a property's `properties` live in: the node itself or the definition its `$ref` names."""
    while "$ref" in node and "properties" not in node:
        found: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        node = found
    return node


def _annotate(root: dict[str, Any], node: dict[str, Any], defaults: dict[str, Any], path: str) -> None:
    properties = _target(root, node).get("properties", {})
    for key, value in defaults.items():
        if key not in properties:
            raise KeyError(f"{path}{key}: a default for a key the schema does not have")
        if isinstance(value, dict) and _target(root, properties[key]) is properties[key]:
            _annotate(root, properties[key], value, f"{path}{key}.")
        else:  # a value, or an object of a shared definition: its default differs per use, so it goes beside
            properties[key]["default"] = value  # the $ref (2020-12 reads a $ref's siblings)


def without_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `default` keyword removed."""
    if isinstance(schema, dict):
        return {k: without_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [without_defaults(v) for v in schema]
    return schema


def with_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the `default` of every key the defaults files set (any earlier `default` replaced)."""
    annotated = copy.deepcopy(without_defaults(schema))
    env = {k: v for k, v in builtin.document(builtin.ENVIRONMENT).items() if k not in NOT_ANNOTATED}
    _annotate(annotated, annotated, env, "")
    instance = annotated["properties"]["instances"]["items"]
    _annotate(annotated, instance, builtin.document(builtin.INSTANCE), "instances[].")
    for path, defaults in builtin.document(builtin.OPTIONAL).items():
        node = annotated
        for part in path.split("."):
            node = _target(annotated, node)["properties"][part]
        _annotate(annotated, node, defaults, f"{path}.")
    return annotated


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def with_readme_block(readme: str) -> str:
    """`readme` with the two defaults files, verbatim, between its defaults markers."""
    before, rest = readme.split(README_START, 1)
    _, after = rest.split(README_END, 1)
    files = "".join(
        f"\n```yaml\n# mlflow_gitops/config/{name}\n{builtin.text(name).rstrip()}\n```\n" for name in builtin.FILES
    )
    return f"{before}{README_START}{files}{README_END}{after}"


def _replace(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(text)
    staged.replace(path)


def main(argv: list[str]) -> int:
    _replace(SCHEMA, dumps(with_defaults(json.loads(SCHEMA.read_text()))))
    for readme in map(Path, argv):
        _replace(readme, with_readme_block(readme.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
