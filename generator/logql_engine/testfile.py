"""LogQL rule unit tests, modelled on `promtool test rules`.

    rule_files: [../../loki/rules/fake/telegram-bot.yaml]   # relative to this file
    evaluation_interval: 1m        # interval of groups that set none (promtool's global evaluation_interval)
    tests:
      - name: fires on a Decimal serialisation error
        input_streams:
          - labels: '{service="telegram-bot"}'          # or a mapping {service: telegram-bot}
            entries:
              - {at: 30s, line: "... Decimal is not JSON serializable"}
              - {at: 1m, every: 10s, count: 6, line: "..."}   # 6 lines: 1m, 1m10s, ... 1m50s
        alert_rule_test:
          - eval_time: 1m
            alertname: DecimalNotJsonSerializable
            exp_alerts:                                 # the FIRING alerts, as promtool compares them
              - exp_labels: {service: telegram-bot, severity: critical}   # alertname is added
                exp_annotations: {summary: ...}         # optional; when absent annotations are not compared
            exp_pending: []                             # optional: the PENDING alerts (promtool has no equivalent)
        logql_expr_test:
          - expr: sum by (service) (count_over_time({service="telegram-bot"} [5m]))
            eval_time: 1m
            exp_samples: [{labels: '{service="telegram-bot"}', value: 1}]
            # or: exp_error: "pipeline error"           (a substring of the expected evaluation error)
          - expr: slo:log_requests:rate5m               # a recording rule of the rule files, by its name
            eval_time: 5m
            exp_samples: [{labels: '{service="telegram-bot"}', value: 0.1}]

Times are durations from the Unix epoch, as in promtool. Each group is evaluated at multiples of its own interval;
an assertion at eval_time T sees the state after each group's last evaluation at or before T.

lokitool's proposed format (Loki PR 20484, pkg/tool/rules/README.md "Loki Rules Unit Testing") is read as is, told
apart per stream: a stream with `lines` instead of `entries` places its lines at the Unix epoch and then one per
test `interval` (default: evaluation_interval, as promtool's `interval`). Its other keys are accepted too: per test
`interval`, `external_labels` (added to every alert's labels unless the alert has that label, as the Prometheus
notifier does), `external_url` (unused, as in lokitool), top-level `group_eval_order` (names checked; the order
cannot change a result here: Loki recording rules never feed alerts in the same ruler) and `rule_files` globs.
`exp_logs` (log queries) is refused with a located error: the engine evaluates metric queries only.

A recording rule's result cannot be queried back in LogQL (the ruler remote-writes it to Prometheus), so an `expr`
that is exactly the name of a recording rule in the rule files evaluates that rule at `eval_time`: its expression,
then its `labels` set on every sample (Prometheus rules/recording.go RecordingRule.Eval; `__name__` is not compared).
A bare name is no LogQL query, so this reading cannot shadow one.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.logql_engine.errors import LogQLError
from generator.logql_engine.evaluator import Evaluator, LogStore, Sample, format_labels, labels_key
from generator.logql_engine.gocompat import GoParseError, parse_prometheus_duration_ns
from generator.logql_engine.lexer import tokenize
from generator.logql_engine.located import Where, load_located_yaml
from generator.logql_engine.rules import (
    DEFAULT_INTERVAL_NS,
    Alert,
    RecordingRule,
    RuleEngine,
    RuleGroup,
    load_rule_file,
)

_TOP_KEYS = {"rule_files", "evaluation_interval", "tests", "group_eval_order"}
_TEST_KEYS = {"name", "input_streams", "alert_rule_test", "logql_expr_test", "interval", "external_labels",
              "external_url"}
_STREAM_KEYS = {"labels", "entries", "lines"}
_ENTRY_KEYS = {"at", "line", "every", "count"}
_ALERT_TEST_KEYS = {"eval_time", "alertname", "exp_alerts", "exp_pending"}
_EXPECTED_ALERT_KEYS = {"exp_labels", "exp_annotations"}
_EXPR_TEST_KEYS = {"expr", "eval_time", "exp_samples", "exp_error", "exp_logs"}
_SAMPLE_KEYS = {"labels", "value"}


@dataclass
class TestFailure:
    file: str
    test: str
    eval_time: str
    message: str

    def __str__(self) -> str:
        return f"FAILED {self.file}: test {self.test!r} at eval_time {self.eval_time}: {self.message}"


@dataclass
class TestFileResult:
    path: str
    tests: int = 0
    assertions: int = 0
    failures: list[TestFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _fmt_time(ns: int) -> str:
    if ns == 0:
        return "0s"
    from generator.truth.types import Duration

    return str(Duration(ns / 1e9)) if ns % 10**6 == 0 else f"{ns}ns"


def _time(value: Any, where: Where) -> int:
    if isinstance(value, bool):
        raise where.error(f"expected a duration such as 1m30s, got {value!r}")
    if isinstance(value, int) and value == 0:
        return 0
    if not isinstance(value, str):
        raise where.error(f"expected a duration such as 1m30s, got {value!r}")
    try:
        return parse_prometheus_duration_ns(value)
    except GoParseError:
        raise where.error(f"invalid duration {value!r} (use e.g. 0s, 30s, 1m30s)") from None


def _keys(data: Any, allowed: set[str], where: Where, required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise where.error("expected a mapping")
    unknown = set(data) - allowed
    if unknown:
        raise where.error(f"unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                          f"(allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in data:
            raise where.error(f"missing required key `{key}`")
    return data


def parse_labels(value: Any, where: Where) -> dict[str, str]:
    """`{a="b", c="d"}` in LogQL syntax, or a YAML mapping."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    bad = where.error(f"labels must look like {{name=\"value\", ...}} or be a mapping, got {value!r}")
    if not isinstance(value, str):
        raise bad
    try:
        tokens = tokenize(value)
    except LogQLError as exc:
        raise where.error(str(exc)) from None
    labels: dict[str, str] = {}
    i = 0
    if tokens[i].text != "{":
        raise bad
    i += 1
    while tokens[i].text != "}":
        if tokens[i].kind != "ident" or tokens[i + 1].text != "=" or tokens[i + 2].kind != "string":
            raise bad
        labels[tokens[i].text] = tokens[i + 2].text
        i += 3
        if tokens[i].text == ",":
            i += 1
        elif tokens[i].text != "}":
            raise bad
    if tokens[i + 1].kind != "eof":
        raise bad
    return labels


def _load_store(streams: Any, where: Where, line_interval_ns: int) -> LogStore:
    """Our `entries` (explicit times), or lokitool's `lines`: the n-th line at n * `line_interval_ns`."""
    store = LogStore()
    if streams is None:
        return store
    if not isinstance(streams, list):
        raise where.error("input_streams must be a list")
    for si, stream in enumerate(streams):
        swhere = where / si
        _keys(stream, _STREAM_KEYS, swhere, ("labels",))
        if ("entries" in stream) == ("lines" in stream):
            raise swhere.error("a stream has exactly one of `entries` (times given) or `lines` (lokitool: one per "
                               "test interval from the Unix epoch)")
        labels = parse_labels(stream["labels"], swhere / "labels")
        if "lines" in stream:
            if not isinstance(stream["lines"], list):
                raise (swhere / "lines").error("lines must be a list of strings")
            for li, line in enumerate(stream["lines"]):
                if not isinstance(line, str):
                    raise (swhere / "lines" / li).error("a line must be a string")
                store.append(labels, li * line_interval_ns, line)
            continue
        if not isinstance(stream["entries"], list):
            raise (swhere / "entries").error("entries must be a list")
        for ei, entry in enumerate(stream["entries"]):
            ewhere = swhere / "entries" / ei
            _keys(entry, _ENTRY_KEYS, ewhere, ("at", "line"))
            if not isinstance(entry["line"], str):
                raise (ewhere / "line").error("line must be a string")
            at = _time(entry["at"], ewhere / "at")
            count = entry.get("count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise (ewhere / "count").error("count must be a positive integer")
            every = _time(entry["every"], ewhere / "every") if "every" in entry else 0
            if count > 1 and every <= 0:
                raise ewhere.error("count > 1 needs a positive `every`")
            for n in range(count):
                store.append(labels, at + n * every, entry["line"])
    return store


def _render_alerts(alerts: list[tuple[dict[str, str], dict[str, str] | None]]) -> str:
    if not alerts:
        return "      (none)"
    lines = []
    for labels, shown_annotations in sorted(alerts, key=lambda a: labels_key(a[0])):
        lines.append(f"      - labels: {format_labels(labels)}")
        if shown_annotations is not None:
            for name, text in sorted(shown_annotations.items()):
                lines.append(f"        {name}: {text!r}")
    return "\n".join(lines)


def _with_external_labels(alerts: list[Alert], external: dict[str, str]) -> list[Alert]:
    """The notifier adds external labels an alert does not carry itself (Prometheus notifier/notifier.go)."""
    if not external:
        return alerts
    return [Alert({**external, **a.labels}, a.annotations, a.state, a.active_at_ns, a.value) for a in alerts]


def _compare_alerts(expected: Any, got: list[Alert], alertname: str, what: str, where: Where) -> str | None:
    if expected is None:
        expected = []
    if not isinstance(expected, list):
        raise (where / what).error("must be a list")
    wanted: list[tuple[dict[str, str], dict[str, str] | None]] = []
    for ai, item in enumerate(expected):
        _keys(item, _EXPECTED_ALERT_KEYS, where / what / ai)
        labels = {str(k): str(v) for k, v in (item.get("exp_labels") or {}).items()}
        labels["alertname"] = alertname
        annotations = item.get("exp_annotations")
        if annotations is not None:
            annotations = {str(k): str(v) for k, v in annotations.items()}
        wanted.append((labels, annotations))
    remaining = list(got)
    matched = True
    for labels, annotations in wanted:
        hit = next((a for a in remaining if a.labels == labels
                    and (annotations is None or a.annotations == annotations)), None)
        if hit is None:
            matched = False
            break
        remaining.remove(hit)
    if matched and not remaining:
        return None
    compare_annotations = any(a is not None for _, a in wanted)
    shown_got = [(dict(a.labels), dict(a.annotations) if compare_annotations else None) for a in got]
    state = "firing" if what == "exp_alerts" else "pending"
    return (f"alertname {alertname}: {state} alerts differ\n"
            f"    expected:\n{_render_alerts(wanted)}\n    got:\n{_render_alerts(shown_got)}")


def _same_value(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def _rule_paths(rule_files: Any, base: Path, where: Where) -> list[Path]:
    """`rule_files` relative to the test file; globs expanded (promtool and lokitool both accept them)."""
    if not isinstance(rule_files, list) or not rule_files:
        raise where.error("rule_files must be a non-empty list")
    paths: list[Path] = []
    for ri, rule_file in enumerate(rule_files):
        pattern = str(base / str(rule_file))
        if glob.has_magic(pattern):
            matched = sorted(glob.glob(pattern))
            if not matched:
                raise (where / ri).error(f"no rule file matches {rule_file!r}")
            paths.extend(Path(m) for m in matched)
        else:
            paths.append(Path(pattern))
    return paths


RuleFileMemo = dict[tuple[Path, int], list[RuleGroup]]


def run_test_file(path: str | Path, parsed_rules: RuleFileMemo | None = None) -> TestFileResult:
    """Run every test of one test file. Raises RuleFileError for a malformed test or rule file.

    `parsed_rules` lets the test files of one run share the rule files they all read: each is parsed once and kept
    there (by path and default interval) when it loads; a broken one is never kept, so every test file reports it."""
    path = Path(path)
    data, root = load_located_yaml(path, "test file")
    _keys(data, _TOP_KEYS, root, ("rule_files", "tests"))
    default_interval = (_time(data["evaluation_interval"], root / "evaluation_interval")
                        if "evaluation_interval" in data else DEFAULT_INTERVAL_NS)
    groups: list[RuleGroup] = []
    memo: RuleFileMemo = {} if parsed_rules is None else parsed_rules
    for rule_path in _rule_paths(data["rule_files"], path.parent, root / "rule_files"):
        key = (rule_path.resolve(), default_interval)
        if key not in memo:
            memo[key] = load_rule_file(rule_path, default_interval)
        groups.extend(memo[key])
    order = data.get("group_eval_order")
    if order is not None:
        if not isinstance(order, list):
            raise (root / "group_eval_order").error("group_eval_order must be a list of group names")
        known = {g.name for g in groups}
        for oi, name in enumerate(order):
            if str(name) not in known:
                raise (root / "group_eval_order" / oi).error(f"no rule group named {name!r} in the rule files")
    if not isinstance(data["tests"], list):
        raise (root / "tests").error("tests must be a list")
    result = TestFileResult(str(path))
    for ti, test in enumerate(data["tests"]):
        where = root / "tests" / ti
        _keys(test, _TEST_KEYS, where)
        name = str(test.get("name") or f"#{ti + 1}")
        result.tests += 1
        _run_test(test, name, where, groups, result, default_interval)
    return result


def _run_test(test: dict[str, Any], name: str, where: Where, groups: list[RuleGroup],
              result: TestFileResult, default_interval: int) -> None:
    line_interval = _time(test["interval"], where / "interval") if "interval" in test else default_interval
    if line_interval <= 0:
        raise (where / "interval").error("interval must be positive")
    external = test.get("external_labels") or {}
    if not isinstance(external, dict):
        raise (where / "external_labels").error("external_labels must be a mapping")
    external = {str(k): str(v) for k, v in external.items()}
    store = _load_store(test.get("input_streams"), where / "input_streams", line_interval)
    engine = RuleEngine(groups, store)
    checks = []
    for ci, check in enumerate(test.get("alert_rule_test") or []):
        cwhere = where / "alert_rule_test" / ci
        _keys(check, _ALERT_TEST_KEYS, cwhere, ("eval_time", "alertname"))
        checks.append((_time(check["eval_time"], cwhere / "eval_time"), ci, check, cwhere))
    for eval_time, _ci, check, cwhere in sorted(checks, key=lambda c: (c[0], c[1])):
        alertname = str(check["alertname"])
        shown_time = _fmt_time(eval_time)
        result.assertions += 1
        if alertname not in engine.rule_names():
            result.failures.append(TestFailure(result.path, name, shown_time,
                                               f"no alerting rule named {alertname} in the rule files"))
            continue
        run = engine.advance(0, eval_time)
        errors = [e for e in run.errors if e.rule == alertname and e.ts_ns <= eval_time]
        if errors:
            first = errors[0]
            result.failures.append(TestFailure(
                result.path, name, shown_time,
                f"alertname {alertname}: rule evaluation failed at {_fmt_time(first.ts_ns)}: {first.message}"))
            continue
        problem = _compare_alerts(check.get("exp_alerts"),
                                  _with_external_labels(engine.alerts(alertname, "firing"), external), alertname,
                                  "exp_alerts", cwhere)
        if problem is None and "exp_pending" in check:
            problem = _compare_alerts(check.get("exp_pending"),
                                      _with_external_labels(engine.alerts(alertname, "pending"), external), alertname,
                                      "exp_pending", cwhere)
        if problem:
            result.failures.append(TestFailure(result.path, name, shown_time, problem))
    evaluator = Evaluator(store)
    records = {rule.record: rule for group in groups for rule in group.rules if isinstance(rule, RecordingRule)}
    for ci, check in enumerate(test.get("logql_expr_test") or []):
        cwhere = where / "logql_expr_test" / ci
        _keys(check, _EXPR_TEST_KEYS, cwhere, ("expr", "eval_time"))
        if "exp_logs" in check:
            raise (cwhere / "exp_logs").error("log queries (exp_logs) are not supported by the offline engine, "
                                              "which evaluates metric queries only (the ruler runs no other kind)")
        eval_time = _time(check["eval_time"], cwhere / "eval_time")
        result.assertions += 1
        failure = _check_expr(evaluator, check, eval_time, cwhere, records)
        if failure:
            result.failures.append(TestFailure(result.path, name, _fmt_time(eval_time),
                                               f"expr {check['expr']}\n{failure}"))


def _evaluate(evaluator: Evaluator, expr: str, eval_time: int, records: dict[str, RecordingRule]) -> list[Sample]:
    """A LogQL query, or a recording rule named by `expr`: its query with the rule's labels set."""
    rule = records.get(expr.strip())
    if rule is None:
        return evaluator.instant(expr, eval_time)
    return [Sample({**sample.labels, **rule.labels}, sample.value)
            for sample in evaluator.instant(rule.query, eval_time)]


def _check_expr(evaluator: Evaluator, check: dict[str, Any], eval_time: int, where: Where,
                records: dict[str, RecordingRule]) -> str | None:
    expected_error = check.get("exp_error")
    try:
        samples = _evaluate(evaluator, str(check["expr"]), eval_time, records)
    except LogQLError as exc:
        if expected_error is not None and str(expected_error) in str(exc):
            return None
        return f"    expected: {'error containing ' + repr(expected_error) if expected_error else 'samples'}\n" \
               f"    got error: {exc}"
    if expected_error is not None:
        return f"    expected error containing {expected_error!r}\n    got samples: " + \
               (", ".join(str(s) for s in samples) or "(none)")
    wanted = []
    for si, item in enumerate(check.get("exp_samples") or []):
        _keys(item, _SAMPLE_KEYS, where / "exp_samples" / si, ("labels", "value"))
        value = item["value"]
        if isinstance(value, str):
            value = {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf}.get(value, value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise (where / "exp_samples" / si / "value").error("value must be a number")
        wanted.append((parse_labels(item["labels"], where / "exp_samples" / si / "labels"), float(value)))
    got = [(s.labels, s.value) for s in samples]
    remaining = list(got)
    ok = True
    for labels, value in wanted:
        hit = next((g for g in remaining if g[0] == labels and _same_value(g[1], value)), None)
        if hit is None:
            ok = False
            break
        remaining.remove(hit)
    if ok and not remaining:
        return None

    def show(items: list[tuple[dict[str, str], float]]) -> str:
        ordered = sorted(items, key=lambda item: labels_key(item[0]))
        return "\n".join(f"      - {format_labels(labels)} {value!r}" for labels, value in ordered) or "      (none)"

    return f"    expected samples:\n{show(wanted)}\n    got samples:\n{show(got)}"
