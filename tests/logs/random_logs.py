"""Seeded random logs of the bot in all three input formats, for the scanner's differential test.

The golden reports in `golden_scan_reports.json` were first recorded with the scanner as it was before the native
kernel (commit 9750f37), and both lanes reproduced them. When truth.yaml's patterns or examples change, the logs
change with them: re-record with the reference lane, the Hyperscan + RE2 engine that scanner kept
(`OBSCTL_NO_NATIVE=1 python -m tests.logs.random_logs --record`; last after issue 11's privacy rules), and the
native lane must give the very same reports.
The logs avoid the two cross-newline bugs that engine had (a text line ending right after its logger name, a line
ending in `duration_ms=`): those have tests of their own.
"""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path

from generator.truth import Truth

GOLDEN = Path(__file__).with_name("golden_scan_reports.json")
SEEDS = range(12)
FORMATS = ("lines", "render-json", "syslog")
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
ODD_LEVELS = ["NOTICE", "info", "WARN", "", "FATAL"]
LOGGERS = ["bot.webhook", "bot.api", "httpx", "aiohttp.server", "bot.payments", "x"]
WORDS = ["update", "user_id=42", "Queue", "full", "Decimal", "OID", "range", "é", "日本", "prompt", "key", "=", ":",
         '"', "'", "\t", "\x0b", "Lock", "acquisition", "failed", "Insufficient", "balance", "Model", "not", "found",
         "Duplicate", "update_id", "timeout", "Webhook", "duration_ms", "levelname", "{", "}", "\\", "-", " - "]


