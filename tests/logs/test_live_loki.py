"""`obsctl backtest --loki URL` end to end against a fake Loki query API (tests/fakes/loki_query.py) whose answers
the tests state literally: what Loki returns for each rule query, and what the backtest must then print."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.logql_engine import LogStore
from generator.logs.live_backtest import chunk_spans, pull_lines
from generator.logs.live_loki import LokiConnection, LokiQueryClient, LokiQueryError
from tests.fakes.loki_query import FakeLokiQuery
from tests.fakes.server import serving

EXPR = 'sum by (service) (count_over_time({service="telegram-bot"} |= `ERROR` [5m])) > 2'
RULES = f"""groups:
  - name: errors
    interval: 1m
    rules:
      - alert: Errs
        expr: '{EXPR}'
        labels: {{tier: "3", severity: high}}
        annotations: {{summary: '{{{{ $value }}}} errors in 5m'}}
"""
SECOND = 10**9
MINUTE = 60 * SECOND


def at(hour: int, minute: int, second: int = 0) -> int:
    return calendar.timegm((2026, 11, 22, hour, minute, second)) * SECOND


@pytest.fixture
def loki() -> Iterator[FakeLokiQuery]:
    yield from serving(FakeLokiQuery())


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "bot.yaml").write_text(RULES, encoding="utf-8")
    return folder


def backtest(loki: FakeLokiQuery, rules_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["backtest", "--rules", str(rules_dir), "--loki", loki.url,
                                       "--since", "2026-11-22T10:00:00Z", "--until", "2026-11-22T11:00:00Z", *args],
                                env={"LOKI_TENANT": "bot", "LOKI_TOKEN": "s3cret-token-value"})
    return result.exit_code, result.stdout, result.stderr


def test_chunks_stay_within_lokis_points_and_query_length_limits() -> None:
    week = 7 * 24 * 3600 * SECOND
    spans = chunk_spans(0, week, SECOND)  # a 1 s group over a week: 11,000 points per request at most
    assert len(spans) == 55
    assert spans[0] == (0, 10_999 * SECOND) and spans[1][0] == 11_000 * SECOND and spans[-1][1] == week
    hourly = chunk_spans(0, 60 * 24 * 3600 * SECOND, 3600 * SECOND)  # 60 days hourly: 721h per request at most
    assert [(s // 3600 // SECOND, e // 3600 // SECOND) for s, e in hourly] == [(0, 721), (722, 1440)]
    assert chunk_spans(0, 60 * MINUTE, MINUTE, chunk_ns=20 * MINUTE) == [
        (0, 20 * MINUTE), (21 * MINUTE, 41 * MINUTE), (42 * MINUTE, 60 * MINUTE)]


def test_the_live_backtest_steps_alerts_over_lokis_answers(loki: FakeLokiQuery, rules_dir: Path) -> None:
    # Loki says: 3, 4, 3 errors at 10:05-10:07 (then nothing), 5 at 10:30. Errs (for 0s) fires at 10:05, resolves at
    # 10:08 when the answer is empty; fires again at 10:30, resolves at 10:31. Tier 3 pages: 2 pages.
    loki.add_series(EXPR, {"service": "telegram-bot"},
                    {at(10, 5): 3, at(10, 6): 4, at(10, 7): 3, at(10, 30): 5})
    loki.add_series('sum(count_over_time({service="telegram-bot"} [3600s]))', {}, {at(11, 0): 42})
    code, out, err = backtest(loki, rules_dir, "--chunk", "20m")
    assert code == 0, err
    assert "(4 query_range requests in 3 chunks): 42 entries from 2026-11-22 10:00:00.000 to 2026-11-22 " \
           "11:00:00.000 UTC, 61 rule evaluations" in out
    assert "2026-11-22 10:05:00.000 → 2026-11-22 10:08:00.000 (3m00s) Errs: 3 errors in 5m" in out
    assert "2026-11-22 10:30:00.000 → 2026-11-22 10:31:00.000 (1m00s) Errs: 5 errors in 5m" in out
    assert "This log would have paged 2 time(s); 2 alert firing(s) in all." in out
    metric = [q for q in loki.queries if q["query"] == EXPR]
    assert [(int(q["start"]), int(q["end"]), q["step"]) for q in metric] == [
        (at(10, 0), at(10, 20), "60s"), (at(10, 21), at(10, 41), "60s"), (at(10, 42), at(11, 0), "60s")]
    assert all(r.headers["x-scope-orgid"] == "bot" for r in loki.requests)
    assert all(r.headers["authorization"] == "Bearer s3cret-token-value" for r in loki.requests)
    assert "s3cret-token-value" not in out + err


@pytest.mark.parametrize(("limit", "message"), [
    ("max_query_length_ns", "limit `max_query_length`: raise limits_config.max_query_length or pass a smaller --chunk"),
    ("max_query_series", "limit `max_query_series`: raise limits_config.max_query_series"),
])
def test_a_loki_limit_is_a_clear_error_naming_the_limit(loki: FakeLokiQuery, rules_dir: Path, limit: str,
                                                         message: str) -> None:
    setattr(loki, limit, 30 * MINUTE if limit == "max_query_length_ns" else 1)
    loki.add_series(EXPR, {"service": "telegram-bot", "pod": "a"}, {at(10, 5): 3})
    loki.add_series(EXPR, {"service": "telegram-bot", "pod": "b"}, {at(10, 5): 3})
    code, out, err = backtest(loki, rules_dir)
    assert code == 2
    assert f"error: Loki at {loki.url}: GET /loki/api/v1/query_range: HTTP 400: " in err
    assert message in err


def test_a_server_error_is_reported_with_what_to_raise(loki: FakeLokiQuery, rules_dir: Path) -> None:
    loki.inject("GET", "/loki/api/v1/query_range", status=504, body="timeout")
    code, _out, err = backtest(loki, rules_dir)
    assert code == 2
    assert "HTTP 504: " in err and "querier.query_timeout" in err


def test_compare_runs_the_offline_engine_on_the_pulled_lines_and_prints_differences(loki: FakeLokiQuery,
                                                                                   rules_dir: Path) -> None:
    # Lines: 3 ERRORs at 10:04:10-30. Offline: (t - 5m, t] holds them from 10:05 to 10:09 -> firing 10:05 -> 10:10.
    # Loki's stated answer agrees there, and also says 5 at 10:30, where no line exists: a difference to report.
    loki.add_lines({"service": "telegram-bot"}, [(at(10, 4, 10 + 10 * k), "ERROR boom") for k in range(3)]
                   + [(at(10, 20), "INFO fine")])
    loki.add_series(EXPR, {"service": "telegram-bot"}, {at(10, m): 3 for m in range(5, 10)} | {at(10, 30): 5})
    code, out, err = backtest(loki, rules_dir, "--compare")
    assert code == 1, err
    assert "--compare: the offline engine on the 4 lines pulled from Loki differs:" in out
    assert "Errs: Loki fired 2 time(s), the offline engine 1" in out
    assert "only on Loki:    2026-11-22T10:30:00.000Z → 2026-11-22T10:31:00.000Z" in out
    assert "2026-11-22T10:05:00.000Z" not in out.split("differs:")[1]  # the agreeing firing is not listed


def test_lines_are_paged_without_loss_or_duplicates_across_a_shared_timestamp(loki: FakeLokiQuery) -> None:
    # pages of 3: [a b c] ends at 10:00:01, the next starts there: [b c d] (b, c taken already), then [d e]
    lines = [(at(10, 0, 0), "a"), (at(10, 0, 1), "b"), (at(10, 0, 1), "c"), (at(10, 0, 2), "d"), (at(10, 0, 2), "e")]
    loki.add_lines({"service": "telegram-bot"}, lines)
    client = LokiQueryClient(LokiConnection(loki.url, "bot", None))
    store = LogStore()
    pulled = pull_lines(client, '{service="telegram-bot"}', at(10, 0), at(10, 1), store, entries_per_request=3)
    assert pulled == 5
    assert [(ts, line) for s in store.streams for ts, line in s.entries] == lines
    assert client.requests == 3
    # pages of 2: [a b], then [b c], all at 10:00:01: a page cannot get past that timestamp
    with pytest.raises(LokiQueryError, match=r"a full page of 2 line\(s\) at one timestamp"):
        pull_lines(client, '{service="telegram-bot"}', at(10, 0), at(10, 1), LogStore(), entries_per_request=2)
    with pytest.raises(LokiQueryError, match=r"limit `max_entries_limit_per_query`"):
        pull_lines(client, '{service="telegram-bot"}', at(10, 0), at(10, 1), LogStore(), entries_per_request=5001)


def test_no_tenant_header_is_refused_like_loki(loki: FakeLokiQuery) -> None:
    client = LokiQueryClient(LokiConnection(loki.url, None, None))
    with pytest.raises(LokiQueryError, match="HTTP 401: no org id"):
        client.series('{service="telegram-bot"}', 0, 1)
