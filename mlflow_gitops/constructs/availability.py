"""Availability of the server: a PodDisruptionBudget and, when configured, a HorizontalPodAutoscaler."""

from __future__ import annotations

from cdk8s_plus_28 import k8s
from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import InstanceSettings


class Availability(Construct):
    """A PodDisruptionBudget allowing one server pod down at a time (a voluntary eviction never takes the
    last of several replicas, and never blocks a node drain for a single one), and with
    `autoscaling.enabled` a HorizontalPodAutoscaler (autoscaling/v2) on CPU utilisation.
    """

    def __init__(self, scope: Construct, id: str, *, instance: InstanceSettings, names: n.Names) -> None:
        super().__init__(scope, id)
        labels = names.labels("server")
        meta = k8s.ObjectMeta(name=names.server, namespace=names.namespace, labels=labels)
        k8s.KubePodDisruptionBudget(self, "disruption-budget", metadata=meta, spec=k8s.PodDisruptionBudgetSpec(
            max_unavailable=k8s.IntOrString.from_number(1),
            selector=k8s.LabelSelector(match_labels={**names.selector_labels, "app.kubernetes.io/component": "server"}),
        ))
        scaling = instance.autoscaling
        if scaling.enabled:
            k8s.KubeHorizontalPodAutoscalerV2(self, "autoscaler", metadata=meta, spec=k8s.HorizontalPodAutoscalerSpecV2(
                scale_target_ref=k8s.CrossVersionObjectReferenceV2(api_version="apps/v1", kind="Deployment",
                                                                   name=names.server),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[k8s.MetricSpecV2(type="Resource", resource=k8s.ResourceMetricSourceV2(
                    name="cpu", target=k8s.MetricTargetV2(type="Utilization",
                                                          average_utilization=scaling.target_cpu_utilization)))],
            ))
