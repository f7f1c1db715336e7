#!/usr/bin/env bash
# Prerequisites of the end-to-end tests (tests/e2e), idempotent, as root:
#   - Debian packages postgresql (15), redis-server, chromium and chromium-driver (apt-get, only when one is
#     missing);
#   - the root package.json's npm packages (playwright-core, cdk8s-cli), `npm ci`, only when
#     package.json or package-lock.json changed since the last install (the Makefile's stamp);
#   - the e2e venv: the image's Python packages from image/requirements.txt in .e2e-venv/<hash>/ (about 2 min,
#     only when missing; tests/e2e/venv.py).
# Only the package registries are contacted. The tests themselves start every service they need.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in postgresql redis-server chromium chromium-driver; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "e2e-setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -f node_modules/.installed || package.json -nt node_modules/.installed \
      || package-lock.json -nt node_modules/.installed ]]; then
  echo "e2e-setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.installed
fi

PYTHON="${PYTHON:-python3}"  # runs tests/e2e/venv.py (stdlib only); the venv itself uses /usr/bin/python3 or $E2E_PYTHON
echo "e2e-setup: e2e venv $("$PYTHON" tests/e2e/venv.py)"
