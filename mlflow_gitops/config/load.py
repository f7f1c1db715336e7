"""Read environment files once, apply the old module's environment variables, validate, build settings.

Flow: built-in defaults <- the bases the file extends (`layers`) <- environment file <- environment
variables (`environ`) -> JSON Schema (`schema_check`) -> frozen settings (`mapping`) -> semantic checks
(`rules`). The config folder's files are found by `discovery`. Every problem is collected and raised
together as a ConfigError.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow_gitops import settings as s
from mlflow_gitops.config import builtin, rules
from mlflow_gitops.config.discovery import discover, display
from mlflow_gitops.config.environ import ENV_OVERRIDES, apply_environment
from mlflow_gitops.config.errors import ConfigError, Problem, key_path
from mlflow_gitops.config.layers import Layer, key_origins, layers, overrides
from mlflow_gitops.config.mapping import settings_from
from mlflow_gitops.config.schema_check import max_instances, schema, schema_problems

DEFAULT_ENVIRONMENT = "default"
BUILT_IN = "built-in defaults"
CUSTOMIZE = "customize.py"
"""A Python file of the config folder whose `customize(platform)` runs for each instance (constructs.customize)."""
MAX_INSTANCES = 1000
"""Instances per environment: far more than one cluster runs, and a bound on the work of a bad file."""


def _with_optional_defaults(document: dict[str, Any]) -> None:
    """Merge the defaults of each optional object (optional-defaults.yaml) under it where it is set."""
    for path, defaults in builtin.document(builtin.OPTIONAL).items():
        *parents, key = path.split(".")
        holder: Any = document
        for part in parents:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(key), dict):
            holder[key] = _merge(defaults, holder[key])


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(over)


def load_document(name: str, document: Mapping[str, Any], source: str = "props") -> s.EnvironmentSettings:
    """Settings of environment `name` from `document` (an environment file's content as a mapping), checked
    exactly as a file is; problems name `source`. For constructs used from a user's own cdk8s app."""
    return load_environment(name, None, {}, document=(source, dict(document)))


def load_environment(
    name: str,
    path: Path | None,
    environ: Mapping[str, str],
    gitops_path: str | None = None,
    *,
    document: tuple[str, dict[str, Any]] | None = None,
) -> s.EnvironmentSettings:
    """Load one environment from `path` (None: the built-in default environment, or `document`: (source,
    content) given in memory).

    `gitops_path` (publish --path) overrides `gitops.path`, which the engine objects point at.
    """
    if document is not None:
        source, stack = document[0], [Layer(document[0], copy.deepcopy(document[1]))]
    else:
        source = display(path) if path else BUILT_IN
        stack = layers(path, display) if path else []
    file_doc: dict[str, Any] = {}
    for layer in stack:
        file_doc = _merge(file_doc, layer.doc)
    merged = _merge(builtin.document(builtin.ENVIRONMENT), file_doc)
    problems: list[Problem] = []
    set_by = apply_environment(merged, environ, problems)
    if gitops_path is not None:
        merged.setdefault("gitops", {})["path"] = gitops_path
        set_by[("gitops", "path")] = "--path"
    from_bases = {key: where for key, where in key_origins(stack).items() if where != source}

    def origin(parts: tuple[Any, ...]) -> str:
        for length in range(len(parts), 0, -1):
            if parts[:length] in set_by:
                return set_by[parts[:length]]
            if parts[:length] in from_bases:
                return from_bases[parts[:length]]
        return source

    def explicit(parts: tuple[Any, ...]) -> bool:
        return parts in set_by or _lookup(file_doc, parts) is not _MISSING

    instances = merged.get("instances")
    if isinstance(instances, list) and len(instances) > max_instances():
        raise ConfigError(
            [
                Problem(
                    origin(("instances",)),
                    "instances",
                    f"{len(instances)} instances; at most {max_instances()} are allowed in one environment",
                )
            ]
        )
    if isinstance(instances, list):  # each instance over the instance defaults (instance-defaults.yaml)
        merged["instances"] = [
            _merge(builtin.document(builtin.INSTANCE), i) if isinstance(i, dict) else i for i in instances
        ]
    _with_optional_defaults(merged)
    problems += schema_problems(merged, origin)
    if problems:
        raise ConfigError(problems)
    env = settings_from(name, source, merged)
    precedence = (BUILT_IN, *(layer.source for layer in stack), *dict.fromkeys(set_by.values()))
    file_origins = key_origins(stack)
    by_variables = [
        f"{key_path(key)} ({by} over {file_origins[key]})" for key, by in set_by.items() if key in file_origins
    ]
    env = dataclasses.replace(env, precedence=precedence, overrides=(*overrides(stack), *by_variables))
    problems = rules.problems(env, origin, explicit)
    if problems:
        raise ConfigError(problems)
    return env


_MISSING = object()


def _lookup(doc: Any, parts: tuple[Any, ...]) -> Any:
    for part in parts:
        in_mapping = isinstance(doc, dict) and isinstance(part, str) and part in doc
        in_list = isinstance(doc, list) and isinstance(part, int) and 0 <= part < len(doc)
        if in_mapping or in_list:
            doc = doc[part]
        else:
            return _MISSING
    return doc


def load_environments(
    names: list[str] | None, config_dir: Path | None, environ: Mapping[str, str], gitops_path: str | None = None
) -> list[s.EnvironmentSettings]:
    """Load the named environments from the files of `config_dir` (all of them when `names` is None).

    `config_dir` None means no config folder at all: only the built-in `default` environment exists. A
    folder that is missing, unreadable or holds no environment file is an error, never the built-in
    default; `default` names the built-in environment unless the folder holds a default.yaml.
    """
    files = discover(config_dir) if config_dir is not None else {}
    problems: list[Problem] = []
    if config_dir is not None and not files and not names:
        raise ConfigError(
            [
                Problem(
                    f"--config-dir {display(config_dir)}",
                    "",
                    "holds no environment file (<name>.yaml or <name>.yml); name one with --env or add a file",
                )
            ]
        )
    wanted = list(names) if names else (list(files) or [DEFAULT_ENVIRONMENT])
    for name in wanted:
        if name not in files and name != DEFAULT_ENVIRONMENT:
            available = ", ".join(sorted({*files, DEFAULT_ENVIRONMENT}))
            where = f"in {display(config_dir)}" if config_dir is not None else "(no config folder)"
            problems.append(Problem("--env", "", f"no such environment {where}; available: {available}", name))
    if len(set(wanted)) != len(wanted):
        problems.append(Problem("--env", "", "an environment is named twice", ",".join(wanted)))
    if problems:
        raise ConfigError(problems)
    hook = display(config_dir / CUSTOMIZE) if config_dir is not None and (config_dir / CUSTOMIZE).is_file() else None
    loaded = []
    for name in wanted:
        try:
            env = load_environment(name, files.get(name), environ, gitops_path)
            loaded.append(dataclasses.replace(env, customize=hook) if hook else env)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return loaded


__all__ = [
    "BUILT_IN",
    "CUSTOMIZE",
    "DEFAULT_ENVIRONMENT",
    "ENV_OVERRIDES",
    "discover",
    "load_document",
    "load_environment",
    "load_environments",
    "schema",
]
