"""The JSON Schema (schema.json) and how its errors are worded: one Problem per error, with the key path, the
bad value and what is allowed. The cross-field if/then rules it carries for editors are left to `rules`."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from mlflow_gitops.config.errors import NO_VALUE, Problem, key_path


@cache
def schema() -> dict[str, Any]:
    return dict(json.loads(resources.files("mlflow_gitops.config").joinpath("schema.json").read_text()))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def _describe(error: jsonschema.ValidationError) -> str:
    sub: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    hint = f" ({sub['description']})" if "description" in sub else ""
    match error.validator:
        case "additionalProperties":
            allowed = ", ".join(sorted(sub.get("properties", {})))
            return f"unknown key; allowed keys here: {allowed}"
        case "enum":
            return "allowed values: " + ", ".join(str(v) for v in error.validator_value)  # type: ignore[union-attr]
        case "type":
            return f"wrong type {type(error.instance).__name__}; expected {error.validator_value}"
        case "pattern":
            return f"must be {sub['title']}" if "title" in sub else f"must match {error.validator_value}"
        case "minimum" | "maximum":
            return f"out of range; allowed {sub.get('minimum', '-inf')}..{sub.get('maximum', 'inf')}{hint}"
        case "maxLength" | "minLength":
            return f"length must be {sub.get('minLength', 0)}..{sub.get('maxLength', 'any')} characters"
        case "required":
            return error.message
        case _:
            return f"{error.message}{hint}"


def _is_cross_field_rule(error: jsonschema.ValidationError) -> bool:
    """The schema's `allOf` if/then rules (each marked `x-rule`) are there for editors: `rules` checks the
    same on the merged config, with its defaults and a message that says what to change."""
    return "allOf" in error.schema_path


def schema_problems(doc: dict[str, Any], origin: Callable[[tuple[Any, ...]], str]) -> list[Problem]:
    problems = []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in errors:
        if _is_cross_field_rule(error):
            continue
        parts = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            known = set(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - known):
                path = (*parts, key)
                problems.append(Problem(origin(path), key_path(path), _describe(error), key))
            continue
        value = NO_VALUE if isinstance(error.instance, dict | list) else error.instance
        problems.append(Problem(origin(parts), key_path(parts), _describe(error), value))
    return problems


def max_instances() -> int:
    return int(schema()["properties"]["instances"]["maxItems"])
