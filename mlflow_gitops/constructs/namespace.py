"""The instance namespace, labelled for Pod Security "restricted" and (optionally) for monitoring."""

from __future__ import annotations

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings
from mlflow_gitops.constructs._object import api_object, metadata


class Namespace(Construct):
    """The namespace every app object of one instance lives in.

    Labels: Pod Security `restricted` (enforce, audit, warn) and, when monitoring is enabled, the old
    module's `buun.channel/enable-monitoring: "true"` that the Prometheus stack selects namespaces by.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, names: n.Names) -> None:
        super().__init__(scope, id)
        labels = {**n.POD_SECURITY_LABELS, "app.kubernetes.io/managed-by": n.MANAGED_BY}
        if env.monitoring.enabled:
            labels[n.MONITORING_NAMESPACE_LABEL] = "true"
        api_object(
            self,
            "namespace",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(names.namespace, labels=labels)},
        )
