"""Checks across sections that a per-field schema cannot express: ids, tier membership, examples, runbooks."""

from __future__ import annotations

from generator.truth.loader import Positions, Problem
from generator.truth.model import Pattern, Truth
from generator.truth.types import Duration, regex_matches


def _pattern_sections(truth: Truth) -> list[tuple[tuple[str | int, ...], Pattern]]:
    located: list[tuple[tuple[str | int, ...], Pattern]] = []
    for index, forbidden in enumerate(truth.forbidden_patterns):
        located.append((("forbidden_patterns", index), forbidden))
    for index, limited in enumerate(truth.rate_limited_patterns):
        located.append((("rate_limited_patterns", index), limited))
    for index, secret in enumerate(truth.privacy.never_log):
        located.append((("privacy", "never_log", index), secret))
    located.append((("log_alerts", "external_api_timeout"), truth.log_alerts.external_api_timeout))
    return located


def _duplicate_id_problems(truth: Truth, positions: Positions) -> list[Problem]:
    """Alert ids name rules, dashboards panels and tests: each must be unique across the whole file."""
    seen: dict[str, tuple[str | int, ...]] = {}
    problems = []
    candidates: list[tuple[str, tuple[str | int, ...]]] = [
        (pattern.id, (*loc, "id")) for loc, pattern in _pattern_sections(truth)
    ]
    candidates += [(event.id, ("events", i, "id")) for i, event in enumerate(truth.events)]
    candidates += [(mask.id, ("privacy", "masks", i, "id")) for i, mask in enumerate(truth.privacy.masks)]
    for alert_id, loc in candidates:
        if alert_id in seen:
            first_line = positions.locate(seen[alert_id])[0]
            problems.append(positions.problem(loc, f"duplicate id {alert_id!r} (first defined on line {first_line})"))
        else:
            seen[alert_id] = loc
    tier_seen: set[int] = set()
    for index, tier in enumerate(truth.tiers):
        if tier.id in tier_seen:
            problems.append(positions.problem(("tiers", index, "id"), f"duplicate tier id {tier.id}"))
        tier_seen.add(tier.id)
    return problems


def _tier_problems(truth: Truth, positions: Positions) -> list[Problem]:
    known = truth.alert_ids()
    problems = []
    for t_index, tier in enumerate(truth.tiers):
        for m_index, member in enumerate(tier.members):
            for h_index, alert_id in enumerate(member.handles):
                if alert_id not in known:
                    problems.append(positions.problem(
                        ("tiers", t_index, "members", m_index, "handles", h_index),
                        f"unknown alert id {alert_id!r}: not defined anywhere in the file",
                    ))
    for alert_id, loc in known.items():
        if not truth.tiers_of(alert_id):
            problems.append(positions.problem(
                loc, f"alert {alert_id!r} belongs to no tier: list it under tiers[].members[].handles"
            ))
    return problems


def _example_problems(truth: Truth, positions: Positions) -> list[Problem]:
    """Generation refuses a pattern whose own examples disagree with it."""
    problems = []
    for loc, pattern in _pattern_sections(truth):
        for index, line in enumerate(pattern.examples.match):
            if not regex_matches(pattern.regex, line):
                problems.append(positions.problem(
                    (*loc, "examples", "match", index),
                    f"regex {pattern.regex!r} does not match this example, which it must match",
                ))
        for index, line in enumerate(pattern.examples.no_match):
            if regex_matches(pattern.regex, line):
                problems.append(positions.problem(
                    (*loc, "examples", "no_match", index),
                    f"regex {pattern.regex!r} matches this look-alike, which it must not match",
                ))
        for index, line in enumerate(pattern.examples.known_misses):
            if regex_matches(pattern.regex, line):
                problems.append(positions.problem(
                    (*loc, "examples", "known_misses", index),
                    f"regex {pattern.regex!r} matches this line: it is not a miss; move it to `match`",
                ))
    return problems


def _runbook_problems(truth: Truth, positions: Positions) -> list[Problem]:
    problems = []
    for loc, pattern in _pattern_sections(truth):
        for index, name in enumerate(pattern.runbook):
            if name not in truth.runbooks:
                problems.append(positions.problem(
                    (*loc, "runbook", index),
                    f"unknown runbook {name!r} (defined: {', '.join(sorted(truth.runbooks))})",
                ))
    return problems


def _log_level_problems(truth: Truth, positions: Positions) -> list[Problem]:
    declared = {level.name for level in truth.logs.levels}
    return [
        positions.problem(("logs", "error_levels", index), f"level {name!r} is not declared under logs.levels")
        for index, name in enumerate(truth.logs.error_levels)
        if name not in declared
    ]


def _inhibition_problems(truth: Truth, positions: Positions) -> list[Problem]:
    """An inhibition names known alerts, and only a higher tier may silence a lower one."""
    known = truth.alert_ids()
    problems = []
    for index, rule in enumerate(truth.inhibitions):
        if rule.when not in known:
            problems.append(positions.problem(("inhibitions", index, "when"), f"unknown alert id {rule.when!r}"))
            continue
        source_tier = truth.effective_tier(rule.when) if truth.tiers_of(rule.when) else 0
        for s_index, silenced in enumerate(rule.silence):
            loc = ("inhibitions", index, "silence", s_index)
            if silenced not in known:
                problems.append(positions.problem(loc, f"unknown alert id {silenced!r}"))
                continue
            silenced_tier = truth.effective_tier(silenced) if truth.tiers_of(silenced) else 0
            if silenced_tier > source_tier or (silenced_tier == source_tier and rule.same_condition is None):
                problems.append(positions.problem(
                    loc, f"{silenced!r} (tier {silenced_tier}) is not below {rule.when!r} (tier {source_tier}): "
                         "only a higher tier may silence an alert, or one of the same tier that measures the same "
                         "condition (say which in `same_condition`)",
                ))
    return problems


