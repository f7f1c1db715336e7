"""Reports of a `DiffResult`: text for a terminal, Markdown for a pull-request body, JSON for machines.

Every report leads with what deletes data (`destructive`), then one summary line per environment. Text
lists the objects and shows the diffs of changed and renamed ones; Markdown adds the whole content of
added and removed objects, collapsed, within GitHub's body limit; JSON holds everything, diffs included.
Values are masked in all of them (the result only holds masked text).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter

from mlflow_gitops.gitops.diff import STATUSES, DiffResult, ObjectChange
from mlflow_gitops.gitops.masking import MASK

MARKDOWN_LIMIT = 60_000
"""GitHub refuses a pull-request body over 65,536 characters; the Markdown report stops below that."""
COLLAPSE_LINES = 25
"""A diff longer than this is collapsed in <details> in Markdown (added and removed objects always are)."""
JSON_FORMAT_VERSION = 1
"""Bumped when a key of the JSON report changes meaning or goes away."""

_MARKS = {"added": "+", "removed": "-", "changed": "~", "renamed": "~", "moved": ">"}
"""The statuses in the order the reports list them, and their marks in text."""


def _per_environment(result: DiffResult) -> list[str]:
    return [f"{env}: {result.summary(env)}" for env in result.environments]


def _what(result: DiffResult, change: ObjectChange) -> str:
    """The object's label, and for a rename the name it replaces."""
    label = result.label(change.id)
    if change.status == "renamed" and change.old_id is not None:
        label += f" (was {change.old_id.name})"
    return label


