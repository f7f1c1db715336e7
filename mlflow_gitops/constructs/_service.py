"""Selectors and ports: how a Service, a NetworkPolicy or a PodDisruptionBudget finds the pods, and the
named ports a Service forwards to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def match_labels(labels: Mapping[str, str]) -> dict[str, Any]:
    """A LabelSelector on exactly these labels."""
    return {"matchLabels": dict(labels)}


def container_port(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "containerPort": port, "protocol": "TCP"}


def service_port(name: str, port: int) -> dict[str, Any]:
    """A Service port that forwards to the container port of the same name."""
    return {"name": name, "port": port, "targetPort": name, "protocol": "TCP"}
