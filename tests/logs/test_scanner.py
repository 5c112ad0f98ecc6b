"""`obsctl scan`: Hyperscan finds what RE2 (Loki's engine) finds, secrets never print, rate limits count like Loki."""

from __future__ import annotations

import io
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.cli import main
from generator.logs.inputs import BotLineFormat, InputFormat, iter_batches
from generator.logs.line_stats import count_newlines
from generator.logs.patterns import WatchedPattern, compile_patterns, watched_patterns
from generator.logs.regex_safety import hyperscan_safe
from generator.logs.report import LatencyHistogram, ScanReport
from generator.logs.scan_spec import ScanSpec
from generator.logs.scanner import Scanner
from generator.truth import Truth, load_truth
from generator.truth.types import compile_re2

REPO = Path(__file__).resolve().parents[2]
TRUTH_PATH = REPO / "product" / "truth.yaml"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth(TRUTH_PATH)


@pytest.fixture(scope="module")
def line_format(truth: Truth) -> BotLineFormat:
    return BotLineFormat.from_truth(truth.logs)


@pytest.fixture(scope="module")
def scanner(truth: Truth, line_format: BotLineFormat) -> Scanner:
    return Scanner(ScanSpec.from_truth(truth), environ={})


def scan(scanner: Scanner, data: bytes, fmt: InputFormat = InputFormat.LINES, chunk: int = 1 << 20,
         reuse_buffers: bool = False) -> ScanReport:
    report = scanner.new_report("test", fmt.value)
    batches = iter_batches(io.BufferedReader(io.BytesIO(data)), scanner.line_format, fmt, chunk_bytes=chunk,
                           reuse_buffers=reuse_buffers)
    return scanner.scan(batches, report)


def hits(report: ScanReport) -> dict[str, int]:
    return {p.pattern.id: p.hits for p in report.patterns if p.hits}


def line(seconds: float, level: str, message: str) -> str:
    whole, frac = divmod(round(seconds * 1000), 1000)
    minutes, secs = divmod(whole, 60)
    return f"2026-11-29 10:{minutes:02d}:{secs:02d},{frac:03d} - bot.test - {level} - {message}"


# --- every truth pattern: its examples, through the whole scanner ----------------------------------------------------


def test_every_truth_pattern_finds_its_examples_and_ignores_its_look_alikes(truth: Truth, scanner: Scanner) -> None:
    pattern_entries = [*truth.forbidden_patterns, *truth.rate_limited_patterns, *truth.privacy.never_log]
    assert {p.id for p in pattern_entries} == {p.id for p in scanner.patterns}
    for entry in pattern_entries:
        for example in entry.examples.match:
            assert entry.id in hits(scan(scanner, example.encode() + b"\n")), (entry.id, example)
        for example in entry.examples.no_match:
            assert entry.id not in hits(scan(scanner, example.encode() + b"\n")), (entry.id, example)


def test_truth_patterns_all_run_on_hyperscan(scanner: Scanner) -> None:
    assert set(scanner.compiled.engines) == {"hyperscan+re2"}


# --- Hyperscan and RE2 agree (the differential proof) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def single_pattern_databases(truth: Truth) -> dict[str, object]:
    """Each truth pattern alone in a Hyperscan database, as the scanner would compile it."""
    databases = {}
    for pattern in watched_patterns(truth):
        compiled = compile_patterns([pattern.regex])
        assert compiled.database is not None, pattern.id
        databases[pattern.regex] = compiled.database
    return databases


def _hyperscan_says(database: object, data: bytes) -> bool:
    found: list[int] = []
    database.scan(data + b"\n", match_event_handler=lambda *args: found.append(args[0]))  # type: ignore[attr-defined]
    return bool(found)


