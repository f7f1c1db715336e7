"""Names that change with content: a Job named by a hash of its spec is a new object whenever the spec
changes, so Flux and Argo CD run it again (a Job's spec is immutable)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mlflow_gitops import names as n
from mlflow_gitops.constructs._object import Manifest, canonical


def content_hash(value: Any, length: int = 10) -> str:
    """A short, stable hash of JSON-able content (keys sorted)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:length]


def name_with_content_hash(manifest: Manifest, prefix: str, path: str = "spec") -> str:
    """Name `manifest` `<prefix>-<hash of its rendered spec>` so that any change gives it a new name.

    The hash is over the spec as cdk8s renders it (`canonical`: keys sorted, None dropped), so it is the
    same whether computed here or from the rendered object.
    """
    name = f"{prefix}-{content_hash(canonical(manifest[path]), n.JOB_HASH_LENGTH)}"
    manifest["metadata"]["name"] = name
    return name
