"""Names every part of the project agrees on, defined once: where each generated file goes, the generated-file
header, alert names, and the job, metric and recording-rule names that rules, scrape configs, dashboards and tests
must spell the same way. Changing a value here changes every artifact that uses it, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from generator.truth import Truth
from generator.truth.model import Slo
from generator.truth.types import Duration

GENERATED_HEADER = "generated from product/truth.yaml by `obsctl generate`; do not edit"

# --- output layout (posix paths relative to the repository root) ------------------------------------------------

# Folders generation owns entirely: swapped in whole, so a removed rule leaves no stale file behind.
OWNED_DIRS: tuple[str, ...] = ("loki", "alerts", "dashboards", "bot", "tests/generated")

LOKI_RULES_DIR = "loki/rules"  # <dir>/<tenant>/<namespace>.yaml, as Loki's local ruler storage reads it
LOGQL_TESTS_DIR = "tests/generated/logql"
PROMETHEUS_RULES_FILE = "alerts/prometheus/rules.yaml"
PROMTOOL_TESTS_FILE = "alerts/prometheus/tests.yaml"
ALERTMANAGER_CONFIG_FILE = "alerts/alertmanager/alertmanager.yml"
# Alertmanager notification templates; the config names them relative to its own folder, as Alertmanager resolves.
ALERTMANAGER_TEMPLATES_DIR = "alerts/alertmanager/templates"
TELEGRAM_TEMPLATE_FILE = f"{ALERTMANAGER_TEMPLATES_DIR}/telegram.tmpl"
EXPORTERS_DIR = "alerts/exporters"
BLACKBOX_FILE = f"{EXPORTERS_DIR}/blackbox.yml"
POSTGRES_QUERIES_FILE = f"{EXPORTERS_DIR}/postgres-queries.yaml"
JSON_EXPORTER_FILE = f"{EXPORTERS_DIR}/json-exporter.yml"
DASHBOARD_DIR = "dashboards"
GRAFANA_PROVISIONING_DIR = "dashboards/provisioning"
LOKI_CONFIG_PATH = "loki/loki-config.yaml"
ALLOY_CONFIG_PATH = "loki/alloy/config.alloy"
# Not under alerts/prometheus/: every file there is checked as a rule file by the Prometheus rules check.
PROMETHEUS_CONFIG_PATH = "alerts/stack/prometheus.yml"
# The bot's logging module (formatters and redaction at the source); the bot copies it, the demo bot imports it.
BOT_DIR = "bot"
BOT_LOGGING_MODULE = f"{BOT_DIR}/bot_logging.py"


def loki_rule_file(truth: Truth) -> str:
    return f"{LOKI_RULES_DIR}/{truth.logs.tenant}/{truth.logs.namespace}.yaml"


def dashboard_file(uid: str) -> str:
    return f"{DASHBOARD_DIR}/{uid}.json"


# --- alert names ------------------------------------------------------------------------------------------------


def alert_name(alert_id: str) -> str:
    """`queue_full` -> `QueueFull`: Prometheus-style alert names, stable because ids are."""
    return "".join(part[:1].upper() + part[1:] for part in alert_id.split("_"))


def telegram_message_template(tier_id: int) -> str:
    """The name of the Telegram message template (`{{ define }}`) of a tier's receiver."""
    return f"telegram.tier{tier_id}.message"


# --- scrape jobs and metric names -------------------------------------------------------------------------------

POSTGRES_JOB = "postgres"
# postgres_exporter's DSN must carry `application_name=<this>` so the pool query leaves its sessions out.
EXPORTER_APPLICATION_NAME = "postgres_exporter"


@dataclass(frozen=True)
class ServiceNames:
    """The names derived from the service id (`telegram-bot`): scrape jobs, exporter modules, the bot's metrics."""

    metric_prefix: str  # `telegram_bot`: the bot's own metrics are namespaced by its service id
    # Render.com's metrics: the OTLP resource attribute `service.name` becomes `job` (OTLP -> Prometheus convention)
    # and `service.instance.id` becomes `instance`. Assumed: the Render service is named like the service id.
    platform_job: str
    health_probe_job: str
    queue_job: str
    blackbox_module: str
    json_exporter_module: str
    queue_metric: str
    heartbeat_age_metric: str
    pool_in_use_metric: str
    pool_open_metric: str
    platform_restarts_record: str
    platform_memory_record: str  # Render memory in truth's memory unit (`render:memory_usage:mebibytes` for MiB)


def names(truth: Truth) -> ServiceNames:
    service = truth.service.id
    prefix = service.replace("-", "_")
    return ServiceNames(
        metric_prefix=prefix,
        platform_job=service,
        health_probe_job=f"{service}-health",
        queue_job=f"{service}-queue",
        blackbox_module=f"{prefix}_health",
        json_exporter_module=f"{prefix}_health",
        queue_metric=f"{prefix}_{truth.queue_depth.source_field}",
        heartbeat_age_metric=f"{prefix}_lock_heartbeat_age_seconds",
        pool_in_use_metric=f"{prefix}_db_pool_in_use_connections",
        pool_open_metric=f"{prefix}_db_pool_open_connections",
        platform_restarts_record=f"render:instance_restarts:{truth.render.restart_signals.window}",
        platform_memory_record="render:memory_usage:" + {"MiB": "mebibytes", "MB": "megabytes"}[
            truth.service.memory_unit],
    )


# --- recording rules --------------------------------------------------------------------------------------------

PLATFORM_CPU_PERCENT = "render:cpu_usage:percent"
PLATFORM_REQUESTS_PER_MINUTE = "render:http_requests:per_minute"
PLATFORM_LATENCY_SECONDS = "render:http_latency:seconds"
SLO_REQUESTS_RATE = "slo:http_requests:rate5m"
SLO_ERRORS_RATE = "slo:http_errors:rate5m"
# Recorded by the Loki ruler (5-minute rates of request lines and failed request lines of the log SLO) and
# remote-written to Prometheus, where the log SLO's error ratios per window are recorded from them.
SLO_LOG_REQUESTS_RATE = "slo:log_requests:rate5m"
SLO_LOG_ERRORS_RATE = "slo:log_errors:rate5m"


def slo_ratio_record(slo: Slo, window: Duration) -> str:
    return f"slo:{slo.id}:error_ratio_rate{window}"
