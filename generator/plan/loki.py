"""The Loki ruler's alert rules, planned from truth: one group per concern, each alert traceable to its truth entry.

Every `expr` is a LogQL *metric* query: a log query would load but fail at evaluation ("rule result is not a vector
or scalar"). `generator.artifacts.loki_rules` writes these groups; rule tests and dashboards read the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from generator import conventions
from generator.conventions import alert_name
from generator.plan import log_format
from generator.plan.alerting import alert_annotations, alert_labels, go_template_text
from generator.syntax.logql import LineFilter, line_filters_for, quote_string, render_line_filters
from generator.truth import Truth
from generator.truth.model import (
    ForbiddenPattern,
    LatencyAlert,
    LogEventPattern,
    LogSlo,
    RateLimitedPattern,
    SecretPattern,
)
from generator.truth.types import Duration

PERCENTILE_NAMES = {0.5: "P50", 0.9: "P90", 0.95: "P95", 0.99: "P99"}
# The window of the log SLO's recorded rates (the `rate5m` in their names); Prometheus sums them over longer windows.
SLO_RATE_WINDOW = Duration(300)


@dataclass
class LokiRule:
    alert: str
    expr: str
    for_: Duration
    labels: dict[str, str]
    annotations: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"alert": self.alert, "expr": self.expr, "for": str(self.for_), "labels": self.labels,
                "annotations": self.annotations}


@dataclass
class LokiRecord:
    """A recording rule: the Loki ruler remote-writes its result as the series `record` (to Prometheus)."""

    record: str
    expr: str

    def as_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass
class LokiGroup:
    name: str
    interval: Duration
    rules: list[LokiRule | LokiRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interval": str(self.interval), "rules": [r.as_dict() for r in self.rules]}


# --- query building blocks ---------------------------------------------------------------------------------------


def _by_clause(truth: Truth) -> str:
    # Explicit grouping: Loki 3.x adds service_name/detected_level to streams; output labels must not surprise.
    return ", ".join(sorted(truth.service.log_labels))


def count_query(truth: Truth, filters: str, window: Duration, threshold: int) -> str:
    """`sum by (<stream labels>) (count_over_time(<selector> <filters> [window])) > threshold`."""
    return (f"sum by ({_by_clause(truth)}) (count_over_time({truth.service.log_selector} {filters} [{window}]))"
            f" > {threshold}")


def level_regex(truth: Truth) -> str:
    """Error-level lines in either format, matched without a parser so the error-rate query stays cheap."""
    return log_format.level_regex(truth.logs, list(truth.logs.error_levels))


def levels_below_production(truth: Truth) -> list[str]:
    """Levels declared before `logs.production_level` (DEBUG under INFO): never expected in production."""
    names: list[str] = [level.name for level in truth.logs.levels]
    return names[:names.index(truth.logs.production_level)] if truth.logs.production_level in names else []


def webhook_duration_pipeline(truth: Truth) -> str:
    """Webhook lines carrying duration_ms, with the duration extracted as a label, for both log formats."""
    latency = truth.log_alerts.webhook_latency
    filters = [
        LineFilter("|=", "duration_ms"),
        LineFilter("|~", log_format.tag_value_regex("operation", latency.operation)),
    ]
    return f"{render_line_filters(filters)} | regexp {quote_string(log_format.numeric_tag_extractor('duration_ms'))}"


def webhook_quantile_query(truth: Truth, quantile: float, window: Duration, above: Duration) -> str:
    """The `quantile` of webhook durations (ms) over `window`, compared with `above`."""
    return (
        f"quantile_over_time({quantile}, {truth.service.log_selector} {webhook_duration_pipeline(truth)}"
        f' | unwrap duration_ms | __error__="" [{window}]) by ({_by_clause(truth)})'
        f" > {above.milliseconds}"
    )


# --- one rule per truth entry ------------------------------------------------------------------------------------


def _pattern_description(text: str) -> str:
    return go_template_text(text)


def runbook_steps(truth: Truth, *names: str) -> list[str]:
    """The named runbook steps that truth defines, in order."""
    return [name for name in names if name in truth.runbooks]


NO_WAIT = Duration(0)


def log_alert(truth: Truth, alert_id: str, kind: str, expr: str, summary: str, description: str,
              steps: list[str], for_: Duration = NO_WAIT, alert: str | None = None,
              labels: dict[str, str] | None = None) -> LokiRule:
    """A Loki alert with its routing labels and on-call annotations: the shape every log alert shares."""
    return LokiRule(
        alert=alert or alert_name(alert_id), expr=expr, for_=for_,
        labels=labels or alert_labels(truth, alert_id, kind),
        annotations=alert_annotations(truth, alert_id, summary=summary, description=description,
                                      runbook_steps=steps))


def pattern_count_rule(truth: Truth, pattern_id: str, alert: str, kind: str, regex: str, window: Duration,
                       above: int, summary: str, description: str, steps: list[str],
                       priority: str | None = None) -> LokiRule:
    """An alert on more than `above` lines matching `regex` within `window`: the shape of every pattern alert."""
    return log_alert(
        truth, pattern_id, kind, count_query(truth, render_line_filters(line_filters_for(regex)), window, above),
        summary, description, steps, alert=alert,
        labels={**alert_labels(truth, pattern_id, kind, priority), "pattern_id": pattern_id})


def forbidden_pattern_rule(truth: Truth, pattern: ForbiddenPattern) -> LokiRule:
    window = truth.logs.ruler.occurrence_window
    return pattern_count_rule(
        truth, pattern.id, alert_name(pattern.id), "forbidden_pattern", pattern.regex, window, 0,
        summary=go_template_text(f"Forbidden log pattern /{pattern.regex}/ ({pattern.priority})")
        + f" seen {{{{ $value }}}} time(s) in the last {window}",
        description=_pattern_description(
            f"{pattern.reason} This pattern must never appear in production logs: act immediately."),
        steps=pattern.runbook, priority=pattern.priority,
    )


def log_event_rule(truth: Truth, pattern: LogEventPattern) -> LokiRule:
    """An event line (not a bug): any hit within the occurrence window notifies the alert's tier."""
    window = truth.logs.ruler.occurrence_window
    return pattern_count_rule(
        truth, pattern.id, alert_name(pattern.id), "log_event", pattern.regex, window, 0,
        summary=go_template_text(f"/{pattern.regex}/") + f" seen {{{{ $value }}}} time(s) in the last {window}",
        description=_pattern_description(pattern.reason), steps=pattern.runbook,
    )


