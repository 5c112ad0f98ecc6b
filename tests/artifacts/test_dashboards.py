"""Grafana dashboards and provisioning: what the panels show, that their colours are the alerts' numbers, and that
the SDK's models, Grafana's LogQL grammar, promtool and a real PostgreSQL accept every dashboard and query."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.artifacts import dashboards, grafana_provisioning, loki_rules
from generator.artifacts.base import Artifact
from generator.artifacts.dashboards.common import DASHBOARDS, serialize
from generator.checks import dashboards as dashboard_checks
from generator.checks.base import CheckInput
from generator.conventions import GENERATED_HEADER, alert_name
from generator.logql_engine import LogStore, evaluate_instant
from generator.pipeline import plan_for, write_tree
from generator.plan import log_format
from generator.truth import load_truth
from generator.truth.types import compile_re2
from tests.tooling import free_port, require_tool

REPO = Path(__file__).resolve().parents[2]
TRUTH = load_truth(REPO / "product" / "truth.yaml")
PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def artifacts() -> list[Artifact]:
    return dashboards.render(plan_for(TRUTH)) + grafana_provisioning.render(plan_for(TRUTH))


@pytest.fixture(scope="module")
def boards(artifacts: list[Artifact]) -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON."""
    found = {}
    for artifact in artifacts:
        if dashboard_checks.is_dashboard(artifact.path):
            data = json.loads(artifact.content)
            found[data["uid"]] = data
    return found


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return dashboard_checks.all_panels(board)


