"""Offline LogQL engine: parse, evaluate instant metric queries over in-memory log streams, evaluate Loki ruler
rule groups over time, and run promtool-style rule unit tests.

Public API (the scanner/backtest build on these):

    parse_expr(query) -> ast.MetricExpr                 # LogQLParseError / UnsupportedError
    LogStore(); store.append(labels, ts_ns, line)       # or LogStore([Stream(labels, [(ts_ns, line), ...])])
    Evaluator(store).instant(query_or_ast, t_ns) -> list[Sample]          # PipelineError like Loki
    evaluate_instant(store, query, t_ns) -> list[Sample]
    load_rule_file(path) -> list[RuleGroup]; parse_rule_groups(data, source)
    evaluate_rules(groups, store, start_ns, end_ns, offset_ns=0, skip_idle=True)
        -> RuleRun(events, errors, evaluations, skipped_evaluations)   # skip_idle: same result, proved no-ops skipped
    RuleEngine(groups, store).advance(start_ns, until_ns); engine.alerts(alertname, state)
    store.next_entry_after(selector, after_ns); Evaluator(store).next_sample_after(range_aggregation, after_ns)
    run_test_file(path) -> TestFileResult
"""

from generator.logql_engine import ast
from generator.logql_engine.errors import (
    LogQLError,
    LogQLParseError,
    PipelineError,
    RuleFileError,
    UnsupportedError,
)
from generator.logql_engine.evaluator import Evaluator, LogStore, Sample, Stream, format_labels
from generator.logql_engine.parser import parse_expr
from generator.logql_engine.rules import (
    Alert,
    AlertEvent,
    AlertRule,
    RecordingRule,
    RuleEngine,
    RuleEvalError,
    RuleGroup,
    RuleRun,
    evaluate_rules,
    load_rule_file,
    parse_rule_groups,
)
from generator.logql_engine.testfile import TestFailure, TestFileResult, run_test_file


def evaluate_instant(store: LogStore, query: str | ast.MetricExpr, t_ns: int) -> list[Sample]:
    """One instant query at `t_ns` (window (t - range, t], as Loki)."""
    return Evaluator(store).instant(query, t_ns)


__all__ = [
    "Alert", "AlertEvent", "AlertRule", "Evaluator", "LogQLError", "LogQLParseError", "LogStore", "PipelineError",
    "RecordingRule", "RuleEngine", "RuleEvalError", "RuleFileError", "RuleGroup", "RuleRun", "Sample", "Stream",
    "TestFailure", "TestFileResult", "UnsupportedError", "ast", "evaluate_instant", "evaluate_rules",
    "format_labels", "load_rule_file", "parse_expr", "parse_rule_groups", "run_test_file",
]
