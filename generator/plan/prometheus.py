"""Prometheus recording and alerting rules for the metric half of the truth.

Output: alerts/prometheus/rules.yaml. Groups:
- `<service>-health`: the /health probe (3 consecutive failures) and the startup-failure event; evaluated at the
  probe interval, because "N consecutive failures" is `probe_success == 0` held for N-1 evaluations;
- `<service>-exporters`: queue depth (json_exporter), database pool and lock heartbeat (postgres_exporter);
- `<service>-render`: Render metrics streams (CPU, memory, requests, latency bands) and the OOM-kill event;
- `<service>-slo`: SLO error ratios per window (recorded, so long windows read one series) and multi-window,
  multi-burn-rate alerts (Google SRE workbook).
- `<service>-log-slo`: the same for the log SLO, over the request and error rates the Loki ruler records and
  remote-writes (Sloth refuses LogQL SLOs; this is their Prometheus half).

Every alert carries `generator.plan.alerting` labels/annotations, so tiers route the same as the Loki rules.
Each threshold alert also records how the tests feed it (`Threshold`), so promtool tests are generated
from the same numbers.

Tier-4 events without a log line are inferred (documented choice):
- OOM kill: an instance's memory reached `oom_memory_ratio_above` of its limit within the restart window AND the
  service restarted in that window. A restart is an instance's CPU-time counter resetting (process restarted in
  place) or a `service.instance.id` that did not exist one window ago (instance replaced). Memory at the limit
  alone is the critical band's job; a restart alone is a deploy.
- Startup failure: the service restarted within the window AND /health failed `startup_probe_failures` probes in a
  row since. A crash-looping start also keeps resetting the CPU counter, which keeps the restart signal up.
  Limitation: on a zero-downtime deploy that never becomes healthy Render keeps the old instance serving, so /health
  stays up; that case shows only in Render's deploy events and the log-side startup rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from generator import conventions
from generator.conventions import alert_name
from generator.plan.alerting import alert_annotations, alert_labels
from generator.truth import Truth
from generator.truth.model import Bands, Slo
from generator.truth.types import Duration

# Render pushes its metrics about once a minute: a 5-minute rate always spans several points.
RATE_WINDOW = Duration(300)
# The SRE workbook states the burn-rate windows for a 30-day SLO period; other periods scale them.
WORKBOOK_PERIOD = Duration(30 * 86400)

Kind = Literal["metric_threshold", "slo_burn_rate", "inferred_event"]
NO_WAIT = Duration(0)


@dataclass(frozen=True)
class Threshold:
    """An alert of the form `<series>{labels} > above` held for `for_`: what promtool tests feed it."""

    series: str
    labels: dict[str, str]
    above: float


@dataclass(frozen=True)
class BurnCondition:
    long_series: str
    short_series: str
    above: float  # burn rate x error budget


@dataclass
class PromRule:
    expr: str
    alert: str | None = None
    record: str | None = None
    for_: Duration = NO_WAIT
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    alert_id: str | None = None
    threshold: Threshold | None = None
    burn_conditions: tuple[BurnCondition, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        if self.record is not None:
            return {"record": self.record, "expr": self.expr}
        data: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_.seconds:
            data["for"] = str(self.for_)
        data["labels"] = self.labels
        data["annotations"] = self.annotations
        return data


@dataclass
class PromGroup:
    name: str
    rules: list[PromRule]
    interval: Duration | None = None  # None: Prometheus' global evaluation_interval

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.interval is not None:
            data["interval"] = str(self.interval)
        data["rules"] = [r.as_dict() for r in self.rules]
        return data


def number(value: float) -> str:
    """PromQL literal as short as the truth wrote it: 80 not 80.0."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Regex(str):
    """A label value matched as a regex (`=~`) in a selector."""


def selector(metric: str, **matchers: str) -> str:
    inner = ", ".join(f'{name}{"=~" if isinstance(value, Regex) else "="}"{value}"'
                      for name, value in matchers.items())
    return f"{metric}{{{inner}}}" if inner else metric


