"""`make bench`: scan throughput of obsctl's engine next to ripgrep and `grep -E`, and its peak memory as input grows.

1. Writes a deterministic log in the seed's format (text lines, the bot's JSON lines, tracebacks, rare pattern hits and
   look-alikes taken from truth.yaml's examples) into .bench/ (gitignored), once per size.
2. Times, as medians of several interleaved runs on the same warm file and the same patterns (every truth pattern):
   obsctl's engine with patterns only (the same work as rg/grep: find the lines matching any pattern), obsctl's engine
   with the full report (plus levels and duration percentiles), the whole `obsctl scan` command (Python start-up
   included), `rg -c -f patterns` and `grep -E -c -f patterns`. All of them must agree on the number of matching lines.
3. Peak RSS of a full scan in a fresh process, at the small size and at 1 GB: flat memory shows as equal numbers.
4. `obsctl backtest` over a simulated quiet week (a small bot: an update every few minutes, rare pattern hits and
   bursts) through the generated Loki rules (one group every 1 s, the others every 15 s): seconds with idle
   evaluations skipped and with every evaluation computed (the baseline); both results must be identical.
"""

from __future__ import annotations

import argparse
import io
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from generator.logs.backtest import backtest, load_rules  # noqa: E402
from generator.logs.inputs import BotLineFormat, InputFormat, iter_batches, read_records  # noqa: E402
from generator.logs.patterns import watched_patterns  # noqa: E402
from generator.logs.scan_spec import ScanSpec  # noqa: E402
from generator.logs.scanner import Scanner  # noqa: E402
from generator.truth import Truth, load_truth  # noqa: E402

BENCH_DIR = REPO / ".bench"
GENERATOR_VERSION = 2  # bump when the generated content changes, so cached files are rebuilt
SEED = 2026
MB = 1_000_000

console = Console(highlight=False, width=160)


# --- the log -----------------------------------------------------------------------------------------------------


def _example_message(example: str) -> tuple[str, str, str] | dict[str, object] | str:
    """A truth example as (logger, level, message) for a text line, a dict for a JSON line, else the bare line."""
    parts = example.split(" - ", 3)
    if len(parts) == 4 and parts[0][:4].isdigit():
        return parts[1], parts[2], parts[3]
    if example.startswith("{"):
        return dict(json.loads(example))
    return example


