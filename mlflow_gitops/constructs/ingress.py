"""HTTPS through Traefik: an IngressRoute on the public host and its header Middlewares."""

from __future__ import annotations

from cdk8s import ApiObjectMetadata
from constructs import Construct

from imports.traefik.io import traefik
from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings

HSTS_SECONDS = 31_536_000


class Ingress(Construct):
    """An IngressRoute on the configured entry point (default `websecure`) for the instance host, with TLS
    from a Secret (default `<instance>-tls`) or a certResolver; a Middleware that sets the forwarded
    headers the old module set (proto https, the host, port 443); and one that adds security headers
    (HSTS, nosniff, frame options SAMEORIGIN, referrer policy).
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings,
                 names: n.Names) -> None:
        super().__init__(scope, id)
        labels = names.labels("ingress")

        def meta(name: str) -> ApiObjectMetadata:
            return ApiObjectMetadata(name=name, namespace=names.namespace, labels=labels)

        traefik.Middleware(self, "forwarded-headers", metadata=meta(names.forwarded_headers_middleware),
                           spec=traefik.MiddlewareSpec(headers=traefik.MiddlewareSpecHeaders(
                               custom_request_headers={
                                   "X-Forwarded-Proto": "https",
                                   "X-Forwarded-Host": instance.host,
                                   "X-Forwarded-Port": "443",
                               })))
        traefik.Middleware(self, "security-headers", metadata=meta(names.security_headers_middleware),
                           spec=traefik.MiddlewareSpec(headers=traefik.MiddlewareSpecHeaders(
                               sts_seconds=HSTS_SECONDS,
                               sts_include_subdomains=True,
                               force_sts_header=True,
                               content_type_nosniff=True,
                               custom_frame_options_value="SAMEORIGIN",
                               referrer_policy="strict-origin-when-cross-origin",
                           )))
        tls = traefik.IngressRouteSpecTls(secret_name=names.tls_secret,
                                          cert_resolver=env.ingress.tls_cert_resolver)
        traefik.IngressRoute(self, "route", metadata=meta(names.server), spec=traefik.IngressRouteSpec(
            entry_points=[env.ingress.entry_point],
            routes=[traefik.IngressRouteSpecRoutes(
                kind=traefik.IngressRouteSpecRoutesKind.RULE,
                match=f"Host(`{instance.host}`)",
                middlewares=[traefik.IngressRouteSpecRoutesMiddlewares(name=name) for name in (
                    names.forwarded_headers_middleware, names.security_headers_middleware)],
                services=[traefik.IngressRouteSpecRoutesServices(
                    name=names.server,
                    port=traefik.IngressRouteSpecRoutesServicesPort.from_string(n.HTTP_PORT_NAME),
                )],
            )],
            tls=tls,
        ))
