# obsctl: observability as code. `make help` lists the targets.
# `make generate` and `make test` each set up what they need on a fresh Debian machine (missing Debian packages via
# apt, a project virtualenv in .venv/, the pinned LogQL grammar in node_modules/); a second run skips what is done.
PYTHON3 ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
OBSCTL ?= $(PYTHON) -m generator.cli
DEBIAN_PACKAGES = prometheus prometheus-alertmanager prometheus-blackbox-exporter \
	prometheus-postgres-exporter prometheus-pushgateway postgresql docker-compose ripgrep git
PY_STAMP := $(VENV)/.obsctl-installed
NODE_STAMP := node_modules/.obsctl-installed
DEPS_STAMP := $(VENV)/.obsctl-debian

.PHONY: help deps setup generate lint check test bench provision

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: ## Debian packages the tools and tests run for real, installed only where missing (root or sudo)
	PYTHON3=$(PYTHON3) scripts/ensure-debian-packages $(DEBIAN_PACKAGES)

$(DEPS_STAMP): Makefile scripts/ensure-debian-packages
	PYTHON3=$(PYTHON3) scripts/ensure-debian-packages $(DEBIAN_PACKAGES)
	@mkdir -p $(VENV) && touch $@

$(PY_STAMP): pyproject.toml setup.py $(wildcard generator/logs/*.c generator/logs/*.h) | $(DEPS_STAMP)
	@[ -x $(PYTHON) ] || { echo "creating the project virtualenv in $(VENV)/"; $(PYTHON3) -m venv $(VENV); }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(NODE_STAMP): package.json package-lock.json | $(DEPS_STAMP)
	npm ci --no-audit --no-fund
	@touch $@

setup: $(DEPS_STAMP) $(PY_STAMP) $(NODE_STAMP) ## Everything below needs: Debian packages, .venv/, node_modules/

generate: setup ## Render every artifact from product/truth.yaml, check with the real tools, swap in atomically
	$(OBSCTL) generate

lint: setup ## Validate product/truth.yaml and lint the generated rules; ruff and mypy on the code
	$(OBSCTL) lint
	$(PYTHON) -m ruff check generator tests
	$(PYTHON) -m mypy generator

check: setup ## Fail when committed artifacts differ from a fresh generation
	$(OBSCTL) check

test: setup ## All tests (real promtool/amtool/prometheus/postgres where used)
	$(PYTHON) -m pytest -q

bench: setup ## One table: obsctl scan (full, patterns-only) vs rg and grep -E per format and size, start-up, backtest per format and size and over a month (bench/README.md)
	$(PYTHON) bench/run_bench.py

provision: setup ## Apply the generated tree to live Grafana/Loki/Prometheus/Alertmanager (env: README; PROVISION_FLAGS=--dry-run)
	$(OBSCTL) provision $(PROVISION_FLAGS)

# --- local stack: docker-compose.yml, docs/local-stack.md ---------------------------------------------------------
COMPOSE ?= docker compose
SCENARIO ?= forbidden,rate_limited
# .env sets the credentials and ports; a runnable Alertmanager config (Telegram secrets) is written to .stack/.
LOAD_ENV = set -a; . ./.env; set +a

.PHONY: up down demo demo-incident

.env:
	cp .env.example .env
	@echo "created .env from .env.example: change its passwords"

up: .env setup ## Start the local stack: Grafana, Loki, Alloy, Prometheus, Alertmanager, exporters, PostgreSQL, demo bot
	@$(LOAD_ENV); \
	if [ -n "$${ALERTMANAGER_TELEGRAM_BOT_TOKEN:-}" ]; then \
		$(OBSCTL) alertmanager-config --out .stack/alertmanager/alertmanager.yml || exit 1; \
		export ALERTMANAGER_CONFIG_DIR=./.stack/alertmanager; \
	fi; \
	$(COMPOSE) up -d --build
	@$(LOAD_ENV); echo "Grafana http://127.0.0.1:$${GRAFANA_PORT:-3000}  Alertmanager http://127.0.0.1:$${ALERTMANAGER_PORT:-9093}  Prometheus http://127.0.0.1:$${PROMETHEUS_PORT:-9090}  bot http://127.0.0.1:$${BOT_PORT:-8080}/health"

down: .env ## Stop the local stack (data volumes kept; `docker compose down -v` wipes them)
	$(COMPOSE) down

demo: up ## Start the stack, wait for the demo bot; Grafana's dashboards fill within a minute
	@$(LOAD_ENV); $(PYTHON) demo/bot.py wait --url "http://127.0.0.1:$${BOT_PORT:-8080}" --timeout 180
	@echo "The demo bot is logging. \`make demo-incident\` makes a forbidden pattern page through Alertmanager."

demo-incident: .env setup ## Make the running demo bot log forbidden and rate-limited patterns (SCENARIO=... to choose)
	@$(LOAD_ENV); $(PYTHON) demo/bot.py incident --url "http://127.0.0.1:$${BOT_PORT:-8080}" --scenario "$(SCENARIO)"