def write_log(path: Path, size_bytes: int, truth: Truth) -> None:
    """A week of a busy bot's log, deterministic for a given size. Rare events are about one in 50 000 lines."""
    rnd = random.Random(SEED)
    hits = [_example_message(e) for p in (*truth.forbidden_patterns, *truth.rate_limited_patterns,
                                          *truth.privacy.never_log) for e in p.examples.match]
    look_alikes = [_example_message(e) for p in (*truth.forbidden_patterns, *truth.rate_limited_patterns,
                                                 *truth.privacy.never_log) for e in p.examples.no_match]
    clock = datetime(2026, 11, 22, tzinfo=UTC)
    update_id = 880_000_000
    written = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        lines: list[str] = []

        def text(logger: str, level: str, message: str) -> None:
            lines.append(f"{clock:%Y-%m-%d %H:%M:%S},{clock.microsecond // 1000:03d} - {logger} - {level} - {message}")

        def as_json(logger: str, level: str, message: str, **tags: object) -> None:
            record = {"asctime": f"{clock:%Y-%m-%d %H:%M:%S},{clock.microsecond // 1000:03d}", "name": logger,
                      "levelname": level, "message": message, **tags}
            lines.append(json.dumps(record))

        def example(chosen: tuple[str, str, str] | dict[str, object] | str) -> None:
            if isinstance(chosen, tuple):
                text(*chosen)
            elif isinstance(chosen, dict):  # the example's JSON line, at the current time
                lines.append(json.dumps({**chosen, "asctime": f"{clock:%Y-%m-%d %H:%M:%S},"
                                                              f"{clock.microsecond // 1000:03d}"}))
            else:
                lines.append(chosen)

        while written < size_bytes:
            clock += timedelta(milliseconds=rnd.randint(5, 120))
            update_id += 1
            user = rnd.randint(10_000, 9_999_999_999)
            roll = rnd.random()
            duration = max(1, int(rnd.lognormvariate(4.8, 0.6)))  # webhook: median ~120 ms, long tail
            if roll < 0.50:  # a webhook update, text format
                text("bot.webhook", "INFO", f"Received update update_id={update_id} user_id={user}")
                text("httpx", "INFO", "HTTP Request: POST https://api.telegram.org/bot***/sendMessage "
                                      '"HTTP/1.1 200 OK"')
                level = "WARNING" if duration > 300 else "INFO"
                text("bot.webhook", level, f"Webhook handled update_id={update_id} user_id={user} operation=webhook "
                                           f"duration_ms={duration}")
            elif roll < 0.75:  # the same, from the JSON logger
                as_json("bot.webhook", "INFO", "update received", update_id=update_id, user_id=user)
                as_json("bot.webhook", "WARNING" if duration > 300 else "INFO", "webhook handled",
                        update_id=update_id, user_id=user, operation="webhook", duration_ms=duration)
            elif roll < 0.85:  # an image generation
                model = rnd.choice(["flux-pro", "flux-dev", "sdxl", "midjourney-v7"])
                text("bot.generation", "INFO", f"Generation started user_id={user} model={model} operation=generation")
                text("bot.generation", "INFO", f"Generation completed user_id={user} operation=generation "
                                               f"duration_ms={int(rnd.lognormvariate(9.2, 0.5))}")
            elif roll < 0.95:  # balance and payments
                text("bot.billing", "INFO", f"User balance checked user_id={user} balance=*** operation=check_balance "
                                            f"duration_ms={rnd.randint(3, 90)}")
                if rnd.random() < 0.2:
                    as_json("bot.payments", "INFO", "payment processed", user_id=user, operation="payment",
                            amount=f"{rnd.randint(1, 500)}.{rnd.randint(0, 99):02d}", duration_ms=rnd.randint(80, 900))
            elif roll < 0.985:  # an external API timeout, with its traceback
                text("bot.api", "ERROR", "External API timeout after 30000 ms error_type=ReadTimeout "
                                         f"user_id={user} operation=generation")
                lines.extend(["Traceback (most recent call last):",
                              '  File "/app/bot/api.py", line 141, in generate',
                              "    response = await client.post(url, json=payload, timeout=30)",
                              "httpx.ReadTimeout: timed out"])
            elif roll < 0.9995:  # look-alikes of the truth patterns (must not match)
                example(rnd.choice(look_alikes))
            else:  # a real hit of some truth pattern (forbidden, rate-limited or secret)
                example(rnd.choice(hits))
            if len(lines) >= 4096:
                chunk = "\n".join(lines) + "\n"
                out.write(chunk)
                written += len(chunk.encode())
                lines.clear()
        if lines:
            out.write("\n".join(lines) + "\n")
    tmp.replace(path)


def bench_log(size_mb: int, truth: Truth) -> Path:
    path = BENCH_DIR / f"seed-format-{size_mb}mb-v{GENERATOR_VERSION}.log"
    if not path.exists():
        BENCH_DIR.mkdir(exist_ok=True)
        started = time.perf_counter()
        console.print(f"generating {path.relative_to(REPO)} ({size_mb} MB) ...")
        write_log(path, size_mb * MB, truth)
        console.print(f"  done in {time.perf_counter() - started:.1f} s")
    return path


# --- backtest over a quiet week ----------------------------------------------------------------------------------


def quiet_week_log(truth: Truth) -> bytes:
    """A week of a small bot's log in the seed's text format: an update every ~2 min by day and ~10 min at night,
    each a webhook line with its duration; ~2% external API errors; about once a day a truth pattern hit; now and
    then a burst of three rate-limited lines within seconds; look-alikes. Deterministic."""
    rnd = random.Random(SEED)
    patterns = (*truth.forbidden_patterns, *truth.privacy.never_log)
    hits = [e for p in patterns for e in p.examples.match if not e.startswith("{")]
    bursts = [e for p in truth.rate_limited_patterns for e in p.examples.match if not e.startswith("{")]
    look_alikes = [e for p in (*patterns, *truth.rate_limited_patterns) for e in p.examples.no_match
                   if e[:4].isdigit()]
    clock = datetime(2026, 11, 22, tzinfo=UTC)
    end = clock + timedelta(days=7)
    lines: list[str] = []

    def stamp(line: str, at: datetime) -> None:
        # the examples are "<time> - logger - LEVEL - message": keep all but the time
        lines.append(f"{at:%Y-%m-%d %H:%M:%S},{at.microsecond // 1000:03d}{line[23:]}")

    update_id = 880_000_000
    while clock < end:
        clock += timedelta(seconds=rnd.expovariate(1 / (120 if 8 <= clock.hour < 23 else 600)))
        update_id += 1
        duration = max(1, int(rnd.lognormvariate(4.8, 0.6)))
        stamp(f"{'':23} - bot.webhook - INFO - Received update update_id={update_id}", clock)
        stamp(f"{'':23} - bot.webhook - {'WARNING' if duration > 300 else 'INFO'} - Webhook handled "
              f"update_id={update_id} operation=webhook duration_ms={duration}",
              clock + timedelta(milliseconds=duration))
        roll = rnd.random()
        if roll < 0.02:
            stamp(f"{'':23} - bot.api - ERROR - External API timeout after 30000 ms operation=generation", clock)
        elif roll < 0.025:
            stamp(rnd.choice(hits), clock)
        elif roll < 0.027:
            example = rnd.choice(bursts)
            for k in range(3):
                stamp(example, clock + timedelta(seconds=2 * k))
        elif roll < 0.04:
            stamp(rnd.choice(look_alikes), clock)
    return ("\n".join(lines) + "\n").encode()


