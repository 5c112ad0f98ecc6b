"""The evaluator's fast path (pipelines shared between rules, one-series windows aggregated from their slice, quantile
windows kept sorted between evaluations, RE2 searching UTF-8 bytes) gives what its reference path gives: the same
alert transitions, errors and states over random logs through the generated rules and other rule shapes, the same
samples at every time for windows of awkward values (zeros of both signs, NaN, infinities), and the same matches
as google-re2's own str search.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.logql_engine import LogQLError, LogStore, RuleEngine, parse_expr, parse_rule_groups, regex
from generator.logql_engine.evaluator import Evaluator, quantile
from generator.logql_engine.regex import compile_search, search_found, search_groups
from generator.logql_engine.rules import RuleGroup
from generator.logs.line_prefilter import HyperscanLinePrefilter
from tests.logql_engine.test_rule_eval_skipping import (
    END_S,
    GENERATED_GROUPS,
    LINES,
    OTHER_SHAPES,
    STREAM_LABELS,
    T0,
    S,
    alert_states,
    sparse_logs,
)

# Shapes the fast path treats apart: two rules on one pipeline (shared extraction), quantiles over unwrapped values,
# bytes counting, a `!~` filter, two streams merged into one series.
SHARED_AND_QUANTILES = parse_rule_groups({"groups": [
    {"name": "quantiles", "interval": "4s", "rules": [
        {"alert": "P90", "expr": 'quantile_over_time(0.9, {service="telegram-bot"} | regexp `duration_ms"?\\s*[:=]'
                                 '\\s*(?P<d>[0-9]+)` | unwrap d | __error__="" [40s]) by (service) > 1000'},
        {"alert": "P50", "for": "8s",
         "expr": 'quantile_over_time(0.5, {service="telegram-bot"} | regexp `duration_ms"?\\s*[:=]\\s*(?P<d>[0-9]+)` '
                 '| unwrap d | __error__="" [2m]) by (service) > 100'},
        {"alert": "P50AllStreams",
         "expr": 'quantile_over_time(0.5, {service=~"telegram-.*"} | regexp `duration_ms"?\\s*[:=]\\s*(?P<d>[0-9]+)` '
                 '| unwrap d | __error__="" [1m]) by (service) > 100'}]},
    {"name": "bytes-and-negations", "interval": "6s", "rules": [
        {"alert": "Bytes",
         "expr": 'sum by (service) (bytes_over_time({service="telegram-bot"} != "INFO" [30s])) > 200'},
        {"alert": "NotWebhook", "expr": 'sum(count_over_time({service=~".+"} !~ "webhook|Webhook" [20s])) > 2'}]},
]}, "fast path shapes")


def run_both(groups: list[RuleGroup], store: LogStore, stops: list[int]) -> None:
    reference = RuleEngine(groups, store, 0, skip_idle=True, reference=True)
    fast = RuleEngine(groups, store, 0, skip_idle=True, line_prefilter=HyperscanLinePrefilter(groups))
    for stop in stops:
        expected, actual = reference.advance(T0, stop), fast.advance(T0, stop)
        assert actual.events == expected.events
        assert actual.errors == expected.errors
        assert (actual.evaluations, actual.skipped_evaluations) == (expected.evaluations,
                                                                    expected.skipped_evaluations)
        assert alert_states(fast) == alert_states(reference)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=sparse_logs(), cut=st.integers(1, END_S))
def test_the_generated_rules_give_the_reference_transitions_on_the_fast_path(store: LogStore, cut: int) -> None:
    run_both(GENERATED_GROUPS, store, [T0 + cut * S, T0 + END_S * S])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=sparse_logs(), cut=st.integers(1, END_S))
def test_other_rule_shapes_give_the_reference_transitions_on_the_fast_path(store: LogStore, cut: int) -> None:
    run_both([*OTHER_SHAPES, *SHARED_AND_QUANTILES], store, [T0 + cut * S, T0 + END_S * S])


AWKWARD_VALUES = ["0", "-0", "0.0", "NaN", "nan", "Inf", "-Inf", "+Inf", "1e308", "-1e308", "5e-324", "1", "1",
                  "2.5", "-3", "1000", "12345678901234567890"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.tuples(st.integers(0, 300), st.one_of(st.sampled_from(AWKWARD_VALUES),
                                                                 st.integers(-50, 5000).map(str))),
                       min_size=1, max_size=80),
       q=st.sampled_from([0.0, 0.25, 0.5, 0.9, 0.95, 1.0]), step_s=st.sampled_from([1, 3, 15]))
def test_sliding_quantile_windows_equal_the_reference_at_every_time(values: list[tuple[int, str]], q: float,
                                                                      step_s: int) -> None:
    store = LogStore()
    for at_s, value in values:
        store.append({"service": "telegram-bot"}, T0 + at_s * S, f"v={value}")
    query = parse_expr(f'quantile_over_time({q}, {{service="telegram-bot"}} | logfmt | unwrap v [30s]) by (service)')
    reference, fast = Evaluator(store, reference=True), Evaluator(store)
    for t in range(T0, T0 + 340 * S, step_s * S):
        expected, actual = reference.instant(query, t), fast.instant(query, t)
        assert [(s.labels, repr(s.value)) for s in actual] == [(s.labels, repr(s.value)) for s in expected]


@given(st.lists(st.one_of(st.floats(), st.sampled_from([0.0, -0.0, math.inf, -math.inf])), min_size=1))
def test_quantile_sorts_like_the_keyed_sort_with_nan_first(values: list[float]) -> None:
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v))
    for q in (0.0, 0.3, 0.5, 0.99, 1.0):
        rank = q * (len(ordered) - 1)
        lower = max(0, math.floor(rank))
        upper = min(len(ordered) - 1, lower + 1)
        weight = rank - math.floor(rank)
        expected = ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight
        assert repr(quantile(q, values)) == repr(expected)


PATTERNS = [r"\bduration_ms\"?\s*[:=]\s*\"?(?P<d>[0-9]+(?:\.[0-9]+)?)", r"(?P<a>é+)|(?P<b>日本)", r"(?i)queue\s+FULL",
            r"^x", r"(?s)a.b", r"\Bz", r"(?P<empty>)"]


@given(text=st.text(alphabet=st.sampled_from([*"aábzxé日本 \n\t:=\"duration_ms0123.Queue FULL", "\ud800"])),
       pattern=st.sampled_from(PATTERNS))
def test_searching_utf8_bytes_finds_what_the_str_search_finds(text: str, pattern: str) -> None:
    compiled = compile_search(pattern)
    names = tuple(compiled.groupindex.values())
    try:
        match = compiled.search(text)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            search_found(pattern, text)
        with pytest.raises(UnicodeEncodeError):
            search_groups(pattern, names, text)
        return
    assert search_found(pattern, text) == (match is not None)
    expected: Any = None if match is None else [match.group(number) for number in names]
    assert search_groups(pattern, names, text) == expected


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_public_search_lane_finds_the_same_spans(pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """byte_searcher takes google-re2's public search when its module-level wrapper is not there."""
    texts = [b"", b"a\nb", b"Queue  full duration_ms: 12.5 z", "éé 日本 xz".encode(), b"x duration_ms=7"]
    direct = [regex.byte_searcher(pattern)(text) for text in texts]
    monkeypatch.setattr(regex, "_UNANCHORED", None)
    regex.byte_searcher.cache_clear()
    try:
        public = [regex.byte_searcher(pattern)(text) for text in texts]
    finally:
        regex.byte_searcher.cache_clear()
    assert [None if spans is None else list(spans) for spans in public] == [
        None if spans is None else list(spans) for spans in direct]