def below_production_level_rule(truth: Truth) -> LokiRule:
    alert = truth.log_alerts.below_production_level
    window = truth.logs.ruler.occurrence_window
    levels = levels_below_production(truth)
    named = "/".join(levels)
    return log_alert(
        truth, alert.id, "log_level",
        count_query(truth, LineFilter("|~", log_format.level_regex(truth.logs, levels)).render(), window, 0),
        summary=f"{{{{ $value }}}} {named} line(s) in the last {window} "
                f"(production level: {truth.logs.production_level})",
        description=go_template_text(f"{alert.reason} Set the log level back to {truth.logs.production_level}."),
        steps=runbook_steps(truth, "tail_logs"))


def rate_limited_pattern_rule(truth: Truth, pattern: RateLimitedPattern) -> LokiRule:
    limit = pattern.limit
    return pattern_count_rule(
        truth, pattern.id, alert_name(pattern.id) + "RateExceeded", "rate_limited_pattern", pattern.regex,
        limit.per, limit.count,
        summary=go_template_text(f"/{pattern.regex}/ logged")
        + f" {{{{ $value }}}} times in {limit.per} (allowed: at most {limit.count})",
        description=_pattern_description(
            f"{pattern.reason} More often than {limit.count} per {limit.per} suggests an attack or a bug."),
        steps=pattern.runbook,
    )


def secret_leak_rule(truth: Truth, secret: SecretPattern) -> LokiRule:
    """A leaked secret pages whether the line arrived raw or already masked by the ingestion pipeline."""
    window = truth.logs.ruler.occurrence_window
    return pattern_count_rule(
        truth, secret.id, alert_name(secret.id), "secret_leak", log_format.secret_detection_regex(secret), window, 0,
        summary=go_template_text(f"{secret.what} found in the logs") + f" ({{{{ $value }}}} line(s) in {window})",
        description=go_template_text(
            f"{secret.what} must never be logged. Rotate it now if it is a credential, then remove the log "
            "statement; the line itself is not quoted here to avoid spreading the secret."),
        steps=runbook_steps(truth, "tail_logs"),
    )


def error_rate_rule(truth: Truth) -> LokiRule:
    rate = truth.log_alerts.error_rate
    levels = "/".join(truth.logs.error_levels)
    return log_alert(
        truth, rate.id, "log_threshold",
        count_query(truth, LineFilter("|~", level_regex(truth)).render(), rate.window, rate.max_count),
        summary=f"{{{{ $value }}}} {levels} log lines in {rate.window} (threshold: more than {rate.max_count})",
        description=f"More than {rate.max_count} {levels} lines in {rate.window}. The error-rate target is below "
        f"{rate.target_error_ratio:.1%} of requests.",
        steps=runbook_steps(truth, "tail_logs", "recent_jobs"))


