"""Apply the environment's `patches` to the rendered objects, then name each patched Job by its new content.

A patch targets objects by kind and name (a Job by its name without the content hash) in every instance or
one; `merge` is an RFC 7386 JSON merge patch, `jsonPatch` RFC 6902 operations. Both become cdk8s JSON
patches of the object, so the change renders like the rest; a patched Job is renamed after its new spec, so
the engine runs it again. A patch that does not apply is a ConfigError (exit 2) naming the entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import cdk8s

from mlflow_gitops import names as n
from mlflow_gitops.config import ConfigError, Problem
from mlflow_gitops.constructs._hash import content_hash
from mlflow_gitops.constructs._object import canonical
from mlflow_gitops.constructs.platform import MlflowPlatform
from mlflow_gitops.settings import EnvironmentSettings, ObjectPatch

_HASHED = re.compile(rf"^(?P<prefix>.+)-[0-9a-f]{{{n.JOB_HASH_LENGTH}}}$")
_OPS = {"add", "remove", "replace", "move", "copy", "test"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: mappings merge key by key, null removes a key, anything else replaces the value."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _matches(obj: cdk8s.ApiObject, patch: ObjectPatch) -> bool:
    if obj.kind != patch.kind:
        return False
    if obj.name == patch.name:
        return True
    hashed = _HASHED.match(obj.name) if obj.kind == "Job" else None
    return hashed is not None and hashed["prefix"] == patch.name


def _operations(current: Mapping[str, Any], patch: ObjectPatch) -> list[cdk8s.JsonPatch]:
    ops: list[cdk8s.JsonPatch] = []
    if patch.merge:
        merged = merge_patch(current, patch.merge)
        for key in sorted(set(current) | set(merged)):
            if key in ("apiVersion", "kind"):
                continue
            if key == "metadata":
                for field in ("labels", "annotations"):
                    old, new = current["metadata"].get(field), merged["metadata"].get(field)
                    if new != old:
                        ops.append(cdk8s.JsonPatch.add(f"/metadata/{field}", canonical(new or {})))
            elif key not in merged:
                ops.append(cdk8s.JsonPatch.remove(f"/{key}"))
            elif merged[key] != current.get(key):
                ops.append(cdk8s.JsonPatch.add(f"/{key}", canonical(merged[key])))
    for op in patch.json_patch:
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test"):
            ops.append(getattr(cdk8s.JsonPatch, kind)(path, canonical(op.get("value"))))
        elif kind == "remove":
            ops.append(cdk8s.JsonPatch.remove(path))
        else:  # move, copy
            ops.append(getattr(cdk8s.JsonPatch, kind)(op["from"], path))
    return ops


def _rename_job(obj: cdk8s.ApiObject, rendered: Mapping[str, Any]) -> None:
    """A Job's name is `<prefix>-<hash of its spec>`: after a patch it is named after the new spec."""
    hashed = _HASHED.match(obj.name)
    if hashed is None:
        return
    name = f"{hashed['prefix']}-{content_hash(canonical(rendered['spec']), n.JOB_HASH_LENGTH)}"
    if name != rendered["metadata"]["name"]:
        obj.add_json_patch(cdk8s.JsonPatch.replace("/metadata/name", name))


def patch_objects(platform: MlflowPlatform, patch: ObjectPatch) -> list[str]:
    """Apply `patch` to the matching objects of `platform` (renaming a patched Job after its new spec); the
    names of the objects it changed. ValueError says why an operation does not apply."""
    changed = []
    for chart in platform.units.values():
        for node in chart.node.find_all():
            if not (isinstance(node, cdk8s.ApiObject) and _matches(node, patch)):
                continue
            try:
                node.add_json_patch(*_operations(node.to_json(), patch))
                rendered = node.to_json()  # an operation that does not apply fails here
            except Exception as exc:  # jsii raises RuntimeError with the JSON patch error
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                detail = re.sub(r"^Error: Failed serializing construct at path '[^']*' with name '[^']*': ", "", detail)
                raise ValueError(f"does not apply to {patch.kind} {node.name}: {detail}") from None
            if node.kind == "Job":
                _rename_job(node, rendered)
            changed.append(node.name)
    return changed


def apply_patches(env: EnvironmentSettings, platforms: Sequence[MlflowPlatform]) -> None:
    """Apply `env.patches` in order to the objects of `platforms` (the environment's instances)."""
    problems: list[Problem] = []
    for index, patch in enumerate(env.patches):
        where = f"patches[{index}]"
        found = 0
        try:
            for platform in platforms:
                if patch.instance is None or platform.instance.name == patch.instance:
                    found += len(patch_objects(platform, patch))
        except ValueError as exc:
            problems.append(Problem(env.source, where, str(exc)))
            continue
        if not found:
            problems.append(Problem(env.source, f"{where}.target", f"no {patch.kind} named {patch.name} in the render"))
    if problems:
        raise ConfigError(problems)