def make_alert(truth: Truth, alert_id: str, kind: Kind, expr: str, *, for_: Duration = NO_WAIT,
               summary: str, description: str, runbook: list[str] | None = None,
               threshold: Threshold | None = None, burn_conditions: tuple[BurnCondition, ...] = ()) -> PromRule:
    steps = [name for name in (runbook or []) if name in truth.runbooks]
    return PromRule(
        alert=alert_name(alert_id), expr=expr, for_=for_, alert_id=alert_id,
        labels=alert_labels(truth, alert_id, kind),
        annotations=alert_annotations(truth, alert_id, summary, description, steps),
        threshold=threshold, burn_conditions=burn_conditions,
    )


def threshold_alert(truth: Truth, alert_id: str, series: str, matchers: dict[str, str], above: float,
                    for_: Duration, *, summary: str, description: str, runbook: list[str] | None = None,
                    example_labels: dict[str, str] | None = None) -> PromRule:
    """`example_labels`: concrete labels of a matching series, for tests (default: the matchers themselves)."""
    return make_alert(
        truth, alert_id, "metric_threshold", f"{selector(series, **matchers)} > {number(above)}", for_=for_,
        summary=summary, description=description, runbook=runbook,
        threshold=Threshold(series, example_labels if example_labels is not None else matchers, above),
    )


# --- /health probe -----------------------------------------------------------------------------------------------


def probe_success(truth: Truth) -> str:
    return selector("probe_success", job=conventions.names(truth).health_probe_job)


def health_rules(truth: Truth) -> list[PromRule]:
    health = truth.health_check
    signals = truth.render.restart_signals
    failing_for = health.interval.scaled(health.consecutive_failures - 1)
    startup_for = health.interval.scaled(signals.startup_probe_failures - 1)
    return [
        make_alert(
            truth, health.id, "metric_threshold", f"{probe_success(truth)} == 0", for_=failing_for,
            summary=f"{truth.service.health_path} failed {health.consecutive_failures} consecutive probes "
            "({{ $labels.instance }})",
            description=f"The blackbox probe (every {health.interval}, expecting HTTP {health.expect_status} and a "
            f"healthy body) failed {health.consecutive_failures} times in a row.",
            runbook=["tail_logs", "test_webhook"],
        ),
        make_alert(
            truth, "startup_failure", "inferred_event",
            f"{probe_success(truth)} == 0 and on () {conventions.names(truth).platform_restarts_record}",
            for_=startup_for,
            summary=f"{truth.service.title} restarted and is not healthy: startup failure",
            description=f"An instance (re)started within {signals.window} and {truth.service.health_path} has "
            f"failed {signals.startup_probe_failures} probes in a row since. Escalate immediately.",
            runbook=["tail_logs"],
        ),
    ]


# --- exporters: queue, pool, heartbeat ---------------------------------------------------------------------------


def exporter_rules(truth: Truth) -> list[PromRule]:
    queue, pool, heartbeat = truth.queue_depth, truth.database_pool, truth.lock_heartbeat
    return [
        threshold_alert(
            truth, queue.id, conventions.names(truth).queue_metric, {}, queue.alert_above, queue.for_,
            summary=f"Queue depth {{{{ $value }}}} (threshold: above {number(queue.alert_above)} for {queue.for_})",
            description=f"`{queue.source_field}` in {truth.service.health_path} stayed above "
            f"{number(queue.alert_above)} for {queue.for_} (target: below {number(queue.target_below)}): "
            "possible overload.",
            runbook=["tail_logs", "recent_jobs"],
        ),
        threshold_alert(
            truth, pool.id, conventions.names(truth).pool_in_use_metric, {}, pool.alert_above, pool.for_,
            summary=f"{{{{ $value }}}} database connections in use of {pool.max_connections} "
            f"(threshold: above {number(pool.alert_above)} for {pool.for_})",
            description=f"Connections in use (pg_stat_activity) stayed above {number(pool.alert_above)} of "
            f"{pool.max_connections} for {pool.for_} (target: below {number(pool.target_below)}): connection leak.",
            runbook=["lock_state", "tail_logs"],
        ),
        threshold_alert(
            truth, heartbeat.id, conventions.names(truth).heartbeat_age_metric, {}, heartbeat.alert_older_than.seconds,
            Duration(0),
            summary=f"Lock heartbeat is {{{{ $value }}}} s old (threshold: {heartbeat.alert_older_than})",
            description=f"`{heartbeat.table}.{heartbeat.column}` is older than {heartbeat.alert_older_than} "
            f"(expected every {heartbeat.expected_every}): the lock is stale or lost.",
            runbook=["lock_state", "tail_logs"],
        ),
    ]