def every_panel(boards: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for uid, board in boards.items():
        for panel in panels(board):
            yield uid, panel


def steps_of(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    thresholds = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("thresholds") or {}
    return [(s["value"], s["color"]) for s in thresholds.get("steps", [])]


_LEGEND_LINE = re.compile(r"^- (?P<color>[\w-]+) from (?P<value>-?[0-9.]+)\b[^:]*: .*; alert (?P<alert>\w+)$", re.M)


def alert_bands(boards: dict[str, dict[str, Any]]) -> list[tuple[str, str, float, str]]:
    """(panel, alert name, value, colour) for every colour step a panel description ties to an alert."""
    found = []
    for uid, panel in every_panel(boards):
        for match in _LEGEND_LINE.finditer(panel.get("description", "")):
            value = float(match["value"])
            assert (value, match["color"]) in steps_of(panel), (
                f"{uid} {panel['title']!r}: the description promises {match['color']} from {value}, "
                f"the thresholds are {steps_of(panel)}")
            found.append((f"{uid} {panel['title']!r}", match["alert"], value, match["color"]))
    return found


def expected_alert_values() -> dict[str, set[float]]:
    """Where each alert's band starts on a panel, computed here from truth (not by the generator's helpers).

    Measures that are counts (lines, queue entries, connections) fire *above* an integer N, so the first value
    that fires, and the first red one, is N + 1; continuous measures start the band at the threshold itself.
    """
    t = TRUTH
    expected: dict[str, set[float]] = {}
    for bands in (t.render.cpu_percent, t.render.memory_mb, t.render.requests_per_minute):
        expected[bands.warning_id] = {bands.warning_above}
        expected[bands.critical_id] = {bands.critical_above}
    expected[t.render.latency_alert.id] = {t.render.latency_alert.above.seconds * 1000}
    latency = t.log_alerts.webhook_latency
    expected[latency.alert.id] = {latency.alert.above.seconds * 1000}
    expected[latency.slow_warning.id] = {latency.slow_warning.above.seconds * 1000}  # a quantile: continuous
    expected[t.log_alerts.external_api_timeout.id] = {1}
    expected[t.log_alerts.below_production_level.id] = {1}
    expected[t.log_alerts.error_rate.id] = {t.log_alerts.error_rate.max_count + 1}
    expected[t.queue_depth.id] = {t.queue_depth.alert_above + 1}
    expected[t.database_pool.id] = {t.database_pool.alert_above + 1}
    expected[t.lock_heartbeat.id] = {t.lock_heartbeat.alert_older_than.seconds}
    expected[t.health_check.id] = {t.health_check.consecutive_failures}
    for pattern in t.forbidden_patterns:
        expected[pattern.id] = {1}
    for secret in t.privacy.never_log:
        expected[secret.id] = {1}
    for pattern in t.rate_limited_patterns:
        expected[pattern.id] = {pattern.limit.count + 1}
    for _, slo in t.slos.all():
        for window in t.slos.burn_rate_windows:
            expected.setdefault(f"{slo.id}_burn_{window.name}", set()).add(window.burn_rate)
    return expected


# --- what is generated -------------------------------------------------------------------------------------------


def test_five_dashboards_with_stable_uids_derived_from_the_service_id(boards: dict[str, dict[str, Any]],
                                                                      artifacts: list[Artifact]) -> None:
    assert sorted(boards) == sorted(f"{TRUTH.service.id}-{info.slug}" for info in DASHBOARDS)
    assert all(len(uid) <= 40 for uid in boards)
    assert {a.path for a in artifacts if a.path.endswith(".json")} == {f"dashboards/{uid}.json" for uid in boards}
    for board in boards.values():
        assert GENERATED_HEADER in board["description"]
        assert TRUTH.service.id in board["tags"]


def test_rendering_twice_gives_byte_identical_sorted_json() -> None:
    first, second = dashboards.render(plan_for(TRUTH)), dashboards.render(plan_for(TRUTH))
    assert first == second
    for artifact in first:
        assert artifact.content.endswith("}\n")
        assert serialize(json.loads(artifact.content)) == artifact.content


def test_every_panel_has_a_description_and_queries_a_provisioned_datasource(
        boards: dict[str, dict[str, Any]]) -> None:
    provisioned = {spec.uid for spec in grafana_provisioning.datasource_specs(TRUTH).values()}
    for uid, panel in every_panel(boards):
        if panel["type"] == "row":
            continue
        assert panel["description"].strip(), f"{uid} panel {panel['title']!r} has no description"
        if panel["type"] not in ("text", "alertlist"):
            assert panel["datasource"]["uid"] in provisioned
            assert panel["targets"], f"{uid} panel {panel['title']!r} has no query"


def test_dashboards_link_to_every_other_dashboard_and_carry_an_alert_list(boards: dict[str, dict[str, Any]]) -> None:
    for uid, board in boards.items():
        assert {link["url"] for link in board["links"]} == {f"/d/{other}" for other in boards if other != uid}
        assert all(link["keepTime"] and link["includeVars"] for link in board["links"])
        assert any(panel["type"] == "alertlist" for panel in panels(board)), uid


def test_alert_lists_select_exactly_the_truths_alert_ids(boards: dict[str, dict[str, Any]]) -> None:
    selected: set[str] = set()
    for board in boards.values():
        for panel in panels(board):
            if panel["type"] == "alertlist":
                label_filter = panel["options"]["alertInstanceLabelFilter"]
                ids = set(re.fullmatch(r'\{alert_id=~"([a-z0-9_|]+)"\}', label_filter)[1].split("|"))
                assert ids <= set(TRUTH.alert_ids()), ids - set(TRUTH.alert_ids())
                selected |= ids
    assert selected == set(TRUTH.alert_ids())  # the diagnostics dashboard lists every alert


def test_variables_offer_environment_and_the_log_stream_labels(boards: dict[str, dict[str, Any]]) -> None:
    for uid, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["environment"]["current"]["value"] == TRUTH.service.environment
        if any(panel.get("datasource", {}).get("type") == "loki" for panel in panels(board)):
            for label, value in TRUTH.service.log_labels.items():
                assert variables[label]["current"]["value"] == value, uid


# --- thresholds are the alerts' numbers --------------------------------------------------------------------------


def test_each_alert_colour_band_starts_at_the_alerts_truth_threshold(boards: dict[str, dict[str, Any]]) -> None:
    expected = expected_alert_values()
    names = {alert_name(alert_id): alert_id for alert_id in TRUTH.alert_ids()}
    seen: dict[str, set[float]] = {}
    for panel, name, value, _colour in alert_bands(boards):
        alert_id = names[name]
        assert value in expected[alert_id], f"{panel}: {name} band starts at {value}, truth says {expected[alert_id]}"
        seen.setdefault(alert_id, set()).add(value)
    assert {a: seen.get(a, set()) for a in expected} == expected, "an alert threshold is missing from the panels"


def test_seed_numbers_are_the_colour_steps_on_the_panels(boards: dict[str, dict[str, Any]]) -> None:
    """The seed's numbers, literally: a truth edit that moves one of them must move the panels with it."""
    bands = {(name, value) for _, name, value, _ in alert_bands(boards)}
    literal = {
        ("RenderMemoryWarning", 400), ("RenderMemoryCritical", 480),
        ("RenderRequestsWarning", 100), ("RenderRequestsCritical", 200),
        ("RenderCpuWarning", 60), ("RenderCpuCritical", 90),
        ("QueueDepthHigh", 81),  # alert: queue > 80 for 5m
        ("DatabasePoolSaturated", 19),  # alert: > 18 of 20 for 5m
        ("LockHeartbeatStale", 60),
        ("WebhookLatencyP95", 1000), ("RenderLatencyP95", 1000), ("WebhookSlowResponses", 300),
        ("ErrorLogRate", 11),  # alert: > 10 ERROR/CRITICAL lines in 10 minutes
        ("HealthCheckFailing", 3),
        ("DecimalNotJsonSerializable", 1), ("WebhookTimeout", 1),  # forbidden patterns: red at the first hit
        ("DuplicateUpdateId", 2),  # at most 1 per 30 s
        ("UptimeBurnPage", 14.4), ("UptimeBurnPage", 6), ("UptimeBurnTicket", 1),
        ("WebhookLogErrorRatioBurnPage", 14.4), ("WebhookLogErrorRatioBurnPage", 6),
        ("WebhookLogErrorRatioBurnTicket", 1),
    }
    assert literal <= bands, literal - bands
    all_steps = {value for _, panel in every_panel(boards) for value, _ in steps_of(panel)}
    assert {300, 800, 2000, 50, 15, 99.5, 99.9} <= all_steps  # latency, queue and pool targets, SLO objectives
    gauges = {p["title"]: p["fieldConfig"]["defaults"] for _, p in every_panel(boards) if p["type"] == "gauge"}
    assert gauges["Memory (of 512 MiB)"]["max"] == 512
    assert gauges["Database connections in use (of 20)"]["max"] == 20


def test_loki_panels_show_the_rule_expression_the_ruler_compares(boards: dict[str, dict[str, Any]]) -> None:
    """Panel query + the rule's comparison == the generated Loki rule, and red starts at the first firing count."""
    rule_file = yaml.safe_load(loki_rules.render(plan_for(TRUTH))[0].content)
    rules = {r["labels"]["alert_id"]: r["expr"] for g in rule_file["groups"] for r in g["rules"] if "alert" in r}
    quantile_ids = {TRUTH.log_alerts.webhook_latency.alert.id, TRUTH.log_alerts.webhook_latency.slow_warning.id}
    mirrored = set()
    for _, panel in every_panel(boards):
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            for label, value in TRUTH.service.log_labels.items():
                expr = expr.replace(f'{label}="${label}"', f'{label}="{value}"')
            for alert_id, rule_expr in rules.items():
                metric, _, threshold = rule_expr.rpartition(" > ")
                if expr == metric:
                    mirrored.add(alert_id)
                    band = [float(m["value"]) for m in _LEGEND_LINE.finditer(panel["description"])
                            if m["alert"] == alert_name(alert_id)]
                    # Line counts fire at N + 1; the latency quantile is continuous and fires above N.
                    first_firing = float(threshold) + (0 if alert_id in quantile_ids else 1)
                    assert band == [first_firing], (panel["title"], band, threshold)
    expected = {TRUTH.log_alerts.error_rate.id, TRUTH.log_alerts.webhook_latency.alert.id,
                TRUTH.log_alerts.webhook_latency.slow_warning.id, *(p.id for p in TRUTH.rate_limited_patterns)}
    assert expected <= mirrored, expected - mirrored


def test_prometheus_panels_read_the_series_the_alerts_compare(boards: dict[str, dict[str, Any]]) -> None:
    """Each Prometheus threshold alert: a panel queries its series and colours from its number (in panel units)."""
    thresholds = {r.alert_id: r.threshold for r in plan_for(TRUTH).prometheus_alerts() if r.threshold}
    unit_factor = {TRUTH.render.latency_alert.id: 1000}  # the rule compares seconds, the panels show ms
    names = {alert_name(alert_id): alert_id for alert_id in TRUTH.alert_ids()}
    checked = set()
    for uid, panel in every_panel(boards):
        for match in _LEGEND_LINE.finditer(panel.get("description", "")):
            alert_id = names[match["alert"]]
            if alert_id not in thresholds or panel["datasource"]["type"] != "prometheus":
                continue
            threshold = thresholds[alert_id]
            band = float(match["value"])
            integer_valued = alert_id in (TRUTH.queue_depth.id, TRUTH.database_pool.id)
            assert band == threshold.above * unit_factor.get(alert_id, 1) + (1 if integer_valued else 0), (
                uid, panel["title"], band, threshold)
            assert any(threshold.series in t["expr"] for t in panel["targets"]), (uid, panel["title"])
            checked.add(alert_id)
    assert checked == set(thresholds), set(thresholds) - checked


# --- log parsing ------------------------------------------------------------------------------------------------


def _sample_lines(level: str, message: str, tags: dict[str, Any]) -> list[str]:
    """The same event in both formats the bot writes: the text format (tags as k=v) and a JSON line."""
    fields = TRUTH.logs.json_fields
    text = TRUTH.logs.text_format % {"asctime": "2026-11-29 10:00:01,123", "name": "bot.webhook",
                                      "levelname": level, "message": message + "".join(
                                          f" {k}={v}" for k, v in tags.items())}
    as_json = json.dumps({fields.time: "2026-11-29 10:00:01,123", fields.logger: "bot.webhook",
                          fields.level: level, fields.message: message, **tags})
    return [text, as_json]


@pytest.mark.parametrize("level", [level.name for level in TRUTH.logs.levels])
def test_panel_parsers_extract_level_and_tags_from_both_log_formats(level: str) -> None:
    """Loki's regexp parser is Go RE2: google-re2 reads the same syntax and finds the same leftmost match."""
    level_parser = compile_re2(log_format.level_capture_regex(TRUTH.logs, "log_level"))
    tags = {"operation": "webhook", "duration_ms": 734, "error_type": "TimeoutError"}
    for line in _sample_lines(level, "handled - ERROR - retried", tags):
        assert level_parser.search(line).group("log_level") == level, line
        error_type = compile_re2(log_format.word_tag_extractor("error_type")).search(line)
        assert error_type.group("error_type") == "TimeoutError"
        assert compile_re2(log_format.word_tag_extractor("operation")).search(line).group("operation") == "webhook"
        duration = compile_re2(log_format.numeric_tag_extractor("duration_ms")).search(line)
        assert duration.group("duration_ms") == "734"


def _loki_queries(boards: dict[str, dict[str, Any]], title: str) -> list[str]:
    """A panel's LogQL with Grafana's macros and the dashboard variables substituted (as Grafana sends it)."""
    for board in boards.values():
        for panel in panels(board):
            if panel["title"] == title and panel["datasource"]["type"] == "loki":
                variables = dashboard_checks.variable_values(board)
                return [dashboard_checks.substitute(t["expr"], variables)[0] for t in panel["targets"]]
    raise AssertionError(f"no Loki panel titled {title!r}")


NOW_NS = 1_800_000_000 * 10**9


def _store(lines: list[str]) -> LogStore:
    store = LogStore()
    for offset, line in enumerate(lines):
        store.append(TRUTH.service.log_labels, NOW_NS - (1 + offset) * 10**9, line)  # inside the shortest window
    return store


def _values(store: LogStore, query: str) -> dict[str, float]:
    return {",".join(f"{k}={v}" for k, v in sorted(s.labels.items())): s.value
            for s in evaluate_instant(store, query, NOW_NS)}


def test_level_and_error_type_panels_count_lines_of_both_formats(boards: dict[str, dict[str, Any]]) -> None:
    lines = [line for level in TRUTH.logs.levels
             for line in _sample_lines(level.name, "done", {"operation": "payment", "error_type": "TimeoutError"})]
    store = _store(lines)
    (per_level,) = _loki_queries(boards, "Lines per level")
    assert _values(store, per_level) == {f"log_level={level.name}": 2 for level in TRUTH.logs.levels}
    (by_type,) = _loki_queries(boards, "Errors by error_type")
    assert _values(store, by_type) == {"error_type=TimeoutError": 2 * len(TRUTH.logs.error_levels)}


def test_slowest_operations_panel_reports_max_and_count_per_operation(boards: dict[str, dict[str, Any]]) -> None:
    lines = [*_sample_lines("INFO", "done", {"operation": "generation", "duration_ms": 5400}),
             *_sample_lines("INFO", "done", {"operation": "webhook", "duration_ms": 120}),
             *_sample_lines("INFO", "no timing", {"operation": "payment"})]
    _p95, slowest, count = _loki_queries(boards, "Slowest operations")
    store = _store(lines)
    assert _values(store, slowest) == {"operation=generation": 5400, "operation=webhook": 120}
    assert _values(store, count) == {"operation=generation": 2, "operation=webhook": 2}


def test_any_hit_stats_count_the_truths_examples(boards: dict[str, dict[str, Any]]) -> None:
    """Each forbidden-pattern and secret stat: its match examples make it red, its no-match examples leave it 0."""
    for pattern, title in [*((p, f"{p.priority}: {p.regex}") for p in TRUTH.forbidden_patterns),
                           *((s, f"{s.what} in logs") for s in TRUTH.privacy.never_log)]:
        (query,) = _loki_queries(boards, title)
        hits, fill = query.rsplit(" or ", 1)  # the offline engine has no `or`: check both sides
        assert fill == "vector(0)"
        assert _values(_store(pattern.examples.match), hits) == {"": len(pattern.examples.match)}, title
        assert _values(_store(pattern.examples.no_match), hits) == {}, title


# --- provisioning ------------------------------------------------------------------------------------------------


def test_provisioned_datasources_take_credentials_from_the_environment_only(artifacts: list[Artifact]) -> None:
    by_path = {a.path: a for a in artifacts}
    datasources = by_path[grafana_provisioning.datasources_path(TRUTH)].content
    assert datasources.startswith(f"# {GENERATED_HEADER}\n")
    document = yaml.safe_load(datasources)
    assert {d["type"] for d in document["datasources"]} == {"loki", "prometheus", "alertmanager",
                                                             "grafana-postgresql-datasource"}
    for entry in document["datasources"]:
        assert list(dashboard_checks.literal_credential_problems(entry)) == []
        for secret in entry.get("secureJsonData", {}).values():
            assert re.fullmatch(r"\$\{[A-Z_]+\}", secret)
    provider = yaml.safe_load(by_path[grafana_provisioning.dashboards_provider_path(TRUTH)].content)["providers"][0]
    assert provider["folder"] == TRUTH.service.title and provider["folderUid"] == TRUTH.service.id
    assert provider["options"]["path"].endswith(TRUTH.service.id)


# --- validation with the real tools ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(artifacts: list[Artifact]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dashboards-test-") as tmp:
        write_tree(Path(tmp), artifacts)
        yield Path(tmp)


def test_generated_dashboards_pass_the_sdk_grammar_and_promtool_checks(written: Path,
                                                                       artifacts: list[Artifact]) -> None:
    require_tool("node")
    require_tool("promtool")
    assert dashboard_checks.check(CheckInput(written, tuple(artifacts))) == []


def _mutated(artifacts: list[Artifact], slug: str, change: Any) -> list[Artifact]:
    out = []
    for artifact in artifacts:
        if artifact.path.endswith(f"-{slug}.json"):
            data = json.loads(artifact.content)
            change(data)
            artifact = Artifact(artifact.path, serialize(data))
        out.append(artifact)
    return out


def _problems(artifacts: list[Artifact]) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="dashboards-bad-") as tmp:
        write_tree(Path(tmp), artifacts)
        return [str(p) for p in dashboard_checks.check(CheckInput(Path(tmp), tuple(artifacts)))]


def _set_target(panel_title: str, expr: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        panel = next(p for p in data["panels"] if p.get("title") == panel_title)
        panel["targets"][0]["expr"] = expr
    return change


@pytest.mark.parametrize(("slug", "change", "message"), [
    ("logs", lambda d: d["panels"][2].update(unknownKey=1), "is lost by the SDK models"),
    ("logs", lambda d: d["panels"][3]["gridPos"].update(x=d["panels"][2]["gridPos"]["x"]), "overlaps panel"),
    ("logs", lambda d: d["panels"][3]["gridPos"].update(x=20, w=8), "outside the 24-column grid"),
    ("logs", lambda d: d["panels"][3].update(id=d["panels"][2]["id"]), "also used by"),
    ("logs", lambda d: d["panels"][3].update(description=""), "no description"),
    ("logs", lambda d: d["panels"][3]["datasource"].update(uid="missing"), "which is not provisioned"),
    ("render", lambda d: d.update(uid="x" * 41), "must be 1-40 characters"),
    ("render", lambda d: d["links"][0].update(url="/d/nowhere"), "not a generated dashboard"),
    ("render", lambda d: d.update(panels=[p for p in d["panels"] if p["type"] != "alertlist"]), "no alert list"),
    ("logs", _set_target("Lines per level", 'sum(count_over_time({service="x"} |= [5m]))'), "LogQL does not parse"),
    ("render", _set_target("Bandwidth", "sum(rate(x[$__rate_interval])"), "PromQL does not parse"),
    ("render", _set_target("Bandwidth", "sum(rate(x[$__nonsense]))"), "unknown macro or variable"),
])
def test_validator_reports_a_broken_dashboard(artifacts: list[Artifact], slug: str, change: Any,
                                              message: str) -> None:
    if "parse" in message:
        require_tool("node" if "LogQL" in message else "promtool")
    problems = _problems(_mutated(artifacts, slug, change))
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize(("old", "new", "message"), [
    ("${GRAFANA_BOT_DB_PASSWORD}", "hunter2", "secureJsonData/password must be an environment reference"),
    ("url: ${GRAFANA_LOKI_URL}", "url: http://loki.internal:3100", "/url must be an environment reference"),
    (f"alertmanagerUid: {TRUTH.service.id}-alertmanager", "alertmanagerUid: elsewhere",
     "is not a provisioned Alertmanager datasource"),
])
def test_validator_reports_bad_datasource_provisioning(artifacts: list[Artifact], old: str, new: str,
                                                        message: str) -> None:
    path = grafana_provisioning.datasources_path(TRUTH)
    broken = [Artifact(a.path, a.content.replace(old, new)) if a.path == path else a for a in artifacts]
    assert broken != artifacts
    assert any(message in p for p in _problems(broken))


# --- SQL against a real PostgreSQL -------------------------------------------------------------------------------

SCHEMA = REPO / "demo" / "schema.sql"  # the bot's tables as the seed's diagnostic queries read them
SAMPLE_ROWS = """
INSERT INTO jobs (user_id, model, status, created_at, completed_at) VALUES
  (1, 'flux-pro', 'completed', now() - interval '2 hours', now() - interval '119 minutes'),
  (2, 'flux-pro', 'failed', now() - interval '1 hour', NULL), (1, 'sdxl', 'queued', now() - interval '5 minutes', NULL);
INSERT INTO transactions (user_id, amount, type, description, created_at) VALUES
  (1, 100.00, 'topup', 'stars', now() - interval '3 hours'),
  (1, -10.50, 'charge', 'flux-pro', now() - interval '2 hours'),
  (2, 50.00, 'topup', 'stars', now() - interval '1 hour');
INSERT INTO lock_heartbeat (lock_name, holder) VALUES ('bot', 'instance-1');
"""


def grafana_sql(raw: str) -> str:
    """Expand Grafana's PostgreSQL macros the way its SQL datasource does (for the last 6 hours, 1-minute steps)."""
    start, end = "now() - interval '6 hours'", "now()"
    raw = re.sub(r"\$__timeFilter\((\w+)\)", rf"\1 BETWEEN {start} AND {end}", raw)
    raw = re.sub(r"\$__timeGroupAlias\((\w+), \$__interval\)", r'floor(extract(epoch from \1)/60)*60 AS "time"', raw)
    raw = re.sub(r"\$__timeGroup\((\w+), \$__interval\)", r"floor(extract(epoch from \1)/60)*60", raw)
    revenue = ", ".join(f"'{t}'" for t in TRUTH.business.revenue_transaction_types) if TRUTH.business else "'x'"
    raw = raw.replace("$__timeFrom()", start).replace("${revenue_type:sqlstring}", revenue)
    assert "$" not in raw, f"unexpanded macro in {raw}"
    return raw


@pytest.fixture(scope="module")
def postgres() -> Iterator[list[str]]:
    """A throwaway PostgreSQL 15 on loopback with the bot's tables and a few rows; yields the psql command prefix."""
    require_tool("psql")
    if not (PG_BIN / "pg_ctl").exists():
        require_tool("pg_ctl")
    workdir = Path(tempfile.mkdtemp(prefix="dashboards-pg-", dir="/tmp"))
    data, port = workdir / "data", free_port()
    as_postgres: dict[str, Any] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_postgres = {"user": "postgres"}
        shutil.chown(workdir, "postgres")
    subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, timeout=120, cwd=workdir, **as_postgres)
    subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {data}", "-l", str(workdir / "pg.log"), "start"],
                   check=True, capture_output=True, timeout=60, cwd=workdir, **as_postgres)
    psql = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-X", "-q"]
    try:
        subprocess.run([*psql, "-f", str(SCHEMA)], check=True, capture_output=True, timeout=30)
        subprocess.run([*psql, "-c", SAMPLE_ROWS], check=True, capture_output=True, timeout=30)
        yield psql
    finally:
        # pg_ctl stops the server by the PID in its own pid file.
        subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True,
                       timeout=60, cwd=workdir, **as_postgres)
        shutil.rmtree(workdir, ignore_errors=True)


