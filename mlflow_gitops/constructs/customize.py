"""Run the config folder's `customize.py`: its `customize(platform)` receives each instance's `MlflowPlatform`
(see its handles and `patch`) after the constructs are built and before the environment's `patches:` and the
naming of patched Jobs. A file that cannot be loaded, lacks the function or raises is a ConfigError (exit 2)
naming the file and the line, without a traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from mlflow_gitops.config import ConfigError, Problem
from mlflow_gitops.constructs.platform import MlflowPlatform

FUNCTION = "customize"


def _where(exc: BaseException, path: str) -> str:
    """`line N` of `path` where `exc` was raised (the deepest frame in that file), or ''."""
    target = Path(path).resolve()
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == target]
    return f" at line {lines[-1]}" if lines else ""


def _load(path: str) -> ModuleType:
    name = "mlflow_gitops_customize_" + hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError([Problem(path, "", "cannot be loaded as a Python module")])
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            [Problem(path, "", f"fails to load{_where(exc, path)}: {type(exc).__name__}: {exc}")]
        ) from None
    return module


def run_customize(path: str, platforms: Sequence[MlflowPlatform]) -> None:
    """Call `customize(platform)` of the file at `path` for each platform, in order."""
    function: Callable[[MlflowPlatform], Any] | None = getattr(_load(path), FUNCTION, None)
    if not callable(function):
        raise ConfigError([Problem(path, "", f"defines no function {FUNCTION}(platform)")])
    for platform in platforms:
        try:
            function(platform)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                [
                    Problem(
                        path,
                        "",
                        f"{FUNCTION}({platform.node.id}) failed{_where(exc, path)}: {type(exc).__name__}: {exc}",
                    )
                ]
            ) from None
