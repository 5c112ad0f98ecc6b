"""End to end on loopback: generated exporter configs, rules and routing on real PostgreSQL, postgres_exporter,
blackbox exporter, pushgateway, Prometheus and Alertmanager
(see tests/integration/metrics_stack.py for the test override).

Healthy: the signals are scraped, yet nothing reaches any receiver. Stale heartbeat + failing /health: the expected
alerts reach the on-call receiver with tier 3. A Render instance restart (CPU-time counter reset) while /health
fails: the startup failure reaches the escalation receiver with tier 4 and inhibits the lower-tier alerts about
the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from generator.conventions import alert_name
from generator.plan import routing
from generator.truth import Truth, load_truth
from tests.integration.metrics_stack import MetricsStack, running_stack, wait_until


@pytest.fixture(scope="module")
def stack() -> Iterator[MetricsStack]:
    yield from running_stack(load_truth())


def receivers_of(stack: MetricsStack, alert_id: str) -> set[tuple[str, str]]:
    return {(receiver, labels["tier"]) for receiver, labels in stack.sink.alerts() if labels["alert_id"] == alert_id}


def value_of(stack: MetricsStack, promql: str) -> float | None:
    result = stack.query(promql)
    return float(result[0]["value"][1]) if result else None


def test_postgres_exporter_queries_count_connections_in_use_and_heartbeat_age(stack: MetricsStack) -> None:
    in_use, opened = "telegram_bot_db_pool_in_use_connections", "telegram_bot_db_pool_open_connections"
    busy = [stack.open_session("BEGIN; SELECT 1;") for _ in range(3)]   # idle in transaction: held by the app
    idle = [stack.open_session("SELECT 1;") for _ in range(2)]          # idle in the pool: not in use
    try:
        wait_until(lambda: value_of(stack, in_use) == 3 and value_of(stack, opened) == 5, 30,
                   "3 connections in use of 5 open (the exporter's own session excluded)")
    finally:
        for session in busy + idle:
            assert session.stdin is not None
            session.stdin.close()
            session.wait(timeout=10)
    wait_until(lambda: value_of(stack, opened) == 0, 30, "the sessions closed")
    age = value_of(stack, "telegram_bot_lock_heartbeat_age_seconds")
    assert age is not None and 0 <= age < stack.truth.lock_heartbeat.alert_older_than.seconds


def test_metrics_pipeline_notifies_each_tier_at_its_receiver(stack: MetricsStack) -> None:
    truth: Truth = stack.truth
    heartbeat_metric = "telegram_bot_lock_heartbeat_age_seconds"
    started = time.monotonic()
    try:
        # Healthy: every signal is collected (so silence means "healthy", not "no data") ...
        wait_until(lambda: stack.query('probe_success{job="telegram-bot-health"} == 1'), 30, "a successful probe")
        wait_until(lambda: stack.query(f"{heartbeat_metric} < {truth.lock_heartbeat.alert_older_than.seconds}"),
                   30, "a fresh heartbeat from postgres_exporter")
        wait_until(lambda: stack.query("telegram_bot_db_pool_in_use_connections >= 0"), 30, "the pool metric")
        # ... for longer than the health rule's `for` and several evaluations: nothing arrives.
        time.sleep(truth.health_check.interval.seconds * (truth.health_check.consecutive_failures + 3))
        assert stack.sink.alerts() == [], "healthy state must notify nobody"
        assert stack.query('ALERTS{alertstate="firing"}') == []
        stack.ensure_running()

        # Stale heartbeat and failing /health.
        stack.psql(f"UPDATE {truth.lock_heartbeat.table} SET {truth.lock_heartbeat.column} = now() - interval '1 hour'")
        stack.health.healthy = False
        page = routing.expected_receiver(truth, 3)
        for alert_id in (truth.health_check.id, truth.lock_heartbeat.id, "uptime_burn_page"):
            tier = str(truth.effective_tier(alert_id))
            wait_until(lambda a=alert_id: receivers_of(stack, a), 45, f"{alert_name(alert_id)} at a receiver")
            assert receivers_of(stack, alert_id) == {(page, tier)}, alert_id
        # The ticket-level burn is inhibited by the page-level one: it never reaches the low-priority channel.
        assert receivers_of(stack, "uptime_burn_ticket") == set()

        # A Render instance's CPU-time counter resets (the process restarted) while /health still fails:
        # startup failure, tier 4.
        cpu = truth.render.metric_names.cpu_time
        stack.push("telegram-bot", "srv-e2e-1", f"{cpu} 100\n")
        wait_until(lambda: stack.query(f"{cpu} == 100"), 30, "the pushed CPU time")
        stack.push("telegram-bot", "srv-e2e-1", f"{cpu} 5\n")
        escalation = routing.expected_receiver(truth, 4)
        wait_until(lambda: receivers_of(stack, "startup_failure"), 45, "StartupFailure at a receiver")
        assert receivers_of(stack, "startup_failure") == {(escalation, "4")}
        # Alertmanager now inhibits the tier-3 alerts about the same thing.
        def inhibited() -> set[str]:
            return {a["labels"]["alert_id"] for a in stack.am_alerts() if a["status"]["inhibitedBy"]}
        wait_until(lambda: {truth.health_check.id, "uptime_burn_page"} <= inhibited(), 30, "inhibition")
        assert truth.lock_heartbeat.id not in inhibited()
        # No heartbeat row at all (the lock was dropped) reads as infinitely old.
        stack.psql(f"DELETE FROM {truth.lock_heartbeat.table}")
        wait_until(lambda: value_of(stack, "telegram_bot_lock_heartbeat_age_seconds") == float("inf"), 30,
                   "+Inf heartbeat age for an empty table")
        # No alert ever went to a receiver its tier does not route to.
        for receiver, labels in stack.sink.alerts():
            assert receiver == routing.expected_receiver(truth, int(labels["tier"])), labels
    except AssertionError:
        print(stack.logs())
        raise
    print(f"end-to-end scenario took {time.monotonic() - started:.1f}s")
