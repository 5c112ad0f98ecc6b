"""lokitool's proposed test format (Loki PR 20484) read by `obsctl test` beside the project's own format."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.logql_engine import RuleFileError, run_test_file

RULES = ("groups:\n- name: g\n  interval: 1m\n  rules:\n  - alert: Errors\n"
         "    expr: sum by (job) (count_over_time({job=\"app\"} |= \"error\" [2m])) > 1\n"
         "    labels: {severity: warning}\n")


def _write(tmp_path: Path, test: str) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    path = tmp_path / "test.yaml"
    path.write_text(test, encoding="utf-8")
    return path


def test_lines_are_placed_from_the_epoch_one_interval_apart(tmp_path: Path) -> None:
    # lines at 0s, 45s, 1m30s, 2m15s; (15s, 2m15s] holds the last three, two of them errors
    path = _write(tmp_path, """
rule_files: [rules.yaml]
tests:
- name: spacing
  interval: 45s
  input_streams:
  - labels: '{job="app"}'
    lines: [error a, ok, error b, error c]
  logql_expr_test:
  - expr: 'count_over_time({job="app"} |= "error" [2m])'
    eval_time: 2m15s
    exp_samples: [{labels: '{job="app"}', value: 2}]
  alert_rule_test:
  - {alertname: Errors, eval_time: 1m, exp_alerts: []}
  - {alertname: Errors, eval_time: 2m, exp_alerts: []}      # (0s, 2m] holds one error only
  - alertname: Errors
    eval_time: 3m                                            # (1m, 3m]: error b and error c
    exp_alerts: [{exp_labels: {job: app, severity: warning}}]
""")
    result = run_test_file(path)
    assert result.failures == []
    assert (result.tests, result.assertions) == (1, 4)


def test_without_interval_lines_follow_the_evaluation_interval(tmp_path: Path) -> None:
    path = _write(tmp_path, """
rule_files: [rules.yaml]
evaluation_interval: 10s
tests:
- input_streams:
  - labels: '{job="app"}'
    lines: [a, b, c, d]
  logql_expr_test:
  - expr: 'count_over_time({job="app"} [15s])'
    eval_time: 30s
    exp_samples: [{labels: '{job="app"}', value: 2}]
""")
    assert run_test_file(path).failures == []


def test_external_labels_are_added_unless_the_alert_has_the_label(tmp_path: Path) -> None:
    path = _write(tmp_path, """
rule_files: [rules.yaml]
tests:
- interval: 1m
  external_labels: {cluster: eu, severity: ignored}
  input_streams:
  - labels: '{job="app"}'
    lines: [error, error]
  alert_rule_test:
  - alertname: Errors
    eval_time: 1m
    exp_alerts: [{exp_labels: {job: app, severity: warning, cluster: eu}}]
""")
    assert run_test_file(path).failures == []


def test_a_wrong_expectation_fails_with_expected_and_got(tmp_path: Path) -> None:
    path = _write(tmp_path, """
rule_files: [rules.yaml]
tests:
- name: wrong
  interval: 1m
  input_streams:
  - labels: '{job="app"}'
    lines: [error]
  logql_expr_test:
  - expr: 'count_over_time({job="app"} [5m])'
    eval_time: 1m
    exp_samples: [{labels: '{job="app"}', value: 3}]
