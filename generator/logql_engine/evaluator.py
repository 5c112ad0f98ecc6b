"""Instant evaluation of a LogQL metric query at a time t over an in-memory store of log streams.

Window semantics: Loki evaluates a range `[r]` at t over samples with t - r < ts <= t (pkg/logql/range_vector.go,
batchRangeVectorIterator.load: "the lower bound of the range is not inclusive"; pkg/logql/evaluator.go selects
up to t plus one nanosecond: "range iterators work on start exclusive, end inclusive ranges").
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from operator import itemgetter
from typing import Any, Protocol

from generator.logql_engine import ast
from generator.logql_engine.errors import PipelineError
from generator.logql_engine.parser import parse_expr
from generator.logql_engine.regex import matches_label
from generator.logql_engine.stages import ERROR_LABEL, LabelSet, LogPipeline, filter_entries
from generator.syntax.logql import quote_string


@dataclass
class Stream:
    """One log stream: its labels and its entries as (timestamp in ns since the epoch, line)."""

    labels: dict[str, str]
    entries: list[tuple[int, str]] = field(default_factory=list)


def _same_time_duplicate(entries: list[tuple[int, str]], before: int, entry: tuple[int, str]) -> bool:
    """Whether `entry` repeats one of `entries[:before]` with the same timestamp (time-sorted `entries`).

    Loki stores such an entry once: the ingester skips a line equal to the stream's last one at the same timestamp
    (pkg/ingester/stream.go, validateEntries) and the chunk "de-duplicates entries at the same time with the same
    content" (pkg/chunkenc/unordered.go). Counts and quantiles must see it once too."""
    i = before - 1
    while i >= 0 and entries[i][0] == entry[0]:
        if entries[i][1] == entry[1]:
            return True
        i -= 1
    return False


class LogStore:
    """Streams in memory. Streams with identical labels are merged; entries are kept sorted by timestamp."""

    def __init__(self, streams: Iterable[Stream | Mapping[str, Any]] = ()):
        """`streams`: Stream objects or mappings `{"labels": {...}, "entries": [(ts_ns, line), ...]}`."""
        self._streams: dict[LabelSet, Stream] = {}
        self._sorted = True
        self.version = 0  # bumped on every change so evaluation caches know they are stale
        for stream in streams:
            if isinstance(stream, Stream):
                self.add_stream(stream.labels, stream.entries)
            else:
                self.add_stream(stream["labels"], stream["entries"])

    def add_stream(self, labels: Mapping[str, str], entries: Iterable[tuple[int, str]]) -> None:
        for ts, line in entries:
            self.append(labels, ts, line)

    def append(self, labels: Mapping[str, str], ts_ns: int, line: str) -> None:
        self.append_to(labels_key(labels), ts_ns, line)

    def append_to(self, key: LabelSet, ts_ns: int, line: str) -> None:
        """`append` for labels given as their `labels_key` (a replay computes it once per label set, not per line)."""
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = Stream(dict(key))
        entry = (int(ts_ns), line)
        entries = stream.entries
        if entries:
            last = entries[-1][0]
            if last > entry[0]:
                self._sorted = False  # duplicates among out-of-order entries are dropped when sorting
            elif last == entry[0] and _same_time_duplicate(entries, len(entries), entry):
                return
        entries.append(entry)
        self.version += 1

    def drop_through(self, cutoff_ns: int) -> None:
        """Forget every entry at or before `cutoff_ns` (and streams left empty): a replay that has evaluated every
        time up to T keeps only what windows ending after T can still see (T - longest range, ...]."""
        streams = self.streams  # sorted first: the cut is a bisection
        for key, stream in zip(list(self._streams), streams, strict=True):
            cut = bisect.bisect_right(stream.entries, cutoff_ns, key=_entry_time)
            if cut:
                del stream.entries[:cut]
                self.version += 1
            if not stream.entries:
                del self._streams[key]

    @property
    def streams(self) -> list[Stream]:
        if not self._sorted:
            for stream in self._streams.values():
                stream.entries.sort(key=lambda entry: entry[0])  # stable: same-timestamp lines keep their order
                stream.entries[:] = [e for i, e in enumerate(stream.entries)
                                     if not _same_time_duplicate(stream.entries, i, e)]
            self._sorted = True
        return list(self._streams.values())

    def next_entry_after(self, selector: ast.StreamSelector, after_ns: int) -> int | None:
        """The earliest timestamp > `after_ns` of any entry of a stream `selector` matches (None: there is none).
        A bisection per matching stream over its time-sorted entries."""
        earliest: int | None = None
        for stream in self.streams:
            if not selector_matches(selector, stream.labels):
                continue
            i = bisect.bisect_right(stream.entries, after_ns, key=_entry_time)
            if i < len(stream.entries) and (earliest is None or stream.entries[i][0] < earliest):
                earliest = stream.entries[i][0]
        return earliest

    def time_bounds(self) -> tuple[int, int] | None:
        stamps = [ts for s in self.streams for ts in (s.entries[0][0], s.entries[-1][0]) if s.entries]
        return (min(stamps), max(stamps)) if stamps else None


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float

    @property
    def key(self) -> LabelSet:
        return labels_key(self.labels)

    def __str__(self) -> str:
        return f"{format_labels(self.labels)} {self.value!r}"


