"""Alert-count impact of a change: replay exported logs through the base side's Loki rules and the head side's, in
one pass over the logs, and count how often each alert would have fired on each side.

One pass, bounded memory: records are read once, in order, into one shared LogStore that both sides' RuleEngines
(generator.logql_engine.rules) evaluate. Every BATCH_ENTRIES records both engines advance to a watermark, the newest
timestamp seen minus REORDER_WINDOW_NS (an export is time-ordered up to small jitter), and entries older than the
watermark minus the longest range window of either side are dropped from the store: no later evaluation can see
them. So the store holds at most (longest window + reorder window + one batch) of log, whatever the export's length.
An entry older than the watermark when it arrives cannot be evaluated any more; it is counted as late and skipped.

Episodes and pages are summarised by generator.logs.backtest's rules (an episode: pending -> firing -> resolved; a
page: an alert of a tier whose `notify` is `page` or `escalate` going to firing).
"""

from __future__ import annotations

import bisect
import gzip
import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any

import yaml

from generator.logql_engine import AlertEvent, LogQLError, LogStore, RuleEngine, RuleGroup, parse_rule_groups
from generator.logs.backtest import PAGING_NOTIFY, longest_lookback_ns, stream_labels, summarise
from generator.logs.inputs import BotLineFormat, InputError, LogRecord, detect_format, peek_head, read_records
from generator.truth import Truth

BATCH_ENTRIES = 5000
REORDER_WINDOW_NS = 60 * 10**9
GZIP_MAGIC = b"\x1f\x8b"


class ImpactError(Exception):
    """The logs or a side's rules could not be replayed; the message names the file."""


def side_rule_groups(artifacts: Mapping[str, str], tenant_dir: str) -> list[RuleGroup]:
    """A side's generated Loki rule groups (`loki/rules/<tenant>/*.yaml`), in file order."""
    groups: list[RuleGroup] = []
    for path in sorted(p for p in artifacts if p.startswith(tenant_dir + "/") and p.endswith((".yaml", ".yml"))):
        try:
            groups.extend(parse_rule_groups(yaml.safe_load(artifacts[path]), path))
        except LogQLError as exc:
            raise ImpactError(f"{path}: {exc}") from None
    return groups


