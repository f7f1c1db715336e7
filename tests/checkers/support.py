"""Helpers of the checker tests: the binaries, the rendered manifests, kubeconform's JSON schemas, the peers that
netpol-analyzer needs to see and the parsing of its output."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

CRDS = REPO.parent / "shared" / "crds"
"""The upstream CRD manifests (shared/crds beside the repository; SOURCES.md there says where each comes from)."""
SCHEMA_LOCATION = "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
"""Below the schema folder. Group is the apiVersion's group, or `v1` for the core group (kubeconform's templating)."""

Doc = dict[str, Any]


# ---------------------------------------------------------------------------------------------------------------
# Binaries and the render
# ---------------------------------------------------------------------------------------------------------------
def tool(part: str, binary: str | None = None) -> Path:
    """A checker's binary (default: named like its part) from ci/tools.py's cache; fail, never skip, if missing."""
    return _tool_path(part, binary or part)


def tool_folder(part: str) -> Path:
    """The folder of a complete part (kubeconform's holds openapi/swagger.json)."""
    return _tool_path(part, None)


def _tool_path(part: str, binary: str | None) -> Path:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from ci.tools import ToolError, path

    try:
        return path(part, binary)
    except ToolError as exc:
        pytest.fail(f"{exc} (run `python3 ci/tools.py ensure {part}`)", pytrace=False)


def run(
    cmd: list[str | Path], *, timeout: float = 120, cwd: Path | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a checker; `input` is its stdin (none by default)."""
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        check=False,
    )


def synth(env: str, config: Path | None, out: Path) -> Path:
    """`mlflow-gitops synth` of one environment into out/<env>/ (as tests/cluster/test_apply.py does)."""
    args = ["synth", "--quiet", "--out", str(out), "--env", env, *(["--config-dir", str(config)] if config else [])]
    done = subprocess.run(
        [sys.executable, "-m", "mlflow_gitops", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out / env


def manifest_files(folder: Path) -> list[Path]:
    """The rendered object files, without kustomize's own kustomization.yaml files (build input, not objects)."""
    return sorted(p for p in folder.rglob("*.yaml") if p.name != "kustomization.yaml")


def documents(files: Iterable[Path]) -> list[Doc]:
    return [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]


# ---------------------------------------------------------------------------------------------------------------
# kubeconform's schemas
# ---------------------------------------------------------------------------------------------------------------
def strict(schema: Any, *, root: bool = True) -> Any:
    """What kubeconform's -strict expects of a schema (its openapi2jsonschema.py, recreating kubectl's validation):
    `additionalProperties: false` on every object with `properties` that says nothing of additional properties,
    the root included; left open where the schema keeps unknown fields (x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, list):
        return [strict(s, root=False) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: strict(v, root=False) if k not in ("enum", "default", "example", "required") else v
        for k, v in schema.items()
    }
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def write_schema(dest: Path, group: str, kind: str, version: str, schema: Doc) -> Path:
    """dest/<group>/<kind>_<version>.json (lowercased), where SCHEMA_LOCATION finds it."""
    target = dest / group.lower() / f"{kind}_{version}.json".lower()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(strict(schema), indent=1, sort_keys=True))
    return target


def crd_schemas(crd_dir: Path, dest: Path) -> dict[tuple[str, str], Path]:
    """The openAPIV3Schema of every served version of every CRD under crd_dir; {(apiVersion, kind): file}."""
    written: dict[tuple[str, str], Path] = {}
    for file in sorted([*crd_dir.rglob("*.yaml"), *crd_dir.rglob("*.yml")]):
        for crd in yaml.safe_load_all(file.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema and version.get("served", True):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    written[key] = write_schema(dest, spec["group"], spec["names"]["kind"], version["name"], schema)
    return written


INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}
"""What the API server accepts for these (the swagger document says only `type: string`)."""
QUANTITY_DEFINITION = "io.k8s.apimachinery.pkg.api.resource.Quantity"
NOT_SCHEMAS = frozenset(
    {
        "x-kubernetes-group-version-kind",
        "enum",
        "required",
        "default",
        "example",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-patch-merge-key",
        "x-kubernetes-patch-strategy",
        "x-kubernetes-list-type",
        "x-kubernetes-map-type",
        "x-kubernetes-unions",
        "description",
    }
)


class OpenAPI:
    """The built-in kinds' schemas from the API server's OpenAPI v2 document, each standalone ($refs inlined)."""

    def __init__(self, swagger: Path) -> None:
        self.definitions: dict[str, Doc] = json.loads(swagger.read_text())["definitions"]
        self.by_gvk: dict[tuple[str, str], str] = {}
        for name, definition in self.definitions.items():
            for gvk in definition.get("x-kubernetes-group-version-kind") or []:
                api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                self.by_gvk.setdefault((api_version, gvk["kind"]), name)

    def inline(self, schema: Any, stack: tuple[str, ...] = ()) -> Any:
        """schema with every $ref replaced by its definition (a recursive one by `{}`: anything)."""
        if isinstance(schema, list):
            return [self.inline(s, stack) for s in schema]
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/definitions/")
            if name == QUANTITY_DEFINITION:
                return dict(QUANTITY)
            return {} if name in stack else self.inline(self.definitions[name], (*stack, name))
        if schema.get("format") == "int-or-string":
            return dict(INT_OR_STRING)
        return {k: v if k in NOT_SCHEMAS else self.inline(v, stack) for k, v in schema.items()}

    def write(self, api_version: str, kind: str, dest: Path) -> Path | None:
        """Write the schema of apiVersion/kind, None if the document has no such kind."""
        name = self.by_gvk.get((api_version, kind))
        if name is None:
            return None
        group, _, version = api_version.rpartition("/")
        return write_schema(dest, group or version, kind, version, self.inline(self.definitions[name], (name,)))


# ---------------------------------------------------------------------------------------------------------------
# netpol-analyzer
# ---------------------------------------------------------------------------------------------------------------
def namespace_doc(name: str) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
    }


def peer_deployment(namespace: str, name: str, labels: dict[str, str], ports: Iterable[int] = ()) -> Doc:
    """A stand-in for a platform workload: only its namespace and pod labels matter to the analyzer."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": "registry.invalid/peer:1",
                            "ports": [{"containerPort": p} for p in ports],
                        }
                    ]
                },
            },
        },
    }


