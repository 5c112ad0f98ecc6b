"""promtool test cases packed into few groups at check time: what a PromQL expression may read, which cases may
share a group (never two that could observe each other), and the packed run against the real promtool: it accepts
the generated tests and a broken rule still fails naming the case, as an unpacked run does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator import conventions, pipeline
from generator.checks import prometheus_rules, promtool_packing
from generator.checks.base import ToolResult
from generator.checks.prometheus_rules import promtool_test
from generator.checks.promtool_packing import Rule, pack
from generator.pipeline import plan_for
from generator.syntax import fast_yaml
from generator.syntax.promql_names import expression_reads, series_metric
from generator.truth import Truth
from tests.tooling import check_problems, require_tool


def rule(name: str, expr: str, alert: bool = True) -> Rule:
    return Rule(name, alert, expression_reads(expr))


def case(name: str, inputs: list[str], alerts: list[str] = (), exprs: list[str] = (), **settings: Any
         ) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "interval": "1m", **settings,
                             "input_series": [{"series": series, "values": "1x5"} for series in inputs]}
    if alerts:
        found["alert_rule_test"] = [{"eval_time": "5m", "alertname": alert, "exp_alerts": []} for alert in alerts]
    if exprs:
        found["promql_expr_test"] = [{"expr": expr, "eval_time": "5m", "exp_samples": []} for expr in exprs]
    return found


def apart(rules: list[Rule], *cases: dict[str, Any]) -> bool:
    """True when packing puts every case in a group of its own."""
    return pack(list(cases), rules) == [[index] for index in range(len(cases))]


# What an expression may read.

def test_expression_reads_every_name_outside_strings_and_no_label_value() -> None:
    reads = expression_reads('sum by (job) (rate(foo_total{job="bar_total"}[5m])) / on () baz # qux_total')
    assert {"foo_total", "baz"} <= reads.names
    assert "bar_total" not in reads.names and "qux_total" not in reads.names and "5m" not in reads.names
    assert not reads.everything


@pytest.mark.parametrize("expr", ['{job="x"}', 'rate({__name__=~"render_.+"}[5m])', "count by (__name__) (up)"])
def test_a_selector_without_a_plain_metric_name_may_read_everything(expr: str) -> None:
    assert expression_reads(expr).everything


def test_alerts_series_read_the_alert_their_alertname_matcher_names_or_every_alert() -> None:
    named = expression_reads('ALERTS{alertname="QueueDepthHigh", alertstate="pending"}')
    assert named.alerts == {"QueueDepthHigh"} and not named.all_alerts
    assert expression_reads('ALERTS{alertname=~"Queue.*"}').all_alerts
    assert expression_reads("count(ALERTS_FOR_STATE)").all_alerts


def test_an_input_series_names_its_metric_plainly_or_through_its_name_label() -> None:
    assert series_metric('probe_success{job="health"}') == "probe_success"
    assert series_metric('{__name__="probe_success", job="health"}') == "probe_success"
    assert series_metric('{job="health"}') is None


# Which cases may share a group.

def test_cases_that_cannot_observe_each_other_share_one_group() -> None:
    rules = [rule("QueueHigh", "queue > 80"), rule("PoolFull", "pool > 18")]
    assert pack([case("queue", ["queue"], ["QueueHigh"]), case("pool", ["pool"], ["PoolFull"])], rules) == [[0, 1]]


def test_an_alert_fed_through_recording_rules_keeps_its_observer_apart_from_the_feeding_case() -> None:
    rules = [rule("job:cpu:rate5m", "sum(rate(cpu_seconds[5m]))", alert=False),
             rule("job:cpu:percent", "100 * job:cpu:rate5m", alert=False),
             rule("CpuHigh", "job:cpu:percent > 90"), rule("PoolFull", "pool > 18")]
    assert apart(rules, case("cpu input", ["cpu_seconds"], ["PoolFull"]), case("cpu alert", ["pool"], ["CpuHigh"]))


def test_an_absent_rule_keeps_a_case_expecting_it_apart_from_a_case_loading_its_metric() -> None:
    rules = [rule("HeartbeatMissing", "absent(heartbeat)"), rule("PoolFull", "pool > 18")]
    assert apart(rules, case("heartbeat present", ["heartbeat"], ["PoolFull"]),
                 case("heartbeat absent", ["pool"], ["HeartbeatMissing"]))


def test_two_cases_looking_at_the_same_alert_stay_apart_even_with_unrelated_inputs() -> None:
    rules = [rule("AlwaysFiring", "vector(1)")]
    assert apart(rules, case("one", ["a"], ["AlwaysFiring"]), case("two", ["b"], ["AlwaysFiring"]))


def test_a_rule_reading_the_inputs_of_both_cases_keeps_them_apart_though_nobody_observes_it() -> None:
    # Its evaluation error (or its absence) would change the packed group's outcome for both.
    rules = [rule("ratio", "a / on () b", alert=False), rule("AHigh", "a > 1"), rule("BHigh", "b > 1")]
    assert apart(rules, case("a", ["a"], ["AHigh"]), case("b", ["b"], ["BHigh"]))


def test_cases_loading_the_same_metric_stay_apart() -> None:
    assert apart([], case("one", ['up{job="a"}']), case("two", ['up{job="b"}']))


def test_a_promql_expr_test_on_alerts_series_observes_that_alert() -> None:
    rules = [rule("QueueHigh", "queue > 80"), rule("PoolFull", "pool > 18")]
    pending = 'ALERTS{alertname="QueueHigh", alertstate="pending"}'
    assert apart(rules, case("queue input", ["queue"], ["PoolFull"]), case("pending", ["pool"], exprs=[pending]))
    assert apart(rules, case("queue", ["queue"], ["QueueHigh"]), case("pending", ["pool"], exprs=[pending]))


def test_an_expression_that_may_read_everything_is_kept_apart_from_every_case_with_series() -> None:
    assert apart([], case("any", [], exprs=['count({job="x"})']), case("other", ["b"]))


@pytest.mark.parametrize("settings", [{"interval": "30s"}, {"external_labels": {"cluster": "b"}},
                                      {"external_url": "http://other"}])
def test_cases_with_different_group_settings_stay_apart(settings: dict[str, Any]) -> None:
    assert apart([], case("one", ["a"]), case("two", ["b"], **settings))


def test_a_packed_group_holds_every_series_and_test_of_its_cases_under_their_settings() -> None:
    cases = [case("a", ["a"], ["AHigh"], external_url="http://x"),
             case("b", ["b"], exprs=["b"], external_url="http://x")]
    group = promtool_packing.packed_group(3, cases)
    assert group["name"] == "packed group 3 (2 cases)"
    assert (group["interval"], group["external_url"]) == ("1m", "http://x")
    assert [s["series"] for s in group["input_series"]] == ["a", "b"]
    assert group["alert_rule_test"] == cases[0]["alert_rule_test"]
    assert group["promql_expr_test"] == cases[1]["promql_expr_test"]
    assert promtool_packing.packed_group(4, cases[:1]) is cases[0]


def test_longest_cases_are_packed_first_so_short_ones_ride_along() -> None:
    def timed(name: str, metric: str, alert: str, eval_time: str) -> dict[str, Any]:
        found = case(name, [metric], [alert])
        found["alert_rule_test"][0]["eval_time"] = eval_time
        return found

    rules = [rule("AHigh", "a > 1"), rule("BHigh", "b > 1")]
    cases = [timed("a long", "a1", "AHigh", "60m"), timed("b short", "b1", "BHigh", "1m"),
             timed("a short", "a2", "AHigh", "1m"), timed("b long", "b2", "BHigh", "60m")]
    # In file order "a long" + "b short" would leave "a short" + "b long": two groups of 60 steps, not 60 and 1.
    assert sorted(pack(cases, rules)) == [[0, 3], [1, 2]]


def test_the_generated_cases_pack_into_far_fewer_groups_keeping_same_alert_cases_apart(truth: Truth) -> None:
    from generator.artifacts import prometheus_rules as rules_artifact
    from generator.artifacts import promtool_tests

    cases = promtool_tests.build_tests(plan_for(truth))["tests"]
    rules_text = rules_artifact.render(plan_for(truth))[0].content
    rules = [rule(str(r.get("alert") or r.get("record")), r["expr"], "alert" in r)
             for group in fast_yaml.safe_load(rules_text)["groups"] for r in group["rules"]]
    groups = pack(cases, rules)
    assert sorted(index for group in groups for index in group) == list(range(len(cases)))
    assert len(groups) <= len(cases) // 3
    for group in groups:
        alertnames = [name for i in group for name in {t["alertname"] for t in cases[i].get("alert_rule_test", [])}]
        assert len(alertnames) == len(set(alertnames)), [cases[i]["name"] for i in group]


# The packed run, with the real promtool.

def generated_prometheus(truth: Truth, root: Path) -> list[pipeline.Rendered]:
    rendered = [item for item in pipeline.render_kinds(plan_for(truth)) if item.kind.name == "prometheus-rules"]
    pipeline.write_tree(root, [a for item in rendered for a in item.artifacts])
    return rendered


def test_the_packed_run_accepts_the_generated_tests(truth: Truth, tmp_path: Path) -> None:
    require_tool("promtool")
    generated_prometheus(truth, tmp_path)
    result = prometheus_rules.run_unit_tests(tmp_path / conventions.PROMTOOL_TESTS_FILE)
    assert result.ok, result.output


def test_a_broken_rule_fails_generation_naming_the_failing_case_not_a_packed_group(truth: Truth,
                                                                                   tmp_path: Path) -> None:
    require_tool("promtool")
    rendered = generated_prometheus(truth, tmp_path)
    rules_file = tmp_path / conventions.PROMETHEUS_RULES_FILE
    rules_file.write_text(rules_file.read_text().replace("queue_size > 80", "queue_size > 79"))
    problems = check_problems(tmp_path, rendered)
    assert [p.where for p in problems] == [conventions.PROMTOOL_TESTS_FILE]
    assert "name: QueueDepthHigh: silent at exactly 80," in problems[0].message
    assert promtool_packing.PACKED_NAME_PREFIX not in problems[0].message


def test_a_group_failing_only_when_packed_is_judged_by_its_cases_run_alone(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases that do observe each other, packed by force: the packed group fails, each case alone passes, and the
    cases alone are what an unpacked file means."""
    require_tool("promtool")
    (tmp_path / "rules.yaml").write_text("groups:\n  - name: g\n    rules:\n      - alert: QueueHigh\n"
                                         "        expr: queue > 80\n")
    fires = case("queue above: fires", ["queue"], [])
    fires["input_series"][0]["values"] = "81x5"
    fires["alert_rule_test"] = [{"eval_time": "5m", "alertname": "QueueHigh",
                                 "exp_alerts": [{"exp_labels": {}}]}]
    silent = case("queue below: silent", ['queue{instance="b"}'], ["QueueHigh"])
    test_file = tmp_path / "tests.yaml"
    test_file.write_text(json.dumps({"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
                                     "tests": [fires, silent]}))
    assert prometheus_rules.run_unit_tests(test_file).ok
    runs: list[ToolResult] = []

    def recorded(path: Path) -> ToolResult:
        runs.append(promtool_test(path))
        return runs[-1]

    monkeypatch.setattr(prometheus_rules, "case_groups", lambda cases, rule_files: [[0, 1]])
    monkeypatch.setattr(prometheus_rules, "promtool_test", recorded)
    result = prometheus_rules.run_unit_tests(test_file)
    assert [run.ok for run in runs] == [False, True]  # the packed group, then its cases one group each
    assert "name: packed group 1 (2 cases)," in runs[0].output
    assert result.ok, result.output


def test_an_alert_whose_annotation_runs_its_own_query_may_read_anything() -> None:
    queried = {"alert": "QueueHigh", "expr": "queue > 80",
               "annotations": {"summary": '{{ with query "pool_in_use" }}{{ . | first | value }}{{ end }}'}}
    plain = {"alert": "QueueHigh", "expr": "queue > 80", "annotations": {"summary": "{{ $value }} queued"}}
    assert promtool_packing.rule_reads(queried).everything
    assert not promtool_packing.rule_reads(plain).everything
    rules = [Rule("QueueHigh", True, promtool_packing.rule_reads(queried))]
    assert apart(rules, case("queue", ["queue"], ["QueueHigh"]), case("pool", ["pool_in_use"]))
