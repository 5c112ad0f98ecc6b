"""Shared panel building blocks: queries, colour bands tied to alerts, panel constructors and the grid layout.

Every dashboard module builds its panels with these, so every panel has a description, a datasource, a position
on the 24-column grid and, where an alert watches the same value, colour steps stated in the alert's own numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

with warnings.catch_warnings():
    # The SDK nudges towards its v2 dashboard schema; file provisioning still reads the classic JSON model.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as dashboard_builders
    from grafana_foundation_sdk.builders import gauge, logs, loki, prometheus, stat, table, text, timeseries
    from grafana_foundation_sdk.cog import builder as cogbuilder
    from grafana_foundation_sdk.cog import variants as cogvariants
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as dashboard_models

from generator.conventions import alert_name

GRID_COLUMNS = 24

# Grafana's named colours, one meaning each across all dashboards.
OK = "green"
LOW = "blue"  # below the normal range: not an alert, but unusual (e.g. no traffic)
ABOVE_NORMAL = "yellow"  # above the normal range or the target, no alert yet
WARNING = "orange"
CRITICAL = "red"


# --- colour steps ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One colour band: from `value` (inclusive, Grafana's rule) upwards; `value=None` is the base band.

    `alert_id` names the alert that fires in this band; the panel description then states the alert next to the
    number, and tests check the number against the alert's truth threshold.
    """

    value: float | None
    color: str
    meaning: str
    alert_id: str | None = None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def thresholds(steps: Sequence[Step]) -> dashboard_builders.ThresholdsConfig:
    values = [s.value for s in steps[1:]]
    if steps[0].value is not None or any(v is None for v in values) or values != sorted(values):  # type: ignore[type-var]
        raise ValueError(f"colour steps must start with a base band and ascend: {steps}")
    return (dashboard_builders.ThresholdsConfig().mode(dashboard_models.ThresholdsMode.ABSOLUTE)
            .steps([dashboard_models.Threshold(value=s.value, color=s.color) for s in steps]))


def describe_steps(steps: Sequence[Step], unit_label: str) -> str:
    """The colour legend written into a panel description, e.g. `red from 480 MB: alert RenderMemoryCritical`."""
    suffix = f" {unit_label}" if unit_label else ""
    lines = []
    for step in steps:
        where = "base" if step.value is None else f"from {_number(step.value)}{suffix}"
        alert = f"; alert {alert_name(step.alert_id)}" if step.alert_id else ""
        lines.append(f"- {step.color} {where}: {step.meaning}{alert}")
    return "Colours:\n" + "\n".join(lines)


def first_firing_value(threshold: float, integer_valued: bool) -> float:
    """Where the red band starts for an alert that fires when the value is *above* `threshold`.

    Grafana colours a step from its value inclusive. For a count (integer values) the first value that fires is
    threshold + 1, so the colour flips exactly when the alert does; for a continuous measure it is the threshold.
    """
    return threshold + 1 if integer_valued else threshold


# --- queries -----------------------------------------------------------------------------------------------------


class SqlQuery(cogvariants.Dataquery):
    """A Grafana SQL datasource query (the SDK ships no PostgreSQL query model; the JSON shape is Grafana's)."""

    def __init__(self, ref_id: str, raw_sql: str, result_format: str, datasource: common.DataSourceRef) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.result_format = result_format  # "table" or "time_series"
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": self.datasource, "editorMode": "code", "format": self.result_format,
                "rawQuery": True, "rawSql": self.raw_sql}


class SqlQueryBuilder(cogbuilder.Builder[SqlQuery]):
    def __init__(self, query: SqlQuery) -> None:
        self._query = query

    def build(self) -> SqlQuery:
        return self._query


def logql(expr: str, ref_id: str = "A", legend: str | None = None, instant: bool = False) -> loki.Dataquery:
    query = loki.Dataquery().expr(expr).ref_id(ref_id).query_type("instant" if instant else "range")
    return query.legend_format(legend) if legend else query


def logql_lines(expr: str, max_lines: int) -> loki.Dataquery:
    return loki.Dataquery().expr(expr).ref_id("A").query_type("range").max_lines(max_lines)


def promql(expr: str, ref_id: str = "A", legend: str | None = None, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref_id)
    query = query.instant() if instant else query.range()
    return query.legend_format(legend) if legend else query


