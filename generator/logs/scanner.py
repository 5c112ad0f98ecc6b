"""The seed's manual log analysis, made fast: every truth pattern, level and duration over big buffers.

What it finds, per input: forbidden-pattern hits, rate-limit violations (more than `limit.count` hits in any window
of `limit.per`), leaked secrets (shown masked, never in clear), entries per level, and `duration_ms` percentiles.

How a block of whole lines goes through (blocks are taken in input order, at most three held at a time):
- a worker thread counts the block's lines, levels and durations (`line_stats`: a native kernel that releases the
  GIL) while this thread runs Hyperscan over it for the truth patterns (`patterns`: Hyperscan releases the GIL
  too), so the two use both cores;
- then, in this thread and in input order, every candidate line is confirmed by RE2 (Loki's engine), numbered and
  timed, and added to the report (`report`: rate windows are counted in input order, so they are exact across
  blocks).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from generator.logs.inputs import Batch, BotLineFormat, Buffer, LinesTiming
from generator.logs.line_stats import BlockStats, LineStatsCounter, count_newlines
from generator.logs.patterns import Masker, WatchedPattern, compile_patterns
from generator.logs.report import Hit, PatternReport, ScanReport
from generator.logs.scan_spec import ScanSpec
from generator.syntax.re2_regex import compile_re2


class StopScan(Exception):
    """Raised internally at the first forbidden hit under --fail-fast."""


def _line_numbers(data: Buffer, offsets: list[int]) -> list[int]:
    """For ascending byte offsets, how many newlines precede each one. One pass up to the last offset."""
    numbers: list[int] = []
    position = newlines = 0
    for offset in offsets:
        newlines += count_newlines(data, position, offset)
        position = offset
        numbers.append(newlines)
    return numbers


_DONE = object()


class _SideThread:
    """Runs `work(batch)` on a thread of its own, one batch at a time, while the caller does something else with
    it (concurrent.futures would do, but its imports cost `obsctl scan` start-up)."""

    def __init__(self, work: Callable[[Batch], BlockStats | None]):
        self._work = work
        self._jobs: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[BlockStats | None, BaseException | None]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="line-stats", daemon=True)

    def _run(self) -> None:
        while (batch := self._jobs.get()) is not None:
            try:
                self._results.put((self._work(batch), None))
            except BaseException as exc:  # noqa: BLE001 (re-raised by result())
                self._results.put((None, exc))

    def start(self, batch: Batch) -> None:
        self._jobs.put(batch)

    def result(self) -> BlockStats | None:
        value, error = self._results.get()
        if error is not None:
            raise error
        return value

    def __enter__(self) -> _SideThread:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._jobs.put(None)
        self._thread.join()


@contextmanager
def _read_ahead(batches: Iterable[Batch]) -> Iterator[Iterator[Batch]]:
    """The batches, read (and for record inputs, parsed natively) by a thread of their own one batch ahead, so that
    reading runs while the previous batch is scanned. Errors reach the consumer in input order. One batch waits in
    the queue and one is being made: with the lines reader's three buffers, the batch being scanned stays intact."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                handoff.put(batch)
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the consumer)
            handoff.put(exc)

    def consume() -> Iterator[Batch]:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        yield consume()
    finally:
        stop.set()
        try:  # unblock a producer waiting to hand over one more batch: it then sees `stop`
            handoff.get_nowait()
        except queue.Empty:
            pass
        producer.join()


