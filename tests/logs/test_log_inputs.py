"""Reading exported logs: Render JSON (lines and array), RFC 5424 syslog, and the bot's own text/JSON lines."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.logs.inputs import (
    BotLineFormat,
    InputError,
    InputFormat,
    detect_format,
    iter_batches,
    iter_line_blocks,
    parse_asctime,
    parse_rfc3339,
    read_records,
)
from generator.truth import load_truth

TEXT_LINE = "2026-11-29 10:00:01,123 - bot.webhook - WARNING - Duplicate update_id 987654 user_id=42 duration_ms=87"
BOT_JSON_LINE = json.dumps({"asctime": "2026-11-29 10:00:02,500", "name": "bot.api", "levelname": "ERROR",
                            "message": "Error handling request", "operation": "webhook", "duration_ms": 1200})
T1 = datetime(2026, 11, 29, 10, 0, 1, 123000, tzinfo=UTC)


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@pytest.fixture(scope="module")
def line_format() -> BotLineFormat:
    return BotLineFormat.from_truth(load_truth().logs)


def stream(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(data))


def records(data: bytes, line_format: BotLineFormat, chunk_bytes: int = 1 << 20):
    return list(read_records(stream(data), line_format, chunk_bytes=chunk_bytes))


# --- timestamps --------------------------------------------------------------------------------------------------


def test_asctime_is_read_as_utc_with_milliseconds() -> None:
    assert parse_asctime("2026-11-29 10:00:01,123") == ns(T1)
    assert parse_asctime("2026-02-30 10:00:01,123") is None
    assert parse_asctime("yesterday") is None


def test_rfc3339_keeps_nanoseconds_and_applies_the_zone_offset() -> None:
    assert parse_rfc3339("2026-11-29T10:00:01.123456789Z") == ns(T1.replace(microsecond=0)) + 123456789
    assert parse_rfc3339("2026-11-29T11:00:01.123+01:00") == ns(T1)
    assert parse_rfc3339("2026-11-29T10:00:01") is None  # a zone is mandatory in RFC 3339


# --- the bot's line format, derived from truth.yaml ----------------------------------------------------------------


def test_text_line_gives_time_level_and_key_value_tags(line_format: BotLineFormat) -> None:
    ts, level, tags = line_format.parse(TEXT_LINE)
    assert (ts, level) == (ns(T1), "WARNING")
    assert tags == {"user_id": "42", "duration_ms": "87"}


def test_bot_json_line_gives_time_level_and_tags(line_format: BotLineFormat) -> None:
    ts, level, tags = line_format.parse(BOT_JSON_LINE)
    assert level == "ERROR"
    assert ts == ns(datetime(2026, 11, 29, 10, 0, 2, 500000, tzinfo=UTC))
    assert tags == {"operation": "webhook", "duration_ms": "1200"}


def test_a_line_in_neither_format_has_no_time_or_level(line_format: BotLineFormat) -> None:
    assert line_format.parse('  File "/app/bot/payments.py", line 88, in to_json') == (None, None, {})
    assert line_format.parse("2026-11-29 10:00:01,123 - bot - NOTICE - custom level")[1] is None


# --- detection ---------------------------------------------------------------------------------------------------


RENDER_OBJECT = {"timestamp": "2026-11-29T10:00:01.123Z", "message": TEXT_LINE,
                 "labels": [{"name": "resource", "value": "srv-abc"}, {"name": "level", "value": "info"}]}
SYSLOG_LINE = f"<134>1 2026-11-29T10:00:01.123Z srv-abc telegram-bot 7 - - {TEXT_LINE}"


@pytest.mark.parametrize(("data", "expected"), [
    (json.dumps([RENDER_OBJECT], indent=2).encode(), InputFormat.RENDER_JSON),
    ((json.dumps(RENDER_OBJECT) + "\n").encode(), InputFormat.RENDER_JSON),
    ((SYSLOG_LINE + "\n").encode(), InputFormat.SYSLOG),
    ((TEXT_LINE + "\n").encode(), InputFormat.LINES),
    ((BOT_JSON_LINE + "\n").encode(), InputFormat.LINES),  # the bot's JSON line is not a Render record
])
def test_format_is_detected_from_the_first_bytes(data: bytes, expected: InputFormat,
                                                 line_format: BotLineFormat) -> None:
    assert detect_format(data, line_format) is expected


# --- records -----------------------------------------------------------------------------------------------------


def test_render_json_array_is_read_incrementally_across_blocks(line_format: BotLineFormat) -> None:
    objects = [dict(RENDER_OBJECT, message=f"{TEXT_LINE} #{i}") for i in range(50)]
    data = json.dumps(objects, indent=2).encode()
    got = records(data, line_format, chunk_bytes=97)  # blocks much smaller than one object
    assert [r.line for r in got] == [o["message"] for o in objects]
    assert got[0].labels == {"resource": "srv-abc", "level": "info"}
    assert got[0].level == "WARNING"  # the line's own level wins over Render's label
    assert got[0].timestamp_ns == ns(T1)


def test_render_json_lines_and_label_level_fallback(line_format: BotLineFormat) -> None:
    plain = dict(RENDER_OBJECT, message="==> Build successful", labels=[{"name": "level", "value": "warn"}])
    got = records((json.dumps(plain) + "\n\n" + json.dumps(RENDER_OBJECT) + "\n").encode(), line_format)
    assert [r.level for r in got] == ["WARNING", "WARNING"]
    assert got[0].line == "==> Build successful"


def test_render_record_with_a_bad_field_names_line_and_field(line_format: BotLineFormat) -> None:
    bad = dict(RENDER_OBJECT, timestamp="not a time")
    with pytest.raises(InputError, match=r"<input>:2: field `timestamp`"):
        records((json.dumps(RENDER_OBJECT) + "\n" + json.dumps(bad) + "\n").encode(), line_format)


def test_bad_element_of_a_render_array_is_located_by_line_across_blocks(line_format: BotLineFormat) -> None:
    objects = [RENDER_OBJECT] * 30 + [dict(RENDER_OBJECT, message=None)]
    text = json.dumps(objects, indent=1)  # one object spans many lines
    bad_line = text[:text.rindex("\n {")].count("\n") + 2  # where the last object starts
    with pytest.raises(InputError, match=rf"<input>:{bad_line}: field `message` must be a string"):
        records(text.encode(), line_format, chunk_bytes=101)


def test_truncated_render_array_is_an_error_not_a_silent_end(line_format: BotLineFormat) -> None:
    data = json.dumps([RENDER_OBJECT, RENDER_OBJECT]).encode()[:-1]
    with pytest.raises(InputError, match="not closed"):
        records(data, line_format)


def test_syslog_header_structured_data_and_message(line_format: BotLineFormat) -> None:
    data = (f"{SYSLOG_LINE}\n"
            '<131>1 2026-11-29T11:00:02+01:00 srv-abc telegram-bot 7 ID47 [meta x="a\\]b" y="c"] plain stderr line\n'
            ).encode()
    first, second = records(data, line_format)
    assert first.line == TEXT_LINE and first.timestamp_ns == ns(T1) and first.level == "WARNING"
    assert first.labels == {"severity": "info", "facility": "16", "hostname": "srv-abc",
                            "app_name": "telegram-bot", "procid": "7"}
    assert second.line == "plain stderr line"
    assert second.level == "ERROR"  # syslog severity 3 (err) when the line carries no level of its own
    assert second.labels["msgid"] == "ID47"


def test_malformed_syslog_line_is_reported_with_its_line_number(line_format: BotLineFormat) -> None:
    with pytest.raises(InputError, match=r"<input>:2: not an RFC 5424"):
        records(f"{SYSLOG_LINE}\nnot syslog\n".encode(), line_format)


def test_continuation_lines_take_the_time_of_the_line_above(line_format: BotLineFormat) -> None:
    data = (f"{TEXT_LINE}\nTraceback (most recent call last):\n  File \"x.py\", line 1\n{BOT_JSON_LINE}\n").encode()
    got = records(data, line_format)
    assert [r.timestamp_ns for r in got[:3]] == [ns(T1)] * 3
    assert [r.level for r in got] == ["WARNING", None, None, "ERROR"]


# --- blocks and batches ------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       st.booleans(), st.integers(min_value=1, max_value=64))
def test_blocks_are_whole_lines_that_rebuild_the_input(lines: list[bytes], final_newline: bool,
                                                       chunk: int) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    blocks = list(iter_line_blocks(io.BytesIO(data), chunk))
    assert all(block.endswith(b"\n") for block in blocks)
    expected = data if (not data or data.endswith(b"\n")) else data + b"\n"
    assert b"".join(blocks) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       st.integers(min_value=1, max_value=64))
def test_recycled_block_buffers_stay_intact_while_the_next_two_are_read(lines: list[bytes], chunk: int) -> None:
    data = b"\n".join(lines) + b"\n"
    held: list[tuple[bytearray, bytes]] = []
    for block in iter_line_blocks(io.BytesIO(data), chunk, reuse_buffers=3):
        assert all(bytes(buffer) == content for buffer, content in held[-2:])
        held.append((block, bytes(block)))
    assert b"".join(content for _buffer, content in held) == data


def test_record_batches_keep_multi_line_messages_as_one_entry(line_format: BotLineFormat) -> None:
    multi = dict(RENDER_OBJECT, message="Traceback (most recent call last):\n  File \"x.py\"\nValueError: boom")
    data = "\n".join(json.dumps(o) for o in (RENDER_OBJECT, multi, RENDER_OBJECT)).encode()
    (batch,) = list(iter_batches(stream(data), line_format, InputFormat.RENDER_JSON))
    assert batch.entries == 3
    offset = batch.data.index(b"ValueError")
    start, end, index = batch.entry_bounds(offset)
    assert index == 1
    assert batch.data[start:end].decode() == multi["message"]
