"""Syslog and Render JSON-lines exports into scanner batches through the native parser (`_records.c`).

The parser reads each well-formed line into the batch (message, time, level) without the GIL, exactly as
`inputs.py` reads it; a line it cannot vouch for (malformed, or reading that depends on Python's Unicode rules) is
handed to the Python reader, which adds the same record, or raises the same located InputError, as without the
parser. With two cores, the parser reads the two halves of a block at once (the second on a thread of its own) and
keeps the records in input order; the batches are the same as on one thread. A JSON *array* export, a `--tail`
pipe and a missing build take the Python reader for the whole input.
"""

from __future__ import annotations

import os
from array import array
from collections import Counter
from collections.abc import Iterator
from typing import IO

from generator.logs.inputs import (
    _UTF8_BOM,
    TEXT_FORMAT_PLACEHOLDER,
    Batch,
    BotLineFormat,
    InputFormat,
    LogRecord,
    cores_available,
    encode_line,
    iter_line_blocks,
    json_line_value,
    peek_head,
    render_record,
    syslog_record,
    syslog_severity_levels,
)
from generator.logs.line_stats import NATIVE_DISABLED_ENV, native_ops

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A block's lines are parsed as two halves on two threads when the process may use two cores and the part still to
# parse is at least this long (a thread costs tens of microseconds; a 1 MiB block, about a millisecond of parsing).
SPLIT_MIN_BYTES = 256 * 1024

try:
    from generator.logs import _records
except ImportError:  # not built: the Python reader answers alike
    _records = None  # type: ignore[assignment]
try:
    from generator.logs import _linestats, _linetimes
except ImportError:  # not built: the Python reader answers alike
    _linetimes = None  # type: ignore[assignment]


def _text_levels_native(line_format: BotLineFormat) -> bool:
    """The parser decides a text message's level from the prefix and `LEVEL<suffix>` alone: only when the message
    field follows the level directly and ends the format (as in the bot's `... - %(levelname)s - %(message)s`)."""
    fmt = line_format.text_format
    placeholders = list(TEXT_FORMAT_PLACEHOLDER.finditer(fmt))
    names = [p.group(1) for p in placeholders]
    if "levelname" not in names or native_ops(fmt) is None:
        return False
    level = placeholders[names.index("levelname")]
    rest = placeholders[names.index("levelname") + 1:]
    return (len(rest) == 1 and rest[0].group(1) == "message" and rest[0].end() == len(fmt)
            and fmt[level.end():rest[0].start()] == line_format.level_suffix)


def native_timed_lines(blocks: Iterator[bytearray], line_format: BotLineFormat
                       ) -> Iterator[tuple[list[str], list[int | None]]] | None:
    """Per block of `lines` input: its lines, decoded as the Python reader decodes them, and the time of each that
    `_linetimes.c` vouches for (None: the Python reader decides, e.g. for a JSON line). None when the kernel does
    not apply: not built, disabled, or a text format it cannot read (the time must come first, after literals)."""
    if _linetimes is None or os.environ.get(NATIVE_DISABLED_ENV) or not _text_levels_native(line_format):
        return None
    ops = native_ops(line_format.text_format)
    kinds = [kind for kind, _text in ops or ()]
    if ops is None or _linestats.OP_ASCTIME not in kinds or any(kind != _linestats.OP_LITERAL
                                                  for kind in kinds[:kinds.index(_linestats.OP_ASCTIME)]):
        return None
    return (_linetimes.timed_lines(block, ops, line_format.text_level_markers) for block in blocks)


def native_record_batches(stream: IO[bytes], line_format: BotLineFormat, input_format: InputFormat, source: str,
                          chunk_bytes: int) -> Iterator[Batch] | None:
    """Batches of a syslog or Render JSON-lines export, or None when the native parser does not apply."""
    if _records is None or os.environ.get(NATIVE_DISABLED_ENV) or input_format is InputFormat.LINES:
        return None
    head = peek_head(stream).removeprefix(_UTF8_BOM).lstrip()
    if input_format is InputFormat.RENDER_JSON and head.startswith(b"["):
        return None  # one JSON array: the incremental Python decoder
    ops = native_ops(line_format.text_format) or ()
    levels = line_format.levels
    severity = tuple(levels.index(level) if level else -1 for level in syslog_severity_levels(line_format))
    parser = _records.RecordParser(
        _records.KIND_SYSLOG if input_format is InputFormat.SYSLOG else _records.KIND_RENDER, ops,
        _text_levels_native(line_format), line_format.text_level_markers,
        tuple(level.encode() for level in levels), line_format.level_key.encode(), severity,
        split_min_bytes())
    return _batches(parser, stream, line_format, input_format, source, chunk_bytes)


def split_min_bytes() -> int:
    """How long a range must be to be parsed in two halves at once; 0 (never) on a single core."""
    return SPLIT_MIN_BYTES if cores_available() >= 2 else 0


def _batches(parser: _records.RecordParser, stream: IO[bytes], line_format: BotLineFormat,
             input_format: InputFormat, source: str, chunk_bytes: int) -> Iterator[Batch]:
    levels = line_format.levels
    number = 0  # input lines read so far (error messages name them)
    entry = 1
    first = True
    beyond_int64: dict[int, int] = {}  # record index in the batch -> a time the parser's int64 cannot hold
    for block in iter_line_blocks(stream, chunk_bytes, reuse_buffers=2):
        offset = 0
        if first and input_format is InputFormat.RENDER_JSON and block.startswith(_UTF8_BOM):
            offset = len(_UTF8_BOM)  # the reader drops a BOM at the start of the export
        first = False
        while True:
            offset, lines, declined = parser.parse(block, offset)
            number += lines
            if not declined:
                break
            end = block.index(b"\n", offset)
            number += 1
            record = _python_record(block[offset:end], line_format, input_format, source, number)
            if record is not None:
                ts = record.timestamp_ns
                assert ts is not None  # syslog and Render records always carry one
                if not _INT64_MIN <= ts <= _INT64_MAX:  # before 1678 or after 2262
                    beyond_int64[parser.records] = ts
                    ts = 0
                parser.add(encode_line(record.line), ts,
                           levels.index(record.level) if record.level else -1)
            offset = end + 1
        if parser.size >= chunk_bytes:
            batch = _take(parser, levels, entry, beyond_int64)
            entry += batch.entries or 0
            yield batch
    if parser.records:
        yield _take(parser, levels, entry, beyond_int64)


def _python_record(raw: bytes | bytearray, line_format: BotLineFormat, input_format: InputFormat, source: str,
                   number: int) -> LogRecord | None:
    if input_format is InputFormat.SYSLOG:
        return syslog_record(raw, line_format, source, number)
    if not raw.strip():
        return None
    return render_record(json_line_value(raw, source, number), line_format, f"{source}:{number}")


def _take(parser: _records.RecordParser, levels: tuple[str, ...], entry: int, beyond_int64: dict[int, int]) -> Batch:
    data, starts_bytes, stamps_bytes, counts = parser.take()
    starts, stamps = array("q"), array("q")
    starts.frombytes(starts_bytes)
    stamps.frombytes(stamps_bytes)
    timestamps: array | list[int | None] = stamps
    if beyond_int64:
        timestamps = list(stamps)
        for index, ts in beyond_int64.items():
            timestamps[index] = ts
        beyond_int64.clear()
    level_counts = Counter({level: n for level, n in zip(levels, counts, strict=True) if n})
    return Batch(data, entry, len(starts), starts=starts, timestamps=timestamps, level_counts=level_counts)
