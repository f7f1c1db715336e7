"""Strict schema validation of rendered Kubernetes documents (built-in kinds and custom resources).

Built-in kinds are checked against the *strict* JSON schemas bundled with `kubernetes-validate`
(Draft 2020-12, every object closed with `additionalProperties: false`). Custom resources are checked
against the `openAPIV3Schema` of their CRD, made strict the way `kubectl apply --validate=strict`
(server-side field validation) behaves: unknown fields are errors.

Why Draft 2020-12 for CRD schemas too: a CRD's OpenAPI v3.0 schema is a subset of JSON Schema close
to draft 4. The keywords CRDs may use (type, properties, required, items as one schema, enum, pattern,
min/max*, allOf/anyOf/oneOf/not, additionalProperties) mean the same in draft 4 and 2020-12. The only
differences are rewritten while the schema is made strict: `nullable: true` adds "null" to `type`,
`x-kubernetes-int-or-string` becomes `type: [integer, string]`, and boolean `exclusiveMinimum` /
`exclusiveMaximum` (draft 4 / OpenAPI 3.0) become numeric bounds. Using 2020-12 everywhere lets CR
`metadata` reuse the strict core ObjectMeta definition through the same `referencing` registry.

Strict CRD schemas: every object schema outside `allOf`/`anyOf`/`oneOf`/`not` that has neither
`additionalProperties` nor `x-kubernetes-preserve-unknown-fields: true` gets `additionalProperties: false`.
That includes `type: object` without `properties` (an empty marker struct, or a nested `metadata` not
marked `x-kubernetes-embedded-resource`): the API server prunes every field there, so strict field
validation rejects them too. Objects marked `x-kubernetes-embedded-resource` accept apiVersion, kind and a
core ObjectMeta. Go (RE2) patterns are used as Python regexes; a leading `^(?i)` is moved to `(?i)^`, and a
pattern Python cannot compile is skipped.

Speed: schemas are compiled once per (apiVersion, kind), `$ref`s to the core definitions are inlined,
annotations are dropped, and scalar leaves (strings, IntOrString, Quantity) are checked without a
`jsonschema` descent; anything else, and every error message, goes through plain `jsonschema`.

Not checked (the API server does, these schemas cannot): CEL rules (`x-kubernetes-validations`),
`format` values, list-map key uniqueness, defaults, and anything decided by admission webhooks.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from mlflow_gitops.crds import default_crd_dir

__all__ = ["SchemaValidator", "default_crd_dir", "load_crd_index", "strict_crd_schema"]

Schema = dict[str, Any]
GroupVersionKind = tuple[str, str]  # (apiVersion, kind)

DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
OBJECT_META_REF = f"{DEFINITIONS_URI}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
MAX_MESSAGE = 300


def _k8s_schema_root() -> Path:
    import kubernetes_validate  # test dependency; imported lazily so the renderer does not need it

    return Path(kubernetes_validate.__file__).resolve().parent / "kubernetes-json-schema"


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"v?(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match[1]), int(match[2])


@functools.cache
def k8s_schema_dir(kubernetes_version: str) -> Path:
    """The strict schema folder of the newest bundled Kubernetes version not newer than `kubernetes_version`."""
    wanted = _major_minor(kubernetes_version)
    found = {}
    for path in _k8s_schema_root().glob("v*-local-strict"):
        found[_major_minor(path.name)] = path
    usable = [v for v in found if v <= wanted]
    if not usable:
        raise ValueError(f"kubernetes-validate has no strict schemas for Kubernetes {kubernetes_version}")
    return found[max(usable)]


# Keywords that never fail validation here (`format` is not checked: see the module docstring); dropped from
# compiled schemas so that leaf schemas reduce to `{"type": ...}` and take the fast path below.
_ANNOTATIONS = frozenset({"description", "format", "default", "example", "title", "nullable", "$comment"})


class _K8sDefinitions:
    """The strict `_definitions.json` of one Kubernetes version: a `referencing` registry plus `$ref` inlining.

    Inlining replaces each `$ref` by the (memoised, shared) definition it names, so validation does not pay a
    registry lookup per reference (about a quarter of the time). Recursive definitions keep their `$ref`,
    which the registry resolves.
    """

    def __init__(self, schema_dir: Path) -> None:
        contents = json.loads((schema_dir / "_definitions.json").read_text())
        self.defs: dict[str, Schema] = contents["$defs"]
        self.registry: Registry = Registry().with_resource(DEFINITIONS_URI, Resource.from_contents(contents))
        self._memo: dict[str, Schema] = {}
        self._stack: list[str] = []

    def inline(self, node: Any) -> Any:
        """A copy of schema `node` with `#/$defs/...` references replaced by their definitions."""
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            target = self._definition(ref.rsplit("#/$defs/", 1)[1])
            rest = {key: value for key, value in node.items() if key not in ("$ref", "description")}
            return {**self._walk(rest), "allOf": [target]} if rest else target
        return self._walk(node)

    def _walk(self, schema: Schema) -> Schema:
        out: Schema = {}
        for key, value in schema.items():
            if key in _ANNOTATIONS or key.startswith("x-kubernetes-"):
                continue
            if key in ("properties", "patternProperties", "$defs") and isinstance(value, dict):
                out[key] = {name: self.inline(sub) for name, sub in value.items()}
            elif key in ("items", "additionalProperties", "not"):
                out[key] = self.inline(value)
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
                out[key] = [self.inline(sub) for sub in value]
            else:
                out[key] = value
        return out

    def _definition(self, name: str) -> Schema:
        if name in self._stack:
            return {"$ref": f"{DEFINITIONS_URI}#/$defs/{name}"}
        if name not in self._memo:
            self._stack.append(name)
            try:
                self._memo[name] = self.inline(self.defs[name])
            finally:
                self._stack.pop()
        return self._memo[name]


@functools.cache
def _k8s_definitions(schema_dir: Path) -> _K8sDefinitions:
    return _K8sDefinitions(schema_dir)


# --- CRD index -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrdVersion:
    """One `spec.versions[]` entry of a CRD."""

    schema: Schema
    served: bool
    source: Path


def _yaml_documents(path: Path) -> Iterator[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    yield from (doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc)


def _crd_versions(crd: Mapping[str, Any], source: Path) -> Iterator[tuple[GroupVersionKind, CrdVersion]]:
    spec = crd["spec"]
    for version in spec["versions"]:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            yield key, CrdVersion(schema, bool(version.get("served", True)), source)


@functools.cache
def load_crd_index(crd_dir: Path) -> Mapping[GroupVersionKind, CrdVersion]:
    """(apiVersion, kind) -> schema of every CRD in `crd_dir` (*.yaml / *.yml, recursively; loaded once)."""
    if not crd_dir.is_dir():
        raise FileNotFoundError(f"CRD folder not found: {crd_dir} (set MLFLOW_GITOPS_CRDS)")
    index: dict[GroupVersionKind, CrdVersion] = {}
    files = sorted(p for p in crd_dir.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        for doc in _yaml_documents(path):
            if doc.get("kind") != "CustomResourceDefinition":
                continue
            for key, version in _crd_versions(doc, path):
                if key in index and index[key].schema != version.schema:
                    raise ValueError(f"{key[0]} {key[1]} is defined twice: {index[key].source} and {path}")
                index[key] = version
    return index


# --- making a CRD schema strict --------------------------------------------------------------------

_STRUCTURAL = ("properties", "patternProperties")
_JUNCTORS = ("allOf", "anyOf", "oneOf")


def _with_type(schema: Schema, extra: Iterable[str]) -> None:
    current = schema.get("type")
    types = [current] if isinstance(current, str) else list(current or [])
    schema["type"] = types + [t for t in extra if t not in types]


_GO_LEADING_FLAGS = re.compile(r"^\^\(\?([imsU]+)\)")


def _python_pattern(pattern: str) -> str | None:
    """A Go (RE2) `pattern` as a Python regex: `^(?i)x` -> `(?i)^x`; None when Python cannot compile it."""
    for candidate in (pattern, _GO_LEADING_FLAGS.sub(r"(?\1)^", pattern)):
        try:
            re.compile(candidate)
        except re.error:
            continue
        return candidate
    return None


_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def _rewrite_openapi(schema: Schema) -> None:
    """OpenAPI 3.0 / Kubernetes extensions -> Draft 2020-12 keywords, in place (one level)."""
    if isinstance(schema.get("pattern"), str):
        pattern = _python_pattern(schema.pop("pattern"))
        if pattern is not None:
            schema["pattern"] = pattern
    if schema.get("x-kubernetes-int-or-string") and "type" not in schema:
        schema["type"] = ["integer", "string"]
        if schema.get("anyOf") == _INT_OR_STRING_ANY_OF:
            del schema["anyOf"]  # now said by `type`; keeping it would report each error twice
    if schema.get("nullable"):
        if "type" in schema:
            _with_type(schema, ["null"])
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), bool):
            exclusive = schema.pop(bound)
            if exclusive and limit in schema:
                schema[bound] = schema.pop(limit)


def _close(schema: Schema) -> None:
    """Reject unknown fields where the API server would prune (or, with strict validation, reject) them."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema:
        return
    if "properties" in schema or schema.get("type") == "object":
        if schema.get("x-kubernetes-embedded-resource"):
            props = schema.setdefault("properties", {})
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props.setdefault("metadata", {"$ref": OBJECT_META_REF})
        schema["additionalProperties"] = False


