"""Business: balance trends, generations by model and status, revenue, from the bot's PostgreSQL.

The seed's SQL fixes jobs(id, user_id, status, created_at, completed_at) and transactions(user_id, amount, type,
description, created_at). Which transaction types are revenue and which jobs column names the model come from
truth's `business` section (assumptions the seed does not state); without it, every type counts and generations are
broken down by status only.
"""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import dashboard as dashboard_builders
    from grafana_foundation_sdk.models import dashboard as dashboard_models

from generator.artifacts.dashboards.common import Context, assemble
from generator.artifacts.dashboards.panels import (
    OK,
    Grid,
    Step,
    sql,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from generator.truth import Truth

SLUG = "business"
REVENUE_TYPES_VARIABLE = "revenue_type"
TABLES = ("jobs", "transactions")


def alert_ids(truth: Truth) -> list[str]:
    """Alerts whose runbook looks at the business tables (payments, generations)."""
    business_steps = {name for name, step in truth.runbooks.items()
                      if step.sql and any(table in step.sql for table in TABLES)}
    patterns = [*truth.forbidden_patterns, *truth.rate_limited_patterns]
    return [p.id for p in patterns if business_steps & set(p.runbook)]


def revenue_types_variable(context: Context) -> dashboard_builders.QueryVariable:
    business = context.truth.business
    chosen = list(business.revenue_transaction_types) if business else ["$__all"]
    current = dashboard_models.VariableOption(text=["All"] if chosen == ["$__all"] else chosen, value=chosen,
                                              selected=True)
    query = "SELECT DISTINCT type FROM transactions ORDER BY 1"
    return (dashboard_builders.QueryVariable(REVENUE_TYPES_VARIABLE).label("Revenue transaction types")
            .datasource(context.ds("postgres")).query(query).definition(query)
            .multi(True).include_all(True).current(current)
            .refresh(dashboard_models.VariableRefresh.ON_DASHBOARD_LOAD)
            .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
            .description("Which `transactions.type` values count as money received (default from truth: "
                         "business.revenue_transaction_types)."))


def _info(description: str) -> list[Step]:
    return [Step(None, OK, description)]


def build(context: Context) -> dict[str, Any]:
    truth = context.truth
    pg = context.ds("postgres")
    revenue_filter = f"type IN (${{{REVENUE_TYPES_VARIABLE}:sqlstring}})"
    grid = Grid.under_alert_list(
        "Firing payment and generation alerts", "Firing and pending alerts whose runbook checks jobs or "
        "transactions.", alert_ids(truth), 5)

    grid.row("In the selected time range")
    grid.add_row_of([
        stat_panel("Generations", "Jobs created in the selected time range.", pg,
                   [sql("SELECT COUNT(*) AS generations FROM jobs WHERE $__timeFilter(created_at)", pg)],
                   "none", _info("count"), graph=False),
        stat_panel("Active users", "Distinct users who created a job in the selected time range.", pg,
                   [sql("SELECT COUNT(DISTINCT user_id) AS users FROM jobs WHERE $__timeFilter(created_at)", pg)],
                   "none", _info("count"), graph=False),
        stat_panel("Revenue", "Sum of `amount` of transactions whose type is selected as revenue, in the "
                   "selected time range.", pg,
                   [sql(f"SELECT COALESCE(SUM(amount), 0) AS revenue FROM transactions "
                        f"WHERE $__timeFilter(created_at) AND {revenue_filter}", pg)],
                   "none", _info("sum of amounts"), graph=False, decimals=2),
        stat_panel("Generation time P95", "95th percentile of completed_at - created_at of jobs completed in the "
                   "selected time range.", pg,
                   [sql("SELECT percentile_cont(0.95) WITHIN GROUP "
                        "(ORDER BY EXTRACT(EPOCH FROM completed_at - created_at)) AS p95_seconds "
                        "FROM jobs WHERE completed_at IS NOT NULL AND $__timeFilter(completed_at)", pg)],
                   "s", _info("duration"), graph=False),
    ], 5)

    grid.row("Trends")
    trends = [timeseries_panel(
        "Generations by status", "Jobs created per interval, by status.", pg,
        [sql("SELECT $__timeGroupAlias(created_at, $__interval), status AS metric, COUNT(*) AS jobs "
             "FROM jobs WHERE $__timeFilter(created_at) GROUP BY 1, 2 ORDER BY 1", pg,
             result_format="time_series")], "none", stacked=True, bars=True)]
    model_column = truth.business.jobs_model_column if truth.business else None
    if model_column:
        trends.append(timeseries_panel(
            "Generations by model", f"Jobs created per interval, by generation model (`jobs.{model_column}`).",
            pg, [sql(f"SELECT $__timeGroupAlias(created_at, $__interval), {model_column} AS metric, COUNT(*) AS jobs "
                     "FROM jobs WHERE $__timeFilter(created_at) GROUP BY 1, 2 ORDER BY 1", pg,
                     result_format="time_series")], "none", stacked=True, bars=True))
    trends.append(timeseries_panel(
        "Revenue per interval", "Sum of revenue transaction amounts per interval, by type.", pg,
        [sql(f"SELECT $__timeGroupAlias(created_at, $__interval), type AS metric, SUM(amount) AS amount "
             f"FROM transactions WHERE $__timeFilter(created_at) AND {revenue_filter} GROUP BY 1, 2 ORDER BY 1", pg,
             result_format="time_series")], "none", stacked=True, bars=True))
    trends.append(timeseries_panel(
        "Balance trend (all users)", "Sum of every transaction amount up to each point in time: the balance all "
        "users hold together, with charges stored as negative amounts (as demo/schema.sql does; the seed does not "
        "fix the sign).", pg,
        [sql("SELECT time, (SELECT COALESCE(SUM(amount), 0) FROM transactions WHERE created_at < $__timeFrom()) "
             "+ SUM(amount) OVER (ORDER BY time) AS balance FROM (SELECT $__timeGroup(created_at, $__interval) "
             "AS time, SUM(amount) AS amount FROM transactions WHERE $__timeFilter(created_at) GROUP BY 1) "
             "AS per_interval ORDER BY 1", pg, result_format="time_series")], "none", minimum=None))
    trends.append(timeseries_panel(
        "Transaction amounts by type", "Sum of transaction amounts per interval by type: top-ups, charges and "
        "refunds side by side.", pg,
        [sql("SELECT $__timeGroupAlias(created_at, $__interval), type AS metric, SUM(amount) AS amount "
             "FROM transactions WHERE $__timeFilter(created_at) GROUP BY 1, 2 ORDER BY 1", pg,
             result_format="time_series")], "none", minimum=None))
    for index, panel in enumerate(trends):
        # Two per line; an odd last one takes the whole line so the row leaves no hole.
        grid.add(panel, 24 if index == len(trends) - 1 and len(trends) % 2 else 12, 8)

    grid.row("Who and what")
    grid.add(table_panel(
        "Top users by revenue", "The 10 users with the highest revenue amount in the selected time range.", pg,
        [sql(f"SELECT user_id, SUM(amount) AS revenue, COUNT(*) AS transactions FROM transactions "
             f"WHERE $__timeFilter(created_at) AND {revenue_filter} GROUP BY user_id ORDER BY revenue DESC "
             "LIMIT 10", pg)]), 12, 8)
    group = f"{model_column}, status" if model_column else "status"
    grid.add(table_panel(
        f"Jobs by {group.replace(', ', ' and ')}", f"Jobs created in the selected time range per {group}, with "
        "their median and P95 time to completion.", pg,
        [sql(f"SELECT {group}, COUNT(*) AS jobs, percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM "
             "completed_at - created_at)) AS median_seconds, percentile_cont(0.95) WITHIN GROUP (ORDER BY "
             "EXTRACT(EPOCH FROM completed_at - created_at)) AS p95_seconds FROM jobs "
             f"WHERE $__timeFilter(created_at) GROUP BY {group} ORDER BY jobs DESC", pg)])
             .override_by_name("median_seconds", [dashboard_models.DynamicConfigValue(id_val="unit", value="s")])
             .override_by_name("p95_seconds", [dashboard_models.DynamicConfigValue(id_val="unit", value="s")]), 12, 8)

    return assemble(context, SLUG, grid, [revenue_types_variable(context)])
