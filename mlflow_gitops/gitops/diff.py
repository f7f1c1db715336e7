"""Compare a fresh render with what the GitOps repository holds: objects added, removed and changed.

Both sides are maps `<env>/<relative path>` -> file text. Every `*.yaml`/`*.yml` file is parsed (several
documents per file, comments ignored); a document with `apiVersion`, `kind` and `metadata.name` is an
object, identified by (environment, kind, namespace or "", name) plus its apiVersion group (shown only
where one kind exists in two groups). Anything else (a kustomization.yaml, a README, a file that is not
YAML) is compared as a file. Secret-looking values are replaced by `***` (`masking`) on both sides before
any text is produced; that an object changed is still decided on the real values (reported as "only masked
values differ"). A removed and an added object whose names differ only in a content hash (a Job) are one
renamed object. Diffs carry the line numbers of the files. The old side is read by `source`; the reports
are in `reports`.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlflow_gitops.gitops import join
from mlflow_gitops.gitops.destructive import cleanup_warning, removal_warning
from mlflow_gitops.gitops.masking import MASK, mask, mask_text
from mlflow_gitops.output.files import dump

YAML_SUFFIXES = (".yaml", ".yml")


# --------------------------------------------------------------------------------------------------------
# Parsing


# libyaml when PyYAML has it (ten times faster on big ConfigMaps), else the pure-Python classes.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def canonical(doc: Any) -> str:
    """`doc` as the product writes it, keys sorted: what is not an object is compared in this form."""
    return dump(doc, sort_keys=True)


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
                side.warnings.append(
                    f"{label}: {oid.label(with_env=True)} is in {side.objects[oid].path} and "
                    f"{path}; the second is ignored"
                )
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
    """For a removed object: what removing it does to data (`destructive.removal_warning`); for an added or
    renamed cleanup Job: what it deletes when it runs (`destructive.cleanup_warning`)."""


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
        """Removed objects whose removal deletes data or leaves it unserved, and cleanup Jobs that will run."""
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
        return (
            f"secret-looking values masked as {MASK}: {self.masked_old} in the repository, "
            f"{self.masked_new} in the render"
        )


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")
NORMALIZED = "(normalized: the file lays this object out otherwise; line numbers count from the object)"


def _unified(
    old: str, new: str, old_label: str, new_label: str, old_line: int | None = 0, new_line: int | None = 0
) -> str:
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
    for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label, n=3
    ):
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
    return [
        (old[key][0], new[key][0])
        for key in sorted(old.keys() & new.keys())
        if len(old[key]) == 1 and len(new[key]) == 1
    ]


def compare(
    old: Mapping[str, str],
    new: Mapping[str, str],
    environments: Sequence[str] | None = None,
    *,
    roots: Mapping[str, str] | None = None,
    source: str = "",
) -> DiffResult:
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
        warning = cleanup_warning(new_id.kind, new_id.group, b.doc) or ""
        changes.append(
            ObjectChange(new_id, "renamed", a.path, b.path, diff, masked_only=not diff, old_id=old_id, warning=warning)
        )
    for oid in added:
        if oid not in paired:
            b = after.objects[oid]
            diff = _unified("", b.text, "/dev/null", f"b/{shown(b.path)}", 0, b.line)
            warning = cleanup_warning(oid.kind, oid.group, b.doc) or ""
            changes.append(ObjectChange(oid, "added", None, b.path, diff, warning=warning))
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
    return DiffResult(
        envs,
        tuple(changes),
        tuple(files),
        roots,
        source,
        before.masked,
        after.masked,
        tuple(before.warnings + after.warnings),
    )


__all__ = [
    "STATUSES",
    "YAML_SUFFIXES",
    "DiffResult",
    "FileChange",
    "ObjectChange",
    "ObjectId",
    "canonical",
    "compare",
    "object_id",
]
