# Quick start:  make synth   (set up, render the default environment into dist/)
#               make test    (set up, run the whole test suite)
# Own loop:     make check   (ruff, mypy, the unit and snapshot tests without services or slow sweeps)
# One tier:     make e2e / make cluster
# `make test` provisions everything itself: the real platform parts (ci/tools.py: Kubernetes, etcd, kwok, Flux,
# MinIO, Keycloak, Gitea, Vault, External Secrets and the checkers, built into ~/.cache/mlflow-gitops/tools,
# skipped when present) and
# the end-to-end prerequisites (ci/e2e-setup.sh: Debian PostgreSQL, Redis, Chromium; npm; the image's venv).
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK8S_CHECK_UPGRADE := false

.PHONY: setup synth test check lint format schema tools e2e-setup e2e cluster imports crds clean

CHECKOV_VENV ?= .checkov-venv

setup: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed

# What `mlflow-gitops synth` needs, and nothing the tests alone use (no test extra, no checkov, no npm).
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# checkov has its own venv: its pins must not decide ours.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: $(VENV)/.runtime
	$(BIN)/mlflow-gitops synth

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .

schema: setup  # the schema's `default` keywords and README's defaults block, from the defaults files
	$(BIN)/python -m mlflow_gitops.config.schema_defaults README.md

check: lint
	$(BIN)/pytest -q --ignore=tests/e2e --ignore=tests/cluster --ignore=tests/checkers -m "not slow and not services"

tools:
	$(PYTHON) ci/tools.py ensure

e2e-setup: node_modules/.installed
	bash ci/e2e-setup.sh

test: lint tools e2e-setup
	PYTEST=$(BIN)/pytest bash ci/pytest-tiers.sh

# One tier alone: the end-to-end stack (real PostgreSQL, Redis, Keycloak, MinIO, the image, a browser), or the
# cluster tier (a real API server, controller-manager, scheduler, kwok and Flux).
e2e: setup tools e2e-setup
	$(BIN)/pytest -q tests/e2e

cluster: setup tools
	$(BIN)/pytest -q tests/cluster

# Regenerate mlflow_gitops/imports/ (the typed CRD classes) from the CRD files listed in cdk8s.yaml, read from .crds-cache/: a link to the CRD folder
# (MLFLOW_GITOPS_CRDS, the cache `make crds` fills, or ../shared/crds beside a checkout), so a fresh clone works.
imports: node_modules/.installed $(VENV)/.runtime
	rm -f .crds-cache && ln -s "$$($(BIN)/python -c 'from mlflow_gitops.crds import default_crd_dir; print(default_crd_dir())')" .crds-cache
	rm -rf mlflow_gitops/imports
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk8s import --language python --output mlflow_gitops/imports

# Download the pinned upstream CRD files into the cache that the tests and `make imports` find by themselves
# ($$XDG_CACHE_HOME/mlflow-gitops/crds), for machines without ../shared/crds.
crds: $(VENV)/.runtime
	$(BIN)/mlflow-gitops crds fetch

clean:
	rm -rf dist .pytest_cache .ruff_cache