def format_text(result: DiffResult) -> str:
    lines: list[str] = []
    where = ", ".join(f"{result.roots[e]}/" for e in result.environments)
    source = f" in {result.source}" if result.source else ""
    only = f" (only {result.filter})" if result.filter else ""
    if not result.has_changes:
        lines.append(f"no changes: the render of {result.envs_label()} matches {where}{source}{only}")
        lines += [f"warning: {w}" for w in result.warnings]
        return "\n".join(lines) + "\n"
    lines.append(f"render of {result.envs_label()} vs {where}{source}{only}:")
    if result.destructive:
        lines.append("DESTRUCTIVE: removing these deletes data or leaves it unserved:")
        lines += [f"  ! {result.label(c.id)}: {c.warning}" for c in result.destructive]
    for change in sorted(result.objects, key=lambda c: (list(_MARKS).index(c.status), c.id)):
        extra = ""
        if change.status == "moved":
            extra = f"  ({result.repo_path(change.old_path or '')} -> {result.repo_path(change.new_path or '')})"
        elif change.masked_only:
            extra = "  (only masked values differ)"
        lines.append(f"  {_MARKS[change.status]} {change.status:<8} {_what(result, change)}{extra}")
    for item in result.files:
        status = "changed (comments/formatting only)" if item.status == "formatting" else item.status
        lines.append(f"  * file     {result.repo_path(item.path)}: {status}")
    if len(result.environments) > 1:
        lines += [f"summary {line}" for line in _per_environment(result)]
    lines.append(f"summary: {result.summary()}")
    if result.masked_note():
        lines.append(result.masked_note())
    lines += [f"warning: {w}" for w in result.warnings]
    for change in result.changed + result.renamed:
        if change.diff:
            lines.append("")
            lines.append(f"# {_what(result, change)}")
            lines.append(change.diff.rstrip("\n"))
    for item in result.files:
        if item.diff:
            lines.append("")
            lines.append(f"# file {result.repo_path(item.path)}")
            lines.append(item.diff.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    return "`" * max(3, longest + 1)


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _diff_block(label: str, diff: str, limit: int | None = None, collapse: bool = False) -> str:
    lines = diff.rstrip("\n").split("\n")
    count = len(lines)
    truncated = ""
    if limit is not None:
        kept: list[str] = []
        size = 0
        for line in lines:
            if size + len(line) + 1 > limit:
                truncated = f"\n_… {count - len(kept)} more lines not shown._\n"
                break
            kept.append(line)
            size += len(line) + 1
        lines = kept
    body = "\n".join(lines)
    fence = _fence(body)
    block = f"{fence}diff\n{body}\n{fence}\n{truncated}"
    if collapse or count > COLLAPSE_LINES:
        return (
            f"<details>\n<summary><code>{html.escape(label)}</code> ({count} lines)</summary>\n\n{block}\n</details>\n"
        )
    return f"**{_code(label)}**\n\n{block}"


def format_markdown(result: DiffResult, limit: int = MARKDOWN_LIMIT, heading: str = "mlflow-gitops diff") -> str:
    """A pull-request body: destructive changes, a summary per environment and per kind, lists, then diffs
    (added and removed objects' content collapsed); at most `limit` characters."""
    where = ", ".join(_code(f"{result.roots[e]}/") for e in result.environments)
    source = f" in {_code(result.source)}" if result.source else ""
    only = f" Only {result.filter}." if result.filter else ""
    head = [f"### {heading}\n", f"Render of {result.envs_label()} compared with {where}{source}.{only}\n"]
    if not result.has_changes:
        head.append("**No changes.**\n")
        head += [f"> warning: {w}\n" for w in result.warnings]
        return "\n".join(head)
    if result.destructive:
        head.append(
            "> [!CAUTION]\n> **Destructive: removing these deletes data or leaves it unserved.**\n"
            + "".join(f"> - {_code(result.label(c.id))}: {c.warning}\n" for c in result.destructive)
        )
    head.append(f"**{result.summary()}**\n")
    if len(result.environments) > 1:
        head.append("\n".join(f"- **{env}**: {result.summary(env)}" for env in result.environments) + "\n")
    if result.masked_note():
        head.append(f"_{result.masked_note().replace(MASK, '`***`')}._\n")
    head += [f"> warning: {w}\n" for w in result.warnings]
    statuses = [s for s in _MARKS if s in ("changed", "added", "removed") or result.of(s)]
    table = ["| Kind | " + " | ".join(s.capitalize() for s in statuses) + " |", "|---|" + "---:|" * len(statuses)]
    totals: Counter[str] = Counter()
    for kind, counts in result.counts_by_kind().items():
        table.append(f"| {kind} | " + " | ".join(str(counts[s]) for s in statuses) + " |")
        totals += counts
    table.append("| **Total** | " + " | ".join(f"**{totals[s]}**" for s in statuses) + " |")
    head.append("\n".join(table) + "\n")

    sections: list[str] = []
    for status in statuses:
        items = result.of(status)
        if not items:
            continue
        entries = []
        for change in items:
            line = f"- {_code(_what(result, change))}"
            if status == "moved":
                line += (
                    f": {_code(result.repo_path(change.old_path or ''))} → "
                    f"{_code(result.repo_path(change.new_path or ''))}"
                )
            elif change.masked_only:
                line += " (only masked values differ)"
            entries.append(line)
        sections.append(f"#### {status.capitalize()} ({len(items)})\n\n" + "\n".join(entries) + "\n")
    if result.files:
        names = {"formatting": "changed (comments/formatting only)"}
        sections.append(
            f"#### Other files ({len(result.files)})\n\n"
            + "\n".join(f"- {_code(result.repo_path(f.path))}: {names.get(f.status, f.status)}" for f in result.files)
            + "\n"
        )
    diffs = [(_what(result, c), c.diff, False) for c in result.changed + result.renamed if c.diff]
    diffs += [(f"file {result.repo_path(f.path)}", f.diff, False) for f in result.files if f.diff]
    diffs += [(f"{c.status}: {result.label(c.id)}", c.diff, True) for c in result.added + result.removed if c.diff]
    if diffs:
        sections.append("#### Diffs\n")

    note_reserve = 400
    body = "\n".join(head + sections)
    if len(body) + note_reserve > limit:
        body = body[: body.rfind("\n", 0, limit - note_reserve) + 1]
        return body + "\n" + _cut_note(limit)
    # Whole blocks first, in order; then what did not fit, cut to the room left (a 64 KB ConfigMap must not
    # crowd out every object after it).
    skipped = []
    for title, diff, collapse in diffs:
        block = _diff_block(title, diff, collapse=collapse)
        if len(body) + len(block) + 1 + note_reserve <= limit:
            body += "\n" + block
        else:
            skipped.append((title, diff, collapse))
    omitted = 0
    for title, diff, collapse in skipped:
        room = limit - len(body) - note_reserve - 300 - len(title)
        if room > 2000:
            body += "\n" + _diff_block(title, diff, limit=room, collapse=collapse)
        else:
            omitted += 1
    if omitted:
        body += "\n" + _cut_note(limit, omitted)
    return body


def _cut_note(limit: int, omitted: int | None = None) -> str:
    what = f"{omitted} more diff(s) not shown" if omitted else "the rest of this report is not shown"
    return (
        f"> **Note:** {what}: the body is limited to {limit:,} characters (GitHub allows 65,536). "
        "Run `mlflow-gitops diff` locally for the whole report.\n"
    )


def format_json(result: DiffResult) -> str:
    """The whole result as one JSON document (stable key order), for scripts and CI steps."""

    def object_entry(change: ObjectChange) -> dict[str, object]:
        oid = change.id
        return {
            "environment": oid.env,
            "kind": oid.kind,
            "group": oid.group,
            "namespace": oid.namespace,
            "name": oid.name,
            "status": change.status,
            "replaces": change.old_id.name if change.old_id is not None else None,
            "oldPath": result.repo_path(change.old_path) if change.old_path else None,
            "newPath": result.repo_path(change.new_path) if change.new_path else None,
            "maskedOnly": change.masked_only,
            "destructive": change.warning or None,
            "diff": change.diff,
        }

    counts = {env: dict(Counter(c.status for c in result.objects if c.id.env == env)) for env in result.environments}
    document = {
        "formatVersion": JSON_FORMAT_VERSION,
        "source": result.source,
        "filter": result.filter or None,
        "hasChanges": result.has_changes,
        "summary": result.summary(),
        "environments": [
            {
                "name": env,
                "folder": result.roots[env],
                "summary": result.summary(env),
                "counts": {s: counts[env].get(s, 0) for s in STATUSES},
            }
            for env in result.environments
        ],
        "objects": [object_entry(c) for c in result.objects],
        "files": [{"path": result.repo_path(f.path), "status": f.status, "diff": f.diff} for f in result.files],
        "masked": {"repository": result.masked_old, "render": result.masked_new},
        "warnings": list(result.warnings),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


FORMATS = {"text": format_text, "markdown": format_markdown, "json": format_json}
"""`diff --format` -> its report."""
