"""HTTPS through Traefik: an IngressRoute on the public host and its header Middlewares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.settings import IngressSettings

API_VERSION = "traefik.io/v1alpha1"
HSTS_SECONDS = 31_536_000


@dataclass(frozen=True)
class IngressProps:
    names: n.Names
    host: str
    """The public host (`instances[].host`)."""
    ingress: IngressSettings
    """The entry point and TLS (`ingress`)."""
    annotations: Mapping[str, str]
    """Of the IngressRoute (`instances[].server.ingressAnnotations`)."""


REFUSED_PATH_PREFIXES = (n.METRICS_PATH,)
"""Paths the public host never routes. mlflow-oidc-auth serves every path starting with /health, /login,
/callback, /oidc/static or /metrics without authentication: the first four are the login flow, its static
files and a health answer that holds no data; /metrics (the server's Prometheus metrics) is scraped in the
cluster from the metrics sidecar, so the public route leaves it out (Traefik answers 404)."""


def public_rule(host: str) -> str:
    """The route's Traefik v3 rule: the host, minus the refused paths (a prefix, as the plugin matches)."""
    refused = "".join(f" && !PathPrefix(`{prefix}`)" for prefix in REFUSED_PATH_PREFIXES)
    return f"Host(`{host}`){refused}"


class Ingress(Part):
    """An IngressRoute on the configured entry point (default `websecure`) for the instance host, with TLS
    from a Secret (default `<instance>-tls`) or a certResolver; a Middleware that sets the forwarded
    headers the old module set (proto https, the host, port 443); and one that adds security headers
    (HSTS, nosniff, frame options SAMEORIGIN, referrer policy). The route leaves out /metrics
    (`REFUSED_PATH_PREFIXES`).
    """

    def __init__(self, scope: Construct, id: str, *, props: IngressProps) -> None:
        super().__init__(scope, id)
        names, host, ingress = props.names, props.host, props.ingress
        labels = names.labels("ingress")

        def middleware(id: str, name: str, headers: dict[str, Any]) -> None:
            api_object(
                self,
                id,
                {
                    "apiVersion": API_VERSION,
                    "kind": "Middleware",
                    "metadata": metadata(name, names.namespace, labels),
                    "spec": {"headers": headers},
                },
            )

        middleware(
            "forwarded-headers",
            names.forwarded_headers_middleware,
            {
                "customRequestHeaders": {
                    "X-Forwarded-Proto": "https",
                    "X-Forwarded-Host": host,
                    "X-Forwarded-Port": "443",
                }
            },
        )
        middleware(
            "security-headers",
            names.security_headers_middleware,
            {
                "stsSeconds": HSTS_SECONDS,
                "stsIncludeSubdomains": True,
                "forceSTSHeader": True,
                "contentTypeNosniff": True,
                "customFrameOptionsValue": "SAMEORIGIN",
                "referrerPolicy": "strict-origin-when-cross-origin",
            },
        )
        api_object(
            self,
            "route",
            {
                "apiVersion": API_VERSION,
                "kind": "IngressRoute",
                "metadata": metadata(names.server, names.namespace, labels, dict(props.annotations) or None),
                "spec": {
                    "entryPoints": [ingress.entry_point],
                    "routes": [
                        {
                            "kind": "Rule",
                            "match": public_rule(host),
                            "middlewares": [
                                {"name": name}
                                for name in (names.forwarded_headers_middleware, names.security_headers_middleware)
                            ],
                            "services": [{"name": names.server, "port": n.HTTP_PORT_NAME}],
                        }
                    ],
                    "tls": {"secretName": names.tls_secret, "certResolver": ingress.tls_cert_resolver},
                },
            },
        )
