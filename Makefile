# obsctl: observability as code. `make help` lists the targets.
PYTHON ?= python3
OBSCTL ?= $(PYTHON) -m generator.cli
DEBIAN_PACKAGES = prometheus prometheus-alertmanager prometheus-blackbox-exporter \
	prometheus-postgres-exporter prometheus-pushgateway postgresql docker-compose ripgrep git

.PHONY: help deps setup generate lint check test bench provision

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

bench: ## One table: obsctl scan (full, patterns-only) vs rg and grep -E per format and size, start-up, a month of backtest (bench/README.md)
	$(PYTHON) bench/run_bench.py

provision: ## Apply the generated tree to live Grafana/Loki/Prometheus/Alertmanager (env: README; PROVISION_FLAGS=--dry-run)
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

up: .env ## Start the local stack: Grafana, Loki, Alloy, Prometheus, Alertmanager, exporters, PostgreSQL, demo bot
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

demo-incident: .env ## Make the running demo bot log forbidden and rate-limited patterns (SCENARIO=... to choose)
	@$(LOAD_ENV); $(PYTHON) demo/bot.py incident --url "http://127.0.0.1:$${BOT_PORT:-8080}" --scenario "$(SCENARIO)"
