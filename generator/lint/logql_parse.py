"""`logql-parse`: the expression must parse. Outside the offline engine's subset it is reported as not analysed
(a warning: Loki may accept it, but the other checks and `obsctl test` cannot look at it)."""

from __future__ import annotations

from generator.checks.base import Problem
from generator.lint.base import LintCheck, LintRule

UNSUPPORTED = "unsupported in the offline engine"


class LogqlParse(LintCheck):
    name = "logql-parse"
    severity = "error"
    description = "the expression parses as a LogQL metric query"

    def check(self, rule: LintRule) -> list[Problem]:
        if rule.parse_error is None:
            return []
        if UNSUPPORTED in rule.parse_error:
            return [Problem(rule.where("expr"), f"{rule.name}: not analysed: {rule.parse_error}", check=self.name,
                            severity="warning")]
        return [self.about(rule, "expr", f"{rule.parse_error}")]
