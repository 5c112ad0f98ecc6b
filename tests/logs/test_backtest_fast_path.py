"""`obsctl backtest`'s fast path gives the reference timeline: the Hyperscan line prefilter never leaves out a line a
rule's filter keeps, the streamed replay equals the engine's reference path on random exports of all three formats
(with steps small enough that windows straddle them), and the faster asctime readings equal the general ones.
"""

from __future__ import annotations

import calendar
import io
import random
from datetime import datetime
from pathlib import Path

import pytest

from generator.logql_engine import Stream, ast, parse_rule_groups
from generator.logql_engine.rules import RuleGroup
from generator.logql_engine.stages import filter_entries
from generator.logs import backtest as backtest_module
from generator.logs.backtest import backtest, load_rules
from generator.logs.inputs import (
    BotLineFormat,
    InputFormat,
    _epoch_seconds,
    asctime_field_ns,
    parse_asctime,
    read_records,
)
from generator.logs.line_prefilter import HyperscanLinePrefilter, _leading_line_filters
from generator.truth import Truth, load_truth
from tests.logs import random_logs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth(REPO / "product" / "truth.yaml")


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
