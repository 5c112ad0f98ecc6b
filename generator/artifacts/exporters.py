"""Where the metric half of the truth comes from: exporter configs and the scrape jobs that collect them.

Outputs under alerts/exporters/:
- blackbox.yml: a module probing /health that requires the expected status and a healthy JSON body (blackbox 0.23
  checks bodies only by regex; CEL JSON checks need 0.27+);
- postgres-queries.yaml: postgres_exporter custom queries for the lock heartbeat age and the bot's pool usage
  (postgres_exporter names them `<key>_<column>`, with no `pg_` prefix);
- json-exporter.yml: json_exporter module turning `queue_size` of the /health JSON into a gauge.

Job and metric names live in `generator.conventions`; the Prometheus rules and the scrape configs both read them.
"""

from __future__ import annotations

from typing import Any

from generator import conventions
from generator.artifacts.base import Artifact, yaml_document
from generator.plan import Plan
from generator.truth import Truth
from generator.truth.types import Duration

# A /health answer slower than this is a failed probe; Prometheus' scrape timeout caps it further.
PROBE_TIMEOUT = Duration(5)


def blackbox_config(truth: Truth) -> dict[str, Any]:
    health = truth.health_check
    return {"modules": {conventions.names(truth).blackbox_module: {
        "prober": "http",
        "timeout": str(PROBE_TIMEOUT),
        "http": {
            "method": "GET",
            "valid_status_codes": [health.expect_status],
            "fail_if_body_not_matches_regexp": [health.expect_body_regex],
            "preferred_ip_protocol": "ip4",
            "follow_redirects": False,  # /health answers itself: a redirect is a misconfiguration
        },
    }}}


def postgres_queries(truth: Truth) -> dict[str, Any]:
    heartbeat = truth.lock_heartbeat
    prefix = conventions.names(truth).metric_prefix
    # No heartbeat row at all means nobody holds the lock: report +Inf so the staleness alert fires.
    heartbeat_sql = (
        f"SELECT COALESCE(EXTRACT(EPOCH FROM (now() - max({heartbeat.column})))::float8, 'Infinity'::float8) "
        f"AS age_seconds FROM {heartbeat.table}"
    )
    # The bot's pool holds at most max_connections; a connection is in use unless it sits idle in the pool.
    # The exporter's sessions are not the bot's: its DSN sets application_name
    # (see conventions.EXPORTER_APPLICATION_NAME).
    pool_sql = (
        "SELECT count(*) FILTER (WHERE state IS DISTINCT FROM 'idle')::float8 AS in_use_connections, "
        "count(*)::float8 AS open_connections FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
        f"AND application_name IS DISTINCT FROM '{conventions.EXPORTER_APPLICATION_NAME}'"
    )
    return {
        f"{prefix}_lock_heartbeat": {
            "query": heartbeat_sql,
            "master": True,
            "metrics": [{"age_seconds": {
                "usage": "GAUGE",
                "description": f"Seconds since the newest {heartbeat.table}.{heartbeat.column} "
                f"(expected every {heartbeat.expected_every}; +Inf when the table is empty)",
            }}],
        },
        f"{prefix}_db_pool": {
            "query": pool_sql,
            "master": True,
            "metrics": [
                {"in_use_connections": {
                    "usage": "GAUGE",
                    "description": "Client connections to the bot's database that are not idle (pg_stat_activity)",
                }},
                {"open_connections": {
                    "usage": "GAUGE",
                    "description": "All client connections to the bot's database (pg_stat_activity)",
                }},
            ],
        },
    }


def json_exporter_config(truth: Truth) -> dict[str, Any]:
    field = truth.queue_depth.source_field
    return {"modules": {conventions.names(truth).json_exporter_module: {"metrics": [{
        "name": conventions.names(truth).queue_metric,
        "path": f"{{.{field}}}",
        "help": f"Updates waiting in the bot's queue (`{field}` of {truth.service.health_path})",
        "type": "value",
    }]}}}


def scrape_interval_and_timeout(interval: Duration) -> tuple[str, str]:
    timeout = interval if interval.seconds <= 10 else Duration(10)
    return str(interval), str(timeout)


def scrape_configs(truth: Truth, *, health_url: str, blackbox: str, postgres_exporter: str,
                   json_exporter: str | None = None) -> list[dict[str, Any]]:
    """Prometheus scrape jobs for the exporters above (addresses are `host:port`). The probe job scrapes at the
    truth's health-check interval: the "N consecutive failures" rule counts one probe per evaluation."""
    interval, timeout = scrape_interval_and_timeout(truth.health_check.interval)
    probe_relabel = [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
    ]
    jobs: list[dict[str, Any]] = [
        {
            "job_name": conventions.names(truth).health_probe_job,
            "scrape_interval": interval,
            "scrape_timeout": timeout,
            "metrics_path": "/probe",
            "params": {"module": [conventions.names(truth).blackbox_module]},
            "static_configs": [{"targets": [health_url]}],
            "relabel_configs": [*probe_relabel, {"target_label": "__address__", "replacement": blackbox}],
        },
        {"job_name": conventions.POSTGRES_JOB, "static_configs": [{"targets": [postgres_exporter]}]},
    ]
    if json_exporter is not None:
        jobs.append({
            "job_name": conventions.names(truth).queue_job,
            "metrics_path": "/probe",
            "params": {"module": [conventions.names(truth).json_exporter_module]},
            "static_configs": [{"targets": [health_url]}],
            "relabel_configs": [*probe_relabel, {"target_label": "__address__", "replacement": json_exporter}],
        })
    return jobs


def render(plan: Plan) -> list[Artifact]:
    truth = plan.truth
    return [
        Artifact(conventions.BLACKBOX_FILE, yaml_document(blackbox_config(truth))),
        Artifact(conventions.POSTGRES_QUERIES_FILE, yaml_document(postgres_queries(truth))),
        Artifact(conventions.JSON_EXPORTER_FILE, yaml_document(json_exporter_config(truth))),
    ]
