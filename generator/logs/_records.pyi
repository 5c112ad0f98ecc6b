# Types of the native record parser built from _records.c (see that file for what it reads and declines).
from typing_extensions import Buffer

KIND_SYSLOG: int
KIND_RENDER: int

class RecordParser:
    size: int
    records: int
    def __init__(self, kind: int, ops: tuple[tuple[int, bytes], ...], text_levels_native: bool,
                 text_markers: tuple[bytes, ...], level_names: tuple[bytes, ...], json_key: bytes,
                 severity_levels: tuple[int, ...], split_min: int = 0) -> None: ...
    def parse(self, block: Buffer, offset: int, /) -> tuple[int, int, bool]: ...
    def add(self, message: Buffer, timestamp_ns: int, level: int, /) -> None: ...
    def take(self) -> tuple[bytearray, bytes, bytes, tuple[int, ...]]: ...
