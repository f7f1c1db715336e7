"""Compare a fresh render with what the GitOps repository holds: objects added, removed and changed.

Both sides are maps `<env>/<relative path>` -> file text. Every `*.yaml`/`*.yml` file is parsed (several
documents per file, comments ignored); a document with `apiVersion`, `kind` and `metadata.name` is an
object, identified by (environment, kind, namespace or "", name) plus its apiVersion group (shown only
where one kind exists in two groups). Anything else (a kustomization.yaml, a README, a file that is not
YAML) is compared as a file. Secret-looking values are replaced by `***` on both sides before any text is
produced; that an object changed is still decided on the real values (reported as "only masked values
differ"). A removed and an added object whose names differ only in a content hash (a Job) are one renamed
object. Diffs carry the line numbers of the files. The reports are in `reports`.

The old side comes from `read_against(spec, folders)`: a local folder read as is, or a git repository (a
URL, or the path of a work tree or bare repository) fetched shallowly at a ref into a temporary folder.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import fnmatch
import functools
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlflow_gitops.gitops import GitError, is_git_repository, join, redact, run_git
from mlflow_gitops.gitops.destructive import removal_warning
from mlflow_gitops.output.files import dump

MASK = "***"
YAML_SUFFIXES = (".yaml", ".yml")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class SourceError(Exception):
    """The GitOps repository (or the ref asked for) cannot be read."""


# --------------------------------------------------------------------------------------------------------
# Masking


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "privatekey", "accesskey",
                 "credential", "bearer", "htpasswd", "connectionstring", "dsn")
_SECRET_EXACT = frozenset({"pwd", "pass", "key", "auth", "authorization"})
# Names that hold a reference to a secret (a Secret's name, a key name, a path, a mode), not the secret.
_REFERENCE_SUFFIXES = ("name", "names", "ref", "refs", "namespace", "kind", "path", "paths", "property", "file",
                       "files", "selector", "store", "type", "version", "id", "ids", "mode", "policy", "enabled",
                       "seconds", "expiration", "ttl", "interval", "length", "template", "templates", "format",
                       "url", "uri", "endpoint", "keyref")
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


# --------------------------------------------------------------------------------------------------------
# Parsing


# libyaml when PyYAML has it (ten times faster on big ConfigMaps), else the pure-Python classes.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Stable YAML for diffs: sorted keys, block style, multi-line strings as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # PyYAML falls back to quoting when a block cannot hold it
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def canonical(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=1000,
                     allow_unicode=True)


@dataclass(frozen=True, order=True)
class ObjectId:
    env: str
    kind: str
    namespace: str
    name: str
    group: str = ""

    def label(self, with_group: bool = False, with_env: bool = False) -> str:
        kind = f"{self.kind}.{self.group}" if with_group and self.group else self.kind
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.env}: {kind} {where}" if with_env else f"{kind} {where}"


def object_id(env: str, doc: Any) -> ObjectId | None:
    """The identity of a Kubernetes object, or None for a document that is not one."""
    if not isinstance(doc, dict):
        return None
    api, kind, meta = doc.get("apiVersion"), doc.get("kind"), doc.get("metadata")
    if not (isinstance(api, str) and isinstance(kind, str) and isinstance(meta, dict)):
        return None
    name, namespace = meta.get("name"), meta.get("namespace") or ""
    if not isinstance(name, str) or not name or not isinstance(namespace, str):
        return None
    group = api.rsplit("/", 1)[0] if "/" in api else ""
    return ObjectId(env, kind, namespace, name, group)


@dataclass
class _Object:
    path: str
    doc: Any
    masked: Any
    text: str
    """The masked object as the product writes it (`output.dump`)."""
    line: int | None = None
    """Lines of the file before the object's text, when the file holds it exactly as `text` is laid out (so
    diff line numbers are the file's); None when the file lays it out otherwise."""


_SEPARATOR = re.compile(r"^---(?:\s|$)")