class Scanner:
    """Scans batches of entries; keeps only counters and a few examples, so memory does not grow with the input.

    `native=False` counts levels and durations with Hyperscan instead of the native kernel (same answer; the
    benchmark's and the tests' reference lane). `pattern_cache`: a folder to keep the compiled truth patterns in.
    """

    def __init__(self, spec: ScanSpec, patterns: list[WatchedPattern] | None = None, with_stats: bool = True,
                 environ: Mapping[str, str] | None = None, native: bool | None = None,
                 pattern_cache: Path | None = None):
        self.spec = spec
        self.line_format: BotLineFormat = spec.line_format
        self.patterns = list(spec.patterns) if patterns is None else patterns
        self.masker = Masker(spec, environ)
        self.timing = LinesTiming(self.line_format)
        self.compiled = compile_patterns([p.regex for p in self.patterns], pattern_cache)
        self.with_stats = with_stats
        self.counter = LineStatsCounter(self.line_format, spec.text_format, native=native)
        self._compiled_re2: list[Any] | None = None

    @property
    def _re2(self) -> list[Any]:
        """The patterns in RE2, compiled when the first candidate line needs confirming."""
        if self._compiled_re2 is None:
            self._compiled_re2 = [compile_re2(p.regex) for p in self.patterns]
        return self._compiled_re2

    def new_report(self, source: str, input_format: str) -> ScanReport:
        return ScanReport(source, input_format, with_stats=self.with_stats,
                          patterns=[PatternReport(p, e) for p, e in zip(self.patterns, self.compiled.engines,
                                                                          strict=True)])

    def scan(self, batches: Iterable[Batch], report: ScanReport, fail_fast: bool = False,
             on_hit: Callable[[Hit], None] | None = None, on_batch: Callable[[Batch], None] | None = None,
             live: bool = False) -> ScanReport:
        """Batches must come in input order. Each block is reported before the next is read, so a `--tail` pipe
        (`live`) shows hits as they arrive."""
        started = time.perf_counter()
        try:
            # a `--tail` pipe is read in this thread: a reader blocked on the pipe could not be stopped
            with _SideThread(self._count) as counting, \
                    (nullcontext(iter(batches)) if live else _read_ahead(batches)) as ahead:
                for batch in ahead:
                    counting.start(batch)
                    candidates = sorted(self.candidates(batch.data))  # inside Hyperscan while the worker counts
                    self._finish_batch(batch, candidates, counting.result(), report, fail_fast, on_hit)
                    if on_batch:
                        on_batch(batch)
        except StopScan:
            report.stopped_at_first_forbidden = True
        finally:
            report.latency.add_whole(self.counter.take_whole_durations())
            report.elapsed_s += time.perf_counter() - started
        return report

    def _count(self, batch: Batch) -> BlockStats | None:
        """Lines, levels and durations of a block; None for a record batch scanned for patterns only."""
        records = batch.entries is not None
        if records and not self.with_stats:
            return None
        return self.counter.count(batch.data, with_levels=self.with_stats and not records,
                                  with_durations=self.with_stats)

    def _finish_batch(self, batch: Batch, candidates: list[tuple[int, int]], stats: BlockStats | None,
                      report: ScanReport, fail_fast: bool, on_hit: Callable[[Hit], None] | None) -> None:
        """Account for the block's entries and stats, then confirm its candidates (sorted by end offset) in order."""
        report.bytes_scanned += len(batch.data)
        if batch.first_entry is None:
            batch.first_entry = report.entries + 1
        if batch.entries is None:
            assert stats is not None
            batch.entries = stats.newlines
        leveled: int | None = None
        if self.with_stats and stats is not None:
            if batch.level_counts is not None:  # records carry their level (the line's, else the transport's)
                levels, leveled = batch.level_counts, sum(batch.level_counts.values())
            elif batch.levels is not None:
                levels = Counter(level for level in batch.levels if level)
                leveled = sum(levels.values())
            else:
                levels, leveled = stats.levels, stats.leveled
            report.levels.update(levels)
            report.latency.add_raw(stats.durations)
        try:
            if candidates:
                numbers = _line_numbers(batch.data, [end - 1 for end, _index in candidates]) \
                    if batch.starts is None else None
                self._confirm(batch, candidates, numbers, report, fail_fast, on_hit)
        finally:  # also under --fail-fast: the block's levels were counted whole, so are its entries
            report.entries += batch.entries
            if leveled is not None and batch.entries > leveled:
                report.levels["(none)"] += batch.entries - leveled

    def candidates(self, data: Buffer) -> list[tuple[int, int]]:
        """(end offset, pattern index) of every possible truth-pattern match; RE2 confirms them afterwards."""
        found: list[tuple[int, int]] = []
        if self.compiled.database is not None:
            def on_match(pattern_id: int, _start: int, end: int, _flags: int, _context: object) -> None:
                found.append((end, pattern_id))

            self.compiled.database.scan(data, match_event_handler=on_match)
        for index in self.compiled.re2_only:
            found.extend(self._re2_line_candidates(data, index))
        return found

    def _re2_line_candidates(self, data: Buffer, index: int) -> Iterator[tuple[int, int]]:
        regex = self._re2[index]
        offset = 0
        for raw in data.split(b"\n")[:-1]:
            if regex.search(raw.decode("utf-8", "replace").removesuffix("\r")) is not None:
                yield offset + len(raw), index
            offset += len(raw) + 1

    def _confirm(self, batch: Batch, candidates: list[tuple[int, int]], line_numbers: list[int] | None,
                 report: ScanReport, fail_fast: bool, on_hit: Callable[[Hit], None] | None) -> None:
        data = batch.data
        first_entry = batch.first_entry or 1
        seen: set[tuple[int, int]] = set()
        matched_starts: set[int] = set()
        for position, (end, index) in enumerate(candidates):
            # The line holding the match's last byte. A match that crossed a newline is judged on the line it ends
            # in (and rejected there by RE2): a match inside the earlier line is reported with its own end offset.
            start, stop, record = batch.entry_bounds(end - 1)
            if (start, index) in seen:
                continue
            seen.add((start, index))
            line = data[start:stop].decode("utf-8", "replace")
            if batch.starts is None:
                line = line.removesuffix("\r")
            if self._re2[index].search(line) is None:
                continue
            if line_numbers is not None:
                entry = first_entry + line_numbers[position]
                ts = self.timing.timestamp_at(batch, start, stop)
            else:
                entry = first_entry + record
                ts = batch.timestamps[record] if batch.timestamps is not None else None
            matched_starts.add(start)
            pattern = self.patterns[index]
            hit = Hit(pattern.id, pattern.kind, entry, ts, self.masker.mask(line))
            report.patterns[index].add(hit)
            if on_hit:
                on_hit(hit)
            if fail_fast and pattern.kind == "forbidden":
                report.matched_entries += len(matched_starts)
                raise StopScan
        report.matched_entries += len(matched_starts)
