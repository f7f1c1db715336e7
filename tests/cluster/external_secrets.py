"""The External Secrets Operator's controller, built from source (ci/tools.py), run out of cluster against the
tier's API server (as Flux's controllers are), and the helpers that read what it made.

The tier serves External Secrets' CRDs at the release the project renders for (../shared/crds); the controller
is the newest release the Go proxy serves whole. Only the reconcilers of the kinds we render run (ExternalSecret,
SecretStore, ClusterSecretStore): the cluster-wide and push reconcilers are off. The GeneratorState reconciler
cannot be turned off and its kind is not in ../shared/crds (we render none): that one CRD comes from the
controller's own release (without it the controller exits when its cache sync times out, after about 2 min)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from tests.cluster.control_plane import ControlPlane, tool
from tests.conftest import free_port
from tests.e2e.pod import Process


@dataclass
class ExternalSecrets:
    plane: ControlPlane
    process: Process

    def stop(self) -> None:
        self.process.stop(grace=5)

    def condition(self, kind: str, name: str, namespace: str | None) -> tuple[str, str, str]:
        """The Ready condition of a store or an ExternalSecret: (status, reason, message)."""
        scope = ["-n", namespace] if namespace else []
        for c in self.plane.get(kind, name, *scope).get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                return c["status"], c.get("reason", ""), c.get("message", "")
        return "Unknown", "", "no Ready condition yet"

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        done = self.plane.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
        if done.returncode != 0:
            return None
        return json.loads(done.stdout)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


GENERATOR_STATE_CRD = "generators.external-secrets.io_generatorstates.yaml"


def start_external_secrets(plane: ControlPlane) -> ExternalSecrets:
    crd = tool("external-secrets", "external-secrets").parents[1] / "crds" / GENERATOR_STATE_CRD
    plane.install_crds([crd])
    process = plane.start(
        "external-secrets",
        [
            str(tool("external-secrets", "external-secrets")),
            f"--metrics-addr=127.0.0.1:{free_port()}",
            "--enable-leader-election=false",
            "--enable-cluster-external-secret-reconciler=false",
            "--enable-push-secret-reconciler=false",
            "--enable-cluster-push-secret-reconciler=false",
            "--store-requeue-interval=5s",
            "--concurrent=4",
            "--loglevel=info",
            "--zap-time-encoding=iso8601",
        ],
    )
    return ExternalSecrets(plane, process)
