"""Telegram message templates and alert links: what the generated files say, and hostile log text rendered by the
real tool (`amtool template render --template.type=html`, the html/template path Alertmanager 0.25 takes for
`parse_mode: HTML`)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import conventions
from generator.artifacts import alert_links, alertmanager, alertmanager_templates
from generator.checks import alertmanager_templates as template_checks
from generator.checks.alertmanager_templates import generated_alerts, notification, render_with_amtool, sample_alert
from generator.pipeline import plan_for
from generator.syntax.telegram_html import TelegramHtmlError, parse
from generator.truth import Truth, load_truth
from tests.tooling import REPO, require_tool

TEMPLATE = REPO / conventions.TELEGRAM_TEMPLATE_FILE


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth()


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in generated_alerts(REPO)}


# --- links --------------------------------------------------------------------------------------------------------


def test_every_alert_links_the_panel_that_shows_its_signal(rules: dict[str, dict[str, Any]]) -> None:
    assert all("dashboard_url" in rule["annotations"] for rule in rules.values())
    expected = {  # alert -> (dashboard uid, panel title), read from the generated dashboards by hand
        "DecimalNotJsonSerializable": ("telegram-bot-logs", "P0: Decimal.*is not JSON serializable"),
        "DuplicateUpdateIdRateExceeded": ("telegram-bot-logs", "Duplicate update_id (limit 1 per 30s)"),
        "RenderMemoryCritical": ("telegram-bot-render", "Memory (of 512 MiB)"),
        "HealthCheckFailing": ("telegram-bot-service-health", "Failed health checks (last 3)"),
    }
    for alert, (uid, title) in expected.items():
        url = urlsplit(rules[alert]["annotations"]["dashboard_url"])
        assert (url.scheme, url.netloc, url.path) == ("http", "localhost:3000", f"/d/{uid}")
        panel_id = int(parse_qs(url.query)["viewPanel"][0])
        dashboard = json.loads((REPO / "dashboards" / f"{uid}.json").read_text(encoding="utf-8"))
        [panel] = [p for p in dashboard["panels"] if p.get("id") == panel_id]
        assert panel["title"] == title


def test_explore_links_carry_each_log_rule_s_own_query(rules: dict[str, dict[str, Any]], truth: Truth) -> None:
    loki_file = yaml.safe_load((REPO / conventions.loki_rule_file(truth)).read_text(encoding="utf-8"))
    # Every alerting rule carries its link (recording rules, such as the log SLO's rates, page nobody).
    loki_rules = [rule for group in loki_file["groups"] for rule in group["rules"] if "alert" in rule]
    assert len(loki_rules) >= 16
    for rule in loki_rules:
        url = urlsplit(rule["annotations"]["logs_url"])
        assert (url.netloc, url.path) == ("localhost:3000", "/explore")
        [pane] = json.loads(parse_qs(url.query)["panes"][0]).values()
        assert pane["datasource"] == "telegram-bot-loki"
        assert [q["expr"] for q in pane["queries"]] == [rule["expr"]]
    assert not any("logs_url" in rule["annotations"] for rule in rules.values() if rule["labels"]["kind"] in
                   ("metric_threshold", "slo_burn_rate", "inferred_event"))


def test_links_follow_the_grafana_url_and_dashboard_uids_of_truth(truth: Truth) -> None:
    custom = truth.model_copy(update={
        "service": truth.service.model_copy(update={"id": "paybot"}),
        "alertmanager": truth.alertmanager.model_copy(update={"grafana_url": "https://grafana.example.org/g"})})
    links = alert_links.link_annotations(plan_for(custom))
    assert links["DecimalNotJsonSerializable"]["dashboard_url"] == \
        "https://grafana.example.org/g/d/paybot-logs?orgId=1&viewPanel=3"
    assert links["DecimalNotJsonSerializable"]["logs_url"].startswith(
        "https://grafana.example.org/g/explore?schemaVersion=1&orgId=1&panes=%7B%22alert%22%3A%7B%22datasource"
        "%22%3A%22paybot-loki%22")


# --- receivers ----------------------------------------------------------------------------------------------------


def test_receivers_send_html_with_their_tier_template_and_notification_mode() -> None:
    config = yaml.safe_load((REPO / conventions.ALERTMANAGER_CONFIG_FILE).read_text(encoding="utf-8"))
    assert config["templates"] == ["templates/telegram.tmpl"]
    found = {receiver["name"]: [(c["chat_id"], c["parse_mode"], c["message"], c["disable_notifications"])
                                for c in receiver.get("telegram_configs", [])] for receiver in config["receivers"]}
    assert found == {
        "tier1-automation": [],
        "tier2-low-priority": [(-1, "HTML", '{{ template "telegram.tier2.message" . }}', True)],
        "tier3-oncall": [(-1, "HTML", '{{ template "telegram.tier3.message" . }}', False)],
        "tier4-escalation": [(-1, "HTML", '{{ template "telegram.tier4.message" . }}', False),
                             (-1, "HTML", '{{ template "telegram.tier4.message" . }}', False)],
    }


def test_the_template_file_is_the_generated_one(truth: Truth) -> None:
    [artifact] = alertmanager_templates.render(plan_for(truth))
    assert artifact.path == "alerts/alertmanager/templates/telegram.tmpl"
    assert TEMPLATE.read_text(encoding="utf-8") == artifact.content
    assert [line for line in artifact.content.splitlines() if line.startswith('{{ define "telegram.')] == [
        '{{ define "telegram.tier2.message" -}}', '{{ define "telegram.tier3.message" -}}',
        '{{ define "telegram.tier4.message" -}}']


# --- the generate-time check really checks ------------------------------------------------------------------------


def _staged(tmp_path: Path, template_text: str) -> Path:
    for rel in (conventions.PROMETHEUS_RULES_FILE, conventions.LOKI_RULES_DIR):
        source = REPO / rel
        files = [source] if source.is_file() else sorted(source.rglob("*.yaml"))
        for path in files:
            target = tmp_path / path.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    template = tmp_path / conventions.TELEGRAM_TEMPLATE_FILE
    template.parent.mkdir(parents=True, exist_ok=True)
    template.write_text(template_text, encoding="utf-8")
    return tmp_path


def test_generate_time_check_passes_on_the_generated_template(tmp_path: Path) -> None:
    require_tool("amtool")
    root = _staged(tmp_path, TEMPLATE.read_text(encoding="utf-8"))
    assert template_checks.template_problems(root, conventions.TELEGRAM_TEMPLATE_FILE) == []


def test_generate_time_check_fails_without_the_rule_files_it_takes_sample_alerts_from(tmp_path: Path) -> None:
    template = tmp_path / conventions.TELEGRAM_TEMPLATE_FILE
    template.parent.mkdir(parents=True)
    template.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    [problem] = template_checks.template_problems(tmp_path, conventions.TELEGRAM_TEMPLATE_FILE)
    assert "no alerting rule in alerts/prometheus/rules.yaml" in problem.message


def test_generate_time_check_catches_an_overlong_message(tmp_path: Path) -> None:
    require_tool("amtool")
    loose = TEMPLATE.read_text(encoding="utf-8").replace("(.{150})", "(.{900})")
    problems = template_checks.template_problems(_staged(tmp_path, loose), conventions.TELEGRAM_TEMPLATE_FILE)
    assert problems and all("characters as sent; Alertmanager cuts above 4096" in p.message for p in problems)
    assert {p.message.split(" (")[0] for p in problems} == {
        "telegram.tier2.message", "telegram.tier3.message", "telegram.tier4.message"}


def test_generate_time_check_catches_markup_telegram_refuses(tmp_path: Path) -> None:
    require_tool("amtool")
    broken = TEMPLATE.read_text(encoding="utf-8").replace("<b>TIER 3", "<h1>TIER 3", 1)
    [*problems] = template_checks.template_problems(_staged(tmp_path, broken), conventions.TELEGRAM_TEMPLATE_FILE)
    assert problems and all('unsupported start tag "h1"' in p.message for p in problems)
    assert all(p.message.startswith("telegram.tier3.message") for p in problems)


def test_telegram_html_parser_refuses_what_telegram_refuses() -> None:
    assert parse("a &lt;b&gt; &amp; &#34;<a href=\"http://x/?a=1&amp;b=2\">x</a>").links == [("http://x/?a=1&b=2", "x")]
    for bad in ("a < b", "a & b", "<b>open", "<h1>x</h1>", "&nbsp;", "</b>"):
        with pytest.raises(TelegramHtmlError):
            parse(bad)


# --- hostile log text through the real renderer -------------------------------------------------------------------

HOSTILE_PIECES = ["<", ">", "&", '"', "'", "+", "&amp;", "&lt;", '<a href="http://evil.example/">x</a>', "<b>",
                  "</a>", "{{", "}}", "\n", "javascript:alert(1)", "é", "📈", "\u202e"]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES),
                                  st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)),
                        max_size=60).map("".join)
long_line = st.builds(lambda piece, times: piece * times, st.sampled_from(HOSTILE_PIECES[:9]),
                      st.integers(min_value=500, max_value=5000))


@functools.cache
def p0_rule() -> dict[str, Any]:
    [rule] = [rule for rule in generated_alerts(REPO) if rule["alert"] == "DecimalNotJsonSerializable"]
    return rule


def _cut(text: str, runes: int) -> str:
    return text[:runes] + "…" if len(text) > runes else text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(summary=st.one_of(hostile_text, long_line), label=hostile_text, others=st.lists(hostile_text, max_size=6),
       tier=st.sampled_from([2, 3, 4]))
def test_hostile_log_text_renders_literally_and_never_as_markup(
        tmp_path_factory: pytest.TempPathFactory, summary: str, label: str, others: list[str], tier: int) -> None:
    require_tool("amtool")
    rule = p0_rule()
    first = sample_alert(rule, "firing")
    first["labels"]["log_line"] = label
    first["labels"]["priority"] = label
    first["annotations"]["summary"] = summary
    first["annotations"]["value"] = label
    rest = []
    for text in others:
        alert = sample_alert(rule, "firing")
        alert["annotations"]["summary"] = text
        rest.append(alert)
    ok, output = render_with_amtool(TEMPLATE, f"telegram.tier{tier}.message",
                                    notification("receiver", [first, *rest]), tmp_path_factory.mktemp("amtool"))
    assert ok, output
    assert len(output) <= 4096
    parsed = parse(output)  # Telegram accepts it: no stray <, > or &
    assert parsed.length <= 4096
    lines = parsed.text.split("\n")
    assert _cut(summary, 150) in parsed.text
    if label:
        assert f"Value: {_cut(label, 24)}" in parsed.text
    assert lines[0].startswith(alertmanager_templates.MARKERS[
        {2: "low-priority", 3: "page", 4: "escalate"}[tier]])
    annotations = rule["annotations"]
    assert [text for _, text in parsed.links] == ["📈 dashboard", "📜 logs", "🔕 silence"]
    hrefs = [href for href, _ in parsed.links]
    assert hrefs[0].startswith(annotations["dashboard_url"] + "&from=")
    assert hrefs[1] == annotations["logs_url"]
    assert hrefs[2] == ('http://alertmanager.example:9093/#/silences/new?filter=%7Balertname%3D%22'
                        'DecimalNotJsonSerializable%22%7D')


def test_runnable_config_names_the_templates_where_it_is_given(truth: Truth) -> None:
    names = truth.alertmanager.telegram
    env = {names.bot_token_env: "1:x", names.low_priority_chat_id_env: "-1", names.oncall_chat_id_env: "-2",
           names.escalation_chat_id_env: "-3"}
    assert yaml.safe_load(alertmanager.runnable_config_text(truth, env))["templates"] == ["templates/telegram.tmpl"]
    assert yaml.safe_load(alertmanager.runnable_config_text(truth, env, "/srv/repo/t/*.tmpl"))["templates"] == [
        "/srv/repo/t/*.tmpl"]
