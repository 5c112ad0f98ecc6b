"""Levels and durations: the native kernel and the Hyperscan lane agree, no field runs into the next line, and the
whole scan gives the reports the engine gave before the kernel (golden reports of seeded random logs)."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.logs.inputs import BotLineFormat, InputFormat, iter_batches
from generator.logs.line_stats import LineStatsCounter, native_ops
from generator.logs.scan_spec import ScanSpec
from generator.logs.scanner import Scanner
from generator.truth import Truth
from tests.logs import random_logs
from tests.tooling import in_ci

LANES = [True, False]  # native kernel, Hyperscan lane


@pytest.fixture(scope="module")
def line_format(truth: Truth) -> BotLineFormat:
    return BotLineFormat.from_truth(truth.logs)


@pytest.fixture(scope="module")
def counters(truth: Truth, line_format: BotLineFormat) -> dict[bool, LineStatsCounter]:
    lanes = {native: LineStatsCounter(line_format, truth.logs.text_format, native=native) for native in LANES}
    if not lanes[True].native:
        message = "the native kernel is not built (run `make setup`, i.e. `pip install -e .`)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    assert not lanes[False].native
    return lanes


def scan(truth: Truth, line_format: BotLineFormat, data: bytes, native: bool, fmt: str = "lines",
         chunk: int = 1 << 20) -> dict:
    scanner = Scanner(ScanSpec.from_truth(truth), environ={}, native=native)
    report = scanner.new_report("test", fmt)
    scanner.scan(iter_batches(io.BufferedReader(io.BytesIO(data)), line_format, InputFormat(fmt), chunk_bytes=chunk,
                              reuse_buffers=True), report)
    return random_logs.report_document(report)


# --- the two cross-newline bugs of block scanning --------------------------------------------------------------------


@pytest.mark.parametrize("native", LANES)
def test_a_logger_name_without_a_following_space_does_not_take_the_next_lines_level(
        truth: Truth, line_format: BotLineFormat, counters: dict, native: bool) -> None:
    data = b"2026-11-29 10:00:01,123 - bot.api\nretry - ERROR - not a level line\n"
    document = scan(truth, line_format, data, native)
    assert document["levels"] == {"(none)": 2}


@pytest.mark.parametrize("native", LANES)
def test_a_line_ending_in_duration_ms_does_not_read_the_next_lines_year(
        truth: Truth, line_format: BotLineFormat, counters: dict, native: bool) -> None:
    data = (b"2026-11-29 10:00:01,123 - bot.webhook - INFO - Webhook handled duration_ms=\n"
            b"2026-11-29 10:00:02,000 - bot.webhook - INFO - next update\n"
            b'{"asctime": "2026-11-29 10:00:03,000", "duration_ms":\n'
            b"2026 and more\n")
    document = scan(truth, line_format, data, native)
    assert document["duration_ms"] == {"count": 0, "max": None, "p50": None, "p90": None, "p95": None, "p99": None}


@pytest.mark.parametrize("native", LANES)
def test_a_json_level_key_at_a_line_end_does_not_take_the_next_lines_value(
        truth: Truth, line_format: BotLineFormat, counters: dict, native: bool) -> None:
    data = b'{"asctime": "2026-11-29 10:00:01,123", "levelname":\n"ERROR" was logged\n'
    assert scan(truth, line_format, data, native)["levels"] == {"(none)": 2}


@pytest.mark.parametrize("native", LANES)
def test_levels_and_durations_of_plain_lines(truth: Truth, line_format: BotLineFormat, counters: dict,
                                             native: bool) -> None:
    data = (b"2026-11-29 10:00:01,123 - bot.webhook - WARNING - Webhook handled duration_ms=0045\r\n"
            b'{"asctime": "2026-11-29 10:00:02,000", "levelname":  "ERROR", "duration_ms": "12.5"}\n'
            b'{"levelname": "INFO", "duration_ms" : 250000}\n'
            b"  File x.py, xduration_ms=7 duration_ms=99999 duration_ms= 100000\n")
    document = scan(truth, line_format, data, native)
    assert document["levels"] == {"WARNING": 1, "ERROR": 1, "INFO": 1, "(none)": 1}
    assert document["duration_ms"] == {"count": 5, "max": 250000.0, "p50": 99999.0, "p90": 250000.0,
                                       "p95": 250000.0, "p99": 250000.0}


@pytest.mark.parametrize("native", LANES)
def test_every_level_key_of_a_json_line_counts_as_before(truth: Truth, line_format: BotLineFormat, counters: dict,
                                                         native: bool) -> None:
    """A nested `levelname` counts too (the engine always did so): the line is counted at both levels."""
    data = b'{"levelname": "INFO", "extra": {"levelname": "DEBUG"}}\nplain\n'
    assert scan(truth, line_format, data, native)["levels"] == {"INFO": 1, "DEBUG": 1}


def _duration_values(counter: LineStatsCounter, stats_durations: Counter) -> Counter:
    """Duration values as numbers: the kernel hands whole values below 100 000 back as numbers (`0045` is 45)."""
    values: Counter[float] = Counter()
    for raw, n in stats_durations.items():
        values[float(raw)] += n
    for value, n in counter.take_whole_durations().items():
        values[float(value)] += n
    return values



def test_level_keys_and_duration_tags_are_found_at_every_offset_within_a_line_and_a_block(counters: dict) -> None:
    """The kernel searches 16 bytes a step: a key or tag at any offset from a line's or a block's start, up to its
    very end, is found once, whole or cut short by the line end."""
    for pad in range(40):
        filler = b" " * pad  # not a word character: a tag must start a word
        data = (b'{' + filler + b'"levelname": "ERROR", "duration_ms": 7}\n'
                + filler + b"duration_ms=12\n"
                + b"2026-11-29 10:00:01,123 - bot.api - INFO - " + filler + b"duration_ms=3\n"
                + b'{' + filler + b'"levelname": "ERR\n' + filler + b"duration_m\n" + filler + b"duration_ms=5")
        for lane in LANES:
            stats = counters[lane].count(data + b"\n", with_levels=True)
            assert (stats.newlines, stats.leveled, dict(stats.levels)) == (6, 2, {"ERROR": 1, "INFO": 1}), (pad, lane)
            assert _duration_values(counters[lane], stats.durations) == {7.0: 1, 12.0: 1, 3.0: 1, 5.0: 1}, (pad, lane)

# --- the lanes agree on anything --------------------------------------------------------------------------------------

PIECES = [
    "2026-11-29 10:00:01,123", " - ", "bot.api", "bot", " ", "-", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
    "INFO - ", "{", "}", '"levelname"', '"levelname": "', ":", '"', "duration_ms", "duration_ms=", '"duration_ms": ',
    "_", "x", "0", "7", "45", "99999", "100000", "12.5", ".", "\t", "\x0b", "\x0c", "\r", "\n", "\n", "é", "\xff",
]
blocks = st.lists(st.one_of(st.sampled_from([p.encode("utf-8", "surrogateescape") if p != "\xff" else b"\xff"
                                             for p in PIECES]), st.binary(max_size=3)), max_size=40)


@settings(max_examples=600, deadline=None)
@given(blocks)
def test_the_native_kernel_counts_what_the_hyperscan_lane_counts(counters: dict, parts: list[bytes]) -> None:
    data = b"".join(parts) + b"\n"
    native, hyperscan = (counters[lane].count(data, with_levels=True) for lane in LANES)
    assert (native.newlines, native.leveled, native.levels) == (hyperscan.newlines, hyperscan.leveled,
                                                                hyperscan.levels), data
    assert _duration_values(counters[True], native.durations) == _duration_values(counters[False],
                                                                                   hyperscan.durations), data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=5000), st.sampled_from([b"", b"\n", b"\n" * 300]))
def test_the_native_kernel_counts_the_newlines_of_a_block_read_without_levels(counters: dict, data: bytes,
                                                                              padding: bytes) -> None:
    """Without levels the kernel counts newlines 16 bytes at a time (runs of up to 255 steps are summed)."""
    block = data.replace(b"\x00", b"\n") + padding + b"\n"
    assert counters[True].count(block, with_levels=False, with_durations=False).newlines == block.count(b"\n")
    assert counters[True].count(block * 9, with_levels=False, with_durations=False).newlines == block.count(b"\n") * 9


def test_the_native_kernel_reads_an_asctime_with_any_one_byte_changed_as_the_hyperscan_lane(counters: dict) -> None:
    """The kernel checks the asctime eight bytes at a time: every byte value at every position, as the regex."""
    stamp = b"2026-11-29 10:00:01,123"
    data = b"".join(stamp[:position] + bytes([value]) + stamp[position + 1:] + b" - bot.api - ERROR - x\n"
                    for position in range(len(stamp)) for value in range(256) if value != ord("\n"))
    native, hyperscan = (counters[lane].count(data, with_levels=True) for lane in LANES)
    assert (native.newlines, native.leveled, native.levels) == (hyperscan.newlines, hyperscan.leveled,
                                                                hyperscan.levels)
    assert 0 < native.leveled < native.newlines


@settings(max_examples=300, deadline=None)
@given(blocks, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_the_kernel_numbers_the_lines_of_given_offsets_as_counting_newlines_does(counters: dict, parts: list[bytes],
                                                                                 offsets: list[int]) -> None:
    data = b"".join(parts) + b"\n"
    offsets = sorted(offsets)
    expected = [data[:offset].count(b"\n") for offset in offsets]
    for lane in LANES:
        for with_levels in (True, False):  # without levels the kernel counts up to each offset 16 bytes a step
            numbered = counters[lane].count(data, with_levels=with_levels, number=offsets)
            assert numbered.line_numbers == expected, (lane, with_levels, data)

def test_the_kernel_takes_only_formats_it_matches_exactly(truth: Truth) -> None:
    assert native_ops(truth.logs.text_format) is not None  # the bot's own format
    for text_format in ("%(asctime)s %(message)s %(levelname)s",  # a lazy field before the level
                        "%(name)s:%(levelname)s %(message)s",  # a name not followed by a space
                        "%(asctime)s - %(message)s"):  # no level at all
        assert native_ops(text_format) is None, text_format


# --- the whole scan gives the reports the engine gave before the kernel -----------------------------------------------


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(random_logs.GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fmt", random_logs.FORMATS)
@pytest.mark.parametrize("native", LANES)
def test_reports_equal_the_golden_reports_of_the_engine_before_the_kernel(
        truth: Truth, counters: dict, golden: dict, fmt: str, native: bool) -> None:
    for seed in random_logs.SEEDS:
        data = random_logs.render(seed, truth, fmt)
        for with_stats in (True, False):
            document = random_logs.scan_bytes(data, fmt, truth, with_stats=with_stats, native=native)
            expected = golden[f"{seed}/{fmt}/{'full' if with_stats else 'patterns'}"]
            assert json.loads(json.dumps(document)) == expected, (seed, fmt, with_stats)


def test_two_threads_counters_merge_their_whole_durations_into_one(truth: Truth, line_format: BotLineFormat,
                                                                   counters: dict) -> None:
    first, second = (LineStatsCounter(line_format, truth.logs.text_format, native=True) for _ in range(2))
    first.count(b"x duration_ms=5\ny duration_ms=7\n", with_levels=False)
    second.count(b"z duration_ms=5 duration_ms=99999\n", with_levels=False)
    first.absorb(second)
    assert first.take_whole_durations() == {5: 2, 7: 1, 99999: 1}
    assert second.take_whole_durations() == {}
