"""RE2 regexes with Go semantics (Loki compiles with Go's regexp, which is RE2 syntax; google-re2 is the same engine).

Two matching modes, as in Loki:
- line filters and the `regexp` parser search for a match anywhere in the line (pkg/logql/log/filter.go,
  regexpFilter.Filter -> Regexp.Match; parser.go RegexpParser -> FindSubmatch), `.` not matching newlines;
- label matchers (stream selectors and string label filters) are fully anchored with `.` matching newlines:
  Prometheus model/labels/regexp.go NewFastRegexMatcher compiles "^(?s:" + v + ")$".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import re2


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    return options


def _reject_non_go_syntax(pattern: str) -> None:
    """RE2 (C++) accepts `\\C` (any byte); Go's regexp/syntax does not, so neither may we."""
    i = 0
    while i < len(pattern) - 1:
        if pattern[i] == "\\":
            if pattern[i + 1] == "C":
                raise re2.error("invalid escape sequence: \\C (not supported by Go's regexp)")
            i += 2
            continue
        i += 1


@lru_cache(maxsize=4096)
def compile_search(pattern: str) -> Any:
    """Raises re2.error for invalid syntax."""
    _reject_non_go_syntax(pattern)
    return re2.compile(pattern, _options())


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> Any:
    compile_search(pattern)  # the pattern must be valid on its own: "a)|(b" must not sneak in through the wrapper
    return re2.compile(f"(?s:{pattern})", _options())


Spans = Sequence[tuple[int, int]]  # (start, end) byte offsets of the match and of each group; (-1, -1): none
_NO_SPAN = (-1, -1)
# google-re2's module-level wrapper around the compiled RE2 (`_regexp.Match`, the anchor enum): one C++ call per
# search. The public `search` adds a generator and a match object per call, and for a str an encoding and a mapping
# of every offset back to characters: several times the match itself. Absent (another version), the public API.
_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)


@lru_cache(maxsize=4096)
def byte_searcher(pattern: str) -> Callable[[bytes], Spans | None]:
    """A search of UTF-8 bytes for `pattern` (as `compile_search(pattern).search`): the spans of the first match, or
    None. Searching a str's strict UTF-8 encoding finds the same match as searching the str (google-re2 encodes it
    so too: a lone surrogate raises the same UnicodeEncodeError), and RE2 matches whole code points of valid UTF-8,
    so each span's bytes decode to the characters the str search returns."""
    compiled = compile_search(pattern)
    match = getattr(getattr(compiled, "_regexp", None), "Match", None)
    if match is None or _UNANCHORED is None:
        groups = range(compiled.groups + 1)

        def public_search(data: bytes) -> Spans | None:
            found = compiled.search(data)
            return None if found is None else [found.span(group) for group in groups]

        return public_search

    def search(data: bytes) -> Spans | None:
        spans = match(_UNANCHORED, data, 0, len(data))
        return None if spans[0] == _NO_SPAN else spans

    return search


def search_found(pattern: str, text: str) -> bool:
    """Whether `pattern` matches somewhere in `text` (a line filter)."""
    return byte_searcher(pattern)(text.encode("utf-8")) is not None


def group_numbers(pattern: str) -> tuple[tuple[str, int], ...]:
    """The regex's named groups (name, number) in `groupindex` order."""
    return tuple(compile_search(pattern).groupindex.items())


def search_groups(pattern: str, numbers: tuple[int, ...], text: str) -> list[str | None] | None:
    """The text of each group number in the first match of `pattern` in `text` (None for a group that took no
    part), or None when there is no match."""
    data = text.encode("utf-8")
    spans = byte_searcher(pattern)(data)
    if spans is None:
        return None
    out: list[str | None] = []
    for number in numbers:
        begin, end = spans[number]
        out.append(None if begin < 0 else data[begin:end].decode("utf-8"))
    return out


def full_match(pattern: str, value: str) -> bool:
    return compile_anchored(pattern).fullmatch(value) is not None


def matches_label(op: str, pattern: str, value: str) -> bool:
    """Prometheus label matcher semantics; a missing label is the empty string."""
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    if op == "=~":
        return full_match(pattern, value)
    if op == "!~":
        return not full_match(pattern, value)
    raise ValueError(op)
