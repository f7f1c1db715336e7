"""mlflow-gitops: render a production MLflow platform as plain Kubernetes YAML for a GitOps repo."""

__version__ = "0.1.0"
