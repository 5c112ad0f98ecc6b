"""LogQL rule unit tests: hand-written edge cases, the tests generated from truth, and `obsctl test` itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator import conventions, pipeline
from generator.artifacts import logql_tests, loki_rules
from generator.checks import logql_tests as logql_test_checks
from generator.cli import main
from generator.logql_engine import RuleFileError, run_test_file
from generator.pipeline import plan_for
from generator.truth import load_truth

REPO = Path(__file__).resolve().parents[2]
HAND_WRITTEN = sorted((REPO / "tests" / "logql").glob("*.yaml"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Loki rule file and the generated LogQL tests, freshly rendered from truth into a scratch repo."""
    root = tmp_path_factory.mktemp("repo")
    truth = load_truth(REPO / "product" / "truth.yaml")
    for artifact in loki_rules.render(plan_for(truth)) + logql_tests.render(plan_for(truth)):
        target = root / artifact.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(artifact.content, encoding="utf-8")
    return root


def generated_files(root: Path) -> list[Path]:
    return sorted((root / conventions.LOGQL_TESTS_DIR).glob("*.yaml"))


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda p: p.name)
def test_hand_written_edge_case_tests_pass(path: Path) -> None:
    result = run_test_file(path)
    assert result.assertions > 0
    assert result.ok, "\n".join(str(f) for f in result.failures)


def test_generated_tests_cover_every_truth_pattern_and_threshold(rendered: Path) -> None:
    truth = load_truth(REPO / "product" / "truth.yaml")
    names = {p.name for p in generated_files(rendered)}
    assert names == {"forbidden-patterns.yaml", "leaked-secrets.yaml", "rate-limited-patterns.yaml",
                     "error-rate.yaml", "webhook-latency.yaml", "log-slo.yaml", "log-events.yaml"}
    names_of_tests = [test["name"] for p in generated_files(rendered)
                      for test in yaml.safe_load(p.read_text(encoding="utf-8"))["tests"]]
    for pattern in [*truth.forbidden_patterns, *truth.privacy.never_log, truth.log_alerts.external_api_timeout]:
        fires = [n for n in names_of_tests if n.startswith(f"{pattern.id}: fires on match example")]
        silent = [n for n in names_of_tests if n.startswith(f"{pattern.id}: silent on look-alike")]
        assert len(fires) == len(pattern.examples.match), pattern.id
        assert len(silent) == len(pattern.examples.no_match), pattern.id
    text = "\n".join(names_of_tests)
    for rate_limited in truth.rate_limited_patterns:
        assert f"{rate_limited.id}: silent at its limit" in text
        assert f"{rate_limited.id}: fires above its limit" in text
    for alert_id in ("error_log_rate", "webhook_latency_p95", "webhook_slow_responses"):
        assert alert_id in text
    assert f"{truth.slos.log_error_ratio.id}: 9 request lines, 6 of them failed, in both formats" in text
    assert "webhook_slow_responses: P50 of 301 ms pending, then firing after 10m" in text
    assert "webhook_slow_responses: silent at exactly 300 ms" in text
    assert "webhook_slow_responses: silent when a quarter of the responses take 8000 ms and the rest 100 ms" in text
    debug = truth.log_alerts.below_production_level.id
    assert [n for n in names_of_tests if n.startswith(f"{debug}: fires on")] == [
        f"{debug}: fires on match example 1", f"{debug}: fires on match example 2"]  # text and JSON


def test_generated_tests_pass_against_the_rendered_rules(rendered: Path) -> None:
    total = 0
    for path in generated_files(rendered):
        result = run_test_file(path)
        total += result.assertions
        assert result.ok, "\n".join(str(f) for f in result.failures)
    assert total > 50


def test_a_broken_rule_fails_the_generated_tests_with_a_readable_message(rendered: Path, tmp_path: Path) -> None:
    broken = tmp_path / "repo"
    rules_file = conventions.loki_rule_file(load_truth(REPO / "product" / "truth.yaml"))
    for path in [rendered / rules_file, *generated_files(rendered)]:
        target = broken / path.relative_to(rendered)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    rule_text = (broken / rules_file).read_text(encoding="utf-8")
    # An off-by-one in the error-rate threshold: `>= 10` instead of `> 10`.
    assert "[10m])) > 10" in rule_text
    (broken / rules_file).write_text(rule_text.replace("[10m])) > 10", "[10m])) >= 10"), encoding="utf-8")
    result = run_test_file(broken / conventions.LOGQL_TESTS_DIR / "error-rate.yaml")
    assert len(result.failures) == 1
    message = str(result.failures[0])
    assert "silent at 10 error lines" in message
    tests = yaml.safe_load((broken / conventions.LOGQL_TESTS_DIR / "error-rate.yaml").read_text())["tests"]
    at_threshold = next(t for t in tests if "silent at 10 error lines" in t["name"])
    assert f"eval_time {at_threshold['alert_rule_test'][0]['eval_time']}" in message
    assert "alertname ErrorLogRate: firing alerts differ" in message
    assert "expected:\n      (none)" in message
    assert 'got:\n      - labels: {alert_id="error_log_rate", alertname="ErrorLogRate"' in message


