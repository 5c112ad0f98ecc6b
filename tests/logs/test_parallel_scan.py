"""A block cut in two halves, scanned by two threads at once, gives exactly the report one thread gives: on random
logs in all three formats, and where the cut matters most (hits on the lines either side of it, a rate-limit burst
across it, an untimed line right after it)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from generator.logs.inputs import Batch, InputFormat, iter_batches
from generator.logs.scan_spec import ScanSpec
from generator.logs.scanner import Scanner, _Balance
from generator.truth import Truth
from tests.logs import random_logs

_SCANNERS: dict[tuple[int, bool, bool | None], Scanner] = {}


def scan(truth: Truth, data: bytes, fmt: str, threads: int, chunk: int = 1 << 20, with_stats: bool = True,
         native: bool | None = None) -> dict:
    """The report of a scan by one thread, or by two cutting every block of two lines or more in halves."""
    key = (threads, with_stats, native)
    if key not in _SCANNERS:  # a scanner serves scan after scan (the CLI's does, one per input)
        _SCANNERS[key] = Scanner(ScanSpec.from_truth(truth), with_stats=with_stats, environ={}, native=native,
                                 threads=threads, split_bytes=1)
    scanner = _SCANNERS[key]
    report = scanner.new_report("test", fmt)
    scanner.scan(iter_batches(io.BufferedReader(io.BytesIO(data)), scanner.line_format, InputFormat(fmt),
                              chunk_bytes=chunk, reuse_buffers=True), report)
    return json.loads(json.dumps(random_logs.report_document(report)))


def cut_in_halves(truth: Truth, data: bytes) -> int:
    """Where the scanner cuts a one-block text input."""
    (batch,) = iter_batches(io.BufferedReader(io.BytesIO(data)), ScanSpec.from_truth(truth).line_format,
                            InputFormat.LINES)
    cut = Scanner._cut(batch)
    assert cut is not None
    return cut


def text_line(second: int, level: str, message: str) -> str:
    return f"2026-11-29 10:{second // 60:02d}:{second % 60:02d},000 - bot.test - {level} - {message}"


def examples(document: dict, pattern_id: str) -> list[tuple[int, str | None]]:
    (pattern,) = [p for p in document["patterns"] if p["id"] == pattern_id]
    return [(hit["entry"], hit["time"]) for hit in pattern["examples"]]


@pytest.mark.parametrize("fmt", random_logs.FORMATS)
@pytest.mark.parametrize("native", [True, False])
def test_blocks_cut_in_halves_report_exactly_what_one_thread_reports_on_random_logs(truth: Truth, fmt: str,
                                                                                    native: bool) -> None:
    for seed in random_logs.SEEDS:
        data = random_logs.render(seed, truth, fmt)
        for chunk in (997, 8192, 1 << 20):  # many blocks, a few, one
            for with_stats in (True, False):
                alone = scan(truth, data, fmt, threads=1, chunk=chunk, with_stats=with_stats, native=native)
                halves = scan(truth, data, fmt, threads=2, chunk=chunk, with_stats=with_stats, native=native)
                assert halves == alone, (seed, fmt, chunk, with_stats)


def test_hits_on_the_first_and_last_lines_of_each_half_keep_their_numbers_and_times(truth: Truth) -> None:
    def log(hit_lines: set[int]) -> bytes:  # `Queue null` does not match `Queue full`: all lines are as long
        return "".join(text_line(second, "ERROR", "Queue full" if second in hit_lines else "Queue null") + "\n"
                       for second in range(101)).encode()

    first_half = log(set())[:cut_in_halves(truth, log(set()))].count(b"\n")
    edges = {0, first_half - 1, first_half, 100}  # first and last line of each half, 0-based
    data = log(edges)
    assert data[:cut_in_halves(truth, data)].count(b"\n") == first_half
    document = scan(truth, data, "lines", threads=2)
    assert document == scan(truth, data, "lines", threads=1)
    assert examples(document, "queue_full") == [(line + 1, f"2026-11-29T10:{line // 60:02d}:{line % 60:02d}.000Z")
                                                for line in sorted(edges)]
    assert (document["entries"], document["entries_matching_a_pattern"]) == (101, 4)


def test_a_rate_limit_burst_across_the_cut_is_one_violation(truth: Truth) -> None:
    lines = [text_line(second, "INFO", "all good") for second in range(0, 100)]
    for second in (48, 49, 50, 51, 52):  # around the middle: five duplicates within 30 s, limit one per 30 s
        lines[second] = text_line(second, "WARNING", f"Duplicate update_id {second}")
    data = ("\n".join(lines) + "\n").encode()
    cut = cut_in_halves(truth, data)
    assert 48 < data[:cut].count(b"\n") < 52  # the cut falls inside the burst
    document = scan(truth, data, "lines", threads=2)
    assert document == scan(truth, data, "lines", threads=1)
    (pattern,) = [p for p in document["patterns"] if p["id"] == "duplicate_update_id"]
    assert pattern["violation_count"] == 1
    assert pattern["violations"] == [{"start": "2026-11-29T10:00:48.000Z", "end": "2026-11-29T10:00:52.000Z",
                                      "hits": 5, "peak_in_window": 5}]


def test_an_untimed_hit_right_after_the_cut_takes_the_time_of_the_line_above_it(truth: Truth) -> None:
    lines = [text_line(second, "INFO", "all good") for second in range(0, 100)]
    data = ("\n".join(lines) + "\n").encode()
    after_cut = data[:cut_in_halves(truth, data)].count(b"\n")
    lines.insert(after_cut, "ValueError: Queue full")  # a traceback's last line: no time of its own
    data = ("\n".join(lines) + "\n").encode()
    assert data[:cut_in_halves(truth, data)].count(b"\n") == after_cut  # it starts the second half
    document = scan(truth, data, "lines", threads=2)
    assert document == scan(truth, data, "lines", threads=1)
    assert examples(document, "queue_full") == [(after_cut + 1, f"2026-11-29T10:00:{after_cut - 1:02d}.000Z")]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_tail_reports_each_block_before_taking_the_next(truth: Truth, threads: int) -> None:
    """A `--tail` pipe's hits show as they arrive (a file's blocks are reported while the next one is scanned)."""
    spec = ScanSpec.from_truth(truth)
    blocks = [(text_line(second, "ERROR", "Queue full") + "\n").encode() * 3 for second in range(4)]
    reported: list[Batch] = []
    taken: list[int] = []

    def batches() -> Iterator[Batch]:
        for block in blocks:
            taken.append(len(reported))  # blocks reported when this one is taken
            yield Batch(bytearray(block))

    scanner = Scanner(spec, environ={}, threads=threads, split_bytes=1)
    report = scanner.new_report("test", "lines")
    scanner.scan(batches(), report, on_batch=reported.append, live=True)
    assert taken == [0, 1, 2, 3]
    assert (len(reported), report.entries, report.patterns[4].hits) == (4, 12, 12)


def test_this_thread_leaves_the_worker_as_much_scanning_as_it_spends_reporting() -> None:
    balance = _Balance()
    for _ in range(40):  # a block costs 0.8 s to scan; reporting one costs this thread 0.2 s more
        balance.update(own_s=0.6, own_scan_s=0.4, side_scan_s=0.4)
    assert balance.share == pytest.approx(0.375, abs=1e-3)  # 0.375 * 0.8 + 0.2 = 0.625 * 0.8: both spend 0.5 s
    for _ in range(40):  # reporting dwarfs scanning (a log dense with hits): the worker scans nearly all
        balance.update(own_s=5.0, own_scan_s=0.1, side_scan_s=0.1)
    assert balance.share == pytest.approx(_Balance.SMALLEST, abs=1e-3)
    for _ in range(40):  # nothing else to do: halves
        balance.update(own_s=0.1, own_scan_s=0.1, side_scan_s=0.1)
    assert balance.share == pytest.approx(0.5, abs=1e-3)