def paging_tiers(truth: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """tier id (as the `tier` label writes it) -> (tier name, notify), read from a side's raw truth."""
    tiers = {}
    for tier in truth.get("tiers") or []:
        if isinstance(tier, dict) and "id" in tier:
            tiers[str(tier["id"])] = (str(tier.get("name", "")), str(tier.get("notify", "")))
    return tiers


def open_log(path: str, stack: ExitStack) -> IO[bytes]:
    """A buffered binary stream of a log file, decompressed when it is gzip (the committed sample week is)."""
    try:
        raw = stack.enter_context(io.BufferedReader(io.FileIO(path, "rb"), buffer_size=1 << 20))
    except OSError as exc:
        raise ImpactError(f"{path}: cannot read: {exc.strerror}") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(stack.enter_context(gzip.open(raw)), buffer_size=1 << 20)  # type: ignore[arg-type]
    return raw


# --- the one-pass replay -------------------------------------------------------------------------------------------


def _drop_before(store: LogStore, cutoff_ns: int) -> None:
    """Forget entries at or before `cutoff_ns` (no window reaches them any more); evaluation caches see a new
    version."""
    dropped = False
    for stream in store.streams:
        i = bisect.bisect_right(stream.entries, cutoff_ns, key=lambda entry: entry[0])
        if i:
            del stream.entries[:i]
            dropped = True
    if dropped:
        store.version += 1


@dataclass
class Replay:
    """What one pass produced for both sides."""

    start_ns: int = 0
    end_ns: int = 0
    entries: int = 0
    untimed_entries: int = 0
    late_entries: int = 0
    peak_entries_held: int = 0  # the most entries the store held at once: the memory bound, measured
    events: tuple[list[AlertEvent], list[AlertEvent]] = field(default_factory=lambda: ([], []))
    errors: tuple[int, int] = (0, 0)


def replay_both(records: Iterable[LogRecord], base_groups: list[RuleGroup], head_groups: list[RuleGroup],
                labels: Mapping[str, str]) -> Replay:
    """Evaluate both rule sets over the records in one pass. `labels`: stream labels every entry gets (truth's)."""
    store = LogStore()
    engines = (RuleEngine(base_groups, store), RuleEngine(head_groups, store))
    all_groups = [*base_groups, *head_groups]
    lookback = longest_lookback_ns(all_groups)
    settle = lookback + max((g.interval_ns for g in all_groups), default=0)
    result = Replay()
    held = 0
    first: int | None = None
    newest: int | None = None
    watermark: int | None = None

    def advance(until: int) -> None:
        assert first is not None
        for engine in engines:
            engine.advance(first, until)

    for record in records:
        ts = record.timestamp_ns
        if ts is None:
            result.untimed_entries += 1
            continue
        if watermark is not None and ts <= watermark:
            result.late_entries += 1
            continue
        first = ts if first is None else first
        newest = ts if newest is None else max(newest, ts)
        store.append(stream_labels(record, labels, {}), ts, record.line)
        result.entries += 1
        held += 1
        if result.entries % BATCH_ENTRIES == 0:
            result.peak_entries_held = max(result.peak_entries_held, held)
            watermark = newest - REORDER_WINDOW_NS
            advance(watermark)
            _drop_before(store, watermark - lookback)
            held = sum(len(s.entries) for s in store.streams)
    result.peak_entries_held = max(result.peak_entries_held, held)
    if first is None or newest is None:
        return result
    result.start_ns, result.end_ns = first, newest + settle
    advance(result.end_ns)
    result.events = (engines[0].run.events, engines[1].run.events)
    result.errors = (len(engines[0].run.errors), len(engines[1].run.errors))
    return result


def replay_files(paths: Iterable[str], line_format: BotLineFormat, base_groups: list[RuleGroup],
                 head_groups: list[RuleGroup], labels: Mapping[str, str]) -> Replay:
    with ExitStack() as stack:
        def records() -> Iterator[LogRecord]:
            for path in paths:
                stream = open_log(path, stack)
                try:
                    fmt = detect_format(peek_head(stream), line_format)
                    yield from read_records(stream, line_format, fmt, source=path)
                except InputError as exc:
                    raise ImpactError(f"{path}: {exc}") from None

        return replay_both(records(), base_groups, head_groups, labels)


# --- summarising ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertCount:
    firings: int
    first_ns: int | None
    longest_ns: int
    tier: str | None


@dataclass(frozen=True)
class AlertImpact:
    name: str
    before: AlertCount | None  # None: the alert does not exist on that side
    after: AlertCount | None

    @property
    def change(self) -> str:
        return "added" if self.before is None else "removed" if self.after is None else "changed"


@dataclass(frozen=True)
class TierPages:
    tier: str
    name: str
    notify: str
    before: int
    after: int


@dataclass
class ImpactReport:
    sources: list[str]
    replay: Replay
    alerts: list[AlertImpact]
    tiers: list[TierPages]


def _counts(groups: list[RuleGroup], events: list[AlertEvent], end_ns: int, truth: Truth) -> dict[str, AlertCount]:
    """Firing episodes per alert (generator.logs.backtest.summarise: pending -> firing -> resolved)."""
    counts = {}
    for summary in summarise(events, groups, truth):
        fired = summary.firings
        counts[summary.alertname] = AlertCount(len(fired), min((e.fired_at_ns or 0 for e in fired), default=None),
                                               max((e.firing_ns(end_ns) for e in fired), default=0), summary.tier)
    return counts


def impact(replay: Replay, sources: list[str], base_groups: list[RuleGroup], head_groups: list[RuleGroup],
           changed: Iterable[str], base_truth: Mapping[str, Any], head_truth: Mapping[str, Any],
           truth: Truth) -> ImpactReport:
    """Per alert that changed, was added or removed, or whose count differs: before and after; pages per tier, each
    side paging by its own truth's tiers. `truth` (the working tree's) only serves the episode summary."""
    before = _counts(base_groups, replay.events[0], replay.end_ns, truth)
    after = _counts(head_groups, replay.events[1], replay.end_ns, truth)
    wanted = set(changed) | (set(before) ^ set(after))
    wanted |= {name for name in set(before) & set(after) if before[name].firings != after[name].firings}
    alerts = [AlertImpact(name, before.get(name), after.get(name)) for name in sorted(wanted)]
    tiers = []
    base_tiers, head_tiers = paging_tiers(base_truth), paging_tiers(head_truth)
    for tier in sorted(set(base_tiers) | set(head_tiers), key=lambda t: (len(t), t)):
        name, notify = head_tiers.get(tier) or base_tiers[tier]

        def pages(counts: dict[str, AlertCount], tiers_of_side: dict[str, tuple[str, str]], tier: str = tier) -> int:
            if tiers_of_side.get(tier, ("", ""))[1] not in PAGING_NOTIFY:
                return 0
            return sum(c.firings for c in counts.values() if c.tier == tier)

        tiers.append(TierPages(tier, name, notify, pages(before, base_tiers), pages(after, head_tiers)))
    return ImpactReport(sources, replay, alerts, tiers)