def backtest_week(truth: Truth) -> None:
    log = quiet_week_log(truth)
    groups = load_rules(REPO / "loki" / "rules" / truth.logs.tenant)
    line_format = BotLineFormat.from_truth(truth.logs)
    table = Table(title="obsctl backtest over a simulated quiet week (generated Loki rules)", title_justify="left")
    for column in ("evaluation", "seconds", "rule evaluations", "computed", "firings", "pages"):
        table.add_column(column, justify="left" if column == "evaluation" else "right")
    outcomes = []
    for skip_idle in (True, False):
        records = read_records(io.BufferedReader(io.BytesIO(log)), line_format, InputFormat.LINES)
        started = time.perf_counter()
        result = backtest(records, groups, truth, skip_idle=skip_idle)
        elapsed = time.perf_counter() - started
        table.add_row("idle evaluations skipped" if skip_idle else "every evaluation computed (baseline)",
                      f"{elapsed:,.1f}", f"{result.evaluations:,}",
                      f"{result.evaluations - result.skipped_evaluations:,}", f"{result.firings:,}",
                      f"{result.pages:,}")
        outcome = result.as_json()
        outcome.pop("evaluations_skipped_as_idle")
        outcomes.append(outcome)
    console.print(f"input: {len(log) / MB:.1f} MB, {result.entries:,} entries over 7 days")
    console.print(table)
    if outcomes[0] != outcomes[1]:
        console.print("[red]skipping idle evaluations changed the backtest result[/red]")
        sys.exit(1)


# --- timing ------------------------------------------------------------------------------------------------------


def engine_scan(path: Path, truth: Truth, with_stats: bool) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads) and matching lines of obsctl's engine on one file; compiling the
    patterns is not timed."""
    line_format = BotLineFormat.from_truth(truth.logs)
    scanner = Scanner(ScanSpec.from_truth(truth), with_stats=with_stats)
    report = scanner.new_report(str(path), InputFormat.LINES.value)
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(path, "rb", buffering=0) as stream:
        scanner.scan(iter_batches(stream, line_format, InputFormat.LINES, reuse_buffers=True), report)
    return time.perf_counter() - started, time.process_time() - cpu_started, report.matched_entries


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command_time(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and standard output of a command."""
    started, cpu_started = time.perf_counter(), _children_cpu()
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu_started
    if result.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed with exit status {result.returncode}")
    return elapsed, cpu, result.stdout.decode().strip()