ORDER_SENSITIVE = ["1e16", "-1e16", "0.1", "0.2", "0.3", "1", "-0", "0", "NaN", "Inf", "-Inf", "3.3", "7e-17"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.tuples(st.sampled_from(["srv-1", "srv-2", "srv-3"]), st.integers(0, 120),
                                 st.sampled_from(ORDER_SENSITIVE)), min_size=1, max_size=60),
       op=st.sampled_from(["avg_over_time", "min_over_time", "max_over_time",
                           "quantile_over_time(0.5,", "quantile_over_time(0.9,"]))
def test_windows_merged_from_several_streams_equal_the_reference(values: list[tuple[str, int, str]], op: str) -> None:
    """Streams split by a label (`instance`) merge into one series: running means and NaN handling depend on
    the merged time order, which must be the reference's."""
    store = LogStore()
    for instance, at_s, value in values:
        store.append({"service": "telegram-bot", "instance": instance}, T0 + at_s * S, f"v={value}")
    opening = op if op.endswith(",") else f"{op}("
    query = parse_expr(f'{opening} {{service="telegram-bot"}} | logfmt | unwrap v [20s]) by (service)')
    reference, fast = Evaluator(store, reference=True), Evaluator(store)
    for t in range(T0, T0 + 150 * S, 5 * S):
        expected, actual = reference.instant(query, t), fast.instant(query, t)
        assert [(s.labels, repr(s.value)) for s in actual] == [(s.labels, repr(s.value)) for s in expected]