def _chunks(text: str) -> list[tuple[int, str]]:
    """The documents of a YAML stream as (index of their first line, their text without leading comment and
    blank lines), skipping those that hold nothing."""
    chunks: list[tuple[int, list[str]]] = [(0, [])]
    for number, line in enumerate(text.splitlines(keepends=True)):
        if _SEPARATOR.match(line):
            chunks.append((number + 1, []))
        else:
            chunks[-1][1].append(line)
    found = []
    for start, lines in chunks:
        skip = 0
        while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith("#")):
            skip += 1
        if skip < len(lines):
            found.append((start + skip, "".join(lines[skip:])))
    return found


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (`1`, `1.0` and `true` are different YAML)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass
class _Side:
    objects: dict[ObjectId, _Object] = field(default_factory=dict)
    rest: dict[str, str] = field(default_factory=dict)
    """Path -> masked text of what in the file is not an object ('' when the file holds objects only)."""
    raw: dict[str, str] = field(default_factory=dict)
    masked: int = 0
    warnings: list[str] = field(default_factory=list)


def _parse(files: Mapping[str, str], environments: set[str], label: str) -> _Side:
    side = _Side()
    for path in sorted(files):
        env = path.split("/", 1)[0]
        if env not in environments or "/" not in path:
            continue
        text = files[path]
        side.raw[path] = text
        if not path.endswith(YAML_SUFFIXES):
            side.rest[path], count = mask_text(text)
            side.masked += count
            continue
        try:
            docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" (line {where.line + 1})" if where is not None else ""
            side.warnings.append(f"{label} {path}: not valid YAML{at}; compared as text")
            side.rest[path], count = mask_text(text)
            side.masked += count
            continue
        rest: list[str] = []
        chunks = _chunks(text)
        for index, doc in enumerate(docs):
            masked, count = mask(doc)
            side.masked += count
            oid = object_id(env, doc)
            if oid is None:
                rest.append(canonical(masked))
            elif oid in side.objects:
                side.warnings.append(f"{label}: {oid.label(with_env=True)} is in {side.objects[oid].path} and "
                                     f"{path}; the second is ignored")
            else:
                line = None
                if len(chunks) == len(docs) and chunks[index][1] == dump(doc):
                    line = chunks[index][0]
                side.objects[oid] = _Object(path, doc, masked, dump(masked), line)
        side.rest[path] = "---\n".join(rest)
    return side


# --------------------------------------------------------------------------------------------------------
# Result


STATUSES = ("changed", "renamed", "added", "removed", "moved")
"""What can happen to an object, in the order reports list them."""


@dataclass(frozen=True)
class ObjectChange:
    id: ObjectId
    status: str
    """changed; renamed (a Job whose content hash, so its name, changed: `old_id` is the one it replaces);
    added; removed; moved (same content, another file)."""
    old_path: str | None
    new_path: str | None
    diff: str = ""
    """A unified diff of the masked object (for added and removed ones, its whole content), with the line
    numbers of its files."""
    masked_only: bool = False
    """The object changed, but only in values that are masked: the diff shows nothing."""
    old_id: ObjectId | None = None
    warning: str = ""
    """For a removed object: what removing it does to data (`destructive.removal_warning`)."""


@dataclass(frozen=True)
class FileChange:
    path: str
    """`<env>/<relative path>`."""
    status: str
    """added, removed, changed (what is not an object in it) or formatting (comments, layout, key order)."""
    diff: str = ""


