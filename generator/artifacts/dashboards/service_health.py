"""Service health and SLOs: uptime and error budget, webhook latency, error rate, queue, DB pool, lock heartbeat."""

from __future__ import annotations

from typing import Any

from generator import conventions
from generator.artifacts.dashboards import queries as q
from generator.artifacts.dashboards.common import Context, assemble, log_label_variables
from generator.artifacts.dashboards.panels import (
    ABOVE_NORMAL,
    CRITICAL,
    OK,
    WARNING,
    Grid,
    Step,
    first_firing_value,
    gauge_panel,
    logql,
    promql,
    stat_panel,
    timeseries_panel,
)
from generator.conventions import alert_name
from generator.plan import prometheus as prometheus_plan
from generator.truth import Truth
from generator.truth.model import Slo, ThresholdAlert
from generator.truth.types import Duration

SLUG = "service-health"


def alert_ids(truth: Truth) -> list[str]:
    return [
        truth.health_check.id, *truth.burn_rate_alert_ids(), truth.log_alerts.error_rate.id,
        truth.log_alerts.webhook_latency.alert.id, truth.log_alerts.webhook_latency.slow_warning.id,
        truth.render.latency_alert.id, truth.queue_depth.id, truth.database_pool.id, truth.lock_heartbeat.id,
    ]


# --- SLO expressions ---------------------------------------------------------------------------------------------


def uptime_ratio(truth: Truth, window: Duration) -> str:
    return f"avg_over_time({q.health_probe(truth, q.PROBE_SUCCESS_METRIC)}[{window}])"


def http_5xx_requests(truth: Truth) -> str:
    requests = q.platform_raw(truth, "http_requests")
    return requests[:-1] + ', status_code=~"5.."}'


def http_error_ratio(truth: Truth, window: Duration) -> str:
    requests = q.platform_raw(truth, "http_requests")
    return f"sum(increase({http_5xx_requests(truth)}[{window}])) / sum(increase({requests}[{window}]))"


def log_error_ratio(truth: Truth, window: Duration) -> str:
    """The log SLO's error ratio over `window` from the rates the Loki ruler remote-writes; 0 while no request line
    failed (the error rate is then absent, not 0)."""
    labels = prometheus_plan.slo_series_labels(truth, truth.slos.log_error_ratio)
    errors = prometheus_plan.selector(conventions.SLO_LOG_ERRORS_RATE, **labels)
    requests = prometheus_plan.selector(conventions.SLO_LOG_REQUESTS_RATE, **labels)
    return (f"(sum(sum_over_time({errors}[{window}])) or vector(0)) / sum(sum_over_time({requests}[{window}]))")


def _slo_steps(slo: Slo) -> list[Step]:
    return [Step(None, CRITICAL, f"below the {slo.objective:g} % objective"),
            Step(slo.objective, OK, "objective met")]


def _budget_steps() -> list[Step]:
    return [Step(None, CRITICAL, "error budget exhausted: the SLO is missed for this period"),
            Step(0, OK, "budget left")]


def _burn_steps(truth: Truth, slo: Slo) -> list[Step]:
    colours = {"ticket": ABOVE_NORMAL, "page": WARNING}
    by_rate = sorted(truth.slos.burn_rate_windows, key=lambda w: w.burn_rate)
    steps = [Step(None, OK, "spending the budget no faster than it lasts the period")]
    for index, window in enumerate(by_rate):
        colour = CRITICAL if index == len(by_rate) - 1 else colours[window.name]
        steps.append(Step(window.burn_rate, colour,
                          f"{window.burn_rate:g}x burn over {window.long} and {window.short} ({window.name})",
                          f"{slo.id}_burn_{window.name}"))
    return steps


def burn_rate_panel(context: Context, slo: Slo, what: str) -> Any:
    """Each recorded burn-rate window's error ratio over the budget: the series the burn-rate alerts compare."""
    truth = context.truth
    targets = [promql(f"max({q.slo_error_ratio(truth, slo, window)}) / {slo.error_budget:g}", chr(ord("A") + i),
                      f"burn {window}")
               for i, window in enumerate(q.slo_windows(truth, slo))]
    return timeseries_panel(
        f"Burn rate: {what}", f"How fast the {slo.id} error budget burns in each alert window (1 = the budget "
        f"lasts exactly {slo.period}). An alert needs both its long and its short window above its rate.",
        context.ds("prometheus"), targets, "x", _burn_steps(truth, slo), "x")


