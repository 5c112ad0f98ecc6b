"""The queries behind the panels. Where an alert watches a value, the panel shows the alert's own expression.

LogQL: panels take the Loki rule expressions rendered by `generator.artifacts.loki_rules` and drop the comparison,
so a line on a graph is exactly the value the ruler compares; only the window changes where a panel needs a longer view.
PromQL: series and label matchers come from `generator.artifacts.prometheus_rules` and
`generator.artifacts.exporters`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generator import conventions
from generator.plan import Plan, log_format
from generator.plan import loki as loki_plan
from generator.plan import prometheus as prometheus_plan
from generator.syntax.logql import quote_string
from generator.truth import Truth
from generator.truth.model import Slo
from generator.truth.types import Duration

PROBE_SUCCESS_METRIC = "probe_success"  # blackbox exporter
PROBE_DURATION_METRIC = "probe_duration_seconds"

# Grafana's own interval macros: substituted by Grafana before the query reaches Loki or Prometheus.
RANGE = "$__range"
AUTO = "$__auto"
RATE_INTERVAL = "$__rate_interval"


# --- LogQL -------------------------------------------------------------------------------------------------------


def dashboard_log_selector(truth: Truth) -> str:
    """The truth's stream selector with each label value taken from the dashboard variable of the same name."""
    inner = ", ".join(f"{name}={quote_string('$' + name, prefer_backticks=False)}"
                      for name in sorted(truth.service.log_labels))
    return "{" + inner + "}"


@dataclass(frozen=True)
class AlertExpression:
    """A rule expression split into the measured value and the comparison that fires the alert."""

    alert_id: str
    metric: str  # the value the rule compares, with the dashboard's stream selector
    operator: str
    threshold: float

    def over(self, old_window: Duration, new_window: str) -> str:
        """The metric over another range window (e.g. the dashboard's time range)."""
        old = f"[{old_window}]"
        if self.metric.count(old) != 1:
            raise ValueError(f"{self.alert_id}: expected one {old} window in {self.metric!r}")
        return self.metric.replace(old, f"[{new_window}]")


_COMPARISON = re.compile(r"^(?P<metric>.*\S)\s*(?P<op>>=|>|==)\s*(?P<value>[0-9]+(?:\.[0-9]+)?)$", re.S)


def split_comparison(alert_id: str, expr: str) -> tuple[str, str, float]:
    match = _COMPARISON.match(expr.strip())
    if not match:
        raise ValueError(f"{alert_id}: rule expression does not end in a comparison: {expr!r}")
    return match["metric"], match["op"], float(match["value"])


def loki_alert_expressions(plan: Plan) -> dict[str, AlertExpression]:
    """Every Loki alert's measured value, keyed by alert id, rewritten onto the dashboard's stream selector."""
    truth = plan.truth
    selector = dashboard_log_selector(truth)
    found: dict[str, AlertExpression] = {}
    for rule in plan.loki_rules():
        alert_id = rule.labels["alert_id"]
        metric, operator, threshold = split_comparison(alert_id, rule.expr)
        if truth.service.log_selector not in metric:
            raise ValueError(f"{alert_id}: rule does not select {truth.service.log_selector}")
        found[alert_id] = AlertExpression(alert_id, metric.replace(truth.service.log_selector, selector),
                                          operator, threshold)
    return found


def with_quantile(expr: str, old: float, new: float) -> str:
    """The same `quantile_over_time` expression for another quantile (P50/P99 next to the alerting P95)."""
    head = f"quantile_over_time({old}, "
    if expr.count(head) != 1:
        raise ValueError(f"expected one {head!r} in {expr!r}")
    return expr.replace(head, f"quantile_over_time({new}, ")


def tagged_lines(truth: Truth, *tags: str) -> str:
    """Lines carrying every tag, each extracted as a label (cheap `|=` prefilter first, then one regexp per tag)."""
    filters = " ".join(f"|= {quote_string(tag)}" for tag in tags)
    numeric = {"duration_ms"}

    def extractor(tag: str) -> str:
        return log_format.numeric_tag_extractor(tag) if tag in numeric else log_format.word_tag_extractor(tag)

    parsers = " ".join(
        f"| regexp {quote_string(extractor(t))}"
        for t in tags
    )
    return f"{dashboard_log_selector(truth)} {filters} {parsers}"


def error_lines(truth: Truth, containing: str | None = None) -> str:
    """ERROR/CRITICAL lines in either format: the same filter the error-rate alert counts.

    `containing`: a literal every wanted line holds, filtered first (`|=` is cheaper than `|~`).
    """
    literal = f" |= {quote_string(containing)}" if containing else ""
    return f"{dashboard_log_selector(truth)}{literal} |~ {quote_string(loki_plan.level_regex(truth))}"


# --- PromQL ------------------------------------------------------------------------------------------------------
# Series names and label matchers come from the Prometheus rules and exporter configs, so a panel reads the very
# series an alert compares (recorded series where the rules record one).


def platform_series(truth: Truth, record: str) -> str:
    """A Render recording rule's series for the bot's Render service (e.g. CPU percent, memory MiB)."""
    return prometheus_plan.selector(record, job=conventions.names(truth).platform_job)


def platform_raw(truth: Truth, key: str) -> str:
    """A raw Render metrics-stream series of the bot (`key` names it in truth.render.metric_names)."""
    return prometheus_plan.platform_selector(truth, str(getattr(truth.render.metric_names, key)))


def platform_latency(truth: Truth, quantile: float) -> str:
    """Render's recorded latency quantile in seconds (the series the latency alert compares)."""
    return prometheus_plan.selector(conventions.PLATFORM_LATENCY_SECONDS, job=conventions.names(truth).platform_job,
                               quantile=prometheus_plan.Regex(prometheus_plan.quantile_regex(quantile)))


def health_probe(truth: Truth, metric: str) -> str:
    """A blackbox metric of the probe of the bot's health endpoint."""
    return prometheus_plan.selector(metric, job=conventions.names(truth).health_probe_job)


def slo_error_ratio(truth: Truth, slo: Slo, window: Duration) -> str:
    """The SLO's recorded error ratio over one of its burn-rate windows."""
    return prometheus_plan.selector(conventions.slo_ratio_record(slo, window),
                                    **prometheus_plan.slo_series_labels(truth, slo))


def slo_windows(truth: Truth, slo: Slo) -> list[Duration]:
    return prometheus_plan.slo_windows(truth, slo)


def prometheus_thresholds(plan: Plan) -> dict[str, prometheus_plan.Threshold]:
    """Every Prometheus threshold alert's series and number, keyed by alert id."""
    return {rule.alert_id: rule.threshold for rule in plan.prometheus_alerts()
            if rule.alert_id is not None and rule.threshold is not None}