@dataclass(frozen=True)
class DiffResult:
    environments: tuple[str, ...]
    objects: tuple[ObjectChange, ...]
    files: tuple[FileChange, ...]
    roots: Mapping[str, str]
    """Environment -> its folder in the GitOps repository (for display)."""
    source: str = ""
    masked_old: int = 0
    masked_new: int = 0
    warnings: tuple[str, ...] = ()
    filter: str = ""
    """What `only` kept (`kind Job; name mlflow-*`), empty when nothing was filtered."""

    def of(self, status: str) -> list[ObjectChange]:
        return [c for c in self.objects if c.status == status]

    @property
    def added(self) -> list[ObjectChange]:
        return self.of("added")

    @property
    def removed(self) -> list[ObjectChange]:
        return self.of("removed")

    @property
    def changed(self) -> list[ObjectChange]:
        return self.of("changed")

    @property
    def moved(self) -> list[ObjectChange]:
        return self.of("moved")

    @property
    def renamed(self) -> list[ObjectChange]:
        return self.of("renamed")

    @property
    def has_changes(self) -> bool:
        return bool(self.objects or self.files)

    def counts_by_kind(self) -> dict[str, Counter[str]]:
        """Kind (with group where ambiguous) -> Counter of statuses."""
        counts: dict[str, Counter[str]] = {}
        for change in self.objects:
            counts.setdefault(self.kind_label(change.id), Counter())[change.status] += 1
        return dict(sorted(counts.items()))

    def kind_label(self, oid: ObjectId) -> str:
        return f"{oid.kind}.{oid.group}" if oid.group and oid.kind in self._ambiguous_kinds else oid.kind

    def label(self, oid: ObjectId) -> str:
        return oid.label(with_group=oid.kind in self._ambiguous_kinds, with_env=len(self.environments) > 1)

    @functools.cached_property
    def _ambiguous_kinds(self) -> set[str]:
        groups: dict[str, set[str]] = {}
        for change in self.objects:
            groups.setdefault(change.id.kind, set()).add(change.id.group)
        return {kind for kind, found in groups.items() if len(found) > 1}

    def repo_path(self, path: str) -> str:
        """`<env>/<rel>` -> its path in the GitOps repository."""
        env, _, rel = path.partition("/")
        return join(self.roots.get(env, env), rel)

    def summary(self, env: str | None = None) -> str:
        """`3 changed, 1 added, 0 removed` (+ renamed, moved and other files when there are any), of every
        environment or of `env`."""
        objects = [c for c in self.objects if env is None or c.id.env == env]
        files = [f for f in self.files if env is None or f.path.split("/", 1)[0] == env]
        counts = Counter(c.status for c in objects)
        parts = [f"{counts['changed']} changed", f"{counts['added']} added", f"{counts['removed']} removed"]
        parts += [f"{counts[status]} {status}" for status in ("renamed", "moved") if counts[status]]
        if files:
            parts.append(f"{len(files)} other file{'s' if len(files) != 1 else ''} changed")
        return ", ".join(parts)

    @property
    def destructive(self) -> list[ObjectChange]:
        """Removed objects whose removal deletes data or leaves it unserved."""
        return [c for c in self.objects if c.warning]

    def only(self, kinds: Sequence[str] = (), names: Sequence[str] = ()) -> DiffResult:
        """The objects of the given kinds (case-insensitive; `Kind.group` also matches) whose name matches
        one of the shell patterns `names`; files are left out once anything is filtered."""
        if not kinds and not names:
            return self
        wanted = {k.lower() for k in kinds}

        def keep(oid: ObjectId) -> bool:
            kind_ok = not wanted or oid.kind.lower() in wanted or f"{oid.kind}.{oid.group}".lower() in wanted
            return kind_ok and (not names or any(fnmatch.fnmatchcase(oid.name, pattern) for pattern in names))

        shown = [f"kind {', '.join(kinds)}"] * bool(kinds) + [f"name {', '.join(names)}"] * bool(names)
        objects = tuple(c for c in self.objects if keep(c.id) or (c.old_id is not None and keep(c.old_id)))
        return dataclasses.replace(self, objects=objects, files=(), filter="; ".join(shown))

    def envs_label(self) -> str:
        names = ", ".join(self.environments)
        return f"env{'s' if len(self.environments) != 1 else ''} {names}"

    def masked_note(self) -> str:
        if not (self.masked_old or self.masked_new):
            return ""
        return (f"secret-looking values masked as {MASK}: {self.masked_old} in the repository, "
                f"{self.masked_new} in the render")


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")
NORMALIZED = "(normalized: the file lays this object out otherwise; line numbers count from the object)"


