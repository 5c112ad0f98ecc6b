"""RE2 compilation with quiet errors and RE2 escaping, in a module light enough for `obsctl scan` start-up (no
pydantic, no LogQL syntax)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> Any:
    """Compile with RE2 (Loki's regex engine is Go's RE2; google-re2 accepts the same syntax). RE2 is imported on
    first use: a scan that finds no candidate line never needs it."""
    import re2

    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def re2_escape(text: str) -> str:
    """Escape only RE2 metacharacters, so generated regexes stay readable (`re.escape` also escapes spaces)."""
    return "".join("\\" + char if char in _RE2_SPECIAL else char for char in text)
