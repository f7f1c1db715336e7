"""The built-in defaults, each spelled once, in three files of this package: `defaults.yaml` (an environment),
`instance-defaults.yaml` (each entry of `instances`) and `optional-defaults.yaml` (the keys of an object that
is off unless set, by its dotted path). The loader merges them; `schema_defaults` copies them into the schema
and the README."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

ENVIRONMENT = "defaults.yaml"
INSTANCE = "instance-defaults.yaml"
OPTIONAL = "optional-defaults.yaml"
FILES = (ENVIRONMENT, INSTANCE, OPTIONAL)


def text(name: str) -> str:
    """One of FILES as written."""
    return resources.files("mlflow_gitops.config").joinpath(name).read_text(encoding="utf-8")


@cache
def _parsed(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(text(name)))


def document(name: str) -> dict[str, Any]:
    """One of FILES, parsed: a copy of its own, free to change."""
    return copy.deepcopy(_parsed(name))
