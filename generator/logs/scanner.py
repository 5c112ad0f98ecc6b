"""The seed's manual log analysis, made fast: every truth pattern, level and duration over big buffers.

What it finds, per input: forbidden-pattern hits, rate-limit violations (more than `limit.count` hits in any window
of `limit.per`), leaked secrets (shown masked, never in clear), entries per level, and `duration_ms` percentiles.

How a block of whole lines goes through (blocks are taken in input order; a regular file is mapped and read in
place, anything else is read by a thread of its own one block ahead):
- the block is cut in two at a line boundary (a record boundary for record inputs); a worker thread scans the
  second part while this thread scans the first. Scanning a part is Hyperscan over it for the truth patterns
  (`patterns`), then the native kernel counting its lines, levels and durations and numbering the candidate lines
  in the same pass (`line_stats`). Both release the GIL, so the parts use both cores, each thread with its own
  Hyperscan scratch and kernel. No match is lost at the cut: a truth-pattern hit lies within one line (RE2
  confirms it on its line, or record), and each part holds whole lines;
- then, in this thread and in input order (the first part's candidates, then the second's), every candidate line
  is confirmed by RE2 (Loki's engine), numbered and timed, and added to the report (`report`: rate windows are
  counted in input order, so they are exact across parts and blocks). This thread reports a block while the
  worker scans the next one's second part, so it keeps less than half of each block for itself (`_Balance`).
With one core (`os.sched_getaffinity`), and for blocks too small to pay for the hand-over, this thread scans the
whole block itself; a `--tail` pipe's blocks are reported as soon as they are scanned.
"""

from __future__ import annotations

import queue
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from itertools import chain
from pathlib import Path
from typing import Any

from generator.logs.inputs import Batch, BlockData, BotLineFormat, LinesTiming, MappedLines, block_view, cores_available
from generator.logs.line_stats import BlockStats, LineStatsCounter, line_numbers
from generator.logs.patterns import Masker, WatchedPattern, compile_patterns
from generator.logs.report import Hit, PatternReport, ScanReport
from generator.logs.scan_spec import ScanSpec
from generator.syntax.re2_regex import compile_re2

SPLIT_BYTES = 64 * 1024  # a smaller block is scanned by one thread: handing half of it over would cost more


class StopScan(Exception):
    """Raised internally at the first forbidden hit under --fail-fast."""


_DONE = object()


class _Part:
    """What scanning one part of a block found: Hyperscan's candidates (end offset in the block, pattern index),
    sorted, the part's stats (None for a record batch scanned for patterns only), and the CPU time it took."""

    __slots__ = ("candidates", "stats", "cpu_s")

    def __init__(self, candidates: list[tuple[int, int]], stats: BlockStats | None, cpu_s: float):
        self.candidates, self.stats, self.cpu_s = candidates, stats, cpu_s


class _Scanned:
    """A block scanned whole and waiting to be reported."""

    __slots__ = ("batch", "candidates", "stats")

    def __init__(self, batch: Batch, candidates: list[tuple[int, int]], stats: BlockStats | None):
        self.batch, self.candidates, self.stats = batch, candidates, stats


class _Balance:
    """Which share of each block this thread scans; the worker scans the rest. This thread also reports every block
    (RE2 confirms its candidates, in order) while the worker scans the next one, so it takes less than half: the
    share that would have given both threads the same CPU time over the last blocks (a log dense with hits needs
    more confirming, and leaves more of the scanning to the worker)."""

    SMALLEST = 0.05

    def __init__(self) -> None:
        self.share = 0.5
        self._clock = time.thread_time()

    def lap(self) -> float:
        """This thread's CPU time since the last lap (taking a block, reporting one, scanning its part)."""
        now = time.thread_time()
        elapsed, self._clock = now - self._clock, now
        return elapsed

    def update(self, own_s: float, own_scan_s: float, side_scan_s: float) -> None:
        """After a block cut at `share`: this thread's CPU time over the block (`lap`) and scanning its part, and
        the worker's scanning its part."""
        whole_scan_s = own_scan_s + side_scan_s
        if whole_scan_s <= 0:
            return
        balanced = min(max(0.5 - (own_s - own_scan_s) / (2 * whole_scan_s), self.SMALLEST), 0.5)
        self.share += (balanced - self.share) / 4  # smoothed: blocks differ, and CPU clocks tick coarsely


