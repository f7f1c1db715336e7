"""Mask what looks like a secret before any text of the GitOps repository or the render is shown.

`mask(doc)` masks a parsed document (all of a Secret's data, the last-applied annotation, literals under
secret-looking keys, `{name, value}` pairs named like one, well-known token formats and URL passwords
anywhere); `mask_text(text)` masks a file that is not YAML. Both return how many values they replaced.
"""

from __future__ import annotations

import copy
import re
from typing import Any

MASK = "***"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "credential",
    "bearer",
    "htpasswd",
    "connectionstring",
    "dsn",
)
_SECRET_EXACT = frozenset({"pwd", "pass", "key", "auth", "authorization"})
# Names that hold a reference to a secret (a Secret's name, a key name, a path, a mode), not the secret.
_REFERENCE_SUFFIXES = (
    "name",
    "names",
    "ref",
    "refs",
    "namespace",
    "kind",
    "path",
    "paths",
    "property",
    "file",
    "files",
    "selector",
    "store",
    "type",
    "version",
    "id",
    "ids",
    "mode",
    "policy",
    "enabled",
    "seconds",
    "expiration",
    "ttl",
    "interval",
    "length",
    "template",
    "templates",
    "format",
    "url",
    "uri",
    "endpoint",
    "keyref",
)
# Names that are a key name as often as a secret: masked only when the value looks like a secret.
_AMBIGUOUS = frozenset({"key", "secretkey", "accesskey", "accesskeyid", "privatekey", "apikey"})

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_.]*\}")
_KNOWN_SECRETS = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)"
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{32,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
    re.DOTALL,
)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]+:)(?P<password>[^@\s/]+)(?P<at>@)")
_TEXT_ASSIGNMENT = re.compile(
    r"^(?P<head>\s*(?:-\s*)?(?:export\s+)?[\"']?[A-Za-z0-9_.-]*?"
    r"(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key)[A-Za-z0-9_.-]*[\"']?\s*[:=]\s*)"
    r"(?P<value>\S.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_BASE64ISH = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")
_HEX = re.compile(r"^[0-9a-fA-F]{32,}$")


def _is_sensitive(key: str) -> bool:
    n = _norm(key)
    if not n:
        return False
    if n in _AMBIGUOUS or n in _SECRET_EXACT:
        return True
    if n.endswith(_REFERENCE_SUFFIXES):
        return False
    return any(word in n for word in _SECRET_WORDS) or n.endswith("key")


def _names_a_key(key: str) -> bool:
    """A name such as `topologyKey` or `sortKey`: as often a key's name as a key, so judged by its value."""
    n = _norm(key)
    return n in _AMBIGUOUS or (n.endswith("key") and not any(word in n for word in _SECRET_WORDS))


def looks_like_secret(value: str) -> bool:
    """High-entropy looking: long base64/hex-ish without spaces, or a well-known token format."""
    text = value.strip()
    if _KNOWN_SECRETS.search(text):
        return True
    if _HEX.match(text):
        return True
    if _BASE64ISH.match(text):
        classes = sum(bool(re.search(p, text)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
        return classes >= 3 or text.endswith("=")
    return False


def _is_literal(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        stripped = value.strip()
        return bool(stripped) and stripped != MASK and not _TEMPLATE.search(stripped)
    return False


def _mask_value(key: str, value: Any) -> bool:
    """Should `key: value` be masked?"""
    if not _is_literal(value):
        return False
    if _names_a_key(key):
        return isinstance(value, str) and looks_like_secret(value)
    return _is_sensitive(key)


def scrub_text(text: str) -> tuple[str, int]:
    """Mask well-known token formats and URL passwords inside free text; return (text, how many)."""
    count = 0

    def known(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return MASK

    def url(m: re.Match[str]) -> str:
        nonlocal count
        if _TEMPLATE.search(m["password"]) or "{" in m["password"] or m["password"] == MASK:
            return m[0]
        count += 1
        return f"{m['head']}{MASK}{m['at']}"

    text = _KNOWN_SECRETS.sub(known, text)
    text = _URL_PASSWORD.sub(url, text)
    return text, count


def mask_text(text: str) -> tuple[str, int]:
    """Mask secrets in a file that is not YAML: known formats, URL passwords and `password: x`-like lines."""
    text, count = scrub_text(text)

    def assignment(m: re.Match[str]) -> str:
        nonlocal count
        value = m["value"].strip().strip("'\"")
        if not _is_literal(value) or value == MASK:
            return m[0]
        count += 1
        return f"{m['head']}{MASK}"

    return _TEXT_ASSIGNMENT.sub(assignment, text), count


def mask(doc: Any) -> tuple[Any, int]:
    """A copy of `doc` with every secret-looking value replaced by `***`, and how many were replaced.

    Masked: all of a Secret's `data`/`stringData`; the last-applied-configuration annotation; a literal
    under a key named like a password, token, secret or key (not under one naming a reference, such as
    `secretName`; for names that are as often a key's name, such as `key` or `secretKey`, only a value that
    looks random); the `value` of a `{name, value}` pair (an env var) whose name is such a name; well-known
    token formats (PEM private keys, GitHub/GitLab/Slack/AWS tokens, JWTs) and URL passwords anywhere.
    """
    counter = [0]
    result = _mask(copy.deepcopy(doc), counter, top=True)
    return result, counter[0]


def _masks(key: Any, value: Any, pair_name: str | None) -> bool:
    if not isinstance(key, str):
        return False
    if key == LAST_APPLIED:
        return isinstance(value, str) and bool(value)
    if key == "value" and pair_name is not None and _mask_value(pair_name, value):
        return True
    return _mask_value(key, value)


def _masked_like(value: Any) -> str:
    """`***`, one per line of a multi-line value, so that masked text keeps the line numbers of the file."""
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        return "\n".join(MASK for _ in value.rstrip("\n").split("\n")) + ("\n" if value.endswith("\n") else "")
    return MASK


def _mask(node: Any, counter: list[int], top: bool = False) -> Any:
    if isinstance(node, dict):
        if node.get("kind") == "Secret" and (top or isinstance(node.get("metadata"), dict)):  # also in a List
            for field_name in ("data", "stringData"):
                values = node.get(field_name)
                if isinstance(values, dict):
                    for key, value in values.items():
                        if value not in (None, "", MASK):
                            values[key] = _masked_like(value)
                            counter[0] += 1
                elif values not in (None, "", MASK, {}):
                    node[field_name] = MASK
                    counter[0] += 1
        pair_name = node.get("name") if isinstance(node.get("name"), str) else None
        for key in list(node):
            value = node[key]
            if _masks(key, value, pair_name):
                node[key] = MASK
                counter[0] += 1
            else:
                node[key] = _mask(value, counter)
        return node
    if isinstance(node, list):
        return [_mask(item, counter) for item in node]
    if isinstance(node, str):
        text, count = scrub_text(node)
        counter[0] += count
        return text
    return node


__all__ = ["LAST_APPLIED", "MASK", "looks_like_secret", "mask", "mask_text", "scrub_text"]
