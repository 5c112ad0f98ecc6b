"""promtool rule unit tests generated from the truth thresholds: alerts/prometheus/tests.yaml.

For every threshold alert: at the threshold it stays silent; just above it, it is pending before its `for` and firing
at its `for`. Burn-rate alerts: silent at the threshold and when only one window burns, firing when both do. The
health probe: N-1 failures in a row stay silent, N fire. Inferred events (OOM kill, startup failure) fire only when
both of their signals are present. Recording rules are checked on raw exporter/Render series at steady state. The log
SLO: from synthetic rates as the Loki ruler remote-writes them to its ratios (gaps count as 0) and burn alerts.
Expected labels and annotations come from the same rule objects, with templates expanded as Prometheus does.
"""

from __future__ import annotations

import re
from typing import Any

from generator import conventions
from generator.artifacts.base import Artifact, yaml_document
from generator.plan import Plan
from generator.plan import prometheus as prometheus_plan
from generator.truth import Truth
from generator.truth.types import Duration

STEP = Duration(60)  # input series and evaluation step of the tests
PROBE_TARGET = "http://127.0.0.1/health"
RENDER_INSTANCE = "srv-test-a1"

_TEMPLATE_ACTION = re.compile(r"\{\{(.*?)\}\}")


def go_float(value: float) -> str:
    """`{{ $value }}` as Go prints a float64 (%v): shortest form, exponent only below 1e-4 or from 1e21."""
    if float(value).is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(float(value))


def expand(template: str, labels: dict[str, str], value: float) -> str:
    """Expand the template actions the generated annotations use: `$value`, `$labels.x`, escaped braces."""
    def action(match: re.Match[str]) -> str:
        body = match.group(1).strip()
        if body == "$value":
            return go_float(value)
        if body.startswith("$labels."):
            return labels.get(body.removeprefix("$labels."), "")
        if body in ("`{{`", "`}}`"):
            return body.strip("`")
        raise ValueError(f"annotation template action {{{{{body}}}}} is not supported by the test generator")

    return _TEMPLATE_ACTION.sub(action, template)


def series_text(metric: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}" if inner else metric


def steps(duration: Duration) -> int:
    return round(duration.seconds / STEP.seconds)


def expected_alert(rule: prometheus_plan.PromRule, series_labels: dict[str, str], value: float) -> dict[str, Any]:
    labels = {**series_labels, **rule.labels}
    return {
        "exp_labels": labels,
        "exp_annotations": {k: expand(v, labels, value) for k, v in rule.annotations.items()},
    }


def pending_sample(rule: prometheus_plan.PromRule, series_labels: dict[str, str]) -> dict[str, Any]:
    labels = {**series_labels, **rule.labels, "alertname": rule.alert or "", "alertstate": "pending"}
    return {"labels": series_text("ALERTS", labels), "value": 1}


def bump(threshold: float) -> float:
    """A value just above the threshold."""
    return threshold + 1 if threshold >= 10 else round(threshold * 1.1, 6)


def threshold_tests(rule: prometheus_plan.PromRule) -> list[dict[str, Any]]:
    assert rule.threshold is not None and rule.alert is not None
    t = rule.threshold
    horizon = steps(rule.for_) + 3
    at_firing = max(steps(rule.for_), 1)
    above = bump(t.above)
    series = series_text(t.series, t.labels)
    at_threshold = {
        "name": f"{rule.alert}: silent at exactly {prometheus_plan.number(t.above)}",
        "interval": str(STEP),
        "input_series": [{"series": series, "values": f"{prometheus_plan.number(t.above)}x{horizon}"}],
        "alert_rule_test": [{"eval_time": str(STEP.scaled(at_firing + 1)), "alertname": rule.alert, "exp_alerts": []}],
    }
    above_test: dict[str, Any] = {
        "name": f"{rule.alert}: {prometheus_plan.number(above)} fires after {rule.for_}",
        "interval": str(STEP),
        "input_series": [{"series": series, "values": f"{prometheus_plan.number(above)}x{horizon}"}],
        "alert_rule_test": [{"eval_time": str(STEP.scaled(at_firing)), "alertname": rule.alert,
                             "exp_alerts": [expected_alert(rule, t.labels, above)]}],
    }
    if rule.for_.seconds >= 2 * STEP.seconds:
        before = str(STEP.scaled(at_firing - 1))
        above_test["alert_rule_test"].insert(0, {"eval_time": before, "alertname": rule.alert, "exp_alerts": []})
        above_test["promql_expr_test"] = [{
            "expr": f'ALERTS{{alertname="{rule.alert}", alertstate="pending"}}',
            "eval_time": before,
            "exp_samples": [pending_sample(rule, t.labels)],
        }]
    return [at_threshold, above_test]


