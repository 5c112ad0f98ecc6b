"""The Loki ruler rules: what they select, what they label, and that Grafana's grammar and RE2 accept them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import conventions
from generator.artifacts import loki_rules
from generator.checks.loki_rules import regex_strings, validate_rule_texts
from generator.conventions import GENERATED_HEADER, alert_name
from generator.pipeline import plan_for
from generator.plan import log_format
from generator.plan import loki as loki_plan
from generator.syntax import logql_grammar
from generator.syntax.logql import line_filters_for, quote_string, required_literal, unquote_string
from generator.syntax.logql_grammar import parse_batch
from generator.truth import load_truth
from generator.truth.types import compile_re2, regex_matches
from tests.tooling import require_tool

REPO = Path(__file__).resolve().parents[2]
TRUTH = load_truth(REPO / "product" / "truth.yaml")
RULE_FILE = REPO / conventions.loki_rule_file(TRUTH)


@pytest.fixture(scope="module")
def rules() -> dict[str, dict]:
    data = yaml.safe_load(loki_rules.render(plan_for(TRUTH))[0].content)
    return {rule["alert"]: {**rule, "group": group} for group in data["groups"] for rule in group["rules"]
            if "alert" in rule}


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    data = yaml.safe_load(loki_rules.render(plan_for(TRUTH))[0].content)
    return {rule["record"]: {**rule, "group": group} for group in data["groups"] for rule in group["rules"]
            if "record" in rule}


def line_passes_filters(regex: str, line: str) -> bool:
    """Apply the emitted filter chain the way Loki does: `|=` substring, `|~` RE2 search."""
    for f in line_filters_for(regex):
        ok = f.value in line if f.operator == "|=" else regex_matches(f.value, line)
        if not ok:
            return False
    return True


def all_patterns():
    return [*TRUTH.forbidden_patterns, *TRUTH.rate_limited_patterns, *TRUTH.privacy.never_log]


def test_rule_file_lives_where_a_local_ruler_reads_it() -> None:
    assert conventions.loki_rule_file(TRUTH) == "loki/rules/fake/telegram-bot.yaml"
    assert RULE_FILE.read_text(encoding="utf-8").startswith(f"# {GENERATED_HEADER}\n")


def test_committed_rule_file_is_what_generation_produces() -> None:
    assert RULE_FILE.read_text(encoding="utf-8") == loki_rules.render(plan_for(TRUTH))[0].content


def test_rendering_is_deterministic() -> None:
    again = load_truth(REPO / "product" / "truth.yaml")
    assert loki_rules.render(plan_for(TRUTH)) == loki_rules.render(plan_for(again))


def test_one_group_per_concern(rules: dict[str, dict]) -> None:
    groups = [g["name"] for g in yaml.safe_load(RULE_FILE.read_text())["groups"]]
    assert groups == ["forbidden-patterns", "rate-limited-patterns", "error-rate", "log-events", "webhook-latency",
                      "leaked-secrets", "slo-webhook-log-error-ratio"]


def test_every_forbidden_pattern_fires_on_first_occurrence(rules: dict[str, dict]) -> None:
    assert len(TRUTH.forbidden_patterns) == 7
    for pattern in TRUTH.forbidden_patterns:
        rule = rules[alert_name(pattern.id)]
        assert rule["group"]["name"] == "forbidden-patterns"
        assert rule["expr"].endswith(" > 0") and rule["for"] == "0s"
        assert rule["labels"]["priority"] == pattern.priority
        assert rule["labels"]["pattern_id"] == pattern.id
        assert rule["labels"]["severity"] == TRUTH.tier_overlap.severity_from_priority[pattern.priority]
        assert rule["annotations"]["truth"].startswith("product/truth.yaml forbidden_patterns[")
        assert pattern.reason in rule["annotations"]["description"]
        assert rule["annotations"]["runbook"].startswith("1. ")


def test_tier_overlap_is_resolved_to_the_highest_tier_and_visible(rules: dict[str, dict]) -> None:
    assert rules["QueueFull"]["labels"]["tier"] == "4" and rules["QueueFull"]["labels"]["tiers"] == "1,4"
    db = rules["DatabaseConnectionLost"]["labels"]
    assert (db["tier"], db["tiers"], db["severity"]) == ("4", "3,4", "critical")


def test_rate_limited_patterns_fire_above_their_limit(rules: dict[str, dict]) -> None:
    assert len(TRUTH.rate_limited_patterns) == 3
    for pattern in TRUTH.rate_limited_patterns:
        rule = rules[alert_name(pattern.id) + "RateExceeded"]
        assert f"[{pattern.limit.per}]" in rule["expr"] and rule["expr"].endswith(f" > {pattern.limit.count}")
        assert (pattern.limit.count, str(pattern.limit.per)) == (1, "30s")
        # The group must evaluate more often than the window, or two hits straddling an evaluation slip through.
        from generator.truth.types import Duration

        assert Duration.parse(rule["group"]["interval"]) < pattern.limit.per


def test_rate_exceeded_alerts_reach_a_person_single_occurrences_stay_tier_1(rules: dict[str, dict]) -> None:
    """The seed: duplicate update_id and insufficient balance are tier 1 (the bot handles each), but more often than
    1 per 30 s is "possible attack or bug": the alert goes to the tier-2 channel."""
    for name in ("DuplicateUpdateIdRateExceeded", "InsufficientBalanceRateExceeded", "ModelNotFoundRateExceeded"):
        assert rules[name]["labels"]["tier"] == "2", name
    assert rules["DuplicateUpdateIdRateExceeded"]["labels"]["tiers"] == "1,2"
    assert rules["InsufficientBalanceRateExceeded"]["labels"]["tiers"] == "1,2"
    assert TRUTH.tier(1).notify == "none" and TRUTH.tier(2).notify == "low-priority"


def test_external_api_timeout_and_debug_lines_alert_at_tier_2(rules: dict[str, dict]) -> None:
    timeout = rules["ExternalApiTimeout"]
    assert timeout["expr"].endswith(" > 0") and "[5m]" in timeout["expr"] and timeout["labels"]["tier"] == "2"
    debug = rules["DebugLogInProduction"]
    assert debug["expr"].endswith(" > 0") and debug["labels"]["tier"] == "2"
    regex = TRUTH.log_alerts.external_api_timeout.regex
    kie = "2026-11-29 10:00:01,123 - bot.kie - {} - KIE API request failed error_type={}"
    assert regex_matches(regex, kie.format("ERROR", "httpx.ReadTimeout"))
    assert regex_matches(regex, kie.format("CRITICAL", "httpx.ConnectTimeout"))
    assert regex_matches(regex, kie.format("ERROR", "asyncio.TimeoutError"))
    assert not regex_matches(regex, kie.format("WARNING", "httpx.ReadTimeout")), "a retry is not yet an alert"
    assert not regex_matches(regex, kie.format("ERROR", "httpx.ReadError"))
    level = log_format.level_regex(TRUTH.logs, loki_plan.levels_below_production(TRUTH))
    assert loki_plan.levels_below_production(TRUTH) == ["DEBUG"]
    assert regex_matches(level, "2026-11-29 10:00:01,123 - bot.config - DEBUG - settings loaded")
    assert regex_matches(level, '{"asctime": "x", "name": "bot", "levelname": "DEBUG", "message": "settings"}')
    assert not regex_matches(level, "2026-11-29 10:00:01,123 - bot.config - INFO - DEBUG mode off")


def test_error_rate_rule_counts_error_and_critical_lines_in_both_formats(rules: dict[str, dict]) -> None:
    rule = rules["ErrorLogRate"]
    assert "[10m]" in rule["expr"] and rule["expr"].endswith(" > 10")
    regex = loki_plan.level_regex(TRUTH)
    assert regex_matches(regex, "2026-11-29 10:00:01,123 - bot.db - ERROR - boom")
    assert regex_matches(regex, "2026-11-29 10:00:01,123 - bot - CRITICAL - startup failure")
    assert regex_matches(regex, '{"asctime": "x", "name": "bot", "levelname": "ERROR", "message": "boom"}')
    assert regex_matches(regex, '{"levelname":"CRITICAL","message":"lock lost"}')
    assert not regex_matches(regex, "2026-11-29 10:00:01,123 - bot - WARNING - retrying after ERROR")
    assert not regex_matches(regex, '{"levelname": "INFO", "message": "ERROR budget ok"}')


def test_latency_rules_extract_duration_from_both_formats(rules: dict[str, dict]) -> None:
    p95 = rules["WebhookLatencyP95"]
    assert p95["expr"].startswith("quantile_over_time(0.95, ") and p95["expr"].endswith(" > 1000")
    assert "| unwrap duration_ms" in p95["expr"] and p95["for"] == "5m" and "[5m]" in p95["expr"]
    slow = rules["WebhookSlowResponses"]
    # The seed's slow band starts at the P50 target: the typical (median) response over 10m, held for 10m.
    assert slow["expr"].startswith("quantile_over_time(0.5, ") and slow["expr"].endswith(" > 300")
    assert "[10m]" in slow["expr"] and slow["for"] == "10m" and slow["labels"]["tier"] == "2"
    extractor = compile_re2(log_format.numeric_tag_extractor("duration_ms"))
    webhook = compile_re2(log_format.tag_value_regex("operation", "webhook"))
    json_line = '{"levelname": "INFO", "message": "handled", "operation": "webhook", "duration_ms": 1234.5}'
    text_line = "2026-11-29 10:00:01,123 - bot.webhook - INFO - handled operation=webhook duration_ms=45"
    assert extractor.search(json_line).group("duration_ms") == "1234.5"
    assert extractor.search(text_line).group("duration_ms") == "45"
    assert webhook.search(json_line) and webhook.search(text_line)
    assert not webhook.search("operation=webhooks duration_ms=4") and not webhook.search('"operation": "payment"')


def test_secret_rules_match_raw_and_masked_leaks(rules: dict[str, dict]) -> None:
    for secret in TRUTH.privacy.never_log:
        rule = rules[alert_name(secret.id)]
        assert rule["labels"]["tier"] == "4" and rule["labels"]["kind"] == "secret_leak"
        if secret.redact_as:
            assert regex_strings(parse_batch([rule["expr"]], with_nodes=True)[0])[0].endswith(
                secret.redact_as.replace("<", "<"))
        for example in secret.examples.match:
            assert example not in yaml.safe_dump(rule), "a leak example must never be copied into a rule"


def test_filter_chain_selects_exactly_the_truth_examples() -> None:
    """The `|=` prefilter plus `|~` regex accept every match example and reject every look-alike."""
    for pattern in all_patterns():
        for line in pattern.examples.match:
            assert line_passes_filters(pattern.regex, line), (pattern.id, line)
        for line in pattern.examples.no_match:
            assert not line_passes_filters(pattern.regex, line), (pattern.id, line)


def test_literal_prefilter_used_only_when_required() -> None:
    assert [f.render() for f in line_filters_for("Queue full")] == ["|= `Queue full`"]
    assert [f.render() for f in line_filters_for("Decimal.*is not JSON serializable")] == [
        "|= `is not JSON serializable`", "|~ `Decimal.*is not JSON serializable`"]
    assert required_literal("(?i)queue full") is None
    assert required_literal("abc|defgh") is None  # neither side is required
    assert required_literal("x(abc)?yz") is None  # optional group: nothing of length >= 3 is required
    assert required_literal("foo(bar)+") == "foo"


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_required_literal_is_contained_in_every_match(data: st.DataObject) -> None:
    regex = data.draw(st.sampled_from([p.regex for p in all_patterns()] + [
        "err.*timeout", "a(bcd)+e", "x[0-9]{2}yz(ab|cd)efg", "(foo)?barbaz", "lock (acquired|released) ok"]))
    literal = required_literal(regex)
    line = data.draw(st.from_regex(regex))
    if regex_matches(regex, line) and literal is not None:
        assert literal in line


def test_every_expression_parses_with_grafanas_grammar_and_regexes_round_trip(rules: dict[str, dict]) -> None:
    exprs = [rule["expr"] for rule in rules.values()]
    results = parse_batch(exprs, with_nodes=True)
    assert all(r.ok for r in results), [r.describe_errors() for r in results if not r.ok]
    recovered = {rx for r in results for rx in regex_strings(r)}
    for pattern in [*TRUTH.forbidden_patterns, *TRUTH.rate_limited_patterns]:
        filters = line_filters_for(pattern.regex)
        assert filters[-1].value == pattern.regex
        if filters[-1].operator == "|~":
            assert pattern.regex in recovered


def test_log_slo_records_the_webhook_request_and_error_rates_for_prometheus(records: dict[str, dict]) -> None:
    """Recording rules only (no alert in Loki: Prometheus burns the rates), aggregated by the stream labels so the
    remote-written series carry exactly `service`, the literal `webhook` prefilter before any regex."""
    assert set(records) == {"slo:log_requests:rate5m", "slo:log_errors:rate5m"}
    assert all(set(rule) == {"record", "expr", "group"} for rule in records.values())
    assert {rule["group"]["name"] for rule in records.values()} == {"slo-webhook-log-error-ratio"}
    assert {rule["group"]["interval"] for rule in records.values()} == {"15s"}
    webhook = '|= `webhook` |~ `"operation"\\s*:\\s*"webhook"|\\boperation=webhook\\b`'
    assert records["slo:log_requests:rate5m"]["expr"] == (
        f'sum by (service) (rate({{service="telegram-bot"}} {webhook} [5m]))')
    assert records["slo:log_errors:rate5m"]["expr"] == (
        f'sum by (service) (rate({{service="telegram-bot"}} {webhook} |~ `(?: - (?:ERROR|CRITICAL) - |'
        '"levelname"\\s*:\\s*"(?:ERROR|CRITICAL)")|(?:"error_type"\\s*:\\s*"[^"]|\\berror_type=\\S)` [5m]))')
    results = parse_batch([rule["expr"] for rule in records.values()], with_nodes=True)
    assert all(r.ok for r in results), [r.describe_errors() for r in results if not r.ok]


@pytest.mark.parametrize(("line", "is_request", "failed"), [
    ("2026-11-29 10:00:01,123 - bot.webhook - INFO - Webhook handled operation=webhook duration_ms=45", True, False),
    ('{"levelname": "INFO", "message": "Webhook handled", "operation": "webhook", "duration_ms": 45}', True, False),
    ("2026-11-29 10:00:01,123 - bot.db - CRITICAL - Database connection lost operation=webhook", True, True),
    ('{"levelname": "ERROR", "message": "Webhook failed", "operation": "webhook"}', True, True),
    ("2026-11-29 10:00:01,123 - bot.webhook - WARNING - Webhook retried operation=webhook error_type=TimeoutError",
     True, True),
    ('{"levelname": "WARNING", "message": "retried", "operation": "webhook", "error_type": "TimeoutError"}',
     True, True),
    ('{"levelname": "INFO", "message": "ok", "operation": "webhook", "error_type": ""}', True, False),
    ("2026-11-29 10:00:01,123 - bot.webhook - INFO - ERROR budget fine operation=webhook", True, False),
    ("2026-11-29 10:00:01,123 - bot.api - ERROR - Generation failed operation=generation", False, False),
    ("2026-11-29 10:00:01,123 - bot.webhook - ERROR - Webhook timeout: 734 ms for update 91", False, False),
    ("2026-11-29 10:00:01,123 - bot.api - INFO - set operation=webhooks", False, False),
])
def test_log_slo_line_classes(line: str, is_request: bool, failed: bool) -> None:
    """Which lines the recording rules count, stated per line; the filters applied as Loki does (substring, RE2)."""
    slo = TRUTH.slos.log_error_ratio
    request_filters = loki_plan.log_slo_request_filters(slo)

    def passes(filters: list) -> bool:
        return all(f.value in line if f.operator == "|=" else regex_matches(f.value, line) for f in filters)

    assert passes(request_filters) is is_request
    assert (passes(request_filters) and regex_matches(loki_plan.log_slo_error_regex(TRUTH, slo), line)) is failed


def test_committed_rule_file_passes_the_validator() -> None:
    assert validate_rule_texts({"rules.yaml": RULE_FILE.read_text()}) == []


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ('{service="x"} |= `a`', "must be a metric query"),
        ('sum(count_over_time({service="x"} |~ `a(b` [5m])) > 0', "does not compile in RE2"),
        ('sum(count_over_time({service="x"} |~ "\\d+" [5m])) > 0', "invalid escape \\d"),
        ('sum(count_over_time({service="x"} |~ `a` [5m]) > 0', "does not parse"),
        ('sum(rate({service="x"}[$__rate_interval]))', "does not parse"),
    ],
)
def test_validator_rejects_what_loki_would(expr: str, problem: str) -> None:
    text = yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]})
    problems = validate_rule_texts({"bad.yaml": text})
    assert any(problem in str(p) for p in problems), problems


def test_validator_rejects_malformed_rule_files() -> None:
    problems = validate_rule_texts({
        "a.yaml": "groups: [{name: g, rules: [{alert: A, record: B, expr: 'sum(rate({a=\"b\"}[1m]))'}]}]",
        "b.yaml": "rules: []",
        "c.yaml": "groups: [{name: g, interval: 1 minute, rules: [{alert: A, expr: 'sum(rate({a=\"b\"}[1m]))', "
                  "annotations: {summary: '{{ $value'}}]}]",
    })
    assert any("exactly one of `alert` or `record`" in str(p) for p in problems)
    assert any("exactly one key, `groups`" in str(p) for p in problems)
    assert any("interval: invalid duration" in str(p) for p in problems)
    assert any("never closed" in str(p) for p in problems)


PATTERN_TEXT = st.text(
    alphabet=st.sampled_from(list("ab c`\"'\\{}[]().*+?|^$:=-_") + ["é", "日", "😀", "\t"]), min_size=1, max_size=30,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PATTERN_TEXT, min_size=20, max_size=40))
def test_arbitrary_patterns_emit_parsable_logql_and_recover_exactly(patterns: list[str]) -> None:
    """Quotes, backticks, backslashes and unicode: the emitted LogQL parses and yields the original regex back."""
    regexes = []
    for text in patterns:
        try:
            compile_re2(text)
        except Exception:
            text = "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in text)  # make it a valid regex
        regexes.append(text)
    exprs = [
        loki_plan.count_query(TRUTH, " ".join(f.render() for f in line_filters_for(rx)), TRUTH.logs.ruler.interval, 0)
        for rx in regexes
    ]
    for regex, result in zip(regexes, parse_batch(exprs, with_nodes=True), strict=True):
        assert result.ok, (regex, result.expression, result.describe_errors())
        strings = [unquote_string(s) for s in result.texts("String")][1:]  # [0] is the selector's value
        assert strings[-1] == regex
        assert strings[-1] == unquote_string(quote_string(regex))


def test_a_grammar_process_started_ahead_parses_like_one_started_on_demand() -> None:
    require_tool("node")
    exprs = ['sum(count_over_time({service="bot"} |= "error" [5m])) > 1', "sum(rate({a=}[5m]))"]
    on_demand = parse_batch(exprs, with_nodes=True)
    logql_grammar.start_ahead(1)
    assert len(logql_grammar._started) == 1
    assert parse_batch(exprs, with_nodes=True) == on_demand
    assert logql_grammar._started == []
    assert [result.ok for result in on_demand] == [True, False]
