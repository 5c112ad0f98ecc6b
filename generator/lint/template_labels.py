"""`template-labels`: `{{ $labels.x }}` in a label or annotation renders empty when the expression does not keep `x`
(Prometheus expands templates over the result series' labels with `missingkey=zero`, template/template.go). An
aggregation keeps only its `by (...)` labels; `sum(...)` with no `by` keeps none."""

from __future__ import annotations

from generator.checks.base import Problem
from generator.lint.base import LintCheck, LintRule
from generator.logql_engine import ast
from generator.logql_engine.template import _LABEL_REF


def kept_labels(expr: ast.MetricExpr) -> frozenset[str] | None:
    """The labels every result series can have, or None when that depends on the streams (no `by` clause, or
    `without`): then any label may be present and nothing is reported."""
    if isinstance(expr, ast.VectorAggregation):
        if expr.grouping.without:
            return None
        return frozenset(expr.grouping.labels)
    if isinstance(expr, ast.RangeAggregation):
        if expr.grouping is None or expr.grouping.without:
            return None
        return frozenset(expr.grouping.labels)
    if isinstance(expr, ast.Comparison):
        return kept_labels(expr.vector)
    return None


class TemplateLabels(LintCheck):
    name = "template-labels"
    severity = "warning"
    description = "templates reference only labels the expression keeps"

    def check(self, rule: LintRule) -> list[Problem]:
        if rule.query is None or not rule.is_alert:
            return []
        kept = kept_labels(rule.query)
        if kept is None:
            return []
        problems = []
        for section, key, text in rule.templates():
            for label in dict.fromkeys(_LABEL_REF.findall(text)):
                if label not in kept:
                    shown = ", ".join(sorted(kept)) or "no label"
                    problems.append(self.problem(
                        rule.where(section, key),
                        f"{rule.name}: {section}.{key} uses {{{{ $labels.{label} }}}} but the expression keeps only "
                        f"({shown}): it renders empty; add `{label}` to the by (...) clause or drop it"))
        return problems