def _unified(old: str, new: str, old_label: str, new_label: str, old_line: int | None = 0,
             new_line: int | None = 0) -> str:
    """A unified diff whose hunks carry the line numbers of the files: `old_line`/`new_line` lines precede
    the text in its file (None: the file lays the object out otherwise, so the side's label says so)."""
    if old_line is None:
        old_label += "\t" + NORMALIZED
    if new_line is None:
        new_label += "\t" + NORMALIZED
    shift_old, shift_new = old_line or 0, new_line or 0

    def shifted(m: re.Match[str]) -> str:
        a, b = int(m[1]), int(m[3])
        a += shift_old if (a or (m[2] or "") != ",0") else 0
        b += shift_new if (b or (m[4] or "") != ",0") else 0
        return f"@@ -{a}{m[2] or ''} +{b}{m[4] or ''} @@"

    out = []
    for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), old_label,
                                     new_label, n=3):
        if line.startswith("@@"):
            line = _HUNK.sub(shifted, line, count=1)
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


_HASHED = re.compile(r"^(?P<stem>.+)-[0-9a-f]{6,16}$")


def _renames(added: Sequence[ObjectId], removed: Sequence[ObjectId]) -> list[tuple[ObjectId, ObjectId]]:
    """(removed, added) pairs of one kind and namespace whose names differ only in a trailing content hash
    (`mlflow-db-migration-8bb2c71c7a`), when exactly one of each shares the stem."""
    def stems(ids: Sequence[ObjectId]) -> dict[tuple[str, str, str, str, str], list[ObjectId]]:
        found: dict[tuple[str, str, str, str, str], list[ObjectId]] = {}
        for oid in ids:
            m = _HASHED.match(oid.name)
            if m:
                found.setdefault((oid.env, oid.kind, oid.group, oid.namespace, m["stem"]), []).append(oid)
        return found

    old, new = stems(removed), stems(added)
    return [(old[key][0], new[key][0]) for key in sorted(old.keys() & new.keys())
            if len(old[key]) == 1 and len(new[key]) == 1]


def compare(old: Mapping[str, str], new: Mapping[str, str], environments: Sequence[str] | None = None, *,
            roots: Mapping[str, str] | None = None, source: str = "") -> DiffResult:
    """Compare two file maps (`<env>/<relative path>` -> text) for the given environments.

    `environments` defaults to the top folders of `new`; folders of other environments are ignored on both
    sides. `roots` maps an environment to its folder in the repository, for paths shown in the report.
    """
    envs = tuple(sorted(set(environments) if environments is not None else {p.split("/", 1)[0] for p in new}))
    roots = dict(roots or {})
    for env in envs:
        roots.setdefault(env, env)
    wanted = set(envs)
    before, after = _parse(old, wanted, "repository"), _parse(new, wanted, "render")

    def shown(path: str) -> str:
        env, _, rel = path.partition("/")
        return join(roots[env], rel)

    changes: list[ObjectChange] = []
    added = sorted(after.objects.keys() - before.objects.keys())
    removed = sorted(before.objects.keys() - after.objects.keys())
    pairs = _renames(added, removed)
    paired = {oid for pair in pairs for oid in pair}
    for old_id, new_id in pairs:
        a, b = before.objects[old_id], after.objects[new_id]
        diff = _unified(a.text, b.text, f"a/{shown(a.path)}", f"b/{shown(b.path)}", a.line, b.line)
        changes.append(ObjectChange(new_id, "renamed", a.path, b.path, diff, masked_only=not diff, old_id=old_id))
    for oid in added:
        if oid not in paired:
            b = after.objects[oid]
            diff = _unified("", b.text, "/dev/null", f"b/{shown(b.path)}", 0, b.line)
            changes.append(ObjectChange(oid, "added", None, b.path, diff))
    for oid in removed:
        if oid not in paired:
            a = before.objects[oid]
            diff = _unified(a.text, "", f"a/{shown(a.path)}", "/dev/null", a.line, 0)
            warning = removal_warning(oid.kind, oid.group, oid.name, a.doc) or ""
            changes.append(ObjectChange(oid, "removed", a.path, None, diff, warning=warning))
    for oid in sorted(before.objects.keys() & after.objects.keys()):
        a, b = before.objects[oid], after.objects[oid]
        if not _same(a.doc, b.doc):
            diff = _unified(a.text, b.text, f"a/{shown(a.path)}", f"b/{shown(b.path)}", a.line, b.line)
            changes.append(ObjectChange(oid, "changed", a.path, b.path, diff, masked_only=not diff))
        elif a.path != b.path:
            changes.append(ObjectChange(oid, "moved", a.path, b.path))
    changes.sort(key=lambda c: c.id)

    touched = {c.old_path for c in changes if c.status != "added"} | {c.new_path for c in changes if c.new_path}
    files: list[FileChange] = []
    for path in sorted(before.raw.keys() | after.raw.keys()):
        a_rest, b_rest = before.rest.get(path), after.rest.get(path)
        if a_rest is None and b_rest is not None:
            if b_rest:
                files.append(FileChange(path, "added"))
        elif b_rest is None and a_rest is not None:
            if a_rest:
                files.append(FileChange(path, "removed"))
        elif a_rest != b_rest:
            diff = _unified(a_rest or "", b_rest or "", f"a/{shown(path)}", f"b/{shown(path)}")
            files.append(FileChange(path, "changed", diff))
        elif before.raw[path] != after.raw[path] and path not in touched:
            files.append(FileChange(path, "formatting"))
    return DiffResult(envs, tuple(changes), tuple(files), roots, source, before.masked, after.masked,
                      tuple(before.warnings + after.warnings))


