"""`make bench`: obsctl's scan and backtest next to ripgrep and `grep -E`, in one table.

1. Writes deterministic logs of a busy bot into .bench/ (gitignored), once per format and size: the seed's text lines
   (text, the bot's JSON lines, tracebacks, rare truth-pattern hits and look-alikes, `duration_ms` on every webhook
   line), the same as RFC 5424 syslog lines and as `render logs -o json` records. Sizes are the files' own sizes.
2. Times each tool on each file as whole commands (start-up included), the median of several interleaved runs after
   one warm-up round, all reading the same warm file with the same patterns (every truth pattern): `obsctl scan`
   (full report: patterns, rate windows, secrets, levels, percentiles), `obsctl scan --patterns-only`, `rg -c -f`
   and `LC_ALL=C grep -E -c -f` (its count goes to a real file: GNU grep with stdout on /dev/null stops at the first
   match). Peak RSS comes from GNU time when installed, else from sampling /proc.
3. `obsctl scan` on a one-line file (start-up); `obsctl backtest` once over each format and size, and over a month
   of a busy bot's text log (wall and CPU seconds, peak RSS).
4. `obsctl generate` into a scratch repository: wall and CPU seconds (bench/README.md, `obsctl generate`).

Environment: OBSCTL_BENCH_SIZES_MB (default "200,1000"), OBSCTL_BENCH_RUNS (default 3), OBSCTL_BENCH_BACKTEST_DAYS
(default 30) and OBSCTL_BENCH_BACKTEST_LINES_PER_DAY (default 100000). A quick run: OBSCTL_BENCH_SIZES_MB=20
OBSCTL_BENCH_RUNS=1 OBSCTL_BENCH_BACKTEST_DAYS=1 make bench.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from generator.logs.patterns import watched_patterns  # noqa: E402
from generator.truth import Truth, load_truth  # noqa: E402

BENCH_DIR = REPO / ".bench"
GENERATOR_VERSION = 3  # bump when the generated content changes, so cached files are rebuilt
SEED = 2026
MB = 1_000_000
FORMATS = ("lines", "syslog", "render-json")
TRUTH = REPO / "product" / "truth.yaml"

console = Console(highlight=False, width=170)


# --- the logs ----------------------------------------------------------------------------------------------------


def _example_message(example: str) -> tuple[str, str, str] | dict[str, object] | str:
    """A truth example as (logger, level, message) for a text line, a dict for a JSON line, else the bare line."""
    parts = example.split(" - ", 3)
    if len(parts) == 4 and parts[0][:4].isdigit():
        return parts[1], parts[2], parts[3]
    if example.startswith("{"):
        return dict(json.loads(example))
    return example


def bot_lines(truth: Truth) -> Iterator[tuple[datetime, str, str]]:
    """(time, level, line) of a busy bot, forever, deterministic. Rare events are about one in 50 000 lines."""
    rnd = random.Random(SEED)
    patterns = (*truth.forbidden_patterns, *truth.rate_limited_patterns, *truth.privacy.never_log)
    hits = [_example_message(e) for p in patterns for e in p.examples.match]
    look_alikes = [_example_message(e) for p in patterns for e in p.examples.no_match]
    clock = datetime(2026, 11, 22, tzinfo=UTC)
    update_id = 880_000_000

    def stamp() -> str:
        return f"{clock:%Y-%m-%d %H:%M:%S},{clock.microsecond // 1000:03d}"

    def text(logger: str, level: str, message: str) -> tuple[datetime, str, str]:
        return clock, level, f"{stamp()} - {logger} - {level} - {message}"

    def as_json(logger: str, level: str, message: str, **tags: object) -> tuple[datetime, str, str]:
        return clock, level, json.dumps({"asctime": stamp(), "name": logger, "levelname": level, "message": message,
                                         **tags})

    def example(chosen: tuple[str, str, str] | dict[str, object] | str) -> tuple[datetime, str, str]:
        if isinstance(chosen, tuple):
            return text(*chosen)
        if isinstance(chosen, dict):  # the example's JSON line, at the current time
            return clock, str(chosen.get("levelname", "INFO")), json.dumps({**chosen, "asctime": stamp()})
        return clock, "INFO", chosen

    while True:
        clock += timedelta(milliseconds=rnd.randint(5, 120))
        update_id += 1
        user = rnd.randint(10_000, 9_999_999_999)
        roll = rnd.random()
        duration = max(1, int(rnd.lognormvariate(4.8, 0.6)))  # webhook: median ~120 ms, long tail
        if roll < 0.50:  # a webhook update, text format
            yield text("bot.webhook", "INFO", f"Received update update_id={update_id} user_id={user}")
            yield text("httpx", "INFO",
                       'HTTP Request: POST https://api.telegram.org/bot***/sendMessage "HTTP/1.1 200 OK"')
            yield text("bot.webhook", "WARNING" if duration > 300 else "INFO",
                       f"Webhook handled update_id={update_id} user_id={user} operation=webhook "
                       f"duration_ms={duration}")
        elif roll < 0.75:  # the same, from the JSON logger
            yield as_json("bot.webhook", "INFO", "update received", update_id=update_id, user_id=user)
            yield as_json("bot.webhook", "WARNING" if duration > 300 else "INFO", "webhook handled",
                          update_id=update_id, user_id=user, operation="webhook", duration_ms=duration)
        elif roll < 0.85:  # an image generation
            model = rnd.choice(["flux-pro", "flux-dev", "sdxl", "midjourney-v7"])
            yield text("bot.generation", "INFO",
                       f"Generation started user_id={user} model={model} operation=generation")
            yield text("bot.generation", "INFO", f"Generation completed user_id={user} operation=generation "
                                                 f"duration_ms={int(rnd.lognormvariate(9.2, 0.5))}")
        elif roll < 0.95:  # balance and payments
            yield text("bot.billing", "INFO", f"User balance checked user_id={user} balance=*** "
                                              f"operation=check_balance duration_ms={rnd.randint(3, 90)}")
            if rnd.random() < 0.2:
                yield as_json("bot.payments", "INFO", "payment processed", user_id=user, operation="payment",
                              amount=f"{rnd.randint(1, 500)}.{rnd.randint(0, 99):02d}",
                              duration_ms=rnd.randint(80, 900))
        elif roll < 0.985:  # an external API timeout, with its traceback
            yield text("bot.api", "ERROR", "External API timeout after 30000 ms error_type=ReadTimeout "
                                           f"user_id={user} operation=generation")
            for line in ("Traceback (most recent call last):", '  File "/app/bot/api.py", line 141, in generate',
                         "    response = await client.post(url, json=payload, timeout=30)",
                         "httpx.ReadTimeout: timed out"):
                yield clock, "ERROR", line
        elif roll < 0.9995:  # look-alikes of the truth patterns (must not match)
            yield example(rnd.choice(look_alikes))
        else:  # a real hit of some truth pattern (forbidden, rate-limited or secret)
            yield example(rnd.choice(hits))


_SYSLOG_PRI = {"DEBUG": 135, "INFO": 134, "WARNING": 132, "ERROR": 131, "CRITICAL": 130}  # local0 facility


def in_format(fmt: str, moment: datetime, level: str, line: str) -> str:
    """One bot line as the given export format writes it."""
    if fmt == "lines":
        return line
    stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    if fmt == "syslog":
        return f"<{_SYSLOG_PRI.get(level, 134)}>1 {stamp} srv-d1abc telegram-bot 1 - - {line}"
    return json.dumps({"timestamp": stamp, "message": line,
                       "labels": [{"name": "resource", "value": "srv-d1abc"},
                                  {"name": "instance", "value": "srv-d1abc-5f7c9-x2x"},
                                  {"name": "level", "value": level.lower()}, {"name": "type", "value": "app"}]})


def bench_log(fmt: str, size_mb: int, truth: Truth) -> Path:
    suffix = {"lines": "log", "syslog": "syslog", "render-json": "json"}[fmt]
    path = BENCH_DIR / f"bot-{size_mb}mb-v{GENERATOR_VERSION}.{suffix}"
    if path.exists():
        return path
    BENCH_DIR.mkdir(exist_ok=True)
    started = time.perf_counter()
    console.print(f"generating {path.relative_to(REPO)} ({size_mb} MB) ...")
    tmp = path.with_suffix(".tmp")
    written, lines = 0, []
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for moment, level, line in bot_lines(truth):
            lines.append(in_format(fmt, moment, level, line))
            if len(lines) >= 4096:
                chunk = "\n".join(lines) + "\n"
                out.write(chunk)
                written += len(chunk.encode())
                lines.clear()
                if written >= size_mb * MB:
                    break
    tmp.replace(path)
    console.print(f"  done in {time.perf_counter() - started:.0f} s")
    return path


def month_log(truth: Truth, days: int, lines_per_day: int) -> Path:
    """A busy bot's text log over `days` days: `lines_per_day` lines a day (an update is two lines), a truth pattern
    hit about every 2 000 updates, now and then a burst of rate-limited lines."""
    path = BENCH_DIR / f"month-{days}d-{lines_per_day}-v{GENERATOR_VERSION}.log"
    if path.exists():
        return path
    BENCH_DIR.mkdir(exist_ok=True)
    rnd = random.Random(SEED)
    patterns = (*truth.forbidden_patterns, *truth.privacy.never_log)
    hits = [e for p in patterns for e in p.examples.match if not e.startswith("{")]
    bursts = [e for p in truth.rate_limited_patterns for e in p.examples.match if not e.startswith("{")]
    clock = datetime(2026, 11, 1, tzinfo=UTC)
    end = clock + timedelta(days=days)
    mean_gap = 2 * 86400 / lines_per_day
    update_id = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        while clock < end:
            clock += timedelta(seconds=rnd.expovariate(1 / mean_gap))
            update_id += 1
            stamp = f"{clock:%Y-%m-%d %H:%M:%S},{clock.microsecond // 1000:03d}"
            duration = max(1, int(rnd.lognormvariate(4.8, 0.6)))
            out.write(f"{stamp} - bot.webhook - INFO - Received update update_id={update_id}\n"
                      f"{stamp} - bot.webhook - {'WARNING' if duration > 300 else 'INFO'} - Webhook handled "
                      f"update_id={update_id} operation=webhook duration_ms={duration}\n")
            roll = rnd.random()
            if roll < 0.0005:
                out.write(stamp + rnd.choice(hits)[23:] + "\n")
            elif roll < 0.0006:
                for _ in range(3):
                    out.write(stamp + rnd.choice(bursts)[23:] + "\n")
    tmp.replace(path)
    return path


# --- measuring ---------------------------------------------------------------------------------------------------


@dataclass
class Measured:
    seconds: list[float] = field(default_factory=list)
    peak_kb: int = 0
    output: str = ""


def as_posix_ere(regex: str) -> str:
    """An RE2 pattern as GNU grep -E reads it, same matches: `(?:...)` and `(?P<name>...)` become plain groups,
    `\\s` a POSIX class, and an escaped `-` inside brackets moves to the end of its class (ERE has no escapes there)."""
    out: list[str] = []
    i, in_class, class_dash = 0, False, False
    while i < len(regex):
        if in_class:
            if regex.startswith("\\-", i):
                class_dash, i = True, i + 2
                continue
            if regex[i] == "]":
                out.append("-]" if class_dash else "]")
                in_class, class_dash = False, False
            else:
                out.append(regex[i])
            i += 1
        elif regex.startswith("(?:", i):
            out.append("(")
            i += 3
        elif regex.startswith("(?P<", i):
            out.append("(")
            i = regex.index(">", i) + 1
        elif regex.startswith("\\s", i):
            out.append("[[:space:]]")
            i += 2
        elif regex[i] == "\\":
            out.append(regex[i:i + 2])
            i += 2
        else:
            in_class = regex[i] == "["
            out.append(regex[i])
            i += 1
    return "".join(out)


def run_measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (kB) and standard output (kept in a real file) of one command."""
    with tempfile.NamedTemporaryFile("w+", dir=BENCH_DIR, suffix=".out") as out, \
            tempfile.NamedTemporaryFile("r", dir=BENCH_DIR, suffix=".rss") as rss:
        gnu_time = Path("/usr/bin/time")
        command = [str(gnu_time), "-f", "%M", "-o", rss.name, *argv] if gnu_time.exists() else argv
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
        peak = 0 if gnu_time.exists() else _sample_peak_kb(process, argv)
        status = process.wait()
        elapsed = time.perf_counter() - started
        if status not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed with exit status {status}")
        if gnu_time.exists():
            peak = int(rss.read().strip().splitlines()[-1])
        out.seek(0)
        return elapsed, peak, out.read()


