"""`regex-prefilter`: a `|~` regex with no `|=` literal filter before it runs on every line of the selected streams.
When every match must contain some text (`err.*timeout` contains `timeout`; found by
generator.syntax.logql.required_literal), a `|=` on that text first drops most lines cheaply (Loki's query
best-practices page; Loki does not derive such prefilters itself)."""

from __future__ import annotations

from generator.checks.base import Problem
from generator.lint.base import AggregationCheck, LintRule
from generator.lint.regex_literal import regex_is_literal
from generator.logql_engine import ast
from generator.syntax.logql import quote_string, required_literal


class RegexPrefilter(AggregationCheck):
    name = "regex-prefilter"
    severity = "warning"
    description = "a costly regex line filter comes after a literal |= prefilter"

    def check_aggregation(self, rule: LintRule, aggregation: ast.RangeAggregation) -> list[Problem]:
        for stage in aggregation.log_range.stages:
            if not isinstance(stage, ast.LineFilter):
                continue
            if stage.op == "|=":
                return []  # prefiltered
            if stage.op == "|~" and not regex_is_literal(stage.value):
                # Only when a prefilter can be derived: a regex with no text common to every match
                # (alternatives, character classes) has no cheaper form, and a warning nobody can act on is noise.
                literal = required_literal(stage.value)
                if not literal:
                    return []
                return [self.about(rule, "expr", f"|~ {quote_string(stage.value)} runs on every selected line: add "
                                     f"|= {quote_string(literal)} before it (every match contains it)")]
        return []