FRAGMENTS = [
    "Decimal", "Decimal('10.50')", " is not JSON serializable", "OID 4294967296", " out of range",
    "Error handling request", "error handling request", "Lock acquisition failed", "Queue full", "queue full",
    "Database connection lost", "Webhook timeout", "Duplicate update_id", "Insufficient balance", "Model not found",
    TOKEN, "12345678:", "1234567890", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "KIE_API_KEY", "kie_api_key", "=", ":",
    '"', "'", " ", "\t", "\x0b", "prompt", "prompt=", '"prompt"', "xprompt=", "sk_live_0123456789abcdef",
    "<redacted:TELEGRAM_BOT_TOKEN>", "<redacted:KIE_API_KEY>", "é", "日本", "\u00a0", "_", "-", "***", "{", "}",
]
lines_strategy = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=14).map(
    lambda parts: "".join(parts).replace("\n", " ").replace("\r", " "))


@settings(max_examples=400, deadline=None)
@given(st.lists(lines_strategy, min_size=1, max_size=5))
def test_hyperscan_and_re2_agree_on_every_truth_pattern(single_pattern_databases: dict[str, object],
                                                       lines: list[str]) -> None:
    for regex, database in single_pattern_databases.items():
        for text in lines:
            expected = compile_re2(regex).search(text) is not None
            assert _hyperscan_says(database, text.encode()) == expected, (regex, text)


@settings(max_examples=100, deadline=None)
@given(st.lists(lines_strategy, min_size=1, max_size=30), st.integers(min_value=1, max_value=400))
def test_the_whole_scan_reports_exactly_the_lines_re2_matches(scanner: Scanner, lines: list[str], chunk: int) -> None:
    report = scan(scanner, ("\n".join(lines) + "\n").encode(), chunk=chunk, reuse_buffers=True)
    for pattern_report in report.patterns:
        regex = compile_re2(pattern_report.pattern.regex)
        expected = [number for number, text in enumerate(lines, 1) if regex.search(text) is not None]
        assert pattern_report.hits == len(expected), pattern_report.pattern.id
        assert [h.entry for h in pattern_report.examples] == expected[:len(pattern_report.examples)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([f.encode() for f in FRAGMENTS]), st.binary(max_size=4)), max_size=12))
def test_hyperscan_never_misses_an_re2_match_even_on_invalid_utf8(single_pattern_databases: dict[str, object],
                                                                 parts: list[bytes]) -> None:
    data = b"".join(parts).replace(b"\n", b" ")
    text = data.decode("utf-8", "replace")  # what the confirmation (and Go, rune by rune) sees
    for regex, database in single_pattern_databases.items():
        if compile_re2(regex).search(text) is not None:
            assert _hyperscan_says(database, data), (regex, data)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "NOTICE", "info"]),
                          st.sampled_from(["bot.api", "aiohttp.server", "x", ""]),
                          st.text(max_size=20).map(lambda t: t.replace("\n", " ")),
                          st.sampled_from(["text", "json", "junk"]),
                          st.one_of(st.none(), st.integers(min_value=0, max_value=99999))),
                min_size=1, max_size=20))
def test_level_and_duration_counts_match_a_line_by_line_parse(scanner: Scanner, line_format: BotLineFormat,
                                                              entries: list) -> None:
    rendered = []
    for level, name, message, shape, duration in entries:
        tag = f" duration_ms={duration}" if duration is not None else ""
        if shape == "text":
            rendered.append(f"2026-11-29 10:00:01,123 - {name} - {level} - {message}{tag}")
        elif shape == "json":
            obj = {"asctime": "2026-11-29 10:00:01,123", "name": name, "levelname": level, "message": message}
            if duration is not None:
                obj["duration_ms"] = duration
            rendered.append(json.dumps(obj))
        else:
            rendered.append(f"  File {message!r}{tag}")
    report = scan(scanner, ("\n".join(rendered) + "\n").encode())
    expected_levels: dict[str, int] = {}
    for text in rendered:
        level = line_format.parse(text)[1] or "(none)"
        expected_levels[level] = expected_levels.get(level, 0) + 1
    assert dict(report.levels) == expected_levels
    durations = sorted(float(d) for *_rest, d in entries if d is not None)
    assert report.latency.count == len(durations)
    if durations:
        assert report.latency.percentile(1.0) == durations[-1]


# --- the fallback lane -----------------------------------------------------------------------------------------------