def sql(raw_sql: str, datasource: common.DataSourceRef, ref_id: str = "A",
        result_format: str = "table") -> SqlQueryBuilder:
    return SqlQueryBuilder(SqlQuery(ref_id, " ".join(raw_sql.split()), result_format, datasource))


# --- panels ------------------------------------------------------------------------------------------------------


def _description(text_: str, steps: Sequence[Step] | None, unit_label: str) -> str:
    text_ = text_.strip()
    if not text_:
        raise ValueError("every panel needs a description")
    return f"{text_}\n\n{describe_steps(steps, unit_label)}" if steps else text_


def _with_common(panel: Any, title: str, description: str, datasource: common.DataSourceRef | None,
                 targets: Sequence[cogbuilder.Builder[Any]]) -> Any:
    panel = panel.title(title).description(description)
    if datasource is not None:
        panel = panel.datasource(datasource)
    return panel.targets(list(targets)) if targets else panel


def stat_panel(title: str, description: str, datasource: common.DataSourceRef,
               targets: Sequence[cogbuilder.Builder[Any]], unit: str, steps: Sequence[Step],
               unit_label: str = "", calc: str = "lastNotNull", decimals: int | None = None,
               graph: bool = True, mappings: list[Any] | None = None) -> stat.Panel:
    panel = (_with_common(stat.Panel(), title, _description(description, steps, unit_label), datasource, targets)
             .unit(unit).thresholds(thresholds(steps))
             .color_scheme(dashboard_builders.FieldColor().mode(dashboard_models.FieldColorModeId.THRESHOLDS))
             .color_mode(common.BigValueColorMode.BACKGROUND)
             .graph_mode(common.BigValueGraphMode.AREA if graph else common.BigValueGraphMode.NONE)
             .reduce_options(common_builders.ReduceDataOptions().calcs([calc]).values(False)))
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        panel = panel.mappings(mappings)
    return panel


def gauge_panel(title: str, description: str, datasource: common.DataSourceRef,
                targets: Sequence[cogbuilder.Builder[Any]], unit: str, steps: Sequence[Step], minimum: float,
                maximum: float, unit_label: str = "") -> gauge.Panel:
    return (_with_common(gauge.Panel(), title, _description(description, steps, unit_label), datasource, targets)
            .unit(unit).min(minimum).max(maximum).thresholds(thresholds(steps))
            .show_threshold_markers(True).show_threshold_labels(True)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))


def timeseries_panel(title: str, description: str, datasource: common.DataSourceRef,
                     targets: Sequence[cogbuilder.Builder[Any]], unit: str, steps: Sequence[Step] | None = None,
                     unit_label: str = "", minimum: float | None = 0, maximum: float | None = None,
                     stacked: bool = False, bars: bool = False) -> timeseries.Panel:
    panel = (_with_common(timeseries.Panel(), title, _description(description, steps, unit_label), datasource,
                          targets)
             .unit(unit)
             .legend(common_builders.VizLegendOptions().show_legend(True)
                     .display_mode(common.LegendDisplayMode.TABLE).placement(common.LegendPlacement.BOTTOM)
                     .calcs(["lastNotNull", "max"]))
             .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.DESCENDING))
             .fill_opacity(10).line_width(1).span_nulls(False))
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS).fill_opacity(80)
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if minimum is not None:
        panel = panel.min(minimum)
    if maximum is not None:
        panel = panel.max(maximum)
    if steps:
        # Threshold lines on the graph: the alert numbers are visible next to the data.
        panel = (panel.thresholds(thresholds(steps))
                 .thresholds_style(common_builders.GraphThresholdsStyleConfig()
                                   .mode(common.GraphThresholdsStyleMode.LINE_AND_AREA)))
    return panel


def table_panel(title: str, description: str, datasource: common.DataSourceRef,
                targets: Sequence[cogbuilder.Builder[Any]], unit: str = "none",
                steps: Sequence[Step] | None = None, unit_label: str = "") -> table.Panel:
    panel = (_with_common(table.Panel(), title, _description(description, steps, unit_label), datasource, targets)
             .unit(unit).show_header(True).filterable(True))
    return panel.thresholds(thresholds(steps)) if steps else panel