def alert_band_steps(normal: str, above_normal: tuple[float, str], alert: tuple[float, str, str]) -> list[Step]:
    """Normal, above normal from a value, and critical from the alert's value (labelled with its alert id)."""
    return [Step(None, OK, normal), Step(above_normal[0], ABOVE_NORMAL, above_normal[1]),
            Step(alert[0], CRITICAL, alert[1], alert[2])]


def heartbeat_steps(truth: Truth) -> list[Step]:
    heartbeat = truth.lock_heartbeat
    return alert_band_steps(
        "fresh", (heartbeat.expected_every.seconds, f"a beat is late (expected every {heartbeat.expected_every})"),
        (heartbeat.alert_older_than.seconds, f"stale lock (older than {heartbeat.alert_older_than})", heartbeat.id))


# --- panels ------------------------------------------------------------------------------------------------------


def error_ratio_stats(grid: Grid, prom: Any, slo: Slo, error_ratio: str, title: str, description: str,
                      budget_name: str, budget: str) -> None:
    """An error-ratio SLO's two stats, half a line: the share that met the objective, and the budget left."""
    grid.add(stat_panel(title, description, prom, [promql(f"100 * (1 - ({error_ratio}))", instant=True)], "percent",
                        _slo_steps(slo), "%", decimals=3, graph=False), 6, 5)
    grid.add(stat_panel(
        f"Error budget left: {budget_name}", f"Share of {budget} not yet spent. Below 0 the SLO is missed.", prom,
        [promql(f"100 * (1 - ({error_ratio}) / {slo.error_budget:g})", instant=True)], "percent", _budget_steps(),
        "%", decimals=1, graph=False), 6, 5)


