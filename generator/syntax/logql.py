"""LogQL text building blocks: safe string quoting and the cheapest correct line-filter chain for a regex."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from generator.syntax.go_strings import go_quote, go_unquote

# Python's own regex parser reads the RE2 subset we accept (truth regexes are RE2-validated first); where it cannot,
# or where the structure is not a plain sequence, we emit no literal prefilter: correctness over speed.
try:  # Python 3.11+
    import re._constants as sre_constants  # type: ignore[import-not-found]
    import re._parser as sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

MIN_LITERAL_LENGTH = 3  # shorter literals filter almost nothing
_RE2_ONLY_SYNTAX = re.compile(r"\[:|\\[pPQEzCx]")


def quote_string(text: str, prefer_backticks: bool = True) -> str:
    """A LogQL string literal for `text`: a raw backtick string when possible, else an escaped Go string.

    Backtick strings are raw in LogQL (Go syntax): no escape is interpreted, so a regex reads as written. They cannot
    hold a backtick, and Go strips carriage returns from them; those fall back to double quotes (strconv rules).
    """
    if prefer_backticks and "`" not in text and "\r" not in text:
        return f"`{text}`"
    return go_quote(text)


def unquote_string(literal: str) -> str:
    """Inverse of quote_string for both LogQL string forms (used by validation, tests and the offline engine)."""
    return go_unquote(literal)


def _literal_runs(parsed: list[tuple[Any, Any]]) -> list[str] | None:
    """Contiguous literal runs that every match of this sequence must contain; None if the structure is unknown."""
    runs: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            runs.append("".join(current))
            current.clear()

    for op, arg in parsed:
        if op is sre_constants.LITERAL:
            current.append(chr(arg))
        elif op is sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = arg
            if add_flags or del_flags:
                return None  # inline flags such as (?i) change what a literal means
            inner = _literal_runs(list(sub))
            if inner is None:
                return None
            # A group is required exactly once: its first and last runs join with the neighbours only if the
            # group is a single run; otherwise the runs stand alone.
            if len(inner) == 1 and all(o is sre_constants.LITERAL for o, _ in sub):
                current.append(inner[0])
            else:
                close()
                runs.extend(inner)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, _high, sub = arg
            close()
            if low >= 1:
                inner = _literal_runs(list(sub))
                if inner is None:
                    return None
                runs.extend(inner)
        elif op in (sre_constants.AT, sre_constants.ANY, sre_constants.IN, sre_constants.NOT_LITERAL,
                    sre_constants.BRANCH, sre_constants.CATEGORY):
            close()  # matches something, but no fixed text we can require
        else:
            return None  # anything exotic: promise nothing
    close()
    return runs


def required_literal(regex: str) -> str | None:
    """The longest substring that every match of `regex` must contain, or None when it cannot be proven."""
    if regex.startswith("(?") and not regex.startswith(("(?:", "(?P<")):
        return None  # leading flags, e.g. (?i)
    if _RE2_ONLY_SYNTAX.search(regex):
        return None  # RE2 syntax Python reads differently ([[:alpha:]], \pL, \Q..\E, \z, \C, \x{...})
    try:
        parsed = sre_parse.parse(regex)
    except (re.error, OverflowError, RecursionError):
        return None
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    runs = _literal_runs(list(parsed))
    if not runs:
        return None
    best = max(runs, key=len)
    return best if len(best) >= MIN_LITERAL_LENGTH else None


def _only_literals(regex: str) -> bool:
    if _RE2_ONLY_SYNTAX.search(regex) or regex.startswith("(?"):
        return False
    try:
        parsed = sre_parse.parse(regex)
    except re.error:
        return False
    return all(op is sre_constants.LITERAL for op, _ in parsed)


@dataclass(frozen=True)
class LineFilter:
    operator: str  # one of |=, !=, |~, !~
    value: str

    def render(self) -> str:
        # A `|=` literal never needs regex escaping; quote it the same safe way as a regex.
        return f"{self.operator} {quote_string(self.value)}"


def line_filters_for(regex: str) -> list[LineFilter]:
    """Loki's advice: a cheap literal `|=` first (only when every match provably contains it), then the regex."""
    if _only_literals(regex):
        return [LineFilter("|=", regex)]
    literal = required_literal(regex)
    filters = [LineFilter("|=", literal)] if literal else []
    filters.append(LineFilter("|~", regex))
    return filters


def render_line_filters(filters: list[LineFilter]) -> str:
    return " ".join(f.render() for f in filters)
