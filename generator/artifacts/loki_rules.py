"""Loki ruler rule file: loki/rules/<tenant>/<namespace>.yaml, the Prometheus rule-group format Loki's ruler reads
from local storage (`<rules_directory>/<tenant>/*.yaml`). The rules themselves are planned in `generator.plan.loki`."""

from __future__ import annotations

from generator.artifacts.alert_links import linked_plan
from generator.artifacts.base import Artifact, yaml_document
from generator.conventions import loki_rule_file
from generator.plan import Plan


def render(plan: Plan) -> list[Artifact]:
    plan = linked_plan(plan)  # annotations with the dashboard and Explore links
    groups = [group.as_dict() for group in plan.loki_groups if group.rules]
    return [Artifact(loki_rule_file(plan.truth), yaml_document({"groups": groups}))]
