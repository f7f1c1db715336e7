"""Scripts that run inside the rendered pods (on the custom image), shipped to them in a ConfigMap.

Each is a standalone program: standard library plus the packages of image/requirements.txt (and, for the
setup scripts, jobkit.py beside them).
"""

from functools import cache
from importlib import resources

WAIT_FOR_POSTGRES = "wait_for_postgres.py"
MIGRATE_DB = "migrate_db.py"
SERVE_METRICS = "serve_metrics.py"
KEYCLOAK_SETUP = "keycloak_setup.py"
MINIO_SETUP = "minio_setup.py"
POSTGRES_SETUP = "postgres_setup.py"
JOBKIT = "jobkit.py"
"""What the setup scripts share: shipped beside them in the bootstrap ConfigMap."""
SETUP_SCRIPTS = (KEYCLOAK_SETUP, MINIO_SETUP, POSTGRES_SETUP)
SERVER_SCRIPTS = (SERVE_METRICS, WAIT_FOR_POSTGRES)
"""Scripts of the server pods (the `<instance>-scripts` ConfigMap, app unit)."""


@cache
def script_source(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def script_sources(names: tuple[str, ...] = SERVER_SCRIPTS) -> dict[str, str]:
    """File name -> source text, in the given order."""
    return {name: script_source(name) for name in names}
