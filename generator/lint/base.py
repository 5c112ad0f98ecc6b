"""LogQL rule checks in pint's manner: one check per module, all behind `LintCheck` (a name, a severity, a
`check(rule)` returning located problems), run by `obsctl lint` on generated and hand-written Loki rule files.

A rule is read with the position of every field (`LintRule.where(...)` gives `file:line`), its expression parsed
once by the offline engine (`query` is None, `parse_error` says why, when the expression is outside the engine's
subset: the checks that need the syntax tree then skip it, and `logql-parse` reports it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from generator.checks.base import Problem, Severity
from generator.logql_engine import LogQLError, ast, parse_expr
from generator.logql_engine.gocompat import GoParseError, parse_prometheus_duration_ns
from generator.logql_engine.rules import DEFAULT_INTERVAL_NS
from generator.truth.loader import Positions, TruthError, load_yaml_with_positions


class LintInputError(Exception):
    """A rule file that cannot be read as a Loki rule file at all (the message names file, line and field)."""


@dataclass(frozen=True)
class LintRule:
    """One alerting or recording rule as written, with where each of its fields is."""

    path: str
    positions: Positions
    loc: tuple[str | int, ...]  # ("groups", gi, "rules", ri)
    group: str
    interval_ns: int
    interval_set: bool  # the group names its own interval (else the ruler's default applies)
    data: dict[str, Any]
    query: ast.MetricExpr | None
    parse_error: str | None = None

    @property
    def name(self) -> str:
        return str(self.data.get("alert") or self.data.get("record") or "?")

    @property
    def is_alert(self) -> bool:
        return "alert" in self.data

    @property
    def expr(self) -> str:
        return str(self.data.get("expr", ""))

    def where(self, *fields: str | int) -> str:
        line, _column = self.positions.locate((*self.loc, *fields))
        return f"{self.path}:{line}"

    def aggregations(self) -> list[ast.RangeAggregation]:
        """The expression's range aggregations, left to right; none when it is outside the engine's subset."""
        return range_aggregations(self.query) if self.query is not None else []

    def templates(self) -> Iterator[tuple[str, str, str]]:
        """(section, key, text) of every label and annotation value."""
        for section in ("labels", "annotations"):
            values = self.data.get(section) or {}
            if isinstance(values, dict):
                for key, text in values.items():
                    yield section, str(key), "" if text is None else str(text)


@dataclass
class LintCheck(ABC):
    """One check. Subclasses set `name`, `severity` and `description`, and implement `check`."""

    name: ClassVar[str]
    severity: ClassVar[Severity]
    description: ClassVar[str]
    online: ClassVar[bool] = False  # needs a live Loki (`obsctl lint --online URL`)

    @abstractmethod
    def check(self, rule: LintRule) -> list[Problem]:
        """The problems of one rule; empty when it passes."""

    def check_rules(self, rules: list[LintRule]) -> list[Problem]:
        """The problems of the rules of one file (a check that runs a tool once per file overrides this)."""
        return [problem for rule in rules for problem in self.check(rule)]

    def problem(self, where: str, message: str) -> Problem:
        return Problem(where, message, check=self.name, severity=self.severity)

    def about(self, rule: LintRule, field: str, message: str) -> Problem:
        """A problem at one field of a rule, the message led by the rule's name."""
        return self.problem(rule.where(field), f"{rule.name}: {message}")


class AggregationCheck(LintCheck):
    """A check that looks at each range aggregation of a rule's expression on its own."""

    def check(self, rule: LintRule) -> list[Problem]:
        return [problem for aggregation in rule.aggregations() for problem in self.check_aggregation(rule, aggregation)]

    @abstractmethod
    def check_aggregation(self, rule: LintRule, aggregation: ast.RangeAggregation) -> list[Problem]:
        """The problems of one range aggregation of the rule; empty when it passes."""


def _interval(value: Any) -> int | None:
    try:
        return parse_prometheus_duration_ns(str(value))
    except GoParseError:
        return None


def load_lint_rules(path: Path, default_interval_ns: int = DEFAULT_INTERVAL_NS,
                    display: str | None = None) -> list[LintRule]:
    """Every rule of a Loki rule file. Raises LintInputError when the file is not a rule file."""
    shown = display or str(path)
    try:
        data, positions = load_yaml_with_positions(path, shown)
    except TruthError as exc:
        raise LintInputError("\n".join(str(p) for p in exc.problems)) from None
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise LintInputError(f"{shown}:1: not a Loki rule file (a mapping with a `groups` list)")
    rules: list[LintRule] = []
    for gi, group in enumerate(data["groups"]):
        if not isinstance(group, dict):
            line, _ = positions.locate(("groups", gi))
            raise LintInputError(f"{shown}:{line}: groups[{gi}]: a group is a mapping")
        interval = _interval(group["interval"]) if "interval" in group else default_interval_ns
        if interval is None or interval <= 0:
            line, _ = positions.locate(("groups", gi, "interval"))
            raise LintInputError(f"{shown}:{line}: groups[{gi}].interval: invalid duration {group['interval']!r}")
        for ri, rule in enumerate(group.get("rules") or []):
            if not isinstance(rule, dict):
                line, _ = positions.locate(("groups", gi, "rules", ri))
                raise LintInputError(f"{shown}:{line}: groups[{gi}].rules[{ri}]: a rule is a mapping")
            query: ast.MetricExpr | None = None
            error: str | None = None
            try:
                query = parse_expr(str(rule.get("expr", "")))
            except LogQLError as exc:
                error = str(exc)
            rules.append(LintRule(shown, positions, ("groups", gi, "rules", ri), str(group.get("name", "")),
                                  interval, "interval" in group, rule, query, error))
    return rules


def range_aggregations(expr: ast.MetricExpr) -> list[ast.RangeAggregation]:
    """Every range aggregation in an expression, left to right."""
    if isinstance(expr, ast.RangeAggregation):
        return [expr]
    if isinstance(expr, ast.VectorAggregation):
        return range_aggregations(expr.inner)
    if isinstance(expr, ast.Comparison):
        return range_aggregations(expr.vector)
    return []


def selector_text(selector: ast.StreamSelector) -> str:
    """The stream selector as LogQL (for the series and index-stats APIs)."""
    from generator.syntax.logql import quote_string

    return "{" + ", ".join(f"{m.name}{m.op}{quote_string(m.value, prefer_backticks=False)}"
                           for m in selector.matchers) + "}"


@dataclass
class LintReport:
    problems: list[Problem] = field(default_factory=list)
    rules: int = 0
    files: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")


def run_checks(checks: list[LintCheck], rules: list[LintRule], report: LintReport) -> None:
    """Every check on the rules of one file; problems ordered by line, then by check order."""
    report.files += 1
    report.rules += len(rules)
    found = [(order, problem) for order, lint_check in enumerate(checks) for problem in lint_check.check_rules(rules)]
    found.sort(key=lambda item: (_line_of(item[1].where), item[0]))
    report.problems.extend(problem for _, problem in found)


def _line_of(where: str) -> int:
    _, _, line = where.rpartition(":")
    return int(line) if line.isdigit() else 0


def format_problem(problem: Problem) -> str:
    """`file:line: check-name: message`, as pint prints."""
    return f"{problem.where}: {problem.check}: {problem.message}"
