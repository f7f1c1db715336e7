"""Prometheus Operator ServiceMonitor for the server's metrics port."""

from __future__ import annotations

from cdk8s import ApiObjectMetadata
from constructs import Construct

from imports.servicemonitor.com.coreos import monitoring as prom
from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings


class Monitoring(Construct):
    """A ServiceMonitor (label `release: <monitoring.release>`, so kube-prometheus-stack selects it) that
    scrapes the Service's `metrics` port at /metrics every 30 s with a 10 s timeout (configurable).

    The old module's ServiceMonitor named a port the pod did not have; here the port name comes from the
    same constant the Service uses.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, names: n.Names) -> None:
        super().__init__(scope, id)
        mon = env.monitoring
        prom.ServiceMonitor(self, "service-monitor", metadata=ApiObjectMetadata(
            name=names.server, namespace=names.namespace,
            labels={**names.labels("monitoring"), "release": mon.release},
        ), spec=prom.ServiceMonitorSpec(
            selector=prom.ServiceMonitorSpecSelector(
                match_labels={**names.selector_labels, "app.kubernetes.io/component": "server"}),
            namespace_selector=prom.ServiceMonitorSpecNamespaceSelector(match_names=[names.namespace]),
            endpoints=[prom.ServiceMonitorSpecEndpoints(
                port=n.METRICS_PORT_NAME, path=n.METRICS_PATH, interval=mon.interval,
                scrape_timeout=mon.scrape_timeout, scheme=prom.ServiceMonitorSpecEndpointsScheme.HTTP,
            )],
        ))
