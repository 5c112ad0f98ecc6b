"""What a scan found: hits, rate-limit bursts, levels and duration percentiles, in bounded memory; JSON out."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing the matcher (Hyperscan) is not needed to read a report
    from generator.logs.patterns import Kind, WatchedPattern

MAX_EXAMPLES = 20  # hits kept per pattern for the report (counts are always complete)
MAX_VIOLATIONS = 100  # rate-limit bursts kept per pattern (counted in full)


@dataclass(frozen=True)
class Hit:
    pattern_id: str
    kind: Kind
    entry: int  # 1-based line (lines input) or record number
    timestamp_ns: int | None
    text: str  # masked, shortened


@dataclass
class Violation:
    """A burst of rate-limited hits: from the first hit of the window that broke the limit to the last hit that
    still broke it (bursts less than one window apart merge). `hits` counts the burst's hits."""

    start_ns: int
    end_ns: int
    hits: int
    peak_in_window: int


@dataclass
class PatternReport:
    pattern: WatchedPattern
    engine: str
    hits: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    examples: list[Hit] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)  # the first MAX_VIOLATIONS bursts
    violation_count: int = 0
    violating_hits: int = 0
    untimed_hits: int = 0
    _window: deque[int] = field(default_factory=deque, repr=False)
    _last_violation: Violation | None = field(default=None, repr=False)

    @property
    def keeps_examples(self) -> bool:
        """Whether the next hit is kept as an example (else only counted: its text is not needed)."""
        return len(self.examples) < MAX_EXAMPLES

    def add(self, hit: Hit) -> None:
        if self.keeps_examples:
            self.examples.append(hit)
        self.count(hit.timestamp_ns)

    def count(self, ts: int | None) -> None:
        """A hit at `ts` (None: untimed): counted, timed and checked against the rate limit."""
        self.hits += 1
        if ts is None:
            self.untimed_hits += 1
            return
        self.first_ns = ts if self.first_ns is None else min(self.first_ns, ts)
        self.last_ns = ts if self.last_ns is None else max(self.last_ns, ts)
        if self.pattern.kind == "rate_limited":
            self._count_rate(ts)

    def _count_rate(self, ts: int) -> None:
        """Loki's range window is left-open, right-closed: hits in (ts - per, ts] count against the hit at ts."""
        per, allowed = self.pattern.limit_per_ns, self.pattern.limit_count
        assert per is not None and allowed is not None
        window = self._window  # hits still inside the window; exports are time-ordered (a late line counts as now)
        window.append(ts)
        while window and window[0] <= ts - per:
            window.popleft()
        in_window = len(window)
        if in_window <= allowed:
            return
        self.violating_hits += 1
        last = self._last_violation
        if last is not None and ts - last.end_ns < per:
            last.end_ns = max(last.end_ns, ts)
            last.hits += 1
            last.peak_in_window = max(last.peak_in_window, in_window)
        else:  # a new burst: it starts with the oldest hit of the window that broke the limit
            self._last_violation = Violation(window[0], ts, in_window, in_window)
            self.violation_count += 1
            if len(self.violations) < MAX_VIOLATIONS:
                self.violations.append(self._last_violation)


