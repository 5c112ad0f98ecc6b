"""The pages on-call reads, end to end on loopback: the real Alertmanager 0.25 with the runnable config that
`obsctl alertmanager-config` writes (secrets from the environment, the generated message templates beside it), every
`telegram_configs` pointed at a fake Telegram Bot API server (`api_url`, tests/fakes/telegram.py) that records each
`sendMessage` and refuses what Telegram would refuse.

Alerts are posted to Alertmanager's API exactly as the Loki ruler / Prometheus would send them: the generated
rules' labels and annotations, `$value` rendered. One alert per tier, a grouped burst, a hostile log text, then a
resolve. Test override (routing unchanged): route timers shortened (`alertmanager.with_short_timers`) and `api_url`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml
from click.testing import CliRunner

from generator.artifacts import alertmanager
from generator.artifacts.promtool_tests import expand
from generator.checks.alertmanager_templates import generated_alerts
from generator.cli.alertmanager import alertmanager_config_command
from generator.truth import Truth, load_truth
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.integration.metrics_stack import Process, alertmanager_command, http_get, start_process, wait_until
from tests.tooling import REPO, free_port, require_tool

LOW_PRIORITY_CHAT, ONCALL_CHAT, ESCALATION_CHAT = "-1001", "-1002", "-1003"
STARTS_AT = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
HOSTILE = '<a href="http://evil.example/">tap here</a> & <b>bold</b> "quoted" \'single\''
# One alert per tier: (tier, alert name). Tier 4: a P0 forbidden pattern; tiers 2 and 3: log alerts with Explore.
# Truth routes no alert to tier 1 any more (issue 11: every alert reaches a person): the tier-1 case is a
# rate-exceeded alert sent with the tier label a tier-1 alert would carry.
PER_TIER = {1: "DuplicateUpdateIdRateExceeded", 2: "WebhookSlowResponses", 3: "ErrorLogRate",
            4: "DecimalNotJsonSerializable"}
TIER_1_LABELS = {"tier": "1", "tiers": "1"}
BURST_ALERT = "HealthCheckFailing"  # tier 3, one alert per probed instance
BURST_SIZE = 6


@dataclass
class Run:
    telegram: FakeTelegram
    alertmanager_url: str
    rules: dict[str, dict[str, Any]]
    process: Process

    def post(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(f"{self.alertmanager_url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def messages_about(self, alert: str) -> list[SentMessage]:
        return [m for m in self.telegram.messages() if f"<b>{alert}</b>" in m.text]


def as_sent_by_the_ruler(rule: dict[str, Any], value: str, *, extra_labels: dict[str, str] | None = None,
                         ends_at: datetime | None = None) -> dict[str, Any]:
    labels = {**rule["labels"], "alertname": rule["alert"], "service": "telegram-bot", **(extra_labels or {})}
    alert = {
        "labels": labels,
        "annotations": {k: expand(str(v), labels, float(value)) for k, v in rule["annotations"].items()},
        "startsAt": STARTS_AT.isoformat().replace("+00:00", "Z"),
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat().replace("+00:00", "Z")
    return alert


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth()


@pytest.fixture(scope="module")
def run(truth: Truth) -> Iterator[Run]:
    require_tool("prometheus-alertmanager")
    telegram = FakeTelegram().start()
    workdir = Path(tempfile.mkdtemp(prefix="telegram-e2e-", dir="/tmp"))
    names = truth.alertmanager.telegram
    env = {names.bot_token_env: telegram.token, names.low_priority_chat_id_env: LOW_PRIORITY_CHAT,
           names.oncall_chat_id_env: ONCALL_CHAT, names.escalation_chat_id_env: ESCALATION_CHAT}
    result = CliRunner().invoke(alertmanager_config_command, ["--out", str(workdir / "alertmanager.yml")], env=env)
    assert result.exit_code == 0, result.output
    assert telegram.token not in result.output
    config = alertmanager.with_short_timers(yaml.safe_load((workdir / "alertmanager.yml").read_text()),
                                            group_wait="2s", group_interval="2s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for telegram_config in receiver.get("telegram_configs", []):
            telegram_config["api_url"] = telegram.url
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    listen = f"127.0.0.1:{free_port()}"
    process = start_process("alertmanager", alertmanager_command(workdir / "alertmanager.yml", listen,
                                                                 workdir / "data", external_url=f"http://{listen}"),
                            workdir)
    try:
        wait_until(lambda: http_get(f"http://{listen}/-/ready") is not None, 30, "Alertmanager")
        rules = {rule["alert"]: rule for rule in generated_alerts(REPO)}
        yield Run(telegram, f"http://{listen}", rules, process)
    finally:
        process.stop()
        telegram.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def fired(run: Run) -> Run:
    """One alert per tier, a burst of one alert per instance (long hostile summaries), a hostile tier-2 alert."""
    alerts = [as_sent_by_the_ruler(run.rules[name], "2", extra_labels=TIER_1_LABELS if tier == 1 else None)
              for tier, name in PER_TIER.items()]
    burst_rule = run.rules[BURST_ALERT]
    alerts += [as_sent_by_the_ruler(burst_rule, "0", extra_labels={"instance": f"bot-{index}"})
               for index in range(BURST_SIZE)]
    for alert in alerts[len(PER_TIER) + 1:]:
        alert["annotations"]["summary"] = '"' * 5000  # escapes to 30 000 characters if it were not cut
    hostile = as_sent_by_the_ruler(run.rules["ModelNotFoundRateExceeded"], "3", extra_labels={"log_line": HOSTILE})
    hostile["annotations"]["summary"] = f"logged: {HOSTILE}"
    run.post([*alerts, hostile])
    wait_until(lambda: len(run.telegram.messages()) >= 6, 30, "six Telegram messages")
    return run


def test_each_tier_reaches_its_chats_with_its_notification_mode(fired: Run) -> None:
    chats = {name: sorted((m.chat_id, m.disable_notification) for m in fired.messages_about(name))
             for name in PER_TIER.values()}
    assert chats == {
        "DuplicateUpdateIdRateExceeded": [],  # tier 1: automation only, no person
        "WebhookSlowResponses": [(LOW_PRIORITY_CHAT, True)],  # tier 2: arrives silently
        "ErrorLogRate": [(ONCALL_CHAT, False)],  # tier 3: notifies on-call
        "DecimalNotJsonSerializable": [(ONCALL_CHAT, False), (ESCALATION_CHAT, False)],  # tier 4: both chats
    }
    assert all(m.parse_mode == "HTML" for m in fired.telegram.messages())
    assert fired.telegram.refused == []


def test_a_p0_page_says_what_fired_how_bad_and_what_to_do_first(fired: Run) -> None:
    [message, _] = fired.messages_about("DecimalNotJsonSerializable")
    lines = message.parsed.text.splitlines()
    assert lines[:5] == [
        "🔴 TIER 4 · CRITICAL · P0 · Immediate escalation.",
        "DecimalNotJsonSerializable",
        "Forbidden log pattern /Decimal.*is not JSON serializable/ (P0) seen 2 time(s) in the last 5m",
        "Value: 2 (threshold > 0)",
        "First step: 1. Tail the Render logs: `render logs -r <service-id> --tail`",
    ]
    assert lines[5] == "📈 dashboard · 📜 logs · 🔕 silence"


def test_links_open_the_panel_around_the_alert_the_rule_query_and_a_silence(fired: Run) -> None:
    [message, _] = fired.messages_about("DecimalNotJsonSerializable")
    links = dict((text, href) for href, text in message.parsed.links)
    dashboard = urlsplit(links["📈 dashboard"])
    assert (dashboard.scheme, dashboard.netloc, dashboard.path) == ("http", "localhost:3000", "/d/telegram-bot-logs")
    assert parse_qs(dashboard.query) == {"orgId": ["1"], "viewPanel": ["3"], "to": ["now"],
                                         "from": [str(int(STARTS_AT.timestamp()) * 1000 - 3_600_000)]}
    explore = urlsplit(links["📜 logs"])
    assert (explore.netloc, explore.path) == ("localhost:3000", "/explore")
    query = parse_qs(explore.query)
    assert (query["schemaVersion"], query["orgId"]) == (["1"], ["1"])
    [pane] = json.loads(query["panes"][0]).values()
    assert pane["datasource"] == "telegram-bot-loki"
    [loki_query] = pane["queries"]
    assert loki_query["expr"] == ('sum by (service) (count_over_time({service="telegram-bot"} '
                                  '|= `is not JSON serializable` |~ `Decimal.*is not JSON serializable` [5m])) > 0')
    assert loki_query["expr"] == fired.rules["DecimalNotJsonSerializable"]["expr"]  # the rule's own expression
    silence = urlsplit(links["🔕 silence"])
    assert f"{silence.scheme}://{silence.netloc}" == fired.alertmanager_url
    assert unquote(silence.fragment) == '/silences/new?filter={alertname="DecimalNotJsonSerializable"}'


def test_a_prometheus_alert_links_its_panel_and_has_no_logs_link(fired: Run) -> None:
    [message] = fired.messages_about(BURST_ALERT)
    assert "/health failed 3 consecutive probes (bot-" in message.parsed.text
    links = dict((text, href) for href, text in message.parsed.links)
    assert set(links) == {"📈 dashboard", "🔕 silence"}
    assert urlsplit(links["📈 dashboard"]).path == "/d/telegram-bot-service-health"
    assert parse_qs(urlsplit(links["📈 dashboard"]).query)["viewPanel"] == ["4"]


def test_a_burst_is_one_message_with_a_count_and_the_first_few(fired: Run) -> None:
    [message] = fired.messages_about(BURST_ALERT)
    text = message.parsed.text
    assert f"{BURST_SIZE} firing in this group:" in text
    assert text.count("\n• ") == 3  # two more summaries and the pointer to the dashboard
    assert len(message.text) <= 4096 and message.parsed.length <= 4096
    assert "Truncated message" not in fired.process.log.read_text()  # Alertmanager did not have to cut it


def test_log_text_cannot_add_markup_or_links(fired: Run) -> None:
    [message] = fired.messages_about("ModelNotFoundRateExceeded")
    assert f"logged: {HOSTILE}" in message.parsed.text  # shown literally...
    assert "evil.example" not in "".join(href for href, _ in message.parsed.links)  # ...never as a link
    assert [text for _, text in message.parsed.links] == ["📈 dashboard", "📜 logs", "🔕 silence"]


def test_a_resolve_sends_a_short_resolved_message(fired: Run) -> None:
    rule = fired.rules["ErrorLogRate"]
    fired.post([as_sent_by_the_ruler(rule, "2", ends_at=datetime.now(UTC) - timedelta(seconds=1))])
    wait_until(lambda: len(fired.messages_about("ErrorLogRate")) == 2, 30, "the resolved message")
    resolved = fired.messages_about("ErrorLogRate")[-1]
    assert (resolved.chat_id, resolved.disable_notification) == (ONCALL_CHAT, False)
    lines = resolved.parsed.text.splitlines()
    assert lines[0] == "✅ RESOLVED · TIER 3 · ALERT"
    assert lines[1].startswith("ErrorLogRate is back to normal (ended ")
    assert lines[2] == "2 ERROR/CRITICAL log lines in 10m (threshold: more than 10)"
    assert [text for _, text in resolved.parsed.links] == ["📈 dashboard"]
    assert len(resolved.parsed.text) < 300


def test_no_secret_reaches_a_message(fired: Run) -> None:
    for message in fired.telegram.messages():
        assert fired.telegram.token not in message.text
