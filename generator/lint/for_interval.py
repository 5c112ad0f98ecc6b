"""`for-interval`: a `for:` shorter than the group's evaluation interval is a promise the ruler cannot keep. The
alert is pending at one evaluation and can fire only at the next one, a whole interval later (Prometheus
rules/alerting.go: firing once `ts - activeAt >= holdDuration`, checked at evaluations only)."""

from __future__ import annotations

from generator.checks.base import Problem
from generator.lint.base import LintCheck, LintRule
from generator.logql_engine.gocompat import GoParseError, parse_prometheus_duration_ns
from generator.truth.types import Duration


def duration_text(ns: int) -> str:
    return str(Duration(ns / 1e9))


class ForInterval(LintCheck):
    name = "for-interval"
    severity = "warning"
    description = "`for:` is 0 or at least the group interval"

    def check(self, rule: LintRule) -> list[Problem]:
        if not rule.is_alert or rule.data.get("for") in (None, ""):
            return []
        try:
            for_ns = parse_prometheus_duration_ns(str(rule.data["for"]))
        except GoParseError:
            return [self.about(rule, "for", f"invalid duration {rule.data['for']!r}")]
        if 0 < for_ns < rule.interval_ns:
            return [self.about(rule, "for", f"for: {duration_text(for_ns)} is shorter than the group interval "
                f"{duration_text(rule.interval_ns)} ({rule.group}): the alert fires {duration_text(rule.interval_ns)} "
                f"after it turns pending, not {duration_text(for_ns)}; use for: 0s or a multiple of the interval")]
        return []
