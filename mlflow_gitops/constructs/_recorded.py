"""A recorded render: the platform's parts as plain Python objects whose manifests are rendered in Python
exactly as cdk8s renders them, with no object in Node.

A jsii call costs about 1 ms (creating a Construct, an ApiObject, a JsonPatch, adding it), and a render of 100
instances makes about 11,000 of them, then `chart.to_json()` re-walks the whole App for each of the 300 unit
charts. When nothing extends the render (no `customize.py`, no `patches:`, no handle used: `app.render`
decides), nothing needs those objects, so the parts record their documents instead (`Part`, `RecordedChart`)
and `document` makes each one as `cdk8s.ApiObject.toJson` (cdk8s 2.70) would: metadata sorted with empty
maps and lists dropped, then every other top-level key in sorted order, mapping keys sorted and None values
dropped, as they come back from Node (JavaScript puts integer-like keys first; an integral float becomes an
int). tests/test_recorded.py renders every example both ways and compares the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from constructs import Construct
from jsii import JSIIMeta

HEAD = ("apiVersion", "kind", "metadata")
"""cdk8s renders these first, then the other top-level keys."""
_MAX_INDEX = 2**32 - 2  # the largest array index: JavaScript orders such keys first, by value


class RecordedChart:
    """A unit of a recorded render: the documents of its objects, in the order they were made."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.documents: list[dict[str, Any]] = []

    def to_json(self) -> list[dict[str, Any]]:
        """The documents, as `cdk8s.Chart.to_json` returns those of a chart."""
        return self.documents


def recording_chart(scope: object) -> RecordedChart | None:
    """The RecordedChart `scope` records into, or None when it is a cdk8s construct."""
    if isinstance(scope, RecordedChart):
        return scope
    chart = getattr(scope, "recorded_chart", None)
    return chart if isinstance(chart, RecordedChart) else None


class _PartType(JSIIMeta):
    """jsii's metaclass registers every new instance with its Node object; a recorded part has none."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if args and recording_chart(args[0]) is not None:
            made: Any = cls
            part = object.__new__(made)
            made.__init__(part, *args, **kwargs)
            return part
        return super().__call__(*args, **kwargs)


class Part(Construct, metaclass=_PartType):
    """The base of the platform's parts: a cdk8s Construct, or, inside a recorded render, a plain Python object
    whose objects go to its RecordedChart (no Node object: only the render itself may use it)."""

    recorded_chart: RecordedChart | None

    def __init__(self, scope: Construct | RecordedChart, id: str) -> None:
        chart = recording_chart(scope)
        if chart is None:
            super().__init__(scope, id)  # type: ignore[arg-type]
        self.recorded_chart = chart


def _is_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) <= _MAX_INDEX


def sanitized(value: Any, *, drop_empty: bool = False, as_from_node: bool = False) -> Any:
    """`value` as cdk8s's `sanitizeValue` leaves it: mapping keys sorted, None values dropped, and with
    `drop_empty` empty maps and lists too. With `as_from_node`, as it then comes back from a JavaScript
    object: integer-like keys first (ascending), an integral float an int. One pass per value."""
    if isinstance(value, Mapping):
        keys = sorted(value)
        if as_from_node and any("0" <= k[:1] <= "9" for k in keys):
            indices = sorted((k for k in keys if _is_index(k)), key=int)
            keys = [*indices, *(k for k in keys if not _is_index(k))]
        out = {}
        for key in keys:
            item = sanitized(value[key], drop_empty=drop_empty, as_from_node=as_from_node)
            if item is not None:
                out[key] = item
        return None if drop_empty and not out else out
    if isinstance(value, (list, tuple)):
        if drop_empty and not value:
            return None
        return [sanitized(item, drop_empty=drop_empty, as_from_node=as_from_node) for item in value]
    if as_from_node and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def document(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The document cdk8s renders for `manifest` registered as `_object.api_object` registers it."""
    meta = sanitized(manifest["metadata"], drop_empty=True, as_from_node=True) or {}
    doc: dict[str, Any] = {"apiVersion": manifest["apiVersion"], "kind": manifest["kind"], "metadata": meta}
    for key in sorted(manifest):
        if key not in HEAD and manifest[key] is not None:
            doc[key] = sanitized(manifest[key], as_from_node=True)
    return doc
