"""A regular file is scanned in place (mapped): the same blocks a reader makes, the same reports, the stream moved
along for the progress bar; pipes and empty files are read as before."""

from __future__ import annotations

import io
import json
import mmap
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from generator.logs import inputs
from generator.logs.inputs import (
    InputFormat,
    MappedLines,
    iter_batches,
    iter_line_blocks,
    iter_mapped_line_blocks,
    map_regular_file,
)
from generator.logs.scan_spec import ScanSpec
from generator.logs.scanner import Scanner
from generator.truth import Truth
from tests.logs import random_logs


def random_text(rnd: random.Random, size: int) -> bytes:
    pieces = [b"\n", b"\r\n", b"a", b"duration_ms=5", b"Queue full", b" - ", b"\xff", b"x" * 300]
    return b"".join(rnd.choice(pieces) for _ in range(size))


@contextmanager
def mapped_file(path: Path, data: bytes | None = None) -> Iterator[tuple[io.BufferedReader, mmap.mmap]]:
    """The file (written first when `data` is given) open, and its mapping."""
    if data is not None:
        path.write_bytes(data)
    with path.open("rb") as stream:
        mapping = map_regular_file(stream)
        assert mapping is not None
        yield stream, mapping


def mapped_blocks(path: Path, chunk: int) -> list[bytes]:
    with mapped_file(path) as (stream, mapping):
        return [block[:] if isinstance(block, MappedLines) else block
                for block in iter_mapped_line_blocks(mapping, stream, chunk)]


def read_blocks(path: Path, chunk: int) -> list[bytes]:
    with path.open("rb") as stream:
        return [bytes(block) for block in iter_line_blocks(stream, chunk)]


def test_a_mapped_file_is_cut_into_the_blocks_a_reader_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "MAX_LINE_BYTES", 700)  # a line longer than this is cut: some of the lines here are
    rnd = random.Random(7)
    path = tmp_path / "x.log"
    for case in range(200):
        data = random_text(rnd, rnd.randint(1, 400))
        if case % 3 == 0:
            data = data.rstrip(b"\n")  # no final newline: both add one
        if not data:
            continue
        path.write_bytes(data)
        for chunk in (1, 5, 64, 333, 4096):
            assert mapped_blocks(path, chunk) == read_blocks(path, chunk), (case, chunk)


def test_the_stream_is_moved_along_the_mapped_blocks(tmp_path: Path) -> None:
    with mapped_file(tmp_path / "x.log", b"one\ntwo\nthree\nfour") as (stream, mapping):
        positions = [(block[:], stream.tell()) for block in iter_mapped_line_blocks(mapping, stream, 6)]
    assert positions == [(b"one\n", 4), (b"two\n", 8), (b"three\n", 14), (b"four\n", 18)]


def test_pipes_in_memory_streams_and_empty_files_are_read_not_mapped(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with empty.open("rb") as stream:
        assert map_regular_file(stream) is None
    assert map_regular_file(io.BufferedReader(io.BytesIO(b"a\n"))) is None
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as pipe, os.fdopen(write_end, "wb") as writer:
        writer.write(b"a\n")
        writer.flush()
        assert map_regular_file(pipe) is None


def test_a_mapped_block_answers_like_the_bytes_it_holds(tmp_path: Path) -> None:
    with mapped_file(tmp_path / "x.log", b"skip\nab\ncd\nab\n") as (_stream, mapping):
        block, plain = MappedLines(mapping, 5, 14), b"ab\ncd\nab\n"
        assert len(block) == len(plain) and block[:] == plain and block[2:-1] == plain[2:-1]
        for args in ((b"\n",), (b"\n", 3), (b"\n", 0, 5), (b"ab", 1), (b"zz",), (b"\n", 7, 3)):
            assert (block.find(*args), block.rfind(*args)) == (plain.find(*args), plain.rfind(*args)), args
        assert block.split(b"\n") == plain.split(b"\n")
        with block.view() as view:
            assert bytes(view) == plain


@pytest.mark.parametrize("threads", [1, 2])
def test_a_mapped_file_scans_to_the_report_a_read_one_gives(truth: Truth, tmp_path: Path, threads: int) -> None:
    spec = ScanSpec.from_truth(truth)
    scanner = Scanner(spec, environ={}, threads=threads, split_bytes=1)
    path = tmp_path / "random.log"

    def report(stream: io.BufferedReader, chunk: int) -> dict:
        found = scanner.new_report("test", "lines")
        scanner.scan(iter_batches(stream, spec.line_format, InputFormat.LINES, chunk_bytes=chunk, reuse_buffers=True),
                     found)
        return json.loads(json.dumps(random_logs.report_document(found)))

    for seed in random_logs.SEEDS:
        data = random_logs.render(seed, truth, "lines")
        path.write_bytes(data[:-1] if seed % 2 else data)  # without its final newline too
        for chunk in (997, 1 << 20):
            with path.open("rb") as stream:
                mapped = report(stream, chunk)
            assert mapped == report(io.BufferedReader(io.BytesIO(path.read_bytes())), chunk), (seed, chunk)