def webhook_quantile_rule(truth: Truth, alert: LatencyAlert, threshold: str, description: str,
                          steps: list[str]) -> LokiRule:
    """An alert on a quantile of the webhook lines' `duration_ms` held above a bound (the P95 page, the slow P50)."""
    name = PERCENTILE_NAMES.get(alert.quantile, f"q{alert.quantile}")
    return log_alert(
        truth, alert.id, "log_threshold", webhook_quantile_query(truth, alert.quantile, alert.window, alert.above),
        summary=f"Webhook {name} latency {{{{ $value }}}} ms over {alert.window} ({threshold} for {alert.for_})",
        description=description.format(name=name), steps=steps, for_=alert.for_)


def webhook_latency_rule(truth: Truth) -> LokiRule:
    latency = truth.log_alerts.webhook_latency
    alert, targets = latency.alert, truth.latency_targets
    return webhook_quantile_rule(
        truth, alert, f"threshold: {alert.above.milliseconds} ms",
        f"Webhook response time ({latency.operation} lines' duration_ms) {{name}} above {alert.above.milliseconds} "
        f"ms for {alert.for_}: investigate. Targets: P50 < {targets.p50.milliseconds} ms, P95 < "
        f"{targets.p95.milliseconds} ms, P99 < {targets.p99.milliseconds} ms.",
        runbook_steps(truth, "tail_logs", "test_webhook"))


def slow_webhook_rule(truth: Truth) -> LokiRule:
    slow = truth.log_alerts.webhook_latency.slow_warning
    return webhook_quantile_rule(
        truth, slow, f"slow band: above {slow.above.milliseconds} ms",
        f"The typical ({{name}}) webhook response stayed in the slow band ({slow.above.milliseconds}-"
        f"{slow.up_to.milliseconds} ms) or above for {slow.for_}; the target is P50 < "
        f"{truth.latency_targets.p50.milliseconds} ms. No action unless the P95 alert fires.", [])


# --- the log SLO: rates recorded for Prometheus -------------------------------------------------------------------


def log_slo_request_filters(slo: LogSlo) -> list[LineFilter]:
    """Request lines: the tag has the value, in either format. Every match contains the value itself, so a literal
    `|=` on it goes first (Loki's query advice: cheap substring search before the regex)."""
    return [LineFilter("|=", slo.requests.value),
            LineFilter("|~", log_format.tag_value_regex(slo.requests.tag, slo.requests.value))]


def log_slo_error_regex(truth: Truth, slo: LogSlo) -> str:
    """A request line that failed: at one of the error levels, or carrying one of the error tags."""
    parts = [log_format.level_regex(truth.logs, slo.errors.levels)] if slo.errors.levels else []
    parts += [log_format.tag_present_regex(tag) for tag in slo.errors.tags]
    return parts[0] if len(parts) == 1 else "|".join(f"(?:{part})" for part in parts)


def log_slo_rate_query(truth: Truth, filters: list[LineFilter]) -> str:
    return (f"sum by ({_by_clause(truth)}) (rate({truth.service.log_selector} {render_line_filters(filters)}"
            f" [{SLO_RATE_WINDOW}]))")


def log_slo_records(truth: Truth) -> list[LokiRecord]:
    slo = truth.slos.log_error_ratio
    requests = log_slo_request_filters(slo)
    return [
        LokiRecord(conventions.SLO_LOG_REQUESTS_RATE, log_slo_rate_query(truth, requests)),
        LokiRecord(conventions.SLO_LOG_ERRORS_RATE,
                   log_slo_rate_query(truth, [*requests, LineFilter("|~", log_slo_error_regex(truth, slo))])),
    ]


def build_loki_groups(truth: Truth) -> list[LokiGroup]:
    ruler = truth.logs.ruler
    return [
        LokiGroup("forbidden-patterns", ruler.interval,
                  [forbidden_pattern_rule(truth, p) for p in truth.forbidden_patterns]),
        LokiGroup("rate-limited-patterns", ruler.rate_limited_interval,
                  [rate_limited_pattern_rule(truth, p) for p in truth.rate_limited_patterns]),
        LokiGroup("error-rate", ruler.interval, [error_rate_rule(truth)]),
        LokiGroup("log-events", ruler.interval,
                  [log_event_rule(truth, truth.log_alerts.external_api_timeout), below_production_level_rule(truth)]),
        LokiGroup("webhook-latency", ruler.interval, [webhook_latency_rule(truth), slow_webhook_rule(truth)]),
        LokiGroup("leaked-secrets", ruler.interval,
                  [secret_leak_rule(truth, s) for s in truth.privacy.never_log]),
        LokiGroup(f"slo-{truth.slos.log_error_ratio.id.replace('_', '-')}", ruler.interval, [*log_slo_records(truth)]),
    ]
