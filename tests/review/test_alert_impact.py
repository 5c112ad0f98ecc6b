"""`obsctl diff --logs`: old and new Loki rules replayed over the same logs in one pass, with bounded memory; how
often each changed alert would have fired before and after, and pages per tier. Expected counts are worked out by
hand from the rule windows (Loki's (t - range, t] window, evaluations aligned to the group interval)."""

from __future__ import annotations

import calendar
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.logql_engine import parse_rule_groups
from generator.logs.inputs import LogRecord
from generator.review.alert_impact import BATCH_ENTRIES, impact, replay_both
from generator.review.pr_summary import Review, render_markdown
from generator.truth import Truth
from tests.review.test_review import diff, edit_truth, repo  # noqa: F401 (the `repo` fixture)
from tests.tooling import require_tool

LABELS = {"service": "bot"}
TIERS = {"tiers": [{"id": 3, "name": "alert", "notify": "page"}, {"id": 1, "name": "auto-fix", "notify": "none"}]}


def rules(threshold: int, extra: str = "", window: str = "1m") -> list:
    return parse_rule_groups({"groups": [{"name": "g", "interval": "1m", "rules": [
        {"alert": "Errs", "labels": {"tier": "3"},
         "expr": f'sum by (service) (count_over_time({{service="bot"}} |= "ERROR" [{window}])) > {threshold}'},
        *([{"alert": extra, "expr": 'sum by (service) (count_over_time({service="bot"} |= "dup" [1m])) > 0',
            "labels": {"tier": "1"}}] if extra else [])]}]}, "rules.yaml")


def at(hour: int, minute: int, second: int) -> int:
    return calendar.timegm((2026, 11, 22, hour, minute, second)) * 10**9


def errors_at(*minutes: tuple[int, int]) -> list[LogRecord]:
    """`count` ERROR lines 10 s apart from second 10 of 10:MM."""
    return [LogRecord(at(10, minute, 10 + 10 * k), "ERROR boom", {}, "ERROR")
            for minute, count in minutes for k in range(count)]


def test_both_sides_are_counted_in_one_pass_and_pages_per_tier_follow_each_sides_tiers(truth: Truth) -> None:
    # 3 errors at 10:10, 2 at 10:20, 2 at 10:30: `> 2` fires once (10:11), `> 1` three times; each resolves a minute
    # later, when the window (t - 1m, t] is empty again.
    reads = 0

    def records() -> Iterator[LogRecord]:
        nonlocal reads
        for record in errors_at((10, 3), (20, 2), (30, 2)):
            reads += 1
            yield record

    base, head = rules(2), rules(1, extra="Dups")
    replay = replay_both(records(), base, head, LABELS)
    assert reads == 7 and replay.entries == 7
    report = impact(replay, ["x.log"], base, head, ["Errs"], TIERS, TIERS, truth)
    by_name = {a.name: a for a in report.alerts}
    assert sorted(by_name) == ["Dups", "Errs"]
    errs = by_name["Errs"]
    assert errs.change == "changed"
    assert (errs.before.firings, errs.after.firings) == (1, 3)
    assert errs.after.first_ns == at(10, 11, 0) and errs.after.longest_ns == 60 * 10**9
    assert by_name["Dups"].change == "added" and by_name["Dups"].before is None
    assert by_name["Dups"].after.firings == 0
    assert [(t.tier, t.notify, t.before, t.after) for t in report.tiers] == [("1", "none", 0, 0), ("3", "page", 1, 3)]


def test_the_comment_gives_first_firing_and_longest_firing_before_and_after(truth: Truth) -> None:
    # 3 errors at 10:10:10-30. A 1m window holds them at 10:11 only (firing 10:11 -> 10:12); a 2m window at 10:11
    # and 10:12 (firing 10:11 -> 10:13).
    base, head = rules(2), rules(2, window="2m")
    replay = replay_both(errors_at((10, 3)), base, head, LABELS)
    report = impact(replay, ["week.log"], base, head, ["Errs"], TIERS, TIERS, truth)
    markdown = render_markdown(Review("main", "pr", [], [], [], [], [], [], report))
    assert ("- **Errs** (changed): would have fired 1 → 1 times (first at 2026-11-22 10:11 UTC, "
            "longest firing 1m → 2m)") in markdown
    assert "Replayed `week.log`: 3 entries from 2026-11-22 10:10 UTC to " in markdown
    assert "| 3 alert | page | 1 | 1 |" in markdown


