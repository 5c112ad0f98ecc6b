"""Prometheus rule file alerts/prometheus/rules.yaml: the groups planned in `generator.plan.prometheus`, as
Prometheus loads them (`promtool check rules` and the generated `promtool test rules` cases check it)."""

from __future__ import annotations

from generator.artifacts.alert_links import linked_plan
from generator.artifacts.base import Artifact, yaml_document
from generator.conventions import PROMETHEUS_RULES_FILE
from generator.plan import Plan


def render(plan: Plan) -> list[Artifact]:
    plan = linked_plan(plan)  # annotations with the dashboard and Explore links
    return [Artifact(PROMETHEUS_RULES_FILE, yaml_document({"groups": [g.as_dict() for g in plan.prometheus_groups]}))]
