"""cdk8s constructs, one module per concern. `MlflowPlatform` composes them for one instance."""

from mlflow_gitops.constructs.platform import MlflowPlatform, MlflowPlatformProps

__all__ = ["MlflowPlatform", "MlflowPlatformProps"]
