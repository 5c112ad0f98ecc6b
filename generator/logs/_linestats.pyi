# Types of the native kernel built from _linestats.c (see that file for what it matches).
from collections.abc import Sequence

from typing_extensions import Buffer

OP_LITERAL: int
OP_ASCTIME: int
OP_NAME: int

class LineStats:
    def __init__(self, ops: tuple[tuple[int, bytes], ...], text_markers: tuple[bytes, ...],
                 json_markers: tuple[bytes, ...], json_key: bytes, tag: bytes) -> None: ...
    def feed(self, block: Buffer, levels: bool, durations: bool, offsets: Sequence[int] | None = None, /
             ) -> tuple[int, int, tuple[int, ...], list[bytes], list[int]]: ...
    def take_small_durations(self) -> dict[int, int]: ...
    def absorb(self, other: LineStats, /) -> None: ...