def burn_rate_tests(rule: prometheus_plan.PromRule, labels: dict[str, str]) -> list[dict[str, Any]]:
    assert rule.alert is not None
    tests = []
    for c in rule.burn_conditions:
        at, above = prometheus_plan.number(c.above), prometheus_plan.number(bump(c.above))
        window = f"{c.long_series.rsplit('rate', 1)[-1]}/{c.short_series.rsplit('rate', 1)[-1]}"
        cases = [
            ("both windows at the threshold: silent", at, at, False),
            ("only the long window burns: silent", above, at, False),
            ("only the short window burns: silent", at, above, False),
            ("both windows burn: fires", above, above, True),
        ]
        for title, long_value, short_value, fires in cases:
            tests.append({
                "name": f"{rule.alert} {window}: {title}",
                "interval": str(STEP),
                "input_series": [
                    {"series": series_text(c.long_series, labels), "values": f"{long_value}x3"},
                    {"series": series_text(c.short_series, labels), "values": f"{short_value}x3"},
                ],
                "alert_rule_test": [{
                    "eval_time": str(STEP), "alertname": rule.alert,
                    "exp_alerts": [expected_alert(rule, labels, float(long_value))] if fires else [],
                }],
            })
    return tests


def health_tests(truth: Truth, rule: prometheus_plan.PromRule) -> list[dict[str, Any]]:
    assert rule.alert is not None
    health = truth.health_check
    n = health.consecutive_failures
    labels = {"job": conventions.names(truth).health_probe_job, "instance": PROBE_TARGET}
    series = series_text("probe_success", labels)
    interval = str(health.interval)
    fail_after_one = " ".join(["1"] + ["0"] * (n - 1) + ["1"] * 4)
    fail_n = " ".join(["1"] + ["0"] * (n + 2))
    return [
        {
            "name": f"{rule.alert}: {n - 1} failed probes in a row stay silent",
            "interval": interval,
            "input_series": [{"series": series, "values": fail_after_one}],
            "alert_rule_test": [{"eval_time": str(health.interval.scaled(i)), "alertname": rule.alert,
                                 "exp_alerts": []} for i in range(1, n + 3)],
        },
        {
            "name": f"{rule.alert}: {n} failed probes in a row fire",
            "interval": interval,
            "input_series": [{"series": series, "values": fail_n}],
            "alert_rule_test": [
                {"eval_time": str(health.interval.scaled(n - 1)), "alertname": rule.alert, "exp_alerts": []},
                {"eval_time": str(health.interval.scaled(n)), "alertname": rule.alert,
                 "exp_alerts": [expected_alert(rule, labels, 0)]},
            ],
        },
    ]


def _instance_series(truth: Truth, instance: str, *, cpu: str, memory_bytes: str, limit: str) -> list[dict[str, str]]:
    names = truth.render.metric_names
    labels = {"job": conventions.names(truth).platform_job, "instance": instance}
    return [
        {"series": series_text(names.cpu_time, labels), "values": cpu},
        {"series": series_text(names.memory_usage, labels), "values": memory_bytes},
        {"series": series_text(names.memory_limit, labels), "values": limit},
    ]


