"""Alertmanager routing planned from truth: each tier's notify mode decides its receiver and timers; inhibitions
come from truth. `generator.artifacts.alertmanager` writes the config; checks and tests read the same plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.truth import Truth


@dataclass(frozen=True)
class TierPolicy:
    receiver: str
    group_wait: str
    group_interval: str
    repeat_interval: str


# Timing per notify mode: the lower the tier, the less often a human is bothered.
POLICIES: dict[str, TierPolicy] = {
    "none": TierPolicy("tier1-automation", "30s", "5m", "24h"),
    "low-priority": TierPolicy("tier2-low-priority", "1m", "10m", "24h"),
    "page": TierPolicy("tier3-oncall", "30s", "5m", "4h"),
    "escalate": TierPolicy("tier4-escalation", "0s", "1m", "15m"),
}
DEFAULT_RECEIVER = POLICIES["low-priority"].receiver  # an alert without a tier is seen, but never pages
GROUP_BY = ["alertname"]
def routes(truth: Truth) -> list[dict[str, Any]]:
    result = []
    for tier in sorted(truth.tiers, key=lambda t: t.id):
        policy = POLICIES[tier.notify]
        result.append({
            "matchers": [f'tier="{tier.id}"'],
            "receiver": policy.receiver,
            "group_wait": policy.group_wait,
            "group_interval": policy.group_interval,
            "repeat_interval": policy.repeat_interval,
        })
    return result


def inhibit_rules(truth: Truth) -> list[dict[str, Any]]:
    return [
        {"source_matchers": [f'alert_id="{rule.when}"'],
         "target_matchers": [f'alert_id=~"{"|".join(rule.silence)}"']}
        for rule in truth.inhibitions
    ]


def expected_receiver(truth: Truth, tier_id: int) -> str:
    return POLICIES[truth.tier(tier_id).notify].receiver


@dataclass(frozen=True)
class Routing:
    """The route tree and inhibitions, as Alertmanager's config spells them (receivers are named, not built:
    their destinations hold secrets and are written by `generator.artifacts.alertmanager`)."""

    default_receiver: str
    default_policy: TierPolicy
    group_by: tuple[str, ...]
    routes: tuple[dict[str, Any], ...]
    inhibit_rules: tuple[dict[str, Any], ...]


def build_routing(truth: Truth) -> Routing:
    return Routing(DEFAULT_RECEIVER, POLICIES["page"], tuple(GROUP_BY), tuple(routes(truth)),
                   tuple(inhibit_rules(truth)))
