"""`obsctl scan` starts from a cached scan spec: no schema import, yet a changed or broken truth file is noticed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.logs.cache_files import cache_digest
from generator.logs.scan_spec import ScanSpec, load_scan_spec
from generator.truth import Truth, load_truth
from tests.tooling import REPO

TRUTH_PATH = REPO / "product" / "truth.yaml"
LINE = "2026-11-29 10:00:01,123 - bot.api - ERROR - Queue full, dropping update\n"


def test_a_spec_read_back_from_json_equals_the_one_from_truth(truth: Truth) -> None:
    spec = ScanSpec.from_truth(truth)
    assert ScanSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert [p.id for p in spec.patterns][:2] == ["decimal_not_json_serializable", "oid_out_of_range"]
    assert spec.latency_targets_ms == (truth.latency_targets.p50.milliseconds,
                                       truth.latency_targets.p95.milliseconds, truth.latency_targets.p99.milliseconds)


def test_the_second_load_comes_from_the_cache_without_loading_truth(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OBSCTL_CACHE_DIR", str(tmp_path / "cache"))
    loads: list[Path] = []

    def counting_load(path: Path) -> Truth:
        loads.append(path)
        return load_truth(path)

    first = load_scan_spec(TRUTH_PATH, counting_load)
    second = load_scan_spec(TRUTH_PATH, counting_load)
    assert first == second
    assert loads == [TRUTH_PATH]


def test_a_changed_truth_file_is_loaded_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OBSCTL_CACHE_DIR", str(tmp_path / "cache"))
    truth_file = tmp_path / "truth.yaml"
    text = TRUTH_PATH.read_text(encoding="utf-8")
    assert 'regex: "Queue full"' in text
    log = tmp_path / "x.log"
    log.write_text("2026-11-29 10:00:01,123 - bot.api - ERROR - dropping update 5\n", encoding="utf-8")

    def forbidden_hits(regex: str) -> int:
        truth_file.write_text(text.replace('regex: "Queue full"', f'regex: "{regex}"'), encoding="utf-8")
        result = CliRunner().invoke(main, ["scan", "--json", "--truth", str(truth_file), str(log)])
        return int(json.loads(result.output)["inputs"][0]["summary"]["forbidden_hits"])

    assert forbidden_hits("Queue full") == 0
    assert forbidden_hits("Queue full|dropping update") == 1
    assert forbidden_hits("Queue full") == 0
    truth_file.write_text(text.replace('regex: "Queue full"', 'regex: "Queue (full"'), encoding="utf-8")
    broken = CliRunner().invoke(main, ["scan", "--json", "--truth", str(truth_file), str(log)])
    assert broken.exit_code == 2
    assert f"{truth_file}:" in broken.output


QUIET_LINE = "2026-11-29 10:00:01,123 - bot.webhook - INFO - Webhook handled duration_ms=87\n"
# What loading and checking truth.yaml, building the plan, backtesting, confirming a candidate line with RE2 or
# writing a cache file import, hashlib (OpenSSL) and the LogQL syntax: a scan with a cached spec and database does
# none of these.
NOT_ON_A_WARM_SCAN = ("pydantic", "yaml", "jinja2", "re2", "tempfile", "hashlib", "generator.truth", "generator.plan",
                      "generator.syntax.logql", "generator.logql_engine", "generator.logs.backtest")


def run_scan(log: Path, cache: Path, *options: str, python_options: tuple[str, ...] = (),
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`obsctl scan` in a fresh interpreter, stderr not a terminal, FORCE_COLOR and TTY_COMPATIBLE unset."""
    argv = [sys.executable, *python_options, "-m", "generator.cli", "scan", *options, "--truth", str(TRUTH_PATH),
            str(log)]
    inherited = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run(argv, cwd=REPO, env={**inherited, "OBSCTL_CACHE_DIR": str(cache), **(env or {})},
                          capture_output=True, text=True, check=False)


def scan_imports(log: Path, cache: Path, *options: str) -> tuple[int, set[str]]:
    """The exit status of `obsctl scan`, and every module it imported (`-X importtime`)."""
    run = run_scan(log, cache, *options, python_options=("-X", "importtime"))
    return run.returncode, {line.split("|")[-1].strip() for line in run.stderr.splitlines()
                            if line.startswith("import time:")}


def among(imported: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in imported if any(m == p or m.startswith(p + ".") for p in packages)}


