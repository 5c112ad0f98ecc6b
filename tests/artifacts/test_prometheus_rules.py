"""Prometheus rules and exporter configs generated from truth: valid for promtool, traceable to the seed's numbers,
and backed by generated unit tests that really catch a wrong rule."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import conventions, pipeline
from generator.artifacts import exporters, prometheus_rules, promtool_tests
from generator.conventions import GENERATED_HEADER, alert_name
from generator.pipeline import plan_for
from generator.plan.alerting import alert_labels
from generator.truth import Truth, load_truth
from generator.truth.types import compile_re2
from tests.tooling import check_problems, require_tool


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth()


def write_rules(truth: Truth, root: Path) -> Path:
    for artifact in [*prometheus_rules.render(plan_for(truth)), *promtool_tests.render(plan_for(truth))]:
        target = root / artifact.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(artifact.content, encoding="utf-8")
    return root / "alerts/prometheus"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def alerts_by_id(truth: Truth) -> dict[str, dict]:
    data = yaml.safe_load(prometheus_rules.render(plan_for(truth))[0].content)
    found: dict[str, dict] = {}
    for group in data["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["alert_id"] not in found, f"{rule['alert']} defined twice"
                found[rule["labels"]["alert_id"]] = rule
    return found


def test_generated_rules_pass_promtool_check_and_their_generated_unit_tests(truth: Truth, tmp_path: Path) -> None:
    folder = write_rules(truth, tmp_path)
    checked = promtool("check", "rules", "rules.yaml", cwd=folder)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "tests.yaml", cwd=folder)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize(("alert_id", "original", "broken"), [
    ("queue_depth_high", "> 80", "> 79"),                 # threshold off by one: fires at the threshold
    ("lock_heartbeat_stale", "> 60", "> 61"),             # too lax: misses just above
    ("health_check_failing", "for: 2m", "for: 1m"),       # pages after 2 failures, not 3
    ("uptime_burn_page", "ratio_rate5m > (14.4 * 0.005)", "ratio_rate5m > (0 * 0.005)"),  # short window ignored
    ("oom_kill", " and on (job) render:instance_restarts", " or on (job) render:instance_restarts"),
])
def test_generated_unit_tests_fail_on_a_wrong_rule(truth: Truth, tmp_path: Path, alert_id: str, original: str,
                                                   broken: str) -> None:
    folder = write_rules(truth, tmp_path)
    rules_file = folder / "rules.yaml"
    text = rules_file.read_text()
    name = alert_name(alert_id)
    block = re.search(rf"- alert: {name}\n(?:(?!      - ).*\n)*", text)
    assert block and original in block.group(0), f"{original!r} not in the {name} rule"
    rules_file.write_text(text.replace(block.group(0), block.group(0).replace(original, broken, 1)))
    tested = promtool("test", "rules", "tests.yaml", cwd=folder)
    assert tested.returncode != 0, f"a broken {name} still passes its tests"
    assert name in tested.stdout + tested.stderr


# The seed's metric thresholds, written as the seed states them: (alert id, number in the expr, `for`).
SEED_THRESHOLDS = [
    ("queue_depth_high", "> 80", "5m"),
    ("database_pool_saturated", "> 18", "5m"),
    ("lock_heartbeat_stale", "> 60", None),
    ("health_check_failing", "== 0", "2m"),              # 3 consecutive failures of a 60 s probe
    ("render_cpu_warning", "> 60", "5m"),
    ("render_cpu_critical", "> 90", "5m"),
    ("render_memory_warning", "> 400", "5m"),
    ("render_memory_critical", "> 480", "5m"),
    ("render_requests_warning", "> 100", "5m"),
    ("render_requests_critical", "> 200", "5m"),
    ("render_latency_p95", "> 1", "5m"),
    ("uptime_burn_page", "(14.4 * 0.005)", None),       # 99.5 % uptime
    ("uptime_burn_ticket", "(1 * 0.005)", None),
    ("http_error_ratio_burn_page", "(14.4 * 0.001)", None),  # < 0.1 % errors
    ("http_error_ratio_burn_ticket", "(1 * 0.001)", None),
]


@pytest.mark.parametrize(("alert_id", "comparison", "for_"), SEED_THRESHOLDS)
def test_each_seed_threshold_is_one_rule_with_the_seeds_number(truth: Truth, alert_id: str, comparison: str,
                                                               for_: str | None) -> None:
    alerts = alerts_by_id(truth)
    rule = alerts[alert_id]
    assert comparison in rule["expr"]
    assert rule.get("for") == for_
    assert rule["annotations"]["truth"] == f"product/truth.yaml {truth.truth_ref(alert_id)}"
    others = [other for other_id, other in alerts.items()
              if other_id != alert_id and other["annotations"]["truth"] == rule["annotations"]["truth"]
              and comparison in other["expr"]]
    assert others == [], f"{comparison} of {truth.truth_ref(alert_id)} also appears in {others}"


def test_every_metric_alert_of_the_truth_is_a_rule_with_the_shared_labels(truth: Truth) -> None:
    alerts = alerts_by_id(truth)
    metric_ids = {truth.health_check.id, truth.queue_depth.id, truth.database_pool.id, truth.lock_heartbeat.id,
                  truth.render.latency_alert.id, *truth.burn_rate_alert_ids(), *(e.id for e in truth.events)}
    for bands in (truth.render.cpu_percent, truth.render.memory_mb, truth.render.requests_per_minute):
        metric_ids |= {bands.warning_id, bands.critical_id}
    assert metric_ids == set(alerts)
    for alert_id, rule in alerts.items():
        assert rule["alert"] == alert_name(alert_id)
        assert rule["labels"] == alert_labels(truth, alert_id, rule["labels"]["kind"])


def test_render_metric_names_and_latency_unit_come_from_truth(truth: Truth) -> None:
    names = truth.render.metric_names.model_copy(update={"http_latency": "render_latency_ms",
                                                         "memory_usage": "mem_custom_bytes"})
    custom = truth.model_copy(update={"render": truth.render.model_copy(
        update={"metric_names": names, "http_latency_unit": "milliseconds"})})
    text = prometheus_rules.render(plan_for(custom))[0].content
    assert 'max by (job, quantile) (render_latency_ms{job="telegram-bot"}) / 1000' in text
    assert "mem_custom_bytes" in text and "render_service_memory_usage_bytes" not in text


def test_memory_bands_are_in_the_unit_truth_states_in_rules_panels_and_tests(truth: Truth) -> None:
    """The seed's 400/480 MB of a 512 MB instance, in truth's explicit unit (MiB: 1048576 bytes) everywhere."""
    from generator.artifacts import dashboards

    assert truth.service.memory_unit == "MiB"

    def rendered(variant: Truth) -> tuple[str, str, dict]:
        plan = plan_for(variant)
        board = next(yaml.safe_load(a.content) for a in dashboards.render(plan) if a.path.endswith("-render.json"))
        gauge = next(p for p in board["panels"] if p["title"].startswith("Memory (of "))
        return prometheus_rules.render(plan)[0].content, promtool_tests.render(plan)[0].content, gauge

    rules, tests, gauge = rendered(truth)
    assert ("- record: render:memory_usage:mebibytes\n        expr: max by (job, instance) "
            "(render_service_memory_usage_bytes{job=\"telegram-bot\"}) / 1048576") in rules
    assert "render:memory_usage:mebibytes{job=\"telegram-bot\"} > 480" in rules
    assert "Memory usage {{ $value }} MiB (threshold: above 480 MiB for 5m)" in rules
    assert "values: 419430400x20" in tests  # 400 MiB in bytes, expected back as 400
    assert (gauge["title"], gauge["fieldConfig"]["defaults"]["unit"]) == ("Memory (of 512 MiB)", "mbytes")
    # Decimal megabytes change every place together.
    decimal = truth.model_copy(update={"service": truth.service.model_copy(update={"memory_unit": "MB"})})
    rules, tests, gauge = rendered(decimal)
    assert "/ 1000000" in rules and "render:memory_usage:megabytes" in rules and "mebibytes" not in rules
    assert "values: 400000000x20" in tests
    assert (gauge["title"], gauge["fieldConfig"]["defaults"]["unit"]) == ("Memory (of 512 MB)", "decmbytes")


def test_generated_files_are_deterministic_and_carry_the_header(truth: Truth) -> None:
    renderers = (prometheus_rules.render, promtool_tests.render, exporters.render)
    first = [a for render in renderers for a in render(plan_for(truth))]
    again = [a for render in renderers for a in render(plan_for(truth))]
    assert first == again
    for artifact in first:
        assert artifact.path.startswith("alerts/")
        assert artifact.content.startswith(f"# {GENERATED_HEADER}\n")


def test_blackbox_module_accepts_a_healthy_body_and_rejects_a_degraded_one(truth: Truth) -> None:
    module = exporters.blackbox_config(truth)["modules"][conventions.names(truth).blackbox_module]
    pattern = compile_re2(module["http"]["fail_if_body_not_matches_regexp"][0])
    assert pattern.search('{"status": "ok", "queue_size": 3}')
    assert pattern.search('{"status":"healthy"}')
    assert not pattern.search('{"status": "degraded", "queue_size": 3}')
    assert module["http"]["valid_status_codes"] == [truth.health_check.expect_status]


def test_exporter_queries_read_the_truth_table_and_json_field(truth: Truth) -> None:
    queries = exporters.postgres_queries(truth)
    heartbeat_sql = queries["telegram_bot_lock_heartbeat"]["query"]
    assert f"max({truth.lock_heartbeat.column})" in heartbeat_sql
    assert f"FROM {truth.lock_heartbeat.table}" in heartbeat_sql
    metric = exporters.json_exporter_config(truth)["modules"][conventions.names(truth).json_exporter_module]
    assert metric["metrics"][0]["path"] == "{.queue_size}"
    assert metric["metrics"][0]["name"] in prometheus_rules.render(plan_for(truth))[0].content


def test_validator_runs_the_real_tools_and_reports_a_broken_rule(truth: Truth, tmp_path: Path) -> None:
    require_tool("promtool")
    require_tool("amtool")
    require_tool("prometheus-blackbox-exporter")
    rendered = [item for item in pipeline.render_kinds(plan_for(truth))
                if item.kind.name in ("prometheus-rules", "alertmanager", "exporters")]
    pipeline.write_tree(tmp_path, [a for item in rendered for a in item.artifacts])
    assert check_problems(tmp_path, rendered) == []
    rules_file = tmp_path / conventions.PROMETHEUS_RULES_FILE
    rules_file.write_text(rules_file.read_text().replace("> 80", "> 80 +", 1))
    problems = check_problems(tmp_path, rendered)
    assert len(problems) == 1 and problems[0].message.startswith("promtool check rules failed")
    assert problems[0].where == conventions.PROMETHEUS_RULES_FILE