class _Lane:
    """What one thread scans with: a Hyperscan scratch and a line-stats kernel of its own (neither may serve two
    threads at once)."""

    def __init__(self, scratch: Any, counter: LineStatsCounter):
        self.scratch, self.counter = scratch, counter


class _SideThread:
    """Runs `work(batch, start, end)` on a thread of its own, one job at a time, while the caller does something
    else (concurrent.futures would do, but its imports cost `obsctl scan` start-up)."""

    def __init__(self, work: Callable[[Batch, int, int], _Part]):
        self._work = work
        self._jobs: queue.SimpleQueue[tuple[Batch, int, int] | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[_Part | None, BaseException | None]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="scan-half", daemon=True)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._results.put((self._work(*job), None))
            except BaseException as exc:  # noqa: BLE001 (re-raised by result())
                self._results.put((None, exc))

    def start(self, batch: Batch, start: int, end: int) -> None:
        self._jobs.put((batch, start, end))

    def result(self) -> _Part:
        value, error = self._results.get()
        if error is not None:
            raise error
        assert value is not None
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
    the queue and one is being made: with the lines reader's four buffers, the two batches the scan holds (one being
    scanned, one being reported) stay intact."""
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


def _joined(first: BlockStats | None, second: BlockStats | None) -> BlockStats | None:
    """The stats of two consecutive parts as one block's: the second part's lines are numbered after the first's."""
    if first is None or second is None:
        return None
    return BlockStats(first.newlines + second.newlines, first.leveled + second.leveled, first.levels + second.levels,
                      first.durations + second.durations,
                      first.line_numbers + [number + first.newlines for number in second.line_numbers])