def _entry_time(entry: tuple[int, str]) -> int:
    return entry[0]


def labels_key(labels: Mapping[str, str]) -> LabelSet:
    if len(labels) < 2:  # one label or none is in order already (a `by (service)` series, per sample)
        return tuple(labels.items())
    return tuple(sorted(labels.items()))


def format_labels(labels: Mapping[str, str]) -> str:
    inner = ", ".join(f"{k}={quote_string(v, prefer_backticks=False)}" for k, v in sorted(labels.items()))
    return "{" + inner + "}"


@dataclass
class _Extraction:
    """Samples one stream contributes to one range aggregation, sorted by time. `uniform`: every sample is in one
    series (a `sum by (service)` over one stream), so a window is a plain slice of `values`."""

    timestamps: list[int]
    values: list[float]
    series: list[LabelSet]
    uniform: bool = True
    _zeros_or_nans: list[int] | None = None

    def window(self, lower: int, t: int) -> tuple[int, int]:
        """The index range of the samples in (lower, t]: a sample at `lower` (t - range) is out, one at t is in."""
        return bisect.bisect_right(self.timestamps, lower), bisect.bisect_right(self.timestamps, t)

    def zeros_or_nans(self) -> list[int]:
        """Prefix counts: how many of `values[:i]` are 0.0, -0.0 or NaN (the values equal sorting may reorder)."""
        if self._zeros_or_nans is None:
            self._zeros_or_nans = list(accumulate((v == 0.0 or v != v for v in self.values), initial=0))
        return self._zeros_or_nans


class LinePrefilter(Protocol):
    """Narrows the entries a line filter has to test (e.g. a multi-pattern scan of a whole stream at once)."""

    def candidates(self, line_filter: ast.LineFilter, stream: Stream, version: int) -> list[tuple[int, str]] | None:
        """A subsequence of `stream.entries` (same tuple objects, same order) holding every entry `line_filter`
        keeps, maybe more; None when it cannot tell. `version` is the store's: results may be cached on it."""
        ...


def _pipeline_key(expr: ast.RangeAggregation) -> tuple[object, ...]:
    """What the samples of a range aggregation depend on (not its range, function or parameter): rules whose
    queries share it share one extraction (`quantile_over_time(0.95, X [5m])` and `(0.5, X [10m])`)."""
    log_range = expr.log_range
    counts_bytes = log_range.unwrap is None and expr.op.startswith("bytes")  # LogPipeline.process's value
    return log_range.selector, log_range.stages, log_range.unwrap, counts_bytes, expr.grouping


def selector_matches(selector: ast.StreamSelector, labels: Mapping[str, str]) -> bool:
    return all(matches_label(m.op, m.value, labels.get(m.name, "")) for m in selector.matchers)