""")
    failures = run_test_file(path).failures
    assert len(failures) == 1
    text = str(failures[0])
    assert "test 'wrong' at eval_time 1m" in text
    assert '{job="app"} 3.0' in text and '{job="app"} 1.0' in text


@pytest.mark.parametrize(("test", "message"), [
    ("rule_files: [rules.yaml]\ntests:\n- input_streams:\n  - labels: '{job=\"a\"}'\n    lines: [x]\n"
     "    entries: [{at: 0s, line: x}]\n",
     r"test\.yaml:4:5: tests\[0\]\.input_streams\[0\]: a stream has exactly one of `entries`"),
    ("rule_files: [rules.yaml]\ntests:\n- input_streams:\n  - labels: '{job=\"a\"}'\n    lines: [1]\n",
     r"test\.yaml:5:13: tests\[0\]\.input_streams\[0\]\.lines\[0\]: a line must be a string"),
    ("rule_files: [rules.yaml]\ntests:\n- logql_expr_test:\n  - expr: '{job=\"a\"}'\n    eval_time: 1m\n"
     "    exp_logs: [{labels: '{job=\"a\"}', line: x}]\n",
     r"test\.yaml:6:15: tests\[0\]\.logql_expr_test\[0\]\.exp_logs: log queries \(exp_logs\) are not supported"),
    ("rule_files: [nothing-*.yaml]\ntests: []\n", r"test\.yaml:1:14: rule_files\[0\]: no rule file matches"),
    ("rule_files: [rules.yaml]\ngroup_eval_order: [g, h]\ntests: []\n",
     r"test\.yaml:2:23: group_eval_order\[1\]: no rule group named 'h'"),
    ("rule_files: [rules.yaml]\ntests:\n- interval: 0s\n", r"test\.yaml:3:13: tests\[0\]\.interval: interval must"),
])
def test_malformed_lokitool_files_name_the_file_line_and_field(tmp_path: Path, test: str, message: str) -> None:
    with pytest.raises(RuleFileError, match=message):
        run_test_file(_write(tmp_path, test))


RECORDING_RULES = ("groups:\n- name: slo\n  interval: 1m\n  rules:\n  - record: app:errors:count2m\n"
                   "    expr: sum by (job) (count_over_time({job=\"app\"} |= \"error\" [2m]))\n"
                   "    labels: {source: logs}\n")


@pytest.mark.parametrize("streams", [
    "  - labels: '{job=\"app\"}'\n    lines: [error a, ok, error b]\n",  # lokitool's: at 0s, 30s, 1m
    "  - labels: '{job=\"app\"}'\n"
    "    entries: [{at: 0s, line: error a}, {at: 30s, line: ok}, {at: 1m, line: error b}]\n",
])
def test_a_recording_rule_named_in_logql_expr_test_is_evaluated_with_its_labels(tmp_path: Path,
                                                                                 streams: str) -> None:
    """Loki remote-writes recorded series, so LogQL cannot query them back: the name stands for the rule."""
    (tmp_path / "rules.yaml").write_text(RECORDING_RULES, encoding="utf-8")
    path = tmp_path / "test.yaml"
    path.write_text(f"""
rule_files: [rules.yaml]
tests:
- name: recorded
  interval: 30s
  input_streams:
{streams}  logql_expr_test:
  - expr: app:errors:count2m
    eval_time: 1m
    exp_samples: [{{labels: '{{job="app", source="logs"}}', value: 2}}]
  - expr: app:errors:count2m
    eval_time: 2m30s                 # (30s, 2m30s] holds error b only
    exp_samples: [{{labels: '{{job="app", source="logs"}}', value: 1}}]
  - expr: app:errors:count2m
    eval_time: 5m
    exp_samples: []
  - expr: app:errors:count2m
    eval_time: 1m
    exp_samples: [{{labels: '{{job="app"}}', value: 2}}]   # wrong on purpose: the rule's label is missing
""", encoding="utf-8")
    result = run_test_file(path)
    assert (result.tests, result.assertions) == (1, 4)
    assert len(result.failures) == 1
    assert str(result.failures[0]) == (
        f"FAILED {path}: test 'recorded' at eval_time 1m: expr app:errors:count2m\n"
        "    expected samples:\n      - {job=\"app\"} 2.0\n"
        "    got samples:\n      - {job=\"app\", source=\"logs\"} 2.0")


def test_test_files_of_one_run_parse_a_shared_rule_file_once(tmp_path: Path) -> None:
    first = _write(tmp_path, "rule_files: [rules.yaml]\ntests:\n- alert_rule_test:\n"
                             "  - {alertname: Errors, eval_time: 1m, exp_alerts: []}\n")
    second = tmp_path / "second.yaml"
    second.write_text(first.read_text(), encoding="utf-8")
    parsed: dict = {}
    results = [run_test_file(path, parsed) for path in (first, second)]
    assert list(parsed) == [((tmp_path / "rules.yaml").resolve(), 60_000_000_000)]
    assert [(r.tests, r.assertions, r.failures) for r in results] == [(1, 1, []), (1, 1, [])]


def test_a_broken_shared_rule_file_is_reported_by_every_test_file_that_reads_it(tmp_path: Path) -> None:
    first = _write(tmp_path, "rule_files: [rules.yaml]\ntests: []\n")
    (tmp_path / "rules.yaml").write_text("groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: 'sum('\n")
    parsed: dict = {}
    for _ in range(2):
        with pytest.raises(RuleFileError, match="rules.yaml"):
            run_test_file(first, parsed)
    assert parsed == {}
