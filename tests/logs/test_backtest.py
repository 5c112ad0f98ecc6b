"""`obsctl backtest`: the generated Loki rules replayed over exported logs, through the offline LogQL engine."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.logql_engine import RuleGroup
from generator.logs.backtest import BacktestResult, backtest, load_rules
from generator.logs.inputs import BotLineFormat, InputFormat, read_records
from generator.truth import Truth, load_truth

REPO = Path(__file__).resolve().parents[2]
TRUTH_PATH = REPO / "product" / "truth.yaml"
T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth(TRUTH_PATH)


@pytest.fixture(scope="module")
def rules_dir(truth: Truth) -> Path:
    folder = REPO / "loki" / "rules" / truth.logs.tenant
    if not any(folder.glob("*.yaml")):
        pytest.fail(f"{folder}: no generated rules; run `obsctl generate`")
    return folder


@pytest.fixture(scope="module")
def groups(rules_dir: Path) -> list[RuleGroup]:
    return load_rules(rules_dir)


def text_line(seconds: float, level: str, message: str) -> str:
    moment = T0 + timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d} - bot.test - {level} - {message}"


def run(lines: list[str], truth: Truth, groups: list[RuleGroup]) -> BacktestResult:
    data = ("\n".join(lines) + "\n").encode()
    records = read_records(io.BufferedReader(io.BytesIO(data)), BotLineFormat.from_truth(truth.logs),
                           InputFormat.LINES)
    return backtest(records, groups, truth)


def firings(result: BacktestResult) -> dict[str, int]:
    return {a.alertname: len(a.firings) for a in result.alerts if a.firings}


# --- what fires, when, for how long -----------------------------------------------------------------------------------


def test_a_forbidden_line_fires_its_alert_once_and_pages(truth: Truth, groups: list[RuleGroup]) -> None:
    result = run([text_line(0, "INFO", "Webhook handled in 120 ms"),
                  text_line(75, "CRITICAL", "Database connection lost: server closed the connection unexpectedly")],
                 truth, groups)
    assert firings(result) == {"DatabaseConnectionLost": 1}
    (alert,) = [a for a in result.alerts if a.firings]
    (episode,) = alert.firings
    interval = next(g.interval_ns for g in groups if g.name == "forbidden-patterns")
    window = round(truth.logs.ruler.occurrence_window.seconds * 1e9)
    line_at = int(T0.timestamp()) * 10**9 + 75 * 10**9
    # evaluated at times aligned to the group interval: first seen at the first one at or after the line; resolved
    # at the first one whose window (t - window, t] (left-open) no longer holds it
    assert episode.fired_at_ns == -(-line_at // interval) * interval
    assert episode.resolved_at_ns == -(-(line_at + window) // interval) * interval
    assert alert.tier == "4" and alert.pages and result.pages == 1


def test_every_rule_is_listed_even_when_silent(truth: Truth, groups: list[RuleGroup]) -> None:
    result = run([text_line(0, "INFO", "Webhook handled in 120 ms")], truth, groups)
    assert result.firings == 0
    assert {a.alertname for a in result.alerts} == {r.name for g in groups for r in g.alert_rules}


def test_rate_limited_pattern_fires_above_its_limit_and_does_not_page(truth: Truth, groups: list[RuleGroup]) -> None:
    burst = run([text_line(0, "WARNING", "Duplicate update_id 1"), text_line(5, "WARNING", "Duplicate update_id 2")],
                truth, groups)
    assert firings(burst) == {"DuplicateUpdateIdRateExceeded": 1}
    assert burst.pages == 0  # tier 1: auto-fix, nobody is notified
    spaced = run([text_line(0, "WARNING", "Duplicate update_id 1"), text_line(40, "WARNING", "Duplicate update_id 2")],
                 truth, groups)
    assert firings(spaced) == {}


def test_error_rate_fires_above_the_threshold_not_at_it(truth: Truth, groups: list[RuleGroup]) -> None:
    limit = truth.log_alerts.error_rate.max_count
    at_limit = [text_line(i, "ERROR", "External API timeout") for i in range(limit)]
    assert "ErrorLogRate" not in firings(run(at_limit, truth, groups))
    above = at_limit + [text_line(limit, "ERROR", "External API timeout")]
    assert firings(run(above, truth, groups))["ErrorLogRate"] == 1


def test_render_json_and_syslog_exports_backtest_like_text(truth: Truth, groups: list[RuleGroup]) -> None:
    messages = [(0, text_line(0, "ERROR", "Error handling request")),
                (20, json.dumps({"asctime": "2026-11-29 10:00:20,000", "name": "bot", "levelname": "INFO",
                                 "message": "config", "kie_api_key": "abcdef0123456789abcdef"}))]
    stamps = [(T0 + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.000Z") for s, _ in messages]
    render = json.dumps([{"timestamp": t, "message": m, "labels": [{"name": "instance", "value": "srv-1-abc"}]}
                         for t, (_s, m) in zip(stamps, messages, strict=True)]).encode()
    syslog = "".join(f"<134>1 {t} srv-1 telegram-bot 1 - - {m}\n"
                     for t, (_s, m) in zip(stamps, messages, strict=True)).encode()
    line_format = BotLineFormat.from_truth(truth.logs)
    expected = {"ErrorHandlingRequest": 1, "KieApiKeyLeak": 1}
    assert firings(run([m for _s, m in messages], truth, groups)) == expected
    for data, fmt in ((render, InputFormat.RENDER_JSON), (syslog, InputFormat.SYSLOG)):
        records = read_records(io.BufferedReader(io.BytesIO(data)), line_format, fmt)
        assert firings(backtest(records, groups, truth)) == expected, fmt


# --- the command -----------------------------------------------------------------------------------------------------


@pytest.fixture()
def incident_log(tmp_path: Path) -> Path:
    path = tmp_path / "incident.log"
    path.write_text("\n".join([
        text_line(0, "ERROR", "Webhook timeout: 734 ms for update 91"),
        text_line(1, "ERROR", "Lock acquisition failed after 3 attempts"),
        text_line(2, "INFO", "Webhook handled in 120 ms"),
    ]) + "\n")
    return path


def test_max_pages_makes_the_exit_status_fail_the_ci_job(incident_log: Path, rules_dir: Path) -> None:
    args = ["backtest", "--truth", str(TRUTH_PATH), "--rules", str(rules_dir), str(incident_log)]
    over = CliRunner().invoke(main, [*args, "--max-pages", "1"])
    assert over.exit_code == 1, over.output
    assert "would have paged 2 time(s) (limit 1)" in over.output
    assert "WebhookTimeout" in over.output and "LockAcquisitionFailed" in over.output
    assert CliRunner().invoke(main, [*args, "--max-pages", "2"]).exit_code == 0


def test_json_report_lists_episodes_with_times(incident_log: Path, rules_dir: Path) -> None:
    result = CliRunner().invoke(main, ["backtest", "--json", "--truth", str(TRUTH_PATH), "--rules", str(rules_dir),
                                       str(incident_log)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["pages"] == 2 and document["entries"] == 3
    (timeout,) = [a for a in document["alerts"] if a["alertname"] == "WebhookTimeout"]
    (episode,) = timeout["episodes"]
    # a line at exactly 10:00:00 is inside the window (t - 5m, t] of the 10:00:00 evaluation, and outside at 10:05
    assert episode["fired_at"] == "2026-11-29T10:00:00.000Z"
    assert episode["resolved_at"] == "2026-11-29T10:05:00.000Z"
    assert timeout["firing_s"] == 300


def test_missing_rules_and_bad_input_exit_two(tmp_path: Path, rules_dir: Path, incident_log: Path) -> None:
    empty = CliRunner().invoke(main, ["backtest", "--truth", str(TRUTH_PATH), "--rules", str(tmp_path),
                                      str(incident_log)])
    assert empty.exit_code == 2 and "no rule files" in empty.output
    bad = tmp_path / "bad.json"
    bad.write_text('[{"timestamp": "2026-11-29T10:00:00Z", "message": 5}]')
    result = CliRunner().invoke(main, ["backtest", "--truth", str(TRUTH_PATH), "--rules", str(rules_dir), str(bad)])
    assert result.exit_code == 2 and "field `message`" in result.output


def test_label_override_changes_which_streams_the_rules_select(incident_log: Path, rules_dir: Path) -> None:
    result = CliRunner().invoke(main, ["backtest", "--json", "--truth", str(TRUTH_PATH), "--rules", str(rules_dir),
                                       "--label", "service=another-service", str(incident_log)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["firings"] == 0  # the rules select {service="telegram-bot"} only


# --- streaming: the same answer as evaluating the whole export at once ----------------------------------------------


def _one_shot(lines: list[str], truth: Truth, groups: list[RuleGroup]) -> dict:
    """The reference: every entry in one store, then the engine's own evaluate_rules over the whole time range."""
    from generator.logql_engine import LogStore, evaluate_rules
    from generator.logs.backtest import longest_lookback_ns, stream_labels, summarise

    data = ("\n".join(lines) + "\n").encode()
    records = [r for r in read_records(io.BufferedReader(io.BytesIO(data)), BotLineFormat.from_truth(truth.logs),
                                       InputFormat.LINES) if r.timestamp_ns is not None]
    store = LogStore()
    for record in records:
        store.append(stream_labels(record, truth.service.log_labels, {}), record.timestamp_ns, record.line)
    first, last = min(r.timestamp_ns for r in records), max(r.timestamp_ns for r in records)
    end = last + longest_lookback_ns(groups) + max(g.interval_ns for g in groups)
    run_ = evaluate_rules(groups, store, first, end)
    return BacktestResult(first, end, len(records), 0, run_.evaluations, summarise(run_.events, groups, truth),
                          run_.errors, run_.skipped_evaluations).as_json()


