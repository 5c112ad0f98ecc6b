"""Names every part of the project agrees on, defined once: where each generated file goes, the generated-file
header, alert names, and the job, metric and recording-rule names that rules, scrape configs, dashboards and tests
must spell the same way. Changing a value here changes every artifact that uses it, and nothing else."""

from __future__ import annotations

from generator.truth import Truth
from generator.truth.model import Slo
from generator.truth.types import Duration

GENERATED_HEADER = "generated from product/truth.yaml by `obsctl generate`; do not edit"

# --- output layout (posix paths relative to the repository root) ------------------------------------------------

# Folders generation owns entirely: swapped in whole, so a removed rule leaves no stale file behind.
OWNED_DIRS: tuple[str, ...] = ("loki", "alerts", "dashboards", "tests/generated")

LOKI_RULES_DIR = "loki/rules"  # <dir>/<tenant>/<namespace>.yaml, as Loki's local ruler storage reads it
LOGQL_TESTS_DIR = "tests/generated/logql"
PROMETHEUS_RULES_FILE = "alerts/prometheus/rules.yaml"
PROMTOOL_TESTS_FILE = "alerts/prometheus/tests.yaml"
ALERTMANAGER_CONFIG_FILE = "alerts/alertmanager/alertmanager.yml"
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


def loki_rule_file(truth: Truth) -> str:
    return f"{LOKI_RULES_DIR}/{truth.logs.tenant}/{truth.logs.namespace}.yaml"


def dashboard_file(uid: str) -> str:
    return f"{DASHBOARD_DIR}/{uid}.json"


# --- alert names ------------------------------------------------------------------------------------------------


def alert_name(alert_id: str) -> str:
    """`queue_full` -> `QueueFull`: Prometheus-style alert names, stable because ids are."""
    return "".join(part[:1].upper() + part[1:] for part in alert_id.split("_"))


# --- scrape jobs and metric names -------------------------------------------------------------------------------

POSTGRES_JOB = "postgres"
# postgres_exporter's DSN must carry `application_name=<this>` so the pool query leaves its sessions out.
EXPORTER_APPLICATION_NAME = "postgres_exporter"


def metric_prefix(truth: Truth) -> str:
    """`telegram-bot` -> `telegram_bot`: the bot's own metrics are namespaced by its service id."""
    return truth.service.id.replace("-", "_")


def platform_job(truth: Truth) -> str:
    """The `job` of Render.com's metrics: the OTLP resource attribute `service.name` becomes `job` (OTLP ->
    Prometheus convention) and `service.instance.id` becomes `instance`. Assumed: the Render service is named like
    the truth's service id."""
    return truth.service.id


def health_probe_job(truth: Truth) -> str:
    return f"{truth.service.id}-health"


def queue_job(truth: Truth) -> str:
    return f"{truth.service.id}-queue"


def blackbox_module(truth: Truth) -> str:
    return f"{metric_prefix(truth)}_health"


def json_exporter_module(truth: Truth) -> str:
    return f"{metric_prefix(truth)}_health"


def queue_metric(truth: Truth) -> str:
    return f"{metric_prefix(truth)}_{truth.queue_depth.source_field}"


def heartbeat_age_metric(truth: Truth) -> str:
    return f"{metric_prefix(truth)}_lock_heartbeat_age_seconds"


def pool_in_use_metric(truth: Truth) -> str:
    return f"{metric_prefix(truth)}_db_pool_in_use_connections"


def pool_open_metric(truth: Truth) -> str:
    return f"{metric_prefix(truth)}_db_pool_open_connections"


# --- recording rules --------------------------------------------------------------------------------------------

PLATFORM_CPU_PERCENT = "render:cpu_usage:percent"
PLATFORM_REQUESTS_PER_MINUTE = "render:http_requests:per_minute"
PLATFORM_LATENCY_SECONDS = "render:http_latency:seconds"
SLO_REQUESTS_RATE = "slo:http_requests:rate5m"
SLO_ERRORS_RATE = "slo:http_errors:rate5m"


def platform_memory_record(truth: Truth) -> str:
    """Render memory in truth's memory unit (`render:memory_usage:mebibytes` for MiB)."""
    return "render:memory_usage:" + {"MiB": "mebibytes", "MB": "megabytes"}[truth.service.memory_unit]


def platform_restarts_record(truth: Truth) -> str:
    return f"render:instance_restarts:{truth.render.restart_signals.window}"


def slo_ratio_record(slo: Slo, window: Duration) -> str:
    return f"slo:{slo.id}:error_ratio_rate{window}"
