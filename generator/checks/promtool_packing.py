"""Pack independent promtool test cases into few test groups, at check time only.

The committed test file keeps one readable group per case, but promtool pays for every group (each opens its own
test storage and evaluates every rule from time 0 to the group's last eval_time), which made the unit tests the
slowest check of `obsctl generate`. Cases that cannot observe each other give the same answers in one group as
alone, so they share one here.

Cases A and B may share a group only when all of these hold, so that every rule evaluates in the packed group on
the series of at most one of them, exactly as in that case's own group:
- the same group settings (interval, external labels and URL: every group field but name, series and tests);
- no input metric in common (the same series twice would be loaded twice);
- what each observes (the alerts of its alert_rule_test, through their expressions and every recording rule they
  read, transitively; the expressions of its promql_expr_test likewise) reads none of the other's input metrics.
  This covers `absent()`: a rule that reads a metric is affected by its presence as much as by its values;
- no alert observed by both;
- no rule at all reads input metrics of both: even a rule nobody observes fails the whole group when its evaluation
  errors, and series of another case could hide or cause such an error.
Reads are over-approximated (`generator.syntax.promql_names`): a name too many only packs less; a rule whose label or
annotation template runs a `query` of its own may read anything. Eval times need no
rule: a group evaluates up to its largest eval_time, and what a rule returns at a time never depends on later ones.

A packed group that fails is run again with its cases one group each, as the committed file has them, so the
failure names the failing case exactly as an unpacked run does; that run's answer is the one reported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.syntax import fast_yaml
from generator.syntax.promql_names import Reads, expression_reads, series_metric
from generator.truth.types import Duration

# Group fields that hold a case's own data; every other field of a group is a setting packed cases must share.
CASE_FIELDS = ("name", "input_series", "alert_rule_test", "promql_expr_test")
PACKED_NAME_PREFIX = "packed group "
_TEMPLATE_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TEMPLATE_QUERY = re.compile(r"\bquery\b")


@dataclass(frozen=True)
class Metrics:
    """A set of metric names, or every metric (`everything`): what something reads or loads."""

    names: frozenset[str] = frozenset()
    everything: bool = False

    def meets(self, other: Metrics) -> bool:
        if not (self.names or self.everything) or not (other.names or other.everything):
            return False
        return self.everything or other.everything or bool(self.names & other.names)

    def __or__(self, other: Metrics) -> Metrics:
        return Metrics(self.names | other.names, self.everything or other.everything)


@dataclass(frozen=True)
class Rule:
    name: str
    is_alert: bool
    reads: Reads


def rule_reads(rule: dict[str, Any]) -> Reads:
    """What a rule may read: its expression, and anything at all when a label or annotation template runs a query
    of its own (Prometheus' `query` template function reads series the expression does not name)."""
    reads = expression_reads(str(rule.get("expr", "")))
    templates = [str(text) for key in ("labels", "annotations") for text in (rule.get(key) or {}).values()]
    if any(_TEMPLATE_QUERY.search(action) for text in templates for action in _TEMPLATE_ACTION.findall(text)):
        return Reads(reads.names, True, reads.alerts, reads.all_alerts)
    return reads


def rules_of(rule_files: list[Path]) -> list[Rule]:
    rules = []
    for path in rule_files:
        for group in (fast_yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                is_alert = "alert" in rule
                rules.append(Rule(str(rule.get("alert") if is_alert else rule.get("record")), is_alert,
                                  rule_reads(rule)))
    return rules


class RuleReads:
    """Every metric an expression reads, through the recording rules and the alerts (ALERTS series) it reads."""

    def __init__(self, rules: list[Rule]):
        self.records: dict[str, list[Reads]] = {}
        self.alerts: dict[str, list[Reads]] = {}
        for rule in rules:
            (self.alerts if rule.is_alert else self.records).setdefault(rule.name, []).append(rule.reads)

    def closure(self, reads: Reads) -> Metrics:
        names: set[str] = set()
        everything = False
        pending = [reads]
        seen_records: set[str] = set()
        seen_alerts: set[str] = set()
        while pending:
            current = pending.pop()
            names |= current.names
            everything |= current.everything
            records = (current.names & self.records.keys()) - seen_records
            alerts = (set(self.alerts) if current.all_alerts else current.alerts & self.alerts.keys()) - seen_alerts
            seen_records |= records
            seen_alerts |= alerts
            pending += [found for name in records for found in self.records[name]]
            pending += [found for name in alerts for found in self.alerts[name]]
        return Metrics(frozenset(names), everything)

    def of_alert(self, alertname: str) -> Metrics:
        return self.closure(Reads(frozenset(), alerts=frozenset({alertname})))


@dataclass(frozen=True)
class CaseProfile:
    """What one test case loads, observes and which rules its data reaches."""

    settings: str
    inputs: Metrics
    observes: Metrics
    alerts: frozenset[str]  # alert names its tests look at
    all_alerts: bool


def profile(case: dict[str, Any], reads: RuleReads) -> CaseProfile:
    settings = json.dumps({key: value for key, value in case.items() if key not in CASE_FIELDS}, sort_keys=True)
    metrics = [series_metric(str(series.get("series", ""))) for series in case.get("input_series") or []]
    inputs = Metrics(frozenset(m for m in metrics if m is not None), any(m is None for m in metrics))
    observes = Metrics()
    alerts: set[str] = set()
    all_alerts = False
    for test in case.get("alert_rule_test") or []:
        alertname = str(test.get("alertname", ""))
        alerts.add(alertname)
        observes |= reads.of_alert(alertname)
    for test in case.get("promql_expr_test") or []:
        expr = expression_reads(str(test.get("expr", "")))
        alerts |= expr.alerts
        all_alerts |= expr.all_alerts
        observes |= reads.closure(expr)
    return CaseProfile(settings, inputs, observes, frozenset(alerts), all_alerts)


def compatible(a: CaseProfile, b: CaseProfile, rule_reach: list[Metrics]) -> bool:
    """True when neither case can observe the other in one group (the module docstring lists the conditions)."""
    if a.settings != b.settings or a.inputs.meets(b.inputs):
        return False
    if a.observes.meets(b.inputs) or b.observes.meets(a.inputs):
        return False
    if (a.all_alerts and (b.alerts or b.all_alerts)) or (b.all_alerts and a.alerts) or a.alerts & b.alerts:
        return False
    return not any(reach.meets(a.inputs) and reach.meets(b.inputs) for reach in rule_reach)


def last_eval_seconds(case: dict[str, Any]) -> float:
    """The case's largest eval_time: promtool evaluates every rule at every step up to it."""
    seconds = [0.0]
    for test in [*(case.get("alert_rule_test") or []), *(case.get("promql_expr_test") or [])]:
        try:
            seconds.append(Duration.parse(str(test.get("eval_time"))).seconds)
        except ValueError:
            pass  # promtool reports it; the order of packing does not depend on it
    return max(seconds)


def pack(cases: list[dict[str, Any]], rules: list[Rule]) -> list[list[int]]:
    """Indexes of the cases, grouped. Longest-running cases first, each joining the first group all of whose
    members it is compatible with: short cases then ride along in the steps long ones need anyway."""
    reads = RuleReads(rules)
    profiles = [profile(case, reads) for case in cases]
    rule_reach = [reads.closure(rule.reads) for rule in rules]
    groups: list[list[int]] = []
    for index in sorted(range(len(cases)), key=lambda i: -last_eval_seconds(cases[i])):
        home = next((group for group in groups
                     if all(compatible(profiles[index], profiles[member], rule_reach) for member in group)), None)
        if home is None:
            groups.append([index])
        else:
            home.append(index)
    return [sorted(group) for group in groups]


def packed_group(number: int, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """One promtool group holding every listed case's series and tests, under the cases' shared settings; a single
    case stays as it is."""
    if len(cases) == 1:
        return cases[0]
    group: dict[str, Any] = {key: value for key, value in cases[0].items() if key not in CASE_FIELDS}
    group["name"] = f"{PACKED_NAME_PREFIX}{number} ({len(cases)} cases)"
    for field in CASE_FIELDS[1:]:
        items = [item for case in cases for item in case.get(field) or []]
        if items:
            group[field] = items
    return group


def failed_group_names(output: str, names: set[str]) -> set[str]:
    """The groups among `names` that promtool reports as failed: each failure starts `    name: <group name>,`."""
    failed = set()
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("name: ") and text.endswith(",") and text[6:-1] in names:
            failed.add(text[6:-1])
    return failed
