"""Bad truth files get one located line per problem (`file:LINE:COL: field: message`), exit 2, nothing written."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import main

REPO = Path(__file__).resolve().parents[2]
TRUTH_TEXT = (REPO / "product" / "truth.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class BadInput:
    name: str
    old: str  # exact text in the real truth file (must occur once)
    new: str
    field: str  # expected field path in the message
    message: str  # regex the message must match
    at: str  # text whose first occurrence in the mutated file marks the reported line
    column_of: str | None = None  # text whose start column is reported (default: no column check)


CASES = [
    BadInput("unknown key", "  instance_memory_mb: 512", "  instance_memory_mb: 512\n  colour: red",
             "service.colour", r"unknown key \(allowed: .*instance_memory_mb", "  colour: red", "colour"),
    BadInput("wrong type", "instance_memory_mb: 512 ", "instance_memory_mb: lots ",
             "service.instance_memory_mb", r"valid integer", "instance_memory_mb: lots", "lots"),
    BadInput("bad duration", "    limit: {count: 1, per: 30s}\n    reason: Telegram",
             "    limit: {count: 1, per: 30 seconds}\n    reason: Telegram",
             "rate_limited_patterns[0].limit.per", r"invalid duration '30 seconds'", "per: 30 seconds",
             "30 seconds"),
    BadInput("duplicate id", "  - id: oid_out_of_range", "  - id: decimal_not_json_serializable",
             "forbidden_patterns[1].id", r"duplicate id 'decimal_not_json_serializable' \(first defined on line \d+\)",
             "  - id: decimal_not_json_serializable\n    regex: \"OID"),
    BadInput("invalid regex", 'regex: "Queue full"', 'regex: "Queue (full"',
             "forbidden_patterns[4].regex", r"invalid RE2 regex 'Queue \(full': missing \): Queue \(full$",
             'regex: "Queue (full"'),
    BadInput("lookaround", 'regex: "Queue full"', 'regex: "Queue(?! empty) full"',
             "forbidden_patterns[4].regex", r"lookaround is not supported by RE2", "Queue(?! empty)"),
    BadInput("backreference", 'regex: "Queue full"', 'regex: "(Queue) full \\\\1"',
             "forbidden_patterns[4].regex", r"backreferences are not supported by RE2", "(Queue) full"),
    BadInput("matches the empty line", 'regex: "Queue full"', 'regex: "(Queue full)?"',
             "forbidden_patterns[4].regex", r"matches the empty line", "(Queue full)?"),
    BadInput("bands out of order", "    warning_above: 400\n", "    warning_above: 500\n",
             "render.memory_mb.warning_above",
             r"bands out of order: warning_above \(500(\.0)?\) must be below critical_above \(480(\.0)?\)",
             "warning_above: 500"),
    BadInput("unknown tier", "  - id: 4\n    name: critical", "  - id: 5\n    name: critical",
             "tiers[3].id", r"Input should be 1, 2, 3 or 4", "  - id: 5"),
    BadInput("unknown alert id in a tier", "handles: [oom_kill]", "handles: [oom_kil]",
             "tiers[3].members[1].handles[0]", r"unknown alert id 'oom_kil'", "oom_kil]"),
    BadInput("example the regex does not match",
             '- "2026-11-29 10:00:01,123 - bot.lock - ERROR - Lock acquisition failed after 3 attempts"',
             '- "2026-11-29 10:00:01,123 - bot.lock - ERROR - Lock acquire failed"',
             "forbidden_patterns[3].examples.match[0]", r"does not match this example", "Lock acquire failed"),
    BadInput("look-alike the regex matches", "bot.lock - INFO - Lock acquisition succeeded",
             "bot.lock - INFO - Lock acquisition failed? no, succeeded",
             "forbidden_patterns[3].examples.no_match[0]", r"matches this look-alike", "failed? no"),
    BadInput("missing required key", "    reason: Two instances contend for the singleton lock.\n", "",
             "forbidden_patterns[3].reason", r"missing required key", "  - id: lock_acquisition_failed"),
    BadInput("duplicate YAML key", "    priority: P2\n", "    priority: P2\n    priority: P1\n",
             "forbidden_patterns[4].priority", r"duplicate key", "priority: P1\n    reason: The update queue",
             "priority: P1\n    reason: The update queue"),
    BadInput("invalid YAML", "  id: telegram-bot\n", "  id: [telegram-bot\n",
             "<yaml>", r"invalid YAML", "  title: Telegram bot"),
    BadInput("unknown priority", "    priority: P2\n", "    priority: P5\n",
             "forbidden_patterns[4].priority", r"Input should be 'P0', 'P1' or 'P2'", "priority: P5"),
    BadInput("unknown runbook step", "runbook: [tail_logs, recent_jobs]\n    priority: P2",
             "runbook: [tail_logs, recent_job]\n    priority: P2",
             "forbidden_patterns[4].runbook[1]", r"unknown runbook 'recent_job'", "recent_job]"),
    BadInput("pool threshold above the pool", "  alert_above: 18\n", "  alert_above: 20\n",
             "database_pool.alert_above", r"alert_above \(20(\.0)?\) must be below max_connections \(20\)",
             "alert_above: 20"),
    BadInput("downtime contradicting the objective", "    objective: 99.5 ", "    objective: 99.9 ",
             "slos.uptime.allowed_downtime", r"allowed_downtime 3h36m disagrees with objective 99.9 % over 30d",
             "allowed_downtime: 3h36m", "3h36m"),
    BadInput("rate-limit window not longer than its evaluation interval",
             "    limit: {count: 1, per: 30s}\n    reason: A user picked",
             "    limit: {count: 1, per: 1s}\n    reason: A user picked",
             "rate_limited_patterns[2].limit.per", r"window 1s is not longer than logs.ruler.rate_limited_interval",
             "per: 1s"),
    BadInput("rate-limit evaluation too coarse for the window", "    rate_limited_interval: 1s\n",
             "    rate_limited_interval: 10s\n", "logs.ruler.rate_limited_interval",
             r"10s is too coarse for 'duplicate_update_id' \(window 30s\): pairs of hits more than 20s apart may go",
             "rate_limited_interval: 10s", "10s"),
    BadInput("alert in no tier",
             "                  uptime_burn_page, http_error_ratio_burn_page, webhook_log_error_ratio_burn_page]",
             "                  http_error_ratio_burn_page, webhook_log_error_ratio_burn_page]",
             "slos.burn_rate_windows[0].name", r"alert 'uptime_burn_page' belongs to no tier",
             "{name: page, long: 1h", "page, long: 1h"),
    # The log SLO's lines are defined by declared tags and levels, its target is the error-rate target.
    BadInput("log SLO: undeclared request tag", "requests: {tag: operation, value: webhook}",
             "requests: {tag: kind, value: webhook}", "slos.log_error_ratio.requests.tag",
             r"tag 'kind' is not declared under logs.standard_tags \(user_id, update_id, operation",
             "requests: {tag: kind", "kind, value"),
    BadInput("log SLO: value the tag does not take", "requests: {tag: operation, value: webhook}",
             "requests: {tag: operation, value: webhooks}", "slos.log_error_ratio.requests.value",
             r"'webhooks' is not a value of tag 'operation' \(webhook, generation, payment\)",
             "requests: {tag: operation, value: webhooks}", "webhooks}"),
    BadInput("log SLO: undeclared error level", "      levels: [ERROR, CRITICAL]\n      tags: [error_type]",
             "      levels: [ERROR, FATAL]\n      tags: [error_type]", "slos.log_error_ratio.errors.levels[1]",
             r"level 'FATAL' is not declared under logs.levels", "levels: [ERROR, FATAL]", "FATAL]"),
    BadInput("log SLO: undeclared error tag", "      tags: [error_type]", "      tags: [error_kind]",
             "slos.log_error_ratio.errors.tags[0]", r"tag 'error_kind' is not declared under logs.standard_tags",
             "tags: [error_kind]", "error_kind]"),
    BadInput("log SLO: no error definition", "      levels: [ERROR, CRITICAL]\n      tags: [error_type]",
             "      levels: []\n      tags: []", "slos.log_error_ratio.errors",
             r"name at least one of `levels` or `tags`", "      levels: []"),
    BadInput("log SLO: objective other than the error-rate target",
             "    objective: 99.9          # < 0.1 % of webhook requests fail",
             "    objective: 99.5          # < 0.1 % of webhook requests fail", "slos.log_error_ratio.objective",
             r"objective 99.5 % allows 0.005 of requests to fail, but log_alerts.error_rate.target_error_ratio is "
             r"0.001", "objective: 99.5          # < 0.1 % of webhook", "99.5"),
    BadInput("retention Loki refuses", "      period: 7d\n", "      period: 12h\n", "retention.classes[0].period",
             r"period 12h is under 24h: Loki refuses a shorter retention", "period: 12h"),
    BadInput("two classes kept forever", "      period: 30d\n", "      period: infinite\n", "retention.classes",
             r"at most one class can be kept forever .* found database_logs, transaction_logs",
             "    - id: render_logs"),
    BadInput("a known miss the regex catches", "(value out of uint32 range)", "(OID out of range)",
             "forbidden_patterns[1].examples.known_misses[1]", r"it is not a miss", "(OID out of range)\""),
    BadInput("secret regex Python's re cannot run", 'regex: "[0-9]{8,10}:[A-Za-z0-9_-]{35}"',
             'regex: "\\\\pN{8,10}:[A-Za-z0-9_-]{35}"', "privacy.never_log[0].regex",
             r"is RE2 but not Python `re` syntax", "pN{8,10}"),
    BadInput("mask replacement that breaks JSON", 'replacement: "***"', "replacement: '\"***\"'",
             "privacy.masks[0].replacement", r"must not contain quotes", "replacement: '"),
    BadInput("alert routed to nobody", "handles: [duplicate_update_id, insufficient_balance]}",
             "handles: [insufficient_balance]}", "rate_limited_patterns[0].id",
             r"alert 'duplicate_update_id' is routed to nobody: its tier 1 \(notify: none\) has no destination",
             "  - id: duplicate_update_id", "duplicate_update_id\n    regex"),
    BadInput("exception for an alert that reaches someone", "  automation_webhook_url: null ",
             "  allowed_without_destination: [{alert: oom_kill, reason: none needed}]\n  automation_webhook_url: null ",
             "alertmanager.allowed_without_destination[0].alert",
             r"alert 'oom_kill' reaches a destination \(tier 4\): remove this exception", "{alert: oom_kill"),
    BadInput("same-tier inhibition without a shared condition",
             'silence: [webhook_latency_p95],\n     same_condition: "webhook P95 latency above 1 s for 5 minutes, '
             'measured by Render and by the bot\'s logs"}', "silence: [webhook_latency_p95]}",
             "inhibitions[6].silence[0]", r"'webhook_latency_p95' \(tier 3\) is not below 'render_latency_p95' "
             r"\(tier 3\)", "silence: [webhook_latency_p95]}", "webhook_latency_p95]}"),
]


def line_col_of(text: str, marker: str) -> tuple[int, int]:
    index = text.index(marker)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "product").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_mutated(workdir: Path, case: BadInput) -> str:
    assert TRUTH_TEXT.count(case.old) == 1, f"case {case.name!r}: {case.old!r} must occur once in truth.yaml"
    text = TRUTH_TEXT.replace(case.old, case.new)
    (workdir / "product" / "truth.yaml").write_text(text, encoding="utf-8")
    return text


def test_there_are_at_least_fifteen_bad_input_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_names_file_line_field_and_problem(workdir: Path, case: BadInput) -> None:
    text = write_mutated(workdir, case)
    result = CliRunner().invoke(main, ["lint"])
    assert result.exit_code == 2, result.output
    line, _ = line_col_of(text, case.at)
    pattern = rf"^product/truth\.yaml:{line}:(\d+): {re.escape(case.field)}: .*?{case.message}"
    matching = [m for m in (re.match(pattern, out) for out in result.stderr.splitlines()) if m]
    assert matching, f"expected a line matching {pattern!r}, got:\n{result.stderr}"
    if case.column_of is not None:
        _, column = line_col_of(text, case.column_of)
        assert int(matching[0].group(1)) == column, result.stderr


def test_generate_with_bad_input_writes_nothing(workdir: Path) -> None:
    write_mutated(workdir, CASES[4])
    (workdir / "loki").mkdir()
    sentinel = workdir / "loki" / "keep.txt"
    sentinel.write_text("untouched")
    result = CliRunner().invoke(main, ["generate"])
    assert result.exit_code == 2
    assert "nothing was written" in result.stderr
    assert sentinel.read_text() == "untouched"
    assert sorted(p.name for p in workdir.iterdir()) == ["loki", "product"]  # no temp dir left behind


def test_every_problem_is_reported_not_just_the_first(workdir: Path) -> None:
    text = TRUTH_TEXT.replace("instance_memory_mb: 512 ", "instance_memory_mb: lots ").replace(
        "    priority: P2\n", "    priority: P5\n")
    (workdir / "product" / "truth.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["lint"])
    assert result.exit_code == 2
    assert "service.instance_memory_mb" in result.stderr
    assert "forbidden_patterns[4].priority" in result.stderr
    assert "2 problem(s)" in result.stderr


def test_the_repository_truth_file_is_valid() -> None:
    result = CliRunner().invoke(main, ["lint", "--truth", str(REPO / "product" / "truth.yaml")])
    assert result.exit_code == 0, result.output
    assert ": ok (" in result.output


def test_missing_truth_file_is_a_located_error(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["lint", "--truth", "product/nope.yaml"])
    assert result.exit_code == 2
    assert result.stderr.startswith("product/nope.yaml:1:1: <file>: cannot read")


def test_shutil_copy_of_truth_is_valid_too(workdir: Path) -> None:
    shutil.copy(REPO / "product" / "truth.yaml", workdir / "product" / "truth.yaml")
    assert CliRunner().invoke(main, ["lint"]).exit_code == 0


ROUTED_TO_NOBODY = TRUTH_TEXT.replace("handles: [duplicate_update_id, insufficient_balance]}",
                                      "handles: [insufficient_balance]}")


def lint_with_exception(workdir: Path, reason: str) -> Result:
    """`obsctl lint` on a truth whose duplicate_update_id alert reaches nobody, excused with `reason`."""
    text = ROUTED_TO_NOBODY.replace(
        "  automation_webhook_url: null ",
        f"  allowed_without_destination:\n    - {{alert: duplicate_update_id, reason: {reason}}}\n"
        "  automation_webhook_url: null ")
    (workdir / "product" / "truth.yaml").write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["lint"])


def test_an_alert_routed_to_nobody_passes_when_truth_says_why(workdir: Path) -> None:
    result = lint_with_exception(workdir, "a test says so")
    assert "routed to nobody" not in result.stderr, result.stderr


def test_an_exception_needs_a_reason(workdir: Path) -> None:
    result = lint_with_exception(workdir, "''")
    assert result.exit_code == 2
    assert "alertmanager.allowed_without_destination[0].reason" in result.stderr, result.stderr


def test_a_tier_1_alert_reaches_the_automation_webhook_when_truth_names_one(workdir: Path) -> None:
    text = ROUTED_TO_NOBODY.replace("  automation_webhook_url: null ",
                                    "  automation_webhook_url: https://automation.example/hook ")
    (workdir / "product" / "truth.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["lint"])
    assert "routed to nobody" not in result.stderr, result.stderr
