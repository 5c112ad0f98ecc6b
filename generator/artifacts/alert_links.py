"""One-tap links every alert carries for on-call: the dashboard panel that shows its signal and, for log alerts,
Grafana Explore with the rule's own LogQL.

The links are read from the generated dashboards themselves (uids from `dashboards.common.dashboard_uid`, panel ids
as the grid assigned them), so a renamed dashboard or a moved panel changes every link with it. The Grafana base URL
comes from truth (`alertmanager.grafana_url`). The pipeline links the plan once (`pipeline.plan_for`), before any
renderer runs, so a rule file and its tests expect the same annotations.

URL shapes, Grafana 12 (docs "Manage dashboard links", "Controlling time range using the URL": `from`/`to` in ms
epoch; `viewPanel=<panel id>` opens one panel): `<grafana>/d/<uid>?orgId=1&viewPanel=<id>`; the Telegram template
appends the time range around the alert, which only Alertmanager knows (`StartsAt`). Explore (Grafana's share-link
format, `schemaVersion=1&panes=<JSON>`): one pane with the Loki datasource and the rule's expression as query A.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

from generator.artifacts.dashboards import BUILDERS
from generator.artifacts.dashboards.common import DASHBOARDS, dashboard_uid, make_context
from generator.artifacts.grafana_provisioning import datasource_specs
from generator.conventions import alert_name
from generator.plan import LokiRule, Plan

DASHBOARD_LINK = "dashboard_url"
LOGS_LINK = "logs_url"
ORG_ID = 1  # the provisioned dashboards and datasources live in Grafana's default organisation
EXPLORE_RANGE = {"from": "now-1h", "to": "now"}  # Explore opens on the last hour: the rule windows are minutes

# `describe_steps` writes "; alert <Name>" beside the colour band where an alert fires: that panel shows the signal.
_BAND_ALERT = re.compile(r"; alert ([A-Z][A-Za-z0-9]*)")
# Any other mention ("the expression of alert X", "alert X fires on ...").
_MENTIONED_ALERT = re.compile(r"\balert ([A-Z][A-Za-z0-9]*)")
_ALERT_IDS_FILTER = re.compile(r'alert_id=~"([^"]*)"')


@dataclass(frozen=True)
class PanelRef:
    dashboard_uid: str
    panel_id: int
    title: str


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside
    return [p for p in found if p.get("type") != "row"]


def alert_panels(plan: Plan) -> dict[str, PanelRef]:
    """Alert name -> the panel that shows its signal: the first panel (dashboard order, then grid order) with a
    colour band for the alert, else the first that names it, else the alert list that lists its `alert_id`."""
    context = make_context(plan)
    banded: dict[str, PanelRef] = {}
    mentioned: dict[str, PanelRef] = {}
    listed: dict[str, PanelRef] = {}
    for info in DASHBOARDS:
        uid = dashboard_uid(plan.truth, info.slug)
        for panel in _panels(BUILDERS[info.slug](context)):
            ref = PanelRef(uid, int(panel["id"]), str(panel.get("title", "")))
            description = str(panel.get("description", ""))
            for name in _BAND_ALERT.findall(description):
                banded.setdefault(name, ref)
            for name in _MENTIONED_ALERT.findall(description):
                mentioned.setdefault(name, ref)
            label_filter = str((panel.get("options") or {}).get("alertInstanceLabelFilter", ""))
            for ids in _ALERT_IDS_FILTER.findall(label_filter):
                for alert_id in ids.split("|"):
                    listed.setdefault(alert_name(alert_id), ref)
    return {**listed, **mentioned, **banded}


def dashboard_url(grafana_url: str, panel: PanelRef) -> str:
    return f"{grafana_url}/d/{panel.dashboard_uid}?" + urlencode({"orgId": ORG_ID, "viewPanel": panel.panel_id})


def explore_url(grafana_url: str, datasource_uid: str, expr: str) -> str:
    pane = {"datasource": datasource_uid,
            "queries": [{"refId": "A", "expr": expr, "queryType": "range",
                         "datasource": {"type": "loki", "uid": datasource_uid}}],
            "range": EXPLORE_RANGE}
    panes = json.dumps({"alert": pane}, separators=(",", ":"), sort_keys=True)
    # quote(safe=""): every `{`, `}` and `$` is percent-encoded, so the ruler's Go templating leaves the link alone.
    return f"{grafana_url}/explore?" + urlencode({"schemaVersion": 1, "orgId": ORG_ID, "panes": panes},
                                                 quote_via=quote, safe="")


def link_annotations(plan: Plan) -> dict[str, dict[str, str]]:
    """Alert name -> its link annotations."""
    grafana = plan.truth.alertmanager.grafana_url
    panels = alert_panels(plan)
    loki_uid = datasource_specs(plan.truth)["loki"].uid
    links: dict[str, dict[str, str]] = {}
    alert_ids: dict[str, str] = {}
    for loki_rule in plan.loki_rules():
        links[loki_rule.alert] = {LOGS_LINK: explore_url(grafana, loki_uid, loki_rule.expr)}
        alert_ids[loki_rule.alert] = loki_rule.labels["alert_id"]
    for prom_rule in plan.prometheus_alerts():
        links[prom_rule.alert or ""] = {}
        alert_ids[prom_rule.alert or ""] = prom_rule.labels["alert_id"]
    for name, found in links.items():
        # Panels name an alert by its own name or by the name of its `alert_id` (a rate limit's panel names the
        # pattern: `DuplicateUpdateId` for alert `DuplicateUpdateIdRateExceeded`).
        panel = panels.get(name) or panels.get(alert_name(alert_ids[name]))
        if panel is not None:
            found[DASHBOARD_LINK] = dashboard_url(grafana, panel)
    return links


def linked_plan(plan: Plan) -> Plan:
    """The plan with every alert's link annotations added (a copy: the plan itself stays as built)."""
    links = link_annotations(plan)
    loki_groups = tuple(replace(group, rules=[
        replace(rule, annotations={**rule.annotations, **links[rule.alert]}) if isinstance(rule, LokiRule) else rule
        for rule in group.rules]) for group in plan.loki_groups)
    prometheus_groups = tuple(
        replace(group, rules=[rule if rule.alert is None else
                              replace(rule, annotations={**rule.annotations, **links[rule.alert]})
                              for rule in group.rules]) for group in plan.prometheus_groups)
    return replace(plan, loki_groups=loki_groups, prometheus_groups=prometheus_groups)