def peak_rss_kb(argv: list[str]) -> int:
    """Peak resident set size (kB) of a command: GNU time's exact figure when installed, else VmHWM sampled from
    /proc every 2 ms until it exits.

    Not our own `wait4`'s ru_maxrss: Linux carries the forked parent's size over exec into it (this Python would
    count). Samples count only once the child runs the command (its cmdline is `argv`), not the pre-exec copy of us.
    """
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
            status = subprocess.run([str(gnu_time), "-f", "%M", "-o", out.name, *argv], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, check=False).returncode
            if status not in (0, 1):
                raise SystemExit(f"{argv[0]} failed with exit status {status}")
            return int(out.read().strip().splitlines()[-1])
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    if process.wait() not in (0, 1):
        raise SystemExit(f"{argv[0]} failed with exit status {process.returncode}")
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200, help="log size for throughput (default 200)")
    parser.add_argument("--big-mb", type=int, default=1000, help="log size for the memory check (default 1000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool; the median is shown (default 5)")
    parser.add_argument("--backtest-only", action="store_true", help="only the backtest benchmark")
    args = parser.parse_args()
    truth = load_truth(REPO / "product" / "truth.yaml")
    if args.backtest_only:
        backtest_week(truth)
        return
    rg, grep = shutil.which("rg"), shutil.which("grep")
    if not rg or not grep:
        raise SystemExit("bench needs ripgrep (`rg`) and grep: run `make deps`")

    log = bench_log(args.size_mb, truth)
    size = log.stat().st_size
    patterns_file = BENCH_DIR / "patterns.txt"
    patterns_file.write_text("".join(p.regex + "\n" for p in watched_patterns(truth)), encoding="utf-8")
    obsctl = [sys.executable, "-m", "generator.cli", "scan", "--json", "--no-progress", "--patterns-only",
              "--truth", str(REPO / "product" / "truth.yaml"), str(log)]
    tools: dict[str, object] = {
        "obsctl engine, patterns only (same work as rg/grep)": lambda: engine_scan(log, truth, with_stats=False),
        "obsctl engine, full report (+ levels, duration_ms)": lambda: engine_scan(log, truth, with_stats=True),
        "obsctl scan --patterns-only (whole command)": lambda: command_time(obsctl),
        "rg -c -f patterns": lambda: command_time([rg, "-c", "-f", str(patterns_file), str(log)]),
        "grep -E -c -f patterns": lambda: command_time([grep, "-E", "-c", "-f", str(patterns_file), str(log)]),
    }
    console.print(f"input: {log.relative_to(REPO)}, {size / MB:.0f} MB, {len(watched_patterns(truth))} truth "
                  f"patterns; {args.runs} interleaved runs per tool; CPUs: {os.cpu_count()}; "
                  f"load average before: {os.getloadavg()[0]:.2f}")
    times: dict[str, list[float]] = {name: [] for name in tools}
    cpu_times: dict[str, list[float]] = {name: [] for name in tools}
    matches: dict[str, str] = {}
    for _ in range(args.runs + 1):  # the first round warms the page cache and is not counted
        for name, run in tools.items():
            elapsed, cpu, found = run()  # type: ignore[operator]
            times[name].append(elapsed)
            cpu_times[name].append(cpu)
            matches[name] = str(found)
    matches["obsctl scan --patterns-only (whole command)"] = str(
        json.loads(matches["obsctl scan --patterns-only (whole command)"])["inputs"][0]["entries_matching_a_pattern"])

    table = Table(title=f"Scan throughput, median of {args.runs} runs ({size / MB:.0f} MB)", title_justify="left")
    for column in ("tool", "median s", "MB/s", "min..max MB/s", "MB per CPU s", "matching lines"):
        table.add_column(column, justify="left" if column == "tool" else "right")
    for name, samples in times.items():
        counted = samples[1:]
        median = statistics.median(counted)
        cpu = statistics.median(cpu_times[name][1:])
        table.add_row(name, f"{median:.3f}", f"{size / MB / median:,.0f}",
                      f"{size / MB / max(counted):,.0f}..{size / MB / min(counted):,.0f}",
                      f"{size / MB / cpu:,.0f}" if cpu > 0 else "-", matches[name])
    console.print(table)
    console.print(f"load average after: {os.getloadavg()[0]:.2f} (on a shared machine, wall-clock MB/s moves with "
                  "the load; MB per CPU second is the steadier figure)")
    if len(set(matches.values())) != 1:
        console.print(f"[red]the tools disagree on the matching lines: {matches}[/red]")
        sys.exit(1)

    big = bench_log(args.big_mb, truth)
    scan_argv = [sys.executable, "-m", "generator.cli", "scan", "--json", "--no-progress", "--truth",
                 str(REPO / "product" / "truth.yaml")]
    table = Table(title="Peak memory (RSS) of a full `obsctl scan` in a fresh process", title_justify="left")
    for column in ("input", "size", "obsctl scan peak RSS", "rg peak RSS", "grep -E peak RSS"):
        table.add_column(column, justify="left" if column == "input" else "right")
    for path in (log, big):
        rss = [peak_rss_kb(scan_argv + [str(path)]),
               peak_rss_kb([rg, "-c", "-f", str(patterns_file), str(path)]),
               peak_rss_kb([grep, "-E", "-c", "-f", str(patterns_file), str(path)])]
        table.add_row(path.name, f"{path.stat().st_size / MB:,.0f} MB", *[f"{kb / 1024:,.0f} MiB" for kb in rss])
    console.print(table)
    console.print("obsctl reads 1 MiB blocks (three buffers in turn): its memory does not depend on the input size. "
                  "rg maps the file, so its RSS counts the mapped file pages.")
    backtest_week(truth)


if __name__ == "__main__":
    main()
