"""Prometheus rules, checked by Prometheus' own tool: `promtool check rules` on the rule files and the generated
unit tests with `promtool test rules`, started together (the tests' answer counts only when the rules pass).

The tests are the slowest check of a run: promtool opens a test storage per test group and evaluates every rule at
every step up to the group's last eval_time. So the cases that cannot observe each other are packed into few groups
first (`promtool_packing`: 71 cases -> 18 groups), and the groups run as two promtool processes of about equal
work, on both cores. A failing group is run again with its cases one group each, so the report names the failing
case as an unpacked run would.
"""

from __future__ import annotations

import glob
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from generator import conventions
from generator.checks import promtool_packing
from generator.checks.base import CheckInput, Problem, ToolResult, run_tool, tool_failure
from generator.syntax import fast_yaml
from generator.truth.types import Duration

SHARDS = 2
# What a group costs promtool beyond its evaluation steps (opening its test storage, loading the rules), in steps:
# about 20 ms against 1.7 ms per step of the 41 generated rules, measured with promtool 2.42.
GROUP_COST_IN_STEPS = 12

# A shard's promtool groups, each with the indexes of the cases it holds.
Shard = list[tuple[list[int], dict[str, Any]]]


def check(inp: CheckInput) -> list[Problem]:
    rule_files = sorted(p for p in inp.paths() if p != conventions.PROMTOOL_TESTS_FILE)
    if not rule_files:
        return []
    tests = inp.find(conventions.PROMTOOL_TESTS_FILE)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The unit tests start with the rule check, not after it; they count only when the rules pass it.
        tested = pool.submit(run_unit_tests, inp.root / tests.path) if tests is not None else None
        result = run_tool(["promtool", "check", "rules", *[str(inp.root / p) for p in rule_files]], inp.root)
        if not result.ok:
            return [Problem(rule_files[0], tool_failure("promtool check rules", result), "promtool")]
        if tests is None or tested is None:
            return []
        result = tested.result()
    if not result.ok:
        return [Problem(tests.path, tool_failure(f"promtool test rules {tests.path}", result), "promtool")]
    return []


def case_groups(cases: list[dict[str, Any]], rule_files: list[str]) -> list[list[int]]:
    """The cases packed into groups; one group per case when the rule files cannot be read here (promtool, which
    reads them too, then says why)."""
    try:
        paths = [Path(found) for pattern in rule_files for found in sorted(glob.glob(pattern))]
        rules = promtool_packing.rules_of(paths)
    except (OSError, yaml.YAMLError, AttributeError):
        return [[index] for index in range(len(cases))]
    return promtool_packing.pack(cases, rules)


def balanced_shards(costs: list[float], count: int) -> list[list[int]]:
    """Indexes of `costs` split into at most `count` shards of about equal total: the costliest first, each to the
    shard with the least so far."""
    shards: list[list[int]] = [[] for _ in range(max(1, min(count, len(costs))))]
    totals = [0.0] * len(shards)
    for index in sorted(range(len(costs)), key=lambda i: -costs[i]):
        lightest = totals.index(min(totals))
        shards[lightest].append(index)
        totals[lightest] += costs[index]
    return [sorted(shard) for shard in shards]


def evaluation_step(document: dict[str, Any]) -> float:
    try:
        return Duration.parse(str(document.get("evaluation_interval", "1m"))).seconds or 60.0
    except ValueError:
        return 60.0  # promtool rejects the file itself; this only weighs the shards


def failed_cases(shard: Shard, output: str) -> list[int]:
    """The cases of the shard's groups that promtool names as failed; all of the shard's cases when it names none
    of them (the whole file failed, e.g. a rule file that does not load)."""
    failed = promtool_packing.failed_group_names(output, {str(group.get("name", "")) for _cases, group in shard})
    chosen = [cases for cases, group in shard if str(group.get("name", "")) in failed] if failed else \
        [cases for cases, _group in shard]
    return [index for cases in chosen for index in cases]


def run_unit_tests(test_file: Path, shards: int = SHARDS) -> ToolResult:
    """`promtool test rules` over the file's cases, packed and split into shards run at once; one result."""
    document: dict[str, Any] = fast_yaml.safe_load(test_file.read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = document.get("tests") or []
    # Rule files are relative to the test file: absolute paths keep them valid from the scratch folder.
    rule_files = [str((test_file.parent / f).resolve()) for f in document.get("rule_files", [])]
    groups = case_groups(cases, rule_files)
    step = evaluation_step(document)
    costs = [GROUP_COST_IN_STEPS + max(promtool_packing.last_eval_seconds(cases[i]) for i in group) / step
             for group in groups]
    packed = [(group, promtool_packing.packed_group(number, [cases[i] for i in group]))
              for number, group in enumerate(groups, 1)]
    split: list[Shard] = [[packed[i] for i in shard] for shard in balanced_shards(costs, shards)]
    with tempfile.TemporaryDirectory(prefix="obsctl-promtool-") as scratch:
        def written(name: str, tests: list[dict[str, Any]]) -> Path:
            path = Path(scratch) / name
            content = {**document, "rule_files": rule_files, "tests": tests}
            path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")  # JSON is YAML, and quick
            return path

        shard_files = [written(f"shard-{n}.yaml", [group for _cases, group in shard]) for n, shard in enumerate(split)]
        with ThreadPoolExecutor(max_workers=max(1, len(shard_files))) as pool:
            results = list(pool.map(promtool_test, shard_files))
        if all(result.ok for result in results):
            return ToolResult(0, "")
        # The cases of every failed group again, one group each as in the file: promtool names the failing ones.
        again = sorted(index for shard, result in zip(split, results, strict=True) if not result.ok
                       for index in failed_cases(shard, result.output))
        return promtool_test(written(test_file.name, [cases[i] for i in again]))


def promtool_test(test_file: Path) -> ToolResult:
    return run_tool(["promtool", "test", "rules", str(test_file)], test_file.parent)