def test_hyperscan_safety_check_accepts_plain_structure_and_refuses_width_or_flag_traps() -> None:
    assert hyperscan_safe("Decimal.*is not JSON serializable")
    assert hyperscan_safe("[0-9]{8,10}:[A-Za-z0-9_-]{35}")
    assert hyperscan_safe("a[^x]+b")
    assert not hyperscan_safe("a.b")  # one code point in RE2, one byte in Hyperscan
    assert not hyperscan_safe("a[^x]{3}b")
    assert not hyperscan_safe(r"a\S+b")  # Hyperscan's \S excludes \v, RE2's does not
    assert not hyperscan_safe(r"a[^\s]+b")
    assert hyperscan_safe(r"a\s*b")  # Hyperscan's \s matching \v too only adds candidates
    assert not hyperscan_safe("(?i)queue full")  # RE2 folds Unicode case (K and the Kelvin sign)
    assert not hyperscan_safe("café")
    assert not hyperscan_safe(r"\pL+")


def test_patterns_hyperscan_cannot_take_are_matched_by_re2_line_by_line(truth: Truth,
                                                                         line_format: BotLineFormat) -> None:
    patterns = [
        WatchedPattern("ungreedy", "forbidden", "(?U)Queue a+b", priority="P2"),  # Hyperscan has no (?U)
        WatchedPattern("one_code_point", "forbidden", "id.x", priority="P2"),  # not byte-safe
    ]
    own = Scanner(ScanSpec.from_truth(truth), patterns=patterns, environ={})
    assert own.compiled.engines[0].startswith("re2 (Hyperscan cannot compile it")
    assert own.compiled.engines[1].startswith("re2 (byte-mode")
    data = "\n".join([line(1, "INFO", "Queue aab"), line(2, "INFO", "idéx"), line(3, "INFO", "idéé x")]) + "\n"
    report = scan(own, data.encode())
    assert hits(report) == {"ungreedy": 1, "one_code_point": 1}
    assert [h.entry for p in report.patterns for h in p.examples] == [1, 2]


def test_anchored_patterns_anchor_at_each_line_of_a_block(truth: Truth, line_format: BotLineFormat) -> None:
    patterns = [WatchedPattern("line_start", "forbidden", "^Queue full", priority="P2"),
                WatchedPattern("line_end", "forbidden", "Queue full$", priority="P2")]
    own = Scanner(ScanSpec.from_truth(truth), patterns=patterns, environ={})
    # `$` goes to RE2: Hyperscan's multi-line `$` would miss it before a CRLF line end
    assert [engine.split(" ")[0] for engine in own.compiled.engines] == ["hyperscan+re2", "re2"]
    report = scan(own, b"Queue full\nQueue full!\nx Queue full\nQueue full\r\n")
    assert [h.entry for h in report.patterns[0].examples] == [1, 2, 4]
    assert [h.entry for h in report.patterns[1].examples] == [1, 3, 4]


# --- secrets ---------------------------------------------------------------------------------------------------------


