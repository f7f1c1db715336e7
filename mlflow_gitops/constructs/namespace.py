"""The instance namespace, labelled for Pod Security "restricted" and (optionally) for monitoring."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part


@dataclass(frozen=True)
class NamespaceProps:
    name: str
    """The instance's namespace (`instances[].namespace`)."""
    monitored: bool
    """Label it for the Prometheus stack (`monitoring.enabled`)."""


class Namespace(Part):
    """The namespace every app object of one instance lives in.

    Labels: Pod Security `restricted` (enforce, audit, warn) and, when monitoring is enabled, the old
    module's `buun.channel/enable-monitoring: "true"` that the Prometheus stack selects namespaces by.
    """

    def __init__(self, scope: Construct, id: str, *, props: NamespaceProps) -> None:
        super().__init__(scope, id)
        labels = {**n.POD_SECURITY_LABELS, "app.kubernetes.io/managed-by": n.MANAGED_BY}
        if props.monitored:
            labels[n.MONITORING_NAMESPACE_LABEL] = "true"
        api_object(
            self,
            "namespace",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(props.name, labels=labels)},
        )
