"""Logs: forbidden patterns (red at the first hit), rate-limited patterns against their limit, lines per level,
errors by error_type, slowest operations, recent ERROR/CRITICAL lines, leaked secrets."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.models import dashboard as dashboard_models

from generator.artifacts.dashboards import queries as q
from generator.artifacts.dashboards.common import Context, assemble, log_label_variables
from generator.artifacts.dashboards.panels import (
    CRITICAL,
    OK,
    WARNING,
    Grid,
    Step,
    first_firing_value,
    logql,
    logs_panel,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from generator.conventions import alert_name
from generator.plan import log_format
from generator.plan import loki as loki_plan
from generator.syntax.logql import quote_string
from generator.truth import Truth

SLUG = "logs"
LEVEL_LABEL = "log_level"  # not `level`: Loki may already attach a `level` or `detected_level` to streams
RECENT_LINES = 200
SLOWEST_OPERATIONS = 10


def alert_ids(truth: Truth) -> list[str]:
    return [*(p.id for p in truth.forbidden_patterns), *(p.id for p in truth.rate_limited_patterns),
            *(s.id for s in truth.privacy.never_log), truth.log_alerts.error_rate.id,
            truth.log_alerts.external_api_timeout.id, truth.log_alerts.below_production_level.id]


def _any_hit_stat(alert: q.AlertExpression, window: Any, title: str, description: str, context: Context,
                  colour: str = CRITICAL, meaning: str = "any hit escalates") -> Any:
    """Hits over the dashboard's time range (a past hit stays coloured), counted like the alert counts them."""
    steps = [Step(None, OK, "no hit"),
             Step(first_firing_value(alert.threshold, True), colour, meaning, alert.alert_id)]
    return stat_panel(title, description, context.ds("loki"),
                      # The outer sum drops the stream labels, so `or vector(0)` only fills in when there is no hit.
                      [logql(f"sum({alert.over(window, q.RANGE)}) or vector(0)", instant=True)], "none", steps,
                      "lines",
                      graph=False)


