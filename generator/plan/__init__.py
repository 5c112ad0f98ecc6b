"""The plan: every rule and route the truth implies, built once per run. Artifact renderers only serialise it, so a
rule's labels, expression and thresholds are the same objects in the rule file, its tests and the dashboards."""

from __future__ import annotations

from dataclasses import dataclass

from generator.plan.alerting import signal_annotations, trailing_comparison
from generator.plan.loki import LokiGroup, LokiRecord, LokiRule, build_loki_groups
from generator.plan.prometheus import PromGroup, PromRule, build_prometheus_groups, number
from generator.plan.routing import Routing, build_routing
from generator.truth import Truth


@dataclass(frozen=True)
class Plan:
    truth: Truth
    loki_groups: tuple[LokiGroup, ...]
    prometheus_groups: tuple[PromGroup, ...]
    routing: Routing

    def loki_rules(self) -> list[LokiRule]:
        """Every Loki alerting rule (recording rules: `loki_records`)."""
        return [rule for group in self.loki_groups for rule in group.rules if isinstance(rule, LokiRule)]

    def loki_records(self) -> list[LokiRecord]:
        return [rule for group in self.loki_groups for rule in group.rules if isinstance(rule, LokiRecord)]

    def loki_rule(self, alert: str) -> tuple[LokiGroup, LokiRule]:
        """The group and rule of a Loki alert by its name; KeyError names the alert when there is none."""
        for group in self.loki_groups:
            for rule in group.rules:
                if isinstance(rule, LokiRule) and rule.alert == alert:
                    return group, rule
        raise KeyError(f"no Loki alert named {alert!r} in the plan")

    def prometheus_alerts(self) -> list[PromRule]:
        return [rule for group in self.prometheus_groups for rule in group.rules if rule.alert is not None]


def build_plan(truth: Truth) -> Plan:
    plan = Plan(truth, tuple(build_loki_groups(truth)), tuple(build_prometheus_groups(truth)), build_routing(truth))
    for loki_rule in plan.loki_rules():
        loki_rule.annotations.update(signal_annotations(trailing_comparison(loki_rule.expr), loki_rule.for_.seconds,
                                                        str(loki_rule.for_)))
    for prom_rule in plan.prometheus_alerts():
        # Burn-rate alerts compare several windows: no single threshold, their summary states the burn rate.
        threshold = f"> {number(prom_rule.threshold.above)}" if prom_rule.threshold else None
        prom_rule.annotations.update(signal_annotations(threshold, prom_rule.for_.seconds, str(prom_rule.for_)))
    return plan
