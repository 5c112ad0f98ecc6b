"""The native record parser reads syslog and Render JSON lines exactly as the Python reader does: the same
messages, times and levels, and the same located error for a malformed line (generated inputs, broken ones too)."""

from __future__ import annotations

import io
import json
from collections import Counter
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.logs import native_records
from generator.logs.inputs import BotLineFormat, InputError, InputFormat, iter_batches
from generator.truth import Truth
from tests.logs import random_logs
from tests.tooling import in_ci


@pytest.fixture(scope="module")
def line_format(truth: Truth) -> BotLineFormat:
    if native_records._records is None:
        message = "the native record parser is not built (run `make setup`, i.e. `pip install -e .`)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return BotLineFormat.from_truth(truth.logs)


def read(data: bytes, line_format: BotLineFormat, fmt: InputFormat, native: bool, chunk: int,
         halves: bool = False) -> object:
    """(records as (message, time), levels counted) or the error text. `halves`: the native parser splits every
    range of two lines or more in two halves, read on two threads."""
    try:
        with mock.patch.object(native_records, "split_min_bytes", lambda: 1 if halves else 0):
            batches = list(iter_batches(io.BufferedReader(io.BytesIO(data)), line_format, fmt, source="in.log",
                                        chunk_bytes=chunk, native=native))
    except InputError as exc:
        return str(exc)
    records, levels = [], Counter()
    for batch in batches:
        assert batch.starts is not None and batch.timestamps is not None
        bounds = [*batch.starts, len(batch.data)]
        records += [(bytes(batch.data[a:b - 1]), t)
                    for a, b, t in zip(bounds[:-1], bounds[1:], batch.timestamps, strict=True)]
        if batch.level_counts is not None:
            levels += batch.level_counts
        else:
            levels += Counter(level for level in batch.levels or [] if level)
    return records, levels


MESSAGES = [
    "2026-11-29 10:00:01,123 - bot.api - ERROR - Queue full", "2026-11-29 10:00:01,123 - bot - INFO - é ok",
    "2026-11-29 10:00:01,123 - bot - NOTICE - x", "2026-11-29 10:00:01,123 - bot.api", "2026-11-29 10:00:01 - a",
    "٢٠٢٦-11-29 10:00:01,123 - bot - INFO - arabic digits", "Traceback (most recent call last):", "",
    '{"levelname": "WARNING", "message": "w"}', '{"levelname": "WARNING", "levelname": "x"}', '{"levelname": 5}',
    '{"a": NaN, "levelname": "ERROR"}', '{"level\\u006eame": "ERROR"}', '{"levelname": "ERR\\u004fR"}',
    '{"levelname": "INFO"} trailing', '{"levelname": "INFO",}',
    '{"x": [1, 2.5e3, -0, true, null], "levelname": "DEBUG"}',
    '{"x": 01, "levelname": "DEBUG"}',
    "{", "{}", "日本語のメッセージ", "tab\there", "ctrl\x01char", "\u2028sep",
]


def syslog_lines() -> st.SearchStrategy[str]:
    pri = st.sampled_from(["<134>", "<11>", "<191>", "<192>", "<0>", "<1234>", "<x>", ""])
    version = st.sampled_from(["1", "12", "123", ""])
    stamp = st.sampled_from(["2026-11-29T10:00:01.123Z", "2026-11-29T10:00:01Z", "2026-11-29T10:00:01.123456789Z",
                             "2026-11-29T10:00:01.1234567891Z", "2026-11-29T11:00:01+01:00", "2026-11-29t10:00:01z",
                             "2026-11-29T10:00:01-0130", "2026-02-30T10:00:00Z", "2026-11-29T24:00:00Z",
                             "1600-01-01T00:00:00Z", "not-a-time", "2026-11-29T10:00:01.Z"])
    sd = st.sampled_from(["-", '[a@1 k="v"]', '[a@1 k="v\\"]"][b@2]', "[unterminated", "x", '[a k="\\'])
    message = st.one_of(st.sampled_from(MESSAGES), st.text(max_size=12).map(lambda t: t.replace("\n", " ")))
    return st.tuples(pri, version, stamp, sd, st.booleans(), message, st.sampled_from(["", "\r", " "])).map(
        lambda p: f"{p[0]}{p[1]} {p[2]} host app 7 - {p[3]} {chr(0xFEFF) if p[4] else ''}{p[5]}{p[6]}")