def event_tests(truth: Truth, oom: prometheus_plan.PromRule, startup: prometheus_plan.PromRule) -> list[dict[str, Any]]:
    """Both signals of each inferred event, alone and together. A restart is a CPU-time counter reset or an instance
    replaced by a new one; series that merely start (a fresh Prometheus) are not a restart."""
    assert oom.alert is not None and startup.alert is not None
    signals = truth.render.restart_signals
    assert truth.health_check.interval == STEP, "the event tests assume one probe per test step"
    warm = steps(signals.window) + 5  # minutes of history before the scenario
    total = warm + 20
    limit_bytes = truth.service.instance_memory_mb * truth.service.memory_unit_bytes
    limit = f"{prometheus_plan.number(limit_bytes)}x{total}"
    near_limit = prometheus_plan.number(round(limit_bytes * min(0.99, signals.oom_memory_ratio_above + 0.05)))
    normal = prometheus_plan.number(round(limit_bytes * 0.5))
    steady_cpu, restarted_cpu = f"0+6x{total}", f"0+6x{warm} 1+6x20"  # the counter drops at minute warm+1
    job = {"job": conventions.names(truth).platform_job}
    probe_labels = {"job": conventions.names(truth).health_probe_job, "instance": PROBE_TARGET}
    check_at = str(STEP.scaled(warm + 3))

    def one(cpu: str, memory: str) -> list[dict[str, str]]:
        return _instance_series(truth, RENDER_INSTANCE, cpu=cpu, memory_bytes=memory, limit=limit)

    # The instance is replaced at minute warm+1: the old one stops reporting, a new id starts.
    replaced = [
        *_instance_series(truth, RENDER_INSTANCE, cpu=f"0+6x{warm}", memory_bytes=f"{near_limit}x{warm}",
                          limit=f"{prometheus_plan.number(limit_bytes)}x{warm}"),
        *_instance_series(truth, RENDER_INSTANCE + "-new", cpu=f"_x{warm} 0+6x20", memory_bytes=f"_x{warm} {normal}x20",
                          limit=f"_x{warm} {prometheus_plan.number(limit_bytes)}x20"),
    ]
    failing_probe = {"series": series_text("probe_success", probe_labels), "values": f"1x{warm} 0x20"}
    failing_from_start = {"series": series_text("probe_success", probe_labels), "values": f"0x{total}"}

    def case(alert: prometheus_plan.PromRule, title: str, series: list[dict[str, str]],
             fires_with: dict[str, str] | None, at: str = check_at) -> dict[str, Any]:
        return {
            "name": f"{alert.alert}: {title}",
            "interval": str(STEP),
            "input_series": series,
            "alert_rule_test": [{"eval_time": at, "alertname": alert.alert,
                                 "exp_alerts": [expected_alert(alert, fires_with, 0)] if fires_with else []}],
        }

    return [
        case(oom, "memory near the limit, then the process restarts: fires",
             one(restarted_cpu, f"{near_limit}x{total}"), job),
        case(oom, "memory near the limit, then the instance is replaced: fires", replaced, job),
        case(oom, "memory near the limit without a restart: silent", one(steady_cpu, f"{near_limit}x{total}"), None),
        case(oom, "a restart with normal memory (a deploy): silent", one(restarted_cpu, f"{normal}x{total}"), None),
        case(startup, "a restart, then /health keeps failing: fires",
             [*one(restarted_cpu, f"{normal}x{total}"), failing_probe], probe_labels),
        case(startup, "/health failing without a restart: silent",
             [*one(steady_cpu, f"{normal}x{total}"), failing_probe], None),
        case(startup, "/health failing while metrics only begin (fresh Prometheus): silent",
             [*one(steady_cpu, f"{normal}x{total}"), failing_from_start], None, at=str(STEP.scaled(3))),
    ]


def recording_tests(truth: Truth) -> list[dict[str, Any]]:
    """Raw series at a steady state -> the recorded value each alert compares."""
    names = truth.render.metric_names
    job = conventions.names(truth).platform_job
    inst = {"job": job, "instance": RENDER_INSTANCE}
    latency_scale = 1000 if truth.render.http_latency_unit == "milliseconds" else 1
    quantile = f"{truth.render.latency_alert.quantile:.2f}"
    probe = {"job": conventions.names(truth).health_probe_job, "instance": PROBE_TARGET}
    uptime_5m = conventions.slo_ratio_record(truth.slos.uptime, Duration(300))
    errors_5m = conventions.slo_ratio_record(truth.slos.error_ratio, Duration(300))
    requests = names.http_requests
    return [{
        "name": "recording rules: Render CPU, memory, requests, latency; SLO error ratios",
        "interval": str(STEP),
        "input_series": [
            # 45 CPU-seconds per minute (0.75 cores) on a 1.25-core limit: 60 % (binary-exact on every step).
            {"series": series_text(names.cpu_time, inst), "values": "0+45x20"},
            {"series": series_text(names.cpu_limit, inst), "values": "1.25x20"},
            {"series": series_text(names.memory_usage, inst), "values": f"{400 * truth.service.memory_unit_bytes}x20"},
            # 150 requests per minute, 3 of them 5xx: a 2 % error ratio.
            {"series": series_text(requests, {"job": job, "status_code": "200"}), "values": "0+147x20"},
            {"series": series_text(requests, {"job": job, "status_code": "500"}), "values": "0+3x20"},
            {"series": series_text(names.http_latency, {"job": job, "quantile": quantile}),
             "values": f"{prometheus_plan.number(1.25 * latency_scale)}x20"},
            # Probes at minutes 0..20; the last 3 of the 6 in the 5-minute window failed.
            {"series": series_text("probe_success", probe), "values": "1x17 0x3"},
        ],
        "promql_expr_test": [
            {"expr": conventions.PLATFORM_CPU_PERCENT, "eval_time": "10m",
             "exp_samples": [{"labels": series_text(conventions.PLATFORM_CPU_PERCENT, inst), "value": 60}]},
            {"expr": conventions.names(truth).platform_memory_record, "eval_time": "10m",
             "exp_samples": [{"labels": series_text(conventions.names(truth).platform_memory_record, inst),
                              "value": 400}]},
            {"expr": conventions.PLATFORM_REQUESTS_PER_MINUTE, "eval_time": "10m",
             "exp_samples": [{"labels": series_text(conventions.PLATFORM_REQUESTS_PER_MINUTE, {"job": job}),
                              "value": 150}]},
            {"expr": conventions.PLATFORM_LATENCY_SECONDS, "eval_time": "10m",
             "exp_samples": [{"labels": series_text(conventions.PLATFORM_LATENCY_SECONDS,
                                                    {"job": job, "quantile": quantile}),
                              "value": 1.25}]},
            {"expr": errors_5m, "eval_time": "10m",
             "exp_samples": [{"labels": series_text(errors_5m, {"job": job}), "value": 0.02}]},
            {"expr": uptime_5m, "eval_time": "20m",
             "exp_samples": [{"labels": series_text(uptime_5m, {"job": probe["job"]}), "value": 0.5}]},
        ],
    }]


