"""Diagnostics: the seed's SQL diagnostics as live tables, and the runbook of every alert next to them."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, StrictUndefined

from generator.artifacts.dashboards.common import Context, assemble
from generator.artifacts.dashboards.panels import (
    Grid,
    alert_list_panel,
    sql,
    stat_panel,
    table_panel,
    text_panel,
)
from generator.artifacts.dashboards.service_health import heartbeat_steps
from generator.conventions import alert_name
from generator.plan import Plan

SLUG = "diagnostics"

_TEMPLATES = Environment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False)
_ALERT_RUNBOOKS = _TEMPLATES.from_string(
    """| Alert | Tier | Severity | What to do |
|---|---|---|---|
{% for row in rows %}
| {{ row.name }} | {{ row.tier }} ({{ row.tier_name }}) | {{ row.severity }} | {{ row.action }} |
{% endfor %}
"""
)
_STEPS = _TEMPLATES.from_string(
    """{% for key, step in steps %}
### {{ step.title }} (`{{ key }}`)

```{{ "sql" if step.sql else "bash" }}
{{ step.sql or step.command }}
```

{% endfor %}"""
)


def _cell(text: str) -> str:
    """Markdown table cells: one line, no column separators."""
    return " ".join(text.replace("|", "\\|").split())


def _from_go_template(text: str) -> str:
    """Undo `alerting.go_template_text`: the dashboard shows the runbook as on-call reads it in the alert."""
    return text.replace("{{`{{`}}", "{{").replace("{{`}}`}}", "}}")


def alert_runbooks(plan: Plan) -> dict[str, str]:
    """The runbook annotation of every generated Loki and Prometheus alert, keyed by alert id."""
    runbooks = {}
    for labels, notes in [(r.labels, r.annotations) for r in plan.loki_rules()] + [
            (r.labels, r.annotations) for r in plan.prometheus_alerts()]:
        if "runbook" in notes:
            runbooks[labels["alert_id"]] = _from_go_template(notes["runbook"])
    return runbooks


def alert_runbook_rows(plan: Plan) -> list[dict[str, str]]:
    """One row per alert, most severe tier first: tier, severity and the alert's runbook (else the tier action)."""
    truth = plan.truth
    priorities = {p.id: p.priority for p in truth.forbidden_patterns}
    runbooks = alert_runbooks(plan)
    rows = []
    for alert_id in sorted(truth.alert_ids(), key=lambda a: (-truth.effective_tier(a), a)):
        tier = truth.tier(truth.effective_tier(alert_id))
        action = runbooks.get(alert_id) or "; ".join(
            m.action for t in truth.tiers for m in t.members if alert_id in m.handles) or tier.description
        rows.append({"name": alert_name(alert_id), "tier": str(tier.id), "tier_name": tier.name,
                     "severity": truth.severity(alert_id, priorities.get(alert_id)),
                     "action": "<br>".join(_cell(line) for line in action.splitlines() if line.strip())})
    return rows


def build(context: Context) -> dict[str, Any]:
    truth = context.truth
    pg = context.ds("postgres")
    heartbeat = truth.lock_heartbeat
    grid = Grid()

    grid.add(alert_list_panel("All firing alerts", "Every firing or pending alert of the bot, most important "
                              "first.", list(truth.alert_ids())), 16, 8)
    grid.add(stat_panel(
        "Lock heartbeat age (database)", f"Seconds since the newest `{heartbeat.column}` in `{heartbeat.table}`, "
        f"read straight from PostgreSQL; the holder beats every {heartbeat.expected_every}.", pg,
        [sql(f"SELECT EXTRACT(EPOCH FROM now() - MAX({heartbeat.column})) AS age_seconds FROM {heartbeat.table}",
             pg)], "s",
        heartbeat_steps(truth), "s", graph=False), 8, 8)

    grid.row("SQL diagnostics (the seed's queries, live)")
    for key, step in truth.runbooks.items():
        if step.sql:
            grid.add(table_panel(step.title, f"Runbook step `{key}`, run against the bot's database: "
                                 f"`{step.sql}`", pg, [sql(step.sql.strip().rstrip(";"), pg)]), 24, 8)

    grid.row("Runbooks")
    grid.add(text_panel("Alert runbooks", "Every alert, most severe tier first, with its severity and the runbook "
                        "it carries (or its tier's action when it has none).",
                        _ALERT_RUNBOOKS.render(rows=alert_runbook_rows(context.plan))), 24, 22)
    grid.add(text_panel("Runbook steps", "The debug steps the runbooks refer to: commands and SQL.",
                        _STEPS.render(steps=list(truth.runbooks.items()))), 24, 14)

    return assemble(context, SLUG, grid)
