"""Config: environment files + built-in defaults + environment variables -> validated settings.

The settings it produces are `mlflow_gitops.settings` (re-exported here). The names below load lazily, so
importing one submodule (`config.limits` from the gitops layer, say) does not import the loader and its
JSON Schema validator.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow_gitops.config.errors import ConfigError, Problem
    from mlflow_gitops.config.load import DEFAULT_ENVIRONMENT, load_environments
    from mlflow_gitops.settings import EnvironmentSettings, InstanceSettings

_WHERE = {
    "ConfigError": "mlflow_gitops.config.errors",
    "Problem": "mlflow_gitops.config.errors",
    "DEFAULT_ENVIRONMENT": "mlflow_gitops.config.load",
    "load_environments": "mlflow_gitops.config.load",
    "EnvironmentSettings": "mlflow_gitops.settings",
    "InstanceSettings": "mlflow_gitops.settings",
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
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
