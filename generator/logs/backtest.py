"""Backtest: replay an exported log through every generated Loki rule and tell when each alert would have fired.

The rules are evaluated by the offline LogQL engine (`generator.logql_engine`: Loki's query semantics, the
Prometheus rule manager's pending/firing states); this module only feeds it the export and summarises the alert
transitions it returns: firing episodes per alert, how long they lasted, and how many of them would have paged.

What the replay assumes, and why:
- Every entry gets the bot's stream labels from truth.yaml (`service.log_labels`), since an export is the bot's log,
  plus the labels the export itself carries (Render's labels, syslog header fields). `--label` adds or overrides.
- Evaluation times are aligned to each group's interval (offset 0). A real ruler adds a per-group offset, so an
  alert may fire up to one interval earlier or later there; counts of episodes are what matters here.
- A "page" is an alert going to firing whose tier notifies a human now (`notify: page` or `escalate` in
  truth.yaml `tiers`). Alertmanager may group several into one notification, so this is an upper bound.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.logql_engine import AlertEvent, LogStore, RuleEngine, RuleEvalError, RuleGroup, load_rule_file
from generator.logql_engine.evaluator import labels_key
from generator.logql_engine.stages import LabelSet
from generator.logs.inputs import Entry, LogRecord
from generator.truth import Truth

PAGING_NOTIFY = ("page", "escalate")


@dataclass
class Episode:
    """One alert instance (rule + label set) from pending, through firing, to resolved (or still firing)."""

    alertname: str
    labels: dict[str, str]
    pending_at_ns: int
    fired_at_ns: int | None = None
    resolved_at_ns: int | None = None
    value_at_fire: float | None = None
    summary: str = ""

    def firing_ns(self, end_ns: int) -> int:
        if self.fired_at_ns is None:
            return 0
        return (self.resolved_at_ns if self.resolved_at_ns is not None else end_ns) - self.fired_at_ns


@dataclass
class AlertSummary:
    alertname: str
    tier: str | None
    severity: str | None
    pages: bool
    episodes: list[Episode] = field(default_factory=list)

    @property
    def firings(self) -> list[Episode]:
        return [e for e in self.episodes if e.fired_at_ns is not None]


@dataclass
class BacktestResult:
    start_ns: int
    end_ns: int
    entries: int
    untimed_entries: int
    evaluations: int
    alerts: list[AlertSummary]
    errors: list[RuleEvalError]
    skipped_evaluations: int = 0  # of `evaluations`, those proved no-ops and not computed (see logql_engine.rules)
    late_entries: int = 0  # entries older than the time already evaluated when they were read (see `backtest`)

    @property
    def pages(self) -> int:
        return sum(len(a.firings) for a in self.alerts if a.pages)

    @property
    def firings(self) -> int:
        return sum(len(a.firings) for a in self.alerts)

    def as_json(self) -> dict[str, Any]:
        from generator.logs.report import iso_time

        def episode(e: Episode) -> dict[str, Any]:
            return {"labels": e.labels, "pending_at": iso_time(e.pending_at_ns), "fired_at": iso_time(e.fired_at_ns),
                    "resolved_at": iso_time(e.resolved_at_ns), "firing_s": e.firing_ns(self.end_ns) / 1e9,
                    "value_at_fire": e.value_at_fire, "summary": e.summary}

        return {
            "from": iso_time(self.start_ns), "to": iso_time(self.end_ns), "entries": self.entries,
            "untimed_entries_skipped": self.untimed_entries, "evaluations": self.evaluations,
            "evaluations_skipped_as_idle": self.skipped_evaluations, "late_entries": self.late_entries,
            "firings": self.firings, "pages": self.pages,
            "alerts": [{"alertname": a.alertname, "tier": a.tier, "severity": a.severity, "pages": a.pages,
                        "firings": len(a.firings),
                        "firing_s": sum(e.firing_ns(self.end_ns) for e in a.firings) / 1e9,
                        "longest_s": max((e.firing_ns(self.end_ns) for e in a.firings), default=0) / 1e9,
                        "episodes": [episode(e) for e in a.episodes]} for a in self.alerts],
            "errors": [{"at": iso_time(e.ts_ns), "group": e.group, "rule": e.rule, "message": e.message}
                       for e in self.errors],
        }


def load_rules(rules_dir: Path) -> list[RuleGroup]:
    """Every rule group of a tenant folder (`loki/rules/<tenant>/*.yaml`), in file order."""
    files = sorted(p for p in rules_dir.glob("*.y*ml") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{rules_dir}: no rule files (*.yaml): run `obsctl generate` first")
    return [group for path in files for group in load_rule_file(path)]


def stream_labels(record: LogRecord, base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    return merged_labels(record.labels, base, overrides)


def merged_labels(own: Mapping[str, str], base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """An entry's stream labels: its own, then the bot's from truth.yaml, then `--label` overrides."""
    return {**own, **base, **overrides}


def longest_lookback_ns(groups: Iterable[RuleGroup]) -> int:
    """The longest range window or `for` of any rule: after the last entry, alerts settle within it."""
    groups = list(groups)
    return max([longest_range_ns(groups), *(rule.for_ns for group in groups for rule in group.alert_rules)])


def summarise(events: Iterable[AlertEvent], groups: list[RuleGroup], truth: Truth) -> list[AlertSummary]:
    """Alert transitions -> episodes per rule, every alert rule listed (silent ones too), in rule-file order."""
    summaries: dict[str, AlertSummary] = {}
    for group in groups:
        for rule in group.alert_rules:
            tier = rule.labels.get("tier")
            notify = truth.tier(int(tier)).notify if tier and tier.isdigit() and int(tier) in (1, 2, 3, 4) else None
            summaries.setdefault(rule.name, AlertSummary(rule.name, tier, rule.labels.get("severity"),
                                                         notify in PAGING_NOTIFY))
    open_episodes: dict[tuple[str, tuple[tuple[str, str], ...]], Episode] = {}
    for event in sorted(events, key=lambda e: e.ts_ns):
        key = (event.alertname, tuple(sorted(event.labels.items())))
        episode = open_episodes.get(key)
        if event.state == "pending":
            open_episodes[key] = Episode(event.alertname, dict(event.labels), event.ts_ns)
        elif event.state == "firing":
            if episode is None:  # `for: 0`: straight from inactive to firing
                episode = open_episodes[key] = Episode(event.alertname, dict(event.labels), event.ts_ns)
            episode.fired_at_ns = event.ts_ns
            episode.value_at_fire = event.value
            episode.summary = event.annotations.get("summary", "")
        elif event.state == "inactive" and episode is not None:
            episode.resolved_at_ns = event.ts_ns
            summaries[event.alertname].episodes.append(open_episodes.pop(key))
    for episode in open_episodes.values():  # still pending or firing when the replay ended
        summaries[episode.alertname].episodes.append(episode)
    return list(summaries.values())


def longest_range_ns(groups: Iterable[RuleGroup]) -> int:
    """The longest range window of any rule query: the oldest entry an evaluation at t can see is after t - it."""
    longest = 0

    def walk(node: object) -> None:
        nonlocal longest
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            for item in dataclasses.fields(node):
                value = getattr(node, item.name)
                if item.name == "range_ns" and isinstance(value, int):
                    longest = max(longest, value)
                walk(value)
        elif isinstance(node, tuple | list):
            for value in node:
                walk(value)

    for group in groups:
        for rule in group.alert_rules:
            walk(rule.query)
    return longest


REORDER_SLACK_NS = 5 * 60 * 10**9  # an entry up to this much older than the newest one seen is still in time
STEP_ENTRIES = 50_000  # evaluate (and forget what no window can see any more) after this many entries


def backtest(records: Iterable[LogRecord], groups: list[RuleGroup], truth: Truth,
             overrides: Mapping[str, str] | None = None, until_ns: int | None = None,
             skip_idle: bool = True, reference: bool = False) -> BacktestResult:
    """`backtest_entries` of records."""
    entries = ((record.timestamp_ns, record.line, record.labels) for record in records)
    return backtest_entries(entries, groups, truth, overrides, until_ns, skip_idle, reference)


def backtest_entries(log: Iterable[Entry], groups: list[RuleGroup], truth: Truth,
                     overrides: Mapping[str, str] | None = None, until_ns: int | None = None,
                     skip_idle: bool = True, reference: bool = False) -> BacktestResult:
    """Streams the export: evaluation follows the entries, and the store keeps only the last window (the longest
    rule range) plus the entries read since the last step, so memory does not grow with the export.

    Entries must come in time order, give or take REORDER_SLACK_NS (exports are time-ordered); one older than the
    time already evaluated is still stored for later windows but counted in `late_entries`, since the evaluations
    that should have seen it are done. `skip_idle=False` computes every rule evaluation, `reference=True` takes the
    engine's plain path without the Hyperscan line prefilter (both: same result, slower)."""
    from generator.logs.line_prefilter import HyperscanLinePrefilter

    base, extra = truth.service.log_labels, overrides or {}
    store = LogStore()
    prefilter = None if reference else HyperscanLinePrefilter(groups)
    engine = RuleEngine(groups, store, 0, skip_idle, prefilter, reference)
    window = longest_range_ns(groups)
    entries = untimed = late = since_step = 0
    first: int | None = None
    last: int | None = None
    evaluated: int | None = None  # every aligned time <= this has been evaluated
    series: dict[tuple[tuple[str, str], ...], LabelSet] = {}  # a record's own labels -> its stream's key
    for ts, line, labels in log:
        if ts is None:
            untimed += 1  # no time before the first timed line: Loki would stamp it at ingestion, we cannot
            continue
        entries += 1
        if first is None or ts < first:
            first = ts
        if last is None or ts > last:
            last = ts
        if evaluated is not None and ts <= evaluated:
            late += 1
        own = tuple(labels.items())
        key = series.get(own)
        if key is None:
            if len(series) > 4096:
                series.clear()  # labels that change with every line: keep the memo small
            key = series[own] = labels_key(merged_labels(labels, base, extra))
        store.append_to(key, ts, line)
        since_step += 1
        if since_step >= STEP_ENTRIES:
            since_step = 0
            horizon = last - REORDER_SLACK_NS - 1  # entries at or after the newest one - slack may still arrive
            if until_ns is not None:
                horizon = min(horizon, until_ns)
            if first is not None and (evaluated is None or horizon > evaluated):
                engine.advance(first, horizon)
                evaluated = horizon
                store.drop_through(horizon - window)
    if first is None or last is None:
        return BacktestResult(0, 0, 0, untimed, 0, summarise([], groups, truth), [])
    # after the last entry, run until every window has emptied (plus one interval, as evaluations are aligned)
    settle = longest_lookback_ns(groups) + max(g.interval_ns for g in groups)
    end = until_ns if until_ns is not None else last + settle
    run = engine.advance(first, end)
    return BacktestResult(first, end, entries, untimed, run.evaluations, summarise(run.events, groups, truth),
                          run.errors, run.skipped_evaluations, late)
