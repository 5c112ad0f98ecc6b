"""Validate the local stack's generated configs before they ship (Loki, Grafana Alloy, Prometheus).

- Prometheus: `promtool check config`, which also loads every rule file the config names (run in the generated
  tree, so the rule files are the ones generated with it);
- Alloy (not installable here): the config parses back, every component and stage is one Alloy has, every
  reference names a declared component and an export it has, and every regex compiles in RE2 (Go's engine);
- Loki (not installable here): the YAML loads, the ruler reads local storage under the path the stack mounts
  the generated rule files at, and an enabled ruler remote write names a URL for each client (Loki refuses to
  start otherwise: pkg/ruler/config.go RemoteWriteConfig.Validate).
A missing tool is a problem, never a silent pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from generator import conventions
from generator.artifacts import stack
from generator.checks.base import CheckInput, Problem, run_tool, tool_failure
from generator.syntax import alloy, fast_yaml
from generator.truth.model import MIN_STREAM_RETENTION_SECONDS
from generator.truth.types import Duration, compile_re2

REGEX_ATTRIBUTES = {"stage.replace": "expression", "stage.regex": "expression"}


def prometheus_problems(root: Path) -> list[Problem]:
    where = conventions.PROMETHEUS_CONFIG_PATH
    result = run_tool(["promtool", "check", "config", where], root)
    return [] if result.ok else [Problem(where, tool_failure("promtool check config", result), "promtool")]


def alloy_problems(text: str) -> list[Problem]:
    where = conventions.ALLOY_CONFIG_PATH
    found = [Problem(where, f"{problem}") for problem in alloy.problems(text)]
    if found:
        return found
    for component in alloy.parse(text):
        for stage_name, attribute in REGEX_ATTRIBUTES.items():
            for stage in component.find(stage_name):
                regex = stage.attributes.get(attribute)
                if not isinstance(regex, str):
                    found.append(Problem(where, f"line {stage.line}: {stage_name} needs a string `{attribute}`"))
                    continue
                try:
                    compile_re2(regex)
                except Exception as exc:
                    found.append(Problem(where, f"line {stage.line}: {stage_name} regex {regex!r} is not RE2: {exc}"))
    return found


def loki_problems(text: str) -> list[Problem]:
    where = conventions.LOKI_CONFIG_PATH
    try:
        config: Any = fast_yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [Problem(where, f"not valid YAML: {exc}")]
    storage = (config.get("ruler") or {}).get("storage") or {} if isinstance(config, dict) else {}
    if storage.get("type") != "local" or (storage.get("local") or {}).get("directory") != stack.LOKI_RULES_DIR:
        return [Problem(where, f"the ruler must read local storage at {stack.LOKI_RULES_DIR}, where the stack "
                "mounts loki/rules")]
    return remote_write_problems((config.get("ruler") or {}).get("remote_write") or {}) + retention_problems(config)


def retention_problems(config: dict[str, Any]) -> list[Problem]:
    """What Loki itself would refuse or silently ignore (grafana/loki pkg/validation/limits.go, Limits.Validate:
    a stream period under 24h stops Loki at start-up; without compactor.retention_enabled no rule deletes)."""
    where = conventions.LOKI_CONFIG_PATH
    problems = []
    limits = config.get("limits_config") or {}
    for index, rule in enumerate(limits.get("retention_stream") or []):
        try:
            period = Duration.parse(str(rule.get("period")))
        except ValueError as exc:
            problems.append(Problem(where, f"limits_config.retention_stream[{index}].period: {exc}"))
            continue
        if period.seconds < MIN_STREAM_RETENTION_SECONDS:
            problems.append(Problem(where, f"limits_config.retention_stream[{index}].period {rule.get('period')} "
                                           "is under 24h: Loki refuses to start"))
    if limits.get("retention_stream") and not (config.get("compactor") or {}).get("retention_enabled"):
        problems.append(Problem(where, "retention rules without compactor.retention_enabled: nothing would be "
                                       "deleted"))
    return problems


def remote_write_problems(remote_write: dict[str, Any]) -> list[Problem]:
    """Loki's own validation of `ruler.remote_write` (pkg/ruler/config.go RemoteWriteConfig.Validate): enabled
    needs the deprecated `client` with a URL or at least one of `clients`, and every one of `clients` a URL."""
    where = conventions.LOKI_CONFIG_PATH
    if not remote_write.get("enabled"):
        return []
    clients = remote_write.get("clients") or {}
    if not (remote_write.get("client") or {}).get("url") and not clients:
        return [Problem(where, "ruler.remote_write: remote-write enabled but no clients URL are configured")]
    return [Problem(where, f"ruler.remote_write.clients.{name}: remote-write enabled but client {name!r} has no url")
            for name, client in clients.items() if not (client or {}).get("url")]


def check(inp: CheckInput) -> list[Problem]:
    contents = {a.path: a.content for a in inp.artifacts}
    problems: list[Problem] = []
    if conventions.PROMETHEUS_CONFIG_PATH in contents:
        problems += prometheus_problems(inp.root)
    if conventions.ALLOY_CONFIG_PATH in contents:
        problems += alloy_problems(contents[conventions.ALLOY_CONFIG_PATH])
    if conventions.LOKI_CONFIG_PATH in contents:
        problems += loki_problems(contents[conventions.LOKI_CONFIG_PATH])
    return problems
