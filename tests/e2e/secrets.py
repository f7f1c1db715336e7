"""Secrets as External Secrets Operator would make them from the rendered ExternalSecrets and a stand-in for Vault.

`evaluate_external_secret(doc, vault)` implements what ESO 2.9 does for the constructs the renderer uses, and fails
loudly (`SecretError`) on anything else, so a construct the renderer starts using is noticed rather than guessed:

* `spec.data[]`: `secretKey` <- `vault[remoteRef.key][remoteRef.property]` (a missing path or property is an error,
  as ESO reports it); no `dataFrom`, no `remoteRef.version`/`decodingStrategy`/... other than their defaults;
* `spec.target`: `name` (default: the ExternalSecret's name), `creationPolicy: Owner`, and `template` with
  `engineVersion: v2`, `mergePolicy` Replace (the Secret holds the template's keys only) or Merge, `type`,
  `metadata.labels`/`annotations` and `data` (Go templates, see `render_template`); no `templateFrom`.

`render_template(text, values)` evaluates the Go `text/template` subset present in the rendered output: literal text
and actions `{{ .key }}` or pipelines `{{ .key | urlquery | replace "old" "new" }}` (Go semantics: the piped value is
the last argument; `urlquery` is Go's url.QueryEscape, sprig's `replace` is strings.ReplaceAll). A missing key is an
error (ESO's templates run with missingkey=error); any other function, trim markers, variables, `if`/`range`, ... are
`SecretError`s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

Vault = dict[str, dict[str, str]]


class SecretError(Exception):
    """An ExternalSecret the evaluator cannot (or ESO would not) turn into a Secret."""


@dataclass(frozen=True)
class Secret:
    namespace: str
    name: str
    data: dict[str, str]
    type: str = "Opaque"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the ExternalSecret it was made from

    def get(self, key: str, consumer: str) -> str:
        if key not in self.data:
            raise SecretError(
                f"{consumer}: Secret {self.namespace}/{self.name} has no key {key!r} "
                f"(keys: {sorted(self.data)}; made by ExternalSecret {self.source})"
            )
        return self.data[key]


# --------------------------------------------------------------------------------------------------- Go templates

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<field>\.[A-Za-z_][A-Za-z0-9_]*)|(?P<ident>[A-Za-z_]\w*)'
    r"|(?P<pipe>\|)|(?P<other>\S+))"
)


def _go_string(literal: str) -> str:
    body = literal[1:-1]
    if "\\" in body:
        raise SecretError(f"template string with escapes not supported by the evaluator: {literal}")
    return body


def _urlquery(value: str) -> str:
    # Go url.QueryEscape: unreserved A-Z a-z 0-9 - _ . ~ kept, space -> '+', everything else %XX (upper case)
    return quote_plus(value, safe="-_.~")


def _replace(old: str, new: str, value: str) -> str:
    return value.replace(old, new)


_FUNCTIONS: dict[str, tuple[int, Any]] = {"urlquery": (0, _urlquery), "replace": (2, _replace)}


def _tokens(action: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN.finditer(action):
        kind = match.lastgroup
        if kind is None:
            continue
        value = match.group(kind)
        if kind == "other":
            raise SecretError(f"template construct not supported by the evaluator: {value!r} in {{{{{action}}}}}")
        tokens.append((kind, value))
    return tokens


def _evaluate_action(action: str, values: dict[str, str]) -> str:
    if (
        action.startswith("-")
        or action.endswith("-")
        or action.strip().startswith(("/*", "if", "range", "with", "end", "else", "define", "template", "block", "$"))
    ):
        raise SecretError(f"template construct not supported by the evaluator: {{{{{action}}}}}")
    commands: list[list[tuple[str, str]]] = [[]]
    for token in _tokens(action):
        if token[0] == "pipe":
            commands.append([])
        else:
            commands[-1].append(token)
    if not commands[0] or any(not command for command in commands):
        raise SecretError(f"malformed template action {{{{{action}}}}}")
    first = commands[0]
    if len(first) != 1 or first[0][0] != "field":
        raise SecretError(f"a pipeline must start with a single .key in the evaluator: {{{{{action}}}}}")
    key = first[0][1][1:]
    if key not in values:
        raise SecretError(
            f"template references .{key}, which is not among the ExternalSecret's data keys "
            f"{sorted(values)} (ESO: map has no entry for key {key!r})"
        )
    value = values[key]
    for command in commands[1:]:
        kind, name = command[0]
        if kind != "ident" or name not in _FUNCTIONS:
            raise SecretError(f"template function {name!r} not supported by the evaluator in {{{{{action}}}}}")
        arity, function = _FUNCTIONS[name]
        arguments = command[1:]
        if len(arguments) != arity or any(kind != "string" for kind, _ in arguments):
            raise SecretError(
                f"{name} takes {arity} string literal argument(s) before the piped value "
                f"in the evaluator: {{{{{action}}}}}"
            )
        value = function(*(_go_string(literal) for _, literal in arguments), value)
    return value


def render_template(text: str, values: dict[str, str]) -> str:
    out, position = [], 0
    for match in _ACTION.finditer(text):
        out.append(text[position : match.start()])
        out.append(_evaluate_action(match.group(1), values))
        position = match.end()
    rest = text[position:]
    if "{{" in rest or "}}" in rest:
        raise SecretError(f"unbalanced template delimiters in {text!r}")
    out.append(rest)
    return "".join(out)


# ----------------------------------------------------------------------------------------------- ExternalSecrets

_REMOTE_REF_DEFAULTS = {"conversionStrategy": "Default", "decodingStrategy": "None", "metadataPolicy": "None"}


def _check_keys(where: str, mapping: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(mapping) - allowed
    if unknown:
        raise SecretError(f"{where}: field(s) {sorted(unknown)} not supported by the evaluator")


def evaluate_external_secret(doc: dict[str, Any], vault: Vault) -> Secret:
    meta, spec = doc["metadata"], doc["spec"]
    where = f"ExternalSecret {meta['namespace']}/{meta['name']}"
    _check_keys(where + " spec", spec, {"data", "refreshInterval", "secretStoreRef", "target"})
    values: dict[str, str] = {}
    for item in spec.get("data") or []:
        _check_keys(where + " data[]", item, {"secretKey", "remoteRef"})
        ref = item["remoteRef"]
        _check_keys(where + " remoteRef", ref, {"key", "property", *_REMOTE_REF_DEFAULTS})
        for name, default in _REMOTE_REF_DEFAULTS.items():
            if ref.get(name, default) != default:
                raise SecretError(f"{where}: remoteRef.{name}={ref[name]!r} not supported by the evaluator")
        path, prop = ref["key"], ref.get("property")
        if path not in vault:
            raise SecretError(f"{where}: Vault has no secret at {path!r} (paths: {sorted(vault)})")
        if prop is None:
            raise SecretError(f"{where}: remoteRef without property (whole-secret JSON) not supported")
        if prop not in vault[path]:
            raise SecretError(
                f"{where}: Vault secret {path!r} has no property {prop!r} (properties: {sorted(vault[path])})"
            )
        values[item["secretKey"]] = vault[path][prop]
    target = spec.get("target") or {}
    _check_keys(where + " target", target, {"name", "creationPolicy", "deletionPolicy", "template"})
    if target.get("creationPolicy", "Owner") != "Owner":
        raise SecretError(f"{where}: creationPolicy {target['creationPolicy']!r} not supported by the evaluator")
    name = target.get("name") or meta["name"]
    template = target.get("template")
    if template is None:
        return Secret(meta["namespace"], name, dict(values), source=where)
    _check_keys(where + " template", template, {"engineVersion", "mergePolicy", "type", "metadata", "data"})
    if template.get("engineVersion", "v2") != "v2":
        raise SecretError(f"{where}: template engineVersion {template['engineVersion']!r} not supported")
    metadata = template.get("metadata") or {}
    _check_keys(where + " template.metadata", metadata, {"labels", "annotations"})
    rendered = {key: render_template(text, values) for key, text in (template.get("data") or {}).items()}
    merge = template.get("mergePolicy", "Replace")
    if merge == "Replace":
        data = rendered
    elif merge == "Merge":
        data = {**values, **rendered}
    else:
        raise SecretError(f"{where}: mergePolicy {merge!r} not supported")
    return Secret(
        meta["namespace"],
        name,
        data,
        type=template.get("type", "Opaque"),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        source=where,
    )


def evaluate_all(docs: list[dict[str, Any]], vault: Vault) -> dict[tuple[str, str], Secret]:
    """Every Secret the rendered ExternalSecrets make, by (namespace, name); two making one Secret is an error."""
    secrets: dict[tuple[str, str], Secret] = {}
    for doc in docs:
        if doc["kind"] != "ExternalSecret":
            continue
        if doc["apiVersion"] != "external-secrets.io/v1":
            raise SecretError(f"ExternalSecret {doc['metadata']['name']}: apiVersion {doc['apiVersion']} not served")
        secret = evaluate_external_secret(doc, vault)
        key = (secret.namespace, secret.name)
        if key in secrets:
            raise SecretError(f"Secret {key} is made by two ExternalSecrets: {secrets[key].source}, {secret.source}")
        secrets[key] = secret
    return secrets
