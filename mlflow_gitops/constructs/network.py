"""NetworkPolicies: deny everything in the instance namespace, then allow each pod exactly what it needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.constructs import _service as service
from mlflow_gitops.constructs._object import api_object, metadata
from mlflow_gitops.constructs._recorded import Part
from mlflow_gitops.settings import (
    NetworkSettings,
    PostgresSettings,
    SessionSettings,
    cluster_service,
    url_host,
)

INGRESS_POD_PORTS = {"https": (443, 8443), "http": (80, 8000)}
"""Where a public URL lands when its name resolves to the cluster's own ingress: the Traefik chart's pod ports
(websecure 8443, web 8000; a policy matches pod ports, after the Service), and 443/80 for a Traefik on them."""

Peer = dict[str, Any]
Rule = dict[str, Any]


def _namespace(name: str, pods: dict[str, str] | None = None) -> Peer:
    return {
        "namespaceSelector": service.match_labels({"kubernetes.io/metadata.name": name}),
        "podSelector": service.match_labels(pods) if pods else None,
    }


def _pods(labels: dict[str, str]) -> Peer:
    return {"podSelector": service.match_labels(labels)}


def _ports(ports: Sequence[int | str], protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": p} for p in ports]


def _egress(peers: list[Peer], ports: Sequence[int]) -> Rule:
    return {"to": peers, "ports": _ports(ports)}


def _ingress(peers: list[Peer], ports: Sequence[int]) -> Rule:
    return {"from": peers, "ports": _ports(ports)}


def _cidrs(cidrs: Sequence[str]) -> list[Peer]:
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _rules(*rules: tuple[list[Peer], Sequence[int]]) -> list[Rule]:
    """Egress rules, leaving out those without a peer (an empty `to` would mean everywhere)."""
    return [_egress(peers, ports) for peers, ports in rules if peers]


@dataclass(frozen=True)
class NetworkProps:
    names: n.Names
    network: NetworkSettings
    """Who may reach the server and where the endpoints' pods are (`network`)."""
    postgres: PostgresSettings
    """The CloudNativePG cluster's namespace, name and port (`postgres`)."""
    s3_endpoint: str
    """`s3.endpoint`."""
    keycloak_url: str
    """`keycloak.url`."""
    sessions: SessionSettings
    """Redis, when the sessions are there (`instances[].sessions`)."""
    prometheus_namespace: str | None
    """The namespace that scrapes the metrics port; None without monitoring (`monitoring`)."""
    keycloak_setup: bool
    """The Keycloak Job runs (`bootstrap.keycloak.enabled`)."""
    minio_setup: bool
    """The MinIO Job runs (`bootstrap.minio.enabled`)."""
    retired: bool = False
    """A retired instance: only the cleanup Jobs run (`instances[].retired`)."""