def render_lines() -> st.SearchStrategy[str]:
    level_label = st.sampled_from([None, "info", "warn", "FATAL", "err", "", "notice", 5, "ınfo", "Warn"])
    stamp = st.sampled_from(["2026-11-29T10:00:01.123Z", "2026-11-29T11:00:01.5+01:00", " 2026-11-29T10:00:01Z",
                             "2026-13-01T00:00:00Z", 17, "2026-11-29T10:00:01Z\u00a0"])
    message = st.one_of(st.sampled_from(MESSAGES + ["multi\nline", "2026-11-29 10:00:01,123 - b - INFO - x\n",
                                                    "2026-11-29 10:00:01,123 - b - INFO - x\ny", "\ud83d\ude00 ok",
                                                    "\udc80 lone"]),
                        st.text(max_size=12), st.integers())

    def record(parts: tuple) -> str:
        label, stamp_value, text, extra, shape = parts
        obj: dict[str, object] = {"timestamp": stamp_value, "message": text}
        if label is not None:
            obj["labels"] = [{"name": "resource", "value": "srv"}, {"name": "level", "value": label}]
        if extra:
            obj["extra"] = {"nested": [1, {"levelname": "ERROR"}], "n": 1.5}
        if shape == "ascii":
            return json.dumps(obj)
        if shape == "utf8":
            return json.dumps(obj, ensure_ascii=False)
        if shape == "spaced":
            return "  " + json.dumps(obj, indent=None, separators=(" , ", " : ")) + " "
        if shape == "no-labels-list":
            return json.dumps({**obj, "labels": {"level": "info"}})
        if shape == "no-message":
            return json.dumps({"timestamp": stamp_value})
        return json.dumps(obj)[:-1]  # truncated

    return st.tuples(level_label, stamp, message, st.booleans(),
                     st.sampled_from(["ascii", "utf8", "spaced", "no-labels-list", "no-message", "truncated"])).map(
        record)


@settings(max_examples=500, deadline=None)
@given(st.lists(syslog_lines(), min_size=1, max_size=6), st.sampled_from([1, 64, 1 << 20]))
def test_syslog_lines_read_natively_equal_the_python_reader(line_format: BotLineFormat, lines: list[str],
                                                            chunk: int) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    assert read(data, line_format, InputFormat.SYSLOG, True, chunk) == read(data, line_format, InputFormat.SYSLOG,
                                                                            False, chunk)


@settings(max_examples=500, deadline=None)
@given(st.lists(render_lines(), min_size=1, max_size=6), st.sampled_from([1, 64, 1 << 20]), st.booleans())
def test_render_json_lines_read_natively_equal_the_python_reader(line_format: BotLineFormat, lines: list[str],
                                                                 chunk: int, bom: bool) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + "\n\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    assert read(data, line_format, InputFormat.RENDER_JSON, True, chunk) == read(
        data, line_format, InputFormat.RENDER_JSON, False, chunk)


def well_formed_syslog_lines() -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, 59), st.sampled_from(MESSAGES)).map(
        lambda p: f"<134>1 2026-11-29T10:00:{p[0]:02d}.000Z srv-1 bot 1 - - {p[1]}")


def well_formed_render_lines() -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, 59), st.sampled_from(MESSAGES), st.sampled_from(["info", "error", "x"])).map(
        lambda p: json.dumps({"timestamp": f"2026-11-29T10:00:{p[0]:02d}Z", "message": p[1],
                              "labels": [{"name": "level", "value": p[2]}]}))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(well_formed_syslog_lines(), syslog_lines()), min_size=2, max_size=16),
       st.sampled_from([64, 256, 1 << 20]))
def test_syslog_blocks_read_in_two_halves_on_two_threads_equal_the_python_reader(
        line_format: BotLineFormat, lines: list[str], chunk: int) -> None:
    """Every range is split (declined lines in either half, or at the middle, included)."""
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    assert read(data, line_format, InputFormat.SYSLOG, True, chunk, halves=True) == read(
        data, line_format, InputFormat.SYSLOG, False, chunk)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(well_formed_render_lines(), render_lines()), min_size=2, max_size=16),
       st.sampled_from([64, 256, 1 << 20]))
def test_render_json_blocks_read_in_two_halves_on_two_threads_equal_the_python_reader(
        line_format: BotLineFormat, lines: list[str], chunk: int) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    assert read(data, line_format, InputFormat.RENDER_JSON, True, chunk, halves=True) == read(
        data, line_format, InputFormat.RENDER_JSON, False, chunk)


