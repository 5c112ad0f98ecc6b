"""Alertmanager routing, checked by Alertmanager's own tool: `amtool check-config` on alertmanager.yml, and
`amtool config routes test --verify.receivers` proving each tier's `tier` label lands at the receiver its notify
mode demands."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generator import conventions
from generator.checks.base import CheckInput, Problem, run_tool, tool_failure
from generator.syntax import fast_yaml


def tier_labels(config_path: Path) -> list[tuple[str, str]]:
    """(tier, expected receiver) for each tier route of the generated tree: read back from the file itself."""
    config = fast_yaml.safe_load(config_path.read_text(encoding="utf-8"))
    found = []
    for route in config["route"].get("routes", []):
        for matcher in route.get("matchers", []):
            name, _, value = matcher.partition("=")
            if name == "tier":
                found.append((value.strip('"'), route["receiver"]))
    return found


def alertmanager_problems(root: Path, truth_tiers: dict[str, str] | None = None) -> list[Problem]:
    """`truth_tiers`: tier -> receiver the truth demands; defaults to what the file's own routes say."""
    root = root.resolve()  # the tools run with cwd=root: paths must not be relative to the caller's cwd
    where = conventions.ALERTMANAGER_CONFIG_FILE
    config = root / where
    result = run_tool(["amtool", "check-config", str(config)], root)
    if not result.ok:
        return [Problem(where, tool_failure(f"amtool check-config {where}", result), "amtool")]
    expectations = sorted((truth_tiers or dict(tier_labels(config))).items())
    # One amtool process per tier, all at once: each answers in milliseconds, but they add up in series.
    with ThreadPoolExecutor(max_workers=max(1, len(expectations))) as pool:
        results = list(pool.map(lambda item: run_tool(
            ["amtool", "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={item[1]}",
             f"tier={item[0]}"], root), expectations))
    return [Problem(where, tool_failure(f"amtool config routes test: tier={tier} should reach {receiver}", result),
                    "amtool")
            for (tier, receiver), result in zip(expectations, results, strict=True) if not result.ok]


def check(inp: CheckInput) -> list[Problem]:
    if inp.find(conventions.ALERTMANAGER_CONFIG_FILE) is None:
        return []
    return alertmanager_problems(inp.root)
