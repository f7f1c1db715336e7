"""End-to-end tests: the rendered stack's own containers as local processes against real services.

Run with the rest of the suite (`.venv/bin/pytest`) or alone (`.venv/bin/pytest tests/e2e -q`). Prerequisites, all
installed by `make test` (`ci/e2e-setup.sh`, as root): Debian's postgresql (15), redis-server, chromium and
chromium-driver; `npm ci` (playwright-core); the image's Python packages in `.e2e-venv/` (built on first use
otherwise); Keycloak and MinIO from `python3 ci/tools.py ensure`.
A missing prerequisite fails the tests with a message naming it; nothing is skipped.

Layout: conftest.py (fixtures: render, Vault stand-in, PostgreSQL, MinIO, Keycloak, the Jobs and
the server pod; timings and logs), stack.py (render + read the output), secrets.py (ExternalSecrets -> Secrets),
pod.py (a pod spec -> processes), services.py, venv.py, readme.py (the README's "log a run" blocks),
browser/ui.mjs, ha.py (replicas behind a round-robin proxy, and Redis, for test_high_availability.py), and the
test_*.py files.
"""