class Network(Part):
    """`<instance>-default-deny` (all ingress and egress of every pod in the namespace), then per component:

    - server: ingress from the ingress controller's pods (`network.ingressNamespace` / `ingressPods`) and
      `network.allowFrom` to the http port, from the Prometheus namespace to the metrics port; egress to DNS,
      PostgreSQL, S3, Keycloak and (with Redis sessions) Redis;
    - db-migration and db-role: DNS and PostgreSQL (db-role's in PostgreSQL's namespace, where it runs, with
      no ingress: no default-deny of ours is there); keycloak-setup: DNS and Keycloak; minio-setup: DNS and S3;
    - redis: ingress from the server pods only, no egress.

    An endpoint that is a cluster Service (`<service>.<namespace>.svc...`) is matched by its namespace (and
    pods where their labels are known: the DNS pods, the CloudNativePG cluster) on its pods' ports; a public
    name by the ingress controller's pods (it may resolve to the cluster's own load balancer) and by the CIDRs
    in `network.*Cidrs` (default anywhere) on the URL's port only.
    """

    def __init__(self, scope: Construct, id: str, *, props: NetworkProps) -> None:
        super().__init__(scope, id)
        self._names, self._network = props.names, props.network
        net, pg = props.network, props.postgres
        dns = {
            "to": [_namespace(net.dns_namespace, {"k8s-app": "kube-dns"})],
            "ports": [*_ports([53], "UDP"), *_ports([53], "TCP")],
        }
        postgres = _rules(
            ([_namespace(pg.namespace, {"cnpg.io/cluster": pg.cluster})], [pg.port]),
            (_cidrs(net.postgres_cidrs), [pg.port]),
        )
        s3 = self._endpoint(props.s3_endpoint, net.s3_cidrs, net.minio_ports)
        keycloak = self._endpoint(
            props.keycloak_url, net.keycloak_cidrs, net.keycloak_ports, namespace=net.keycloak_namespace
        )

        self._policy("default-deny", None, ingress=[], egress=[])
        if props.retired:
            if props.keycloak_setup:
                self._policy(n.OIDC_CLEANUP, n.OIDC_CLEANUP, egress=[dns, *keycloak])
            if props.minio_setup:
                self._policy(n.MINIO_CLEANUP, n.MINIO_CLEANUP, egress=[dns, *s3])
            return
        server_egress = [dns, *postgres, *s3, *keycloak]
        redis = props.sessions.redis
        if props.sessions.store == "redis":
            server_egress += self._redis(redis.deploy, redis.host, redis.port)
            if redis.deploy:
                self._policy(
                    "redis", "redis", egress=[], ingress=[_ingress([_pods(self._component("server"))], [redis.port])]
                )
        server_ingress = [
            _ingress([self._ingress_controller, *(_namespace(ns) for ns in net.allow_from)], [n.HTTP_PORT])
        ]
        if props.prometheus_namespace is not None:
            server_ingress.append(_ingress([_namespace(props.prometheus_namespace)], [n.METRICS_PORT]))
        self._policy("server", "server", ingress=server_ingress, egress=server_egress)
        self._policy(n.MIGRATION, n.MIGRATION, egress=[dns, *postgres])
        if pg.role_management == "job":  # the Job runs in PostgreSQL's namespace: its policy is there
            self._policy(
                n.POSTGRES_SETUP, n.POSTGRES_SETUP, egress=[dns, *postgres], ingress=[], namespace=pg.namespace
            )
        if props.keycloak_setup:
            self._policy(n.KEYCLOAK_SETUP, n.KEYCLOAK_SETUP, egress=[dns, *keycloak])
        if props.minio_setup:
            self._policy(n.MINIO_SETUP, n.MINIO_SETUP, egress=[dns, *s3])

    @property
    def _ingress_controller(self) -> Peer:
        net = self._network
        return _namespace(net.ingress_namespace, dict(net.ingress_pods))

    def _endpoint(
        self, url: str, cidrs: Sequence[str], pod_ports: Sequence[int], namespace: str | None = None
    ) -> list[Rule]:
        """Egress to the service at url: a cluster Service by its namespace on its pods' ports; a public name
        through the cluster's own ingress (where it may resolve) and by address on the URL's port."""
        service = cluster_service(url_host(url))
        if service is not None:
            return _rules(([_namespace(namespace or service[1])], pod_ports), (_cidrs(cidrs), [_url_port(url)]))
        scheme = "https" if urlsplit(url).scheme == "https" else "http"
        return _rules(([self._ingress_controller], INGRESS_POD_PORTS[scheme]), (_cidrs(cidrs), [_url_port(url)]))

    def _redis(self, deploy: bool, host: str | None, port: int) -> list[Rule]:
        """The rendered Redis by its pods; an existing one by its namespace (a cluster Service) or addresses."""
        if deploy:
            return _rules(([_pods(self._component("redis"))], [port]))
        service = cluster_service(host or "")
        if service is not None:
            return _rules(([_namespace(service[1])], [port]))
        return _rules((_cidrs(self._network.redis_cidrs), [port]))

    def _component(self, component: str) -> dict[str, str]:
        return {**self._names.selector_labels, "app.kubernetes.io/component": component}

    def _policy(
        self,
        name: str,
        component: str | None,
        *,
        egress: list[Rule],
        ingress: list[Rule] | None = None,
        namespace: str | None = None,
    ) -> None:
        """A policy for the pods of `component` (None: every pod) in the instance namespace (or `namespace`);
        rules not given stay denied."""
        types = ["Egress"] if ingress is None else ["Ingress", "Egress"]
        names = self._names
        api_object(
            self,
            name,
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": metadata(f"{names.base}-{name}", namespace or names.namespace, names.labels("network")),
                "spec": {
                    "podSelector": service.match_labels(self._component(component) if component else {}),
                    "policyTypes": types,
                    "ingress": ingress or None,
                    "egress": egress or None,
                },
            },
        )
