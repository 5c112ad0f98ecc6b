"""Hyperscan as a prefilter for the leading line filters of the backtest's rules (`logql_engine.LinePrefilter`).

Most lines of a busy bot match none of the rules' `|= literal` and `|~ regex` filters, yet each rule would test each
line. Here every such filter of every rule goes into one Hyperscan block database, and a stream's entries (the lines
joined by newlines) are scanned once per store version; a filter then tests only the lines Hyperscan reported for it.
The engine still runs each filter (`in`, RE2) on those lines, so the result is the engine's own:
- a `|~` regex goes in only when `regex_safety.hyperscan_safe` proves Hyperscan reports every line RE2 matches (as
  for the scanner's patterns), and a literal as its escaped bytes, so no line a filter keeps is left out;
- a match is found by its end offset, and a line's matches end within the line;
- a line without a UTF-8 form (a lone surrogate) is a candidate for every filter: the engine's own test decides.

A pattern that Hyperscan reports in more than one line out of `DENSE_FRACTION` is dropped from later scans: each
match costs a Python callback, more than the plain test of a line (`|= duration_ms` on every webhook line).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

import hyperscan

from generator.logql_engine import RuleGroup, Stream, ast
from generator.logs.patterns import block_database, hyperscan_complaint
from generator.logs.regex_safety import hyperscan_safe

DENSE_FRACTION = 8
_MIN_LINES_TO_JUDGE = 1000  # a small store says little about how often a pattern matches

FilterKey = tuple[str, str]  # (op, value) of a line filter


def _leading_line_filters(expr: object) -> Iterable[ast.LineFilter]:
    if isinstance(expr, ast.RangeAggregation):
        for stage in expr.log_range.stages:
            if not isinstance(stage, ast.LineFilter):
                break
            yield stage
    elif isinstance(expr, ast.VectorAggregation):
        yield from _leading_line_filters(expr.inner)
    elif isinstance(expr, ast.Comparison):
        yield from _leading_line_filters(expr.vector)


def hyperscan_expression(line_filter: ast.LineFilter) -> bytes | None:
    """The Hyperscan expression reporting (at least) every line `line_filter` keeps, or None when there is none."""
    if line_filter.op == "|=":
        try:
            literal = line_filter.value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return b"".join(b"\\x%02x" % byte for byte in literal) or None  # empty: every line
    if line_filter.op == "|~" and hyperscan_safe(line_filter.value):
        return line_filter.value.encode()
    return None


class HyperscanLinePrefilter:
    """One multi-pattern scan per stream and store version answers every rule's leading `|=` / `|~` filters."""

    def __init__(self, groups: Iterable[RuleGroup]):
        wanted: dict[FilterKey, bytes] = {}
        for group in groups:
            for rule in group.alert_rules:
                for line_filter in _leading_line_filters(rule.query):
                    key = (line_filter.op, line_filter.value)
                    expression = wanted.get(key) or hyperscan_expression(line_filter)
                    if expression is not None:
                        wanted[key] = expression
        self._database: Any = None
        try:  # one compilation for all; only when it fails, one per expression to leave out those Hyperscan refuses
            self._database = block_database(list(wanted.values()), list(range(len(wanted)))) if wanted else None
        except hyperscan.error:
            wanted = {key: expression for key, expression in wanted.items()
                      if hyperscan_complaint(expression.decode()) is None}
        self._ids = {key: index for index, key in enumerate(wanted)}
        self._expressions = list(wanted.values())
        self._active = set(range(len(self._expressions)))  # patterns still worth scanning for
        self._database_ids: frozenset[int] = frozenset() if self._database is None else frozenset(self._active)
        self._scans: dict[int, tuple[Stream, int, dict[int, list[int]]]] = {}

    def candidates(self, line_filter: ast.LineFilter, stream: Stream, version: int) -> list[tuple[int, str]] | None:
        pattern = self._ids.get((line_filter.op, line_filter.value))
        if pattern is None:
            return None
        scan = self._scans.get(id(stream))
        if scan is None or scan[0] is not stream or scan[1] != version:
            if pattern not in self._active:
                return None
            scan = self._scans[id(stream)] = (stream, version, self._scan(stream.entries))
        lines = scan[2].get(pattern)
        if lines is None:
            return None
        entries = stream.entries
        return [entries[i] for i in lines]

    def _scan(self, entries: list[tuple[int, str]]) -> dict[int, list[int]]:
        """Pattern id -> indices of the entries it may match, for every active pattern."""
        if self._database_ids != self._active:
            self._database_ids = frozenset(self._active)
            ids = sorted(self._database_ids)
            self._database = block_database([self._expressions[i] for i in ids], ids) if ids else None
        if self._database is None:
            return {}
        unencodable: list[int] = []
        try:
            parts = [line.encode("utf-8") for _ts, line in entries]
        except UnicodeEncodeError:
            parts = []
            for index, (_ts, line) in enumerate(entries):
                try:
                    parts.append(line.encode("utf-8"))
                except UnicodeEncodeError:
                    parts.append(b"")
                    unencodable.append(index)
        starts = list(accumulate((len(part) + 1 for part in parts), initial=0))
        found: dict[int, set[int]] = {pattern: set() for pattern in self._database_ids}

        def on_match(pattern: int, _start: int, end: int, _flags: int, _context: object) -> None:
            found[pattern].add(bisect_right(starts, end - 1) - 1)  # `end` is exclusive: the last byte is end - 1

        self._database.scan(b"\n".join(parts), match_event_handler=on_match)
        if len(entries) >= _MIN_LINES_TO_JUDGE:
            self._active -= {pattern for pattern, lines in found.items() if len(lines) * DENSE_FRACTION > len(entries)}
        return {pattern: sorted(lines.union(unencodable)) for pattern, lines in found.items()}
