"""Render the e2e environment through the normal config path and read what the GitOps engine would apply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from mlflow_gitops.app import Rendered, render
from mlflow_gitops.config import load_environments
from tests.e2e.secrets import Secret, Vault, evaluate_all

ENVIRONMENT = "e2e"
REALM = "e2e"
COMPONENT = "app.kubernetes.io/component"


@dataclass(frozen=True)
class Ports:
    postgres: int
    keycloak: int
    s3: int
    mlflow: int
    metrics: int


DECLARED_MEMBER = "carol.member@example.com"
"""A user of the realm in no group until the keycloak-setup Job adds her (config `members.users`)."""
MISSING_MEMBER = "dave.later@example.com"


def environment_yaml(ports: Ports) -> str:
    """The environment file a team would write for this machine (only loopback endpoints)."""
    config = {
        # buun-stack with kube-prometheus-stack: CloudNativePG 1.27 (the db-role Job makes the role), a ServiceMonitor
        "cluster": {
            "apiVersions": [
                "postgresql.cnpg.io/v1/Cluster",
                "postgresql.cnpg.io/v1/Database",
                "external-secrets.io/v1",
                "traefik.io/v1alpha1",
                "kustomize.toolkit.fluxcd.io/v1",
                "source.toolkit.fluxcd.io/v1",
                "monitoring.coreos.com/v1",
            ]
        },
        "keycloak": {"host": "localhost", "url": f"http://localhost:{ports.keycloak}", "realm": REALM},
        "postgres": {"host": "127.0.0.1", "port": ports.postgres, "sslMode": "disable"},
        "s3": {"endpoint": f"http://127.0.0.1:{ports.s3}", "ignoreTls": True},
        "monitoring": {"enabled": True},
        "instances": [
            {
                "name": "mlflow",
                "host": "localhost",
                "url": f"http://localhost:{ports.mlflow}",
                # group membership as code: a user the realm has, and one it does not have yet (reported)
                "members": {"users": [DECLARED_MEMBER, MISSING_MEMBER]},
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def render_environment(config_dir: Path, ports: Ports) -> Rendered:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / f"{ENVIRONMENT}.yaml").write_text(environment_yaml(ports))
    # environ={}: the machine's MLFLOW_HOST & co. must not change what the test renders
    [rendered] = render(load_environments([ENVIRONMENT], config_dir, {}))
    return rendered


class Stack:
    """The rendered documents of the e2e environment, and the Secrets ESO would make from them and `vault`."""

    def __init__(self, rendered: Rendered, vault: Vault):
        self.rendered = rendered
        self.units = {unit: list(docs) for unit, docs in rendered.units.items()}
        self.docs: list[dict[str, Any]] = [doc for docs in self.units.values() for doc in docs]
        self.vault = vault
        self.secrets: dict[tuple[str, str], Secret] = evaluate_all(self.docs, vault)
        self.configmaps = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in self.find("ConfigMap")}

    def find(self, kind: str, name: str | None = None, component: str | None = None) -> list[dict[str, Any]]:
        return [
            d
            for d in self.docs
            if d["kind"] == kind
            and (name is None or d["metadata"]["name"] == name)
            and (component is None or d["metadata"].get("labels", {}).get(COMPONENT) == component)
        ]

    def one(self, kind: str, name: str | None = None, component: str | None = None) -> dict[str, Any]:
        found = self.find(kind, name, component)
        assert len(found) == 1, f"expected one {kind} {name or component or ''}, found {len(found)}"
        return found[0]

    def unit_of(self, doc: dict[str, Any]) -> str:
        return next(unit for unit, docs in self.units.items() if doc in docs)

    # ------------------------------------------------------------------------------------------------ shortcuts
    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    def job(self, component: str) -> dict[str, Any]:
        return self.one("Job", component=component)

    @property
    def server_env(self) -> dict[str, str]:
        """The env ConfigMap the mlflow container reads through envFrom."""
        container = next(c for c in self.deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow")
        [source] = [s for s in container.get("envFrom", []) if "configMapRef" in s]
        namespace = self.deployment["metadata"]["namespace"]
        return dict(self.configmaps[(namespace, source["configMapRef"]["name"])]["data"])

    def server_arg(self, flag: str) -> str:
        """The value of `--flag=value` in the mlflow container's args."""
        container = next(c for c in self.deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow")
        [value] = [arg.split("=", 1)[1] for arg in container.get("args", []) if arg.startswith(flag + "=")]
        return value

    @property
    def public_url(self) -> str:
        return self.rendered.environment.instances[0].url.rstrip("/")

    @property
    def public_host(self) -> str:
        return urlsplit(self.public_url).netloc

    def container_port(self, pod_spec: dict[str, Any], name: str) -> tuple[dict[str, Any], int]:
        """(container, containerPort) of the named port in a pod spec."""
        for container in pod_spec["containers"]:
            for port in container.get("ports", []):
                if port.get("name") == name:
                    return container, port["containerPort"]
        raise AssertionError(f"no container port named {name!r}")