@pytest.mark.parametrize("step", [1, 7, 50])
def test_streaming_in_small_steps_gives_the_timeline_of_one_evaluation(truth: Truth, groups: list[RuleGroup],
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      step: int) -> None:
    import random

    from generator.logs import backtest as backtest_module

    rnd = random.Random(step)
    messages = [("ERROR", "External API timeout"), ("WARNING", "Duplicate update_id 7"),
                ("CRITICAL", "Database connection lost"), ("ERROR", "Queue full"),
                ("INFO", "Webhook handled operation=webhook duration_ms=4200"),
                ("INFO", "Webhook handled operation=webhook duration_ms=80")]
    seconds, lines = 0.0, []
    for _ in range(400):
        seconds += rnd.choice([0.5, 2, 10, 45, 200, 900])
        if rnd.random() < 0.05:
            seconds -= 1  # slightly out of order: within the reorder slack
        lines.append(text_line(seconds, *rnd.choice(messages)))
    monkeypatch.setattr(backtest_module, "STEP_ENTRIES", step)
    streamed = run(lines, truth, groups).as_json()
    assert streamed["late_entries"] == 0
    assert streamed["firings"] > 3
    assert streamed == _one_shot(lines, truth, groups)


def test_an_entry_older_than_the_evaluated_time_is_counted_late(truth: Truth, groups: list[RuleGroup],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.logs import backtest as backtest_module

    monkeypatch.setattr(backtest_module, "STEP_ENTRIES", 1)
    lines = [text_line(s, "INFO", "ok") for s in (0, 1000, 2000)] + [text_line(10, "ERROR", "Queue full")]
    assert run(lines, truth, groups).late_entries == 1
