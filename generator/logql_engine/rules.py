"""Loki ruler rule groups, evaluated over time the way the Prometheus rule manager (which Loki's ruler embeds)
does it: each group at its own interval, each alert inactive -> pending -> firing after `for`, resolved when the
expression returns nothing (Prometheus rules/alerting.go AlertingRule.Eval).

Evaluation times are `offset + k * interval`. Prometheus adds a per-group hash offset (rules/group.go
EvalTimestamp); promtool's unit tests and this engine default to offset 0, i.e. times aligned to the interval.

Idle evaluations are skipped, not computed (a 1s group over a week of logs is 600 000 evaluations per rule). An
evaluation of an alerting rule is provably a no-op when (1) its expression is empty whenever every range window in it
is empty (`window_ranges_deciding_emptiness`), (2) every one of those windows (t - range, t] holds no sample (no entry
of a matching stream that the range's pipeline keeps) and (3) the rule has no alert at all (not pending, not firing,
not resolved-but-kept): AlertingRule.Eval over an empty vector with no alerts changes nothing and reports nothing.
Given the first sample s after t - range, every aligned time in [t, s) satisfies (2) too, so the engine jumps to the
first aligned time >= s (the earliest over the group's rules and ranges). Results are identical to evaluating every
step; `RuleEngine(..., skip_idle=False)` does the latter (the differential tests compare both).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from generator.logql_engine import ast
from generator.logql_engine.errors import LogQLError
from generator.logql_engine.evaluator import Evaluator, LinePrefilter, LogStore, Sample, labels_key
from generator.logql_engine.gocompat import GoParseError, parse_prometheus_duration_ns
from generator.logql_engine.located import Where, load_located_yaml
from generator.logql_engine.parser import parse_expr
from generator.logql_engine.stages import LabelSet
from generator.logql_engine.template import Template, compile_template

AlertState = Literal["inactive", "pending", "firing"]
DEFAULT_INTERVAL_NS = 60 * 10**9  # Loki's ruler default evaluation_interval (1m)
_GROUP_KEYS = {"name", "interval", "limit", "rules"}
_RULE_KEYS = {"alert", "record", "expr", "for", "labels", "annotations"}


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    query: ast.MetricExpr
    for_ns: int
    labels: dict[str, str]
    annotations: dict[str, str]
    label_templates: dict[str, Template]
    annotation_templates: dict[str, Template]


@dataclass(frozen=True)
class RecordingRule:
    """Parsed and validated; Loki sends recorded series to a remote store, so they never feed alerts here."""

    record: str
    expr: str
    query: ast.MetricExpr
    labels: dict[str, str]


@dataclass(frozen=True)
class RuleGroup:
    name: str
    interval_ns: int
    rules: tuple[AlertRule | RecordingRule, ...]
    source: str = ""

    @property
    def alert_rules(self) -> list[AlertRule]:
        return [r for r in self.rules if isinstance(r, AlertRule)]


def _duration(value: Any, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise where.error(f"expected a duration such as 1m, got {value!r}")
    try:
        return parse_prometheus_duration_ns(str(value))
    except GoParseError:
        raise where.error(f"invalid duration {value!r} (use e.g. 30s, 1m, 5m)") from None


def _string_map(value: Any, where: Where) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise where.error("expected a mapping of names to strings")
    return {k: "" if v is None else str(v) for k, v in value.items()}


def parse_rule_groups(data: Any, source: str | Where,
                      default_interval_ns: int = DEFAULT_INTERVAL_NS) -> list[RuleGroup]:
    """Rule groups from a parsed Loki rule file (Prometheus rule-file format, LogQL expressions)."""
    root = source if isinstance(source, Where) else Where(source)
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise root.error("a rule file is a mapping with a `groups` list")
    unknown = set(data) - {"groups"}
    if unknown:
        raise root.error(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    groups = []
    for gi, group in enumerate(data["groups"]):
        where = root / "groups" / gi
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise where.error("a group needs a `name`")
        unknown = set(group) - _GROUP_KEYS
        if unknown:
            raise where.error(f"unknown key(s) {', '.join(sorted(map(str, unknown)))} in group {group['name']!r}")
        if group.get("limit"):
            raise (where / "limit").error("unsupported in the offline engine: a group `limit`")
        interval = _duration(group["interval"], where / "interval") if "interval" in group else default_interval_ns
        if interval <= 0:
            raise (where / "interval").error("interval must be positive")
        rules: list[AlertRule | RecordingRule] = []
        for ri, rule in enumerate(group.get("rules") or []):
            rules.append(_parse_rule(rule, where / "rules" / ri))
        groups.append(RuleGroup(group["name"], interval, tuple(rules), root.source))
    return groups


def _parse_rule(rule: Any, where: Where) -> AlertRule | RecordingRule:
    if not isinstance(rule, dict):
        raise where.error("a rule is a mapping")
    name = rule.get("alert") or rule.get("record")
    named = f" (rule {name})" if name else ""
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise where.error(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}{named}")
    if ("alert" in rule) == ("record" in rule):
        raise where.error("a rule has exactly one of `alert` or `record`")
    expr = rule.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        raise (where / "expr").error(f"must be a LogQL metric query{named}")
    try:
        query = parse_expr(expr)
    except LogQLError as exc:
        raise (where / "expr").error(f"{exc}{named}") from exc
    labels = _string_map(rule.get("labels"), where / "labels")
    if "record" in rule:
        return RecordingRule(str(name), expr, query, labels)
    annotations = _string_map(rule.get("annotations"), where / "annotations")
    for_ns = _duration(rule["for"], where / "for") if rule.get("for") is not None else 0
    try:
        label_templates = {k: compile_template(v) for k, v in labels.items()}
        annotation_templates = {k: compile_template(v) for k, v in annotations.items()}
    except LogQLError as exc:
        raise where.error(f"{exc}{named}") from exc
    return AlertRule(str(name), expr, query, for_ns, labels, annotations, label_templates, annotation_templates)


def load_rule_file(path: str | Path, default_interval_ns: int = DEFAULT_INTERVAL_NS) -> list[RuleGroup]:
    data, where = load_located_yaml(Path(path), "rule file")
    return parse_rule_groups(data, where, default_interval_ns)


# Range operations that yield one sample per series with at least one sample in the window, and nothing else
# (pkg/logql/range_vector.go): all windows empty -> an empty vector. absent_over_time does the opposite.
_EMPTY_WHEN_WINDOWS_EMPTY_RANGE_OPS = frozenset({
    "count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time", "min_over_time",
    "max_over_time", "quantile_over_time"})
# Vector aggregations without a parameter: one output per group of input samples; no input, no output.
_EMPTY_WHEN_INPUT_EMPTY_VECTOR_OPS = frozenset({"sum", "avg", "min", "max", "count"})


def window_ranges_deciding_emptiness(expr: ast.MetricExpr) -> tuple[ast.RangeAggregation, ...] | None:
    """The range aggregations of `expr` such that, when all their windows hold no sample, `expr` is the empty vector;
    None when that cannot be proved for this shape (e.g. `vector(1)`, `absent_over_time`, `or`, a bare number), so
    the rule is evaluated at every step. Proof by structure: each node listed here maps an empty input to an empty
    output; any node not listed refuses."""
    if isinstance(expr, ast.RangeAggregation):
        return (expr,) if expr.op in _EMPTY_WHEN_WINDOWS_EMPTY_RANGE_OPS else None
    if isinstance(expr, ast.VectorAggregation):
        if expr.op not in _EMPTY_WHEN_INPUT_EMPTY_VECTOR_OPS:
            return None
        return window_ranges_deciding_emptiness(expr.inner)
    if isinstance(expr, ast.Comparison):
        # A vector against a number keeps (or, with `bool`, maps) each sample: one output per input sample at most.
        return window_ranges_deciding_emptiness(expr.vector)
    return None


# --- alert state ---------------------------------------------------------------------------------------------------


@dataclass
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_at_ns: int
    value: float
    fired_at_ns: int | None = None
    resolved_at_ns: int | None = None


@dataclass(frozen=True)
class AlertEvent:
    """A state change of one alert instance (one label set of one rule)."""

    ts_ns: int
    group: str
    alertname: str
    labels: dict[str, str]
    state: AlertState  # the new state; "inactive" means resolved (or a pending alert that went away)
    previous: AlertState
    value: float | None
    annotations: dict[str, str]


@dataclass(frozen=True)
class RuleEvalError:
    ts_ns: int
    group: str
    rule: str
    message: str


class AlertingRuleState:
    def __init__(self, rule: AlertRule, group: str):
        self.rule = rule
        self.group = group
        self.active: dict[LabelSet, Alert] = {}
        self.deciding_ranges = window_ranges_deciding_emptiness(rule.query)

    def eval(self, evaluator: Evaluator, ts: int) -> list[AlertEvent]:
        """rules/alerting.go AlertingRule.Eval. A query error leaves every alert as it was (the rule is unhealthy)."""
        samples = evaluator.instant(self.rule.query, ts)  # may raise: caller records the error
        fresh: dict[LabelSet, tuple[Alert, Sample]] = {}
        for sample in samples:
            series = {k: v for k, v in sample.labels.items() if k != "__name__"}
            labels = dict(series)
            for name, template in self.rule.label_templates.items():
                rendered = template.render(series, sample.value)
                if rendered:
                    labels[name] = rendered
                else:
                    labels.pop(name, None)  # labels.Builder.Set with an empty value deletes the label
            labels["alertname"] = self.rule.name
            annotations = {k: t.render(series, sample.value) for k, t in self.rule.annotation_templates.items()}
            key = labels_key(labels)
            if key in fresh:
                raise LogQLError("vector contains metrics with the same labelset after applying alert labels")
            fresh[key] = (Alert(labels, annotations, "pending", ts, sample.value), sample)
        events: list[AlertEvent] = []
        created: set[LabelSet] = set()
        for key, (alert, _sample) in fresh.items():
            existing = self.active.get(key)
            if existing is not None and existing.state != "inactive":
                existing.value = alert.value
                existing.annotations = alert.annotations
                continue
            self.active[key] = alert
            created.add(key)
        for key, alert in list(self.active.items()):
            if key not in fresh:
                if alert.state == "pending":
                    del self.active[key]
                    events.append(self._event(ts, alert, "pending", new_state="inactive"))
                elif alert.state == "firing":
                    alert.state = "inactive"
                    alert.resolved_at_ns = ts
                    events.append(self._event(ts, alert, "firing"))
                else:
                    del self.active[key]  # resolved earlier; nothing left to report
                continue
            if alert.state == "pending" and ts - alert.active_at_ns >= self.rule.for_ns:
                alert.state = "firing"
                alert.fired_at_ns = ts
                # for: 0 creates the alert pending and promotes it in the same evaluation: one transition.
                events.append(self._event(ts, alert, "inactive" if key in created else "pending"))
            elif key in created:
                events.append(self._event(ts, alert, "inactive"))
        return events

    def _event(self, ts: int, alert: Alert, previous: AlertState, new_state: AlertState | None = None) -> AlertEvent:
        return AlertEvent(ts, self.group, self.rule.name, dict(alert.labels), new_state or alert.state, previous,
                          alert.value, dict(alert.annotations))

    def alerts(self, state: AlertState) -> list[Alert]:
        return [a for a in self.active.values() if a.state == state]


@dataclass
class RuleRun:
    """Everything that happened while evaluating rule groups over a time range.

    `evaluations` counts rule evaluations at every aligned time, as the ruler runs them; `skipped_evaluations` is how
    many of those were proved no-ops (see the module docstring) and not computed."""

    events: list[AlertEvent] = field(default_factory=list)
    errors: list[RuleEvalError] = field(default_factory=list)
    evaluations: int = 0
    skipped_evaluations: int = 0


class RuleEngine:
    """Steps rule groups forward in time over one store; query the alert states between steps. `skip_idle` skips
    evaluations proved to be no-ops (see the module docstring); False computes every one. `line_prefilter` and
    `reference` go to the Evaluator (its fast path, or the plain one the differential tests compare with)."""

    def __init__(self, groups: Iterable[RuleGroup], store: LogStore, offset_ns: int = 0, skip_idle: bool = True,
                 line_prefilter: LinePrefilter | None = None, reference: bool = False):
        self.groups = list(groups)
        self.evaluator = Evaluator(store, line_prefilter, reference)
        self.offset_ns = offset_ns
        self.skip_idle = skip_idle
        self.states = [[AlertingRuleState(r, g.name) for r in g.alert_rules] for g in self.groups]
        self.next_eval = [None] * len(self.groups)  # type: list[int | None]
        self.run = RuleRun()

    def _first_eval(self, group: RuleGroup, start_ns: int) -> int:
        k = -((self.offset_ns - start_ns) // group.interval_ns)  # ceil((start - offset) / interval)
        return self.offset_ns + k * group.interval_ns

    def advance(self, start_ns: int, until_ns: int) -> RuleRun:
        """Evaluate every group at each of its aligned times in [start_ns, until_ns] not evaluated yet."""
        heap: list[tuple[int, int]] = []
        for gi, group in enumerate(self.groups):
            t = self.next_eval[gi]
            if t is None:
                t = self._first_eval(group, start_ns)
            heapq.heappush(heap, (t, gi))
        while heap:
            t, gi = heapq.heappop(heap)
            group = self.groups[gi]
            if t > until_ns:
                self.next_eval[gi] = t
                continue
            busy_from = [self._idle_until(state, t) for state in self.states[gi]]
            if t not in busy_from:  # every rule of the group is idle at t: jump to where one may not be
                wake = min((w for w in busy_from if w is not None), default=None)
                resume = self._first_eval(group, wake) if wake is not None else None
                if resume is None or resume > until_ns:
                    # Idle through until_ns. Stop at the first aligned time after it: entries may still be added
                    # to the store before the next advance().
                    resume = t + ((until_ns - t) // group.interval_ns + 1) * group.interval_ns
                self._count_skipped(gi, (resume - t) // group.interval_ns)
                heapq.heappush(heap, (resume, gi))  # re-checked there, in time order with the other groups
                continue
            self._eval_group(gi, t, [w == t for w in busy_from])
            heapq.heappush(heap, (t + group.interval_ns, gi))
        return self.run

    def _idle_until(self, state: AlertingRuleState, t: int) -> int | None:
        """The earliest time >= t at which evaluating this rule may do something: t when it may now (or when
        idleness cannot be proved), None when never again (no sample left in the store for its windows)."""
        if not self.skip_idle or state.active or state.deciding_ranges is None:
            return t
        wake: int | None = None
        for aggregation in state.deciding_ranges:
            try:
                sample_at = self.evaluator.next_sample_after(aggregation, t - aggregation.log_range.range_ns)
            except LogQLError:
                return t  # evaluating reports the error, as without skipping
            if sample_at is None:
                continue
            if sample_at <= t:
                return t  # the window (t - range, t] holds a sample
            wake = sample_at if wake is None else min(wake, sample_at)
        return wake

    def _count_skipped(self, gi: int, steps: int) -> None:
        rules = len(self.states[gi]) * steps
        self.run.evaluations += rules
        self.run.skipped_evaluations += rules

    def _eval_group(self, gi: int, t: int, busy: list[bool]) -> None:
        group = self.groups[gi]
        for state, is_busy in zip(self.states[gi], busy, strict=True):
            self.run.evaluations += 1
            if not is_busy:  # proved a no-op; rules of a group do not affect each other
                self.run.skipped_evaluations += 1
                continue
            try:
                self.run.events.extend(state.eval(self.evaluator, t))
            except LogQLError as exc:
                self.run.errors.append(RuleEvalError(t, group.name, state.rule.name, str(exc)))

    def alerts(self, alertname: str, state: AlertState = "firing") -> list[Alert]:
        return [a for states in self.states for s in states if s.rule.name == alertname for a in s.alerts(state)]

    def rule_names(self) -> set[str]:
        return {r.name for g in self.groups for r in g.alert_rules}


def evaluate_rules(groups: Iterable[RuleGroup], store: LogStore, start_ns: int, end_ns: int,
                   offset_ns: int = 0, skip_idle: bool = True) -> RuleRun:
    """Evaluate rule groups at their aligned times in [start_ns, end_ns]; returns alert transitions and errors.
    `skip_idle=False` computes every evaluation, even those proved to be no-ops (same result, slower)."""
    engine = RuleEngine(groups, store, offset_ns, skip_idle)
    return engine.advance(start_ns, end_ns)

