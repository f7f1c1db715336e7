"""Output: the files of a render (`files`), who wrote a file (`ownership`), and the safe folder replace that
`synth` writes them with (`replace`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_gitops.output.files import KIND_ORDER, KUSTOMIZATION, dump, environment_files, file_name, tree
from mlflow_gitops.output.ownership import HEADER, header, written_by_tool
from mlflow_gitops.output.replace import OutputError, check_destination, write_tree

if TYPE_CHECKING:
    from mlflow_gitops.app import Rendered

__all__ = [
    "HEADER",
    "KIND_ORDER",
    "KUSTOMIZATION",
    "OutputError",
    "Written",
    "check_destination",
    "dump",
    "environment_files",
    "file_name",
    "header",
    "tree",
    "write",
    "write_tree",
    "written_by_tool",
]


@dataclass(frozen=True)
class Written:
    environment: str
    path: Path
    kinds: Counter[str]


def write(
    rendered: list[Rendered], out: Path, *, config_dir: Path | None = None, waiting: Callable[[], None] | None = None
) -> list[Written]:
    """Replace `out/<env>/` for each rendered environment (see `replace`); other entries of `out` stay."""
    write_tree(tree(rendered), out, [r.environment.name for r in rendered], config_dir=config_dir, waiting=waiting)
    return [
        Written(r.environment.name, out / r.environment.name, Counter(d["kind"] for d in r.documents)) for r in rendered
    ]
