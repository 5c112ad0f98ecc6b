"""Loki ruler rule groups, evaluated over time the way the Prometheus rule manager (which Loki's ruler embeds)
does it: each group at its own interval, each alert inactive -> pending -> firing after `for`, resolved when the
expression returns nothing (Prometheus rules/alerting.go AlertingRule.Eval).

Evaluation times are `offset + k * interval`. Prometheus adds a per-group hash offset (rules/group.go
EvalTimestamp); promtool's unit tests and this engine default to offset 0, i.e. times aligned to the interval.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from generator.logql_engine import ast
from generator.logql_engine.errors import LogQLError
from generator.logql_engine.evaluator import Evaluator, LogStore, Sample, labels_key
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
    """Everything that happened while evaluating rule groups over a time range."""

    events: list[AlertEvent] = field(default_factory=list)
    errors: list[RuleEvalError] = field(default_factory=list)
    evaluations: int = 0


class RuleEngine:
    """Steps rule groups forward in time over one store; query the alert states between steps."""

    def __init__(self, groups: Iterable[RuleGroup], store: LogStore, offset_ns: int = 0):
        self.groups = list(groups)
        self.evaluator = Evaluator(store)
        self.offset_ns = offset_ns
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
            if t > until_ns:
                self.next_eval[gi] = t
                continue
            self._eval_group(gi, t)
            heapq.heappush(heap, (t + self.groups[gi].interval_ns, gi))
        return self.run

    def _eval_group(self, gi: int, t: int) -> None:
        group = self.groups[gi]
        for state in self.states[gi]:
            self.run.evaluations += 1
            try:
                self.run.events.extend(state.eval(self.evaluator, t))
            except LogQLError as exc:
                self.run.errors.append(RuleEvalError(t, group.name, state.rule.name, str(exc)))

    def alerts(self, alertname: str, state: AlertState = "firing") -> list[Alert]:
        return [a for states in self.states for s in states if s.rule.name == alertname for a in s.alerts(state)]

    def rule_names(self) -> set[str]:
        return {r.name for g in self.groups for r in g.alert_rules}


def evaluate_rules(groups: Iterable[RuleGroup], store: LogStore, start_ns: int, end_ns: int,
                   offset_ns: int = 0) -> RuleRun:
    """Evaluate rule groups at their aligned times in [start_ns, end_ns]; returns alert transitions and errors."""
    engine = RuleEngine(groups, store, offset_ns)
    return engine.advance(start_ns, end_ns)

