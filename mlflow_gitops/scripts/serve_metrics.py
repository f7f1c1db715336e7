"""Serve the MLflow server's Prometheus metrics on their own port.

The server writes multiprocess metrics to PROMETHEUS_MULTIPROC_DIR (its --expose-prometheus folder, an
emptyDir shared with this container). Its own /metrics answers only Host headers on its allowed-hosts
list, which a scrape by pod IP is not; this endpoint has no Host check and aggregates every worker.
"""

import os
import sys
import threading

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector


def main() -> int:
    port = int(os.environ.get("METRICS_PORT", "9464"))
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, registry=registry)  # every address of the pod
    print(f"serving metrics on :{port}/metrics", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
