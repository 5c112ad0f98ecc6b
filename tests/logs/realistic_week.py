"""A realistic week of the bot's logs, made deterministically: the input of the quiet-alerts backtest.

Shape (from the seed's "normal" bands): 5-50 webhook requests a minute following the day (quiet at night, busy in the
evening), each logged at INFO with `operation=webhook` and `duration_ms` drawn from a log-normal distribution; both
log formats mixed; a generation (`operation=generation`, seconds long) for one request in ten; the tier-1 events
the bot handles itself (duplicate update_id, insufficient balance) a few times an hour and never twice within 30 s;
KIE API retries at WARNING that succeed. No forbidden pattern, no ERROR.

`median_ms` sets the webhook P50 of the calm week; `slow_episodes` replaces it during (start, end, median) spans so a
backtest can show the slow-response alert firing exactly there. Log-normal with sigma 0.6: P95 = median x 2.7, so a
140 ms median gives a P95 near 380 ms (within the seed's < 800 ms) while one line in ten is above 300 ms.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

WEEK_START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
SIGMA = 0.6


@dataclass(frozen=True)
class WeekShape:
    median_ms: float = 140.0
    slow_episodes: tuple[tuple[timedelta, timedelta, float], ...] = ()  # (from week start, to, median ms)
    seed: int = 11
    days: int = 7
    tier1_events: dict[str, float] = field(default_factory=lambda: {
        "Duplicate update_id {update_id}, skipping": 4.0,  # per hour
        "Insufficient balance for user {user_id}: balance=***": 3.0,
    })


def requests_per_minute(moment: datetime) -> float:
    """5 at 04:00 UTC, 50 at 16:00 UTC, a cosine in between: the seed's normal 5-50 requests a minute."""
    hour = moment.hour + moment.minute / 60
    return 27.5 - 22.5 * math.cos((hour - 4) / 24 * 2 * math.pi)


def _asctime(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d}"


def _line(rng: random.Random, moment: datetime, logger: str, level: str, message: str, **tags: object) -> str:
    """Half the lines in the text format (tags as key=value), half as JSON (tags as keys)."""
    if rng.random() < 0.5:
        text_tags = "".join(f" {k}={v}" for k, v in tags.items())
        return f"{_asctime(moment)} - {logger} - {level} - {message}{text_tags}"
    return json.dumps({"asctime": _asctime(moment), "name": logger, "levelname": level, "message": message, **tags})


def _median_at(shape: WeekShape, offset: timedelta) -> float:
    for start, end, median in shape.slow_episodes:
        if start <= offset < end:
            return median
    return shape.median_ms


def lines(shape: WeekShape) -> Iterator[str]:
    rng = random.Random(shape.seed)
    minute = timedelta(minutes=1)
    last_tier1: dict[str, datetime] = {}
    for index in range(shape.days * 24 * 60):
        start = WEEK_START + index * minute
        entries: list[tuple[datetime, str]] = []
        count = max(0, round(rng.gauss(requests_per_minute(start), 2)))
        for _ in range(count):
            at = start + timedelta(milliseconds=rng.randrange(60_000))
            duration = round(rng.lognormvariate(math.log(_median_at(shape, at - WEEK_START)), SIGMA))
            update_id = 900_000_000 + index * 100 + len(entries)
            user_id = rng.randrange(10_000, 99_999)
            entries.append((at, _line(rng, at, "bot.webhook", "INFO", "update handled", update_id=update_id,
                                      user_id=user_id, operation="webhook", duration_ms=duration)))
            if rng.random() < 0.1:
                done = at + timedelta(seconds=rng.uniform(5, 40))
                entries.append((done, _line(rng, done, "bot.generation", "INFO", "generation completed",
                                            user_id=user_id, operation="generation",
                                            duration_ms=round((done - at).total_seconds() * 1000))))
                if rng.random() < 0.05:
                    retry = at + timedelta(seconds=1)
                    entries.append((retry, _line(rng, retry, "bot.kie", "WARNING", "KIE API timeout, retry 1 of 3",
                                                 error_type="httpx.ReadTimeout")))
        for template, per_hour in shape.tier1_events.items():
            if rng.random() < per_hour / 60:
                at = start + timedelta(milliseconds=rng.randrange(60_000))
                previous = last_tier1.get(template)
                if previous is None or at - previous > timedelta(seconds=31):
                    last_tier1[template] = at
                    message = template.format(update_id=900_000_000 + index, user_id=rng.randrange(10_000, 99_999))
                    entries.append((at, _line(rng, at, "bot.webhook", "WARNING", message)))
        for _, line in sorted(entries, key=lambda entry: entry[0]):
            yield line


def write(shape: WeekShape, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for line in lines(shape):
            out.write(line + "\n")
    return path


def webhook_p50_ms(path: Path) -> float:
    """The webhook median of a written week, measured from the file (not from the shape)."""
    durations = sorted(float(json.loads(line)["duration_ms"]) if line.startswith("{")
                       else float(line.rsplit("duration_ms=", 1)[1])
                       for line in path.read_text(encoding="utf-8").splitlines()
                       if "operation=webhook" in line or '"operation": "webhook"' in line)
    return durations[len(durations) // 2]
