"""The seed (shared/seed/monitoring.md), stated here literally and independently of product/truth.yaml, checked
against the GENERATED artifacts as the tools read them (rule files, configs, dashboards, the bot module parsed
back). A truth edit that departs from the seed (a P0 pattern made P1, a threshold moved, a retention shortened)
fails here with the seed rule it breaks, even when every other test, derived from the truth, still passes.

Each failure message starts with `seed rule ...`: the seed's section and its words.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import conventions
from generator.truth.types import Duration, compile_re2
from tests.artifacts.alloy_process import AlloyPipeline
from tests.tooling import REPO

# --- the seed, literally -------------------------------------------------------------------------------------------

# "Forbidden Log Patterns": regex -> priority; "Если любой из этих паттернов появляется -> IMMEDIATE ACTION REQUIRED"
# and "Tier 4: Any forbidden log pattern -> escalate immediately".
SEED_FORBIDDEN = {
    "Decimal.*is not JSON serializable": "P0",
    "OID.*out of range": "P0",
    "Error handling request": "P1",
    "Lock acquisition failed": "P1",
    "Queue full": "P2",
    "Database connection lost": "P0",
    "Webhook timeout": "P1",
}
# "Rate-Limited Log Patterns": "не чаще чем 1 раз / 30 секунд" (at most once per 30 s), with their seed tiers.
SEED_RATE_LIMITED = {"Duplicate update_id": 1, "Insufficient balance": 1, "Model not found": 2}
SEED_RATE_LIMIT_WINDOW = "30s"
SEED_RATE_LIMIT_COUNT = 1
SEED_TEXT_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
SEED_PRODUCTION_LEVEL = "INFO"
SEED_STANDARD_TAGS = ("user_id", "update_id", "operation", "duration_ms", "error_type")
# "Log Retention": Render logs 7 days, database logs 30 days, transaction logs infinite (legal requirement).
SEED_RETENTION_HOURS = {"render_logs": 7 * 24, "database_logs": 30 * 24, "transaction_logs": None}
SEED_SQL_DIAGNOSTICS = (
    "SELECT * FROM lock_heartbeat;",
    "SELECT id, user_id, status, created_at, completed_at FROM jobs ORDER BY created_at DESC LIMIT 10;",
    "SELECT user_id, amount, type, description, created_at FROM transactions ORDER BY created_at DESC LIMIT 20;",
)
SEED_LONGEST_SLO_WINDOW_DAYS = 30  # 99.5 % uptime "per month", the 30-day SLO panels and burn rates


@pytest.fixture(scope="module")
def tree(generated: Path) -> Path:
    """What `obsctl generate` writes for the repository's truth, in a fresh folder (tests/conftest.py's tree)."""
    return generated


def loki_rules(tree: Path) -> dict[str, dict[str, Any]]:
    """Every Loki alerting rule by name (recording rules, such as the log SLO's rates, are not alerts)."""
    files = sorted((tree / conventions.LOKI_RULES_DIR).rglob("*.yaml"))
    rules = {}
    for path in files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rules[rule["alert"]] = {**rule, "group": group}
    return rules


def prometheus_alerts(tree: Path) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((tree / conventions.PROMETHEUS_RULES_FILE).read_text())
    return {rule["alert"]: rule for group in document["groups"] for rule in group["rules"] if "alert" in rule}


def line_filters(expr: str) -> list[str]:
    """The `|=` / `|~` strings of a LogQL expression (backtick strings, as generated)."""
    return re.findall(r"\|[=~] `([^`]*)`", expr)


def rule_matching(rules: dict[str, dict[str, Any]], seed_regex: str) -> list[str]:
    """Alerts whose last line filter is the seed's regex (or, for a plain literal, its `|=` literal)."""
    return [name for name, rule in rules.items() if line_filters(rule["expr"])[-1:] == [seed_regex]]


def duration_of(text: str | None) -> float:
    return Duration.parse(text or "0s").seconds


# --- Forbidden Log Patterns ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("regex", "priority"), SEED_FORBIDDEN.items(), ids=list(SEED_FORBIDDEN))
def test_each_forbidden_pattern_escalates_at_once_with_the_seed_priority(tree: Path, regex: str,
                                                                         priority: str) -> None:
    seed_rule = f"seed rule \"{regex}\" ({priority}, Forbidden Log Patterns; Tier 4: escalate immediately)"
    rules = loki_rules(tree)
    names = rule_matching(rules, regex)
    assert len(names) == 1, f"{seed_rule}: expected one Loki alert on exactly this regex, found {names}"
    rule = rules[names[0]]
    labels = rule["labels"]
    assert labels.get("priority") == priority, (
        f"{seed_rule}: generated alert {names[0]} has priority {labels.get('priority')}, the seed says {priority}")
    assert labels.get("tier") == "4", f"{seed_rule}: generated alert {names[0]} routes to tier {labels.get('tier')}"
    assert duration_of(rule.get("for")) == 0, f"{seed_rule}: {names[0]} waits `for: {rule.get('for')}`"
    assert rule["expr"].rstrip().endswith("> 0"), f"{seed_rule}: {names[0]} must fire on the first line: {rule['expr']}"


def test_exactly_the_seed_forbidden_patterns_are_generated(tree: Path) -> None:
    rules = loki_rules(tree)
    forbidden = {name for name, rule in rules.items() if rule["labels"].get("kind") == "forbidden_pattern"}
    seeded = {name for regex in SEED_FORBIDDEN for name in rule_matching(rules, regex)}
    assert forbidden == seeded, f"seed rule Forbidden Log Patterns lists 7 patterns; generated: {sorted(forbidden)}"


# --- Rate-Limited Log Patterns -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "tier"), SEED_RATE_LIMITED.items(), ids=list(SEED_RATE_LIMITED))
def test_each_rate_limited_pattern_allows_once_per_30_seconds(tree: Path, pattern: str, tier: int) -> None:
    seed_rule = f"seed rule \"{pattern}\" (Rate-Limited Log Patterns: at most 1 per 30 s; more: attack or bug)"
    rules = loki_rules(tree)
    names = rule_matching(rules, pattern)
    assert len(names) == 1, f"{seed_rule}: expected one Loki alert on exactly this pattern, found {names}"
    expr = rules[names[0]]["expr"]
    assert f"[{SEED_RATE_LIMIT_WINDOW}]" in expr, f"{seed_rule}: {names[0]} counts over another window: {expr}"
    assert expr.rstrip().endswith(f"> {SEED_RATE_LIMIT_COUNT}"), f"{seed_rule}: {names[0]} allows another count: {expr}"
    interval = duration_of(rules[names[0]]["group"].get("interval"))
    assert 0 < interval < 30, f"{seed_rule}: evaluated every {interval}s, pairs of hits 30 s apart slip through"
    assert int(rules[names[0]]["labels"]["tier"]) >= tier, f"{seed_rule}: routed below the seed's tier {tier}"


# --- Key Metrics, Render Dashboard Metrics: every threshold and band ----------------------------------------------

# (alert, seed rule, regex the expression must end with, `for` in seconds or None for "not checked")
SEED_THRESHOLDS = [
    ("ErrorLogRate", "Error Rate: > 10 errors in 10 minutes -> notify", r"\[10m\]\)\) > 10$", None),
    ("QueueDepthHigh", "Queue Depth: > 80 for 5 minutes", r"> 80$", 300),
    ("DatabasePoolSaturated", "Database Pool: > 18 (of 20) for 5 minutes", r"> 18$", 300),
    ("LockHeartbeatStale", "Lock Heartbeat: > 60 seconds since last heartbeat", r"> 60$", None),
    ("RenderCpuWarning", "CPU Usage: Warning > 60% sustained", r"> 60$", None),
    ("RenderCpuCritical", "CPU Usage: Critical > 90%", r"> 90$", None),
    ("RenderMemoryWarning", "Memory Usage: Warning > 400 MB", r"> 400(?:000000)?$", None),
    ("RenderMemoryCritical", "Memory Usage: Critical > 480 MB (512 MB instance)", r"> 480(?:000000)?$", None),
    ("RenderRequestsWarning", "Requests/Minute: Warning > 100", r"> 100$", None),
    ("RenderRequestsCritical", "Requests/Minute: Critical > 200", r"> 200$", None),
    ("RenderLatencyP95", "Response Time: P95 > 1s for 5 minutes -> investigate", r"> 1$", 300),
]


@pytest.mark.parametrize(("alert", "seed_rule", "ending", "for_seconds"), SEED_THRESHOLDS,
                         ids=[t[0] for t in SEED_THRESHOLDS])
def test_each_seed_threshold_is_the_generated_one(tree: Path, alert: str, seed_rule: str, ending: str,
                                                  for_seconds: int | None) -> None:
    rules = {**prometheus_alerts(tree), **loki_rules(tree)}
    assert alert in rules, f"seed rule \"{seed_rule}\": no generated alert {alert}"
    expr = " ".join(rules[alert]["expr"].split())
    assert re.search(ending, expr), f"seed rule \"{seed_rule}\": {alert} is `{expr}`"
    if for_seconds is not None:
        assert duration_of(rules[alert].get("for")) == for_seconds, (
            f"seed rule \"{seed_rule}\": {alert} waits `for: {rules[alert].get('for')}`")


def test_webhook_p95_above_one_second_for_five_minutes(tree: Path) -> None:
    seed_rule = "seed rule \"Response Time: If P95 > 1s for 5 minutes -> investigate\""
    rule = loki_rules(tree).get("WebhookLatencyP95")
    assert rule, f"{seed_rule}: no WebhookLatencyP95 alert"
    expr = " ".join(rule["expr"].split())
    assert expr.startswith("quantile_over_time(0.95,") and re.search(r"> 1000$", expr), f"{seed_rule}: `{expr}`"
    assert duration_of(rule.get("for")) == 300, f"{seed_rule}: `for: {rule.get('for')}`"


def test_slow_response_band_starts_at_300_ms_and_warns_only(tree: Path) -> None:
    seed_rule = "seed rule \"Tier 2: Slow response (300-800ms) -> log with WARNING\""
    rule = loki_rules(tree).get("WebhookSlowResponses")
    assert rule, f"{seed_rule}: no WebhookSlowResponses alert"
    assert "300" in rule["expr"], f"{seed_rule}: the 300 ms bound is not in `{rule['expr']}`"
    assert rule["labels"]["tier"] == "2", f"{seed_rule}: tier {rule['labels']['tier']}"


def test_health_check_every_60_seconds_fails_after_3_consecutive_probes(tree: Path) -> None:
    seed_rule = "seed rule \"Uptime: /health every 60 seconds; if it fails 3 consecutive times -> notify\""
    rule = prometheus_alerts(tree)["HealthCheckFailing"]
    probed = re.search(r'probe_success\{job="([^"]+)"\}', rule["expr"])
    assert probed, f"{seed_rule}: HealthCheckFailing reads no probe: {rule['expr']}"
    config = yaml.safe_load((tree / conventions.PROMETHEUS_CONFIG_PATH).read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == probed.group(1)]
    assert any(t.endswith("/health") for sc in job["static_configs"] for t in sc["targets"]), f"{seed_rule}: {job}"
    interval = duration_of(job["scrape_interval"])
    assert interval == 60, f"{seed_rule}: probed every {job['scrape_interval']}"
    # firing needs the first failed probe plus `for` covering two more: 3 consecutive failures
    assert duration_of(rule["for"]) == 2 * interval, f"{seed_rule}: `for: {rule['for']}`"
    assert rule["labels"]["tier"] == "3", f"{seed_rule} (Tier 3: page on-call): tier {rule['labels']['tier']}"


def test_slo_targets_are_the_seeds(tree: Path) -> None:
    alerts = prometheus_alerts(tree)
    uptime = " ".join(alerts["UptimeBurnPage"]["expr"].split())
    assert "0.005" in uptime, f"seed rule \"Uptime target 99.5%\": the uptime burn rate reads `{uptime}`"
    errors = " ".join(alerts["HttpErrorRatioBurnPage"]["expr"].split())
    assert "0.001" in errors, f"seed rule \"Error Rate target < 0.1% of requests\": the burn rate reads `{errors}`"


# --- Alerting Strategy: tiers -------------------------------------------------------------------------------------


def route_for(config: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """The first child route whose equality matchers all hold (Alertmanager's matching, `continue` unset)."""
    for route in config["route"].get("routes", []):
        wanted = dict(re.fullmatch(r'(\w+)="([^"]*)"', m).groups() for m in route.get("matchers", []))  # type: ignore[union-attr]
        if all(labels.get(k) == v for k, v in wanted.items()):
            return route
    return config["route"]


def test_tier_3_pages_on_call_and_tier_4_escalates_at_once(tree: Path) -> None:
    config = yaml.safe_load((tree / conventions.ALERTMANAGER_CONFIG_FILE).read_text())
    tier3, tier4 = route_for(config, {"tier": "3"}), route_for(config, {"tier": "4"})
    tier2 = route_for(config, {"tier": "2"})
    assert duration_of(tier4.get("group_wait")) == 0, (
        "seed rule \"Tier 4: Critical (immediate escalation)\": tier-4 alerts wait "
        f"{tier4.get('group_wait')} before the first notification")
    assert tier3["receiver"] != tier2["receiver"], (
        "seed rule \"Tier 3: Alert (notify on-call)\" vs \"Tier 2: Warning (log, no action)\": same receiver")
    assert tier4["receiver"] not in (tier2["receiver"],), "seed rule \"Tier 4\": escalation goes to the tier-2 chat"
    seed_tier3 = {"HealthCheckFailing": "/health fails 3x", "ErrorLogRate": "Error rate > threshold",
                  "LockHeartbeatStale": "Lock lost unexpectedly"}
    alerts = {**prometheus_alerts(tree), **loki_rules(tree)}
    for alert, event in seed_tier3.items():
        assert int(alerts[alert]["labels"]["tier"]) >= 3, f"seed rule \"Tier 3: {event} -> page on-call\": {alert}"
    for alert, event in {"OomKill": "OOM kill -> restart + escalate",
                         "StartupFailure": "Startup failure -> escalate immediately"}.items():
        assert alerts[alert]["labels"]["tier"] == "4", f"seed rule \"Tier 4: {event}\": {alert}"


# --- Log Retention -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("log_class", "hours"), SEED_RETENTION_HOURS.items(), ids=list(SEED_RETENTION_HOURS))
def test_each_log_class_is_kept_as_long_as_the_seed_says(tree: Path, log_class: str, hours: int | None) -> None:
    seed_rule = {"render_logs": "Render logs: 7 days", "database_logs": "Database logs: 30 days",
                 "transaction_logs": "Transaction logs: Infinite (legal requirement for payments)"}[log_class]
    config = yaml.safe_load((tree / conventions.LOKI_CONFIG_PATH).read_text())
    limits = config["limits_config"]
    assert config["compactor"]["retention_enabled"] is True, f"seed rule \"{seed_rule}\": the compactor deletes nothing"
    selecting = [r for r in limits.get("retention_stream", []) if f'"{log_class}"' in r["selector"]]
    if hours is None:
        # Loki: a stream no rule selects falls back to retention_period; 0s there never expires (cited in stack.py)
        assert selecting == [] and limits["retention_period"] in ("0", "0s"), (
            f"seed rule \"{seed_rule}\": Loki would delete these lines: {selecting or limits['retention_period']}")
    else:
        assert len(selecting) == 1, f"seed rule \"{seed_rule}\": {len(selecting)} retention rules select it"
        assert duration_of(selecting[0]["period"]) == hours * 3600, (
            f"seed rule \"{seed_rule}\": kept {selecting[0]['period']}")


@pytest.mark.parametrize(("line", "log_class"), [
    ("2026-11-29 10:00:01,123 - bot.payments - INFO - Payment received user_id=123 operation=payment amount=4.99",
     "transaction_logs"),
    ('{"asctime": "2026-11-29 10:00:01,123", "name": "bot.payments", "levelname": "INFO", "message": '
     '"Payment received", "operation": "payment", "amount": "4.99"}', "transaction_logs"),
    ("2026-11-29 10:00:01,123 - alembic.runtime.migration - INFO - Running upgrade 3f2a -> 4b1c", "database_logs"),
    ('{"asctime": "2026-11-29 10:00:01,123", "name": "alembic.runtime.migration", "levelname": "INFO", '
     '"message": "Running upgrade 3f2a -> 4b1c"}', "database_logs"),
])
def test_payment_and_migration_lines_are_labelled_for_their_retention(tree: Path, line: str, log_class: str) -> None:
    labels = AlloyPipeline.from_tree(tree).push(line, {"source": "file"}).labels
    assert log_class in labels.values(), (
        f"seed rule \"Log Retention\": this line must be kept as {log_class}, Alloy labels it {labels}")


def test_prometheus_keeps_the_longest_slo_window() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    flags = [a for a in compose["services"]["prometheus"]["command"] if a.startswith("--storage.tsdb.retention.time=")]
    assert flags and duration_of(flags[0].split("=", 1)[1]) > SEED_LONGEST_SLO_WINDOW_DAYS * 86400, (
        "seed rule \"99.5% uptime per month\": Prometheus keeps less than the 30-day window the SLO panels read")


# --- Log Levels, Structured Logging Tags ---------------------------------------------------------------------------


def bot_module_constants(tree: Path) -> dict[str, Any]:
    module = ast.parse((tree / conventions.BOT_LOGGING_MODULE).read_text())
    return {node.targets[0].id: ast.literal_eval(node.value) for node in module.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("TEXT_FORMAT", "STANDARD_TAGS", "PRODUCTION_LEVEL")}


def test_the_bot_logs_in_the_seed_format_with_the_standard_tags(tree: Path) -> None:
    constants = bot_module_constants(tree)
    assert constants["TEXT_FORMAT"] == SEED_TEXT_FORMAT, f"seed rule \"logging.basicConfig format\": {constants}"
    assert constants["PRODUCTION_LEVEL"] == SEED_PRODUCTION_LEVEL, "seed rule \"level=logging.INFO  # Production\""
    assert tuple(constants["STANDARD_TAGS"]) == SEED_STANDARD_TAGS, "seed rule \"Standard tags\""
    stored = AlloyPipeline.from_tree(tree).push("2026-11-29 10:00:01,123 - bot.webhook - ERROR - boom")
    assert stored.labels.get("level") == "ERROR", "seed rule \"logging.basicConfig format\": Alloy reads no level"


# --- Privacy & Compliance ------------------------------------------------------------------------------------------

PRIVACY_LINES = [
    ("Never log TELEGRAM_BOT_TOKEN", "2026-11-29 10:00:01,123 - httpx - INFO - HTTP Request: POST "
     "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/sendMessage",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"),
    ("Never log KIE_API_KEY",
     "2026-11-29 10:00:01,123 - bot.kie - DEBUG - Authorization: Bearer kie_0123456789abcdefXYZ",
     "kie_0123456789abcdefXYZ"),
    ("Never log KIE_API_KEY", '{"name": "bot.config", "levelname": "INFO", "message": "config", '
     '"kie_api_key": "kie_0123456789abcdefXYZ"}', "kie_0123456789abcdefXYZ"),
    ("Never log user prompts", '{"name": "bot.generation", "levelname": "INFO", "message": "generation started", '
     '"prompt": "a castle made of cheese"}', "castle made of cheese"),
    ("Mask sensitive data (balance=***)", '{"name": "bot.billing", "levelname": "INFO", "message": "balance checked", '
     '"balance": 45.5}', "45.5"),
    ("Mask sensitive data (balance=***)", "2026-11-29 10:00:01,123 - bot.billing - INFO - balance=-12.40",
     "12.40"),
]


@pytest.mark.parametrize(("seed_rule", "line", "secret"), PRIVACY_LINES, ids=[f"{r}-{i}" for i, (r, _l, _s) in
                                                                            enumerate(PRIVACY_LINES)])
def test_nothing_the_seed_forbids_is_stored(tree: Path, seed_rule: str, line: str, secret: str) -> None:
    stored = AlloyPipeline.from_tree(tree).push(line, {"source": "render"}).line
    assert secret not in stored, f"seed rule \"{seed_rule}\": Loki would store `{stored}`"
    if stored.startswith("{"):
        json.loads(stored)


def test_what_the_seed_allows_is_kept(tree: Path) -> None:
    line = "2026-11-29 10:00:01,123 - bot.payments - INFO - Payment received user_id=123 amount=4.99"
    assert AlloyPipeline.from_tree(tree).push(line).line == line, (
        "seed rule \"Log user_id (needed for support); Log transaction amounts (legal requirement)\"")


def test_leaked_secrets_page(tree: Path) -> None:
    rules = loki_rules(tree)
    for secret, line in (("TELEGRAM_BOT_TOKEN", "bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"),
                         ("KIE_API_KEY", "KIE_API_KEY=sk_live_0123456789abcdef0123"),
                         ("user prompts", '"prompt": "a cat"')):
        firing = [name for name, rule in rules.items() if rule["labels"].get("kind") == "secret_leak"
                  and compile_re2(line_filters(rule["expr"])[-1]).search(line)]
        assert firing, f"seed rule \"Never log {secret}\": no alert catches `{line}`"


# --- Debug Tools: the SQL diagnostics ------------------------------------------------------------------------------


@pytest.mark.parametrize("query", SEED_SQL_DIAGNOSTICS)
def test_each_seed_diagnostic_query_is_in_the_runbooks_and_the_diagnostics_dashboard(tree: Path, query: str) -> None:
    dashboards = [json.loads(p.read_text()) for p in (tree / conventions.DASHBOARD_DIR).glob("*.json")]
    panels_sql = {target.get("rawSql", "").strip().rstrip(";") for d in dashboards for panel in d.get("panels", [])
                  for target in panel.get("targets", [])}
    assert query.rstrip(";") in panels_sql, f"seed rule \"Query database for diagnostics\": no panel runs `{query}`"
    runbooks = " ".join(rule["annotations"].get("runbook", "") for rule in loki_rules(tree).values())
    assert query in runbooks, f"seed rule \"Query database for diagnostics\": no alert runbook names `{query}`"