RAW_JSON_STRINGS = [  # a message's JSON text as written in the export (a backslash is written "\\" here)
    "plain", 'quote \\" and backslash \\\\ and slash \\/', "\\b\\f\\n\\r\\t", "\\u0041\\u00e9\\u65e5",
    "\\ud83d\\ude00", "\\ud83d", "\\ud83d\\u0041", "\\ude00 low first", "\\ud83d\\ud83d", "\\ud83d\\",
    "\\ud83d\\u00", "\\u12", "\\u12G4", "\\x", "\\ ", "raw\ttab", "nul\x00", "ends in \\", 'ends in \\"',
    "é日本", "\\\\u0041", "2026-11-29 10:00:01,123 - bot - ERROR - x\\ny",
    '{\\"levelname\\": \\"ERROR\\", \\"message\\": \\"m\\"}', '{\\"level\\u006eame\\": \\"ERROR\\"}',
]


@pytest.mark.parametrize("raw", RAW_JSON_STRINGS)
@pytest.mark.parametrize("halves", [False, True])
def test_escapes_in_render_messages_read_natively_equal_the_python_reader(line_format: BotLineFormat, raw: str,
                                                                          halves: bool) -> None:
    line = '{"timestamp": "2026-11-29T10:00:01Z", "message": "' + raw + '", "labels": []}'
    data = "\n".join([line, line.replace("10:00:01", "10:00:02"), line]).encode("utf-8", "surrogatepass") + b"\n"
    assert read(data, line_format, InputFormat.RENDER_JSON, True, 1 << 20, halves) == read(
        data, line_format, InputFormat.RENDER_JSON, False, 1 << 20)


def test_a_text_message_with_any_one_byte_of_its_asctime_changed_reads_natively_as_in_python(
        line_format: BotLineFormat) -> None:
    """The parser checks the asctime eight bytes at a time: every byte value at every position, as the regex."""
    stamp = b"2026-11-29 10:00:01,123"
    lines = []
    for position in range(len(stamp)):
        for value in range(256):
            if value in b"\n\r":
                continue
            changed = stamp[:position] + bytes([value]) + stamp[position + 1:]
            lines.append(b"<134>1 2026-11-29T10:00:01.000Z srv-1 bot 1 - - " + changed + b" - bot.api - ERROR - x")
    data = b"\n".join(lines) + b"\n"
    assert read(data, line_format, InputFormat.SYSLOG, True, 1 << 20) == read(data, line_format, InputFormat.SYSLOG,
                                                                              False, 1 << 20)


LABELS = [  # labels arrays as written, some repeated with another level, some broken
    '[{"name": "resource", "value": "srv-1"}, {"name": "level", "value": "info"}]',
    '[{"name": "resource", "value": "srv-1"}, {"name": "level", "value": "error"}]',
    '[{"name": "resource", "value": "srv-1"}, {"name": "level", "value": "info"}, {"name": "level", "value": "warn"}]',
    '[{"name": "resource", "value": "srv-1"}, {"name": "level", "value": 5}]',
    '[{"name": "resource", "value": "srv-1"}, {"name": "lev\\u0065l", "value": "error"}]',
    '[{"name": "resource", "value": "srv-1"}]', "[]", '[{"name": "level"}]',
    '[{"name": "resource", "value": "srv-1"}, {"name": "level", "value": "info"}',
    '[{"name": "resource", "value": "srv-1"}, {"name": "level", "value": "info"}]]',
    '[{"name": "resource", "value": "' + "x" * 600 + '"}, {"name": "level", "value": "error"}]',
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LABELS), st.sampled_from(MESSAGES), st.sampled_from(["", ', "x": 1'])),
                min_size=1, max_size=12), st.booleans())
def test_render_lines_repeating_a_labels_array_read_natively_equal_the_python_reader(
        line_format: BotLineFormat, records: list[tuple[str, str, str]], halves: bool) -> None:
    """The parser remembers the last labels array it read: a repeat, or one that only starts alike, reads the same."""
    data = "\n".join('{"timestamp": "2026-11-29T10:00:01Z", "message": ' + json.dumps(message) + ', "labels": '
                     + labels + after + "}" for labels, message, after in records).encode() + b"\n"
    assert read(data, line_format, InputFormat.RENDER_JSON, True, 1 << 20, halves) == read(
        data, line_format, InputFormat.RENDER_JSON, False, 1 << 20)


