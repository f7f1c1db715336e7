"""Availability of the server: a PodDisruptionBudget and, when configured, a HorizontalPodAutoscaler."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _service as service
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.settings import AutoscalingSettings


@dataclass(frozen=True)
class AvailabilityProps:
    names: n.Names
    autoscaling: AutoscalingSettings
    """`instances[].autoscaling`: a HorizontalPodAutoscaler when enabled."""


class Availability(Part):
    """A PodDisruptionBudget allowing one server pod down at a time (a voluntary eviction never takes the
    last of several replicas, and never blocks a node drain for a single one), and with
    `autoscaling.enabled` a HorizontalPodAutoscaler (autoscaling/v2) on CPU utilisation.
    """

    def __init__(self, scope: Construct, id: str, *, props: AvailabilityProps) -> None:
        super().__init__(scope, id)
        names = props.names
        meta = metadata(names.server, names.namespace, names.labels("server"))
        api_object(
            self,
            "disruption-budget",
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta,
                "spec": {
                    "maxUnavailable": 1,
                    # a pod that is running but not ready protects nothing: a drain may always evict it (policy/v1,
                    # GA in Kubernetes 1.31) instead of waiting for the budget to be healthy again
                    "unhealthyPodEvictionPolicy": "AlwaysAllow",
                    "selector": service.match_labels(
                        {**names.selector_labels, "app.kubernetes.io/component": "server"}
                    ),
                },
            },
        )
        scaling = props.autoscaling
        if scaling.enabled:
            api_object(
                self,
                "autoscaler",
                {
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "metadata": meta,
                    "spec": {
                        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.server},
                        "minReplicas": scaling.min_replicas,
                        "maxReplicas": scaling.max_replicas,
                        "metrics": [
                            {
                                "type": "Resource",
                                "resource": {
                                    "name": "cpu",
                                    "target": {
                                        "type": "Utilization",
                                        "averageUtilization": scaling.target_cpu_utilization,
                                    },
                                },
                            }
                        ],
                    },
                },
            )
