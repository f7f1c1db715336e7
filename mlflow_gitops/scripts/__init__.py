"""Scripts that run inside the rendered pods (on the custom image), shipped to them in a ConfigMap.

Each is a standalone program: standard library plus the packages of image/requirements.txt.
"""

from functools import cache
from importlib import resources

SERVER_SCRIPTS = ("migrate_db.py", "serve_metrics.py", "wait_for_postgres.py")
"""Scripts of the server pods and the migration Job (the `<instance>-scripts` ConfigMap)."""
KEYCLOAK_SETUP = "keycloak_setup.py"
MINIO_SETUP = "minio_setup.py"


@cache
def script_source(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def script_sources(names: tuple[str, ...] = SERVER_SCRIPTS) -> dict[str, str]:
    """File name -> source text, in the given order."""
    return {name: script_source(name) for name in names}