def test_every_sql_panel_runs_on_the_seed_schema_in_postgresql(boards: dict[str, dict[str, Any]],
                                                               postgres: list[str]) -> None:
    checked = 0
    for uid, panel in every_panel(boards):
        for target in panel.get("targets", []):
            if "rawSql" not in target:
                continue
            result = subprocess.run([*postgres, "--csv", "-c", grafana_sql(target["rawSql"])], capture_output=True,
                                    text=True, timeout=30)
            assert result.returncode == 0, f"{uid} {panel['title']!r}: {result.stderr}"
            header = result.stdout.splitlines()[0].split(",")
            if target["format"] == "time_series":
                assert header[0] == "time", f"{uid} {panel['title']!r}: a time series needs a leading time column"
            checked += 1
    assert checked == sum(1 for _, p in every_panel(boards) for t in p.get("targets", []) if "rawSql" in t) > 0


def test_diagnostics_shows_each_seed_sql_query_as_a_table_and_every_runbook_step(
        boards: dict[str, dict[str, Any]]) -> None:
    board = boards[f"{TRUTH.service.id}-diagnostics"]
    tables = {t["rawSql"] for p in panels(board) if p["type"] == "table" for t in p["targets"]}
    seed_sql = {" ".join(step.sql.rstrip(";").split()) for step in TRUTH.runbooks.values() if step.sql}
    assert seed_sql == {"SELECT * FROM lock_heartbeat", "SELECT id, user_id, status, created_at, completed_at FROM "
                        "jobs ORDER BY created_at DESC LIMIT 10", "SELECT user_id, amount, type, description, "
                        "created_at FROM transactions ORDER BY created_at DESC LIMIT 20"}
    assert seed_sql <= tables
    text = "\n".join(p["options"]["content"] for p in panels(board) if p["type"] == "text")
    for step in TRUTH.runbooks.values():
        assert (step.sql or step.command or "").strip() in text
    for alert_id in TRUTH.alert_ids():
        assert f"| {alert_name(alert_id)} |" in text


