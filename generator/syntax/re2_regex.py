"""RE2 compilation with quiet errors, in a module light enough for `obsctl scan` start-up (no pydantic)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2


@lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> Any:
    """Compile with RE2 (Loki's regex engine is Go's RE2; google-re2 accepts the same syntax)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)
