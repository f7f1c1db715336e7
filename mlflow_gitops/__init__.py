"""mlflow-gitops: render a production MLflow platform as plain Kubernetes YAML for a GitOps repo."""

import os

# jsii prints an end-of-life banner on Node 20 unless told otherwise; it reads this when Node starts,
# which happens at the first `import cdk8s`, so it is set before any submodule can import it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

__version__ = "0.1.0"
