"""The bot's logging module: it compiles, imports with the standard library only, and passes its own self-test
(the truth's secret examples redacted, look-alikes untouched, every mask applied in both formats). It runs in a
separate interpreter without site-packages (`-I -S`) and writes no bytecode into the staging tree (`-B`)."""

from __future__ import annotations

import sys

from generator import conventions
from generator.checks.base import CheckInput, Problem, run_tool, tool_failure


def check(inp: CheckInput) -> list[Problem]:
    where = conventions.BOT_LOGGING_MODULE
    if inp.find(where) is None:
        return []
    result = run_tool([sys.executable, "-I", "-S", "-B", where, "--self-test"], inp.root)
    return [] if result.ok else [Problem(where, tool_failure("bot_logging.py --self-test", result), "python")]
