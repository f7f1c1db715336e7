"""The old module's environment variables (MLFLOW_IMAGE_TAG, KEYCLOAK_HOST, ...): which key each sets, how its
value is parsed, and their application over the merged config (after the files, before the schema)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlflow_gitops.config.errors import Problem, key_path
from mlflow_gitops.scripts.jobkit import parse_flag as _parse_bool


def _parse_text(raw: str) -> str:
    return raw


# The old module's variables: name -> (key path, where '*' means the single instance; parser).
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "MLFLOW_NAMESPACE": (("instances", "*", "namespace"), _parse_text),
    "MLFLOW_HOST": (("instances", "*", "host"), _parse_text),
    "MLFLOW_IMAGE_TAG": (("image", "tag"), _parse_text),
    "MLFLOW_IMAGE_PULL_POLICY": (("image", "pullPolicy"), _parse_text),
    "IMAGE_REGISTRY": (("image", "registry"), _parse_text),
    "KEYCLOAK_HOST": (("keycloak", "host"), _parse_text),
    "KEYCLOAK_REALM": (("keycloak", "realm"), _parse_text),
    "POSTGRES_NAMESPACE": (("postgres", "namespace"), _parse_text),
    "MINIO_NAMESPACE": (("s3", "minioNamespace"), _parse_text),
    "PROMETHEUS_NAMESPACE": (("monitoring", "prometheusNamespace"), _parse_text),
    "MONITORING_ENABLED": (("monitoring", "enabled"), _parse_bool),
}


def apply_environment(
    merged: dict[str, Any], environ: Mapping[str, str], problems: list[Problem]
) -> dict[tuple[Any, ...], str]:
    """Apply the override variables in place; return which key paths each one set."""
    set_by: dict[tuple[Any, ...], str] = {}
    for var, (path, parse) in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        source = f"environment variable {var}"
        if not environ[var].strip():
            shown = key_path(tuple(0 if part == "*" else part for part in path))
            problems.append(
                Problem(
                    source,
                    shown,
                    "set but empty; give a value or unset the variable to keep the config's value",
                    environ[var],
                )
            )
            continue
        try:
            value = parse(environ[var])
        except ValueError as exc:
            problems.append(Problem(source, key_path(path), str(exc), environ[var]))
            continue
        if path[0] == "instances":
            instances = merged.get("instances")
            if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
                count = len(instances) if isinstance(instances, list) else 0
                problems.append(
                    Problem(
                        source,
                        "instances",
                        f"applies only to an environment with exactly one instance; "
                        f"this one has {count}: set the key per instance in the file instead",
                    )
                )
                continue
            instances[0][path[2]] = value
            set_by[("instances", 0, path[2])] = source
        else:
            section = merged.setdefault(path[0], {})
            if isinstance(section, dict):
                section[path[1]] = value
                set_by[path] = source
    return set_by
