"""Config: environment files + built-in defaults + environment variables -> validated settings.

The names below load lazily, so importing one submodule (`config.limits` from the gitops layer, say) does
not import the loader and its JSON Schema validator.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow_gitops.config.errors import ConfigError, Problem
    from mlflow_gitops.config.load import DEFAULT_ENVIRONMENT, load_environments
    from mlflow_gitops.config.settings import EnvironmentSettings, InstanceSettings

_WHERE = {
    "ConfigError": "errors",
    "Problem": "errors",
    "DEFAULT_ENVIRONMENT": "load",
    "load_environments": "load",
    "EnvironmentSettings": "settings",
    "InstanceSettings": "settings",
}

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "ConfigError",
    "EnvironmentSettings",
    "InstanceSettings",
    "Problem",
    "load_environments",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"mlflow_gitops.config.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
