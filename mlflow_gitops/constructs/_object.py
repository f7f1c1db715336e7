"""Register a plain-dict manifest as a raw `cdk8s.ApiObject`, with as few jsii round trips as possible.

Constructs build manifests as Python dicts (camelCase keys, as in the Kubernetes API); type safety comes
from the tests, which validate every rendered document strictly against the Kubernetes and CRD schemas.
The typed classes (`cdk8s_plus_28.k8s.Kube*`, the generated `imports.*` CRD classes) are not used: each of
their objects costs jsii calls and Python-side type checks, and importing them costs more than a render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cdk8s
from constructs import Construct

from mlflow_gitops.constructs._recorded import HEAD, document, recording_chart, sanitized

Manifest = dict[str, Any]
METADATA = ("name", "namespace", "labels", "annotations", "finalizers")
"""The metadata fields a manifest may set (cdk8s.ApiObjectMetadata takes them under the same names)."""


def metadata(
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    finalizers: list[str] | None = None,
) -> dict[str, Any]:
    """ObjectMeta of a manifest (None: absent)."""
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
        "finalizers": finalizers,
    }


def canonical(value: Any) -> Any:
    """`value` as cdk8s serialises it: mapping keys sorted (recursively), None values of mappings dropped.

    cdk8s sorts the keys of what it renders, but applies JSON patches after sorting, so a patched value
    must arrive sorted. Content hashes (Job names) are computed over this form too.
    """
    return sanitized(value)


def api_object(scope: Construct, id: str, manifest: Manifest) -> cdk8s.ApiObject:
    """Register `manifest` (apiVersion, kind, metadata and any other top-level keys) as `scope`/`id`.

    cdk8s renders metadata itself (keys sorted, empty values dropped); every other top-level key is added
    as one JSON patch, all in one `addJsonPatch` call, in sorted key order: cdk8s keeps the patched keys in
    the order they were added, after apiVersion, kind and metadata, which is the order it would have
    sorted them into. The object renders through `chart.to_json()` like any typed one. Inside a recorded
    render (`constructs._recorded`) the document is recorded instead and nothing is returned.
    """
    meta = manifest["metadata"]
    unknown = set(meta) - set(METADATA)
    if unknown:
        raise ValueError(f"{id}: metadata fields other than {', '.join(METADATA)}: {', '.join(sorted(unknown))}")
    recorded = recording_chart(scope)
    if recorded is not None:  # a recorded render (constructs._recorded): the document, no Node object
        recorded.documents.append(document(manifest))
        return None  # type: ignore[return-value]  # nothing of a recorded render reads it
    obj = cdk8s.ApiObject(
        scope,
        id,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=cdk8s.ApiObjectMetadata(**{key: value for key, value in meta.items() if value is not None}),
    )
    ops = [
        cdk8s.JsonPatch.add(f"/{key}", canonical(manifest[key]))
        for key in sorted(manifest)
        if key not in HEAD and manifest[key] is not None
    ]
    if ops:
        obj.add_json_patch(*ops)
    return obj
