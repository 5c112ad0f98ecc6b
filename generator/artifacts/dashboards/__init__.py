"""Grafana dashboards generated from truth: one module per dashboard, shared blocks in `panels` and `common`.

Output: `dashboards/<uid>.json` in Grafana's classic dashboard JSON model (what file provisioning reads), built
with grafana-foundation-sdk and written deterministically (sorted keys, 2-space indent, trailing newline).
"""

from __future__ import annotations

from generator.artifacts.base import Artifact
from generator.artifacts.dashboards import business, diagnostics, logs, platform_resources, service_health
from generator.artifacts.dashboards.common import DASHBOARDS, DashboardBuilder, dashboard_path, make_context, serialize
from generator.plan import Plan

BUILDERS: dict[str, DashboardBuilder] = {
    service_health.SLUG: service_health.build,
    logs.SLUG: logs.build,
    platform_resources.SLUG: platform_resources.build,
    business.SLUG: business.build,
    diagnostics.SLUG: diagnostics.build,
}


def render(plan: Plan) -> list[Artifact]:
    context = make_context(plan)
    return [Artifact(dashboard_path(plan.truth, info.slug), serialize(BUILDERS[info.slug](context)))
            for info in DASHBOARDS]
