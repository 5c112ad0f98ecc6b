"""What every dashboard shares: identity (stable uids), links to the others, variables, header, serialization."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import dashboard as dashboard_builders
    from grafana_foundation_sdk.cog import builder as cogbuilder
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as dashboard_models

from generator.artifacts.dashboards.panels import Grid
from generator.artifacts.dashboards.queries import AlertExpression, loki_alert_expressions
from generator.artifacts.grafana_provisioning import DatasourceSpec, datasource_specs
from generator.conventions import GENERATED_HEADER, dashboard_file
from generator.plan import Plan
from generator.truth import Truth

MAX_UID_LENGTH = 40  # Grafana rejects longer dashboard uids


@dataclass(frozen=True)
class DashboardInfo:
    """A dashboard's identity; `slug` is fixed per dashboard kind, so the uid never changes between runs."""

    slug: str
    title: str
    purpose: str


# Order = order of the links on every dashboard.
DASHBOARDS: tuple[DashboardInfo, ...] = (
    DashboardInfo("service-health", "Service health and SLOs",
                  "Is the bot up and fast, how much error budget is left, and which alert is firing."),
    DashboardInfo("logs", "Logs", "What the logs say: forbidden and rate-limited patterns, levels, errors, "
                  "slow operations, leaked secrets."),
    DashboardInfo("render", "Render resources", "CPU, memory, requests, instances and bandwidth of the Render "
                  "web service, against the seed's bands."),
    DashboardInfo("business", "Business", "Balance trends, generations and revenue from the bot's PostgreSQL."),
    DashboardInfo("diagnostics", "Diagnostics", "The seed's SQL diagnostics and the runbook of every alert."),
)


def dashboard_uid(truth: Truth, slug: str) -> str:
    uid = f"{truth.service.id}-{slug}"
    if len(uid) > MAX_UID_LENGTH:
        raise ValueError(f"dashboard uid {uid!r} is longer than {MAX_UID_LENGTH} characters: shorten service.id")
    return uid


def dashboard_path(truth: Truth, slug: str) -> str:
    return dashboard_file(dashboard_uid(truth, slug))


@dataclass(frozen=True)
class Context:
    """What a dashboard module needs: the plan (truth and the rules built from it) and the datasources it may
    reference."""

    plan: Plan
    datasources: dict[str, DatasourceSpec]

    @property
    def truth(self) -> Truth:
        return self.plan.truth

    @cached_property
    def loki_alerts(self) -> dict[str, AlertExpression]:
        """Every Loki alert's measured value (see `queries.loki_alert_expressions`), computed once per run."""
        return loki_alert_expressions(self.plan)

    def ds(self, key: str) -> common.DataSourceRef:
        return self.datasources[key].ref()


def make_context(plan: Plan) -> Context:
    return Context(plan, datasource_specs(plan.truth))


# --- variables ---------------------------------------------------------------------------------------------------


def environment_variable(truth: Truth) -> dashboard_builders.CustomVariable:
    """The environment the truth describes; the header and links carry it (no metric or stream label does)."""
    env = truth.service.environment
    option = dashboard_models.VariableOption(text=env, value=env, selected=True)
    return (dashboard_builders.CustomVariable("environment").label("Environment").values(env)
            .current(option).options([option]).description("Deployment environment (from truth: service.environment)."))


def log_label_variables(context: Context) -> list[dashboard_builders.QueryVariable]:
    """One variable per Loki stream label of the bot (e.g. `service`), preset to the truth's value."""
    variables = []
    for name, value in sorted(context.truth.service.log_labels.items()):
        option = dashboard_models.VariableOption(text=value, value=value, selected=True)
        variables.append(
            dashboard_builders.QueryVariable(name).label(name.replace("_", " ").capitalize())
            .datasource(context.ds("loki"))
            .query({"type": 1, "label": name, "refId": "LokiVariableQueryEditor-VariableQuery"})
            .definition(f"label_values({name})").current(option).options([option])
            .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
            .description(f"Loki stream label `{name}` of the bot's logs (truth: service.log_labels).")
        )
    return variables


# --- assembly ----------------------------------------------------------------------------------------------------


def _links(truth: Truth, current: str) -> list[cogbuilder.Builder[dashboard_models.DashboardLink]]:
    links: list[cogbuilder.Builder[dashboard_models.DashboardLink]] = []
    for info in DASHBOARDS:
        if info.slug == current:
            continue
        links.append(
            dashboard_builders.DashboardLink(info.title).type(dashboard_models.DashboardLinkType.LINK)
            .url(f"/d/{dashboard_uid(truth, info.slug)}").tooltip(info.purpose).icon("dashboard")
            .keep_time(True).include_vars(True).target_blank(False).as_dropdown(False)
        )
    return links


def assemble(context: Context, slug: str, grid: Grid,
             variables: Sequence[cogbuilder.Builder[dashboard_models.VariableModel]] = ()) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict, through the SDK's own encoder)."""
    truth = context.truth
    info = next(i for i in DASHBOARDS if i.slug == slug)
    builder = (
        dashboard_builders.Dashboard(f"{truth.service.title}: {info.title}")
        .uid(dashboard_uid(truth, slug))
        .description(f"{info.purpose} ({GENERATED_HEADER})")
        .tags(sorted({truth.service.id, "generated", slug}))
        .timezone("utc").time("now-6h", "now").refresh("1m")
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .links(_links(truth, slug))
        .variables([environment_variable(truth), *variables])
    )
    model = builder.build()
    model.panels = grid.panels
    dashboard: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    for link in dashboard.get("links", []):
        link.pop("placement", None)  # see OMITTED_SDK_DEFAULTS
    return dashboard


# SDK defaults the generated JSON leaves out on purpose (JSON-pointer shapes). The SDK sets every dashboard link's
# `placement` to the "controls menu", where current Grafana hides it (and `dashboards` links entirely); without the
# key, links show in the dashboard's link bar as intended.
OMITTED_SDK_DEFAULTS = re.compile(r"/links/\d+/placement")


def serialize(dashboard: dict[str, Any]) -> str:
    """Deterministic JSON: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


DashboardBuilder = Callable[[Context], dict[str, Any]]