def test_dashboard_links_show_in_the_link_bar_not_the_controls_menu() -> None:
    for artifact in dashboards.render(plan_for(TRUTH)):
        if artifact.path.endswith(".json"):
            links = json.loads(artifact.content)["links"]
            assert links and all("placement" not in link for link in links), artifact.path


def test_service_health_shows_the_log_slo_next_to_the_metric_one(boards: dict[str, dict[str, Any]]) -> None:
    """Row "Availability and SLOs": the 5xx SLO and the log SLO side by side, the log one read from the series the
    Loki ruler remote-writes, with the seed's 99.9 % objective."""
    board = next(b for uid, b in boards.items() if uid.endswith("service-health"))
    by_title = {p["title"]: p for p in panels(board)}
    titles = [p["title"] for p in panels(board)]
    start = titles.index("Requests without 5xx (30d)")
    assert titles[start:start + 4] == ["Requests without 5xx (30d)", "Error budget left: HTTP errors",
                                       "Webhooks without errors, logs (30d)", "Error budget left: webhook logs"]
    assert "Burn rate: webhook errors (logs)" in titles
    ratio = ('(sum(sum_over_time(slo:log_errors:rate5m{service="telegram-bot"}[30d])) or vector(0))'
             ' / sum(sum_over_time(slo:log_requests:rate5m{service="telegram-bot"}[30d]))')
    assert by_title["Webhooks without errors, logs (30d)"]["targets"][0]["expr"] == f"100 * (1 - ({ratio}))"
    assert by_title["Error budget left: webhook logs"]["targets"][0]["expr"] == f"100 * (1 - ({ratio}) / 0.001)"
    assert 99.9 in {value for value, _ in steps_of(by_title["Webhooks without errors, logs (30d)"])}
    burn = [t["expr"] for t in by_title["Burn rate: webhook errors (logs)"]["targets"]]
    assert burn[0] == 'max(slo:webhook_log_error_ratio:error_ratio_rate5m{service="telegram-bot"}) / 0.001'
    assert len(burn) == 5  # 5m, 30m, 1h, 6h, 3d: the windows of the burn-rate alerts


