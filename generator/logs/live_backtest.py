"""`obsctl backtest --loki URL`: evaluate every generated rule on a live Loki's history through `query_range`, with
the same alert summary (and timeline) as the offline backtest. Loki does the LogQL; this module only steps each
alert's pending/firing state over Loki's answers, exactly as the ruler would (the offline engine's
AlertingRuleState, fed Loki's samples instead of its own).

Bounded: each alert rule is one metric `query_range` per chunk with `step` = its group's interval, evaluation times
aligned to the interval as in the offline backtest. A chunk holds at most min(11,000 points, max_query_length / step)
evaluations (Loki's two limits, see generator.logs.live_loki), or `--chunk`. Only one chunk's answer is in memory.

`--compare` also pulls the raw lines of every rule's stream selector over the same range (log `query_range`,
`direction=forward`, at most `entries_per_request` lines per request, paging on from the last timestamp) and runs
the offline engine on them; any alert episode that differs between the two is reported. The pulled lines are held in
memory, as the offline backtest holds an export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.logql_engine import AlertEvent, LogQLError, LogStore, RuleGroup, evaluate_rules
from generator.logql_engine.evaluator import Evaluator, Sample, labels_key
from generator.logql_engine.rules import AlertingRuleState, AlertRule
from generator.logs.backtest import BacktestResult, Episode, longest_lookback_ns, summarise
from generator.logs.live_loki import (
    DEFAULT_MAX_ENTRIES_PER_QUERY,
    DEFAULT_MAX_QUERY_LENGTH_NS,
    MAX_POINTS_PER_SERIES,
    LokiQueryClient,
    LokiQueryError,
)
from generator.truth import Truth

Progress = Callable[[str, int], None]  # (what is being asked, how many requests are done)


def chunk_spans(first_ns: int, last_ns: int, step_ns: int, chunk_ns: int | None = None,
                max_query_length_ns: int = DEFAULT_MAX_QUERY_LENGTH_NS) -> list[tuple[int, int]]:
    """Evaluation times first, first + step, ... <= last, split into (start, end) requests of whole steps, each
    within Loki's 11,000 points per series and max_query_length (or `chunk_ns` when smaller)."""
    points = min(MAX_POINTS_PER_SERIES, max_query_length_ns // step_ns + 1)
    if chunk_ns is not None:
        points = max(1, min(points, chunk_ns // step_ns + 1))
    spans = []
    start = first_ns
    while start <= last_ns:
        end = min(start + (points - 1) * step_ns, last_ns)
        spans.append((start, end))
        start = end + step_ns
    return spans


def _aligned_after(ts: int, step: int) -> int:
    return -(-ts // step) * step


class _LokiAnswers(Evaluator):
    """An Evaluator whose answer at t is what Loki returned for that step (the rule's own query)."""

    def __init__(self, samples: Mapping[int, list[Sample]]):
        super().__init__(LogStore())
        self.samples = samples

    def instant(self, query: object, t_ns: int) -> list[Sample]:  # type: ignore[override]
        return sorted(self.samples.get(t_ns, []), key=lambda s: s.key)


def _matrix_samples(matrix: Iterable[dict[str, Any]], query: str) -> dict[int, list[Sample]]:
    """Loki's matrix (`values: [[<seconds>, "<value>"], ...]`) as samples per evaluation time in ns."""
    by_time: dict[int, list[Sample]] = {}
    for series in matrix:
        labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
        for point in series.get("values") or []:
            try:
                ts_ns = round(float(point[0]) * 1e9)
                value = float(point[1])
            except (TypeError, ValueError, IndexError):
                raise LokiQueryError(f"query_range {query!r}: malformed matrix point {point!r}") from None
            by_time.setdefault(ts_ns, []).append(Sample(labels, value))
    return by_time


@dataclass
class LiveRun:
    result: BacktestResult
    requests: int
    chunks: int


def _alert_rules(groups: list[RuleGroup]) -> list[tuple[RuleGroup, AlertRule]]:
    return [(g, r) for g in groups for r in g.alert_rules]


def plan_requests(groups: list[RuleGroup], start_ns: int, end_ns: int, chunk_ns: int | None) -> int:
    """How many metric requests the replay makes (for the progress bar)."""
    total = 0
    for group, _rule in _alert_rules(groups):
        first, last = _aligned_after(start_ns, group.interval_ns), end_ns // group.interval_ns * group.interval_ns
        total += len(chunk_spans(first, last, group.interval_ns, chunk_ns))
    return total


def live_backtest(client: LokiQueryClient, groups: list[RuleGroup], truth: Truth, start_ns: int, end_ns: int,
                  chunk_ns: int | None = None, progress: Progress | None = None) -> LiveRun:
    """Every alert rule evaluated by Loki at its group's aligned times in [start, end]; raises LokiQueryError."""
    events: list[AlertEvent] = []
    evaluations = skipped = chunks = 0
    for group, rule in _alert_rules(groups):
        step = group.interval_ns
        state = AlertingRuleState(rule, group.name)
        first, last = _aligned_after(start_ns, step), end_ns // step * step
        for chunk_start, chunk_end in chunk_spans(first, last, step, chunk_ns):
            chunks += 1
            answers = _LokiAnswers(_matrix_samples(
                client.query_range_matrix(rule.expr, chunk_start, chunk_end, step), rule.expr))
            if progress:
                progress(rule.name, client.requests)
            for t in range(chunk_start, chunk_end + 1, step):
                evaluations += 1
                if not state.active and t not in answers.samples:
                    skipped += 1  # an empty result with no alert changes nothing (AlertingRule.Eval)
                    continue
                try:
                    events.extend(state.eval(answers, t))
                except LogQLError as exc:  # e.g. two series with one label set after the rule's labels
                    raise LokiQueryError(f"{rule.name} at {t}: {exc}") from None
    entries = _count_entries(client, groups, start_ns, end_ns)
    result = BacktestResult(start_ns, end_ns, entries, 0, evaluations, summarise(events, groups, truth), [], skipped)
    return LiveRun(result, client.requests, chunks)


def _selectors(groups: list[RuleGroup]) -> list[str]:
    from generator.lint.base import range_aggregations, selector_text

    return list(dict.fromkeys(selector_text(a.log_range.selector)
                              for _g, rule in _alert_rules(groups) for a in range_aggregations(rule.query)))


COUNT_WINDOW_NS = 24 * 3600 * 10**9  # one count per day of range: a modest range window for Loki


def _count_entries(client: LokiQueryClient, groups: list[RuleGroup], start_ns: int, end_ns: int) -> int:
    """Lines of the rules' streams in (start, end], counted by Loki: `sum(count_over_time(selector [1d]))` at each
    day's end (the last window shorter), one request per selector and day."""
    total = 0
    for selector in _selectors(groups):
        window_end = end_ns
        while window_end > start_ns:
            seconds = max(1, (window_end - max(start_ns, window_end - COUNT_WINDOW_NS)) // 10**9)
            query = f"sum(count_over_time({selector} [{seconds}s]))"
            for series in client.query_range_matrix(query, window_end, window_end, seconds * 10**9):
                total += sum(int(float(value)) for _ts, value in series.get("values") or [])
            window_end -= seconds * 10**9
    return total


# --- --compare: the offline engine on the same lines ----------------------------------------------------------------


def pull_lines(client: LokiQueryClient, selector: str, start_ns: int, end_ns: int, store: LogStore,
               entries_per_request: int = DEFAULT_MAX_ENTRIES_PER_QUERY, chunk_ns: int | None = None,
               progress: Progress | None = None) -> int:
    """Every line of `selector` in [start, end) into `store`, page by page (forward, oldest first). A page that is
    full continues from its last timestamp; lines at that timestamp already taken are skipped."""
    pulled = 0
    span = chunk_ns or DEFAULT_MAX_QUERY_LENGTH_NS
    chunk_start = start_ns
    while chunk_start < end_ns:
        chunk_end = min(chunk_start + span, end_ns)
        page_start = chunk_start
        seen_at_start: set[tuple[tuple[tuple[str, str], ...], str]] = set()
        while True:
            streams = client.query_range_streams(selector, page_start, chunk_end, entries_per_request)
            if progress:
                progress(f"lines of {selector}", client.requests)
            page = sorted(((int(ts), labels_key(s.get("stream") or {}), line)
                           for s in streams for ts, line in s.get("values") or []), key=lambda item: item[0])
            for ts, key, line in page:
                if ts == page_start and (key, line) in seen_at_start:
                    continue
                store.append(dict(key), ts, line)
                pulled += 1
            if len(page) < entries_per_request:
                break
            last = page[-1][0]
            if last == page_start and all(ts == last for ts, _k, _l in page):
                raise LokiQueryError(f"{selector}: a full page of {entries_per_request} line(s) at one timestamp "
                                     f"({last}): paging from a timestamp cannot get past it; raise "
                                     "limits_config.max_entries_limit_per_query and the entries per request")
            seen_at_start = {(key, line) for ts, key, line in page if ts == last}
            page_start = last
        chunk_start = chunk_end
    return pulled


def offline_on_pulled_lines(client: LokiQueryClient, groups: list[RuleGroup], truth: Truth, start_ns: int,
                            end_ns: int, entries_per_request: int = DEFAULT_MAX_ENTRIES_PER_QUERY,
                            chunk_ns: int | None = None, progress: Progress | None = None) -> BacktestResult:
    """The offline engine over the same range, on lines pulled from Loki (from one window before `start`, so the
    first evaluations see full windows, as Loki's do)."""
    store = LogStore()
    lookback = longest_lookback_ns(groups)
    pulled = sum(pull_lines(client, selector, start_ns - lookback, end_ns + 1, store, entries_per_request, chunk_ns,
                            progress) for selector in _selectors(groups))
    run = evaluate_rules(groups, store, start_ns, end_ns)
    return BacktestResult(start_ns, end_ns, pulled, 0, run.evaluations, summarise(run.events, groups, truth),
                          run.errors, run.skipped_evaluations)


def _episode_key(episode: Episode) -> tuple[int | None, int | None, tuple[tuple[str, str], ...]]:
    return episode.fired_at_ns, episode.resolved_at_ns, labels_key(episode.labels)


def compare_results(loki: BacktestResult, offline: BacktestResult) -> list[str]:
    """Differences in firing episodes per alert, in words; empty when both agree."""
    from generator.logs.report import iso_time

    def shown(key: tuple[int | None, int | None, tuple[tuple[str, str], ...]]) -> str:
        fired, resolved, _labels = key
        return f"{iso_time(fired)} → {iso_time(resolved) if resolved is not None else 'still firing'}"

    offline_by_name = {a.alertname: a for a in offline.alerts}
    lines = []
    for alert in loki.alerts:
        other = offline_by_name.get(alert.alertname)
        ours = {_episode_key(e) for e in alert.firings}
        theirs = {_episode_key(e) for e in other.firings} if other else set()
        if ours == theirs:
            continue
        lines.append(f"{alert.alertname}: Loki fired {len(ours)} time(s), the offline engine {len(theirs)}")
        lines += [f"  only on Loki:    {shown(k)}" for k in sorted(ours - theirs, key=str)]
        lines += [f"  only offline:    {shown(k)}" for k in sorted(theirs - ours, key=str)]
    lines += [f"offline evaluation error {e.group}/{e.rule}: {e.message}" for e in offline.errors[:5]]
    return lines


__all__ = ["LiveRun", "chunk_spans", "compare_results", "live_backtest", "offline_on_pulled_lines",
           "plan_requests", "pull_lines"]
