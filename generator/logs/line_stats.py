"""Entries per level and `duration_ms` values of blocks of log lines: a native kernel, and the Hyperscan lane.

Both lanes find the same things (a test proves it on generated lines), each inside one line (no field runs into the
next line of a block):
- a text line's level: the line matches the text format up to its level field, then `LEVEL<suffix>` (`INFO - `);
- a JSON line's level: the line starts with `{`, and each `"levelname": "LEVEL"` in it counts;
- each `duration_ms` value, in JSON (`"duration_ms": 45`) or text (`duration_ms=45`).

The native kernel (`_linestats.c`, built by `pip install`) does it in one pass per block without the GIL (two threads
each count a part of a block, each with a counter of its own), and in the same pass numbers the lines of given
offsets (the scanner's candidate matches). It needs a text format whose fields before the level are `asctime`,
`name` (followed by a space) and literal text, as the bot's is; any other format, or a missing build, takes the
Hyperscan lane: the same answer, several times slower (one Python call per line).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from itertools import repeat
from operator import add, methodcaller
from typing import Any

from generator.logs.inputs import TEXT_FORMAT_PLACEHOLDER, BlockData, BotLineFormat, Buffer
from generator.logs.patterns import block_database
from generator.syntax.re2_regex import re2_escape

try:
    from generator.logs import _linestats
except ImportError:  # not built (a checkout without `pip install -e .`): the Hyperscan lane answers alike
    _linestats = None  # type: ignore[assignment]

_NUMBER = re.compile(rb"[0-9]+(?:\.[0-9]+)?")
_BLANK = r"[\t\x0b\x0c\r ]"  # `\s` without the newline: a match must not run into the next line of a block
NATIVE_DISABLED_ENV = "OBSCTL_NO_NATIVE"  # set to compare the lanes (bench) or to rule the kernel out


def duration_prefix_regex(tag: str = "duration_ms") -> str:
    """Where a `duration_ms` value starts, in JSON (`"duration_ms": 45`) or text (`duration_ms=45`): the latency
    rules' extractor (`log_format.numeric_tag_extractor`) cut before its capture, blanks without the newline, plus
    the first digit (the match ends on it)."""
    return rf'\b{re2_escape(tag)}"?{_BLANK}*[:=]{_BLANK}*"?[0-9]'


class BlockStats:
    """What one block holds: its lines, how many of them carry a level, per level, the raw duration texts, and for
    each offset it was asked to number, how many newlines precede it."""

    __slots__ = ("newlines", "leveled", "levels", "durations", "line_numbers")

    def __init__(self, newlines: int, leveled: int, levels: Counter[str], durations: Counter[bytes],
                 line_numbers: list[int]):
        self.newlines, self.leveled, self.levels, self.durations = newlines, leveled, levels, durations
        self.line_numbers = line_numbers


def native_ops(fmt: str) -> tuple[tuple[int, bytes], ...] | None:
    """The text format (`%(asctime)s - ...`) up to its level field as kernel ops, or None when the kernel cannot
    match it exactly."""
    assert _linestats is not None
    ops: list[tuple[int, bytes]] = []
    position = 0
    for placeholder in TEXT_FORMAT_PLACEHOLDER.finditer(fmt):
        if placeholder.start() > position:
            ops.append((_linestats.OP_LITERAL, fmt[position:placeholder.start()].encode()))
        position = placeholder.end()
        name = placeholder.group(1)
        if name == "levelname":
            break
        if name == "asctime":
            ops.append((_linestats.OP_ASCTIME, b""))
        elif name == "name":
            ops.append((_linestats.OP_NAME, b""))
        else:  # a lazy `.*?` field: several places where the level could start
            return None
    else:
        return None
    for op, following in zip(ops, [*ops[1:], None], strict=True):
        # a name ends at the first space only when a literal starting with a space follows it
        if op[0] == _linestats.OP_NAME and not (following and following[0] == _linestats.OP_LITERAL
                                                 and following[1].startswith(b" ")):
            return None
    return tuple(ops)


class LineStatsCounter:
    """Counts levels and durations of blocks, natively when it can (`native` says which lane is in use)."""

    def __init__(self, line_format: BotLineFormat, text_format: str, tag: str = "duration_ms",
                 native: bool | None = None):
        self.levels = line_format.levels
        self.text_markers = line_format.text_level_markers
        self.json_markers = tuple(level.encode() + b'"' for level in self.levels)
        if native is None:
            native = not os.environ.get(NATIVE_DISABLED_ENV)
        ops = native_ops(text_format) if native and _linestats is not None and tag[:1].isidentifier() else None
        self.native = ops is not None
        self._kernel: Any = None
        if ops is not None:
            self._kernel = _linestats.LineStats(ops, self.text_markers, self.json_markers,
                                                f'"{line_format.level_key}"'.encode(), tag.encode())
        else:
            self.text_level, self.json_level, self.duration = (
                block_database([regex.encode()], [0])
                for regex in (line_format.text_level_prefix_regex(), line_format.json_level_prefix_regex(),
                              duration_prefix_regex(tag)))
            self.text_width = max(map(len, self.text_markers))
            self.json_width = max(map(len, self.json_markers))

    def count(self, data: Buffer | memoryview, with_levels: bool, with_durations: bool = True,
              number: Sequence[int] = ()) -> BlockStats:
        """One block of whole lines. `with_levels=False` for records, which carry their level already. `number`:
        ascending offsets whose line numbers (newlines before them) to return, found in the same pass."""
        if self._kernel is not None:
            newlines, leveled, per_level, others, numbers = self._kernel.feed(data, with_levels, with_durations,
                                                                              number or None)
            levels = Counter({level: n for level, n in zip(self.levels, per_level, strict=True) if n})
            return BlockStats(newlines, leveled, levels, Counter(others), numbers)
        return self._count_with_hyperscan(data, with_levels, with_durations, number)

    def take_whole_durations(self) -> dict[int, int]:
        """Whole-millisecond durations below 100 000 the kernel counted since the last call (it keeps them in an
        array; `count` returns the others). Empty for the Hyperscan lane, which returns every value itself."""
        return self._kernel.take_small_durations() if self._kernel is not None else {}

    def absorb(self, other: LineStatsCounter) -> None:
        """Move the other counter's whole-millisecond durations into this one (two threads' counters, merged at the
        end of a scan). Nothing to move for the Hyperscan lane."""
        if self._kernel is not None and other._kernel is not None:
            self._kernel.absorb(other._kernel)

    def _count_with_hyperscan(self, view: Buffer | memoryview, with_levels: bool, with_durations: bool,
                              number: Sequence[int]) -> BlockStats:
        data = view if isinstance(view, bytes) else bytes(view)  # hashable slices for the counting, bytes' methods
        levels: Counter[str] = Counter()
        if with_levels:
            levels = _levels_from(_bulk_slices(data, _match_ends(self.text_level, data), self.text_width),
                                  self.text_markers, self.levels)
            levels += _levels_from(_bulk_slices(data, _match_ends(self.json_level, data), self.json_width),
                                   self.json_markers, self.levels)
        durations: Counter[bytes] = Counter()
        if with_durations:
            # each number starts at its match's last byte
            starts = [end - 1 for end in _match_ends(self.duration, data)]
            durations = Counter(map(methodcaller("group"), map(_NUMBER.match, repeat(data, len(starts)), starts)))
        return BlockStats(count_newlines(data), sum(levels.values()), levels, durations, line_numbers(data, number))


def count_newlines(data: Buffer, start: int = 0, end: int | None = None) -> int:
    """Newlines in data[start:end]. Through `replace`, which finds each newline with memchr (vectorised), while
    `count` tests byte by byte: about three times faster on log lines (measured: 4 GB/s against 1.4 GB/s)."""
    segment = data if start == 0 and end is None else data[start:end]
    return len(segment) - len(segment.replace(b"\n", b""))


def line_numbers(data: BlockData, offsets: Sequence[int]) -> list[int]:
    """For ascending byte offsets, how many newlines precede each one. One pass up to the last offset."""
    numbers: list[int] = []
    position = newlines = 0
    for offset in offsets:
        newlines += count_newlines(data[position:offset])
        position = offset
        numbers.append(newlines)
    return numbers


def _match_ends(database: Any, data: Buffer) -> list[int]:
    """End offsets of every match of a one-pattern database."""
    ends: list[int] = []
    append = ends.append

    def on_match(_id: int, _start: int, end: int, _flags: int, _context: object) -> None:
        append(end)  # hot path: about once per line, so nothing more

    database.scan(data, match_event_handler=on_match)
    return ends


def _bulk_slices(data: bytes, starts: list[int], width: int) -> Counter[bytes]:
    """How often each `data[start:start + width]` occurs, sliced and counted in C."""
    return Counter(map(data.__getitem__, map(slice, starts, map(add, starts, repeat(width)))))


def _levels_from(pieces: Counter[bytes], markers: tuple[bytes, ...], levels: tuple[str, ...]) -> Counter[str]:
    found: Counter[str] = Counter()
    for piece, count in pieces.items():
        for level, marker in zip(levels, markers, strict=True):
            if piece.startswith(marker):
                found[level] += count
                break
    return found