class Evaluator:
    """Evaluates instant queries against one LogStore; each log range is run through its pipeline once and cached
    (a rule evaluated every minute over a week re-reads only the window, not the lines).

    Unless `reference` is set: range aggregations with the same pipeline share one extraction (`_pipeline_key`),
    `line_prefilter` narrows the entries the leading line filters test, and a window of one stream and one series
    is aggregated straight from its slice. `reference=True` is the plain path the differential tests compare with;
    both give the same samples, errors and float arithmetic."""

    def __init__(self, store: LogStore, line_prefilter: LinePrefilter | None = None, reference: bool = False):
        self.store = store
        self.reference = reference
        self.line_prefilter = None if reference else line_prefilter
        self._cache: dict[int, tuple[int, list[_Extraction]]] = {}
        self._keys: dict[int, tuple[ast.RangeAggregation, int]] = {}
        self._pipelines: dict[tuple[object, ...], int] = {}
        self._sample_times: dict[int, tuple[ast.RangeAggregation, int, list[int]]] = {}
        self._sorted_windows: dict[int, _SortedWindow] = {}

    def instant(self, query: str | ast.MetricExpr, t_ns: int) -> list[Sample]:
        """The instant vector of `query` at `t_ns`, sorted by labels. Raises PipelineError like Loki would."""
        expr = parse_expr(query) if isinstance(query, str) else query
        return sorted(self._eval(expr, int(t_ns)), key=lambda s: s.key)

    def _eval(self, expr: ast.MetricExpr, t: int) -> list[Sample]:
        if isinstance(expr, ast.RangeAggregation):
            return self._range_aggregation(expr, t)
        if isinstance(expr, ast.VectorAggregation):
            return _vector_aggregation(expr, self._eval(expr.inner, t))
        if isinstance(expr, ast.Comparison):
            return _comparison(expr, self._eval(expr.vector, t))
        raise TypeError(f"not a metric expression: {expr!r}")

    def _cache_key(self, expr: ast.RangeAggregation) -> int:
        # Keyed by node identity first: hashing a whole syntax tree on every evaluation would cost more than the
        # lookup. The reference path caches per node; the fast path per pipeline, numbered once per node.
        known = self._keys.get(id(expr))
        if known is not None and known[0] is expr:
            return known[1]
        if len(self._keys) > 256:
            self._keys.clear()
            self._cache.clear()  # its keys hold no reference to their node: an id may come back
            self._pipelines.clear()
        if self.reference:
            key = id(expr)
        else:
            key = self._pipelines.setdefault(_pipeline_key(expr), -1 - len(self._pipelines))  # apart from ids
        self._keys[id(expr)] = (expr, key)
        return key

    def _extractions(self, expr: ast.RangeAggregation) -> list[_Extraction]:
        key = self._cache_key(expr)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == self.store.version:
            return cached[1]
        if len(self._cache) > 256:
            self._cache.clear()
        pipeline = LogPipeline(expr.log_range, expr.op, expr.grouping)
        skip = pipeline.leading_line_filters
        result = []
        for stream in self.store.streams:
            if not selector_matches(expr.log_range.selector, stream.labels):
                continue
            entries = stream.entries
            for line_filter in expr.log_range.stages[:skip]:
                entries = self._prefiltered(line_filter, stream, entries)  # type: ignore[arg-type]
                entries = filter_entries(line_filter, entries)  # type: ignore[arg-type]
            extraction = _Extraction([], [], [])
            for ts, line in entries:
                sample = pipeline.process(stream.labels, line, skip)
                if sample is not None:
                    extraction.timestamps.append(ts)
                    extraction.values.append(sample.value)
                    extraction.series.append(labels_key(sample.labels))
            if extraction.timestamps:
                first = extraction.series[0]
                extraction.uniform = all(series == first for series in extraction.series)
                result.append(extraction)
        self._cache[key] = (self.store.version, result)
        return result

    def _prefiltered(self, line_filter: ast.LineFilter, stream: Stream,
                     entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """`entries` (a subsequence of the stream's) less those the prefilter rules out for `line_filter`."""
        if self.line_prefilter is None:
            return entries
        candidates = self.line_prefilter.candidates(line_filter, stream, self.store.version)
        if candidates is None:
            return entries
        if entries is stream.entries:
            return candidates
        kept = {id(entry) for entry in candidates}
        return [entry for entry in entries if id(entry) in kept]

    def next_sample_after(self, expr: ast.RangeAggregation, after_ns: int) -> int | None:
        """The earliest timestamp > `after_ns` of a sample `expr` aggregates (an entry of a matching stream that its
        pipeline keeps, error samples included), None when there is none. The window (t - range, t] holds a sample
        exactly when `next_sample_after(expr, t - range) <= t`. A line the pipeline marks with `__error__` is a sample
        here too, so the window holding it is not empty and `instant` there raises, as Loki does."""
        cached = self._sample_times.get(id(expr))
        if cached is not None and cached[0] is expr and cached[1] == self.store.version:
            times = cached[2]
        else:
            if len(self._sample_times) > 256:
                self._sample_times.clear()
            extractions = self._extractions(expr)
            # one matching stream (the usual export): its own sorted list, no copy
            times = extractions[0].timestamps if len(extractions) == 1 else list(
                heapq.merge(*(e.timestamps for e in extractions)))
            self._sample_times[id(expr)] = (expr, self.store.version, times)
        i = bisect.bisect_right(times, after_ns)
        return times[i] if i < len(times) else None

    def _one_series_window(self, expr: ast.RangeAggregation, extraction: _Extraction, lower: int,
                           t: int) -> list[Sample]:
        """`_range_aggregation` when one stream feeds one series: its samples in (lower, t] are already in time
        order, so the window is a slice; the same checks and the same function over the same values in the same
        order."""
        start, end = extraction.window(lower, t)
        if start == end:
            return []
        series = extraction.series[start]
        _refuse_error_series(series)
        if expr.op == "quantile_over_time" and expr.param is not None:
            ordered = self._sorted_window(expr, extraction, start, end)
            if ordered is not None:
                return [Sample(dict(series), quantile_of_sorted(expr.param, ordered))]
        seconds = expr.log_range.range_ns / 1e9
        return [Sample(dict(series), _range_function(expr, extraction.values[start:end], seconds))]

    def _sorted_window(self, expr: ast.RangeAggregation, extraction: _Extraction, start: int,
                       end: int) -> list[float] | None:
        """`sorted(values[start:end])` updated from this rule's previous window (drop the samples that left, insert
        those that came), or None when the window holds a zero or a NaN. Without them, equal floats are the same
        value, so any sorted list of the window is the one `quantile` sorts; -0.0 == 0.0 and NaN would need the
        sort's own order."""
        specials = extraction.zeros_or_nans()
        previous = self._sorted_windows.pop(id(expr), None)
        if specials[end] != specials[start]:
            return None
        if (previous is not None and previous.expr is expr and previous.extraction is extraction
                and previous.start <= start <= previous.end <= end):
            ordered = previous.ordered
            values = extraction.values
            for value in values[previous.start:start]:
                del ordered[bisect.bisect_left(ordered, value)]
            for value in values[previous.end:end]:
                bisect.insort(ordered, value)
        else:
            ordered = sorted(extraction.values[start:end])
        if len(self._sorted_windows) > 256:
            self._sorted_windows.clear()
        self._sorted_windows[id(expr)] = _SortedWindow(expr, extraction, start, end, ordered)
        return ordered

    def _range_aggregation(self, expr: ast.RangeAggregation, t: int) -> list[Sample]:
        lower = t - expr.log_range.range_ns
        extractions = self._extractions(expr)
        if not self.reference and all(extraction.uniform for extraction in extractions):
            if len(extractions) == 1:
                return self._one_series_window(expr, extractions[0], lower, t)
            if len({extraction.series[0] for extraction in extractions}) == 1:
                return _merged_series_window(expr, extractions, lower, t)
        windows: dict[LabelSet, list[tuple[int, float]]] = defaultdict(list)
        merged: set[LabelSet] = set()
        for extraction in extractions:
            start, end = extraction.window(lower, t)
            if start == end:
                continue
            series_in_window = extraction.series[start:end]
            # Samples of several streams landing in one series (grouping) must be merged in time order.
            merged.update(set(series_in_window).intersection(windows))
            for series, ts, value in zip(series_in_window, extraction.timestamps[start:end],
                                         extraction.values[start:end], strict=True):
                windows[series].append((ts, value))
        for series in windows:
            _refuse_error_series(series)
        seconds = expr.log_range.range_ns / 1e9
        out = []
        for series, points in windows.items():
            if series in merged:
                points.sort(key=lambda point: point[0])  # Loki's iterators merge streams in time order
            out.append(Sample(dict(series), _range_function(expr, [v for _, v in points], seconds)))
        return out


def _refuse_error_series(series: LabelSet) -> None:
    """pkg/logql/evaluator.go RangeVectorEvaluator.Next: "Errors are not allowed in metrics unless they've been
    specifically requested": a window series carrying `__error__` fails the query."""
    if any(name == ERROR_LABEL for name, _ in series):
        raise PipelineError(dict(series))


def _merged_series_window(expr: ast.RangeAggregation, extractions: list[_Extraction], lower: int,
                          t: int) -> list[Sample]:
    """`_range_aggregation` when several streams feed one series (`by (service)` over streams split by `level`):
    their window slices joined and put in time order by one stable sort (ties keep the streams' order, as the
    general path's per-point merge does), without a Python step per point."""
    points: list[tuple[int, float]] = []
    series: LabelSet | None = None
    for extraction in extractions:
        start, end = extraction.window(lower, t)
        if start < end:
            series = extraction.series[start]
            points.extend(zip(extraction.timestamps[start:end], extraction.values[start:end], strict=True))
    if series is None:
        return []
    _refuse_error_series(series)
    points.sort(key=itemgetter(0))
    values = [value for _ts, value in points]
    return [Sample(dict(series), _range_function(expr, values, expr.log_range.range_ns / 1e9))]


@dataclass
class _SortedWindow:
    """The values of one quantile window, `extraction.values[start:end]`, kept sorted from one evaluation to the
    next: a window 15 s later differs by a few samples, so most of the sort is already done."""

    expr: ast.RangeAggregation
    extraction: _Extraction
    start: int
    end: int
    ordered: list[float]


def _range_function(expr: ast.RangeAggregation, values: list[float], seconds: float) -> float:
    """pkg/logql/range_vector.go aggregator(): the per-series function over the window's samples."""
    op = expr.op
    if op == "count_over_time":
        return float(len(values))
    if op == "rate":
        # rateLogs: lines per second, or (with unwrap) the sum of the values per second.
        return (_go_sum(values) if expr.log_range.unwrap else float(len(values))) / seconds
    if op in ("bytes_over_time", "sum_over_time"):
        return _go_sum(values)
    if op == "bytes_rate":
        return _go_sum(values) / seconds
    if op == "avg_over_time":
        return _avg_over_time(values)
    if op == "max_over_time":
        best = values[0]
        for v in values:
            if v > best or math.isnan(best):
                best = v
        return best
    if op == "min_over_time":
        best = values[0]
        for v in values:
            if v < best or math.isnan(best):
                best = v
        return best
    if op == "quantile_over_time":
        assert expr.param is not None
        return quantile(expr.param, values)
    raise ValueError(op)


def _go_sum(values: list[float]) -> float:
    """Left-to-right float64 addition, as Go's `for ... { sum += v }` (not Python's compensated fsum)."""
    total = 0.0
    for v in values:
        total += v
    return total


def _avg_over_time(values: list[float]) -> float:
    """range_vector.go avgOverTime: the incremental mean, with its handling of infinities."""
    mean = 0.0
    count = 0
    for v in values:
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and not math.isnan(v):
                continue
        mean += v / count - mean / count
    return mean


def quantile(q: float, values: list[float]) -> float:
    """range_vector.go quantile (the Prometheus algorithm): sort, rank = q * (n - 1), linear interpolation between
    the two neighbouring samples; NaN for no samples, -Inf for q < 0, +Inf for q > 1."""
    if not values or q < 0 or q > 1:
        return quantile_of_sorted(q, values)
    if any(map(math.isnan, values)):
        ordered = sorted(values, key=_nan_first)  # Go's sort puts NaN first (Less: a<b||isNaN(a))
    else:
        # The same order: both sorts are stable and compare non-NaN floats alike (-0.0 and 0.0 stay as they came).
        ordered = sorted(values)
    return quantile_of_sorted(q, ordered)


def quantile_of_sorted(q: float, ordered: list[float]) -> float:
    """`quantile` of values already in its sort order."""
    if not ordered:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def _nan_first(value: float) -> tuple[bool, float]:
    return not math.isnan(value), value


def _vector_aggregation(expr: ast.VectorAggregation, samples: list[Sample]) -> list[Sample]:
    """pkg/logql/evaluator.go VectorAggEvaluator: group by the listed labels (or all but them), then aggregate."""
    grouping = expr.grouping
    groups: dict[LabelSet, list[float]] = {}
    for sample in samples:
        if grouping.without:
            drop = set(grouping.labels) | {"__name__"}
            labels = {k: v for k, v in sample.labels.items() if k not in drop}
        else:
            labels = {k: v for k, v in sample.labels.items() if k in grouping.labels}
        groups.setdefault(labels_key(labels), []).append(sample.value)
    out = []
    for key, values in groups.items():
        if expr.op == "sum":
            value = 0.0
            for v in values:
                value += v
        elif expr.op == "avg":
            value, count = values[0], 1
            for v in values[1:]:
                count += 1
                value += (v - value) / count
        elif expr.op == "count":
            value = float(len(values))
        elif expr.op == "max":
            value = values[0]
            for v in values[1:]:
                if value < v or math.isnan(value):
                    value = v
        elif expr.op == "min":
            value = values[0]
            for v in values[1:]:
                if value > v or math.isnan(value):
                    value = v
        else:
            raise ValueError(expr.op)
        out.append(Sample(dict(key), value))
    return out


_COMPARISONS = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def _comparison(expr: ast.Comparison, samples: list[Sample]) -> list[Sample]:
    """pkg/logql/syntax MergeBinOp for a vector and a literal: without `bool` keep the vector's samples for which
    the comparison holds (with the vector's value, whichever side the literal is on); with `bool` every sample,
    valued 1 or 0."""
    compare = _COMPARISONS[expr.op]
    out = []
    for sample in samples:
        left, right = (expr.scalar, sample.value) if expr.scalar_on_left else (sample.value, expr.scalar)
        holds = compare(left, right)
        if expr.return_bool:
            out.append(Sample(sample.labels, 1.0 if holds else 0.0))
        elif holds:
            out.append(sample)
    return out