# --- Render metrics streams --------------------------------------------------------------------------------------

def platform_selector(truth: Truth, metric: str) -> str:
    return selector(metric, job=conventions.names(truth).platform_job)


def quantile_regex(quantile: float) -> str:
    # Render writes quantiles as `0.50`/`0.95`/`0.99`: match any trailing zeros.
    return repr(quantile).replace(".", "[.]") + "0*"


def platform_recording_rules(truth: Truth) -> list[PromRule]:
    names = truth.render.metric_names
    window = truth.render.restart_signals.window
    cpu, limit = platform_selector(truth, names.cpu_time), platform_selector(truth, names.cpu_limit)
    memory = platform_selector(truth, names.memory_usage)
    to_seconds = " / 1000" if truth.render.http_latency_unit == "milliseconds" else ""
    return [
        # CPU time is cumulative seconds: its rate is cores in use, against the instance's core limit.
        PromRule(record=conventions.PLATFORM_CPU_PERCENT,
                 expr=f"100 * sum by (job, instance) (rate({cpu}[{RATE_WINDOW}])) / sum by (job, instance) ({limit})"),
        PromRule(record=conventions.names(truth).platform_memory_record,
                 expr=f"max by (job, instance) ({memory}) / {truth.service.memory_unit_bytes}"),
        # HTTP request metrics are aggregated over all instances by Render.
        PromRule(record=conventions.PLATFORM_REQUESTS_PER_MINUTE,
                 expr=f"60 * sum by (job) (rate({platform_selector(truth, names.http_requests)}[{RATE_WINDOW}]))"),
        # Worst host/status of each quantile: Render gives no per-series request counts to weight them.
        PromRule(record=conventions.PLATFORM_LATENCY_SECONDS,
                 expr=f"max by (job, quantile) ({platform_selector(truth, names.http_latency)}){to_seconds}"),
        # A restart: an instance's CPU-time counter reset, or an instance id that was not there one window ago
        # while the service was (so a fresh Prometheus or a first push is not mistaken for a restart).
        PromRule(
            record=conventions.names(truth).platform_restarts_record,
            expr=f"(sum by (job) (resets({cpu}[{window}])) > 0)"
                 f" or (count by (job) ({memory} unless {memory} offset {window})"
                 f" and on (job) count by (job) ({memory} offset {window}))",
        ),
    ]


def band_rules(truth: Truth, bands: Bands, series: str, labels: dict[str, str], what: str, unit: str,
               runbook: list[str]) -> list[PromRule]:
    def one(alert_id: str, above: float, meaning: str) -> PromRule:
        return threshold_alert(
            truth, alert_id, series, labels, above, bands.sustained,
            summary=f"{what} {{{{ $value }}}}{unit} (threshold: above {number(above)}{unit} for {bands.sustained})",
            description=f"{what} above {number(above)}{unit} for {bands.sustained}: {meaning}. Normal: "
            f"{number(bands.normal.from_)}-{number(bands.normal.to)}{unit}.",
            runbook=runbook,
        )

    return [
        one(bands.warning_id, bands.warning_above, "warning band"),
        one(bands.critical_id, bands.critical_above, "critical band"),
    ]