def test_a_rule_that_cannot_evaluate_fails_its_tests(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "groups:\n- name: g\n  rules:\n  - alert: JsonErrors\n"
        "    expr: sum(count_over_time({app=\"x\"} | json [1m])) > 0\n", encoding="utf-8")
    (tmp_path / "test.yaml").write_text(
        "rule_files: [rules.yaml]\ntests:\n- input_streams:\n  - labels: '{app=\"x\"}'\n"
        "    entries: [{at: 10s, line: 'not json'}]\n"
        "  alert_rule_test: [{eval_time: 1m, alertname: JsonErrors, exp_alerts: []}]\n", encoding="utf-8")
    result = run_test_file(tmp_path / "test.yaml")
    assert len(result.failures) == 1
    assert "rule evaluation failed at 1m: pipeline error: 'JSONParserErr'" in str(result.failures[0])


def test_malformed_test_files_name_the_file_and_the_field(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("groups: []\n", encoding="utf-8")
    (tmp_path / "t.yaml").write_text(
        "rule_files: [rules.yaml]\ntests:\n- input_streams:\n  - labels: '{app=\"x\"}'\n"
        "    entries: [{at: soon, line: x}]\n", encoding="utf-8")
    with pytest.raises(RuleFileError,
                       match=r"t\.yaml:5:20: tests\[0\]\.input_streams\[0\]\.entries\[0\]\.at: invalid duration"):
        run_test_file(tmp_path / "t.yaml")
    (tmp_path / "t.yaml").write_text("rule_files: [missing.yaml]\ntests: []\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"rule file .*missing\.yaml:1:1: <file>: cannot read"):
        run_test_file(tmp_path / "t.yaml")
    (tmp_path / "rules.yaml").write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'sum(x'\n",
                                         encoding="utf-8")
    (tmp_path / "t.yaml").write_text("rule_files: [rules.yaml]\ntests: []\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"rules\.yaml:5:11: groups\[0\]\.rules\[0\]\.expr: parse error"):
        run_test_file(tmp_path / "t.yaml")


def test_obsctl_test_exits_0_on_success_1_on_failure_2_on_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["test", str(REPO / "tests" / "logql" / "aggregations.yaml")])
    assert ok.exit_code == 0, ok.output
    assert "SUCCESS" in ok.output
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        f"rule_files: [{REPO / 'tests' / 'logql' / 'rules' / 'edge-cases.yaml'}]\n"
        "tests:\n- name: wrong expectation\n  input_streams:\n  - labels: '{service=\"shop\"}'\n"
        "    entries: [{at: 10s, line: payment failed}]\n"
        "  logql_expr_test:\n  - expr: count_over_time({service=\"shop\"} [1m])\n    eval_time: 1m\n"
        "    exp_samples: [{labels: '{service=\"shop\"}', value: 2}]\n", encoding="utf-8")
    bad = runner.invoke(main, ["test", str(failing)])
    assert bad.exit_code == 1
    assert "test 'wrong expectation' at eval_time 1m" in bad.output
    assert '{service="shop"} 2.0' in bad.output and '{service="shop"} 1.0' in bad.output
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("tests: []\n", encoding="utf-8")
    invalid = runner.invoke(main, ["test", str(malformed)])
    assert invalid.exit_code == 2
    assert "missing required key `rule_files`" in invalid.output


def test_generation_is_deterministic_and_registered_in_the_pipeline() -> None:
    truth = load_truth(REPO / "product" / "truth.yaml")
    first, second = logql_tests.render(plan_for(truth)), logql_tests.render(plan_for(truth))
    assert first == second
    assert all(a.content.startswith("# generated from") for a in first)
    [kind] = [k for k in pipeline.KINDS if logql_tests.render in k.renderers]
    assert kind.checks == (logql_test_checks.check,)
