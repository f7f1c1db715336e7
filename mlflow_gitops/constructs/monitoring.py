"""Prometheus Operator ServiceMonitor for the server's metrics port."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _service as service
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.settings import MonitoringSettings


@dataclass(frozen=True)
class MonitoringProps:
    names: n.Names
    monitoring: MonitoringSettings
    """The Prometheus stack's release label and the scrape timing (`monitoring`)."""


class Monitoring(Part):
    """A ServiceMonitor (label `release: <monitoring.release>`, so kube-prometheus-stack selects it) that
    scrapes the Service's `metrics` port at /metrics every 30 s with a 10 s timeout (configurable).

    The old module's ServiceMonitor named a port the pod did not have; here the port name comes from the
    same constant the Service uses.
    """

    def __init__(self, scope: Construct, id: str, *, props: MonitoringProps) -> None:
        super().__init__(scope, id)
        mon, names = props.monitoring, props.names
        api_object(
            self,
            "service-monitor",
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": metadata(
                    names.server, names.namespace, {**names.labels("monitoring"), "release": mon.release}
                ),
                "spec": {
                    "selector": service.match_labels(
                        {**names.selector_labels, "app.kubernetes.io/component": "server"}
                    ),
                    "namespaceSelector": {"matchNames": [names.namespace]},
                    "endpoints": [
                        {
                            "port": n.METRICS_PORT_NAME,
                            "path": n.METRICS_PATH,
                            "interval": mon.interval,
                            "scrapeTimeout": mon.scrape_timeout,
                            "scheme": "http",
                        }
                    ],
                },
            },
        )
