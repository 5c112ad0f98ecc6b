# obsctl: observability as code. `make help` lists the targets.
PYTHON ?= python3
OBSCTL ?= $(PYTHON) -m generator.cli
DEBIAN_PACKAGES = prometheus prometheus-alertmanager prometheus-blackbox-exporter \
	prometheus-postgres-exporter prometheus-pushgateway postgresql docker-compose ripgrep git

.PHONY: help deps setup generate lint check test bench

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: ## Debian packages the tests run for real (root; Debian/Ubuntu)
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEBIAN_PACKAGES)
	@# Node.js only when absent: a machine may already carry a newer build whose bundled npm Debian's would break.
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm

setup: ## Python package (editable, with dev tools) and the pinned LogQL grammar
	$(PYTHON) -m pip install -e '.[dev]'
	npm ci --no-audit --no-fund

generate: ## Render every artifact from product/truth.yaml, validate, swap in atomically
	$(OBSCTL) generate

lint: ## Validate product/truth.yaml; ruff and mypy on the code
	$(OBSCTL) lint
	$(PYTHON) -m ruff check generator tests
	$(PYTHON) -m mypy generator

check: ## Fail when committed artifacts differ from a fresh generation
	$(OBSCTL) check

test: ## All tests (real promtool/amtool/prometheus/postgres where used)
	$(PYTHON) -m pytest -q