class Scanner:
    """Scans batches of entries; keeps only counters and a few examples, so memory does not grow with the input.

    `native=False` counts levels and durations with Hyperscan instead of the native kernel (same answer; the
    benchmark's and the tests' reference lane). `pattern_cache`: a folder to keep the compiled truth patterns in.
    `threads`: 2 scans each big block in two parts at once, 1 in this thread alone (default: 2 when this process
    has two cores or more); blocks under `split_bytes` are never cut.
    """

    def __init__(self, spec: ScanSpec, patterns: list[WatchedPattern] | None = None, with_stats: bool = True,
                 environ: Mapping[str, str] | None = None, native: bool | None = None,
                 pattern_cache: Path | None = None, threads: int | None = None, split_bytes: int = SPLIT_BYTES):
        self.spec = spec
        self.line_format: BotLineFormat = spec.line_format
        self.patterns = list(spec.patterns) if patterns is None else patterns
        self.masker = Masker(spec, environ)
        self.timing = LinesTiming(self.line_format)
        self.compiled = compile_patterns([p.regex for p in self.patterns], pattern_cache)
        self.with_stats = with_stats
        self._native = native
        self.threads = min(threads or cores_available(), 2)
        self.split_bytes = split_bytes
        # this thread's lane (the database's own scratch); the worker's is made on its first block
        self._lanes = [_Lane(None, LineStatsCounter(self.line_format, spec.text_format, native=native))]
        self._compiled_re2: list[Any] | None = None

    @property
    def _re2(self) -> list[Any]:
        """The patterns in RE2, compiled when the first candidate line needs confirming."""
        if self._compiled_re2 is None:
            self._compiled_re2 = [compile_re2(p.regex) for p in self.patterns]
        return self._compiled_re2

    def _side_lane(self) -> _Lane:
        """The worker thread's lane, made on its first use."""
        if len(self._lanes) == 1:
            self._lanes.append(_Lane(self.compiled.new_scratch(),
                                     LineStatsCounter(self.line_format, self.spec.text_format, native=self._native)))
        return self._lanes[1]

    def new_report(self, source: str, input_format: str) -> ScanReport:
        return ScanReport(source, input_format, with_stats=self.with_stats,
                          patterns=[PatternReport(p, e) for p, e in zip(self.patterns, self.compiled.engines,
                                                                          strict=True)])

    def scan(self, batches: Iterable[Batch], report: ScanReport, fail_fast: bool = False,
             on_hit: Callable[[Hit], None] | None = None, on_batch: Callable[[Batch], None] | None = None,
             live: bool = False) -> ScanReport:
        """Batches must come in input order. A `--tail` pipe's (`live`) block is reported before the next is read, so
        its hits show as they arrive; any other block is reported while the worker scans the next one."""
        started = time.perf_counter()
        try:
            # A `--tail` pipe is read in this thread: a reader blocked on the pipe could not be stopped. A mapped
            # file's blocks cost nothing to take: no reader thread either.
            batches = iter(batches)
            first = next(batches, None)
            if first is None:
                return report
            batches = chain([first], batches)
            in_place = live or isinstance(first.data, MappedLines)
            with (_SideThread(self._scan_side_part) if self.threads > 1 else nullcontext()) as side, \
                    (nullcontext(batches) if in_place else _read_ahead(batches)) as ahead:
                balance = _Balance()
                previous: _Scanned | None = None  # scanned, reported while the worker scans the next block
                for batch in ahead:
                    cut = self._hand_over(batch, side, balance)
                    if previous is not None:
                        self._report(previous, report, fail_fast, on_hit, on_batch)
                    scanned = self._scan_own_part(batch, cut, side, balance)
                    if live:  # a `--tail` pipe's hits show as soon as they arrive
                        self._report(scanned, report, fail_fast, on_hit, on_batch)
                    else:
                        previous = scanned
                if previous is not None:
                    self._report(previous, report, fail_fast, on_hit, on_batch)
        except StopScan:
            report.stopped_at_first_forbidden = True
        finally:
            own_lane, *other_lanes = self._lanes
            for lane in other_lanes:
                own_lane.counter.absorb(lane.counter)
            report.latency.add_whole(own_lane.counter.take_whole_durations())
            report.elapsed_s += time.perf_counter() - started
        return report

    def _hand_over(self, batch: Batch, side: _SideThread | None, balance: _Balance) -> int | None:
        """Start the worker on the block's second part, when it is worth cutting; where the cut is, or None."""
        size = len(batch.data)
        cut = self._cut(batch, balance.share) if side is not None and size >= self.split_bytes else None
        if cut is not None:
            assert side is not None
            side.start(batch, cut, size)
        return cut

    def _scan_own_part(self, batch: Batch, cut: int | None, side: _SideThread | None,
                       balance: _Balance) -> _Scanned:
        """Scan the block up to the cut (all of it without one), then join the worker's part."""
        own = self._scan_part(self._lanes[0], batch, 0, len(batch.data) if cut is None else cut)
        own_s = balance.lap()
        if cut is None:
            return _Scanned(batch, own.candidates, own.stats)
        assert side is not None
        other = side.result()
        balance.update(own_s, own.cpu_s, other.cpu_s)
        return _Scanned(batch, own.candidates + other.candidates, _joined(own.stats, other.stats))

    def _report(self, scanned: _Scanned, report: ScanReport, fail_fast: bool, on_hit: Callable[[Hit], None] | None,
                on_batch: Callable[[Batch], None] | None) -> None:
        """Add a scanned block to the report: its stats, and its candidates confirmed in input order."""
        batch, candidates, stats = scanned.batch, scanned.candidates, scanned.stats
        if self.compiled.re2_only:
            candidates = sorted(candidates + self._re2_candidates(batch.data))
            if stats is not None and batch.starts is None:
                stats.line_numbers = line_numbers(batch.data, [end - 1 for end, _index in candidates])
        self._finish_batch(batch, candidates, stats, report, fail_fast, on_hit)
        if on_batch:
            on_batch(batch)

    @staticmethod
    def _cut(batch: Batch, share: float = 0.5) -> int | None:
        """Where to cut a block in two, `share` of the way in: after a newline (lines), at a record's start
        (records: a record's line may hold newlines, and RE2 judges it whole); None when there is no such place."""
        middle = int(len(batch.data) * share)
        if batch.starts is None:
            cut = batch.data.find(b"\n", middle) + 1
            return cut if 0 < cut < len(batch.data) else None
        index = bisect_left(batch.starts, middle)
        return batch.starts[index] if 0 < index < len(batch.starts) else None

    def _scan_side_part(self, batch: Batch, start: int, end: int) -> _Part:
        return self._scan_part(self._side_lane(), batch, start, end)

    def _scan_part(self, lane: _Lane, batch: Batch, start: int, end: int) -> _Part:
        """Hyperscan, then the kernel (which numbers the candidates' lines), over batch.data[start:end]."""
        clock = time.thread_time()
        data = batch.data
        whole = start == 0 and end == len(data)
        with block_view(data) as view, (nullcontext(view) if whole else view[start:end]) as part:
            candidates = sorted(self.compiled.match_ends(part, lane.scratch))
            stats = self._count(lane.counter, batch, part, [found - 1 for found, _index in candidates])
        if start:
            candidates = [(found + start, index) for found, index in candidates]
        return _Part(candidates, stats, time.thread_time() - clock)

    def _count(self, counter: LineStatsCounter, batch: Batch, part: memoryview,
               candidate_offsets: list[int]) -> BlockStats | None:
        """Lines, levels and durations of a part, and the lines of its candidates (lines input: records are
        numbered by the batch); None for a record batch scanned for patterns only."""
        records = batch.entries is not None
        if records and not self.with_stats:
            return None
        return counter.count(part, with_levels=self.with_stats and not records, with_durations=self.with_stats,
                             number=() if records else candidate_offsets)

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
                numbers = stats.line_numbers if batch.starts is None and stats is not None else None
                self._confirm(batch, candidates, numbers, report, fail_fast, on_hit)
        finally:  # also under --fail-fast: the block's levels were counted whole, so are its entries
            report.entries += batch.entries
            if leveled is not None and batch.entries > leveled:
                report.levels["(none)"] += batch.entries - leveled

    def _re2_candidates(self, data: BlockData) -> list[tuple[int, int]]:
        """The lines of patterns Hyperscan does not take, matched by RE2 line by line."""
        found: list[tuple[int, int]] = []
        for index in self.compiled.re2_only:
            regex = self._re2[index]
            offset = 0
            for raw in data.split(b"\n")[:-1]:
                if regex.search(raw.decode("utf-8", "replace").removesuffix("\r")) is not None:
                    found.append((offset + len(raw), index))
                offset += len(raw) + 1
        return found

    def _confirm(self, batch: Batch, candidates: list[tuple[int, int]], line_numbers: list[int] | None,
                 report: ScanReport, fail_fast: bool, on_hit: Callable[[Hit], None] | None) -> None:
        data = batch.data
        first_entry = batch.first_entry or 1
        seen: set[tuple[int, int]] = set()  # (line number or record start, pattern index)
        matched_starts: set[int] = set()
        for position, (end, index) in enumerate(candidates):
            # The line holding the match's last byte. A match that crossed a newline is judged on the line it ends
            # in (and rejected there by RE2): a match inside the earlier line is reported with its own end offset.
            # A line is judged once per pattern (Hyperscan reports each end of a match: `\w{16,}` ends many times);
            # a numbered line's repeats are skipped before its bounds are looked up.
            if line_numbers is not None:
                where = line_numbers[position]
            else:
                start, stop, record = batch.entry_bounds(end - 1)
                where = start
            if (where, index) in seen:
                continue
            seen.add((where, index))
            if line_numbers is not None:
                start, stop, record = batch.entry_bounds(end - 1)
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
            pattern, found = self.patterns[index], report.patterns[index]
            if on_hit or found.keeps_examples:
                hit = Hit(pattern.id, pattern.kind, entry, ts, self.masker.mask(line))
                found.add(hit)
                if on_hit:
                    on_hit(hit)
            else:  # neither kept nor shown: its line need not be masked
                found.count(ts)
            if fail_fast and pattern.kind == "forbidden":
                report.matched_entries += len(matched_starts)
                raise StopScan
        report.matched_entries += len(matched_starts)
