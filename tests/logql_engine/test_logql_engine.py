"""The offline LogQL engine: parsing, Go-compatible conversions, the log pipeline, instant evaluation and rule state.

Each semantic test names the Loki behaviour it pins down; the property tests check the window and quantile
definitions against a direct restatement over random inputs.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.logql_engine import (
    LogQLParseError,
    LogStore,
    PipelineError,
    RuleFileError,
    UnsupportedError,
    ast,
    evaluate_instant,
    evaluate_rules,
    parse_expr,
    parse_rule_groups,
)
from generator.logql_engine.evaluator import Evaluator, quantile
from generator.logql_engine.gocompat import (
    GoParseError,
    format_go_float,
    parse_bytes,
    parse_float,
    parse_go_duration_ns,
    parse_logql_duration_ns,
)
from generator.logql_engine.stages import LabelsBuilder, parse_json, parse_logfmt, parse_pattern, pattern_matches
from generator.logql_engine.template import compile_template
from generator.syntax.logql import quote_string

S = 10**9
SHOP = {"service": "shop"}


def store_of(*entries: tuple[float, str], labels: dict[str, str] | None = None) -> LogStore:
    store = LogStore()
    for seconds, line in entries:
        store.append(labels or SHOP, round(seconds * S), line)
    return store


def values(store: LogStore, query: str, at_seconds: float) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in evaluate_instant(store, query, round(at_seconds * S))]


# --- parsing ---------------------------------------------------------------------------------------------------------


def test_parses_the_generated_rule_shapes_into_a_typed_tree() -> None:
    expr = parse_expr('quantile_over_time(0.95, {service="telegram-bot"} |= `duration_ms` | regexp '
                      '`duration_ms=(?P<duration_ms>[0-9]+)` | unwrap duration_ms | __error__="" [5m]) '
                      'by (service) > 1000')
    assert isinstance(expr, ast.Comparison) and expr.scalar == 1000 and expr.op == ">"
    inner = expr.vector
    assert isinstance(inner, ast.RangeAggregation) and inner.param == 0.95
    assert inner.grouping == ast.Grouping(("service",))
    assert inner.log_range.range_ns == 300 * S
    assert inner.log_range.unwrap == ast.Unwrap("duration_ms", "float", (
        ast.StringLabelFilter(ast.LabelMatcher("__error__", "=", "")),))
    assert [type(s).__name__ for s in inner.log_range.stages] == ["LineFilter", "RegexpParser"]


def test_grouping_may_come_before_or_after_the_aggregated_expression() -> None:
    before = parse_expr('sum by (a) (count_over_time({x="y"}[1m]))')
    after = parse_expr('sum(count_over_time({x="y"}[1m])) by (a)')
    assert before == after


def test_the_range_may_come_before_the_pipeline() -> None:
    assert parse_expr('count_over_time({x="y"}[1m] |= "a")') == parse_expr('count_over_time({x="y"} |= "a" [1m])')


@pytest.mark.parametrize("query, message", [
    ('count_over_time({x="y"} | unwrap v [1m])', "invalid aggregation count_over_time with unwrap"),
    ('sum_over_time({x="y"} [1m])', "invalid aggregation sum_over_time without unwrap"),
    ('count_over_time({x="y"} [1m]) by (x)', "grouping not allowed for count_over_time"),
    ('quantile_over_time({x="y"} | unwrap v [1m])', "parameter required"),
    ('count_over_time({x=~".*"} [1m])', "at least one regexp or equality matcher"),
    ('count_over_time({x="y"} |~ "(" [1m])', "invalid regex"),
    ('count_over_time({x="y"} | regexp "(a)" [1m])', "at least one named capture"),
    ('count_over_time({x="y"} [1m]', "expected ')'"),
    ('count_over_time({x="y"} |= "\\d" [1m])', "invalid escape"),
])
def test_invalid_queries_are_refused_with_the_reason_and_position(query: str, message: str) -> None:
    with pytest.raises(LogQLParseError, match=re.escape(message)) as info:
        parse_expr(query)
    assert "parse error" in str(info.value)


@pytest.mark.parametrize("query, construct", [
    ('{x="y"} |= "a"', "log queries"),
    ('sum(count_over_time({x="y"}[1m])) + 1', "arithmetic binary operator"),
    ('count_over_time({x="y"}[1m]) > count_over_time({x="y"}[1m])', "between two vectors"),
    ('topk(3, count_over_time({x="y"}[1m]))', "vector aggregation topk"),
    ('stddev_over_time({x="y"} | unwrap v [1m])', "range aggregation stddev_over_time"),
    ('count_over_time({x="y"} | line_format "{{.a}}" [1m])', "pipeline stage line_format"),
    ('count_over_time({x="y"} | json a="b" [1m])', "json parser with extraction parameters"),
    ('count_over_time({x="y"} |= "a" or "b" [1m])', "line filter `or`"),
    ('count_over_time({x="y"} | a="1" or b="2" [1m])', "label filter `or`"),
    ('count_over_time({x="y"}[1m] offset 1m)', "offset"),
    ('label_replace(count_over_time({x="y"}[1m]), "a", "b", "c", "d")', "function label_replace"),
    ('count_over_time({x="y"}[1m]) and count_over_time({x="y"}[1m])', "set operator"),
    ("1 > 0", "between two numbers"),
])
def test_valid_logql_outside_the_subset_is_refused_not_guessed(query: str, construct: str) -> None:
    with pytest.raises(UnsupportedError, match="unsupported in the offline engine") as info:
        parse_expr(query)
    assert construct in str(info.value)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_string_quoted_by_the_generator_parses_back_to_itself(text: str) -> None:
    for prefer_backticks in (True, False):
        expr = parse_expr(f'count_over_time({{x="y"}} |= {quote_string(text, prefer_backticks)} [1m])')
        assert isinstance(expr, ast.RangeAggregation)
        assert expr.log_range.stages == (ast.LineFilter("|=", text),)


# --- Go-compatible conversions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, ns", [("300ms", 300 * 10**6), ("1.5s", 1500 * 10**6), ("1h30m", 5400 * S),
                                      ("-2s", -2 * S), ("0", 0), ("1us", 1000), ("1\u00b5s", 1000)])
def test_durations_parse_like_go_time_parse_duration(text: str, ns: int) -> None:
    assert parse_go_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["5", "1d", "", "1.5", "ms", "1 s"])
def test_go_rejects_these_durations(text: str) -> None:
    with pytest.raises(GoParseError):
        parse_go_duration_ns(text)


def test_logql_range_literals_also_accept_prometheus_days() -> None:
    assert parse_logql_duration_ns("1d") == 86400 * S
    assert parse_logql_duration_ns("1h30m") == 5400 * S


@pytest.mark.parametrize("text, expected", [("42", 42), ("42 MB", 42 * 10**6), ("1.5KiB", 1536), ("2kb", 2000),
                                            ("1,000", 1000), ("3GiB", 3 * 2**30)])
def test_sizes_parse_like_go_humanize(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", [" 1", "1 ", "1_000", "0x", "abc", "1e400", "--1"])
def test_floats_go_would_reject_are_rejected(text: str) -> None:
    with pytest.raises(GoParseError):
        parse_float(text)


def test_floats_go_accepts_are_accepted() -> None:
    assert parse_float("+Inf") == math.inf and math.isnan(parse_float("NaN"))
    assert parse_float("1e3") == 1000 and parse_float(".5") == 0.5 and parse_float("0x1p-2") == 0.25


@pytest.mark.parametrize("value, text", [(1, "1"), (1001, "1001"), (0.5, "0.5"), (123456, "123456"),
                                         (1e6, "1e+06"), (1234567, "1.234567e+06"), (0.0001, "0.0001"),
                                         (0.00001, "1e-05"), (1 / 3, "0.3333333333333333"), (math.inf, "+Inf"),
                                         (math.nan, "NaN"), (-2.5, "-2.5")])
def test_template_values_print_like_go_fmt(value: float, text: str) -> None:
    assert format_go_float(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_text_round_trips(value: float) -> None:
    assert float(format_go_float(value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_parsing_agrees_with_python_on_valid_numbers(value: float) -> None:
    assert parse_float(repr(value)) == value


# --- pipeline stages -------------------------------------------------------------------------------------------------


def test_json_keeps_labels_found_before_a_syntax_error_and_records_the_error() -> None:
    builder = LabelsBuilder({"app": "x"})
    parse_json('{"a": "1", "app": "y", "b": ', builder)
    assert builder.parsed == {"a": "1", "app_extracted": "y"}
    assert builder.err == "JSONParserErr"


def test_json_duplicate_keys_keep_the_last_value_and_bad_escapes_give_empty_values() -> None:
    builder = LabelsBuilder({})
    parse_json('{"a": "1", "a": "2", "b": "\\q", "c": {"d e": {"f": 1.50}}, "g": [1, {"h": 2}]}', builder)
    assert builder.parsed == {"a": "2", "b": "", "c_d_e_f": "1.50"}
    assert builder.err == ""


def test_logfmt_is_lenient_unless_strict() -> None:
    from generator.logql_engine import ast as a

    lenient = LabelsBuilder({})
    parse_logfmt('a=1 "oops" b="x \\"y\\"" c= d', lenient, a.LogfmtParser())
    assert lenient.parsed == {"a": "1", "b": 'x "y"'} and lenient.err == ""
    strict = LabelsBuilder({})
    parse_logfmt('a=1 "oops" b=2', strict, a.LogfmtParser(strict=True))
    assert strict.parsed == {"a": "1"} and strict.err == "LogfmtParserErr"
    keep = LabelsBuilder({})
    parse_logfmt("c= d=4", keep, a.LogfmtParser(keep_empty=True))
    assert keep.parsed == {"c": "", "d": "4"}


def test_pattern_capture_takes_the_rest_when_a_literal_is_missing() -> None:
    pattern = parse_pattern("<ip> - <method> <path> [<status>]")
    assert pattern_matches(pattern, "1.2.3.4 - GET /x [200]") == ["1.2.3.4", "GET", "/x", "200"]
    assert pattern_matches(pattern, "1.2.3.4 - GET") == ["1.2.3.4", "GET"]
    assert pattern_matches(parse_pattern("start <a>"), "other line") == []


def test_numeric_label_filters_drop_lines_without_the_label() -> None:
    store = store_of((1, "v=5"), (2, "nothing"), (3, "v=1"))
    assert values(store, 'count_over_time({service="shop"} | logfmt | v > 2 [1m])', 10) == [
        ({"service": "shop", "v": "5"}, 1.0)]
    # A string filter compares a missing label as "".
    assert values(store, 'sum(count_over_time({service="shop"} | logfmt | v="" [1m]))', 10) == [({}, 1.0)]


def test_duration_and_size_label_filters_compare_converted_values() -> None:
    store = store_of((1, "took=250ms size=1KiB"), (2, "took=1.5s size=2MB"))
    assert values(store, 'sum(count_over_time({service="shop"} | logfmt | took >= 1s [1m]))', 10) == [({}, 1.0)]
    assert values(store, 'sum(count_over_time({service="shop"} | logfmt | size > 1KB [1m]))', 10) == [({}, 2.0)]
    assert values(store, 'sum(count_over_time({service="shop"} | logfmt | took > 1s, size < 1MB [1m]))', 10) == []


# --- evaluation ------------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40), st.integers(0, 12_000),
       st.integers(1, 5_000))
def test_count_over_time_counts_lines_in_the_left_open_right_closed_window(stamps_ms: list[int], t_ms: int,
                                                                           range_ms: int) -> None:
    store = LogStore()
    for ms in stamps_ms:
        store.append(SHOP, ms * 10**6, "line")
    # Identical lines at one timestamp are stored once (as Loki does): count distinct timestamps.
    expected = sum(1 for ms in set(stamps_ms) if t_ms - range_ms < ms <= t_ms)
    got = evaluate_instant(store, f'count_over_time({{service="shop"}} [{range_ms}ms])', t_ms * 10**6)
    assert [s.value for s in got] == ([float(expected)] if expected else [])


@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=30), st.floats(0, 1))
def test_quantile_interpolates_between_the_neighbouring_ranks(samples: list[float], q: float) -> None:
    ordered = sorted(samples)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), min(len(ordered) - 1, math.floor(rank) + 1)
    expected = ordered[low] * (1 - (rank - low)) + ordered[high] * (rank - low)
    got = quantile(q, samples)
    assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-6)
    assert ordered[0] - 1e-6 <= got <= ordered[-1] + 1e-6


def test_quantile_edge_cases_follow_prometheus() -> None:
    assert math.isnan(quantile(0.5, []))
    assert quantile(-0.1, [1.0]) == -math.inf and quantile(1.1, [1.0]) == math.inf
    assert quantile(0.5, [1.0, 2.0, 3.0, 4.0]) == 2.5


def test_quantile_over_time_by_merges_the_samples_of_streams_in_a_group() -> None:
    store = LogStore()
    for i, v in enumerate([1, 2, 3]):
        store.append({"service": "shop", "pod": "a"}, (i + 1) * S, f"v={v}")
    store.append({"service": "shop", "pod": "b"}, 5 * S, "v=100")
    got = values(store, 'quantile_over_time(0.5, {service="shop"} | logfmt | unwrap v [1m]) by (service)', 10)
    assert got == [({"service": "shop"}, 2.5)]  # one set {1, 2, 3, 100}, not per pod


def test_unwrap_removes_the_unwrapped_label_from_the_series() -> None:
    store = store_of((1, "v=2 kind=a"), (2, "v=3 kind=a"))
    assert values(store, 'sum_over_time({service="shop"} | logfmt | unwrap v [1m])', 10) == [
        ({"service": "shop", "kind": "a"}, 5.0)]


def test_an_unfiltered_error_fails_the_query_only_when_it_is_inside_the_window() -> None:
    store = store_of((1, "not json"), (100, '{"a": 1}'))
    query = 'count_over_time({service="shop"} | json [1m])'
    with pytest.raises(PipelineError, match="JSONParserErr"):
        evaluate_instant(store, query, 30 * S)
    assert values(store, query, 120) == [({"service": "shop", "a": "1"}, 1.0)]


def test_evaluation_sees_lines_appended_after_a_previous_query() -> None:
    store = store_of((1, "a"))
    evaluator = Evaluator(store)
    query = 'count_over_time({service="shop"} [1m])'
    assert [s.value for s in evaluator.instant(query, 10 * S)] == [1.0]
    store.append(SHOP, 2 * S, "b")
    assert [s.value for s in evaluator.instant(query, 10 * S)] == [2.0]


def test_streams_with_the_same_labels_merge_and_out_of_order_lines_are_sorted() -> None:
    store = LogStore()
    store.append(SHOP, 50 * S, "late")
    store.append({"service": "shop"}, 5 * S, "early")
    assert len(store.streams) == 1
    assert [ts for ts, _ in store.streams[0].entries] == [5 * S, 50 * S]


# --- templates and rules ---------------------------------------------------------------------------------------------


def test_templates_render_value_labels_constants_and_trim_markers() -> None:
    template = compile_template("v={{ $value }} s={{ $labels.service }} m={{ .Labels.missing }}|  {{- `{{` -}}  |")
    assert template.render({"service": "shop"}, 1e6) == "v=1e+06 s=shop m=|{{|"


def test_templates_outside_the_subset_are_refused() -> None:
    with pytest.raises(UnsupportedError, match="humanize"):
        compile_template("{{ $value | humanize }}")


def _groups(expr: str, for_: str = "0s", interval: str = "1m") -> list:
    return parse_rule_groups({"groups": [{"name": "g", "interval": interval, "rules": [
        {"alert": "A", "expr": expr, "for": for_, "labels": {"severity": "x"},
         "annotations": {"summary": "{{ $value }} on {{ $labels.service }}"}}]}]}, "test")


def test_alert_states_move_inactive_pending_firing_inactive() -> None:
    store = store_of(*[(30 + 60 * k, "boom") for k in range(4)])
    run = evaluate_rules(_groups('sum by (service) (count_over_time({service="shop"} |= "boom" [1m])) > 0', "2m"),
                         store, 0, 6 * 60 * S)
    transitions = [(e.ts_ns // S, e.previous, e.state) for e in run.events]
    assert transitions == [(60, "inactive", "pending"), (180, "pending", "firing"), (300, "firing", "inactive")]
    assert run.events[1].labels == {"alertname": "A", "service": "shop", "severity": "x"}
    assert run.events[1].annotations == {"summary": "1 on shop"}


def test_for_zero_fires_at_the_first_evaluation_as_one_transition() -> None:
    run = evaluate_rules(_groups('sum(count_over_time({service="shop"}[1m])) > 0'), store_of((10, "x")), 0, 60 * S)
    assert [(e.ts_ns // S, e.previous, e.state) for e in run.events] == [(60, "inactive", "firing")]


def test_a_failing_rule_evaluation_is_reported_and_leaves_the_state_alone() -> None:
    store = store_of((10, '{"a": 1}'), (70, "not json"))
    run = evaluate_rules(_groups('sum(count_over_time({service="shop"} | json [1m])) > 0'), store, 0, 120 * S)
    assert [(e.ts_ns // S, e.state) for e in run.events] == [(60, "firing")]
    assert [(e.ts_ns // S, e.rule) for e in run.errors] == [(120, "A")]
    assert "pipeline error" in run.errors[0].message


def test_group_evaluations_align_to_the_interval_plus_offset() -> None:
    store = store_of((5, "x"))
    run = evaluate_rules(_groups('sum(count_over_time({service="shop"}[15s])) > 0', interval="10s"), store,
                         3 * S, 40 * S, offset_ns=2 * S)
    assert [(e.ts_ns // S, e.state) for e in run.events] == [(12, "firing"), (22, "inactive")]
    assert run.evaluations == 3  # at 12s, 22s and 32s: 2s is before the start


def test_rule_files_with_unknown_keys_or_bad_expressions_are_refused_with_their_location() -> None:
    with pytest.raises(RuleFileError, match=r"test: groups\[0\]\.rules\[0\]: unknown key\(s\) expresion \(rule A\)"):
        parse_rule_groups({"groups": [{"name": "g", "rules": [{"alert": "A", "expresion": "x"}]}]}, "test")
    with pytest.raises(RuleFileError, match=r"rules\[0\]\.expr: unsupported in the offline engine: .*topk \(rule A\)"):
        parse_rule_groups({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "topk(1, x)"}]}]}, "test")


# --- parser behaviour pinned to the cases Loki's own parser tests assert (pkg/logql/log/parser_test.go) ------------

LOGFMT_CASES = [
    # (line, stream labels, expected parsed labels lenient, (strict labels, strict error details) or None = same)
    ("foobar====wqe=sdad1r", {"foo": "bar"}, {}, ({}, "logfmt syntax error at pos 8 : unexpected '='")),
    ("buzz=foo bar=\ufffdf", {}, {"bar": " f", "buzz": "foo"}, None),
    ("buzz bar=foo", {"foo": "bar"}, {"bar": "foo"}, None),
    ('foobar="foo bar"', {}, {"foobar": "foo bar"}, None),
    ('foobar="foo\\nbar\\tbaz"', {}, {"foobar": "foo\nbar\tbaz"}, None),
    ('foobar="foo\nbar\tbaz"', {}, {"foobar": "foo\nbar\tbaz"}, None),
    ('foobar="foo ba\\\\r baz"', {}, {"foobar": "foo ba\\r baz"}, None),
    ('foobar="foo bar\nb\\\\az"', {}, {"foobar": "foo bar\nb\\az"}, None),
    ('foobar="foo bar" foobar=10ms', {}, {"foobar": "10ms"}, None),
    ('foo="foo bar" foo.bar=10ms test-dash=foo', {"foo": "bar"},
     {"foo_extracted": "foo bar", "foo_bar": "10ms", "test_dash": "foo"}, None),
    ('foo="foo bar" =notkey bar=10ms', {"foo": "bar"}, {"foo_extracted": "foo bar", "bar": "10ms"},
     ({"foo_extracted": "foo bar"}, "logfmt syntax error at pos 15 : unexpected '='")),
    ('foo="foo bar" b\ufffdr=10ms', {"foo": "bar"}, {"foo_extracted": "foo bar"},
     ({"foo_extracted": "foo bar"}, "logfmt syntax error at pos 20 : invalid key")),
    ('foo="foo bar" bu"zz=10ms', {"foo": "bar"}, {"foo_extracted": "foo bar"},
     ({"foo_extracted": "foo bar"}, "logfmt syntax error at pos 17 : unexpected '\"'")),
    ('bar=bu=zz foo="foo bar"', {"foo": "bar"}, {"foo_extracted": "foo bar"},
     ({}, "logfmt syntax error at pos 7 : unexpected '='")),
]


@pytest.mark.parametrize("line, stream, lenient, strict", LOGFMT_CASES)
def test_logfmt_matches_lokis_parser_cases(line: str, stream: dict[str, str], lenient: dict[str, str],
                                            strict: tuple[dict[str, str], str] | None) -> None:
    builder = LabelsBuilder(stream)
    parse_logfmt(line, builder, ast.LogfmtParser())
    assert (builder.parsed, builder.err) == (lenient, "")
    builder = LabelsBuilder(stream)
    parse_logfmt(line, builder, ast.LogfmtParser(strict=True))
    expected_labels, expected_details = strict if strict else (lenient, "")
    assert builder.parsed == expected_labels
    assert builder.err_details == expected_details
    assert builder.err == ("LogfmtParserErr" if expected_details else "")


def test_logfmt_keep_empty_keeps_bare_keys_as_empty_values() -> None:
    builder = LabelsBuilder({"foo": "bar"})
    parse_logfmt("foo bar=buzz", builder, ast.LogfmtParser(keep_empty=True))
    assert builder.parsed == {"foo_extracted": "", "bar": "buzz"}


JSON_CASES = [
    ('{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}', {},
     {"app": "foo", "namespace": "prod", "pod_uuid": "foo", "pod_deployment_ref": "foobar"}),
    ('{"counter":1, "price": {"_net_":5.56909}}', {}, {"counter": "1", "price__net_": "5.56909"}),
    ('{" ": {"foo":"bar"}}', {}, {"foo": "bar"}),
    ('{"counter":1,"foo":"foo\\\\\\"bar", "price": {"_net_":5.56909}}', {},
     {"counter": "1", "foo": 'foo\\"bar', "price__net_": "5.56909"}),
    ('{"counter":1,"foo":"\ufffd", "price": {"_net_":5.56909}}', {},
     {"counter": "1", "foo": " ", "price__net_": "5.56909"}),
    ('{"counter":1, "price": {"net_":["10","20"]}}', {}, {"counter": "1"}),
    ('{"cou-nter":1}', {}, {"cou_nter": "1"}),
    ('{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}},"next":{"err":false}}',
     {"app": "bar"},
     {"app_extracted": "foo", "namespace": "prod", "pod_uuid": "foo", "pod_deployment_ref": "foobar",
      "next_err": "false"}),
]


@pytest.mark.parametrize("line, stream, expected", JSON_CASES)
def test_json_matches_lokis_parser_cases(line: str, stream: dict[str, str], expected: dict[str, str]) -> None:
    builder = LabelsBuilder(stream)
    parse_json(line, builder)
    assert (builder.parsed, builder.err) == (expected, "")


def test_json_error_details_match_loki() -> None:
    builder = LabelsBuilder({})
    parse_json("{n}", builder)
    assert builder.all_labels() == {"__error__": "JSONParserErr",
                                    "__error_details__": "Value looks like object, but can't find closing '}' symbol"}


@pytest.mark.parametrize("pattern, line, stream, expected", [
    ("(?P<foo>foo|bar)buzz", "blah", {"app": "foo"}, {}),
    ("(?P<foo>.*)buzz", "matchebuzz barbuzz", {"app": "bar"}, {"foo": "matchebuzz bar"}),
    ("(?P<bar>bar)buzz", "barbuzz", {"bar": "foo"}, {"bar_extracted": "bar"}),
    ("status=(?P<status>\\w+),latency=(?P<latency>\\w+)(ms|ns)", "status=200,latency=500ms", {},
     {"status": "200", "latency": "500"}),
])
def test_regexp_parser_matches_lokis_parser_cases(pattern: str, line: str, stream: dict[str, str],
                                                  expected: dict[str, str]) -> None:
    from generator.logql_engine.stages import parse_regexp

    builder = LabelsBuilder(stream)
    parse_regexp(pattern, line, builder)
    assert builder.parsed == expected


@pytest.mark.parametrize("pattern, line, expected", [
    ("foo <foo> bar", "foo buzz bar", ["buzz"]),
    ("foo <foo> bar<fuzz>", "foo buzz bar", ["buzz", ""]),
    ("<foo> bar<fuzz>", " bar", ["", ""]),
    ("<path>?<_>", "/api/plugins/status", ["/api/plugins/status"]),
    ('<ip> <userid> <user> [<_>] "<method> <path> <_>" <status> <size>',
     '127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
     ["127.0.0.1", "user-identifier", "frank", "GET", "/apache_pb.gif", "200", "2326"]),
    ('<_> msg="<method> <path> (<status>) <duration>"',
     'level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 msg="POST /loki/api/v1/push (204) 1.2ms"',
     ["POST", "/loki/api/v1/push", "204", "1.2ms"]),
])
def test_pattern_parser_matches_lokis_pattern_cases(pattern: str, line: str, expected: list[str]) -> None:
    assert pattern_matches(parse_pattern(pattern), line) == expected


@pytest.mark.parametrize("pattern", ["", "<_>", "foo bar buzz", "<f><f>", "<f> f<d><b>", "<f> f<f>"])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    from generator.logql_engine.stages import PatternError

    with pytest.raises(PatternError):
        parse_pattern(pattern)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
                        max_size=20), min_size=1, max_size=8),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), min_size=1,
               max_size=4))
def test_a_regex_of_an_escaped_literal_selects_the_same_lines_as_the_literal(lines: list[str], literal: str) -> None:
    from generator.syntax.re2_regex import re2_escape

    store = LogStore()
    for i, line in enumerate(lines):
        store.append(SHOP, (i + 1) * S, line)
    as_literal = f'sum(count_over_time({{service="shop"}} |= {quote_string(literal)} [1h]))'
    as_regex = f'sum(count_over_time({{service="shop"}} |~ {quote_string(re2_escape(literal))} [1h]))'
    assert values(store, as_literal, 3600) == values(store, as_regex, 3600)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=15), st.integers(0, 4))
def test_alert_fires_exactly_when_the_series_has_been_present_for_the_hold_duration(present: list[bool],
                                                                                    for_minutes: int) -> None:
    # Evaluation k (at k minutes) sees the line written 30 s before it when present[k - 1].
    store = LogStore()
    for k, here in enumerate(present, start=1):
        if here:
            store.append(SHOP, (k * 60 - 30) * S, "hit")
    groups = _groups('sum(count_over_time({service="shop"}[1m])) > 0', f"{for_minutes}m")
    run = evaluate_rules(groups, store, 60 * S, len(present) * 60 * S)
    firing_at = {e.ts_ns // (60 * S) for e in run.events if e.state == "firing"}
    # Model: a streak of consecutive present evaluations starting at s fires at s + for (once).
    expected, streak_start = set(), None
    for k, here in enumerate(present, start=1):
        streak_start = (streak_start or k) if here else None
        if here and k - streak_start == for_minutes:
            expected.add(k)
    assert firing_at == expected


def test_an_identical_line_at_the_same_timestamp_is_stored_once_as_loki_does() -> None:
    """Loki's ingester and chunks drop an entry equal in time and content to one already in the stream."""
    labels = {"service": "telegram-bot"}
    store = LogStore()
    for ts, line in [(41, "Duplicate update_id 1"), (41, "Duplicate update_id 1"), (41, "Duplicate update_id 2"),
                     (40, "x"), (39, "x"), (40, "x"), (41, "Duplicate update_id 1")]:
        store.append(labels, ts * 10**9, line)
    assert store.streams[0].entries == [(39 * 10**9, "x"), (40 * 10**9, "x"), (41 * 10**9, "Duplicate update_id 1"),
                                        (41 * 10**9, "Duplicate update_id 2")]
    query = 'sum by (service) (count_over_time({service="telegram-bot"} |= `Duplicate update_id` [30s]))'
    assert [s.value for s in evaluate_instant(store, query, 41 * 10**9)] == [2.0]