def test_scan_with_a_cached_spec_does_not_import_the_schema_or_the_backtest_engine(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text(LINE, encoding="utf-8")
    runs = [scan_imports(log, tmp_path / "cache", "--json") for _ in range(2)]
    assert [status for status, _ in runs] == [1, 1]  # the line is a forbidden hit
    assert "generator.truth.model" in runs[0][1]  # the first run loads truth.yaml and caches the spec
    assert "generator.logs.scanner" in runs[1][1]
    assert among(runs[1][1], ("pydantic", "yaml", "generator.truth", "generator.logql_engine",
                              "generator.logs.backtest")) == set()


@pytest.mark.parametrize("options", [(), ("--json",), ("--patterns-only",)], ids=["tables", "json", "patterns-only"])
def test_a_warm_scan_of_a_quiet_line_imports_none_of_the_start_up_heavy_modules(tmp_path: Path,
                                                                                options: tuple[str, ...]) -> None:
    log = tmp_path / "one.log"
    log.write_text(QUIET_LINE, encoding="utf-8")
    first_status, first = scan_imports(log, tmp_path / "cache", *options)
    status, warm = scan_imports(log, tmp_path / "cache", *options)
    assert (first_status, status) == (0, 0)
    assert {"generator.truth.model", "pydantic", "yaml"} <= first  # the spec still comes from a validated truth
    assert "generator.logs.scanner" in warm
    assert among(warm, NOT_ON_A_WARM_SCAN) == set()


def test_a_json_scan_does_not_import_rich_but_the_tables_do(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text(QUIET_LINE, encoding="utf-8")
    _, as_json = scan_imports(log, tmp_path / "cache", "--json")
    _, as_tables = scan_imports(log, tmp_path / "cache")
    assert among(as_json, ("rich",)) == set()
    assert {"rich.console", "rich.table"} <= as_tables


def test_a_first_scan_validates_truth_without_importing_the_template_engine(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text(QUIET_LINE, encoding="utf-8")
    status, cold = scan_imports(log, tmp_path / "cache", "--json")
    assert status == 0
    assert {"generator.truth.checks", "generator.plan.privacy"} <= cold
    assert among(cold, ("jinja2", "generator.logql_engine", "generator.logs.backtest")) == set()


@pytest.mark.parametrize(("env", "shown"), [({}, False), ({"FORCE_COLOR": "1"}, True)], ids=["pipe", "FORCE_COLOR"])
def test_the_progress_bar_shows_when_rich_takes_stderr_for_a_terminal(tmp_path: Path, env: dict[str, str],
                                                                      shown: bool) -> None:
    log = tmp_path / "one.log"
    log.write_text(QUIET_LINE, encoding="utf-8")
    run = run_scan(log, tmp_path / "cache", "--json", env=env)
    assert run.returncode == 0
    assert (f"scanning {log}" in run.stderr) == shown


@pytest.mark.parametrize("options", [("--json",), ()], ids=["json", "tables"])
def test_a_scan_that_ends_without_finalizing_prints_the_same_report_and_status_as_one_in_process(
        tmp_path: Path, options: tuple[str, ...]) -> None:
    # many hits and levels: a report longer than a pipe's buffer, so nothing may be left unflushed at the end
    log = tmp_path / "mixed.log"
    log.write_text((LINE + QUIET_LINE) * 3000, encoding="utf-8")
    program = run_scan(log, tmp_path / "cache", *options)
    in_process = CliRunner().invoke(main, ["scan", *options, "--truth", str(TRUTH_PATH), str(log)])
    assert (program.returncode, in_process.exit_code) == (1, 1)
    assert len(program.stdout) > 1000
    assert without_timing(program.stdout) == without_timing(in_process.stdout)
    if options:
        assert json.loads(program.stdout)["inputs"][0]["entries"] == 6000


def without_timing(report: str) -> str:
    """A printed report without how long the scan took (JSON `elapsed_s`, the tables' `in 0.01 s (… MB/s)`)."""
    return re.sub(r'"elapsed_s": [0-9.e-]+|in [0-9.]+ s \([0-9,]+ MB/s\)', "<elapsed>", report)


def test_cache_names_tell_apart_parts_that_join_to_the_same_bytes() -> None:
    assert cache_digest(b"ab", b"c") != cache_digest(b"a", b"bc")
    assert cache_digest(b"ab", b"c") == cache_digest(b"ab", b"c")
    assert len(cache_digest(b"")) == 32
