"""`range-interval`: a range window shorter than the group interval leaves blind spots. Evaluations at t and
t + interval see (t - range, t] and (t + interval - range, t + interval]; lines in between are never counted
(Loki pkg/logql/range_vector.go: the window is left-open, right-closed)."""

from __future__ import annotations

from generator.checks.base import Problem
from generator.lint.base import AggregationCheck, LintRule
from generator.lint.for_interval import duration_text
from generator.logql_engine import ast


class RangeInterval(AggregationCheck):
    name = "range-interval"
    severity = "warning"
    description = "every range window is at least the group interval"

    def check_aggregation(self, rule: LintRule, aggregation: ast.RangeAggregation) -> list[Problem]:
        window = aggregation.log_range.range_ns
        if window >= rule.interval_ns:
            return []
        gap = rule.interval_ns - window
        return [self.about(rule, "expr", f"{aggregation.op} window [{duration_text(window)}] is shorter than the group "
            f"interval {duration_text(rule.interval_ns)} ({rule.group}): lines in the {duration_text(gap)} "
            f"between two windows are never seen; widen the window to at least {duration_text(rule.interval_ns)}")]