def _strict(node: Any, structural: bool) -> Any:
    """Deep copy of `node` with Draft 2020-12 keywords; objects closed where `structural` (not in junctors)."""
    if not isinstance(node, dict):
        return node
    schema: Schema = {key: value for key, value in node.items() if key != "description"}
    _rewrite_openapi(schema)
    for key in _STRUCTURAL:
        if key in schema:
            schema[key] = {name: _strict(sub, structural) for name, sub in schema[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _strict(schema[key], structural)
    for key in _JUNCTORS:
        if key in schema:
            schema[key] = [_strict(sub, False) for sub in schema[key]]
    if "not" in schema:
        schema["not"] = _strict(schema["not"], False)
    if structural:
        _close(schema)
    return schema


def strict_crd_schema(openapi: Schema) -> Schema:
    """A strict Draft 2020-12 copy of a CRD `openAPIV3Schema`; `metadata` is checked as a core ObjectMeta.

    The input (shared by the cached CRD index) is never modified.
    """
    schema = _strict(openapi, True)
    props = schema.setdefault("properties", {})
    metadata = {k: v for k, v in (openapi.get("properties", {}).get("metadata") or {}).items() if k != "type"}
    props["metadata"] = {"$ref": OBJECT_META_REF, **_strict(metadata, False)}
    schema["additionalProperties"] = False
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return dict(schema)


# --- a faster Draft 2020-12 validator ---------------------------------------------------------------

_SCALARS = (str, bool, int, float, type(None))
_TYPE_CHECKS = {  # exact Draft 2020-12 semantics for JSON scalars (1.0 is an integer, True is not)
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: (
        (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    ),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "null": lambda value: value is None,
}


def _type_match(types: Any, value: Any) -> bool | None:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list):
        return None
    return any(_TYPE_CHECKS[name](value) if name in _TYPE_CHECKS else False for name in names)


def _scalar_verdict(schema: Any, value: Any) -> bool | None:
    """Exact verdict of a schema made only of `type` / `oneOf` / `anyOf` on a JSON scalar; None otherwise."""
    if not isinstance(schema, dict):
        return None
    verdict: bool | None = True
    for key, argument in schema.items():
        if key == "type":
            found = _type_match(argument, value)
        elif key in ("oneOf", "anyOf") and isinstance(argument, list):
            branches = [_scalar_verdict(branch, value) for branch in argument]
            if None in branches:
                return None
            found = branches.count(True) == 1 if key == "oneOf" else any(branches)
        else:
            return None
        if found is None:
            return None
        verdict = verdict and found
    return verdict


def _plainly_valid(schema: Any, value: Any) -> bool:
    """True when `value` is a scalar that `schema` (type / oneOf / anyOf only) accepts.

    A sound shortcut for the common leaves (strings, IntOrString, Quantity): on False the value takes the
    normal descending check, which also produces the error messages.
    """
    return isinstance(value, _SCALARS) and _scalar_verdict(schema, value) is True


def _properties(validator: Any, properties: Schema, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    """`properties`, skipping the descent (the costly part) for plainly valid scalar leaves."""
    if not isinstance(instance, dict):
        return
    for name, value in instance.items():
        subschema = properties.get(name)
        if subschema is not None and not _plainly_valid(subschema, value):
            yield from validator.descend(value, subschema, path=name, schema_path=name)


_ITEMS = jsonschema.Draft202012Validator.VALIDATORS["items"]
_ADDITIONAL = jsonschema.Draft202012Validator.VALIDATORS["additionalProperties"]


def _items(validator: Any, items: Any, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    """`items` (single schema form), skipping the descent for plainly valid scalar items."""
    if not isinstance(instance, list) or "prefixItems" in schema or not isinstance(items, dict):
        yield from _ITEMS(validator, items, instance, schema)
        return
    for index, value in enumerate(instance):
        if not _plainly_valid(items, value):
            yield from validator.descend(value, items, path=index)


def _additional(validator: Any, additional: Any, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    """`additionalProperties` with a schema (label and annotation maps), skipping plainly valid values."""
    if not isinstance(instance, dict) or not isinstance(additional, dict) or "patternProperties" in schema:
        yield from _ADDITIONAL(validator, additional, instance, schema)
        return
    known = schema.get("properties", {})
    for name, value in instance.items():
        if name not in known and not _plainly_valid(additional, value):
            yield from validator.descend(value, additional, path=name)


_FastValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator,
    validators={"properties": _properties, "items": _items, "additionalProperties": _additional},
)


# --- the validator ---------------------------------------------------------------------------------


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _describe(doc: Mapping[str, Any]) -> str:
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return f"{doc.get('kind', '<no kind>')}/{name or '<no name>'}"


def _message(error: ValidationError) -> str:
    text = error.message
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _leaf(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures inside an object, the most relevant deeper error (not a whole-object dump)."""
    while error.context:
        deeper = best_match(error.context)
        if deeper is None or len(deeper.absolute_path) <= len(error.absolute_path):
            break
        error = deeper
    return error


class SchemaValidator:
    """Validate documents against strict schemas; one cached validator per (apiVersion, kind).

    Built-in kinds use the kubernetes-validate strict schemas for `kubernetes_version`; other kinds use
    the CRDs under `crd_dir` (default: `default_crd_dir()`; loaded once per folder, on first use).
    `fast=False` uses plain `jsonschema.Draft202012Validator` (same verdicts, slower; for cross-checks).
    """

    def __init__(self, crd_dir: Path | None = None, kubernetes_version: str = "1.28", fast: bool = True) -> None:
        self.crd_dir = Path(crd_dir if crd_dir is not None else default_crd_dir()).resolve()
        self.schema_dir = k8s_schema_dir(kubernetes_version)
        self.definitions = _k8s_definitions(self.schema_dir)
        self._validator_class = _FastValidator if fast else jsonschema.Draft202012Validator
        self._validators: dict[GroupVersionKind, Any] = {}

    def _core_schema(self, api_version: str, kind: str) -> Schema | None:
        group, version = _split_api_version(api_version)
        prefix = group.split(".", 1)[0]
        name = f"{kind.lower()}-{prefix}-{version}.json" if group else f"{kind.lower()}-{version}.json"
        path = self.schema_dir / name
        if not path.is_file():
            return None
        schema = json.loads(path.read_text())
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        wanted = {"group": group, "version": version, "kind": kind}
        return schema if wanted in gvks else None

    def _crd_schema(self, api_version: str, kind: str) -> Schema | str:
        found = load_crd_index(self.crd_dir).get((api_version, kind))
        if found is None:
            return f"no schema for {api_version} {kind}"
        if not found.served:
            return f"no schema for {api_version} {kind}: that version is not served by its CRD ({found.source.name})"
        return strict_crd_schema(found.schema)

    def validator(self, api_version: str, kind: str) -> Any:
        """The cached validator for (apiVersion, kind), or the reason there is none."""
        key = (api_version, kind)
        if key not in self._validators:
            schema = self._core_schema(api_version, kind) or self._crd_schema(api_version, kind)
            self._validators[key] = schema if isinstance(schema, str) else self._compile(schema)
        return self._validators[key]

    def _compile(self, schema: Schema) -> Any:
        inlined = self.definitions.inline(schema)
        return self._validator_class(inlined, registry=self.definitions.registry)

    def errors(self, doc: Mapping[str, Any]) -> list[str]:
        """Every problem of `doc` as `<kind>/<name>: <json path>: <message>` (empty when valid)."""
        if not isinstance(doc, Mapping):
            return [f"<not an object>: $: expected a mapping, got {type(doc).__name__}"]
        where = _describe(doc)
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return [f"{where}: $: apiVersion and kind must be strings"]
        validator = self.validator(api_version, kind)
        if isinstance(validator, str):
            return [f"{where}: $: {validator}"]
        found = (_leaf(error) for error in validator.iter_errors(doc))
        return sorted({f"{where}: {error.json_path}: {_message(error)}" for error in found})

    def validate_all(self, docs: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
        """`<kind>/<name>` -> errors, for the invalid documents only (empty dict: all valid)."""
        problems: dict[str, list[str]] = {}
        for doc in docs:
            found = self.errors(doc)
            if found:
                problems.setdefault(_describe(doc), []).extend(found)
        return problems
