"""NetworkPolicy semantics (networking.k8s.io/v1) for rendered documents: may this pod reach that endpoint?

Enough of the API's rules to ask behaviour questions of a render: a pod is isolated for a direction when a
policy of its namespace selects it with that policy type; then some rule of such a policy must admit the
peer and the port. Pod peers match by namespace and pod labels (after the Service's DNAT: pod ports), IP
peers by `ipBlock` (with `except`). Named ports and `endPort` are not rendered, so not modelled.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)

    @property
    def all_namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace, **self.namespace_labels}


@dataclass(frozen=True)
class Address:
    """A destination outside the cluster (a public Keycloak, an external S3)."""

    ip: str


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _peer_matches(peer: Doc, policy_namespace: str, other: Pod | Address) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, Address):
            return False  # pod IPs and ipBlock: implementation-defined; the render never relies on it
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        inside = ip.version == ipaddress.ip_network(block["cidr"]).version and ip in ipaddress.ip_network(block["cidr"])
        return inside and not any(
            ip.version == ipaddress.ip_network(e).version and ip in ipaddress.ip_network(e)
            for e in block.get("except") or []
        )
    if isinstance(other, Address):
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], other.all_namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector"), other.labels)


def _rule_admits(rule: Doc, key: str, policy_namespace: str, other: Pod | Address, port: int) -> bool:
    peers = rule.get(key)
    ports = rule.get("ports")
    port_ok = not ports or any(p.get("port") in (None, port) and p.get("protocol", "TCP") == "TCP" for p in ports)
    return port_ok and (not peers or any(_peer_matches(p, policy_namespace, other) for p in peers))


def _allowed(docs: list[Doc], pod: Pod, direction: str, other: Pod | Address, port: int) -> bool:
    key = "to" if direction == "Egress" else "from"
    field_name = direction.lower()
    selecting = [
        d
        for d in docs
        if d.get("kind") == "NetworkPolicy"
        and d["metadata"]["namespace"] == pod.namespace
        and direction in d["spec"].get("policyTypes", [])
        and _selects(d["spec"].get("podSelector"), pod.labels)
    ]
    if not selecting:
        return True
    return any(
        _rule_admits(rule, key, pod.namespace, other, port)
        for policy in selecting
        for rule in policy["spec"].get(field_name) or []
    )


def connects(docs: list[Doc], source: Pod, destination: Pod | Address, port: int) -> bool:
    """True when the policies in `docs` let `source` open a TCP connection to `destination`:`port`."""
    if not _allowed(docs, source, "Egress", destination, port):
        return False
    return not isinstance(destination, Pod) or _allowed(docs, destination, "Ingress", source, port)
