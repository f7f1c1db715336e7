"""A Vault-compatible server on 127.0.0.1 for the cluster tier's secret chain: HashiCorp Vault v1.14.1 (the last
MPL-2.0 release, the one OpenBao forked from; ci/tools.py says why not OpenBao) in dev mode (in memory, unsealed),
with a KV version 2 mount and a Kubernetes auth method that reviews tokens with the tier's API server."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.cluster.control_plane import ClusterError, ControlPlane, tool
from tests.conftest import free_port
from tests.e2e.pod import Process

ROOT_TOKEN = "chain-root-token"
"""The dev server's root token: a test value of a throwaway in-memory server."""
REVIEWER = ("vault", "vault-auth")
"""Namespace and ServiceAccount whose token Vault presents to the TokenReview API (system:auth-delegator)."""


@dataclass
class Vault:
    plane: ControlPlane
    address: str
    process: Process

    def cli(self, *args: str, token: str = ROOT_TOKEN, input: str | None = None, check: bool = True) -> str:
        """The `vault` command against this server; stdout (stderr in the failure)."""
        done = subprocess.run(
            [str(tool("vault", "vault")), *args],
            env={
                "VAULT_ADDR": self.address,
                "VAULT_TOKEN": token,
                "HOME": str(self.plane.root),
                "PATH": "/usr/bin:/bin",
            },
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise ClusterError(f"vault {' '.join(args)}: exit {done.returncode}\n{done.stderr}{done.stdout}")
        return done.stdout if done.returncode == 0 else done.stderr

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, token: str = ROOT_TOKEN) -> Any:
        """Vault's HTTP API; (status, decoded body)."""
        request = urllib.request.Request(
            f"{self.address}/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": token} if token else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def put(self, mount: str, path: str, values: dict[str, str]) -> None:
        status, body = self.api("POST", f"{mount}/data/{path}", {"data": values})
        if status != 200:
            raise ClusterError(f"vault put {mount}/{path}: HTTP {status} {body}")

    def login(self, auth_mount: str, role: str, jwt: str) -> tuple[int, Any]:
        return self.api("POST", f"auth/{auth_mount}/login", {"role": role, "jwt": jwt}, token="")

    def enable_kv(self, mount: str) -> None:
        self.cli("secrets", "enable", f"-path={mount}", "-version=2", "kv")

    def enable_kubernetes_auth(self, mount: str) -> None:
        """A Kubernetes auth method that checks tokens with the tier's API server, as a reviewer account."""
        namespace, account = REVIEWER
        self.plane.kubectl("create", "namespace", namespace, check=False)
        self.plane.kubectl("create", "serviceaccount", account, "-n", namespace, check=False)
        self.plane.kubectl(
            "create",
            "clusterrolebinding",
            f"{account}-{mount}-tokenreview",
            "--clusterrole=system:auth-delegator",
            f"--serviceaccount={namespace}:{account}",
            check=False,
        )
        reviewer = self.plane.kubectl("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
        self.cli("auth", "enable", f"-path={mount}", "kubernetes")
        self.cli(
            "write",
            f"auth/{mount}/config",
            f"kubernetes_host={self.plane.server}",
            f"kubernetes_ca_cert=@{self.plane.pki.ca}",
            f"token_reviewer_jwt={reviewer}",
            "disable_local_ca_jwt=true",
        )

    def stop(self) -> None:
        self.process.stop(grace=5)


def start_vault(plane: ControlPlane) -> Vault:
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    process = plane.start(
        "vault",
        [
            str(tool("vault", "vault")),
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-dev-root-token-id={ROOT_TOKEN}",
            "-dev-no-store-token",
            "-log-level=info",
        ],
        env={"HOME": str(plane.root), "PATH": "/usr/bin:/bin", "SKIP_SETCAP": "1"},
    )
    vault = Vault(plane, address, process)
    started = time.monotonic()
    plane.wait_for("vault unsealed", probe=lambda: vault.api("GET", "sys/health", token="")[0] == 200, timeout=60)
    plane.timings["vault ready"] = time.monotonic() - started
    return vault
