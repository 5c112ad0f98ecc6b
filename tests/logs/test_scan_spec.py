"""`obsctl scan` starts from a cached scan spec: no schema import, yet a changed or broken truth file is noticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from generator.cli import main
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


def test_scan_with_a_cached_spec_does_not_import_the_schema_or_the_backtest_engine(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text(LINE, encoding="utf-8")
    env = {**os.environ, "OBSCTL_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-X", "importtime", "-m", "generator.cli", "scan", "--json", "--truth", str(TRUTH_PATH),
            str(log)]
    runs = [subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False) for _ in range(2)]
    assert [run.returncode for run in runs] == [1, 1]  # the line is a forbidden hit
    assert "generator.truth.model" in runs[0].stderr  # the first run loads truth.yaml and caches the spec
    imported = {line.split("|")[-1].strip() for line in runs[1].stderr.splitlines() if line.startswith("import time")}
    assert "generator.logs.scanner" in imported
    assert not {"pydantic", "yaml", "generator.truth", "generator.logql_engine", "generator.logs.backtest"} & imported