def test_a_batch_still_held_is_never_filled_again(line_format: BotLineFormat) -> None:
    """The parser refills the bytearray of a batch only once nothing else holds it (nor a view of it)."""
    messages = [f"message {s} ".encode() * 20 for s in range(3000)]
    data = b"".join(b"<134>1 2026-11-29T10:00:%02d.000Z srv-1 bot 1 - - %s\n" % (s % 60, m)
                    for s, m in enumerate(messages))
    held, views, contents = [], [], []
    for index, batch in enumerate(iter_batches(io.BufferedReader(io.BytesIO(data)), line_format, InputFormat.SYSLOG,
                                               chunk_bytes=16 * 1024)):
        contents.append(bytes(batch.data))
        if index % 3 == 0:
            held.append(batch.data)
        elif index % 3 == 1:
            views.append(memoryview(batch.data))
    assert len(contents) > 10
    assert [bytes(data) for data in held] == contents[0::3]
    assert [view.tobytes() for view in views] == contents[1::3]
    assert b"".join(contents) == b"".join(m + b"\n" for m in messages)


def test_declined_lines_in_both_halves_go_to_python_once_and_records_keep_input_order(
        line_format: BotLineFormat, monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[bytes] = []
    original = native_records._python_record
    monkeypatch.setattr(native_records, "_python_record", lambda raw, *rest: handed.append(bytes(raw))
                        or original(raw, *rest))
    lines = [f"<134>1 2026-11-29T10:00:{s:02d}.000Z srv-1 bot 1 - - message {s}" for s in range(40)]
    lines[5] = lines[5].replace("message", "é٢ message")  # non-ASCII digits: Python's reading decides
    lines[33] = lines[33].replace("message", "é٢ message")
    data = "\n".join(lines).encode() + b"\n"
    records, _levels = read(data, line_format, InputFormat.SYSLOG, True, 1 << 20, halves=True)  # type: ignore[misc]
    assert [message for message, _time in records] == [line.split(" - - ")[1].encode() for line in lines]
    assert handed == [data.splitlines()[5], data.splitlines()[33]]


def test_well_formed_lines_are_read_natively(line_format: BotLineFormat, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser must not quietly hand every line to Python: on the bot's ordinary lines it reads them all."""
    handed: list[bytes] = []
    original = native_records._python_record
    monkeypatch.setattr(native_records, "_python_record", lambda raw, *rest: handed.append(bytes(raw))
                        or original(raw, *rest))
    syslog = b"".join(b"<134>1 2026-11-29T10:00:%02d.000Z srv-1 bot 1 - - 2026-11-29 10:00:%02d,000 - bot.api - "
                      b"INFO - handled duration_ms=5\n" % (s, s) for s in range(30))
    render = b"".join(json.dumps({"timestamp": f"2026-11-29T10:00:{s:02d}Z", "message": json.dumps(
        {"asctime": "x", "levelname": "ERROR", "message": "Queue full"}), "labels": [{"name": "level", "value":
                                                                                     "error"}]}).encode() + b"\n"
                     for s in range(30))
    assert read(syslog, line_format, InputFormat.SYSLOG, True, 1 << 20)[1] == Counter({"INFO": 30})  # type: ignore[index]
    assert read(render, line_format, InputFormat.RENDER_JSON, True, 1 << 20)[1] == Counter({"ERROR": 30})  # type: ignore[index]
    labelled = b"".join(json.dumps({"timestamp": f"2026-11-29T10:00:{s:02d}Z", "message": "plain", "labels": [
        {"name": "resource", "value": "srv"}, {"name": "level", "value": "warn" if s % 3 else "info"}]}).encode()
        + b"\n" for s in range(30))
    assert read(labelled, line_format, InputFormat.RENDER_JSON, True, 1 << 20)[1] == Counter(  # type: ignore[index]
        {"WARNING": 20, "INFO": 10})
    assert handed == []


@pytest.mark.parametrize("native", [True, False])
def test_a_lone_surrogate_in_a_message_does_not_stop_the_scan(line_format: BotLineFormat, native: bool) -> None:
    data = b'{"timestamp": "2026-11-29T10:00:01Z", "message": "\\ud800 Queue full"}\n'
    records, _levels = read(data, line_format, InputFormat.RENDER_JSON, native, 1 << 20)  # type: ignore[misc]
    assert records == [(b"? Queue full", 1_795_946_401_000_000_000)]


@pytest.mark.parametrize("fmt", ["syslog", "render-json"])
def test_reports_with_every_range_parsed_in_two_halves_equal_the_golden_reports(
        truth: Truth, line_format: BotLineFormat, fmt: str) -> None:
    golden = json.loads(random_logs.GOLDEN.read_text(encoding="utf-8"))
    with mock.patch.object(native_records, "split_min_bytes", lambda: 1):
        for seed in random_logs.SEEDS:
            document = random_logs.scan_bytes(random_logs.render(seed, truth, fmt), fmt, truth)
            assert json.loads(json.dumps(document)) == golden[f"{seed}/{fmt}/full"], seed
