# Types of the native text-line reader built from _linetimes.c (see that file for what it vouches for).
from typing_extensions import Buffer

def timed_lines(block: Buffer, ops: tuple[tuple[int, bytes], ...], level_markers: tuple[bytes, ...],
                /) -> tuple[list[str], list[int | None]]: ...
