"""Validate the local stack's generated configs before they ship (Loki, Grafana Alloy, Prometheus).

- Prometheus: `promtool check config`, which also loads every rule file the config names (run in the generated
  tree, so the rule files are the ones generated with it);
- Alloy (not installable here): the config parses back, every component and stage is one Alloy has, every
  reference names a declared component and an export it has, and every regex compiles in RE2 (Go's engine);
- Loki (not installable here): the YAML loads, and the ruler reads local storage under the path the stack mounts
  the generated rule files at.
A missing tool is a problem, never a silent pass.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from generator.artifacts import stack
from generator.artifacts.base import Artifact
from generator.syntax import alloy
from generator.truth.types import compile_re2

TOOL_TIMEOUT_SECONDS = 120
REGEX_ATTRIBUTES = {"stage.replace": "expression", "stage.regex": "expression"}


def prometheus_problems(root: Path) -> list[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        return [f"{stack.PROMETHEUS_CONFIG_PATH}: not validated: promtool is not installed (`make deps`)"]
    try:
        done = subprocess.run([promtool, "check", "config", stack.PROMETHEUS_CONFIG_PATH], cwd=root,
                              capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return [f"promtool check config timed out after {TOOL_TIMEOUT_SECONDS}s"]
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        return ["promtool check config failed:\n" + "\n".join(f"  {line}" for line in output.splitlines())]
    return []


def alloy_problems(text: str) -> list[str]:
    where = stack.ALLOY_CONFIG_PATH
    found = [f"{where}: {problem}" for problem in alloy.problems(text)]
    if found:
        return found
    for component in alloy.parse(text):
        for stage_name, attribute in REGEX_ATTRIBUTES.items():
            for stage in component.find(stage_name):
                regex = stage.attributes.get(attribute)
                if not isinstance(regex, str):
                    found.append(f"{where}: line {stage.line}: {stage_name} needs a string `{attribute}`")
                    continue
                try:
                    compile_re2(regex)
                except Exception as exc:
                    found.append(f"{where}: line {stage.line}: {stage_name} regex {regex!r} is not RE2: {exc}")
    return found


def loki_problems(text: str) -> list[str]:
    where = stack.LOKI_CONFIG_PATH
    try:
        config: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{where}: not valid YAML: {exc}"]
    storage = (config.get("ruler") or {}).get("storage") or {} if isinstance(config, dict) else {}
    if storage.get("type") != "local" or (storage.get("local") or {}).get("directory") != stack.LOKI_RULES_DIR:
        return [f"{where}: the ruler must read local storage at {stack.LOKI_RULES_DIR}, where the stack "
                "mounts loki/rules"]
    return []


def validate(root: Path, artifacts: list[Artifact]) -> list[str]:
    contents = {a.path: a.content for a in artifacts}
    problems: list[str] = []
    if stack.PROMETHEUS_CONFIG_PATH in contents:
        problems += prometheus_problems(root)
    if stack.ALLOY_CONFIG_PATH in contents:
        problems += alloy_problems(contents[stack.ALLOY_CONFIG_PATH])
    if stack.LOKI_CONFIG_PATH in contents:
        problems += loki_problems(contents[stack.LOKI_CONFIG_PATH])
    return problems