# Random queries from the engine's building blocks: selectors, line filters, parsers, label filters, unwrap, range
# functions, groupings, vector aggregations and comparisons. Each runs on both paths at many times, with entries
# added between evaluations (so caches, shared extractions and kept-sorted windows meet new store versions).
SELECTORS = ['{service="telegram-bot", instance=""}', '{service="telegram-bot"}', '{service=~"telegram-.*"}',
             '{service=~".+", service!="other"}']
FILTERS = ['|= "duration_ms"', '|~ "ERROR|WARNING"', '!= "INFO"', '!~ "webhook"', '|= "Queue"', '|~ "d=[0-9]"']
PARSERS = ["| logfmt", "| json", '| regexp `duration_ms"?\\s*[:=]\\s*"?(?P<d>[0-9]+)`']
LABEL_FILTERS = ['| __error__=""', "| d > 100", '| level="error"', "| d <= 2000"]
COUNTING = ["count_over_time", "rate", "bytes_over_time", "bytes_rate"]
UNWRAP_ERROR_FILTER = '| __error__=""'
UNWRAPPING = ["sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "quantile_over_time(0.5,",
              "quantile_over_time(0.95,"]
FAST_PATH_LINES = [*LINES[:6], "level=error d=250 duration_ms=250 msg=webhook", "level=info d=-0 duration_ms=0",
                   "level=info d=NaN", "level=warn d=3.5 Queue full", '{"level": "error", "d": 1200, "duration_ms": 7}',
                   '{"level": "info", "d": "0"}', "not parsed at all",
                   *(f"level=info d={v} duration_ms={v}" for v in (7, 120, 120, 380, 2400, 1e16, -3, 0.1))]


@st.composite
def random_queries(draw: Any) -> str:
    pipeline = [draw(st.sampled_from(SELECTORS))]
    pipeline += draw(st.lists(st.sampled_from(FILTERS), max_size=2))
    if draw(st.booleans()):
        pipeline.append(draw(st.sampled_from(PARSERS)))
        pipeline += draw(st.lists(st.sampled_from(LABEL_FILTERS), max_size=2))
    window = draw(st.sampled_from(["[10s]", "[30s]", "[1m]"]))
    has_parser = any(p in PARSERS for p in pipeline)
    if draw(st.booleans()) and has_parser:
        op = draw(st.sampled_from(UNWRAPPING))
        label = "d" if draw(st.booleans()) else "duration_ms"
        post_filter = draw(st.sampled_from(["", UNWRAP_ERROR_FILTER]))
        body = f"{' '.join(pipeline)} | unwrap {label} {post_filter} {window}"
        opening = op if op.endswith(",") else f"{op}("
        grouping = draw(st.sampled_from(["", " by (service)", " by (level)", " without (instance)"]))
        inner = f"{opening}{body}){grouping}"
    else:
        op = draw(st.sampled_from(COUNTING))
        inner = f"{op}({' '.join(pipeline)} {window})"
    outer = draw(st.sampled_from(["{}", "sum by (service) ({})", "count({})", "max({})", "avg by (level) ({})"]))
    expr = outer.format(inner)
    comparison = draw(st.sampled_from(["", " > 1", " >= bool 2", " < 500"]))
    return expr + comparison


def outcome(evaluator: Evaluator, query: Any, t: int) -> Any:
    try:
        return [(sample.labels, repr(sample.value)) for sample in evaluator.instant(query, t)]
    except LogQLError as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=random_queries(),
       entries=st.lists(st.tuples(st.sampled_from(STREAM_LABELS), st.integers(0, 90), st.sampled_from(FAST_PATH_LINES)),
                        min_size=1, max_size=50))
def test_random_queries_give_the_reference_results_on_the_fast_path(text: str,
                                                                     entries: list[tuple[dict[str, str], int,
                                                                                         str]]) -> None:
    try:
        query = parse_expr(text)
    except LogQLError:
        return  # a combination LogQL refuses (the parser's own tests cover refusals)
    store = LogStore()
    reference, fast = Evaluator(store, reference=True), Evaluator(store)
    half = len(entries) // 2
    for labels, at_s, line in entries[:half]:
        store.append(labels, T0 + at_s * S, line)
    for t in range(T0, T0 + 150 * S, 7 * S):
        if t == T0 + 70 * S:
            for labels, at_s, line in entries[half:]:
                store.append(labels, T0 + at_s * S, line)
        assert outcome(fast, query, t) == outcome(reference, query, t), text
