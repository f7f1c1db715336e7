"""NetworkPolicies: deny everything in the instance namespace, then allow each pod exactly what it needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from constructs import Construct

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.constructs import _pod as pod
from mlflow_gitops.constructs._object import api_object, metadata

HTTPS_PORTS = (443, 8443)
"""Where the public Keycloak URL lands when it resolves to the cluster's ingress (Traefik websecure)."""

Peer = dict[str, Any]
Rule = dict[str, Any]


def _namespace(name: str, pods: dict[str, str] | None = None) -> Peer:
    return {"namespaceSelector": pod.match_labels({"kubernetes.io/metadata.name": name}),
            "podSelector": pod.match_labels(pods) if pods else None}


def _pods(labels: dict[str, str]) -> Peer:
    return {"podSelector": pod.match_labels(labels)}


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


class Network(Construct):
    """`<instance>-default-deny` (all ingress and egress of every pod in the namespace), then per component:

    - server: ingress from the Traefik namespace (`network.ingressNamespace`) and `network.allowFrom` to the
      http port, from the Prometheus namespace to the metrics port; egress to DNS, PostgreSQL, S3, Keycloak
      and (with Redis sessions) Redis;
    - db-migration: DNS and PostgreSQL; keycloak-setup: DNS and Keycloak; minio-setup: DNS and S3;
    - redis: ingress from the server pods only, no egress.

    Services inside the cluster are matched by namespace (and pods where their labels are known: the DNS
    pods, the CloudNativePG cluster); services outside it by the CIDRs in `network.*Cidrs`.
    """

    def __init__(self, scope: Construct, id: str, *, env: EnvironmentSettings, instance: InstanceSettings,
                 names: n.Names) -> None:
        super().__init__(scope, id)
        self._names = names
        net, pg = env.network, env.postgres
        dns = {"to": [_namespace(net.dns_namespace, {"k8s-app": "kube-dns"})],
               "ports": [*_ports([53], "UDP"), *_ports([53], "TCP")]}
        postgres = _egress([_namespace(pg.namespace, {"cnpg.io/cluster": pg.cluster}), *_cidrs(net.postgres_cidrs)],
                           [pg.port])
        s3 = _egress([_namespace(env.s3.minio_namespace), *_cidrs(net.s3_cidrs)], [_url_port(env.s3.endpoint)])
        keycloak = [_egress([_namespace(net.keycloak_namespace)], net.keycloak_ports),
                    _egress([_namespace(net.ingress_namespace), *_cidrs(net.keycloak_cidrs)],
                            sorted({*HTTPS_PORTS, _url_port(env.keycloak.url)}))]

        self._policy("default-deny", None, ingress=[], egress=[])
        server_egress = [dns, postgres, s3, *keycloak]
        redis = instance.sessions.redis
        if instance.sessions.store == "redis":
            server_egress.append(_egress([_pods(self._component("redis"))], [redis.port]) if redis.deploy
                                 else {"ports": _ports([redis.port])})
            if redis.deploy:
                self._policy("redis", "redis", egress=[],
                             ingress=[_ingress([_pods(self._component("server"))], [redis.port])])
        server_ingress = [_ingress([_namespace(ns) for ns in (net.ingress_namespace, *net.allow_from)], [n.HTTP_PORT])]
        if env.monitoring.enabled:
            server_ingress.append(_ingress([_namespace(env.monitoring.prometheus_namespace)], [n.METRICS_PORT]))
        self._policy("server", "server", ingress=server_ingress, egress=server_egress)
        self._policy(n.MIGRATION, n.MIGRATION, egress=[dns, postgres])
        if env.bootstrap.keycloak:
            self._policy(n.KEYCLOAK_SETUP, n.KEYCLOAK_SETUP, egress=[dns, *keycloak])
        if env.bootstrap.minio:
            self._policy(n.MINIO_SETUP, n.MINIO_SETUP, egress=[dns, s3])

    def _component(self, component: str) -> dict[str, str]:
        return {**self._names.selector_labels, "app.kubernetes.io/component": component}

    def _policy(self, name: str, component: str | None, *, egress: list[Rule], ingress: list[Rule] | None = None
                ) -> None:
        """A policy for the pods of `component` (None: every pod); rules not given stay denied."""
        types = ["Egress"] if ingress is None else ["Ingress", "Egress"]
        names = self._names
        api_object(self, name, {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": metadata(f"{names.base}-{name}", names.namespace, names.labels("network")),
            "spec": {
                "podSelector": pod.match_labels(self._component(component) if component else {}),
                "policyTypes": types,
                "ingress": ingress or None,
                "egress": egress or None,
            },
        })
