"""`obsctl backtest`'s fast path gives the reference timeline: the Hyperscan line prefilter never leaves out a line a
rule's filter keeps, the streamed replay equals the engine's reference path on random exports of all three formats
(with steps small enough that windows straddle them), and the faster asctime readings equal the general ones.
"""

from __future__ import annotations

import calendar
import dataclasses
import io
import random
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.logql_engine import Stream, ast, parse_rule_groups
from generator.logql_engine.rules import RuleGroup
from generator.logql_engine.stages import filter_entries
from generator.logs import backtest as backtest_module
from generator.logs.backtest import backtest, load_rules
from generator.logs.inputs import (
    BotLineFormat,
    InputFormat,
    _epoch_seconds,
    _line_entries,
    _timed_line_entries,
    asctime_field_ns,
    iter_line_blocks,
    parse_asctime,
    read_entries,
    read_records,
)
from generator.logs.line_prefilter import HyperscanLinePrefilter, _leading_line_filters
from generator.logs.native_records import native_timed_lines
from generator.truth import Truth, load_truth
from tests.logs import random_logs

REPO = Path(__file__).resolve().parents[2]
TRUTH = load_truth(REPO / "product" / "truth.yaml")


@pytest.fixture(scope="module")
def truth() -> Truth:
    return TRUTH


@pytest.fixture(scope="module")
def groups(truth: Truth) -> list[RuleGroup]:
    return load_rules(REPO / "loki" / "rules" / truth.logs.tenant)


def leading_filters(groups: list[RuleGroup]) -> list[ast.LineFilter]:
    found = {f: None for g in groups for rule in g.alert_rules for f in _leading_line_filters(rule.query)}
    return list(found)


@pytest.mark.parametrize("seed", random_logs.SEEDS)
def test_the_prefilter_keeps_every_line_a_rule_filter_keeps(seed: int, truth: Truth,
                                                            groups: list[RuleGroup]) -> None:
    entries = random_logs.entries(seed, truth) + [(1, "Queue full \ud800"), (2, "")]  # no UTF-8 form; empty
    stream = Stream({"service": "telegram-bot"}, entries)
    prefilter = HyperscanLinePrefilter(groups)
    consulted = 0
    for line_filter in leading_filters(groups):
        candidates = prefilter.candidates(line_filter, stream, 0)
        if candidates is None:
            continue
        consulted += 1
        assert all(any(c is e for e in entries) for c in candidates)  # the stream's own entries, in order
        assert [entries.index(c) for c in candidates] == sorted(entries.index(c) for c in candidates)
        kept = filter_entries(line_filter, [e for e in entries if "\ud800" not in e[1]])  # RE2 refuses the other
        assert set(map(id, kept)) <= set(map(id, candidates)), line_filter
        assert (1, "Queue full \ud800") in candidates
    assert consulted >= len(leading_filters(groups)) - 2  # all but filters Hyperscan may not stand in for


def test_a_pattern_matching_most_lines_leaves_the_later_scans(groups: list[RuleGroup]) -> None:
    dense = ast.LineFilter("|=", "duration_ms")
    rare = ast.LineFilter("|=", "Queue full")
    entries = [(i, f"Webhook handled duration_ms={i}") for i in range(2000)] + [(2000, "Queue full")]
    stream = Stream({"service": "telegram-bot"}, entries)
    prefilter = HyperscanLinePrefilter(groups)
    assert prefilter.candidates(dense, stream, 0) == entries[:2000]  # this scan's answer still holds
    assert prefilter.candidates(dense, stream, 1) is None  # the next store version: tested line by line
    assert prefilter.candidates(rare, stream, 1) == [entries[-1]]