def logs_panel(title: str, description: str, datasource: common.DataSourceRef, expr: str,
               max_lines: int) -> logs.Panel:
    return (_with_common(logs.Panel(), title, _description(description, None, ""), datasource,
                         [logql_lines(expr, max_lines)])
            .show_time(True).wrap_log_message(True).enable_log_details(True).show_labels(False)
            .show_common_labels(False).prettify_log_message(False)
            .sort_order(common.LogsSortOrder.DESCENDING).dedup_strategy(common.LogsDedupStrategy.NONE))


def text_panel(title: str, description: str, markdown: str) -> text.Panel:
    return (text.Panel().title(title).description(_description(description, None, ""))
            .mode(_text_mode_markdown()).content(markdown))


def _text_mode_markdown() -> Any:
    from grafana_foundation_sdk.models import text as text_models

    return text_models.TextMode.MARKDOWN


def alert_list_panel(title: str, description: str, alert_ids: Sequence[str]) -> dashboard_builders.Panel:
    """Grafana's alert list (the SDK has no typed builder for it): firing and pending alerts among `alert_ids`.

    Every generated rule, Loki or Prometheus, carries the `alert_id` label, so one label filter selects exactly the
    alerts this dashboard is about, from every rule source Grafana knows (`datasource` unset).
    """
    ids = "|".join(sorted(set(alert_ids)))
    options = {
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 20,
        "sortOrder": 3,  # importance
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": '{alert_id=~"' + ids + '"}',
        "datasource": None,
        "folder": None,
        "showInactiveAlerts": False,
        "showInstances": True,
        "stateFilter": {"firing": True, "pending": True, "recovering": True, "noData": False, "normal": False,
                        "error": True},
    }
    return (dashboard_builders.Panel().type("alertlist").title(title)
            .description(_description(description, None, "")).options(options))


# --- layout ------------------------------------------------------------------------------------------------------


@dataclass
class Grid:
    """Places panels left to right on Grafana's 24-column grid; a panel that does not fit starts a new line.

    Rows (section headers) always start a new line. Panel ids are assigned in placement order, so they are unique
    and stable across runs.
    """

    panels: list[Any] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _line_height: int = 0
    _next_id: int = 1

    @classmethod
    def under_alert_list(cls, title: str, description: str, alert_ids: Sequence[str], height: int) -> Grid:
        """A dashboard's grid, opened by the full-width list of the alerts it is about (what on-call looks at first)."""
        grid = cls()
        grid.add(alert_list_panel(title, description, alert_ids), GRID_COLUMNS, height)
        return grid

    def _new_line(self) -> None:
        if self._x:
            self._y += self._line_height
        self._x = 0
        self._line_height = 0

    def row(self, title: str) -> Self:
        self._new_line()
        row = dashboard_models.RowPanel(title=title, collapsed=False, id_val=self._next_id,
                                        grid_pos=dashboard_models.GridPos(h=1, w=GRID_COLUMNS, x=0, y=self._y))
        self._next_id += 1
        self.panels.append(row)
        self._y += 1
        return self

    def add(self, panel: cogbuilder.Builder[Any], width: int, height: int) -> Self:
        if not 0 < width <= GRID_COLUMNS:
            raise ValueError(f"panel width {width} does not fit the {GRID_COLUMNS}-column grid")
        if self._x + width > GRID_COLUMNS:
            self._new_line()
        built = panel.build()
        built.id_val = self._next_id
        built.grid_pos = dashboard_models.GridPos(h=height, w=width, x=self._x, y=self._y)
        self._next_id += 1
        self.panels.append(built)
        self._x += width
        self._line_height = max(self._line_height, height)
        if self._x == GRID_COLUMNS:
            self._new_line()
        return self

    def add_row_of(self, panels: Sequence[cogbuilder.Builder[Any]], height: int) -> Self:
        """Panels sharing full lines evenly: as few lines as allow at most 6 per line, widths summing to 24."""
        if not panels:
            return self
        lines = -(-len(panels) // 6)
        per_line = -(-len(panels) // lines)
        for start in range(0, len(panels), per_line):
            chunk = panels[start:start + per_line]
            widths = [GRID_COLUMNS // len(chunk)] * len(chunk)
            for index in range(GRID_COLUMNS - sum(widths)):
                widths[index] += 1
            self._new_line()
            for panel, width in zip(chunk, widths, strict=True):
                self.add(panel, width, height)
        return self
