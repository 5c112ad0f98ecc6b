"""`obsctl diff --base REF`: the pull-request summary speaks in on-call terms (thresholds, windows, tiers,
receivers, pattern examples, panels), computed from what each side's own code generates from its truth.yaml.
The repository under test is a temporary git repo holding a copy of this project's generator/ and product/."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main
from generator.conventions import GENERATED_HEADER
from generator.review.pr_summary import compare, compare_patterns, expr_changes, render_markdown, side_from_artifacts
from tests.tooling import require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
TRUTH = REPO_ROOT / "product" / "truth.yaml"
GIT = ["git", "-c", "user.name=obsctl test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]


@pytest.fixture(scope="module")
def truth() -> dict:
    return yaml.safe_load(TRUTH.read_text())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_tool("git")
    shutil.copytree(REPO_ROOT / "generator", tmp_path / "generator", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "product").mkdir()
    shutil.copy(TRUTH, tmp_path / "product" / "truth.yaml")
    subprocess.run([*GIT, "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*GIT, "-C", str(tmp_path), "add", "."], check=True)
    subprocess.run([*GIT, "-C", str(tmp_path), "commit", "-qm", "base"], check=True)
    return tmp_path


def edit_truth(repo: Path, *replacements: tuple[str, str]) -> None:
    path = repo / "product" / "truth.yaml"
    text = path.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)


def diff(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["diff", "--repo", str(repo), *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_a_truth_change_is_summarised_in_on_call_terms(repo: Path) -> None:
    require_tool("amtool")  # routing is resolved by Alertmanager's own route matcher
    edit_truth(
        repo,
        ("max_count: 10 ", "max_count: 20 "),
        ("window: 10m              # ... in 10 minutes", "window: 15m              # ... in 15 minutes"),
        ("{event: Model not found, action: log + notify user, handles: [model_not_found]}",
         "{event: Model not found, action: log + notify user, handles: []}"),
        ("handles: [health_check_failing]}", "handles: [health_check_failing, model_not_found]}"),
        ('regex: "Queue full"', 'regex: "Queue (full|overflow)"'),
        ('        - "2026-11-29 10:00:01,123 - bot.queue - WARNING - Queue full, rejecting update 555 with 429"\n',
         '        - "2026-11-29 10:00:01,123 - bot.queue - WARNING - Queue full, rejecting update 555 with 429"\n'
         '        - "2026-11-29 10:00:01,123 - bot.queue - WARNING - Queue overflow, rejecting update 556"\n'),
    )
    out = repo / "summary.md"
    code, summary = diff(repo, "--base", "HEAD", "--output", str(out))
    assert code == 0, summary
    assert out.read_text() == summary  # the file the PR workflow posts as a comment
    assert "## obsctl diff: `HEAD` → `working tree`" in summary
    assert "**ErrorLogRate** (loki): window 10m → 15m; threshold > 10 → > 20" in summary
    model_line = next(line for line in summary.splitlines() if "**ModelNotFound" in line)
    assert "tier 2 → 3" in model_line and "severity warning → high" in model_line
    assert "routing `tier2-low-priority` → `tier3-oncall`" in model_line
    queue_line = next(line for line in summary.splitlines() if "**QueueFull**" in line)
    assert "filter `Queue full` → " in queue_line and "`Queue (full|overflow)`" in queue_line
    assert "pattern **queue_full**: `Queue full` → `Queue (full|overflow)`" in summary
    assert "    - `2026-11-29 10:00:01,123 - bot.queue - WARNING - Queue overflow, rejecting update 556`" in summary
    assert "`M loki/rules/fake/telegram-bot.yaml`" in summary


def test_a_generator_code_change_shows_up_even_when_truth_is_unchanged(repo: Path) -> None:
    # Each side renders with its own code: a change to how alerts are named is a change reviewers must see.
    alerting = repo / "generator" / "conventions.py"
    alerting.write_text(alerting.read_text() + "\n\n_original_alert_name = alert_name\n\n\n"
                        "def alert_name(alert_id: str) -> str:\n    return _original_alert_name(alert_id) + 'V2'\n")
    code, summary = diff(repo, "--base", "HEAD")
    assert code == 0, summary
    assert "- ➕ **ErrorLogRateV2** (loki)" in summary and "- ➖ **ErrorLogRate** (loki)" in summary


def test_an_unchanged_truth_says_so(repo: Path) -> None:
    code, summary = diff(repo, "--base", "HEAD", "--head", "HEAD")
    assert code == 0
    assert "No change to the generated alerts, routing, log patterns or dashboards." in summary


def test_an_unknown_ref_is_a_clear_error(repo: Path) -> None:
    code, output = diff(repo, "--base", "no-such-branch")
    assert code == 2 and "git archive no-such-branch: fatal: not a valid object name" in output


def test_an_invalid_truth_on_one_side_names_its_location(repo: Path) -> None:
    edit_truth(repo, ("max_count: 10 ", "max_count: -1 "))
    code, output = diff(repo, "--base", "HEAD")
    assert code == 2 and "product/truth.yaml" in output and "max_count" in output


def test_thresholds_and_windows_are_read_from_the_query() -> None:
    old = 'sum(count_over_time({service="bot"} |= `x` [10m])) > 10'
    assert expr_changes(old, old.replace("[10m]", "[15m]").replace("> 10", "> 20")) == [
        "window 10m → 15m", "threshold > 10 → > 20"]
    assert expr_changes(old, old.replace("`x`", "`y`")) == ["filter `x` → `y`"]
    assert expr_changes(old, old.replace("sum(", "max(")) == ["query changed"]
    assert expr_changes("a > bool 0.072", "a > bool 0.1") == ["threshold > 0.072 → > 0.1"]
    assert expr_changes(old, old) == []


def test_a_pattern_change_lists_the_examples_that_now_match_differently(truth: dict) -> None:
    head = copy.deepcopy(truth)
    [pattern] = [p for p in head["forbidden_patterns"] if p["id"] == "lock_acquisition_failed"]
    pattern["regex"] = "Lock acquisition"
    [change] = compare_patterns(truth, head)
    assert change.id == "lock_acquisition_failed" and change.no_longer_match == []
    assert change.now_match == ["2026-11-29 10:00:01,123 - bot.lock - INFO - Lock acquisition succeeded",
                                "2026-11-29 10:00:01,123 - bot.lock - INFO - Lock acquisition started"]


def _rules(*alerts: tuple[str, str, str, str]) -> str:
    rules = [{"alert": name, "expr": expr, "for": for_, "labels": {"tier": tier, "severity": "high"}}
             for name, expr, for_, tier in alerts]
    return f"# {GENERATED_HEADER}\n" + yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]})


def _dashboard(*panels: tuple[int, str, int]) -> str:
    return json.dumps({"uid": "d", "title": "Overview", "panels": [
        {"id": pid, "title": title, "type": "stat", "gridPos": {"x": 0, "y": y, "w": 12, "h": 4}}
        for pid, title, y in panels]})


def test_alerts_and_panels_added_removed_moved_and_retitled(truth: dict) -> None:
    base = side_from_artifacts("main", truth, {
        "alerts/prometheus/rules.yaml": _rules(("Old", "up == 0", "5m", "3"), ("Kept", "x > 80", "5m", "3")),
        "dashboards/d.json": _dashboard((1, "Errors (10m)", 0), (2, "Latency", 4), (3, "Gone", 8)),
    })
    head = side_from_artifacts("pr", truth, {
        "alerts/prometheus/rules.yaml": _rules(("New", "up == 0", "1m", "4"), ("Kept", "x > 90", "10m", "4")),
        "dashboards/d.json": _dashboard((1, "Errors (15m)", 0), (2, "Latency", 12), (4, "Fresh", 4)),
    })
    review = compare(base, head)
    assert [(a.name, a.backend) for a in review.added] == [("New", "prometheus")]
    assert [a.name for a in review.removed] == ["Old"]
    [kept] = review.changed
    assert kept.details == ["threshold > 80 → > 90", "for 5m → 10m", "tier 3 → 4"]
    panels = {(p.action, p.name): p.detail for p in review.panels}
    assert panels[("added", "Overview / Fresh")] == "x=0 y=4 12x4"
    assert ("removed", "Overview / Gone") in panels
    assert panels[("retitled", "Overview / Errors (15m)")] == "was 'Errors (10m)'"
    assert panels[("moved", "Overview / Latency")] == "x=0 y=4 12x4 → x=0 y=12 12x4"
    markdown = render_markdown(review)
    assert "- ➕ **New** (prometheus): tier 4; severity high; for 1m; `up == 0`" in markdown
    assert "- ➖ **Old** (prometheus), was: tier 3" in markdown
    assert "- moved: **Overview / Latency** (x=0 y=4 12x4 → x=0 y=12 12x4)" in markdown