# --------------------------------------------------------------------------------------------------------
# Reading the GitOps repository


@dataclass(frozen=True)
class Against:
    """A parsed `PATH_OR_GIT_URL[@REF]`."""

    location: str
    ref: str | None
    git: bool

    def describe(self) -> str:
        where = redact(self.location)
        return f"{where}@{self.ref}" if self.ref else where


_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def looks_remote(location: str) -> bool:
    """A git URL (scheme://host/path, file://, or scp-like user@host:path) rather than a local path."""
    if _URL.match(location):
        rest = location.split("://", 1)[1]
        return location.startswith("file://") or ("/" in rest and not rest.startswith("/"))
    return bool(_SCP_LIKE.match(location))


def parse_against(spec: str) -> Against:
    """Split `PATH_OR_GIT_URL[@REF]`: the ref is what follows the last '@' when what precedes it is an
    existing path or a git URL (so `git@host:org/repo.git` and `https://user@host/x` keep their '@')."""
    spec = spec.strip()
    if not spec:
        raise SourceError("--against: empty; give a folder, a git repository path or a git URL, optionally @REF")
    location, ref = spec, None
    if "@" in spec and not Path(spec).exists():
        base, candidate = spec.rsplit("@", 1)
        if candidate and ":" not in candidate and (Path(base).exists() or looks_remote(base)):
            location, ref = base, candidate
    if looks_remote(location):
        return Against(location, ref, True)
    path = Path(location)
    if not path.exists():
        raise SourceError(f"--against {redact(spec)}: no such folder, and not a git URL")
    if not path.is_dir():
        raise SourceError(f"--against {redact(spec)}: not a folder")
    if is_git_repository(path):
        return Against(str(path.resolve()), ref, True)
    if ref:
        raise SourceError(f"--against {redact(spec)}: {location} is not a git repository, so @{ref} cannot be "
                          "checked out; drop @REF to read the folder as it is")
    return Against(str(path.resolve()), None, False)


def read_folder(root: Path, folder: str) -> dict[str, str]:
    """The files below `root/folder` ('.': root), relative path -> text; symbolic links and .git skipped."""
    base = root if folder == "." else root / folder
    files: dict[str, str] = {}
    if not base.is_dir():
        return files
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            files[full.relative_to(base).as_posix()] = full.read_bytes().decode("utf-8", "replace")
    return files


def read_tree_at(git_dir: Path, revision: str, folders: Iterable[str]) -> dict[str, dict[str, str]]:
    """Files of each folder at `revision` of the repository at `git_dir`: folder -> {relative path: text}.
    Symbolic links and submodules are skipped."""
    result: dict[str, dict[str, str]] = {}
    blobs: list[tuple[str, str, str]] = []
    for folder in folders:
        result[folder] = {}
        spec = [] if folder == "." else ["--", folder]
        listing = run_git(["ls-tree", "-r", "-z", "--full-tree", revision, *spec], git_dir).stdout
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            mode, kind, sha = meta.split()
            if kind != "blob" or mode == "120000":
                continue
            rel = path if folder == "." else path[len(folder) + 1:]
            blobs.append((folder, rel, sha))
    if not blobs:
        return result
    batch = run_git(["cat-file", "--batch"], git_dir, input="".join(f"{sha}\n" for _, _, sha in blobs).encode(),
                    text=False).stdout
    offset = 0
    for folder, rel, _ in blobs:
        header_end = batch.index(b"\n", offset)
        _, kind, size = batch[offset:header_end].decode().split()
        start = header_end + 1
        result[folder][rel] = batch[start:start + int(size)].decode("utf-8", "replace")
        offset = start + int(size) + 1
    return result