def log_slo_tests(truth: Truth, alerts: dict[str | None, prometheus_plan.PromRule]) -> list[dict[str, Any]]:
    """The log SLO from the rates the Loki ruler remote-writes (synthetic here) to its ratios and burn alerts.
    Rates are powers of two, so every sum and ratio is exact in binary floating point."""
    slo = truth.slos.log_error_ratio
    labels = prometheus_plan.slo_series_labels(truth, slo)
    requests = series_text(conventions.SLO_LOG_REQUESTS_RATE, labels)
    errors = series_text(conventions.SLO_LOG_ERRORS_RATE, labels)
    ratio_5m, ratio_1h = (conventions.slo_ratio_record(slo, Duration(s)) for s in (300, 3600))
    page, ticket = (alerts[f"{slo.id}_burn_{name}"] for name in ("page", "ticket"))
    tests: list[dict[str, Any]] = [{
        # No sample at minute 0: Prometheus 2 counts a sample at the window's start, 3 does not; none is there.
        "name": f"{slo.id}: ratios from the recorded rates; minutes without error lines count as 0",
        "interval": str(STEP),
        "input_series": [
            {"series": requests, "values": "_ 4x70"},
            # Failed request lines from minute 31 on: 30 of the 60 minutes up to the evaluation at 60m.
            {"series": errors, "values": "_x31 0.015625x40"},
        ],
        "promql_expr_test": [
            {"expr": ratio_5m, "eval_time": "60m",
             "exp_samples": [{"labels": series_text(ratio_5m, labels), "value": 0.00390625}]},
            # 30 minutes of 0.015625/s errors against 60 minutes of 4 requests/s.
            {"expr": ratio_1h, "eval_time": "60m",
             "exp_samples": [{"labels": series_text(ratio_1h, labels), "value": 0.001953125}]},
        ],
    }, {
        "name": f"{slo.id}: no error line at all: no ratio, no alert",
        "interval": str(STEP),
        "input_series": [{"series": requests, "values": "4x20"}],
        "promql_expr_test": [{"expr": ratio_5m, "eval_time": "10m", "exp_samples": []}],
        "alert_rule_test": [{"eval_time": "10m", "alertname": rule.alert, "exp_alerts": []}
                            for rule in (page, ticket)],
    }]
    # Error ratio of the recorded rates -> which alerts fire (budget 0.001; page at 14.4x or 6x, ticket at 1x).
    for error_rate, ratio, firing in (("0.0625", "1/64", (page, ticket)), ("0.03125", "1/128", (page, ticket)),
                                      ("0.0078125", "1/512", (ticket,))):
        tests.append({
            "name": f"{slo.id}: an error ratio of {ratio} in the recorded rates fires "
                    f"{' and '.join(str(rule.alert) for rule in firing)}",
            "interval": str(STEP),
            "input_series": [{"series": requests, "values": "4x20"}, {"series": errors, "values": f"{error_rate}x20"}],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": rule.alert,
                 "exp_alerts": [expected_alert(rule, labels, 0)] if rule in firing else []}
                for rule in (page, ticket)
            ],
        })
    return tests


def build_tests(plan: Plan) -> dict[str, Any]:
    truth = plan.truth
    alerts = {rule.alert_id: rule for rule in plan.prometheus_alerts()}
    tests: list[dict[str, Any]] = []
    tests += health_tests(truth, alerts[truth.health_check.id])
    for rule in alerts.values():
        if rule.threshold is not None:
            tests += threshold_tests(rule)
        elif rule.burn_conditions and rule.alert_id is not None:
            slo = truth.slos.of_burn_alert(rule.alert_id)[1]
            tests += burn_rate_tests(rule, prometheus_plan.slo_series_labels(truth, slo))
    tests += event_tests(truth, alerts["oom_kill"], alerts["startup_failure"])
    tests += recording_tests(truth)
    tests += log_slo_tests(truth, alerts)
    return {
        "rule_files": [conventions.PROMETHEUS_RULES_FILE.rsplit("/", 1)[-1]],
        "evaluation_interval": str(STEP),
        "tests": tests,
    }


def render(plan: Plan) -> list[Artifact]:
    return [Artifact(conventions.PROMTOOL_TESTS_FILE, yaml_document(build_tests(plan)))]