def _destination_problems(truth: Truth, positions: Positions) -> list[Problem]:
    """No alert is routed to nobody: an alert whose tier's receiver has no destination is refused unless
    `alertmanager.allowed_without_destination` names it with a reason; an entry there must name such an alert."""
    known = truth.alert_ids()
    allowed = {entry.alert: index for index, entry in enumerate(truth.alertmanager.allowed_without_destination)}
    problems = []
    for alert_id, loc in known.items():
        if not truth.tiers_of(alert_id) or alert_id in allowed:
            continue  # an alert without a tier is reported by _tier_problems
        tier = truth.tier(truth.effective_tier(alert_id))
        if not truth.tier_has_destination(tier.id):
            problems.append(positions.problem(
                loc, f"alert {alert_id!r} is routed to nobody: its tier {tier.id} (notify: {tier.notify}) has no "
                     "destination (alertmanager.automation_webhook_url is null). List it under a tier that notifies "
                     "someone, or under alertmanager.allowed_without_destination with a reason",
            ))
    for alert_id, index in allowed.items():
        loc = ("alertmanager", "allowed_without_destination", index, "alert")
        if alert_id not in known:
            problems.append(positions.problem(loc, f"unknown alert id {alert_id!r}"))
        elif truth.tiers_of(alert_id) and truth.tier_has_destination(truth.effective_tier(alert_id)):
            problems.append(positions.problem(
                loc, f"alert {alert_id!r} reaches a destination (tier {truth.effective_tier(alert_id)}): "
                     "remove this exception"))
    return problems


def _rate_limit_interval_problems(truth: Truth, positions: Positions) -> list[Problem]:
    """Hits `g` apart are counted together only by an evaluation in [second hit, first hit + window): pairs with
    g > window - interval can slip between evaluations, so the interval must be well under the window."""
    interval = truth.logs.ruler.rate_limited_interval
    return [
        positions.problem(
            ("rate_limited_patterns", index, "limit", "per"),
            f"window {pattern.limit.per} is not longer than logs.ruler.rate_limited_interval ({interval})",
        )
        for index, pattern in enumerate(truth.rate_limited_patterns)
        if pattern.limit.per <= interval
    ] + [
        positions.problem(
            ("logs", "ruler", "rate_limited_interval"),
            f"{interval} is too coarse for {pattern.id!r} (window {pattern.limit.per}): pairs of hits more than "
            f"{Duration(pattern.limit.per.seconds - interval.seconds)} apart may go unseen; "
            "use at most a tenth of the window",
        )
        # One line, for the shortest window: it is the one that constrains the interval.
        for pattern in sorted(truth.rate_limited_patterns, key=lambda p: p.limit.per)[:1]
        if interval < pattern.limit.per and interval.seconds * 10 > pattern.limit.per.seconds
    ]


def _log_slo_problems(truth: Truth, positions: Positions) -> list[Problem]:
    """The log SLO's lines are defined by declared tags and levels, and its target is the error-rate target."""
    slo = truth.slos.log_error_ratio
    at = ("slos", "log_error_ratio")
    declared_tags = [tag.name for tag in truth.logs.standard_tags]
    declared_levels = [level.name for level in truth.logs.levels]
    problems = []
    tag = truth.logs.tag(slo.requests.tag)
    if tag is None:
        problems.append(positions.problem((*at, "requests", "tag"), f"tag {slo.requests.tag!r} is not declared "
                                          f"under logs.standard_tags ({', '.join(declared_tags)})"))
    elif tag.values is not None and slo.requests.value not in tag.values:
        problems.append(positions.problem((*at, "requests", "value"), f"{slo.requests.value!r} is not a value of "
                                          f"tag {tag.name!r} ({', '.join(tag.values)})"))
    for index, name in enumerate(slo.errors.tags):
        if truth.logs.tag(name) is None:
            problems.append(positions.problem((*at, "errors", "tags", index), f"tag {name!r} is not declared under "
                                              f"logs.standard_tags ({', '.join(declared_tags)})"))
    for index, name in enumerate(slo.errors.levels):
        if name not in declared_levels:
            problems.append(positions.problem((*at, "errors", "levels", index),
                                              f"level {name!r} is not declared under logs.levels"))
    target = truth.log_alerts.error_rate.target_error_ratio
    if abs(slo.error_budget - target) > 1e-12:
        problems.append(positions.problem(
            (*at, "objective"), f"objective {slo.objective:g} % allows {slo.error_budget:g} of requests to fail, but "
            f"log_alerts.error_rate.target_error_ratio is {target:g}: one target, state it the same in both"))
    return problems


def cross_reference_problems(truth: Truth, positions: Positions) -> list[Problem]:
    return [
        *_rate_limit_interval_problems(truth, positions),
        *_duplicate_id_problems(truth, positions),
        *_tier_problems(truth, positions),
        *_example_problems(truth, positions),
        *_runbook_problems(truth, positions),
        *_log_level_problems(truth, positions),
        *_inhibition_problems(truth, positions),
        *_log_slo_problems(truth, positions),
        *_destination_problems(truth, positions),
    ]