# --- no holes, no "No data" ----------------------------------------------------------------------------------------


def board_of(panels: list[tuple[str, str, int, int, int, int]]) -> dict[str, Any]:
    """A dashboard from (type, title, x, y, w, h) rows."""
    return {"panels": [{"id": i + 1, "type": kind, "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
                       for i, (kind, title, x, y, w, h) in enumerate(panels)]}


def test_no_generated_dashboard_row_leaves_a_hole(boards: dict[str, dict[str, Any]]) -> None:
    assert {uid: dashboard_checks.hole_problems(uid, board) for uid, board in boards.items()} == {
        uid: [] for uid in boards}


def test_the_old_slo_row_layout_is_reported_with_both_holes() -> None:
    """The service-health SLO row as it was before issue 11: stats 4+4+4+6+6, then 6+6 beside a 12-wide burn-rate
    graph 8 lines tall, then the second burn-rate graph alone."""
    old = board_of([
        ("row", "Availability and SLOs", 0, 6, 24, 1),
        ("stat", "Health check now", 0, 7, 4, 5), ("stat", "Failed health checks", 4, 7, 4, 5),
        ("stat", "Probe duration", 8, 7, 4, 5), ("stat", "Uptime", 12, 7, 6, 5),
        ("stat", "Error budget left: uptime", 18, 7, 6, 5),
        ("stat", "Requests without 5xx", 0, 12, 6, 5), ("stat", "Error budget left: HTTP errors", 6, 12, 6, 5),
        ("timeseries", "Burn rate: uptime", 12, 12, 12, 8),
        ("timeseries", "Burn rate: HTTP errors", 0, 20, 12, 8),
        ("row", "Webhook latency", 0, 28, 24, 1),
        ("stat", "P50", 0, 29, 24, 5),
    ])
    assert [str(p) for p in dashboard_checks.hole_problems("old.json", old)] == [
        "old.json: row 'Availability and SLOs': hole of 12 column(s) x 3 line(s) at x=0, y=17: fill it or widen "
        "a panel",
        "old.json: row 'Availability and SLOs': hole of 12 column(s) x 8 line(s) at x=12, y=20: fill it or widen "
        "a panel",
    ]


def test_holes_in_the_same_columns_on_separate_lines_are_two_holes() -> None:
    board = board_of([("row", "R", 0, 0, 24, 1),
                      ("stat", "a", 0, 1, 12, 1), ("stat", "b", 0, 2, 24, 1), ("stat", "c", 0, 3, 12, 1)])
    assert [p.message for p in dashboard_checks.hole_problems("d.json", board)] == [
        "hole of 12 column(s) x 1 line(s) at x=12, y=1: fill it or widen a panel",
        "hole of 12 column(s) x 1 line(s) at x=12, y=3: fill it or widen a panel"]


def test_the_slo_row_holes_are_filled_with_the_seed_budget_in_its_own_terms(
        boards: dict[str, dict[str, Any]]) -> None:
    health = boards[f"{TRUTH.service.id}-service-health"]
    positions = {p["title"]: (p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"])
                 for p in health["panels"]}
    burn_top = positions["Burn rate: uptime"][1]
    # The three burn-rate graphs (uptime, 5xx, and the log SLO of issue 14) share one line, a third each.
    assert positions["Burn rate: uptime"] == (0, burn_top, 8, 8)
    assert positions["Burn rate: HTTP errors"] == (8, burn_top, 8, 8)
    assert positions["Burn rate: webhook errors (logs)"] == (16, burn_top, 8, 8)
    # Downtime and the 5xx count fill the line above them, half each.
    assert positions["Downtime (30d)"][2:] == positions["5xx responses (30d)"][2:] == (12, 5)
    downtime = next(p for p in health["panels"] if p["title"] == "Downtime (30d)")
    # The seed: 99.5 % uptime allows 3.6 hours a month: red from 12960 s.
    assert steps_of(downtime) == [(None, "green"), (12960, "red")]
    assert "(1 - avg_over_time(probe_success" in downtime["targets"][0]["expr"]


def test_every_log_count_stat_shows_zero_on_a_calm_service(boards: dict[str, dict[str, Any]]) -> None:
    count_stats = [(uid, p) for uid, p in every_panel(boards) if p["type"] == "stat"
                   and p["datasource"]["type"] == "loki" and "count_over_time" in p["targets"][0]["expr"]]
    assert len(count_stats) >= 10
    for uid, panel in count_stats:
        assert panel["targets"][0]["expr"].endswith(") or vector(0)"), (uid, panel["title"])
        assert panel["targets"][0]["expr"].startswith("sum("), (uid, panel["title"])
    assert {uid: dashboard_checks.zero_fallback_problems(uid, board) for uid, board in boards.items()} == {
        uid: [] for uid in boards}
    errors = next(p for _, p in count_stats if p["title"] == "ERROR/CRITICAL lines (10m)")
    # The count without the fallback is what the alert compares: on a calm service it has no series at all.
    inner = errors["targets"][0]["expr"].removeprefix("sum(").removesuffix(") or vector(0)")
    for label, value in TRUTH.service.log_labels.items():
        inner = inner.replace(f'{label}="${label}"', f'{label}="{value}"')
    assert evaluate_instant(LogStore(), inner, 600 * 10**9) == []


def test_a_log_count_stat_without_a_zero_fallback_is_reported() -> None:
    board = board_of([("stat", "Errors", 0, 0, 24, 5)])
    panel = board["panels"][0]
    panel["datasource"] = {"type": "loki", "uid": "loki"}
    panel["targets"] = [{"refId": "A", "expr": 'sum by (service) (count_over_time({service="x"} |= `E` [10m]))'}]
    [problem] = dashboard_checks.zero_fallback_problems("b.json", board)
    assert str(problem) == ("b.json: panel 1 'Errors': counts log lines but shows \"No data\" when there is none: "
                            "write `sum(...) or vector(0)`")
    # `or vector(0)` beside a labelled series would show two values once there is a line: refused too.
    panel["targets"][0]["expr"] += " or vector(0)"
    assert len(dashboard_checks.zero_fallback_problems("b.json", board)) == 1