def availability_row(context: Context, grid: Grid) -> None:
    """Probe state, uptime and HTTP SLOs with their error budgets and burn rates."""
    truth = context.truth
    prom = context.ds("prometheus")
    grid.row("Availability and SLOs")
    health = truth.health_check
    failure_window = Duration(health.interval.seconds * health.consecutive_failures)
    probe = q.health_probe(truth, q.PROBE_SUCCESS_METRIC)
    grid.add(stat_panel(
        "Health check now", f"Last blackbox probe of {health.path} (every {health.interval}): 1 = up "
        f"(HTTP {health.expect_status} with a healthy body), 0 = down.", prom,
        [promql(f"min({probe})", instant=True)], "bool_on_off",
        [Step(None, CRITICAL, "down"), Step(1, OK, "up")], graph=False), 4, 5)
    grid.add(stat_panel(
        f"Failed health checks (last {health.consecutive_failures})", f"Failed probes of {health.path} among the "
        f"last {health.consecutive_failures} ({failure_window} at one per {health.interval}); all of them failed "
        "means the service is down, not flapping.", prom,
        [promql(f"max(count_over_time({probe}[{failure_window}]) - sum_over_time({probe}[{failure_window}]))",
                instant=True)], "none",
        [Step(None, OK, "all recent checks passed"), Step(1, ABOVE_NORMAL, "a check failed"),
         Step(health.consecutive_failures, CRITICAL, f"{health.consecutive_failures} consecutive failures",
              health.id)], "failed checks", graph=False), 4, 5)
    grid.add(stat_panel(
        "Probe duration", f"Time the blackbox probe of {health.path} took (request to response).", prom,
        [promql(f"max({q.health_probe(truth, q.PROBE_DURATION_METRIC)})")], "s",
        [Step(None, OK, "answered")], graph=True), 4, 5)
    uptime, http = truth.slos.uptime, truth.slos.error_ratio
    grid.add(stat_panel(
        f"Uptime ({uptime.period})", f"Share of successful {health.path} probes over {uptime.period}; objective "
        f"{uptime.objective:g} % (allowed downtime {uptime.allowed_downtime}).", prom,
        [promql(f"100 * {uptime_ratio(truth, uptime.period)}", instant=True)], "percent", _slo_steps(uptime), "%",
        decimals=3, graph=False), 6, 5)
    grid.add(stat_panel(
        "Error budget left: uptime", f"Share of the uptime error budget ({uptime.error_budget:.1%} of "
        f"{uptime.period} = {uptime.allowed_downtime}) not yet spent. Below 0 the SLO is missed.", prom,
        [promql(f"100 * (1 - (1 - {uptime_ratio(truth, uptime.period)}) / {uptime.error_budget:g})",
                instant=True)], "percent", _budget_steps(), "%", decimals=1, graph=False), 6, 5)
    error_ratio_stats(
        grid, prom, http, http_error_ratio(truth, http.period), f"Requests without 5xx ({http.period})",
        f"Share of HTTP requests Render answered without a 5xx over {http.period}; objective {http.objective:g} % "
        f"(< {http.error_budget:.1%} failing).", "HTTP errors",
        f"the HTTP error budget ({http.error_budget:.1%} of requests over {http.period})")
    # The same error target measured on the logs, next to Render's 5xx measurement.
    logs = truth.slos.log_error_ratio
    requests = f"{logs.requests.tag}={logs.requests.value}"
    failed = " or ".join([f"at {'/'.join(logs.errors.levels)}"] if logs.errors.levels else []
                         + [f"tagged {tag}" for tag in logs.errors.tags])
    error_ratio_stats(
        grid, prom, logs, log_error_ratio(truth, logs.period), f"Webhooks without errors, logs ({logs.period})",
        f"Share of {requests} log lines that did not fail ({failed}) over {logs.period}, from the rates the Loki "
        f"ruler records and remote-writes; objective {logs.objective:g} %.", "webhook logs",
        f"the log SLO's error budget ({logs.error_budget:.1%} of {requests} lines over {logs.period})")
    # The budgets above in the seed's own terms: hours of downtime against "3.6 hours/month", failed requests.
    # allowed_downtime is optional in truth: the objective implies it.
    allowed = uptime.allowed_downtime or Duration(uptime.period.seconds * uptime.error_budget)
    grid.add(stat_panel(
        f"Downtime ({uptime.period})", f"Time the {health.path} probe failed over {uptime.period} (failed share of "
        f"probes x {uptime.period}); the {uptime.objective:g} % objective allows {allowed}.", prom,
        [promql(f"(1 - {uptime_ratio(truth, uptime.period)}) * {uptime.period.seconds:g}", instant=True)], "s",
        [Step(None, OK, "within the allowed downtime"), Step(allowed.seconds, CRITICAL, "allowed downtime used up")],
        "s", graph=False), 12, 5)
    grid.add(stat_panel(
        f"5xx responses ({http.period})", f"Requests Render answered with a 5xx over {http.period} (0 when there "
        f"was none); the {http.objective:g} % objective allows {http.error_budget:.1%} of all requests.", prom,
        [promql(f"sum(increase({http_5xx_requests(truth)}[{http.period}])) or vector(0)", instant=True)], "none",
        [Step(None, OK, "counted against the HTTP error budget")], "requests", graph=False), 12, 5)
    grid.add(burn_rate_panel(context, uptime, "uptime"), 8, 8)
    grid.add(burn_rate_panel(context, http, "HTTP errors"), 8, 8)
    grid.add(burn_rate_panel(context, logs, "webhook errors (logs)"), 8, 8)