@pytest.mark.parametrize("step", [7, 50])
@pytest.mark.parametrize("fmt", random_logs.FORMATS)
@pytest.mark.parametrize("seed", [0, 3, 5])
def test_the_streamed_replay_gives_the_reference_timeline(seed: int, fmt: str, step: int, truth: Truth,
                                                          groups: list[RuleGroup],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_logs.render(seed, truth, fmt)
    line_format = BotLineFormat.from_truth(truth.logs)
    monkeypatch.setattr(backtest_module, "STEP_ENTRIES", step)

    def replay(reference: bool) -> dict[str, object]:
        records = read_records(io.BufferedReader(io.BytesIO(data)), line_format, InputFormat(fmt))
        return backtest(records, groups, truth, reference=reference).as_json()

    fast = replay(False)
    assert fast == replay(True)
    assert fast["firings"]  # the random exports do fire alerts: the timelines compared are not empty


def test_asctime_seconds_equal_the_datetime_arithmetic() -> None:
    rnd = random.Random(12)
    for _ in range(20_000):
        fields = (rnd.randint(1, 9999), rnd.randint(0, 13), rnd.randint(0, 32), rnd.randint(0, 25),
                  rnd.randint(0, 61), rnd.randint(0, 61))
        try:
            expected: int | str = calendar.timegm(datetime(*fields).timetuple())
        except ValueError:
            expected = "impossible"
        try:
            actual: int | str = _epoch_seconds(*fields)
        except ValueError:
            actual = "impossible"
        assert actual == expected, fields


def test_an_asctime_field_reads_as_parse_asctime_reads_it() -> None:
    rnd = random.Random(5)
    digits = "0123456789٣٤"  # `\d` also matches other scripts' digits, and int() reads them
    for _ in range(20_000):
        def field(width: int) -> str:
            return "".join(rnd.choice(digits) for _ in range(width))

        text = f"{field(4)}-{field(2)}-{field(2)} {field(2)}:{field(2)}:{field(2)},{field(3)}"
        assert asctime_field_ns(text) == parse_asctime(text), text


def test_a_filter_hyperscan_refuses_is_left_to_the_engine_and_the_others_still_prefiltered() -> None:
    groups = parse_rule_groups({"groups": [{"name": "g", "rules": [
        {"alert": "MatchesEmpty", "expr": 'count_over_time({service="telegram-bot"} |~ "x*" [1m]) > 0'},
        {"alert": "Queue", "expr": 'count_over_time({service="telegram-bot"} |= "Queue full" [1m]) > 0'}]}]}, "test")
    entries = [(1, "ok"), (2, "Queue full"), (3, "xx")]
    stream = Stream({"service": "telegram-bot"}, entries)
    prefilter = HyperscanLinePrefilter(groups)
    assert prefilter.candidates(ast.LineFilter("|~", "x*"), stream, 0) is None
    assert prefilter.candidates(ast.LineFilter("|=", "Queue full"), stream, 0) == [entries[1]]


def python_lane(data: bytes, line_format: BotLineFormat, chunk: int) -> list[tuple[int | None, str]]:
    return [(ts, line) for ts, line, _level in _line_entries(iter_line_blocks(io.BytesIO(data), chunk), line_format)]


def native_lane(data: bytes, line_format: BotLineFormat, chunk: int) -> list[tuple[int | None, str]]:
    assert native_timed_lines(iter([]), line_format) is not None, "the native text-line reader is not built"
    return [(ts, line) for ts, line, _labels in _timed_line_entries(iter_line_blocks(io.BytesIO(data), chunk),
                                                                    line_format)]


ODD_TEXT_LINES = [
    "2026-02-29 10:00:00,000 - bot.x - ERROR - not a leap year", "2028-02-29 23:59:59,999 - bot.x - INFO - leap year",
    "2026-11-29 24:00:00,000 - bot.x - INFO - hour 24", "2026-11-29 10:60:00,000 - bot.x - INFO - minute 60",
    "2026-11-29 10:00:60,000 - bot.x - INFO - second 60", "0000-01-01 00:00:00,000 - bot.x - INFO - year 0",
    "1899-12-31 23:59:59,999 - bot.x - INFO - before 1900", "2300-01-01 00:00:00,000 - bot.x - INFO - after 2262",
    "2026-13-01 00:00:00,000 - bot.x - INFO - month 13", "2026-00-10 00:00:00,000 - bot.x - INFO - month 0",
    "2026-11-00 00:00:00,000 - bot.x - INFO - day 0", "٢٠٢٦-11-29 10:00:00,000 - bot.x - INFO - other digits",
    "2026-11-29 10:00:00,000 - bot.é - WARNING - a name in UTF-8", "2026-11-29 10:00:00,000 - bot.x - NOTICE - odd",
    "2026-11-29 10:00:00,000 - bot.x - INFO -", "2026-11-29 10:00:00,000 - bot.x - INFO - a\rb",
    "2026-11-29 10:00:00,000 -  - INFO - no name", "2026-11-29 10:00:00,000 - bot.x - INFO - ",
    "  File \"x.py\", line 1", "", '{"asctime": "2026-11-29 10:00:01,500", "levelname": "INFO", "message": "json"}',
]


@pytest.mark.parametrize("chunk", [64, 1 << 20])
@pytest.mark.parametrize("seed", random_logs.SEEDS)
def test_the_native_text_line_reader_reads_what_the_python_reader_reads(seed: int, chunk: int, truth: Truth) -> None:
    line_format = BotLineFormat.from_truth(truth.logs)
    data = random_logs.render(seed, truth, "lines") + "".join(line + "\n" for line in ODD_TEXT_LINES).encode()
    data += b"2026-11-29 10:00:02,000 - bot.\xe2\x82 - INFO - torn UTF-8\r\n\xff\xfe\n" + b"no newline at the end"
    assert native_lane(data, line_format, chunk) == python_lane(data, line_format, chunk)


@given(st.lists(st.sampled_from([*ODD_TEXT_LINES, "2026-11-29 10:00:00,123 - bot.x - ERROR - Queue full"]),
                max_size=12),
       st.binary(max_size=40), st.integers(0, 200))
def test_random_bytes_among_text_lines_read_alike_natively(lines: list[str], noise: bytes, at: int) -> None:
    line_format = BotLineFormat.from_truth(TRUTH.logs)
    data = "".join(line + "\n" for line in lines).encode()
    data = data[:at] + noise + data[at:] + b"\n"
    assert native_lane(data, line_format, 1 << 20) == python_lane(data, line_format, 1 << 20)


@pytest.mark.parametrize("fmt", random_logs.FORMATS)
@pytest.mark.parametrize("seed", random_logs.SEEDS)
def test_the_replay_reads_each_records_time_line_and_labels(seed: int, fmt: str, truth: Truth) -> None:
    data = random_logs.render(seed, truth, fmt)
    line_format = BotLineFormat.from_truth(truth.logs)
    records = read_records(io.BufferedReader(io.BytesIO(data)), line_format, InputFormat(fmt))
    entries = read_entries(io.BufferedReader(io.BytesIO(data)), line_format, InputFormat(fmt))
    assert list(entries) == [(r.timestamp_ns, r.line, r.labels) for r in records]


def test_a_format_with_another_asctime_field_is_read_by_parse_asctime(truth: Truth) -> None:
    standard = BotLineFormat.from_truth(truth.logs)
    other = dataclasses.replace(standard, text_regex=standard.text_regex.replace(
        r"(?P<asctime>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", r"(?P<asctime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)"))
    assert standard.standard_asctime and not other.standard_asctime
    ts, level, _tags = other.parse("2026-11-29T10:00:01 - bot.x - INFO - hello")
    assert (ts, level) == (parse_asctime("2026-11-29T10:00:01"), "INFO")