def test_memory_is_bounded_by_the_longest_window_not_the_length_of_the_log(truth: Truth) -> None:
    # 30 000 lines, one every 10 s (83 hours). The store keeps one batch plus the last 2 minutes (1m window + the
    # 1m reorder window): at most 5000 + 12 entries, never the whole log.
    count = 30_000
    records = (LogRecord(at(0, 0, 0) + k * 10 * 10**9, "ERROR x" if k % 1000 == 0 else "ok", {}, None)
               for k in range(count))
    replay = replay_both(records, rules(0), rules(5), LABELS)
    assert replay.entries == count
    assert BATCH_ENTRIES <= replay.peak_entries_held <= BATCH_ENTRIES + 12
    report = impact(replay, ["x.log"], rules(0), rules(5), ["Errs"], TIERS, TIERS, truth)
    assert (report.alerts[0].before.firings, report.alerts[0].after.firings) == (30, 0)


def test_a_line_older_than_the_evaluated_past_is_counted_as_late_not_replayed(truth: Truth) -> None:
    in_order = [LogRecord(at(0, 0, 0) + k * 10**9, "ok", {}, None) for k in range(BATCH_ENTRIES)]
    late = LogRecord(at(0, 0, 0), "ERROR late", {}, "ERROR")
    replay = replay_both([*in_order, late], rules(0), rules(0), LABELS)
    assert (replay.entries, replay.late_entries) == (BATCH_ENTRIES, 1)


def test_obsctl_diff_with_logs_shows_firings_before_and_after_a_threshold_change(repo: Path, tmp_path: Path) -> None:  # noqa: F811
    require_tool("amtool")
    # ErrorLogRate: more than max_count ERROR lines in 10m, evaluated every 15 s. 5 errors at 10:00:00-04 and 12 at
    # 11:00:00-11. Base (> 10) fires once, at 11:00:15; head (> 3) also at 10:00:15. Each burst leaves the window
    # at the evaluation of hh:10:15, so every firing lasts 10m.
    edit_truth(repo, ("max_count: 10 ", "max_count: 3 "))
    lines = [f"2026-11-22 10:00:0{k},000 - bot.api - ERROR - External API timeout after 30000 ms" for k in range(5)]
    lines += [f"2026-11-22 11:00:{k:02d},000 - bot.api - ERROR - External API timeout after 30000 ms"
              for k in range(12)]
    log = tmp_path / "week.log.gz"
    log.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    code, summary = diff(repo, "--base", "HEAD", "--logs", str(log))
    assert code == 0, summary
    assert "### Alert-count impact on the logs" in summary
    assert ": 17 entries from 2026-11-22 10:00 UTC to " in summary
    assert ("- **ErrorLogRate** (changed): would have fired 1 → 2 times (first at 2026-11-22 10:00 UTC, "
            "longest firing 10m)") in summary
    assert "| 3 alert | page | 1 | 2 |" in summary
    assert "| 1 auto-fix | none | 0 | 0 |" in summary


def test_an_unreadable_log_is_a_clear_error(repo: Path) -> None:  # noqa: F811
    code, output = diff(repo, "--base", "HEAD", "--logs", str(repo / "missing.log"))
    assert code == 2
    assert "missing.log: cannot read" in output


@pytest.mark.parametrize("name", ["sample-week.log.gz"])
def test_the_committed_sample_week_is_small_and_gzip(name: str) -> None:
    path = Path(__file__).parent / "data" / name
    assert path.stat().st_size < 5_000_000
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        first = handle.readline()
    assert first.startswith('{"asctime": "2026-11-22 00:00:00,000"')
