"""RE2 compilation with quiet errors, in a module light enough for `obsctl scan` start-up (no pydantic)."""

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