def _asctime(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    from time import gmtime, strftime

    return strftime("%Y-%m-%d %H:%M:%S", gmtime(seconds)) + f",{frac // 1_000_000:03d}"


def _rfc3339(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    from time import gmtime, strftime

    return strftime("%Y-%m-%dT%H:%M:%S", gmtime(seconds)) + f".{frac:09d}Z"


def _duration(rnd: random.Random) -> str:
    return rnd.choice([str(rnd.randint(0, 999)), str(rnd.randint(1000, 250_000)),
                       f"{rnd.randint(0, 99)}.{rnd.randint(0, 99)}", "0045", "100000", "99999", "12.0"])


def _message(rnd: random.Random, examples: list[str]) -> str:
    roll = rnd.random()
    if roll < 0.15 and examples:
        return rnd.choice(examples)
    words = [rnd.choice(WORDS) for _ in range(rnd.randint(0, 8))]
    if rnd.random() < 0.4:
        words.append(rnd.choice([f"duration_ms={_duration(rnd)}", f"duration_ms: {_duration(rnd)}",
                                 f'duration_ms="{_duration(rnd)}"', f"xduration_ms={_duration(rnd)}",
                                 f"duration_ms = {_duration(rnd)} duration_ms={_duration(rnd)}", "duration_ms=abc"]))
    words.append(rnd.choice(["ok", "done", "."]))  # never ends in a bare `duration_ms=` (a known old bug)
    return " ".join(words)


def entries(seed: int, truth: Truth, count: int = 300) -> list[tuple[int, str]]:
    """(time ns, line) pairs; lines may hold newlines (a traceback logged as one record)."""
    rnd = random.Random(seed)
    patterns = (*truth.forbidden_patterns, *truth.rate_limited_patterns, *truth.privacy.never_log)
    examples = [e for p in patterns for e in (*p.examples.match, *p.examples.no_match)]
    clock = 1_795_000_000_000_000_000 + seed * 86_400_000_000_000
    out: list[tuple[int, str]] = []
    for _ in range(count):
        step = rnd.choice([0, 1_000_000, 500_000_000, 2_000_000_000, 15_000_000_000, 29_999_000_000,
                           30_000_000_000, 45_000_000_000, 600_000_000_000])
        if rnd.random() < 0.03:
            step = -rnd.choice([1_000_000_000, 40_000_000_000])  # a late line now and then
        clock += step
        level = rnd.choice(LEVELS) if rnd.random() < 0.85 else rnd.choice(ODD_LEVELS)
        logger = rnd.choice(LOGGERS)
        shape = rnd.random()
        if shape < 0.45:
            line = f"{_asctime(clock)} - {logger} - {level} - {_message(rnd, examples)}"
        elif shape < 0.7:
            obj: dict[str, object] = {"asctime": _asctime(clock), "name": logger, "levelname": level,
                                      "message": _message(rnd, examples)}
            if rnd.random() < 0.4:
                obj["duration_ms"] = rnd.choice([rnd.randint(0, 5000), 1.5, "77", 123456])
            if rnd.random() < 0.1:
                obj["extra"] = {"levelname": rnd.choice(LEVELS)}
            line = json.dumps(obj, ensure_ascii=rnd.random() < 0.5)
            if rnd.random() < 0.2:
                line = line.replace('": ', '":  ')
        elif shape < 0.8 and examples:
            line = rnd.choice(examples)
        elif shape < 0.9:
            line = f"  File \"/app/bot/api.py\", line {rnd.randint(1, 999)}, in {_message(rnd, examples)}"
        else:
            line = _message(rnd, examples)
        if rnd.random() < 0.03:
            line += "\nTraceback (most recent call last):\n  File \"x.py\", line 1\nValueError: Queue full"
        out.append((clock, line))
    return out


def render(seed: int, truth: Truth, fmt: str) -> bytes:
    """The seed's entries in one input format."""
    rnd = random.Random(seed * 7919 + 1)
    pairs = entries(seed, truth)
    if fmt == "lines":
        parts = []
        for _ts, line in pairs:
            ending = "\r\n" if rnd.random() < 0.05 else "\n"
            parts.append(line.replace("\n", ending) + ending)
        return "".join(parts).encode()
    if fmt == "render-json":
        records = [{"timestamp": _rfc3339(ts), "message": line,
                    "labels": [{"name": "resource", "value": "srv-1"},
                               {"name": "level", "value": rnd.choice(["info", "error", "warn", "fatal", "debug"])}]}
                   for ts, line in pairs]
        if seed % 2:
            return json.dumps(records, indent=1).encode()
        return "".join(json.dumps(r) + "\n" for r in records).encode()
    lines = []
    for ts, line in pairs:
        pri = rnd.randint(0, 191)
        sd = rnd.choice(["-", '[meta@1 a="b\\"]c"]', "[x@2][y@3 k=\"v\"]"])
        bom = "\ufeff" if rnd.random() < 0.05 else ""
        for number, part in enumerate(line.split("\n")):  # syslog carries one line per message
            lines.append(f"<{pri}>1 {_rfc3339(ts + number)} srv-1 telegram-bot {seed} - {sd} {bom}{part}\n")
    return "".join(lines).encode()


def report_document(report: object) -> dict[str, object]:
    """A scan report as JSON, without what changes from run to run."""
    document = report.as_json()  # type: ignore[attr-defined]
    document.pop("elapsed_s")
    document.pop("source")
    return document


def scan_bytes(data: bytes, fmt: str, truth: Truth, with_stats: bool = True, **scanner_options: object) -> dict:
    from generator.logs.inputs import InputFormat, iter_batches
    from generator.logs.scan_spec import ScanSpec
    from generator.logs.scanner import Scanner

    spec = ScanSpec.from_truth(truth)
    scanner = Scanner(spec, with_stats=with_stats, environ={}, **scanner_options)  # type: ignore[arg-type]
    report = scanner.new_report("random", fmt)
    batches = iter_batches(io.BufferedReader(io.BytesIO(data)), spec.line_format, InputFormat(fmt),
                           reuse_buffers=True)
    scanner.scan(batches, report)
    return report_document(report)


def record() -> None:
    from generator.truth import load_truth

    truth = load_truth(Path(__file__).resolve().parents[2] / "product" / "truth.yaml")
    golden = {f"{seed}/{fmt}/{'full' if stats else 'patterns'}": scan_bytes(render(seed, truth, fmt), fmt, truth,
                                                                               with_stats=stats)
              for seed in SEEDS for fmt in FORMATS for stats in (True, False)}
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    record()