def _is_empty(url: str) -> bool:
    """The repository answers and has no branch or tag at all (created, never pushed to)."""
    done = run_git(["ls-remote", url], check=False)
    return done.returncode == 0 and not done.stdout.strip()


def _fetch(against: Against, workdir: Path) -> str | None:
    """Fetch `against` at its ref (default: the remote's HEAD) into the bare repository `workdir`; return the
    commit, or None when the repository is empty (nothing was ever pushed: a first publish comes next)."""
    url = against.location
    if not looks_remote(url):
        url = Path(url).resolve().as_uri()
    ref = against.ref or "HEAD"
    run_git(["init", "--quiet", "--bare", str(workdir)])
    try:
        run_git(["fetch", "--quiet", "--depth", "1", "--no-tags", url, ref], workdir)
        return run_git(["rev-parse", "--verify", "FETCH_HEAD^{commit}"], workdir).stdout.strip()
    except GitError as exc:
        first = exc
    if _is_empty(url):
        return None
    if against.ref and re.fullmatch(r"[0-9a-fA-F]{4,40}", against.ref):
        # An abbreviated commit: the server cannot look it up, so fetch everything and resolve it here.
        try:
            run_git(["fetch", "--quiet", "--no-tags", url, "+refs/heads/*:refs/remotes/src/*",
                     "+refs/tags/*:refs/tags/*"], workdir)
            return run_git(["rev-parse", "--verify", f"{against.ref}^{{commit}}"], workdir).stdout.strip()
        except GitError:
            pass
    message = str(first)
    if "couldn't find remote ref" in message or "not our ref" in message or "unadvertised object" in message:
        raise SourceError(f"--against {against.describe()}: no branch, tag or commit {ref!r} in "
                          f"{redact(against.location)}") from first
    raise SourceError(f"--against {against.describe()}: cannot read the repository: {message}") from first


def read_against(spec: str | Against, folders: Iterable[str]) -> tuple[dict[str, dict[str, str]], str]:
    """Read each folder (relative to the repository's root) from `PATH_OR_GIT_URL[@REF]`.

    Returns (folder -> {relative path: text}, a description of what was read, such as `repo.git@main
    (a1b2c3d)`). A missing folder reads as empty, and so does a repository nothing was ever pushed to (its
    first publish comes next). Raises SourceError.
    """
    against = parse_against(spec) if isinstance(spec, str) else spec
    folders = list(dict.fromkeys(folders))
    if not against.git:
        root = Path(against.location)
        return {folder: read_folder(root, folder) for folder in folders}, against.describe()
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-gitops-diff-"))
    try:
        commit = _fetch(against, workdir / "repo.git")
        if commit is None:
            return {folder: {} for folder in folders}, f"{against.describe()} (an empty repository)"
        files = read_tree_at(workdir / "repo.git", commit, folders)
        return files, f"{against.describe()} ({commit[:12]})"
    except GitError as exc:
        raise SourceError(f"--against {against.describe()}: {exc}") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def prefixed(per_folder: Mapping[str, Mapping[str, str]], folders: Mapping[str, str]) -> dict[str, str]:
    """{env: folder} and folder -> files  ->  `<env>/<rel>` -> text (the shape `compare` takes)."""
    return {f"{env}/{rel}": text for env, folder in folders.items() for rel, text in per_folder[folder].items()}


__all__ = [
    "MASK",
    "STATUSES",
    "Against",
    "DiffResult",
    "FileChange",
    "ObjectChange",
    "ObjectId",
    "SourceError",
    "canonical",
    "compare",
    "mask",
    "mask_text",
    "parse_against",
    "prefixed",
    "read_against",
    "read_folder",
    "read_tree_at",
]
