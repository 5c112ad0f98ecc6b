"""Render resources: CPU share of the limit, memory against the 512 MB instance, requests per minute against the
seed's bands, instance count and bandwidth."""

from __future__ import annotations

from typing import Any

from generator import conventions
from generator.artifacts.dashboards import queries as q
from generator.artifacts.dashboards.common import Context, assemble
from generator.artifacts.dashboards.panels import (
    ABOVE_NORMAL,
    CRITICAL,
    LOW,
    OK,
    WARNING,
    Grid,
    Step,
    gauge_panel,
    promql,
    stat_panel,
    timeseries_panel,
)
from generator.truth import Truth
from generator.truth.model import Bands

SLUG = "render"


def alert_ids(truth: Truth) -> list[str]:
    platform = truth.render
    bands = (platform.cpu_percent, platform.memory_mb, platform.requests_per_minute)
    return [*(b.warning_id for b in bands), *(b.critical_id for b in bands), platform.latency_alert.id,
            *(e.id for e in truth.events)]


def band_steps(bands: Bands, unit_label: str, below_normal_is_unusual: bool) -> list[Step]:
    """Normal, above-normal, warning and critical bands; the last two are the alerts' own thresholds."""
    suffix = f" {unit_label}" if unit_label else ""
    normal = f"normal ({bands.normal.from_:g}-{bands.normal.to:g}{suffix})"
    steps = []
    if below_normal_is_unusual:
        steps += [Step(None, LOW, f"below normal (under {bands.normal.from_:g}{suffix})"),
                  Step(bands.normal.from_, OK, normal)]
    else:
        steps.append(Step(None, OK, f"up to the top of the {normal} range"))
    if bands.warning_above > bands.normal.to:
        steps.append(Step(bands.normal.to, ABOVE_NORMAL, "above normal, below the warning band"))
    steps += [Step(bands.warning_above, WARNING, f"warning (sustained {bands.sustained})", bands.warning_id),
              Step(bands.critical_above, CRITICAL, f"critical (sustained {bands.sustained})", bands.critical_id)]
    return steps


def recorded_max(truth: Truth, record: str) -> str:
    """A recorded series the resource alerts compare (CPU share, memory, requests per minute), highest instance."""
    return f"max({q.platform_series(truth, record)})"


# Grafana's unit ids: `mbytes` is mebibytes (IEC), `decmbytes` megabytes (SI) (Grafana
# packages/grafana-data/src/valueFormats/categories.ts, "Data (IEC)" and "Data (Metric)").
GRAFANA_MEMORY_UNIT = {"MiB": "mbytes", "MB": "decmbytes"}


def memory_limit_mb(truth: Truth) -> str:
    return f"max({q.platform_raw(truth, 'memory_limit')}) / {truth.service.memory_unit_bytes}"


def instance_count(truth: Truth) -> str:
    # Render streams no instance count: each instance reports its own memory series.
    return f"count({q.platform_raw(truth, 'memory_usage')}) or vector(0)"


def build(context: Context) -> dict[str, Any]:
    truth = context.truth
    cpu_query, memory_query, rpm_query = (recorded_max(truth, record) for record in (
        conventions.PLATFORM_CPU_PERCENT, conventions.names(truth).platform_memory_record,
        conventions.PLATFORM_REQUESTS_PER_MINUTE))
    prom = context.ds("prometheus")
    platform = truth.render
    grid = Grid.under_alert_list(
        "Firing resource alerts", "Firing and pending alerts about CPU, memory, traffic, latency, OOM kills and "
        "startup failures.", alert_ids(truth), 6)

    grid.row("CPU")
    cpu = platform.cpu_percent
    cpu_steps = band_steps(cpu, "%", below_normal_is_unusual=False)
    grid.add(gauge_panel(
        "CPU (share of limit)", "CPU time used per second as a share of the instance's CPU limit, busiest "
        f"instance. Normal {cpu.normal.from_:g}-{cpu.normal.to:g} %; above {cpu.critical_above:g} % throttling "
        "is likely.", prom, [promql(cpu_query, instant=True)], "percent", cpu_steps, 0, 100, "%"), 6, 8)
    grid.add(timeseries_panel(
        "CPU over time (share of limit)", "CPU use as a share of the limit, busiest instance; the threshold lines "
        "are the warning and critical alert thresholds.", prom,
        [promql(cpu_query, legend="CPU % of limit")], "percent", cpu_steps, "%", maximum=100), 18, 8)

    grid.row("Memory")
    memory = platform.memory_mb
    instance_mb = truth.service.instance_memory_mb
    unit = truth.service.memory_unit
    memory_steps = band_steps(memory, unit, below_normal_is_unusual=False)
    grid.add(gauge_panel(
        f"Memory (of {instance_mb} {unit})", f"Memory used by the largest instance in {unit} "
        f"({truth.service.memory_unit_bytes} bytes), against the {instance_mb} {unit} instance: an OOM kill "
        "restarts the bot.", prom,
        [promql(memory_query, instant=True)], GRAFANA_MEMORY_UNIT[unit], memory_steps, 0, instance_mb, unit),
        6, 8)
    grid.add(timeseries_panel(
        "Memory over time", f"Memory of the largest instance and Render's limit, in {unit}; warning above "
        f"{memory.warning_above:g} {unit}, critical above {memory.critical_above:g} {unit}.", prom,
        [promql(memory_query, "A", "memory used"), promql(memory_limit_mb(truth), "B", "limit")],
        GRAFANA_MEMORY_UNIT[unit], memory_steps, unit, maximum=instance_mb), 18, 8)

    grid.row("Traffic")
    rpm = platform.requests_per_minute
    rpm_steps = band_steps(rpm, "req/min", below_normal_is_unusual=True)
    grid.add(stat_panel(
        "Requests per minute", f"HTTP requests per minute to the web service. Normal {rpm.normal.from_:g}-"
        f"{rpm.normal.to:g}; above {rpm.warning_above:g} a traffic spike, above {rpm.critical_above:g} a "
        "possible attack; below normal Telegram may have stopped delivering.", prom,
        [promql(rpm_query)], "reqpm", rpm_steps, "req/min"), 6, 8)
    grid.add(timeseries_panel(
        "Requests per minute by status", "HTTP requests per minute by status code; the thresholds apply to the "
        "total.", prom,
        [promql(rpm_query, "A", "total"),
         promql(f"60 * sum by (status_code) (rate({q.platform_raw(truth, 'http_requests')}[{q.RATE_INTERVAL}]))",
                "B", "{{status_code}}")],
        "reqpm", rpm_steps, "req/min"), 18, 8)

    grid.row("Instances and bandwidth")
    grid.add(stat_panel(
        "Instances", "Instances of the web service currently reporting metrics (each streams its own memory "
        "series). 0 means the service is down, suspended or not streaming metrics.", prom,
        [promql(instance_count(truth))], "none",
        [Step(None, CRITICAL, "no instance running"), Step(1, OK, "running")], "instances"), 6, 8)
    grid.add(timeseries_panel(
        "Bandwidth", "Network bytes per second sent and received by the web service (all instances).", prom,
        [promql(f"sum(rate({q.platform_raw(truth, 'network_transmit')}[{q.RATE_INTERVAL}]))", "A", "sent"),
         promql(f"sum(rate({q.platform_raw(truth, 'network_receive')}[{q.RATE_INTERVAL}]))", "B", "received")],
        "Bps"), 18, 8)

    return assemble(context, SLUG, grid)
