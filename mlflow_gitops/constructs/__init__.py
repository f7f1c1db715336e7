"""cdk8s constructs, one module per concern. `MlflowPlatform` composes them for one instance."""

from mlflow_gitops.constructs.platform import MlflowPlatform

__all__ = ["MlflowPlatform"]
