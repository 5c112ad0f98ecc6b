"""RE2 regexes with Go semantics (Loki compiles with Go's regexp, which is RE2 syntax; google-re2 is the same engine).

Two matching modes, as in Loki:
- line filters and the `regexp` parser search for a match anywhere in the line (pkg/logql/log/filter.go,
  regexpFilter.Filter -> Regexp.Match; parser.go RegexpParser -> FindSubmatch), `.` not matching newlines;
- label matchers (stream selectors and string label filters) are fully anchored with `.` matching newlines:
  Prometheus model/labels/regexp.go NewFastRegexMatcher compiles "^(?s:" + v + ")$".
"""

from __future__ import annotations

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


def search_found(compiled: Any, text: str) -> bool:
    """`compiled.search(text) is not None`, searching the text's UTF-8 bytes: google-re2 encodes a str (strictly,
    so a lone surrogate raises the same UnicodeEncodeError) and maps every offset back to characters, which costs
    more than the match; a yes/no answer needs no offsets."""
    return compiled.search(text.encode("utf-8")) is not None


@lru_cache(maxsize=4096)
def compile_groups(pattern: str) -> tuple[Any, tuple[tuple[str, int], ...]]:
    """The compiled regex and its named groups (name, number) in `groupindex` order (google-re2 rebuilds that
    mapping on every access)."""
    compiled = compile_search(pattern)
    return compiled, tuple(compiled.groupindex.items())


def search_groups(compiled: Any, numbers: tuple[int, ...], text: str) -> list[str | None] | None:
    """The text of each group number in the first match (None for a group that took no part), or None when there is
    no match: `compiled.search(text)`, run on the UTF-8 bytes. RE2 matches whole code points of valid UTF-8, so each
    group's bytes decode to the very characters the str search returns."""
    match = compiled.search(text.encode("utf-8"))
    if match is None:
        return None
    return [None if (value := match.group(number)) is None else value.decode("utf-8") for number in numbers]


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
