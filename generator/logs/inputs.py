"""Exported logs in, records out: the bot's logs in any of three shapes, auto-detected, streamed in bounded memory.

Input formats:
- `render-json`: `render logs -o json` output, one JSON object per line or one JSON array; each record has
  `timestamp` (RFC 3339), `message` (the log line) and `labels: [{name, value}]`.
- `syslog`: RFC 5424 lines as Render log streams deliver them: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`.
- `lines`: the bot's own output, one entry per line: the text format of truth.yaml (`%(asctime)s - %(name)s -
  %(levelname)s - %(message)s`) and the bot's JSON lines (`asctime`, `name`, `levelname`, `message` and tags), mixed.
  A line without its own time (a traceback line) takes the time of the line before it (it was written right after).

The bot's `asctime` carries no zone: it is read as UTC (assumed: the containers run with TZ unset, i.e. UTC).

Two views of the same input: `read_records` yields one `LogRecord` per entry (timestamp, labels, line, level), for the
backtest; `iter_batches` yields newline-separated blocks of entry lines with just enough index to find a line's time
again, for the scanner, which never touches lines that do not match.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import stat
from array import array
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cached_property, lru_cache
from itertools import chain
from types import MappingProxyType
from typing import IO, TYPE_CHECKING

from generator.syntax.re2_regex import re2_escape

if TYPE_CHECKING:
    from generator.truth.model import Logs

Buffer = bytes | bytearray  # blocks are bytearrays read in place; single lines may be either
# A block: small enough for the CPU cache (Hyperscan and the kernel reuse it there), big enough that the hand-over of
# its second part to the other thread is rare: 2 MiB scans 200 MB of text in 0.22 s wall against 0.24 s for 1 MiB
# (same CPU; bench/README.md).
CHUNK_BYTES = 2 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024  # one line longer than this is cut: it cannot be a real log line


def cores_available() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow): whether a block
    is worth reading or scanning in two halves at once."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1

# Python logging's default asctime: `2026-11-29 10:00:01,123`.
ASCTIME_REGEX = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
_ASCTIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[,.](\d{1,9}))?$")
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):?(\d\d))$"
)
TEXT_FORMAT_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdfr]")

# RFC 5424: `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]`.
_SYSLOG_HEADER = re.compile(rb"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ")
_SYSLOG_SEVERITY_LEVEL = ("CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG")
_SYSLOG_SEVERITY_NAME = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_UTF8_BOM = b"\xef\xbb\xbf"


class InputError(ValueError):
    """The input cannot be read in the detected or requested format; the message names where and why."""


class InputFormat(StrEnum):
    RENDER_JSON = "render-json"
    SYSLOG = "syslog"
    LINES = "lines"


@dataclass(frozen=True)
class LogRecord:
    timestamp_ns: int | None
    line: str
    labels: dict[str, str]
    level: str | None


# --- timestamps --------------------------------------------------------------------------------------------------

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _epoch_seconds(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Raises ValueError for an impossible date or time (30 February, 25:00), as `datetime(...)` does; else what
    `calendar.timegm(datetime(...).timetuple())` returns, without building either for every second."""
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59):
        raise ValueError(f"time out of range: {hour}:{minute}:{second}")
    return _epoch_day(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


@lru_cache(maxsize=4096)
def _epoch_day(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (proleptic Gregorian); ValueError for an impossible date."""
    return date(year, month, day).toordinal() - _EPOCH_ORDINAL


def _fraction_ns(digits: str | None) -> int:
    return int(digits.ljust(9, "0")) if digits else 0


def parse_asctime(text: str) -> int | None:
    """`2026-11-29 10:00:01,123` (UTC) -> nanoseconds since the epoch; None if it is not one."""
    match = _ASCTIME.match(text)
    if not match:
        return None
    seconds = _asctime_seconds(text[:match.end(6)])  # a log's lines share their second: one parse per second
    if seconds is None:
        return None
    return seconds * 1_000_000_000 + _fraction_ns(match.group(7))


def asctime_field_ns(asctime: str) -> int | None:
    """`parse_asctime` of a text the text format's asctime field matched (ASCTIME_REGEX, `dddd-dd-dd dd:dd:dd,ddd`):
    that shape always matches `_ASCTIME`, so its fields are cut at known places; a log's lines share their minute."""
    minute = _asctime_minute(asctime[:16])
    second = int(asctime[17:19])
    if minute is None or second > 59:
        return None  # an impossible date, hour or minute; or second, as datetime() refuses 60
    return (minute + second) * 1_000_000_000 + int(asctime[20:]) * 1_000_000  # three digits: milliseconds


@lru_cache(maxsize=4096)
def _asctime_minute(date_minute: str) -> int | None:
    """Seconds since the epoch at the start of a `dddd-dd-dd dd:dd` minute, None for an impossible one."""
    try:
        return _epoch_seconds(int(date_minute[:4]), int(date_minute[5:7]), int(date_minute[8:10]),
                              int(date_minute[11:13]), int(date_minute[14:16]), 0)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _asctime_seconds(date_time: str) -> int | None:
    """Seconds since the epoch of the `YYYY-MM-DD HH:MM:SS` part of an asctime, None for an impossible date."""
    match = _ASCTIME.match(date_time)
    assert match is not None  # the part of a text `_ASCTIME` matched, less its optional fraction: matches alone
    y, mo, d, h, mi, s, _frac = match.groups()
    try:
        return _epoch_seconds(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        return None


def parse_rfc3339(text: str) -> int | None:
    """RFC 3339 with up to nanoseconds and a zone (`Z` or `+hh:mm`) -> nanoseconds since the epoch."""
    match = _RFC3339.match(text.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, frac, zulu, sign, off_h, off_m = match.groups()
    try:
        seconds = _epoch_seconds(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        return None
    if not zulu:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds -= offset if sign == "+" else -offset
    return seconds * 1_000_000_000 + _fraction_ns(frac)


# --- the bot's line format (from truth.yaml) ---------------------------------------------------------------------


def _field_regex(name: str, levels: str, last: bool) -> str:
    if name == "asctime":
        return f"(?P<asctime>{ASCTIME_REGEX})"
    if name == "levelname":
        return f"(?P<levelname>{levels})"
    if name == "name":
        # Logger names are dotted identifiers. `[^ \n]` rather than `\S`: Hyperscan's `\S` excludes `\v`, RE2's does
        # not; and never `\n`: in a block of lines the name must not run into the next line (it took that line's level).
        return r"(?P<name>[^ \n]+)"
    if name == "message":
        return "(?P<message>.*)" if last else "(?P<message>.*?)"
    return ".*" if last else ".*?"


@dataclass(frozen=True)
class BotLineFormat:
    """How the bot writes a line, compiled from truth.yaml `logs` (text_format, json_fields, levels, tags).

    The regexes are strings in the syntax RE2, Hyperscan and Python's `re` read alike (no RE2-only syntax), so the
    scanner hands the very same text to Hyperscan that this module matches with `re`.
    """

    text_regex: str  # whole text line, named groups asctime/name/levelname/message
    level_suffix: str  # the literal text right after the level in a text line (` - `)
    levels: tuple[str, ...]
    time_key: str
    level_key: str
    message_key: str
    tag_names: tuple[str, ...]
    text_format: str = ""  # truth.yaml's `%(asctime)s - ...`, for the native kernels
    _compiled: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_truth(cls, logs: Logs) -> BotLineFormat:
        from generator.plan.log_format import level_separators

        levels = tuple(level.name for level in logs.levels)
        level_alternation = "|".join(levels)
        parts: list[str] = []
        pos = 0
        placeholders = list(TEXT_FORMAT_PLACEHOLDER.finditer(logs.text_format))
        for index, placeholder in enumerate(placeholders):
            parts.append(re2_escape(logs.text_format[pos:placeholder.start()]))
            parts.append(_field_regex(placeholder.group(1), level_alternation, index == len(placeholders) - 1))
            pos = placeholder.end()
        parts.append(re2_escape(logs.text_format[pos:]))
        return cls(
            text_regex="^" + "".join(parts) + "$",
            level_suffix=level_separators(logs)[1],
            levels=levels,
            time_key=logs.json_fields.time,
            level_key=logs.json_fields.level,
            message_key=logs.json_fields.message,
            tag_names=tuple(tag.name for tag in logs.standard_tags),
            text_format=logs.text_format,
        )

    @cached_property
    def standard_asctime(self) -> bool:
        """Whether the text regex's asctime field is ASCTIME_REGEX (always, from truth.yaml; a hand-made format may
        differ): then `asctime_field_ns` reads it."""
        return f"(?P<asctime>{ASCTIME_REGEX})" in self.text_regex

    @property
    def text_level_markers(self) -> tuple[bytes, ...]:
        """Each level as it ends a text line's prefix (`ERROR - `), in truth order: what the native kernels match."""
        return tuple(level.encode() + self.level_suffix.encode() for level in self.levels)

    def text_level_prefix_regex(self) -> str:
        """Matches a text line from its start to where its level begins (`2026-... - bot.api - `)."""
        return self.text_regex[: self.text_regex.index("(?P<levelname>")]

    def json_level_prefix_regex(self) -> str:
        """Matches a JSON line from its start to where its level value begins (`{... "levelname": "`). Blanks are
        spelled out: `\\s` would match the newline to the next line of a block."""
        return r'^\{.*"' + re2_escape(self.level_key) + r'"[\t\x0b\x0c\r ]*:[\t\x0b\x0c\r ]*"'

    def _re(self, regex: str) -> re.Pattern[str]:
        compiled = self._compiled.get(regex)
        if compiled is None:
            compiled = self._compiled[regex] = re.compile(regex)
        return compiled

    def parse(self, line: str, with_tags: bool = True) -> tuple[int | None, str | None, dict[str, str]]:
        """(timestamp ns, level, tags) of one line in either of the bot's formats; Nones when it is neither."""
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                time_value = obj.get(self.time_key)
                level = obj.get(self.level_key)
                tags = {name: _scalar_text(obj[name]) for name in self.tag_names if name in obj} if with_tags else {}
                return (
                    parse_asctime(time_value) if isinstance(time_value, str) else None,
                    level if isinstance(level, str) and level in self.levels else None,
                    tags,
                )
            return None, None, {}
        match = self._re(self.text_regex).match(line)
        if not match:
            return None, None, {}
        groups = match.re.groupindex  # the format may lack a field: its value is None, as in groupdict()
        asctime = match.group("asctime") if "asctime" in groups else None
        return (
            (asctime_field_ns(asctime) if self.standard_asctime else parse_asctime(asctime)) if asctime else None,
            match.group("levelname") if "levelname" in groups else None,
            self.text_tags((match.group("message") if "message" in groups else None) or "") if with_tags else {},
        )

    def text_tags(self, message: str) -> dict[str, str]:
        """Standard tags written as `key=value` inside a text message (the first occurrence wins)."""
        tags: dict[str, str] = {}
        if not self.tag_names:
            return tags
        pattern = self._re(r"\b(" + "|".join(map(re.escape, self.tag_names)) + r")=([^\s,;]+)")
        for match in pattern.finditer(message):
            tags.setdefault(match.group(1), match.group(2))
        return tags


def _scalar_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# --- format detection --------------------------------------------------------------------------------------------


def detect_format(head: bytes, line_format: BotLineFormat) -> InputFormat:
    """Decide from the first bytes of the input; a `{` line is Render's only when it has Render's keys."""
    text = head.removeprefix(_UTF8_BOM).lstrip()
    if text.startswith(b"["):
        return InputFormat.RENDER_JSON
    if _SYSLOG_HEADER.match(text):
        return InputFormat.SYSLOG
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        try:
            obj = json.loads(first)
        except ValueError:
            return InputFormat.LINES
        if (isinstance(obj, dict) and "message" in obj and "timestamp" in obj
                and line_format.time_key not in obj):
            return InputFormat.RENDER_JSON
    return InputFormat.LINES


def peek_head(stream: IO[bytes], size: int = 65536) -> bytes:
    """The first bytes of a buffered stream without consuming them (works for pipes too)."""
    peek = getattr(stream, "peek", None)
    if peek is None:
        raise InputError("input stream cannot be peeked; open it with buffering")
    head = peek(size)[:size]
    return bytes(head)


# --- raw blocks of whole lines -----------------------------------------------------------------------------------


def iter_line_blocks(stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES, live: bool = False,
                     reuse_buffers: int = 0) -> Iterator[bytearray]:
    """Blocks of whole lines, each ending in `\\n` (a missing final newline is added). Memory: a few blocks.

    Each block is read into directly (no concatenation copies: this runs at memory speed). `reuse_buffers=n` cycles
    through n buffers instead of allocating one per block (fresh buffers cost page faults and zeroing): a
    block then stays valid only until n - 1 more blocks have been taken. `live` reads whatever has arrived (a
    `--tail` pipe) instead of waiting for a full block.
    """
    readinto = getattr(stream, "readinto1", None) if live else None
    readinto = readinto or getattr(stream, "readinto", None)
    buffers: list[bytearray] = []  # at most `reuse_buffers` of them
    in_use: deque[bytearray] = deque(maxlen=max(reuse_buffers - 1, 1))  # the last blocks handed out
    pending = b""
    while True:
        size = len(pending) + chunk_bytes
        block = next((b for b in buffers if not any(b is used for used in in_use)), None) if reuse_buffers else None
        if block is None:
            block = bytearray(size)
            if reuse_buffers:
                buffers.append(block)
        elif len(block) < size:
            block.extend(bytes(size - len(block)))  # regrows within its allocation: no copy
        block[:len(pending)] = pending
        with memoryview(block) as view:
            if readinto is not None:
                got = readinto(view[len(pending):size])
            else:  # a stream without readinto (rare): read and copy
                data = stream.read(chunk_bytes)
                got = len(data)
                view[len(pending):len(pending) + got] = data
        filled = len(pending) + (got or 0)
        if not got:
            break
        cut = block.rfind(b"\n", 0, filled) + 1
        if cut == 0 and filled < MAX_LINE_BYTES:  # no line end yet: keep reading (a monster line is cut)
            pending = bytes(block[:filled])
            continue
        cut = cut or filled
        pending = bytes(block[cut:filled])
        del block[cut:]  # truncating the end of a bytearray does not copy
        if block[-1:] != b"\n":
            block += b"\n"
        in_use.append(block)
        yield block
    if pending:
        yield bytearray(pending + b"\n")


class MappedLines:
    """A block of whole lines read in place from a mapped file: no copy is made until a few bytes are asked for.

    It answers the bytes methods the scanner uses on a block (`len`, slices, which copy just that slice, `find`,
    `rfind`, `split`); `view()` is the zero-copy buffer Hyperscan and the kernel read (see `block_view`).
    """

    __slots__ = ("_mapping", "_start", "_end")

    def __init__(self, mapping: mmap.mmap, start: int, end: int):
        self._mapping, self._start, self._end = mapping, start, end

    def __len__(self) -> int:
        return self._end - self._start

    def __getitem__(self, where: slice) -> bytes:
        start, stop, step = where.indices(len(self))
        if step != 1:
            raise ValueError("a block is sliced contiguously")
        return self._mapping[self._start + start:self._start + max(start, stop)]

    def _bounds(self, start: int, end: int | None) -> tuple[int, int]:
        start, end, _step = slice(start, end).indices(len(self))
        return self._start + start, self._start + max(start, end)

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        found = self._mapping.find(sub, *self._bounds(start, end))
        return found - self._start if found >= 0 else -1

    def rfind(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        found = self._mapping.rfind(sub, *self._bounds(start, end))
        return found - self._start if found >= 0 else -1

    def split(self, separator: bytes) -> list[bytes]:
        return self[:].split(separator)

    def view(self) -> memoryview:
        with memoryview(self._mapping) as whole:
            return whole[self._start:self._end]


BlockData = bytes | bytearray | MappedLines


def block_view(data: BlockData) -> memoryview:
    """A block as a buffer for Hyperscan and the kernel, without copying it (release it after use)."""
    return data.view() if isinstance(data, MappedLines) else memoryview(data)


def map_regular_file(stream: IO[bytes]) -> mmap.mmap | None:
    """The stream's file mapped read-only, when it is a regular file with something to read; else None (a pipe, a
    terminal, an in-memory stream: those are read)."""
    try:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size <= stream.tell():
            return None
        return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # no file descriptor (io.UnsupportedOperation is both), or mmap refused
        return None


_RELEASE_BYTES = 8 * 1024 * 1024  # scanned pages are unmapped by this much at a time


def iter_mapped_line_blocks(mapping: mmap.mmap, stream: IO[bytes],
                            chunk_bytes: int = CHUNK_BYTES) -> Iterator[MappedLines | bytes]:
    """`iter_line_blocks` over a mapped file, read in place: the same blocks (cut at the last newline before each
    `chunk_bytes` the reader would have read, a monster line cut alike, a missing final newline added), without
    copying them. The stream is moved along (its `tell()` is the progress) and closes as usual.

    Resident memory stays small: the pages of scanned blocks are dropped from the mapping as the scan goes (they
    stay in the page cache; a block still read later would just map them again). The file must not shrink while it
    is scanned (a read would see a shorter file; a mapping reading past the new end is killed by SIGBUS), as for
    ripgrep, which maps files too. The mapping is closed when the last of its blocks is let go.
    """
    size = len(mapping)
    start = stream.tell()
    if hasattr(mmap, "MADV_SEQUENTIAL"):  # read-ahead of a file not yet in the page cache, as for reads
        mapping.madvise(mmap.MADV_SEQUENTIAL)
    released = start - start % mmap.PAGESIZE  # pages before this are unmapped
    read_end = block_start = start
    while block_start < size:
        read_end = min(read_end + chunk_bytes, size)
        cut = mapping.rfind(b"\n", block_start, read_end) + 1
        if not cut:
            if read_end < size and read_end - block_start < MAX_LINE_BYTES:
                continue  # no line end yet: a reader would read on
            cut = read_end
        stream.seek(cut)
        if mapping[cut - 1] == ord("\n"):
            yield MappedLines(mapping, block_start, cut)
        else:
            yield mapping[block_start:cut] + b"\n"
        # the blocks before the one just yielded are done with (this one is reported while the next is scanned)
        done = block_start - block_start % mmap.PAGESIZE
        if done - released >= _RELEASE_BYTES and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED, released, done - released)
            released = done
        block_start = cut


# --- records -----------------------------------------------------------------------------------------------------


def _decode(raw: Buffer) -> str:
    return raw.decode("utf-8", errors="replace")


def read_records(stream: IO[bytes], line_format: BotLineFormat, input_format: InputFormat | None = None,
                 source: str = "<input>", live: bool = False, chunk_bytes: int = CHUNK_BYTES) -> Iterator[LogRecord]:
    """Every entry of the input as a LogRecord, in input order."""
    fmt = input_format or detect_format(peek_head(stream), line_format)
    blocks = iter_line_blocks(stream, chunk_bytes, live)
    if fmt is InputFormat.LINES:
        yield from _line_records(blocks, line_format)
    elif fmt is InputFormat.SYSLOG:
        yield from _syslog_records(blocks, line_format, source)
    else:
        for where, obj in _iter_json_values(blocks, source):
            yield render_record(obj, line_format, where)


Entry = tuple[int | None, str, Mapping[str, str]]  # what a replay reads of a record: time, line, labels
_NO_LABELS: Mapping[str, str] = MappingProxyType({})


def read_entries(stream: IO[bytes], line_format: BotLineFormat, input_format: InputFormat | None = None,
                 source: str = "<input>") -> Iterator[Entry]:
    """`read_records` as (timestamp, line, labels): no LogRecord per entry and no level (a replay reads millions of
    entries and no level)."""
    fmt = input_format or detect_format(peek_head(stream), line_format)
    blocks = iter_line_blocks(stream, CHUNK_BYTES)
    if fmt is InputFormat.LINES:
        yield from _timed_line_entries(blocks, line_format)
    elif fmt is InputFormat.SYSLOG:
        yield from _syslog_entries(blocks, source)
    else:
        for where, obj in _iter_json_values(blocks, source):
            yield render_entry(obj, where)


def _timed_line_entries(blocks: Iterator[bytearray], line_format: BotLineFormat) -> Iterator[Entry]:
    """`_line_entries` without levels; the native reader times the text lines, Python the others."""
    from generator.logs.native_records import native_timed_lines

    timed = native_timed_lines(blocks, line_format)
    if timed is None:
        for ts, line, _level in _line_entries(blocks, line_format):
            yield ts, line, _NO_LABELS
        return
    last_ts: int | None = None
    for lines, stamps in timed:
        for line, ts in zip(lines, stamps, strict=True):
            if ts is None:
                ts = line_format.parse(line, with_tags=False)[0]
            if ts is None:
                ts = last_ts
            else:
                last_ts = ts
            yield ts, line, _NO_LABELS


def _line_entries(blocks: Iterator[bytearray], line_format: BotLineFormat) -> Iterator[tuple[int | None, str,
                                                                                            str | None]]:
    """(timestamp, line, level) of each line; an untimed line takes the time of the last timed one above it."""
    last_ts: int | None = None
    for block in blocks:
        for raw in block.split(b"\n")[:-1]:
            line = _decode(raw.removesuffix(b"\r"))
            ts, level, _tags = line_format.parse(line, with_tags=False)
            if ts is None:
                ts = last_ts
            else:
                last_ts = ts
            yield ts, line, level


def _line_records(blocks: Iterator[bytearray], line_format: BotLineFormat) -> Iterator[LogRecord]:
    for ts, line, level in _line_entries(blocks, line_format):
        yield LogRecord(ts, line, {}, level)


def _level_from(line: str, fallback: str | None, line_format: BotLineFormat) -> str | None:
    """The level written in the line; else the transport's (Render's `level` label, syslog severity)."""
    level = line_format.parse(line, with_tags=False)[1]
    if level is None and fallback:
        level = transport_level(fallback, line_format)
    return level


def parse_syslog_line(raw: Buffer, source: str, line_number: int) -> tuple[int, str, dict[str, str]]:
    """One RFC 5424 line -> (timestamp ns, MSG, labels). Raises InputError naming the line on malformed input."""
    match = _SYSLOG_HEADER.match(raw)
    if not match:
        raise InputError(f"{source}:{line_number}: not an RFC 5424 syslog line (expected `<PRI>1 TIMESTAMP HOST APP "
                         f"PROCID MSGID SD MSG`)")
    pri, _version, stamp, host, app, procid, msgid = (g.decode("utf-8", "replace") for g in match.groups())
    if int(pri) > 191:
        raise InputError(f"{source}:{line_number}: PRI {pri} out of range 0..191")
    ts = parse_rfc3339(stamp)
    if ts is None:
        raise InputError(f"{source}:{line_number}: TIMESTAMP {stamp!r} is not RFC 3339")
    rest = raw[match.end():]
    rest = _skip_structured_data(rest, source, line_number)
    msg = rest[1:] if rest.startswith(b" ") else rest
    msg = msg.removeprefix(_UTF8_BOM)
    severity = int(pri) % 8
    labels = {"severity": _SYSLOG_SEVERITY_NAME[severity], "facility": str(int(pri) // 8)}
    for name, value in (("hostname", host), ("app_name", app), ("procid", procid), ("msgid", msgid)):
        if value != "-":
            labels[name] = value
    return ts, _decode(msg), labels


def _skip_structured_data(rest: Buffer, source: str, line_number: int) -> Buffer:
    """Skip `-` or `[id k="v" ...]...` (values may escape `"`, `\\` and `]`)."""
    if rest.startswith(b"-"):
        return rest[1:]
    i = 0
    while i < len(rest) and rest[i:i + 1] == b"[":
        i += 1
        in_value = False
        while i < len(rest):
            char = rest[i:i + 1]
            if in_value and char == b"\\":
                i += 2
                continue
            if char == b'"':
                in_value = not in_value
            elif char == b"]" and not in_value:
                break
            i += 1
        else:
            raise InputError(f"{source}:{line_number}: unterminated STRUCTURED-DATA element")
        i += 1
    if i == 0:
        raise InputError(f"{source}:{line_number}: STRUCTURED-DATA must be `-` or `[...]`")
    return rest[i:]


def _numbered_lines(blocks: Iterator[bytearray]) -> Iterator[tuple[int, bytearray]]:
    number = 0
    for block in blocks:
        for raw in block.split(b"\n")[:-1]:
            number += 1
            yield number, raw


def _syslog_records(blocks: Iterator[bytearray], line_format: BotLineFormat, source: str) -> Iterator[LogRecord]:
    for number, raw in _numbered_lines(blocks):
        record = syslog_record(raw, line_format, source, number)
        if record is not None:
            yield record


def _syslog_entries(blocks: Iterator[bytearray], source: str) -> Iterator[Entry]:
    for number, raw in _numbered_lines(blocks):
        entry = syslog_entry(raw, source, number)
        if entry is not None:
            yield entry


def syslog_entry(raw: Buffer, source: str, number: int) -> tuple[int, str, dict[str, str]] | None:
    """One syslog line (without its `\\n`) as (time, MSG, labels); None for a blank line; InputError naming it."""
    raw = raw.removesuffix(b"\r")
    if not raw.strip():
        return None
    return parse_syslog_line(raw, source, number)


def syslog_record(raw: Buffer, line_format: BotLineFormat, source: str, number: int) -> LogRecord | None:
    """One syslog line (without its `\\n`) as a record; None for a blank line; InputError naming the line."""
    entry = syslog_entry(raw, source, number)
    if entry is None:
        return None
    ts, msg, labels = entry
    severity = _SYSLOG_SEVERITY_NAME.index(labels["severity"])
    return LogRecord(ts, msg, labels, _level_from(msg, _SYSLOG_SEVERITY_LEVEL[severity], line_format))


def syslog_severity_levels(line_format: BotLineFormat) -> tuple[str | None, ...]:
    """Per syslog severity (0 emerg .. 7 debug), the bot's level it stands for when a line states none."""
    return tuple(transport_level(level, line_format) for level in _SYSLOG_SEVERITY_LEVEL)


def transport_level(fallback: str, line_format: BotLineFormat) -> str | None:
    """A transport's level (Render's `level` label, a syslog severity's level) as one of the bot's levels."""
    upper = fallback.upper()
    level = {"WARN": "WARNING", "FATAL": "CRITICAL", "ERR": "ERROR"}.get(upper, upper)
    return level if level in line_format.levels else None


def render_record(obj: object, line_format: BotLineFormat, where: str) -> LogRecord:
    """One `render logs -o json` object -> LogRecord; InputError names `where` and the field on bad input."""
    ts, message, labels = render_entry(obj, where)
    return LogRecord(ts, message, labels, _level_from(message, labels.get("level"), line_format))


def render_entry(obj: object, where: str) -> tuple[int, str, dict[str, str]]:
    """One `render logs -o json` object -> (time, message, labels), checked as `render_record` says."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    message = obj.get("message")
    if not isinstance(message, str):
        raise InputError(f"{where}: field `message` must be a string")
    stamp = obj.get("timestamp")
    if isinstance(stamp, str):
        ts = parse_rfc3339(stamp)
        if ts is None:
            raise InputError(f"{where}: field `timestamp` {stamp!r} is not RFC 3339")
    else:
        raise InputError(f"{where}: field `timestamp` must be an RFC 3339 string")
    labels: dict[str, str] = {}
    raw_labels = obj.get("labels", [])
    if not isinstance(raw_labels, list):
        raise InputError(f"{where}: field `labels` must be a list of {{name, value}}")
    for index, item in enumerate(raw_labels):
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item):
            raise InputError(f"{where}: labels[{index}] must be {{name, value}}")
        labels[item["name"]] = _scalar_text(item["value"])
    return ts, message, labels


def _iter_json_values(blocks: Iterator[bytearray], source: str) -> Iterator[tuple[str, object]]:
    """JSON values of a JSON-lines stream, or of one top-level array (read incrementally: bounded memory)."""
    first = bytes(next(blocks, b"")).removeprefix(_UTF8_BOM)
    rest: Iterator[Buffer] = chain([first], blocks)
    if first.lstrip().startswith(b"["):
        yield from _iter_json_array(rest, source)
        return
    number = 0
    for block in rest:
        for raw in block.split(b"\n")[:-1]:
            number += 1
            if raw.strip():
                yield f"{source}:{number}", json_line_value(raw, source, number)


def json_line_value(raw: Buffer, source: str, number: int) -> object:
    """The JSON value of one (not blank) line of a JSON-lines export; InputError naming the line."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InputError(f"{source}:{number}: invalid JSON: {exc}") from None


def _iter_json_array(blocks: Iterator[Buffer], source: str) -> Iterator[tuple[str, object]]:
    decoder = json.JSONDecoder()
    buffer, pos = "", 0
    line_at, line_at_pos = 1, 0  # the input line number of buffer[line_at_pos], advanced as we go (no rescans)
    state = "open"  # open -> first -> (value -> comma)* -> done

    def line_of(position: int) -> int:
        nonlocal line_at, line_at_pos
        line_at += buffer.count("\n", line_at_pos, position)
        line_at_pos = position
        return line_at

    def refill() -> bool:
        nonlocal buffer, pos, line_at_pos
        block = next(blocks, None)
        if block is None:
            return False
        line_of(pos)
        buffer, pos, line_at_pos = buffer[pos:] + _decode(block), 0, 0
        return True

    while True:
        while pos < len(buffer) and buffer[pos] in " \t\r\n":
            pos += 1
        if pos == len(buffer):
            if refill():
                continue
            if state != "done":
                raise InputError(f"{source}: the JSON array is not closed (truncated export?)")
            return
        char = buffer[pos]
        if state == "open":
            state, pos = "first", pos + 1  # detection saw the `[`
        elif state == "done":
            raise InputError(f"{source}:{line_of(pos)}: unexpected data after the JSON array")
        elif char == "]" and state in ("first", "comma"):
            state, pos = "done", pos + 1
        elif state == "comma":
            if char != ",":
                raise InputError(f"{source}:{line_of(pos)}: expected `,` or `]` between array elements")
            state, pos = "value", pos + 1
        else:
            try:
                value, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError as exc:
                # the element may continue in the next block; a broken one fails once it is implausibly long
                if len(buffer) - pos < MAX_LINE_BYTES and refill():
                    continue
                raise InputError(f"{source}:{line_of(pos)}: invalid JSON: {exc.msg}") from None
            yield f"{source}:{line_of(pos)}", value
            state, pos = "comma", end


def encode_line(line: str) -> bytes:
    """A record's line as the bytes the scanner reads. A lone surrogate (a JSON `\\ud800` escape) has no UTF-8
    form: it becomes `?` rather than stopping the scan."""
    try:
        return line.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return line.encode("utf-8", "replace")


# --- batches for the scanner -------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Newline-separated entry lines plus what is needed to recover one line's time and number on demand.

    For `lines` input, `data` is the raw block (zero parsing); a line's time is read from its own text when asked.
    For record inputs, `data` joins the records' lines and `starts`/`timestamps`/`levels` index the records (a
    record's line may itself contain newlines; `starts` keeps the record boundaries exact).
    """

    data: BlockData
    first_entry: int | None = None  # 1-based number of its first entry in the input (lines: set by the scanner)
    entries: int | None = None  # how many entries it holds (lines: counted by the scanner)
    carry_timestamp_ns: int | None = None  # lines input: time of the last timed line before this batch
    starts: array | None = None
    timestamps: Sequence[int | None] | None = None
    levels: list[str | None] | None = None
    level_counts: Counter[str] | None = None  # records parsed natively: their levels, counted

    def entry_bounds(self, offset: int) -> tuple[int, int, int]:
        """(start, end, index in batch) of the entry containing byte `offset`; end excludes the separator."""
        if self.starts is None:
            start = self.data.rfind(b"\n", 0, offset) + 1
            end = self.data.find(b"\n", offset)
            return start, end, -1
        index = bisect_right(self.starts, offset) - 1
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.data) - 1
        return self.starts[index], end, index


class LinesTiming:
    """Finds the time of a line of `lines` input from its own text, or the nearest timed line above it."""

    def __init__(self, line_format: BotLineFormat):
        self.line_format = line_format
        self._json_time = re.compile(rb'"' + re.escape(line_format.time_key.encode()) + rb'"\s*:\s*"([^"]+)"')
        self._text_time = re.compile(rb"(" + ASCTIME_REGEX.encode() + rb")")

    def own_timestamp(self, raw_line: Buffer) -> int | None:
        if raw_line.startswith(b"{"):
            match = self._json_time.search(raw_line)
        else:
            match = self._text_time.match(raw_line)
        return parse_asctime(match.group(1).decode("ascii", "replace")) if match else None

    def timestamp_at(self, batch: Batch, start: int, end: int) -> int | None:
        while True:
            ts = self.own_timestamp(batch.data[start:end])
            if ts is not None:
                return ts
            if start == 0:
                return batch.carry_timestamp_ns
            end = start - 1
            start = batch.data.rfind(b"\n", 0, end) + 1

    def last_timestamp(self, batch: Batch) -> int | None:
        """Time of the last timed line of a block, to carry into the next one."""
        end = len(batch.data) - 1
        return self.timestamp_at(batch, batch.data.rfind(b"\n", 0, end) + 1, end) if end >= 0 else None


def iter_batches(stream: IO[bytes], line_format: BotLineFormat, input_format: InputFormat,
                 source: str = "<input>", live: bool = False, chunk_bytes: int = CHUNK_BYTES,
                 reuse_buffers: bool = False, native: bool = True) -> Iterator[Batch]:
    """Blocks of entries for the scanner. Lines input is passed through untouched (its entries are counted by the
    scanner, in the same pass that numbers its hits), and a regular file is read in place (mapped); records are
    re-joined.

    `reuse_buffers`: a lines batch read (not mapped) stays valid only until three more batches are taken (enough
    for Scanner.scan, which holds two while a third is read ahead).
    `native=False` reads records with the Python reader only (the native parser's reference).
    """
    if input_format is InputFormat.LINES:
        timing = LinesTiming(line_format)
        carry: int | None = None
        mapping = None if live else map_regular_file(stream)
        blocks: Iterator[BlockData] = (
            iter_mapped_line_blocks(mapping, stream, chunk_bytes) if mapping is not None
            else iter_line_blocks(stream, chunk_bytes, live, reuse_buffers=4 if reuse_buffers else 0))
        for block in blocks:
            batch = Batch(block, carry_timestamp_ns=carry)
            yield batch
            carry = timing.last_timestamp(batch)
        return
    if native and not live:
        from generator.logs.native_records import native_record_batches

        parsed = native_record_batches(stream, line_format, input_format, source, chunk_bytes)
        if parsed is not None:
            yield from parsed
            return
    records = read_records(stream, line_format, input_format, source, live, chunk_bytes)
    entry = 1
    while True:
        parts: list[bytes] = []
        starts = array("q")
        stamps: list[int | None] = []
        levels: list[str | None] = []
        size = 0
        for record in records:
            encoded = encode_line(record.line)
            starts.append(size)
            parts.append(encoded)
            stamps.append(record.timestamp_ns)
            levels.append(record.level)
            size += len(encoded) + 1
            if size >= chunk_bytes or live:
                break
        if not parts:
            return
        yield Batch(b"\n".join(parts) + b"\n", entry, len(parts), starts=starts, timestamps=stamps,
                    levels=levels)
        entry += len(parts)