def platform_rules(truth: Truth) -> list[PromRule]:
    platform = truth.render
    job = {"job": conventions.names(truth).platform_job}
    latency = platform.latency_alert
    signals = platform.restart_signals
    names = platform.metric_names
    memory, limit = platform_selector(truth, names.memory_usage), platform_selector(truth, names.memory_limit)
    return [
        *platform_recording_rules(truth),
        *band_rules(truth, platform.cpu_percent, conventions.PLATFORM_CPU_PERCENT, job, "CPU usage", "%",
                    ["tail_logs"]),
        *band_rules(truth, platform.memory_mb, conventions.names(truth).platform_memory_record, job, "Memory usage",
                    f" {truth.service.memory_unit}",
                    ["tail_logs"]),
        *band_rules(truth, platform.requests_per_minute, conventions.PLATFORM_REQUESTS_PER_MINUTE, job,
                    "Requests per minute", "", ["tail_logs"]),
        threshold_alert(
            truth, latency.id, conventions.PLATFORM_LATENCY_SECONDS,
            {**job, "quantile": Regex(quantile_regex(latency.quantile))},
            latency.above.seconds, latency.for_, example_labels={**job, "quantile": f"{latency.quantile:.2f}"},
            summary=f"Render P{round(latency.quantile * 100)} latency {{{{ $value }}}} s "
            f"(threshold: above {latency.above} for {latency.for_})",
            description=f"Render's P{round(latency.quantile * 100)} response time stayed above {latency.above} for "
            f"{latency.for_}: investigate. Targets: P50 < {truth.latency_targets.p50}, "
            f"P95 < {truth.latency_targets.p95}, P99 < {truth.latency_targets.p99}.",
            runbook=["tail_logs", "test_webhook"],
        ),
        make_alert(
            truth, "oom_kill", "inferred_event",
            f"max by (job) (max_over_time({memory}[{signals.window}]) / on (job, instance) "
            f"max_over_time({limit}[{signals.window}])) > {number(signals.oom_memory_ratio_above)}"
            f" and on (job) {conventions.names(truth).platform_restarts_record}",
            summary=f"{truth.service.title} was probably OOM-killed: memory reached "
                    f"{signals.oom_memory_ratio_above:.0%} of the limit, then an instance restarted",
            description=f"Within {signals.window} an instance's memory exceeded "
            f"{signals.oom_memory_ratio_above:.0%} of its limit and the service restarted. Restart it if it did "
            "not come back, and escalate: find the leak.",
            runbook=["tail_logs"],
        ),
    ]


# --- SLOs: error ratios per window and burn-rate alerts ----------------------------------------------------------


def slo_windows(truth: Truth, slo: Slo) -> list[Duration]:
    factor = slo.period.seconds / WORKBOOK_PERIOD.seconds
    windows = {w.long.scaled(factor) for w in truth.slos.burn_rate_windows}
    windows |= {w.short.scaled(factor) for w in truth.slos.burn_rate_windows}
    return sorted(windows)


def uptime_recording_rules(truth: Truth) -> list[PromRule]:
    slo = truth.slos.uptime
    return [PromRule(record=conventions.slo_ratio_record(slo, w),
                     expr=f"1 - avg by (job) (avg_over_time({probe_success(truth)}[{w}]))")
            for w in slo_windows(truth, slo)]


def error_ratio_recording_rules(truth: Truth) -> list[PromRule]:
    slo = truth.slos.error_ratio
    job = conventions.names(truth).platform_job
    requests = selector(truth.render.metric_names.http_requests, job=job)
    errors = selector(truth.render.metric_names.http_requests, job=job, status_code=Regex("5.."))
    total_rate, error_rate = conventions.SLO_REQUESTS_RATE, conventions.SLO_ERRORS_RATE
    return [
        PromRule(record=total_rate, expr=f"sum by (job) (rate({requests}[5m]))"),
        PromRule(record=error_rate, expr=f"sum by (job) (rate({errors}[5m]))"),
        *window_ratio_rules(truth, slo, error_rate, total_rate),
    ]


def window_ratio_rules(truth: Truth, slo: Slo, error_rate: str, total_rate: str) -> list[PromRule]:
    """The SLO's error ratio over each burn-rate window, from two recorded 5-minute rates."""
    rules = []
    for w in slo_windows(truth, slo):
        # Long windows sum the recorded 5-minute rates: one series each instead of every host/status series.
        expr = (f"{error_rate} / {total_rate}" if w.seconds <= 300
                else f"sum_over_time({error_rate}[{w}]) / sum_over_time({total_rate}[{w}])")
        rules.append(PromRule(record=conventions.slo_ratio_record(slo, w), expr=expr))
    return rules


