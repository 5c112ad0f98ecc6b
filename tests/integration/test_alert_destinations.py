"""No alert is routed to nobody, proved with Alertmanager's own router (`amtool config routes test`) on the committed
config; and same-condition inhibitions (Render's P95 silences the log P95) proved with a real Alertmanager."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.artifacts import alertmanager
from generator.pipeline import plan_for
from generator.plan import Plan
from generator.plan.routing import build_routing
from generator.truth import Truth, load_truth
from tests.integration.metrics_stack import http_get, wait_until
from tests.tooling import free_port, require_tool


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth()


@pytest.fixture(scope="module")
def plan(truth: Truth) -> Plan:
    return plan_for(truth)


@pytest.fixture(scope="module")
def committed_config(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    [artifact] = alertmanager.render(plan)
    path = tmp_path_factory.mktemp("am") / Path(artifact.path).name
    path.write_text(artifact.content, encoding="utf-8")
    return path


def every_alert(plan: Plan) -> dict[str, dict[str, str]]:
    """alertname -> the labels Alertmanager receives (rule labels plus alertname)."""
    alerts = {rule.alert: {**rule.labels, "alertname": rule.alert} for rule in plan.loki_rules()}
    alerts.update({rule.alert: {**rule.labels, "alertname": rule.alert}
                   for rule in plan.prometheus_alerts() if rule.alert is not None})
    return alerts


def routed_receivers(config: Path, labels: dict[str, str]) -> list[str]:
    result = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={config}",
         *(f"{name}={value}" for name, value in sorted(labels.items()))],
        capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.strip().split(",")


def test_rate_exceeded_and_external_timeout_alerts_reach_the_low_priority_channel(
        plan: Plan, committed_config: Path) -> None:
    require_tool("amtool")
    alerts = every_alert(plan)
    for name in ("DuplicateUpdateIdRateExceeded", "InsufficientBalanceRateExceeded", "ExternalApiTimeout",
                 "DebugLogInProduction", "WebhookSlowResponses"):
        assert routed_receivers(committed_config, alerts[name]) == ["tier2-low-priority"], name


def test_every_generated_alert_reaches_a_receiver_with_a_destination(plan: Plan, committed_config: Path) -> None:
    require_tool("amtool")
    config = yaml.safe_load(committed_config.read_text())
    destinations = {r["name"]: [k for k in r if k.endswith("_configs")] for r in config["receivers"]}
    assert destinations["tier1-automation"] == [], "the premise: tier 1 has no destination in this truth"
    alerts = every_alert(plan)
    assert {labels["alert_id"] for labels in alerts.values()} == set(plan.truth.alert_ids())
    routed = {name: routed_receivers(committed_config, labels) for name, labels in alerts.items()}
    nobody = {name: receivers for name, receivers in routed.items() if not all(destinations[r] for r in receivers)}
    assert nobody == {}


# --- inhibition in a real Alertmanager --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_alertmanager(truth: Truth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_tool("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("alertmanager")
    # Receivers become webhooks to a closed port: delivery fails, routing and inhibition are what is tested.
    config = alertmanager.with_local_receivers(
        alertmanager.build_config(truth, build_routing(truth), alertmanager.placeholder_values(truth)),
        f"http://127.0.0.1:{free_port()}")
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    with (workdir / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={workdir / 'alertmanager.yml'}",
             f"--web.listen-address={address}", "--cluster.listen-address=", f"--storage.path={workdir / 'data'}"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: http_get(f"http://{address}/-/ready") is not None, 30, "Alertmanager ready")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def post_alerts(address: str, alerts: list[dict[str, str]]) -> None:
    now = datetime.now(UTC).isoformat()
    body = json.dumps([{"labels": labels, "startsAt": now} for labels in alerts]).encode()
    request = urllib.request.Request(f"http://{address}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


def inhibited_by(address: str) -> dict[str, list[str]]:
    alerts: list[dict[str, Any]] = json.loads(http_get(f"http://{address}/api/v2/alerts"))
    return {a["labels"]["alertname"]: a["status"]["inhibitedBy"] for a in alerts}


def test_render_p95_inhibits_the_log_p95_in_a_real_alertmanager(plan: Plan, running_alertmanager: str) -> None:
    alerts = every_alert(plan)
    post_alerts(running_alertmanager, [alerts["WebhookLatencyP95"]])
    # Alone, the log alert is not inhibited: without Render metrics it still pages.
    wait_until(lambda: "WebhookLatencyP95" in inhibited_by(running_alertmanager), 10, "log P95 received")
    assert inhibited_by(running_alertmanager)["WebhookLatencyP95"] == []
    post_alerts(running_alertmanager, [alerts["RenderLatencyP95"], alerts["WebhookLatencyP95"]])
    wait_until(lambda: inhibited_by(running_alertmanager).get("WebhookLatencyP95"), 10, "log P95 inhibited")
    assert inhibited_by(running_alertmanager)["RenderLatencyP95"] == [], "the source itself still pages"


def test_committed_inhibit_rules_name_the_same_condition_pair(committed_config: Path) -> None:
    rules = [rule for rule in yaml.safe_load(committed_config.read_text())["inhibit_rules"]
             if rule["source_matchers"] == ['alert_id="render_latency_p95"']]
    assert rules == [{"source_matchers": ['alert_id="render_latency_p95"'],
                      "target_matchers": ['alert_id=~"webhook_latency_p95"']}]
