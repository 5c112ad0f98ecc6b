"""When Hyperscan may stand in for RE2: a regex whose byte-level Hyperscan language provably contains RE2's.

Hyperscan runs in byte mode, RE2 (Loki's engine) on UTF-8 code points. A pattern goes to Hyperscan only when every
line RE2 would match is also reported by Hyperscan (RE2 then confirms each reported line): ASCII only, no inline
flags, no RE2-only syntax, no `$`, no class that excludes `\\s` (Hyperscan's has `\\v`), and the atoms whose width
differs between bytes and code points (`.`, negated classes) only as the whole body of an unbounded repeat.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # type: ignore[import-not-found]  # Python 3.11+ (requires-python)
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Iterable
from typing import Any

# RE2 syntax Python's parser reads differently, and inline flags (RE2's (?i) folds Unicode, Hyperscan's does not).
_RE2_ONLY_OR_FLAGS = re.compile(r"\[\[:|\\[pPQEzCxAZ]|\(\?[a-zA-Z-]+[:)]")  # `(?:` alone sets no flag
_UNBOUNDED = sre_constants.MAXREPEAT
# Not `$`: before a CRLF line end Hyperscan's multi-line `$` does not match, while RE2 sees the line without `\r`.
_ALLOWED_ANCHORS = {sre_constants.AT_BEGINNING, sre_constants.AT_BOUNDARY, sre_constants.AT_NON_BOUNDARY}
_NEGATED_CATEGORIES = {sre_constants.CATEGORY_NOT_DIGIT, sre_constants.CATEGORY_NOT_WORD,
                       sre_constants.CATEGORY_NOT_SPACE}


def _width_sensitive(op: Any, av: Any) -> bool:
    """Atoms that match one byte in Hyperscan's byte mode but one code point (1-4 bytes) in RE2."""
    if op in (sre_constants.ANY, sre_constants.NOT_LITERAL):
        return True
    if op is sre_constants.IN:
        return any(o is sre_constants.NEGATE or (o is sre_constants.CATEGORY and a in _NEGATED_CATEGORIES)
                   for o, a in av)
    return False


def _vertical_tab_differs(op: Any, av: Any) -> bool:
    """Hyperscan's `\\s` includes `\\v`, RE2's does not: a class that *excludes* spaces would miss `\\v` in Hyperscan.
    (A class that includes them only matches more: harmless for a prefilter.)"""
    if op is not sre_constants.IN:
        return False
    negated = any(o is sre_constants.NEGATE for o, _a in av)
    categories = {a for o, a in av if o is sre_constants.CATEGORY}
    return (negated and sre_constants.CATEGORY_SPACE in categories) or (
        not negated and sre_constants.CATEGORY_NOT_SPACE in categories)


def _sequence_safe(items: Iterable[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if _vertical_tab_differs(op, av):
            return False
        if op is sre_constants.LITERAL or (op is sre_constants.IN and not _width_sensitive(op, av)):
            continue
        if op is sre_constants.AT and av in _ALLOWED_ANCHORS:
            continue
        if op is sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags or not _sequence_safe(sub):
                return False
            continue
        if op is sre_constants.BRANCH:
            if not all(_sequence_safe(branch) for branch in av[1]):
                return False
            continue
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            _low, high, sub = av
            sub = list(sub)
            if (high is _UNBOUNDED and len(sub) == 1 and _width_sensitive(*sub[0])
                    and not _vertical_tab_differs(*sub[0])):
                continue  # a run of code points is a run of bytes with the same ends (multi-byte ones hold no ASCII)
            if not _sequence_safe(sub):
                return False
            continue
        return False  # anything else (a single `.` or negated class, back-references, lookaround...): not proven
    return True


def hyperscan_safe(regex: str) -> bool:
    """True when Hyperscan in byte mode reports every line RE2 (Loki's engine) would match, and maybe more."""
    if not regex.isascii() or _RE2_ONLY_OR_FLAGS.search(regex):
        return False
    try:
        parsed = sre_parse.parse(regex)
    except (re.error, OverflowError, RecursionError):
        return False
    if parsed.state.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE):
        return False
    return _sequence_safe(list(parsed))