def test_leaked_secrets_are_reported_masked_in_tables_and_json(tmp_path: Path) -> None:
    log = tmp_path / "leak.log"
    log.write_text(line(1, "INFO", f"HTTP Request: POST https://api.telegram.org/bot{TOKEN}/sendMessage") + "\n"
                   + line(2, "DEBUG", "KIE_API_KEY=sk_live_0123456789abcdef0123") + "\n"
                   + line(3, "INFO", "generation started prompt=a cat in space") + "\n"
                   + json.dumps({"asctime": "2026-11-29 10:00:04,000", "message": "generation started",
                                 "prompt": "my secret wish"}) + "\n")
    for args in (["scan", "--truth", str(TRUTH_PATH), str(log)],
                 ["scan", "--json", "--truth", str(TRUTH_PATH), str(log)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert TOKEN not in result.output and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0" not in result.output
        assert "sk_live_0123456789abcdef0123" not in result.output
        assert "a cat in space" not in result.output and "my secret wish" not in result.output
        assert "<redacted:TELEGRAM_BOT_TOKEN>" in result.output and "<redacted:KIE_API_KEY>" in result.output
        assert "<redacted:user_prompt_logged>" in result.output
    document = json.loads(result.output)
    assert document["inputs"][0]["summary"]["leaked_secrets"] == 4


def test_a_secret_from_the_environment_is_masked_wherever_it_appears(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIE_API_KEY", "plain-shaped-value-42")
    log = tmp_path / "env.log"
    log.write_text(line(1, "ERROR", "Error handling request with key plain-shaped-value-42") + "\n")
    result = CliRunner().invoke(main, ["scan", "--json", "--truth", str(TRUTH_PATH), str(log)])
    assert "plain-shaped-value-42" not in result.output
    assert "<redacted:KIE_API_KEY>" in result.output


# --- rate limits: Loki's window (t - per, t] -------------------------------------------------------------------------


def duplicates_at(*seconds: float) -> bytes:
    return ("\n".join(line(s, "WARNING", f"Duplicate update_id {i}") for i, s in enumerate(seconds)) + "\n").encode()


def violations(report: ScanReport) -> list:
    (pattern,) = [p for p in report.patterns if p.pattern.id == "duplicate_update_id"]
    return pattern.violations


def test_rate_limit_at_the_limit_is_silent(scanner: Scanner) -> None:
    assert violations(scan(scanner, duplicates_at(0, 30, 60))) == []  # exactly 30 s apart: one hit per window


def test_rate_limit_above_the_limit_is_a_violation(scanner: Scanner) -> None:
    (violation,) = violations(scan(scanner, duplicates_at(0, 29.999)))
    assert (violation.hits, violation.peak_in_window) == (2, 2)
    assert violation.end_ns - violation.start_ns == 29_999_000_000


def test_a_burst_is_one_violation_and_a_later_burst_another(scanner: Scanner) -> None:
    found = violations(scan(scanner, duplicates_at(0, 1, 2, 3, 100, 101)))
    assert [(v.hits, v.peak_in_window) for v in found] == [(4, 4), (2, 2)]


# --- all three input formats give the same answer --------------------------------------------------------------------


def test_text_render_json_and_syslog_inputs_scan_alike(scanner: Scanner) -> None:
    texts = [line(0, "INFO", "Webhook handled operation=webhook duration_ms=120"),
             line(1, "ERROR", "TypeError: Object of type Decimal is not JSON serializable"),
             line(2, "WARNING", "Duplicate update_id 5"), line(10, "WARNING", "Duplicate update_id 6"),
             line(11, "CRITICAL", "Database connection lost: server closed the connection"),
             json.dumps({"asctime": "2026-11-29 10:00:12,000", "name": "bot", "levelname": "INFO",
                         "message": "config", "kie_api_key": "abcdef0123456789abcdef", "duration_ms": 880})]
    stamps = [f"2026-11-29T10:00:{s:02d}.000Z" for s in (0, 1, 2, 10, 11, 12)]
    as_text = "\n".join(texts) + "\n"
    as_render = json.dumps([{"timestamp": t, "message": m, "labels": [{"name": "resource", "value": "srv-1"}]}
                            for t, m in zip(stamps, texts, strict=True)])
    as_syslog = "".join(f"<134>1 {t} srv-1 telegram-bot 1 - - {m}\n" for t, m in zip(stamps, texts, strict=True))
    reports = [scan(scanner, as_text.encode(), InputFormat.LINES),
               scan(scanner, as_render.encode(), InputFormat.RENDER_JSON),
               scan(scanner, as_syslog.encode(), InputFormat.SYSLOG)]
    for report in reports:
        assert hits(report) == {"decimal_not_json_serializable": 1, "duplicate_update_id": 2,
                                "database_connection_lost": 1, "kie_api_key_leak": 1}
        assert len(violations(report)) == 1
        assert dict(report.levels) == {"INFO": 2, "ERROR": 1, "WARNING": 2, "CRITICAL": 1}
        assert (report.latency.count, report.latency.percentile(0.5)) == (2, 120.0)
        assert [h.entry for p in report.patterns for h in p.examples][:1] == [2]


def test_hits_on_block_boundaries_are_neither_lost_nor_doubled(scanner: Scanner) -> None:
    data = "".join(line(i, "ERROR", "Queue full") + "\n" + line(i, "INFO", "ok duration_ms=5") + "\n"
                   for i in range(40)).encode()
    for chunk in (7, 64, 100, 1 << 20):
        for reuse_buffers in (False, True):  # the scanner's own pipeline may recycle block buffers
            report = scan(scanner, data, chunk=chunk, reuse_buffers=reuse_buffers)
            assert hits(report) == {"queue_full": 40}
            assert [h.entry for h in report.patterns[4].examples] == list(range(1, 41, 2))
            assert (report.entries, report.latency.count) == (80, 40)
            assert dict(report.levels) == {"ERROR": 40, "INFO": 40}


# --- the command -----------------------------------------------------------------------------------------------------


def test_fail_fast_stops_at_the_first_forbidden_hit(tmp_path: Path) -> None:
    log = tmp_path / "ff.log"
    log.write_text("".join(line(i, "ERROR", "Webhook timeout: 734 ms") + "\n" for i in range(50)))
    result = CliRunner().invoke(main, ["scan", "--json", "--fail-fast", "--truth", str(TRUTH_PATH), str(log)])
    assert result.exit_code == 1
    document = json.loads(result.output)["inputs"][0]
    assert document["stopped_at_first_forbidden"] is True
    assert document["summary"]["forbidden_hits"] == 1


def test_clean_log_exits_zero_and_bad_input_exits_two(tmp_path: Path) -> None:
    clean = tmp_path / "clean.log"
    clean.write_text(line(0, "INFO", "Webhook handled in 120 ms") + "\n")
    assert CliRunner().invoke(main, ["scan", "--truth", str(TRUTH_PATH), str(clean)]).exit_code == 0
    bad = tmp_path / "bad.syslog"
    bad.write_text("<134>1 2026-11-29T10:00:00Z h a - - - ok\n<134>1 not-a-time h a - - - x\n")
    result = CliRunner().invoke(main, ["scan", "--truth", str(TRUTH_PATH), str(bad)])
    assert result.exit_code == 2
    assert "bad.syslog:2" in result.output
    missing = CliRunner().invoke(main, ["scan", "--truth", str(TRUTH_PATH), str(tmp_path / "nope.log")])
    assert missing.exit_code == 2


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=310), st.integers(min_value=0, max_value=310))
def test_newline_counting_matches_bytes_count(data: bytes, start: int, end: int) -> None:
    assert count_newlines(data) == data.count(b"\n")
    assert count_newlines(bytearray(data), start, end) == data.count(b"\n", start, end)


def test_latency_percentiles_are_nearest_rank() -> None:
    histogram = LatencyHistogram()
    from collections import Counter

    histogram.add_raw(Counter({str(v).encode(): 1 for v in range(1, 101)}))
    assert [histogram.percentile(q) for q in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]


@given(st.lists(st.integers(min_value=0, max_value=150_000), min_size=1, max_size=200),
       st.lists(st.sampled_from([0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 1.0, 1.5]), min_size=1, max_size=6))
def test_percentiles_read_off_one_sort_are_the_nearest_ranks_of_all_values(values: list[int],
                                                                           qs: list[float]) -> None:
    from collections import Counter

    histogram = LatencyHistogram()
    histogram.add_whole(Counter(v for v in values if v < 100_000))  # both ways in, as a scan adds them
    histogram.add_raw(Counter(str(v).encode() for v in values if v >= 100_000))
    ordered = sorted(histogram.bucket(v) for v in values)
    # 1-based ranks of the decimal quantiles, exactly; at most the count
    ranks = [min(max(1, math.ceil(Fraction(str(q)) * len(values))), len(values)) for q in qs]
    expected = [ordered[rank - 1] for rank in ranks]
    assert histogram.percentiles(qs) == expected
    assert [histogram.percentile(q) for q in qs] == expected
