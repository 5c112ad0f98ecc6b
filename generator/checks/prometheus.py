"""Validate the generated metric-side artifacts with the real tools before they ship.

- `promtool check rules` on every rule file and `promtool test rules` on the generated unit tests;
- `amtool check-config` on alertmanager.yml, and `amtool config routes test --verify.receivers` proving each tier's
  `tier` label lands at the receiver its notify mode demands;
- `prometheus-blackbox-exporter --config.check` on the blackbox module.
A missing tool is a problem, never a silent pass: generation must not ship unvalidated files.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from generator.artifacts import alertmanager, exporters, prometheus_rules, promtool_tests
from generator.artifacts.base import Artifact

TOOL_TIMEOUT_SECONDS = 120


def _run(args: list[str], cwd: Path) -> tuple[int, str]:
    tool = shutil.which(args[0])
    if tool is None:
        return 127, f"{args[0]} is not installed (Debian package: see `make deps`)"
    try:
        done = subprocess.run([tool, *args[1:]], cwd=cwd, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"{args[0]} timed out after {TOOL_TIMEOUT_SECONDS}s"
    return done.returncode, (done.stdout + done.stderr).strip()


def _failed(what: str, output: str) -> str:
    return f"{what} failed:\n" + "\n".join(f"  {line}" for line in output.splitlines())


def tier_labels(config_path: Path) -> list[tuple[str, str]]:
    """(tier, expected receiver) for each tier route of the generated tree: read back from the file itself."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    found = []
    for route in config["route"].get("routes", []):
        for matcher in route.get("matchers", []):
            name, _, value = matcher.partition("=")
            if name == "tier":
                found.append((value.strip('"'), route["receiver"]))
    return found


def alertmanager_problems(root: Path, truth_tiers: dict[str, str] | None = None) -> list[str]:
    """`truth_tiers`: tier -> receiver the truth demands; defaults to what the file's own routes say."""
    root = root.resolve()  # the tools run with cwd=root: paths must not be relative to the caller's cwd
    config = root / alertmanager.CONFIG_FILE
    code, output = _run(["amtool", "check-config", str(config)], root)
    if code != 0:
        return [_failed(f"amtool check-config {alertmanager.CONFIG_FILE}", output)]
    problems = []
    expectations = truth_tiers or dict(tier_labels(config))
    for tier, receiver in sorted(expectations.items()):
        code, output = _run(["amtool", "config", "routes", "test", f"--config.file={config}",
                             f"--verify.receivers={receiver}", f"tier={tier}"], root)
        if code != 0:
            problems.append(_failed(f"amtool config routes test: tier={tier} should reach {receiver}", output))
    return problems


def validate(root: Path, artifacts: list[Artifact]) -> list[str]:
    root = root.resolve()  # the tools run with cwd=root: paths must not be relative to the caller's cwd
    paths = {a.path for a in artifacts}
    problems: list[str] = []
    rules_dir = root / Path(prometheus_rules.RULES_FILE).parent
    if prometheus_rules.RULES_FILE in paths:
        rule_files = sorted(p for p in paths if p.startswith("alerts/prometheus/") and p != promtool_tests.TESTS_FILE)
        code, output = _run(["promtool", "check", "rules", *[str(root / p) for p in rule_files]], root)
        if code != 0:
            problems.append(_failed("promtool check rules", output))
        elif promtool_tests.TESTS_FILE in paths:
            code, output = _run(["promtool", "test", "rules", Path(promtool_tests.TESTS_FILE).name], rules_dir)
            if code != 0:
                problems.append(_failed(f"promtool test rules {promtool_tests.TESTS_FILE}", output))
    if alertmanager.CONFIG_FILE in paths:
        problems += alertmanager_problems(root)
    if exporters.BLACKBOX_FILE in paths:
        code, output = _run(["prometheus-blackbox-exporter", "--config.check",
                             f"--config.file={root / exporters.BLACKBOX_FILE}"], root)
        if code != 0:
            problems.append(_failed(f"blackbox exporter --config.check {exporters.BLACKBOX_FILE}", output))
    return problems