def parse_connection(text: str) -> frozenset[str]:
    """`TCP 443,8443,UDP 53` -> {TCP 443, TCP 8443, UDP 53}; `All Connections` -> {ALL}; ranges stay as given."""
    if text.strip() == "All Connections":
        return frozenset({"ALL"})
    found: set[str] = set()
    protocol = ""
    for token in text.replace(";", ",").split(","):
        token = token.strip()
        if " " in token:
            protocol, token = token.split(" ", 1)
        if token:
            found.add(f"{protocol} {token.strip()}" if protocol else token)
    return frozenset(found)


Pair = tuple[str, str]


def is_ip_range(name: str) -> bool:
    return re.fullmatch(r"[0-9.]+-[0-9.]+|[0-9a-f:]*:[0-9a-f:]*-[0-9a-f:]*:[0-9a-f:]*", name) is not None


def ip_coverage(allowed: dict[Pair, frozenset[str]]) -> dict[tuple[str, str, str], str]:
    """(workload, egress|ingress, connection) -> the addresses it reaches or is reached from, merged: the analyzer
    splits the address space wherever the allowed ports differ, so address ranges compare only as a union."""
    spans: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for (src, dst), conns in allowed.items():
        if is_ip_range(dst) == is_ip_range(src):
            continue
        workload, direction, addresses = (src, "egress", dst) if is_ip_range(dst) else (dst, "ingress", src)
        first, last = (ipaddress.ip_address(a) for a in addresses.split("-"))
        for conn in conns:  # IPv4 and IPv6 apart: their integers overlap
            spans.setdefault((workload, f"{direction} IPv{first.version}", conn), []).append((int(first), int(last)))
    merged: dict[tuple[str, str, str], str] = {}
    for key, found in spans.items():
        out: list[list[int]] = []
        for low, high in sorted(found):
            if out and low <= out[-1][1] + 1:
                out[-1][1] = max(out[-1][1], high)
            else:
                out.append([low, high])
        family = ipaddress.IPv6Address if key[1].endswith("IPv6") else ipaddress.IPv4Address
        merged[key] = ",".join(f"{family(lo)}-{family(hi)}" for lo, hi in out)
    return merged


def pod_pairs(allowed: dict[Pair, frozenset[str]]) -> dict[Pair, frozenset[str]]:
    return {pair: conns for pair, conns in allowed.items() if not any(is_ip_range(p) for p in pair)}
