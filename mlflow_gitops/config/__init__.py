"""Config: environment files + built-in defaults + environment variables -> validated settings."""

from mlflow_gitops.config.errors import ConfigError, Problem
from mlflow_gitops.config.load import DEFAULT_ENVIRONMENT, load_environments
from mlflow_gitops.config.settings import EnvironmentSettings, InstanceSettings

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "ConfigError",
    "EnvironmentSettings",
    "InstanceSettings",
    "Problem",
    "load_environments",
]