def _sample_peak_kb(process: subprocess.Popen[bytes], argv: list[str]) -> int:
    """VmHWM sampled from /proc every 2 ms until the command exits (only once it runs `argv`, not the pre-exec copy
    of this Python: Linux carries a forked parent's size over exec into ru_maxrss)."""
    proc = Path(f"/proc/{process.pid}")
    wanted = "\0".join(argv).encode() + b"\0"
    peak = 0
    while process.poll() is None:
        try:
            if (proc / "cmdline").read_bytes() == wanted:
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.002)
    return peak


def measure(tools: dict[str, Callable[[], tuple[float, int, str]]], runs: int) -> dict[str, Measured]:
    """Interleaved runs; the first round warms the page cache and the caches and is not counted."""
    results = {name: Measured() for name in tools}
    for round_ in range(runs + 1):
        for name, run in tools.items():
            elapsed, peak, output = run()
            if round_:
                results[name].seconds.append(elapsed)
            results[name].peak_kb = max(results[name].peak_kb, peak)
            results[name].output = output
    return results


def _matching(name: str, output: str) -> int:
    if name.startswith("obsctl"):
        return int(json.loads(output)["inputs"][0]["entries_matching_a_pattern"])
    return int(output.strip() or 0)


def generate_row(table: Table, obsctl: list[str], env: dict[str, str], runs: int) -> None:
    """`obsctl generate` as a whole command (render, every real-tool check, the atomic swap) into a scratch repository
    with the project's truth: median wall seconds and CPU seconds (its own and its tools'), and the peak RSS of its
    largest process (promtool's). Nothing is cached between runs but the OS page cache."""
    scratch = BENCH_DIR / "generate-repo"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    command = [*obsctl, "generate", "--truth", str(TRUTH), "--repo", str(scratch)]
    cpu: list[float] = []

    def timed() -> tuple[float, int, str]:
        before = os.times()
        measured = run_measured(command, env)
        after = os.times()
        cpu.append(after.children_user + after.children_system - before.children_user - before.children_system)
        return measured

    result = measure({"generate": timed}, max(runs, 5))["generate"]
    if not result.output.startswith("wrote "):
        raise SystemExit(f"{' '.join(command)} failed: run it to see why")
    table.add_row("product/truth.yaml", f"obsctl generate (CPU {statistics.median(cpu[1:]):.2f} s with its tools)",
                  f"{statistics.median(result.seconds):.2f}", "", "", f"{result.peak_kb / 1024:,.0f} MiB",
                  result.output.strip().split(" under ")[0])
    table.add_section()


