"""Exporter configs, checked by the exporters themselves: `prometheus-blackbox-exporter --config.check`. The
postgres_exporter queries run against a real PostgreSQL in the tests; json_exporter is not installable here."""

from __future__ import annotations

from generator import conventions
from generator.checks.base import CheckInput, Problem, run_tool, tool_failure


def check(inp: CheckInput) -> list[Problem]:
    if inp.find(conventions.BLACKBOX_FILE) is None:
        return []
    result = run_tool(["prometheus-blackbox-exporter", "--config.check",
                       f"--config.file={inp.root / conventions.BLACKBOX_FILE}"], inp.root)
    if not result.ok:
        return [Problem(conventions.BLACKBOX_FILE,
                        tool_failure(f"blackbox exporter --config.check {conventions.BLACKBOX_FILE}", result),
                        "blackbox-exporter")]
    return []
