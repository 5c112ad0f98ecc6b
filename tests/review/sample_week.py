"""Writes tests/review/data/sample-week.log.gz: a week of the demo bot's production log (INFO and up, both of the
bot's formats), from the demo bot's own traffic model (demo/bot.py `simulate`) with a few incidents, so every pull
request's `obsctl diff --logs` shows alert counts on realistic traffic. Deterministic: same bytes every run.

    python tests/review/sample_week.py
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "review" / "data" / "sample-week.log.gz"
START = datetime(2026, 11, 22, tzinfo=UTC)
MINUTES = 7 * 24 * 60
# (minute of the week, scenario): the demo bot's incidents (demo/bot.py SCENARIOS), one every day or so
INCIDENTS = (
    (1 * 1440 + 600.0, "error_burst"),
    (2 * 1440 + 830.0, "rate_limited"),
    (3 * 1440 + 185.0, "forbidden"),
    (4 * 1440 + 1210.0, "slow_webhooks"),
    (5 * 1440 + 75.0, "latency"),
    (6 * 1440 + 900.0, "error_burst"),
)


def main() -> int:
    spec = importlib.util.spec_from_file_location("demo_bot", REPO / "demo" / "bot.py")
    assert spec is not None and spec.loader is not None
    bot = importlib.util.module_from_spec(spec)
    sys.modules["demo_bot"] = bot
    spec.loader.exec_module(bot)
    lines = bot.simulate(MINUTES, START, "mixed", 7, INCIDENTS, logging.INFO)
    text = "".join(line + "\n" for _when, line in lines).encode()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))
    print(f"{OUTPUT.relative_to(REPO)}: {len(lines):,} lines, {len(text) / 1e6:.1f} MB, "
          f"{OUTPUT.stat().st_size / 1e6:.2f} MB gzip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
