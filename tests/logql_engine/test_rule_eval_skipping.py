"""Skipping idle rule evaluations changes nothing: the engine with skipping and the engine evaluating every aligned
step produce the same alert transitions, errors, evaluation counts and alert states, over random sparse logs run
through the generated Loki rules and through rules of other shapes (`for`, ranges shorter than the interval,
pipeline errors, `bool`, unwrap). Also: the "next entry/sample after t" look-ups agree with a linear scan, and
shapes whose emptiness cannot be proved are never skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.logql_engine import LogStore, RuleEngine, ast, evaluate_rules, parse_expr, parse_rule_groups
from generator.logql_engine.evaluator import Evaluator, selector_matches
from generator.logql_engine.rules import RuleGroup, window_ranges_deciding_emptiness
from generator.logs.backtest import load_rules
from generator.truth import load_truth

REPO = Path(__file__).resolve().parents[2]
S = 10**9
T0 = 1_796_000_000 * S  # late 2026, whole seconds but not a multiple of 15 s
SPAN_S = 1_200  # bursts start within 60 s + SPAN_S of T0 and last up to 300 s
END_S = 60 + SPAN_S + 300 + 600 + 60  # ... then the longest window (10m) empties, plus a minute of `for` and interval
TRUTH = load_truth(REPO / "product" / "truth.yaml")
GENERATED_GROUPS = load_rules(REPO / "loki" / "rules" / TRUTH.logs.tenant)

# Every truth example (hits and look-alikes) plus the lines the error-rate and latency rules read.
_patterns = (*TRUTH.forbidden_patterns, *TRUTH.rate_limited_patterns, *TRUTH.privacy.never_log)
LOOK_ALIKES = sorted({e for p in _patterns for e in p.examples.no_match})
LINES = sorted({*(e for p in _patterns for e in p.examples.match),
                "2026-11-29 10:00:01,123 - bot.api - ERROR - External API timeout",
                "2026-11-29 10:00:01,123 - bot.webhook - INFO - Webhook handled update_id=5 operation=webhook "
                "duration_ms=120",
                "2026-11-29 10:00:01,123 - bot.webhook - WARNING - Webhook handled update_id=6 operation=webhook "
                "duration_ms=2400",
                '{"asctime": "2026-11-29 10:00:01,123", "name": "bot.webhook", "levelname": "WARNING", '
                '"message": "webhook handled", "operation": "webhook", "duration_ms": 1800}'})
STREAM_LABELS = ({"service": "telegram-bot"}, {"service": "telegram-bot", "instance": "srv-2"}, {"service": "other"})

# Shapes the generated rules do not have: `for` (pending alerts), a range shorter than the interval, pipeline errors
# (text lines through `| json`), `bool`, unwrap with min/max, a grouping that keeps two series, a recording rule.
OTHER_SHAPES = parse_rule_groups({"groups": [
    {"name": "pending", "interval": "5s", "rules": [
        {"alert": "ErrorsHeld", "expr": 'sum by (service) (count_over_time({service="telegram-bot"} |= "ERROR" [20s]))'
                                        " > 0", "for": "30s", "annotations": {"summary": "{{ $value }}"}},
        {"record": "errors:count20s", "expr": 'sum(count_over_time({service="telegram-bot"} |= "ERROR" [20s]))'}]},
    {"name": "short-range", "interval": "10s", "rules": [
        {"alert": "UpdateSeen", "expr": 'count_over_time({service=~"telegram-.*"} |= "update_id" [3s])',
         "labels": {"v": "{{ $value }}"}}]},
    {"name": "pipeline-errors", "interval": "7s", "rules": [
        {"alert": "JsonLines", "expr": 'sum(count_over_time({service="telegram-bot"} | json [30s])) > 0'}]},
    {"name": "shapes", "interval": "3s", "rules": [
        {"alert": "QueueBool", "expr": 'count_over_time({service="telegram-bot"} |= "Queue" [1m]) > bool 0'},
        {"alert": "FastWebhook", "for": "10s",
         "expr": 'max_over_time({service="telegram-bot"} | regexp `duration_ms"?\\s*[:=]\\s*(?P<d>[0-9]+)` '
                 "| unwrap d [45s]) by (service) < 500"},
        {"alert": "PerInstance", "for": "6s",
         "expr": 'sum by (instance) (rate({service=~".+", service!="other"} |~ "WARNING|CRITICAL" [40s])) >= 0.05'}]},
]}, "other shapes")


@st.composite
def sparse_logs(draw: Any) -> LogStore:
    """A few bursts of lines (a burst of rate-limited lines crosses its limit) in a long quiet span. Times are often
    whole seconds or one nanosecond off, so lines land on and next to window edges (t - range, t]."""
    store = LogStore()
    nudge = st.sampled_from([0, 0, 1, -1, 10**9 - 1, 123_456_789])
    lines = st.one_of(st.sampled_from(LINES), st.sampled_from(LOOK_ALIKES))
    start = T0 + draw(st.integers(0, 60)) * S + draw(nudge)
    # 210 s is a multiple of every interval used here: a burst starting there starts on every group's grid
    on_every_grid = st.integers(1, SPAN_S // 210).map(lambda k: (T0 // (210 * S) + k) * 210 * S)
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.one_of(on_every_grid, st.integers(0, SPAN_S).map(lambda k: start + k * S))) + draw(nudge)
        spread_s = draw(st.sampled_from([0, 1, 5, 15, 40, 300]))
        labels = draw(st.sampled_from(STREAM_LABELS))
        line = draw(lines)
        for i in range(draw(st.integers(1, 8))):
            if draw(st.booleans()):
                line = draw(lines)
            store.append(labels, at + (i and draw(st.integers(0, spread_s))) * S + draw(nudge), line)
    return store


def alert_states(engine: RuleEngine) -> list[list[list[tuple[Any, ...]]]]:
    return [[sorted((key, a.state, a.active_at_ns, a.value, a.fired_at_ns, a.resolved_at_ns,
                     sorted(a.annotations.items())) for key, a in state.active.items())
             for state in states] for states in engine.states]


def run_both(groups: list[RuleGroup], store: LogStore, stops: list[int], offset_ns: int) -> None:
    """Both engines advanced to the same stops (as the rule unit tests do); states compared at each stop."""
    naive = RuleEngine(groups, store, offset_ns, skip_idle=False)
    skipping = RuleEngine(groups, store, offset_ns, skip_idle=True)
    for stop in stops:
        expected, actual = naive.advance(T0, stop), skipping.advance(T0, stop)
        assert actual.events == expected.events
        assert actual.errors == expected.errors
        assert actual.evaluations == expected.evaluations
        assert alert_states(skipping) == alert_states(naive)
        assert expected.skipped_evaluations == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=sparse_logs(), cut=st.integers(1, END_S))
def test_the_generated_rules_give_identical_transitions_with_and_without_skipping(store: LogStore, cut: int) -> None:
    run_both(GENERATED_GROUPS, store, [T0 + cut * S, T0 + END_S * S], 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=sparse_logs(), cut=st.integers(1, END_S), offset_s=st.sampled_from([0, 1, 2, 13]))
def test_other_rule_shapes_give_identical_transitions_with_and_without_skipping(store: LogStore, cut: int,
                                                                                offset_s: int) -> None:
    run_both(OTHER_SHAPES, store, [T0 + cut * S, T0 + END_S * S], offset_s * S)


def test_a_quiet_week_is_mostly_skipped_and_still_fires_at_the_same_times() -> None:
    store = LogStore()
    duplicate = next(line for line in LINES if "Duplicate update_id 987654" in line)
    for day in range(7):
        for k in range(3):  # three duplicates within 2 s once a day: above the limit of 1 per 30 s
            store.append({"service": "telegram-bot"}, T0 + day * 86_400 * S + k * S, duplicate)
    end = T0 + 7 * 86_400 * S
    run = evaluate_rules(GENERATED_GROUPS, store, T0, end)
    firing = [e.ts_ns for e in run.events if e.alertname == "DuplicateUpdateIdRateExceeded" and e.state == "firing"]
    assert firing == [T0 + day * 86_400 * S + S for day in range(7)]  # T0 is whole seconds: aligned to 1s
    # aligned times in [T0, end]: T0 is not a multiple of 15 s
    steps = sum(len(g.alert_rules) * (end // g.interval_ns - -(-T0 // g.interval_ns) + 1) for g in GENERATED_GROUPS)
    assert run.evaluations == steps  # every aligned evaluation is counted ...
    assert run.skipped_evaluations > 0.99 * steps  # ... but nearly all are proved idle, not computed


@pytest.mark.parametrize("skip_idle", [False, True])
def test_a_line_one_nanosecond_inside_the_window_edge_is_still_evaluated(skip_idle: bool) -> None:
    # A text line through `| json` is an error sample: every evaluation whose window (t - 10s, t] holds it fails,
    # and a failing evaluation leaves no alert behind, so only the window decides whether t is evaluated.
    groups = parse_rule_groups({"groups": [{"name": "g", "interval": "1s", "rules": [
        {"alert": "A", "expr": 'sum(count_over_time({service="x"} | json [10s])) > 0'}]}]}, "test")
    store = LogStore([{"labels": {"service": "x"}, "entries": [(5 * S + 1, "not json")]}])
    run = evaluate_rules(groups, store, 0, 30 * S, skip_idle=skip_idle)
    assert [e.ts_ns // S for e in run.errors] == list(range(6, 16))  # 15 s - 10 s < 5 s + 1 ns <= 15 s
    assert run.evaluations == 31


def test_a_rule_whose_emptiness_cannot_be_proved_is_evaluated_at_every_step() -> None:
    selector = parse_expr('count_over_time({service="x"}[1m])')
    assert isinstance(selector, ast.RangeAggregation)
    # absent_over_time (and vector(), a bare number) yield a sample when nothing is there: no proof, no skipping.
    assert window_ranges_deciding_emptiness(ast.RangeAggregation("absent_over_time", selector.log_range)) is None  # type: ignore[arg-type]
    assert window_ranges_deciding_emptiness(ast.VectorAggregation("topk", selector)) is None  # type: ignore[arg-type]
    assert window_ranges_deciding_emptiness(1.0) is None  # type: ignore[arg-type]
    nested = parse_expr('sum by (a) (count_over_time({service="x"} |= "y" [1m])) > bool 2')
    assert window_ranges_deciding_emptiness(nested) == (nested.vector.inner,)  # type: ignore[union-attr]
    groups = parse_rule_groups({"groups": [{"name": "g", "interval": "10s", "rules": [
        {"alert": "A", "expr": 'count_over_time({service="x"}[1m]) > 0'}]}]}, "test")
    engine = RuleEngine(groups, LogStore(), 0)
    engine.states[0][0].deciding_ranges = None  # as for a shape without a proof
    run = engine.advance(0, 100 * S)
    assert (run.evaluations, run.skipped_evaluations) == (11, 0)


@settings(max_examples=60, deadline=None)
@given(store=sparse_logs(), after_ms=st.integers(-1_000, 1_300_000),
       selector=st.sampled_from(['{service="telegram-bot"}', '{service=~".+"}', '{instance="srv-2"}',
                                 '{service=~".+", service!="telegram-bot"}']))
def test_next_entry_and_next_sample_after_agree_with_a_linear_scan(store: LogStore, after_ms: int,
                                                                   selector: str) -> None:
    after = T0 + after_ms * 10**6
    query = parse_expr(f'count_over_time({selector} |= "ERROR" [1m])')
    assert isinstance(query, ast.RangeAggregation)
    streams = [s for s in store.streams if selector_matches(query.log_range.selector, s.labels)]
    entries = [ts for s in streams for ts, _ in s.entries if ts > after]
    assert store.next_entry_after(query.log_range.selector, after) == min(entries, default=None)
    samples = [ts for s in streams for ts, line in s.entries if ts > after and "ERROR" in line]
    assert Evaluator(store).next_sample_after(query, after) == min(samples, default=None)