# --- obsctl backtest ---------------------------------------------------------------------------------------------


def add_backtest_rows(table: Table, obsctl: list[str], env: dict[str, str], truth: Truth, sizes: list[int],
                      days: int, per_day: int) -> None:
    """`obsctl backtest` over each format and size of the scan's logs, then over the month of text lines."""
    table.add_section()
    for fmt in FORMATS:
        for size_mb in sizes:
            log = bench_log(fmt, size_mb, truth)
            backtest_row(table, f"{fmt} {log.stat().st_size / MB:,.0f} MB", obsctl, env, fmt, log)
    month = month_log(truth, days, per_day)
    backtest_row(table, f"lines, {days} d x {per_day:,}/day ({month.stat().st_size / MB:,.0f} MB)", obsctl, env,
                 "lines", month)


def backtest_row(table: Table, label: str, obsctl: list[str], env: dict[str, str], fmt: str, log: Path) -> None:
    """One run (a backtest of a large file takes long enough to time once): wall and CPU seconds, MB/s, peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, peak_kb, output = run_measured([*obsctl, "backtest", "--json", "--truth", str(TRUTH), "--format", fmt,
                                             str(log)], env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    result = json.loads(output)
    table.add_row(label, f"obsctl backtest ({cpu:.1f} CPU-s; {result['evaluations']:,} rule evaluations, "
                         f"{result['firings']:,} firings)",
                  f"{elapsed:.1f}", f"{log.stat().st_size / MB / elapsed:,.1f}", "", f"{peak_kb / 1024:,.0f} MiB",
                  f"{result['entries']:,} entries")


def main() -> None:
    sizes = [int(s) for s in os.environ.get("OBSCTL_BENCH_SIZES_MB", "200,1000").split(",") if s.strip()]
    runs = int(os.environ.get("OBSCTL_BENCH_RUNS", "3"))
    days = int(os.environ.get("OBSCTL_BENCH_BACKTEST_DAYS", "30"))
    per_day = int(os.environ.get("OBSCTL_BENCH_BACKTEST_LINES_PER_DAY", "100000"))
    rg, grep = shutil.which("rg"), shutil.which("grep")
    if not rg or not grep:
        raise SystemExit("bench needs ripgrep (`rg`) and grep: run `make deps`")
    truth = load_truth(TRUTH)
    BENCH_DIR.mkdir(exist_ok=True)
    patterns_file = BENCH_DIR / "patterns.txt"
    patterns_file.write_text("".join(p.regex + "\n" for p in watched_patterns(truth)), encoding="utf-8")
    # GNU grep -E reads POSIX ERE: the same patterns with RE2's non-capturing/named groups and `\s` spelled its way.
    grep_patterns_file = BENCH_DIR / "patterns.ere.txt"
    grep_patterns_file.write_text("".join(as_posix_ere(p.regex) + "\n" for p in watched_patterns(truth)),
                                  encoding="utf-8")
    # Byte-compiled modules, as an installed package has them (PYTHONDONTWRITEBYTECODE would leave start-up compiling
    # every module on each run), and a cache folder of the bench's own for the scan spec.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "generator")], check=True)
    env = {**os.environ, "OBSCTL_CACHE_DIR": str(BENCH_DIR / "cache")}
    obsctl = [sys.executable, "-m", "generator.cli"]
    grep_env = {**os.environ, "LC_ALL": "C"}

    console.print(f"CPUs: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.2f}; median of {runs} runs "
                  f"after a warm-up round; sizes {sizes} MB per format")
    table = Table(title="obsctl scan and backtest vs ripgrep and grep (whole commands; ratio = rg's time / the "
                        "tool's time, above 1 is faster than rg)", title_justify="left")
    for column in ("input", "tool", "median s", "MB/s", "x rg speed", "peak RSS", "matching lines"):
        table.add_column(column, justify="left" if column in ("input", "tool") else "right")
    disagreements = []
    for fmt in FORMATS:
        for size_mb in sizes:
            log = bench_log(fmt, size_mb, truth)
            size = log.stat().st_size
            scan = [*obsctl, "scan", "--json", "--no-progress", "--truth", str(TRUTH), "--format", fmt, str(log)]
            tools: dict[str, Callable[[], tuple[float, int, str]]] = {
                "obsctl scan (full report)": lambda scan=scan: run_measured(scan, env),
                "obsctl scan --patterns-only": lambda scan=scan: run_measured([*scan, "--patterns-only"], env),
                "rg -c -f patterns": lambda log=log: run_measured([rg, "-c", "-f", str(patterns_file), str(log)]),
                "LC_ALL=C grep -E -c -f patterns": lambda log=log: run_measured(
                    [grep, "-E", "-c", "-f", str(grep_patterns_file), str(log)], grep_env),
            }
            results = measure(tools, runs)
            rg_median = statistics.median(results["rg -c -f patterns"].seconds)
            matches = {name: _matching(name, m.output) for name, m in results.items()}
            if fmt == "lines" and len(set(matches.values())) != 1:
                disagreements.append(f"{log.name}: {matches}")
            for name, measured in results.items():
                median = statistics.median(measured.seconds)
                table.add_row(f"{fmt} {size / MB:,.0f} MB", name, f"{median:.2f}", f"{size / MB / median:,.0f}",
                              f"{rg_median / median:.2f}", f"{measured.peak_kb / 1024:,.0f} MiB",
                              f"{matches[name]:,}")
            table.add_section()

    one_line = BENCH_DIR / "one-line.log"
    one_line.write_text("2026-11-29 10:00:01,123 - bot.webhook - INFO - Webhook handled duration_ms=87\n")
    startup = measure({"scan": lambda: run_measured([*obsctl, "scan", "--no-progress", "--truth", str(TRUTH),
                                                     str(one_line)], env)}, max(runs, 5))["scan"]
    table.add_row("lines, one line", "obsctl scan (start-up)", f"{statistics.median(startup.seconds):.3f}", "", "",
                  f"{startup.peak_kb / 1024:,.0f} MiB", "")
    add_backtest_rows(table, obsctl, env, truth, sizes, days, per_day)
    generate_row(table, obsctl, env, runs)
    console.print(table)
    console.print(f"load average after: {os.getloadavg()[0]:.2f} (on a shared machine wall-clock figures move with "
                  "the load; obsctl's full report uses a second core when one is free)")
    if disagreements:
        console.print(f"[red]the tools disagree on the matching lines: {disagreements}[/red]")
        sys.exit(1)


if __name__ == "__main__":
    main()
