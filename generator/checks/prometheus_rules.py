"""Prometheus rules, checked by Prometheus' own tool: `promtool check rules` on the rule files, then the generated
unit tests with `promtool test rules`. The tests are the slowest check of a run (each case evaluates every rule over
its series), so they run as two promtool processes over halves of the cases, on both cores."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from generator import conventions
from generator.checks.base import CheckInput, Problem, ToolResult, run_tool, tool_failure

SHARDS = 2


def check(inp: CheckInput) -> list[Problem]:
    rule_files = sorted(p for p in inp.paths() if p != conventions.PROMTOOL_TESTS_FILE)
    if not rule_files:
        return []
    result = run_tool(["promtool", "check", "rules", *[str(inp.root / p) for p in rule_files]], inp.root)
    if not result.ok:
        return [Problem(rule_files[0], tool_failure("promtool check rules", result), "promtool")]
    tests = inp.find(conventions.PROMTOOL_TESTS_FILE)
    if tests is None:
        return []
    result = run_unit_tests(inp.root / tests.path)
    if not result.ok:
        return [Problem(tests.path, tool_failure(f"promtool test rules {tests.path}", result), "promtool")]
    return []


def run_unit_tests(test_file: Path) -> ToolResult:
    """`promtool test rules` over the file's cases, split into shards run at once; one result, outputs joined."""
    document: dict[str, Any] = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    cases = document.get("tests") or []
    shard_count = max(1, min(SHARDS, len(cases)))
    with tempfile.TemporaryDirectory(prefix="obsctl-promtool-") as scratch:
        shard_files = []
        for index in range(shard_count):
            # Rule files are relative to the test file: absolute paths keep them valid from the scratch folder.
            shard = {**document,
                     "rule_files": [str((test_file.parent / f).resolve()) for f in document.get("rule_files", [])],
                     "tests": cases[index::shard_count]}
            path = Path(scratch) / f"shard-{index}.yaml"
            path.write_text(yaml.safe_dump(shard, sort_keys=False, allow_unicode=True), encoding="utf-8")
            shard_files.append(path)
        with ThreadPoolExecutor(max_workers=shard_count) as pool:
            results = list(pool.map(lambda f: run_tool(["promtool", "test", "rules", str(f)], f.parent),
                                    shard_files))
    failed = [r for r in results if not r.ok]
    return ToolResult(failed[0].code, "\n".join(r.output for r in failed)) if failed else ToolResult(0, "")
