# Causality: `make up` runs the product on the embedded default; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
DATA   ?= .causality
DEMO_EVENTS ?= 200000

.PHONY: help up install install-test trino chromium postgresql wrk helm promtool image bench-ingest test test-fast test-browser lint typecheck clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Stamps re-run an install only when what it depends on changed.
$(VENV)/.installed: pyproject.toml sdk/python/pyproject.toml | $(PY)
	$(PIP) install -e '.[all]' -e sdk/python
	touch $@

$(VENV)/.installed-test: pyproject.toml sdk/python/pyproject.toml | $(PY)
	$(PIP) install -e '.[test]' -e sdk/python
	touch $(VENV)/.installed $@

install: $(VENV)/.installed  ## install the platform into .venv

install-test: $(VENV)/.installed-test  ## install the platform and what tests need into .venv

trino: install-test  ## fetch Trino 476 through Maven into the cache dir (once)
	@command -v mvn >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null; } || \
	  { echo "mvn missing: install Maven" >&2; exit 1; }
	$(VENV)/bin/causality trino fetch

chromium:  ## install Debian's chromium for browser tests (when run as root)
	@if command -v chromium >/dev/null; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium missing: run 'sudo apt-get install chromium'" >&2; exit 1; fi

postgresql:  ## install Debian's postgresql for the metadata tests (when run as root)
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	  echo "postgresql: $$(ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "postgresql missing: run 'sudo apt-get install postgresql'" >&2; exit 1; fi

wrk:  ## install Debian's wrk, the load generator of bench/ingest.py (when run as root)
	@if command -v wrk >/dev/null; then echo "wrk: $$(command -v wrk)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	else echo "wrk missing: run 'sudo apt-get install wrk'" >&2; exit 1; fi

# Helm, built from its Go module (pinned) into the cache dir once; tests/deploy runs it.
GO           ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
HELM_VERSION := v4.3.2
HELM         := $(HOME)/.cache/causality/tools/helm-$(HELM_VERSION)/helm

helm: $(HELM)  ## build Helm (HELM_VERSION, pinned) from its Go module once, for tests/deploy

$(HELM):
	@command -v $(GO) >/dev/null || { echo "go missing: install Go 1.26 (it builds helm and promtool)" >&2; exit 1; }
	GOBIN=$(dir $@) $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

# promtool, built from Prometheus's Go module (pinned) once; tests/deploy checks and unit-tests
# the alerting rules in deploy/prometheus with it.
PROMTOOL_VERSION := v0.316.0
PROMTOOL         := $(HOME)/.cache/causality/tools/promtool-$(PROMTOOL_VERSION)/promtool

promtool: $(PROMTOOL)  ## build promtool (PROMTOOL_VERSION, pinned) from its Go module once

$(PROMTOOL):
	@command -v $(GO) >/dev/null || { echo "go missing: install Go 1.26 (it builds helm and promtool)" >&2; exit 1; }
	GOBIN=$(dir $@) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

# The OCI image of every process, from Debian's packages and the pinned wheels (deploy/image):
# about 4.5 min cold, 1.5 min with the Debian rootfs and wheels cached in ~/.cache/causality.
image: install  ## build the image causality:<version>-<git sha> and dist/causality-<tag>.oci.tar
	deploy/image/build

bench-ingest: install-test wrk  ## the ingest benchmark (wrk load, 2 workers)
	$(PY) bench/ingest.py

up: install  ## run NATS, ingest, sink and compactor; demo data goes through the pipeline
	CAUSALITY_DATA_DIR=$(DATA) $(VENV)/bin/causality up --demo-events $(DEMO_EVENTS)

lint: install-test  ## ruff and mypy (platform packages, and the SDK on its own)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	cd sdk/python && ../../$(VENV)/bin/mypy --strict causality_sdk

# Playwright's sync API breaks a later asyncio.run() in the same process: browser tests run on
# their own, after everything else.
test: install-test trino chromium postgresql helm promtool image lint  ## install everything tests need, then run every test
	$(VENV)/bin/pytest -m "not browser"
	$(VENV)/bin/pytest -m browser -o cache_dir=.pytest_cache/browser

test-browser: install-test chromium  ## only the browser tests (Playwright + Debian's chromium)
	$(VENV)/bin/pytest -m browser -o cache_dir=.pytest_cache/browser

test-fast: install-test postgresql helm promtool  ## the inner loop: everything but the Trino, browser and image suites
	$(VENV)/bin/pytest -m "not trino and not browser and not image"

clean:  ## remove the venv and local data (not the Trino cache)
	rm -rf $(VENV) $(DATA) .pytest_cache .mypy_cache .ruff_cache