def latency_row(context: Context, grid: Grid) -> None:
    """Webhook latency quantiles from Render and from the logs, against the targets and alerts."""
    truth = context.truth
    prom, loki = context.ds("prometheus"), context.ds("loki")
    loki_alerts = context.loki_alerts
    grid.row("Webhook latency")
    targets = truth.latency_targets
    latency = truth.log_alerts.webhook_latency
    slow = latency.slow_warning
    render_alert = truth.render.latency_alert

    def latency_steps(alert_id: str) -> list[Step]:
        return [
            Step(None, OK, f"within the P50 target ({targets.p50.milliseconds} ms)"),
            Step(slow.above.milliseconds, ABOVE_NORMAL, f"slow band {slow.above.milliseconds}-"
                 f"{slow.up_to.milliseconds} ms (logged as WARNING)"),
            Step(slow.up_to.milliseconds, WARNING, f"above the slow band and the P95 target "
                 f"({targets.p95.milliseconds} ms)"),
            Step(render_alert.above.milliseconds if alert_id == render_alert.id else latency.alert.above.milliseconds,
                 CRITICAL, f"P95 alert threshold (for {render_alert.for_})", alert_id),
        ]

    quantiles = (("P50", 0.5, targets.p50), ("P95", 0.95, targets.p95), ("P99", 0.99, targets.p99))
    for name, quantile, target in quantiles:
        steps = [Step(None, OK, f"below the {name} target"),
                 Step(target.milliseconds, ABOVE_NORMAL, f"{name} target ({target.milliseconds} ms) missed")]
        if quantile == render_alert.quantile:
            steps.append(Step(render_alert.above.milliseconds, CRITICAL,
                              f"alert threshold (for {render_alert.for_})", render_alert.id))
        grid.add(stat_panel(
            f"{name} webhook latency (Render)", f"{name} response time Render measured for the web service, "
            f"target below {target.milliseconds} ms.", prom,
            [promql(f"1000 * max({q.platform_latency(truth, quantile)})")], "ms", steps, "ms"), 8, 5)
    grid.add(timeseries_panel(
        "Webhook latency P50/P95/P99 (Render)", "Response-time quantiles Render reports for the web service "
        f"(Telegram POST to 200 OK). Targets: P50 < {targets.p50.milliseconds} ms, "
        f"P95 < {targets.p95.milliseconds} ms, P99 < {targets.p99.milliseconds} ms.",
        prom, [promql(f"1000 * max({q.platform_latency(truth, qv)})", chr(ord("A") + i), name)
               for i, (name, qv, _t) in enumerate(quantiles)], "ms", latency_steps(render_alert.id), "ms"), 12, 8)
    p95 = loki_alerts[latency.alert.id]
    log_quantile_targets = [logql(p95.metric if qv == latency.alert.quantile
                                  else q.with_quantile(p95.metric, latency.alert.quantile, qv),
                                  chr(ord("A") + i), name)
                            for i, (name, qv, _t) in enumerate(quantiles)]
    grid.add(timeseries_panel(
        f"Webhook latency P50/P95/P99 (logs, {latency.alert.window})", f"Quantiles of `duration_ms` on "
        f"operation={latency.operation} log lines over {latency.alert.window}, both log formats; the P95 line is "
        f"the expression of alert {alert_name(latency.alert.id)}.", loki, log_quantile_targets, "ms",
        latency_steps(latency.alert.id), "ms"), 12, 8)
    slow_expr = loki_alerts[slow.id]
    slow_name = f"P{round(slow.quantile * 100)}"
    grid.add(timeseries_panel(
        f"Slow webhook responses ({slow_name} over {slow.window})", f"{slow_name} of webhook `duration_ms` over "
        f"{slow.window}: the expression of alert {alert_name(slow.id)} (tier 2, low-priority channel), which fires "
        f"when it stays above {slow.above.milliseconds} ms for {slow.for_}.", loki,
        [logql(slow_expr.metric, legend=f"{slow_name} ({slow.window})")], "ms",
        [Step(None, OK, f"within the P50 target ({targets.p50.milliseconds} ms)"),
         Step(slow_expr.threshold, ABOVE_NORMAL, f"slow band ({slow.above.milliseconds}-"
              f"{slow.up_to.milliseconds} ms) for {slow.for_}", slow.id),
         Step(slow.up_to.milliseconds, WARNING, "above the slow band")],
        "ms"), 24, 6)