class LatencyHistogram:
    """duration_ms percentiles in bounded memory: exact for whole milliseconds below 100 000 ms, else values are
    kept to 3 significant digits (relative error below 0.5 %)."""

    def __init__(self) -> None:
        self.buckets: Counter[float] = Counter()
        self.count = 0

    @staticmethod
    def bucket(value: float) -> float:
        if value < 100_000 and value == int(value):
            return value
        return float(f"{value:.3g}")

    def add_raw(self, raw_counts: Counter[bytes]) -> None:
        for raw, n in raw_counts.items():
            self.buckets[self.bucket(float(raw))] += n
            self.count += n

    def add_whole(self, counts: dict[int, int]) -> None:
        """Whole milliseconds below 100 000 (their own buckets). Up to 100 000 of them: converted by `map` and
        `dict` (in C), then the smaller of the two bucket sets is added into the larger, key by key."""
        whole: Counter[float] = Counter(dict(zip(map(float, counts), counts.values(), strict=True)))
        smaller, larger = (self.buckets, whole) if len(self.buckets) <= len(whole) else (whole, self.buckets)
        for key, n in smaller.items():
            larger[key] = larger.get(key, 0) + n
        self.buckets = larger
        self.count += sum(counts.values())

    def percentiles(self, qs: Sequence[float]) -> list[float | None]:
        """Nearest-rank percentiles, read off one sort of the buckets: the first value whose running count reaches
        the rank (running counts summed by `accumulate` and searched by `bisect`, in C: a scan's ~20 000 buckets
        walked in Python took 1.3 ms of its serial end)."""
        if not self.count:
            return [None] * len(qs)
        ranks = [max(1, -(-int(q * self.count * 1_000_000) // 1_000_000)) for q in qs]
        values = sorted(self.buckets)
        running = list(accumulate(map(self.buckets.__getitem__, values)))
        # a rank beyond the count (q > 1): the largest
        return [values[min(bisect_left(running, rank), len(values) - 1)] for rank in ranks]

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile."""
        return self.percentiles([q])[0]


@dataclass
class ScanReport:
    source: str
    input_format: str
    bytes_scanned: int = 0
    entries: int = 0
    matched_entries: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    patterns: list[PatternReport] = field(default_factory=list)
    elapsed_s: float = 0.0
    stopped_at_first_forbidden: bool = False
    with_stats: bool = True

    def of_kind(self, kind: Kind) -> list[PatternReport]:
        return [p for p in self.patterns if p.pattern.kind == kind]

    @property
    def forbidden_hits(self) -> int:
        return sum(p.hits for p in self.of_kind("forbidden"))

    @property
    def leaked_secrets(self) -> int:
        return sum(p.hits for p in self.of_kind("secret"))

    @property
    def rate_violations(self) -> int:
        return sum(p.violation_count for p in self.of_kind("rate_limited"))

    @property
    def clean(self) -> bool:
        return not (self.forbidden_hits or self.leaked_secrets or self.rate_violations)

    def as_json(self) -> dict[str, Any]:
        def hit(h: Hit) -> dict[str, Any]:
            return {"entry": h.entry, "time": iso_time(h.timestamp_ns), "line": h.text}

        def pattern(p: PatternReport) -> dict[str, Any]:
            out: dict[str, Any] = {"id": p.pattern.id, "kind": p.pattern.kind, "regex": p.pattern.regex,
                                   "engine": p.engine, "hits": p.hits, "first": iso_time(p.first_ns),
                                   "last": iso_time(p.last_ns), "examples": [hit(h) for h in p.examples]}
            if p.pattern.priority:
                out["priority"] = p.pattern.priority
            if p.pattern.kind == "rate_limited":
                out["limit"] = {"count": p.pattern.limit_count, "per_s": (p.pattern.limit_per_ns or 0) / 1e9}
                out["violation_count"] = p.violation_count
                out["violations"] = [{"start": iso_time(v.start_ns), "end": iso_time(v.end_ns), "hits": v.hits,
                                      "peak_in_window": v.peak_in_window} for v in p.violations]
                out["untimed_hits"] = p.untimed_hits
            return out

        shown = (0.5, 0.9, 0.95, 0.99)
        quantiles = dict(zip((f"p{round(q * 100)}" for q in shown), self.latency.percentiles(shown), strict=True))
        return {
            "source": self.source,
            "format": self.input_format,
            "bytes": self.bytes_scanned,
            "entries": self.entries,
            "entries_matching_a_pattern": self.matched_entries,
            "elapsed_s": round(self.elapsed_s, 3),
            "stopped_at_first_forbidden": self.stopped_at_first_forbidden,
            "summary": {"forbidden_hits": self.forbidden_hits, "leaked_secrets": self.leaked_secrets,
                        "rate_limit_violations": self.rate_violations, "clean": self.clean},
            "levels": dict(sorted(self.levels.items())) if self.with_stats else None,
            "duration_ms": {"count": self.latency.count, "max": max(self.latency.buckets, default=None),
                            **quantiles} if self.with_stats else None,
            "patterns": [pattern(p) for p in self.patterns],
        }


def iso_time(ns: int | None) -> str | None:
    if ns is None:
        return None
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac // 1_000_000:03d}Z"