def log_slo_rules(truth: Truth) -> list[PromRule]:
    """The log SLO over the rates the Loki ruler records and remote-writes (`generator.plan.loki.log_slo_records`).
    The error rate is absent, not 0, while no request fails: its ratios are then absent and the alerts silent, and
    a long window's sum counts the minutes without errors as 0, which they are."""
    slo = truth.slos.log_error_ratio
    requests = f"{slo.requests.tag}={slo.requests.value}"
    return [
        *window_ratio_rules(truth, slo, conventions.SLO_LOG_ERRORS_RATE, conventions.SLO_LOG_REQUESTS_RATE),
        *burn_rate_alerts(truth, slo, f"Webhook error ratio from the logs (failed {requests} lines)"),
    ]


def slo_series_labels(truth: Truth, slo: Slo) -> dict[str, str]:
    """The labels of an SLO's recorded ratios: the probe job, Render's job, or the log streams' labels (the Loki
    rules aggregate by them)."""
    if slo.id == truth.slos.uptime.id:
        return {"job": conventions.names(truth).health_probe_job}
    if slo.id == truth.slos.log_error_ratio.id:
        return dict(sorted(truth.service.log_labels.items()))
    return {"job": conventions.names(truth).platform_job}


def burn_rate_alerts(truth: Truth, slo: Slo, what: str) -> list[PromRule]:
    factor = slo.period.seconds / WORKBOOK_PERIOD.seconds
    budget = number(slo.error_budget)
    alerts = []
    for name in sorted({w.name for w in truth.slos.burn_rate_windows}):
        windows = [w for w in truth.slos.burn_rate_windows if w.name == name]
        conditions = tuple(
            BurnCondition(conventions.slo_ratio_record(slo, w.long.scaled(factor)),
                          conventions.slo_ratio_record(slo, w.short.scaled(factor)),
                          w.burn_rate * slo.error_budget)
            for w in windows
        )
        expr = " or ".join(
            f"({c.long_series} > ({number(w.burn_rate)} * {budget}) and {c.short_series} > "
            f"({number(w.burn_rate)} * {budget}))"
            for c, w in zip(conditions, windows, strict=True)
        )
        spans = ", ".join(f"{number(w.burn_rate)}x over {w.long.scaled(factor)} and {w.short.scaled(factor)}"
                          for w in windows)
        alert_id = f"{slo.id}_burn_{name}"
        alerts.append(make_alert(
            truth, alert_id, "slo_burn_rate", expr,
            summary=f"{what} SLO ({number(slo.objective)} % over {slo.period}) error budget burning fast enough "
                    f"to {'page' if name == 'page' else 'file a ticket'}",
            description=f"{what}: error ratio above the budget ({budget}) times the burn rate in both windows "
            f"({spans}).",
            runbook=["tail_logs"], burn_conditions=conditions,
        ))
    return alerts


def slo_rules(truth: Truth) -> list[PromRule]:
    return [
        *uptime_recording_rules(truth),
        *error_ratio_recording_rules(truth),
        *burn_rate_alerts(truth, truth.slos.uptime, f"Uptime ({truth.service.health_path} probe)"),
        *burn_rate_alerts(truth, truth.slos.error_ratio, "HTTP error ratio (5xx share of Render requests)"),
    ]


def build_prometheus_groups(truth: Truth) -> list[PromGroup]:
    service = truth.service.id
    return [
        PromGroup(f"{service}-health", health_rules(truth), interval=truth.health_check.interval),
        PromGroup(f"{service}-exporters", exporter_rules(truth)),
        PromGroup(f"{service}-render", platform_rules(truth)),
        PromGroup(f"{service}-slo", slo_rules(truth)),
        PromGroup(f"{service}-log-slo", log_slo_rules(truth)),
    ]
