"""LogQL rule unit tests generated from the truth: tests/generated/logql/<group>.yaml, run by `obsctl test`.

For every forbidden and secret pattern: the alert fires on each `match` example (and on the masked marker of a
secret) and stays silent on each `no_match` look-alike. Rate-limited patterns: silent at their limit, firing just
above it. Error rate: silent at the threshold count, firing one above. Webhook latency P95: pending then firing
after `for` one millisecond above the threshold, silent at it. Slow webhook warning (windowed P50): the same around
the band start, and silent while slow lines stay a minority. External API timeouts and lines below the production
level: any hit fires (both formats), look-alikes do not. Log SLO: its recording rules, by name, count request and
failed-request lines of both formats and nothing else.

Expected labels and annotations come from the same rule objects loki_rules renders, with `{{ $value }}` and the
escaped braces expanded by plain text substitution (independent of the engine under test).
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from generator import conventions
from generator.artifacts.base import Artifact, yaml_document
from generator.conventions import GENERATED_HEADER, LOGQL_TESTS_DIR, alert_name
from generator.plan import Plan
from generator.plan import loki as loki_plan
from generator.truth import Truth
from generator.truth.types import Duration

ASCTIME = "2026-11-29 10:00:01,123"

_ESCAPED_OPEN, _ESCAPED_CLOSE = "{{`{{`}}", "{{`}}`}}"


# --- expectations -------------------------------------------------------------------------------------------------


def expand_annotation(template: str, value: str) -> str:
    """The text Prometheus renders for an annotation that uses only `{{ $value }}` and escaped braces."""
    text = template.replace("{{ $value }}", value)
    if "{{" in text.replace(_ESCAPED_OPEN, "").replace(_ESCAPED_CLOSE, ""):
        raise ValueError(f"annotation {template!r} uses template actions the test generator cannot predict")
    return text.replace(_ESCAPED_OPEN, "{{").replace(_ESCAPED_CLOSE, "}}")


def series_labels(truth: Truth) -> dict[str, str]:
    """Every generated Loki rule aggregates `by (<stream labels>)`: the alert carries exactly those."""
    return dict(sorted(truth.service.log_labels.items()))


def expected_alert(truth: Truth, rule: loki_plan.LokiRule, value: str) -> dict[str, Any]:
    return {
        "exp_labels": {**series_labels(truth), **rule.labels},
        "exp_annotations": {k: expand_annotation(v, value) for k, v in rule.annotations.items()},
    }


def next_eval(after: Duration, interval: Duration) -> Duration:
    """The first aligned group evaluation at or after `after`."""
    ms, step = after.milliseconds, interval.milliseconds
    return Duration(-(-ms // step) * step / 1000)


def d(seconds: float) -> str:
    return str(Duration(seconds))


# --- log lines in both formats of the bot ---------------------------------------------------------------------------


def text_line(truth: Truth, logger: str, level: str, message: str) -> str:
    values = {"asctime": ASCTIME, "name": logger, "levelname": level, "message": message}
    return re.sub(r"%\((\w+)\)s", lambda m: values.get(m.group(1), m.group(0)), truth.logs.text_format)


def json_line(truth: Truth, logger: str, level: str, message: str, **fields: Any) -> str:
    keys = truth.logs.json_fields
    record = {keys.time: ASCTIME, keys.logger: logger, keys.level: level, keys.message: message, **fields}
    return json.dumps(record)


def stream(truth: Truth, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"labels": series_labels(truth), "entries": entries}]


def check(eval_time: Duration | str, alertname: str, exp_alerts: list[dict[str, Any]],
          exp_pending: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"eval_time": str(eval_time), "alertname": alertname, "exp_alerts": exp_alerts}
    if exp_pending is not None:
        item["exp_pending"] = exp_pending
    return item


# --- per concern ----------------------------------------------------------------------------------------------------


def occurrence_tests(plan: Plan, pattern_id: str, alertname: str, matches: list[str], no_matches: list[str],
                     extra_matches: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
    truth = plan.truth
    group, rule = plan.loki_rule(alertname)
    window = truth.logs.ruler.occurrence_window
    line_at = Duration(group.interval.seconds / 2)
    first = next_eval(line_at, group.interval)
    gone = next_eval(Duration(line_at.seconds + window.seconds), group.interval)
    tests = []
    cases = [(f"match example {i + 1}", line) for i, line in enumerate(matches)] + list(extra_matches)
    for title, line in cases:
        tests.append({
            "name": f"{pattern_id}: fires on {title}",
            "input_streams": stream(truth, [{"at": str(line_at), "line": line}]),
            "alert_rule_test": [
                check(first, alertname, [expected_alert(truth, rule, "1")]),
                # The window is left-open: once `window` has passed since the line, the alert resolves.
                check(gone, alertname, []),
            ],
        })
    for i, line in enumerate(no_matches):
        tests.append({
            "name": f"{pattern_id}: silent on look-alike {i + 1}",
            "input_streams": stream(truth, [{"at": str(line_at), "line": line}]),
            "alert_rule_test": [check(first, alertname, [])],
        })
    return tests


def forbidden_tests(plan: Plan) -> list[dict[str, Any]]:
    truth = plan.truth
    return [test for p in truth.forbidden_patterns
            for test in occurrence_tests(plan, p.id, alert_name(p.id), p.examples.match,
                                         p.examples.no_match)]


def secret_tests(plan: Plan) -> list[dict[str, Any]]:
    truth = plan.truth
    tests = []
    for secret in truth.privacy.never_log:
        masked: tuple[tuple[str, str], ...] = ()
        if secret.redact_as:
            masked = (("the masked marker", text_line(truth, "bot.config", "INFO", f"value={secret.redact_as}")),)
        tests += occurrence_tests(plan, secret.id, alert_name(secret.id), secret.examples.match,
                                  secret.examples.no_match, masked)
    return tests


def rate_limited_tests(plan: Plan) -> list[dict[str, Any]]:
    truth = plan.truth
    tests = []
    for pattern in truth.rate_limited_patterns:
        alertname = alert_name(pattern.id) + "RateExceeded"
        group, rule = plan.loki_rule(alertname)
        count, per, interval = pattern.limit.count, pattern.limit.per, group.interval
        line = pattern.examples.match[0]
        start = interval
        # At the limit: `count` lines, again `per` later, and again: no window (t - per, t] holds more than `count`.
        burst = {"count": count, "every": "1ms"} if count > 1 else {}
        at_limit = [{"at": d(start.seconds + k * per.seconds), "line": line, **burst} for k in range(4)] \
            if count > 0 else []
        horizon = start.seconds + 4 * per.seconds
        eval_times = []
        t = next_eval(start, interval)
        while t.seconds <= horizon:
            eval_times.append(t)
            t = Duration(t.seconds + interval.seconds)
        tests.append({
            "name": f"{pattern.id}: silent at its limit ({count} per {per})",
            "input_streams": stream(truth, at_limit),
            "alert_rule_test": [check(t, alertname, []) for t in eval_times],
        })
        # Above the limit: count + 1 lines spread inside one window.
        spacing = max(1.0, per.seconds // (count + 1))
        above = [{"at": d(start.seconds + k * spacing), "line": line} for k in range(count + 1)]
        last = start.seconds + count * spacing
        fires_at = next_eval(Duration(last), interval)
        if fires_at.seconds - per.seconds >= start.seconds:
            raise ValueError(f"{pattern.id}: the group interval {interval} is too coarse to test {count} per {per}")
        resolves_at = next_eval(Duration(start.seconds + per.seconds), interval)
        tests.append({
            "name": f"{pattern.id}: fires above its limit ({count + 1} within {per})",
            "input_streams": stream(truth, above),
            "alert_rule_test": [
                check(fires_at, alertname, [expected_alert(truth, rule, str(count + 1))]),
                # Window (t - per, t] is left-open: the first line drops out exactly `per` after it.
                check(resolves_at, alertname, []),
            ],
        })
    return tests


def error_rate_tests(plan: Plan) -> list[dict[str, Any]]:
    truth = plan.truth
    rate = truth.log_alerts.error_rate
    alertname = alert_name(rate.id)
    group, rule = plan.loki_rule(alertname)
    levels = truth.logs.error_levels

    first_line = group.interval.seconds / 2
    spacing = rate.window.seconds / (2 * (rate.max_count + 1))  # all lines within the first half of the window

    def lines(n: int) -> list[dict[str, Any]]:
        """n error lines, alternating error levels and the text/JSON formats."""
        out = []
        for k in range(n):
            level = levels[k % len(levels)]
            message = f"request {k} failed: database timeout"
            text = text_line(truth, "bot.api", level, message) if k % 2 == 0 else \
                json_line(truth, "bot.api", level, message, error_type="TimeoutError")
            out.append({"at": d(first_line + k * spacing), "line": text})
        return out

    at_limit, above = lines(rate.max_count), lines(rate.max_count + 1)
    eval_at = next_eval(Duration(first_line + rate.max_count * spacing), group.interval)
    noise = [{"at": d(group.interval.seconds / 2), "line": text_line(truth, "bot.api", "WARNING", "ERROR budget ok")},
             {"at": d(group.interval.seconds / 2), "line": text_line(truth, "bot.api", "INFO", "no errors here")}]
    return [
        {
            "name": f"{rate.id}: silent at {rate.max_count} error lines in {rate.window}",
            "input_streams": stream(truth, at_limit + noise),
            "alert_rule_test": [check(eval_at, alertname, [])],
        },
        {
            "name": f"{rate.id}: fires at {rate.max_count + 1} error lines in {rate.window}",
            "input_streams": stream(truth, above + noise),
            "alert_rule_test": [check(eval_at, alertname, [expected_alert(truth, rule, str(rate.max_count + 1))])],
        },
    ]


def webhook_lines(truth: Truth, operation: str, duration_ms: int, until: Duration) -> list[dict[str, Any]]:
    """Webhook log lines carrying duration_ms every 10 s up to `until`, alternating the text and JSON formats."""
    text = text_line(truth, "bot.webhook", "INFO", f"update handled operation={operation} duration_ms={duration_ms}")
    as_json = json_line(truth, "bot.webhook", "INFO", "update handled", operation=operation, duration_ms=duration_ms)
    per_format = int(until.seconds // 20)
    texts = per_format + (1 if until.seconds % 20 >= 10 else 0)  # text lines at 10 s, 30 s, ...; JSON at 20 s, 40 s
    entries = [{"at": at, "every": "20s", "count": count, "line": line}
               for at, count, line in (("10s", texts, text), ("20s", per_format, as_json)) if count]
    return entries


def firing_times(interval: Duration, for_: Duration) -> tuple[Duration, Duration]:
    """For webhook lines from 10 s on: the evaluation where an alert held for `for_` fires, and a horizon two
    evaluations later."""
    first = next_eval(Duration(10), interval)  # the first evaluation that sees a line
    firing = next_eval(Duration(first.seconds + for_.seconds), interval)
    return firing, Duration(firing.seconds + 2 * interval.seconds)


def quantile_alert_tests(plan: Plan, alert_id: str, quantile: float, above: Duration,
                         for_: Duration) -> list[dict[str, Any]]:
    """A windowed webhook-latency quantile: pending, then firing after `for`, one millisecond above the threshold;
    silent exactly at it."""
    truth = plan.truth
    operation = truth.log_alerts.webhook_latency.operation
    alertname = alert_name(alert_id)
    group, rule = plan.loki_rule(alertname)
    threshold = above.milliseconds
    firing, horizon = firing_times(group.interval, for_)
    before = Duration(firing.seconds - group.interval.seconds)
    value = str(threshold + 1)
    name = f"P{round(quantile * 100)}"
    return [
        {
            "name": f"{alert_id}: {name} of {threshold + 1} ms pending, then firing after {for_}",
            "input_streams": stream(truth, webhook_lines(truth, operation, threshold + 1, horizon)),
            "alert_rule_test": [
                check(before, alertname, [], [expected_alert(truth, rule, value)]),
                check(firing, alertname, [expected_alert(truth, rule, value)], []),
            ],
        },
        {
            "name": f"{alert_id}: silent at exactly {threshold} ms",
            "input_streams": stream(truth, webhook_lines(truth, operation, threshold, horizon)),
            "alert_rule_test": [check(before, alertname, [], []), check(horizon, alertname, [], [])],
        },
    ]


def latency_tests(plan: Plan) -> list[dict[str, Any]]:
    truth = plan.truth
    latency = truth.log_alerts.webhook_latency
    alert, slow = latency.alert, latency.slow_warning
    tests = quantile_alert_tests(plan, alert.id, alert.quantile, alert.above, alert.for_)
    alertname = alert_name(alert.id)
    group, _rule = plan.loki_rule(alertname)
    _, horizon = firing_times(group.interval, alert.for_)
    operation_tag = truth.logs.tag("operation")
    others = [v for v in (operation_tag.values or []) if v != latency.operation] if operation_tag else []
    if others:
        tests.append({
            "name": f"{alert.id}: ignores slow {others[0]} operations",
            "input_streams": stream(truth, webhook_lines(truth, others[0], alert.above.milliseconds * 10, horizon)),
            "alert_rule_test": [check(horizon, alertname, [], [])],
        })
    tests += quantile_alert_tests(plan, slow.id, slow.quantile, slow.above, slow.for_)
    # The point of a windowed quantile: slow lines that stay a minority leave the alert silent however slow they are.
    slow_name = alert_name(slow.id)
    slow_group, _ = plan.loki_rule(slow_name)
    _, slow_horizon = firing_times(slow_group.interval, slow.for_)
    fast_ms = slow.above.milliseconds // 3
    minority_ms = slow.up_to.milliseconds * 10
    slow_line = text_line(truth, "bot.webhook", "INFO",
                          f"update handled operation={latency.operation} duration_ms={minority_ms}")
    minority = [{"at": "15s", "every": "30s", "count": int(slow_horizon.seconds // 30), "line": slow_line}]
    tests.append({
        "name": f"{slow.id}: silent when a quarter of the responses take {minority_ms} ms and the rest {fast_ms} ms",
        "input_streams": stream(truth, webhook_lines(truth, latency.operation, fast_ms, slow_horizon) + minority),
        "alert_rule_test": [check(slow_horizon, slow_name, [], [])],
    })
    return tests


def log_slo_tests(plan: Plan) -> list[dict[str, Any]]:
    """The log SLO's recording rules, by name, on lines of both formats whose class is known by construction:
    request lines (the request tag), failed ones (an error level, or an error tag at a non-error level), and
    look-alikes that are not requests (another tag value, the word without the tag)."""
    truth = plan.truth
    slo = truth.slos.log_error_ratio
    tag, value = slo.requests.tag, slo.requests.value
    declared = truth.logs.tag(tag)
    other_value = next((v for v in (declared.values or []) if v != value), f"not_{value}") \
        if declared else f"not_{value}"
    ok_levels = [level.name for level in truth.logs.levels if level.name not in truth.logs.error_levels]
    ok_level = "INFO" if "INFO" in ok_levels else ok_levels[0]
    # (line, is a request, is a failed request)
    lines: list[tuple[str, bool, bool]] = [
        (text_line(truth, "bot.webhook", ok_level, f"Webhook handled {tag}={value} duration_ms=45"), True, False),
        (json_line(truth, "bot.webhook", ok_level, "Webhook handled", **{tag: value}), True, False),
        # An error word in the message is not an error level.
        (text_line(truth, "bot.webhook", ok_level, f"ERROR budget fine {tag}={value}"), True, False),
        (text_line(truth, "bot.api", "ERROR", f"Generation failed {tag}={other_value}"), False, False),
        (json_line(truth, "bot.api", "ERROR", "Generation failed", **{tag: other_value}), False, False),
        (text_line(truth, "bot.api", ok_level, f"setting {value} url"), False, False),
    ]
    for level in slo.errors.levels:
        lines.append((text_line(truth, "bot.webhook", level, f"Webhook failed {tag}={value}"), True, True))
        lines.append((json_line(truth, "bot.webhook", level, "Webhook failed", **{tag: value}), True, True))
    for error_tag in slo.errors.tags:
        retried = f"Webhook retried {tag}={value} {error_tag}=TimeoutError"
        lines.append((text_line(truth, "bot.webhook", ok_level, retried), True, True))
        lines.append((json_line(truth, "bot.webhook", ok_level, "Webhook retried",
                                **{tag: value, error_tag: "TimeoutError"}), True, True))
    window = 300  # the `rate5m` of the recorded names
    group = next(g for g in plan.loki_groups if any(isinstance(r, loki_plan.LokiRecord) for r in g.rules))
    entries = [{"at": d(10 + 10 * i), "line": line} for i, (line, _, _) in enumerate(lines)]
    in_window = next_eval(Duration(10 * len(lines)), group.interval)
    gone = next_eval(Duration(10 * len(lines) + window), group.interval)
    requests = sum(1 for _, request, _ in lines if request)
    errors = sum(1 for _, _, failed in lines if failed)

    def samples(count: int) -> list[dict[str, Any]]:
        return [{"labels": series_labels(truth), "value": count / window}] if count else []

    return [{
        "name": f"{slo.id}: {requests} request lines, {errors} of them failed, in both formats",
        "input_streams": stream(truth, entries),
        "logql_expr_test": [
            {"expr": conventions.SLO_LOG_REQUESTS_RATE, "eval_time": str(in_window), "exp_samples": samples(requests)},
            {"expr": conventions.SLO_LOG_ERRORS_RATE, "eval_time": str(in_window), "exp_samples": samples(errors)},
            # Every line has left the 5-minute window: no sample at all (Prometheus sums the gap as 0).
            {"expr": conventions.SLO_LOG_REQUESTS_RATE, "eval_time": str(gone), "exp_samples": []},
            {"expr": conventions.SLO_LOG_ERRORS_RATE, "eval_time": str(gone), "exp_samples": []},
        ],
    }]


def log_event_tests(plan: Plan) -> list[dict[str, Any]]:
    pattern = plan.truth.log_alerts.external_api_timeout
    return occurrence_tests(plan, pattern.id, alert_name(pattern.id), pattern.examples.match,
                            pattern.examples.no_match)


def below_production_level_tests(plan: Plan) -> list[dict[str, Any]]:
    """Any line below the production level fires, in both formats; the word in a message or a higher level does
    not."""
    truth = plan.truth
    alert = truth.log_alerts.below_production_level
    matches: list[str] = []
    no_matches: list[str] = []
    for level in loki_plan.levels_below_production(truth):
        matches += [text_line(truth, "bot.config", level, "settings loaded"),
                    json_line(truth, "bot.config", level, "settings loaded")]
    production = truth.logs.production_level
    no_matches += [text_line(truth, "bot.config", production, "DEBUG mode is off"),
                   json_line(truth, "bot.config", production, "level DEBUG refused", log_level="DEBUG")]
    return occurrence_tests(plan, alert.id, alert_name(alert.id), matches, no_matches)


# --- files ----------------------------------------------------------------------------------------------------------


def test_file(truth: Truth, description: str, tests: list[dict[str, Any]]) -> str:
    rule_file = posixpath.relpath(conventions.loki_rule_file(truth), LOGQL_TESTS_DIR)
    document = {"rule_files": [rule_file], "evaluation_interval": str(truth.logs.ruler.interval), "tests": tests}
    return yaml_document(document, header=f"{GENERATED_HEADER}\n# {description}")


def render(plan: Plan) -> list[Artifact]:
    truth = plan.truth
    files = {
        "forbidden-patterns": ("forbidden patterns fire on matches, not on look-alikes", forbidden_tests(plan)),
        "leaked-secrets": ("leaked secrets fire on matches and masked markers, not on look-alikes",
                           secret_tests(plan)),
        "rate-limited-patterns": ("rate-limited patterns: silent at the limit, firing above",
                                  rate_limited_tests(plan)),
        "error-rate": ("error log rate: silent at the threshold, firing above", error_rate_tests(plan)),
        "webhook-latency": ("webhook latency P95 and slow-response (windowed P50) warning around their thresholds",
                            latency_tests(plan)),
        "log-slo": ("log SLO recording rules: request and failed-request rates on both log formats",
                    log_slo_tests(plan)),
        "log-events": ("external API timeouts and lines below the production level fire on any hit, not on "
                       "look-alikes", log_event_tests(plan) + below_production_level_tests(plan)),
    }
    return [Artifact(f"{LOGQL_TESTS_DIR}/{name}.yaml", test_file(truth, description, tests))
            for name, (description, tests) in files.items() if tests]