def errors_row(context: Context, grid: Grid) -> None:
    """ERROR/CRITICAL log lines as the error-rate alert counts them, and the 5xx share."""
    truth = context.truth
    prom, loki = context.ds("prometheus"), context.ds("loki")
    loki_alerts = context.loki_alerts
    grid.row("Errors")
    error_rate = truth.log_alerts.error_rate
    errors = loki_alerts[error_rate.id]
    error_steps = [Step(None, OK, f"at most {error_rate.max_count} per {error_rate.window}"),
                   Step(first_firing_value(errors.threshold, True), CRITICAL,
                        f"more than {error_rate.max_count} in {error_rate.window}", error_rate.id)]
    levels = "/".join(truth.logs.error_levels)
    grid.add(stat_panel(
        f"{levels} lines ({error_rate.window})", f"{levels} log lines in the last {error_rate.window}: the "
        f"expression of alert {alert_name(error_rate.id)} (0 when there is none).", loki,
        # Loki returns no series when no line matched; the outer sum drops the labels so `or vector(0)` only
        # fills in then.
        [logql(f"sum({errors.metric}) or vector(0)", instant=True)], "none",
        error_steps, "lines", graph=False), 6, 8)
    grid.add(timeseries_panel(
        f"{levels} lines per {error_rate.window}", f"Rolling count of {levels} log lines over {error_rate.window}, "
        f"as the alert evaluates it; the error-rate target is below {error_rate.target_error_ratio:.1%} of "
        "requests.", loki, [logql(errors.metric, legend="error lines")], "none", error_steps, "lines"), 9, 8)
    http_target = truth.slos.error_ratio
    shortest = q.slo_windows(truth, http_target)[0]
    grid.add(timeseries_panel(
        "HTTP 5xx share", f"Share of requests Render answered with a 5xx; the SLO allows "
        f"{http_target.error_budget:.1%}.", prom,
        [promql(f"100 * max({q.slo_error_ratio(truth, http_target, shortest)})", legend=f"5xx share ({shortest})")],
        "percent",
        [Step(None, OK, "within the SLO"),
         Step(round(http_target.error_budget * 100, 10), ABOVE_NORMAL, "above the SLO's allowed share")], "%"),
        9, 8)


def target_steps(signal: ThresholdAlert) -> list[Step]:
    """Below the target, above it, and the alert's own threshold (red from the first value that fires)."""
    return alert_band_steps(
        f"below the target ({signal.target_below:g})", (signal.target_below, "above target"),
        (first_firing_value(signal.alert_above, True), f"above {signal.alert_above:g} (alert after {signal.for_})",
         signal.id))


def capacity_row(context: Context, grid: Grid) -> None:
    """Queue depth, database pool and lock heartbeat against their alert thresholds."""
    truth = context.truth
    prom = context.ds("prometheus")
    grid.row("Capacity")
    queue = truth.queue_depth
    grid.add(timeseries_panel(
        "Update queue depth",
        f"Updates waiting in the bot's queue (`{queue.source_field}` of {truth.service.health_path}).", prom,
        [promql(f"max({conventions.names(truth).queue_metric})", legend=queue.source_field)], "none",
        target_steps(queue), "updates"), 8, 8)
    pool = truth.database_pool
    grid.add(gauge_panel(
        f"Database connections in use (of {pool.max_connections})", "Connections to the bot's database that are "
        f"not idle (pg_stat_activity, via postgres_exporter), against the pool size {pool.max_connections}.", prom,
        [promql(f"max({conventions.names(truth).pool_in_use_metric})", instant=True)], "none", target_steps(pool), 0,
        pool.max_connections, "connections"), 8, 8)
    heartbeat = truth.lock_heartbeat
    grid.add(timeseries_panel(
        "Lock heartbeat age", f"Seconds since `{heartbeat.column}` in `{heartbeat.table}`; the lock holder beats "
        f"every {heartbeat.expected_every}.", prom,
        [promql(f"max({conventions.names(truth).heartbeat_age_metric})", legend="heartbeat age")], "s",
        heartbeat_steps(truth), "s"), 8, 8)



def build(context: Context) -> dict[str, Any]:
    grid = Grid.under_alert_list(
        "Firing alerts", "Firing and pending alerts about availability, latency, errors and capacity.",
        alert_ids(context.truth), 6)
    for row in (availability_row, latency_row, errors_row, capacity_row):
        row(context, grid)
    return assemble(context, SLUG, grid, log_label_variables(context))
