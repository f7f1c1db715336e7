"""Scripts that run inside the rendered pods (on the custom image), shipped to them in a ConfigMap.

Each is a standalone program: standard library plus the packages of image/requirements.txt.
"""

from importlib import resources

SCRIPT_NAMES = ("migrate_db.py", "serve_metrics.py", "wait_for_postgres.py")


def script_sources() -> dict[str, str]:
    """File name -> source text, in a stable order."""
    here = resources.files(__name__)
    return {name: here.joinpath(name).read_text(encoding="utf-8") for name in SCRIPT_NAMES}
