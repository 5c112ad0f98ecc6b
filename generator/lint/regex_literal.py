"""`regex-literal`: a regex line filter whose pattern is plain text (`|~ "timeout"`) is a substring search written
the expensive way; `|=` says the same and skips the regex engine (Loki's query best-practices page: line filters
`|=` before `|~`). Loki rewrites some such regexes itself, but not all; the rule should not rely on it."""

from __future__ import annotations

from generator.checks.base import Problem
from generator.lint.base import AggregationCheck, LintRule
from generator.logql_engine import ast
from generator.syntax.logql import LineFilter, line_filters_for, quote_string

_AS_LITERAL = {"|~": "|=", "!~": "!="}


def regex_is_literal(regex: str) -> bool:
    return line_filters_for(regex) == [LineFilter("|=", regex)]


class RegexLiteral(AggregationCheck):
    name = "regex-literal"
    severity = "warning"
    description = "regex line filters that are plain text use |= or !="

    def check_aggregation(self, rule: LintRule, aggregation: ast.RangeAggregation) -> list[Problem]:
        return [self.about(rule, "expr", f"{stage.op} {quote_string(stage.value)} matches plain text: write "
                             f"{_AS_LITERAL[stage.op]} {quote_string(stage.value)} (a substring search, no regex)")
                for stage in aggregation.log_range.stages
                if isinstance(stage, ast.LineFilter) and stage.op in _AS_LITERAL and regex_is_literal(stage.value)]