def build(context: Context) -> dict[str, Any]:
    truth = context.truth
    loki = context.ds("loki")
    loki_alerts = context.loki_alerts
    occurrence = truth.logs.ruler.occurrence_window
    grid = Grid.under_alert_list(
        "Firing log alerts", "Firing and pending alerts raised from the logs: forbidden and rate-limited "
        "patterns, leaked secrets, error rate.", alert_ids(truth), 6)

    grid.row("Forbidden patterns: must never appear (any hit escalates)")
    grid.add_row_of([
        _any_hit_stat(loki_alerts[p.id], occurrence, f"{p.priority}: {p.regex}",
                      f"{p.reason} Lines matching /{p.regex}/ in the selected time range; alert "
                      f"{alert_name(p.id)} fires on any hit within {occurrence}.", context)
        for p in truth.forbidden_patterns
    ], 5)

    grid.row("Rate-limited patterns: allowed, but not more often than their limit")
    rate_panels = []
    for pattern in truth.rate_limited_patterns:
        alert = loki_alerts[pattern.id]
        limit = pattern.limit
        panel = timeseries_panel(
            f"{pattern.regex} (limit {limit.count} per {limit.per})",
            f"{pattern.reason} Matching lines per {limit.per}, sampled as often as the ruler evaluates it "
            f"({truth.logs.ruler.rate_limited_interval}); above {limit.count} means an attack or a bug.",
            loki, [logql(alert.metric, legend=f"per {limit.per}")], "none",
            [Step(None, OK, f"within the limit ({limit.count} per {limit.per})"),
             Step(first_firing_value(alert.threshold, True), CRITICAL, "over the limit", pattern.id)],
            f"per {limit.per}", bars=True)
        rate_panels.append(panel.interval(str(truth.logs.ruler.rate_limited_interval)))
    grid.add_row_of(rate_panels, 7)

    grid.row("Leaked secrets: must never be logged (any hit escalates)")
    grid.add_row_of([
        _any_hit_stat(loki_alerts[s.id], occurrence, f"{s.what} in logs",
                      f"Lines that look like {s.what} (raw, or already masked as the redaction marker) in the "
                      f"selected time range; alert {alert_name(s.id)} fires on any hit within {occurrence}. Rotate "
                      "the secret first.", context)
        for s in truth.privacy.never_log
    ], 5)

    grid.row("Events (tier 2): the low-priority channel hears of any hit")
    timeout = truth.log_alerts.external_api_timeout
    below = truth.log_alerts.below_production_level
    below_levels = "/".join(loki_plan.levels_below_production(truth))
    grid.add_row_of([
        _any_hit_stat(loki_alerts[timeout.id], occurrence, "External API timeouts (retries exhausted)",
                      f"{timeout.reason} Lines matching /{timeout.regex}/ in the selected time range; alert "
                      f"{alert_name(timeout.id)} fires on any hit within {occurrence}.", context,
                      WARNING, "retries ran out"),
        _any_hit_stat(loki_alerts[below.id], occurrence, f"{below_levels} lines in production",
                      f"{below.reason} Lines at {below_levels} (production level {truth.logs.production_level}) in "
                      f"the selected time range; alert {alert_name(below.id)} fires on any hit within {occurrence}.",
                      context, WARNING, "logging below the production level"),
    ], 5)

    grid.row("Volume and errors")
    selector = q.dashboard_log_selector(truth)
    level_regex = log_format.level_capture_regex(truth.logs, LEVEL_LABEL)
    grid.add(timeseries_panel(
        "Lines per level", f"Log lines per level in both formats (production level: {truth.logs.production_level}; "
        "DEBUG in production is a misconfiguration).", loki,
        [logql(f"sum by ({LEVEL_LABEL}) (count_over_time({selector} | regexp {quote_string(level_regex)} "
               f"[{q.AUTO}]))", legend="{{" + LEVEL_LABEL + "}}")], "none", stacked=True, bars=True), 12, 8)
    grid.add(timeseries_panel(
        "Errors by error_type", f"{'/'.join(truth.logs.error_levels)} lines grouped by their `error_type` tag "
        "(exception class).", loki,
        [logql(f"sum by (error_type) (count_over_time({q.error_lines(truth, 'error_type')} | regexp "
               f"{quote_string(log_format.word_tag_extractor('error_type'))} [{q.AUTO}]))", legend="{{error_type}}")],
        "none", stacked=True, bars=True), 12, 8)

    timed = q.tagged_lines(truth, "operation", "duration_ms")
    slowest = table_panel(
        "Slowest operations", f"The {SLOWEST_OPERATIONS} operations with the highest P95 `duration_ms` over the "
        "selected time range, with their maximum and line count (both log formats).", loki,
        [logql(f"topk({SLOWEST_OPERATIONS}, quantile_over_time(0.95, {timed} | unwrap duration_ms | __error__=\"\" "
               f"[{q.RANGE}]) by (operation))", "A", instant=True),
         logql(f"max_over_time({timed} | unwrap duration_ms | __error__=\"\" [{q.RANGE}]) by (operation)", "B",
               instant=True),
         logql(f"sum by (operation) (count_over_time({timed} | __error__=\"\" [{q.RANGE}]))", "C", instant=True)],
        "ms")
    slowest = slowest.transformations([
        dashboard_models.DataTransformerConfig(id_val="merge", options={}),
        dashboard_models.DataTransformerConfig(id_val="organize", options={
            "excludeByName": {"Time": True},
            "renameByName": {"Value #A": "P95 (ms)", "Value #B": "max (ms)", "Value #C": "lines"},
        }),
        dashboard_models.DataTransformerConfig(id_val="sortBy",
                                               options={"sort": [{"field": "P95 (ms)", "desc": True}]}),
    ]).override_by_name("lines", [dashboard_models.DynamicConfigValue(id_val="unit", value="none")])
    grid.add(slowest, 12, 8)
    grid.add(logs_panel(
        f"Recent {'/'.join(truth.logs.error_levels)} lines", f"The latest {RECENT_LINES} "
        f"{'/'.join(truth.logs.error_levels)} lines, newest first: the lines the error-rate alert counts.", loki,
        q.error_lines(truth), RECENT_LINES), 12, 8)

    return assemble(context, SLUG, grid, log_label_variables(context))
