"""`obsctl scan` and `obsctl backtest`: the seed's manual log analysis, on exported logs.

Exit status (both commands, usable in CI): 0 clean, 1 findings (scan: a forbidden hit, a leaked secret or a
rate-limit violation; backtest: more pages than `--max-pages`), 2 bad input (unreadable file, malformed record).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from generator.cli.common import EXIT_FINDINGS, EXIT_INVALID_INPUT, allow_quick_exit, load_or_exit, truth_option
from generator.logs.inputs import (
    BotLineFormat,
    InputError,
    InputFormat,
    detect_format,
    iter_batches,
    peek_head,
    read_entries,
)
from generator.logs.report import Hit, ScanReport, iso_time
from generator.logs.scan_spec import ScanSpec, cache_dir, load_scan_spec
from generator.logs.scanner import Scanner

if TYPE_CHECKING:
    # The backtest engine costs start-up: `obsctl scan` never imports it. Neither does a `--json` scan import rich
    # (about 25 ms): the consoles and tables are imported where text is printed.
    from rich.console import Console

    from generator.logs.backtest import AlertSummary, BacktestResult

FORMAT_CHOICES = ["auto", *[f.value for f in InputFormat]]

format_option = click.option(
    "--format", "input_format", type=click.Choice(FORMAT_CHOICES), default="auto", show_default=True,
    help="Input format: `render logs -o json` output, RFC 5424 syslog lines, or the bot's own lines.",
)


def open_input(path: str, stack: ExitStack) -> IO[bytes]:
    """A buffered binary stream for a file or `-` (stdin); exits 2 naming the file when it cannot be read."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb", buffering=1 << 20))  # noqa: SIM115 (closed by the stack)
    except OSError as exc:
        click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
        sys.exit(EXIT_INVALID_INPUT)


def resolve_format(stream: IO[bytes], choice: str, line_format: BotLineFormat) -> InputFormat:
    return detect_format(peek_head(stream), line_format) if choice == "auto" else InputFormat(choice)


# --- scan --------------------------------------------------------------------------------------------------------


def _hit_line(hit: Hit, priority: str | None) -> str:
    when = _short_time(hit.timestamp_ns)
    tag = {"forbidden": f"FORBIDDEN {priority}", "rate_limited": "rate-limited", "secret": "SECRET"}[hit.kind]
    return f"[{tag}] {hit.pattern_id} #{hit.entry} {when}: {hit.text}"


def _short_time(ns: int | None) -> str:
    return (iso_time(ns) or "time unknown").replace("T", " ").removesuffix("Z")


def print_scan_report(console: Console, report: ScanReport, spec: ScanSpec) -> None:
    from rich.markup import escape
    from rich.table import Table

    mb = report.bytes_scanned / 1e6
    speed = mb / report.elapsed_s if report.elapsed_s > 0 else 0.0
    console.print(f"[bold]{escape(report.source)}[/bold] ({report.input_format}): {report.entries:,} entries, "
                  f"{mb:,.1f} MB in {report.elapsed_s:.2f} s ({speed:,.0f} MB/s)")
    if report.stopped_at_first_forbidden:
        console.print("[yellow]stopped at the first forbidden hit (--fail-fast): counts cover the input up to the "
                      "end of the block that holds it[/yellow]")

    table = Table(title="Forbidden patterns (must never appear)", title_justify="left")
    for column in ("pattern", "priority", "hits", "first", "last"):
        table.add_column(column, justify="right" if column == "hits" else "left")
    for p in report.of_kind("forbidden"):
        style = "bold red" if p.hits else "green"
        table.add_row(p.pattern.id, p.pattern.priority or "", f"[{style}]{p.hits:,}[/{style}]",
                      _short_time(p.first_ns) if p.hits else "", _short_time(p.last_ns) if p.hits else "")
    console.print(table)

    table = Table(title="Rate-limited patterns", title_justify="left")
    for column in ("pattern", "limit", "hits", "violations", "worst window", "first violation"):
        table.add_column(column, justify="right" if column in ("hits", "violations", "worst window") else "left")
    for p in report.of_kind("rate_limited"):
        limit = f"{p.pattern.limit_count} per {(p.pattern.limit_per_ns or 0) / 1e9:g}s"
        worst = max((v.peak_in_window for v in p.violations), default=0)
        style = "bold red" if p.violations else "green"
        table.add_row(p.pattern.id, limit, f"{p.hits:,}", f"[{style}]{p.violation_count:,}[/{style}]",
                      f"{worst}" if worst else "", _short_time(p.violations[0].start_ns) if p.violations else "")
    console.print(table)

    table = Table(title="Secrets that must never be logged (lines shown masked)", title_justify="left")
    for column in ("pattern", "hits", "first", "last"):
        table.add_column(column, justify="right" if column == "hits" else "left")
    for p in report.of_kind("secret"):
        style = "bold red" if p.hits else "green"
        table.add_row(p.pattern.id, f"[{style}]{p.hits:,}[/{style}]",
                      _short_time(p.first_ns) if p.hits else "", _short_time(p.last_ns) if p.hits else "")
    console.print(table)

    examples = [(p, h) for p in report.patterns for h in p.examples[:3]]
    if examples:
        console.print("[bold]Examples[/bold] (up to 3 per pattern; entry numbers are lines or records):")
        for pattern, hit in examples:
            console.print(escape(_hit_line(hit, pattern.pattern.priority)), soft_wrap=True)

    if report.with_stats:
        table = Table(title="Entries per level", title_justify="left")
        table.add_column("level")
        table.add_column("entries", justify="right")
        table.add_column("share", justify="right")
        order = [*spec.line_format.levels, "(none)"]
        for level in sorted(report.levels, key=lambda lv: order.index(lv) if lv in order else len(order)):
            count = report.levels[level]
            share = count / report.entries if report.entries else 0
            flag = " [yellow](not for production)[/yellow]" if level == "DEBUG" and count else ""
            table.add_row(level + flag, f"{count:,}", f"{share:.2%}")
        console.print(table)
        latency = report.latency
        if latency.count:
            p50_target, p95_target, p99_target = spec.latency_targets_ms
            table = Table(title=f"duration_ms over {latency.count:,} entries (targets are the webhook's)",
                          title_justify="left")
            for column in ("p50", "p90", "p95", "p99", "max"):
                table.add_column(column, justify="right")

            def cell(percentile: float | None, target: float | None) -> str:
                value = percentile or 0.0
                text = f"{value:g} ms"
                return f"[red]{text}[/red]" if target is not None and value >= target else text

            p50, p90, p95, p99 = latency.percentiles((0.5, 0.9, 0.95, 0.99))
            table.add_row(cell(p50, p50_target), cell(p90, None), cell(p95, p95_target), cell(p99, p99_target),
                          f"{max(latency.buckets):g} ms")
            console.print(table)
        else:
            console.print("duration_ms: no entries carry it")

    verdict = (f"{report.forbidden_hits:,} forbidden hit(s), {report.rate_violations:,} rate-limit violation(s), "
               f"{report.leaked_secrets:,} leaked secret(s)")
    console.print(("[bold green]clean: " if report.clean else "[bold red]FINDINGS: ") + verdict + "[/]")


def stdout_console(width_off_terminal: int) -> Console:
    """The console text reports print on: as wide as the terminal, else `width_off_terminal` columns."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else width_off_terminal)


class StderrConsole:
    """The console for live hits, the progress bar and notices, made on first use: most scans never print there, so
    they never pay for rich."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def __call__(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def may_be_terminal(self) -> bool:
        """False when rich would surely not see a terminal (no tty, no FORCE_COLOR or TTY_COMPATIBLE), without
        making the console; otherwise the console's own answer."""
        if not (sys.stderr.isatty() or os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE")):
            return False
        return self().is_terminal


def _progress_bar(stack: ExitStack, err: Console, path: str, size: int, stream: IO[bytes]) -> Callable[[Any], None]:
    """A transient progress bar on the terminal; returns what to call after each batch."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    progress = stack.enter_context(Progress("[progress.description]{task.description}", BarColumn(),
                                            DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                                            console=err, transient=True))
    task = progress.add_task(f"scanning {path}", total=size)

    def on_batch(_batch: object) -> None:
        # record inputs re-encode lines: progress follows the file position, not the bytes scanned
        progress.update(task, completed=stream.tell())

    return on_batch


def scan_input(path: str, scanner: Scanner, input_format: str, fail_fast: bool, as_json: bool,
               show_progress: bool, err: StderrConsole) -> ScanReport:
    """Scan one file or stdin. Hits are printed as they are found on stdin (`--tail`) and under --fail-fast."""
    line_format = scanner.line_format
    live = path == "-"
    priorities = {p.id: p.priority for p in scanner.patterns}

    def print_hit(hit: Hit) -> None:
        from rich.markup import escape

        err().print(escape(_hit_line(hit, priorities.get(hit.pattern_id))), soft_wrap=True)

    on_hit = print_hit if (live or fail_fast) and not as_json else None  # else the scan need not mask every hit

    with ExitStack() as stack:
        stream = open_input(path, stack)
        try:
            fmt = resolve_format(stream, input_format, line_format)
        except InputError as exc:
            click.echo(f"{path}: {exc}", err=True)
            sys.exit(EXIT_INVALID_INPUT)
        report = scanner.new_report("<stdin>" if live else path, fmt.value)
        size = None if live else Path(path).stat().st_size
        with ExitStack() as progress_stack:
            on_batch = None
            if show_progress and size and err.may_be_terminal():
                on_batch = _progress_bar(progress_stack, err(), path, size, stream)
            try:
                batches = iter_batches(stream, line_format, fmt, source=report.source, live=live, reuse_buffers=True)
                scanner.scan(batches, report,
                             fail_fast=fail_fast, on_hit=on_hit, on_batch=on_batch, live=live)
            except InputError as exc:
                click.echo(f"{exc}; the scan stopped.", err=True)
                sys.exit(EXIT_INVALID_INPUT)
            except KeyboardInterrupt:  # a `--tail` ends with Ctrl-C: report what was seen
                err().print("interrupted: reporting what was scanned so far")
    return report


@click.command("scan")
@click.argument("inputs", nargs=-1, required=True)
@truth_option
@format_option
@click.option("--fail-fast", is_flag=True, help="Stop and exit 1 at the first forbidden-pattern hit.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (machines, CI) instead of tables.")
@click.option("--patterns-only", is_flag=True,
              help="Only the truth patterns: skip per-level counts and duration percentiles (faster).")
@click.option("--no-progress", is_flag=True, help="No progress bar (it shows only for files on a terminal).")
def scan_command(inputs: tuple[str, ...], truth_path: Path, input_format: str, fail_fast: bool, as_json: bool,
                 patterns_only: bool, no_progress: bool) -> None:
    """Scan exported logs (files, or `-` for stdin) for every truth pattern, levels and latency.

    \b
    Examples:
      render logs -r srv-xxx -o json --tail | obsctl scan -
      obsctl scan --json --fail-fast yesterday.log

    Leaked secrets are reported masked: no secret is ever printed. Exit status: 0 clean, 1 findings (forbidden hit,
    leaked secret, rate-limit violation), 2 bad input.
    """
    scanner = Scanner(load_scan_spec(truth_path, load_or_exit), with_stats=not patterns_only,
                      pattern_cache=cache_dir())
    err = StderrConsole()
    reports: list[ScanReport] = []
    for path in inputs:
        reports.append(scan_input(path, scanner, input_format, fail_fast, as_json, not no_progress, err))
        if reports[-1].stopped_at_first_forbidden:
            break
    if as_json:
        document: dict[str, Any] = {"clean": all(r.clean for r in reports), "inputs": [r.as_json() for r in reports]}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        out = stdout_console(140)
        for report in reports:
            print_scan_report(out, report, scanner.spec)
    allow_quick_exit()  # the scan's threads are joined, its input closed, the report printed
    if not all(r.clean for r in reports):
        sys.exit(EXIT_FINDINGS)


# --- backtest ----------------------------------------------------------------------------------------------------

TIMELINE_WIDTH = 72


def _timeline(alert: AlertSummary, start_ns: int, end_ns: int) -> str:
    """One character per time slice: █ firing, ▒ pending, · quiet."""
    span = max(end_ns - start_ns, 1)
    cells = ["·"] * TIMELINE_WIDTH
    for episode in alert.episodes:
        fired = episode.fired_at_ns
        stop = episode.resolved_at_ns if episode.resolved_at_ns is not None else end_ns
        for index in range(TIMELINE_WIDTH):
            cell_start = start_ns + span * index // TIMELINE_WIDTH
            cell_end = start_ns + span * (index + 1) // TIMELINE_WIDTH
            if cell_end <= episode.pending_at_ns or cell_start > stop:
                continue
            if fired is not None and cell_end > fired:
                cells[index] = "█"
            elif cells[index] == "·":
                cells[index] = "▒"
    return "".join(cells)


def _duration_text(ns: int) -> str:
    seconds = round(ns / 1e9)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


def print_backtest(console: Console, result: BacktestResult, sources: list[str], max_pages: int | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]Backtest[/bold] of {', '.join(escape(s) for s in sources)}: {result.entries:,} entries "
                  f"from {_short_time(result.start_ns)} to {_short_time(result.end_ns)} UTC, "
                  f"{result.evaluations:,} rule evaluations")
    if result.untimed_entries:
        console.print(f"[yellow]{result.untimed_entries:,} entries before the first timed line were skipped[/yellow]")
    if result.late_entries:
        console.print(f"[yellow]{result.late_entries:,} entries came after later ones (by more than the replay's "
                      "5-minute reorder slack): evaluations before them did not see them; sort the export by time"
                      "[/yellow]")
    table = Table(title="Alerts that would have fired (█ firing, ▒ pending)", title_justify="left")
    for column in ("alert", "tier", "pages", "firings", "firing time", "longest", "timeline"):
        table.add_column(column, justify="right" if column in ("firings", "firing time", "longest") else "left",
                         no_wrap=column == "timeline")
    active = [a for a in result.alerts if a.episodes]
    for alert in active:
        firing = [e.firing_ns(result.end_ns) for e in alert.firings]
        table.add_row(alert.alertname, alert.tier or "", "yes" if alert.pages else "no", f"{len(alert.firings):,}",
                      _duration_text(sum(firing)), _duration_text(max(firing, default=0)),
                      _timeline(alert, result.start_ns, result.end_ns))
    if active:
        console.print(table)
    silent = [a.alertname for a in result.alerts if not a.episodes]
    if silent:
        console.print(f"silent ({len(silent)}): {', '.join(silent)}")
    episodes = sorted((e for a in result.alerts for e in a.firings), key=lambda e: e.fired_at_ns or 0)
    if episodes:
        console.print("[bold]Firings[/bold] (first 50):")
        for episode in episodes[:50]:
            until = (_short_time(episode.resolved_at_ns) if episode.resolved_at_ns is not None
                     else "still firing at the end")
            console.print(f"  {_short_time(episode.fired_at_ns)} → {until} "
                          f"({_duration_text(episode.firing_ns(result.end_ns))}) {episode.alertname}: "
                          f"{escape(episode.summary)}", soft_wrap=True)
    for error in result.errors[:20]:
        console.print(f"[red]evaluation error[/red] {_short_time(error.ts_ns)} {error.group}/{error.rule}: "
                      f"{escape(error.message)}")
    limit = f" (limit {max_pages})" if max_pages is not None else ""
    style = "bold red" if max_pages is not None and result.pages > max_pages else "bold"
    console.print(f"[{style}]This log would have paged {result.pages:,} time(s){limit}; "
                  f"{result.firings:,} alert firing(s) in all.[/]")


def _parse_labels(pairs: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r}: write labels as name=value", param_hint="--label")
        labels[name] = value
    return labels


@click.command("backtest")
@click.argument("inputs", nargs=-1)
@truth_option
@format_option
@click.option("--rules", "rules_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of Loki rule files [default: loki/rules/<tenant from truth.yaml>].")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE",
              help="Add or override a stream label on every entry (repeatable).")
@click.option("--max-pages", type=click.IntRange(min=0), default=None,
              help="Exit 1 when the log would have paged more than this many times.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the timeline.")
@click.option("--loki", "loki_url", metavar="URL", help="Evaluate the rules on this live Loki through query_range "
              "instead of exported logs (LOKI_TENANT, LOKI_TOKEN as for provision); see cli/live_backtest.py.")
@click.option("--since", default="7d", show_default=True, help="With --loki: start, a duration before --until or "
              "an RFC 3339 time.")
@click.option("--until", default="now", show_default=True, help="With --loki: end (now, a duration ago, RFC 3339).")
@click.option("--compare", is_flag=True, help="With --loki: also run the offline engine on the lines pulled from "
              "Loki and print any difference (exit 1).")
@click.option("--chunk", default=None, help="With --loki: longest time span per request (default: Loki's limits).")
def backtest_command(inputs: tuple[str, ...], truth_path: Path, input_format: str, rules_dir: Path | None,
                     labels: tuple[str, ...], max_pages: int | None, as_json: bool, loki_url: str | None,
                     since: str, until: str, compare: bool, chunk: str | None) -> None:
    """Replay exported logs (files or `-`) through every generated Loki rule: when would each alert have fired?

    \b
    Example (CI): obsctl backtest --max-pages 3 last-week.json
    Live Loki:    obsctl backtest --loki http://loki:3100 --since 7d --compare
    Exit status: 0 ok, 1 more pages than --max-pages or a rule failed to evaluate, 2 bad input or no rules.
    """
    from generator.logql_engine import LogQLError
    from generator.logs.backtest import backtest_entries, load_rules

    if not inputs and not loki_url:
        raise click.UsageError("give exported log files (or - for stdin), or --loki URL")
    truth = load_or_exit(truth_path)
    line_format = BotLineFormat.from_truth(truth.logs)
    overrides = _parse_labels(labels)
    folder = rules_dir or Path("loki/rules") / truth.logs.tenant
    try:
        groups = load_rules(folder)
    except (FileNotFoundError, LogQLError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID_INPUT)
    if loki_url:
        from generator.cli.live_backtest import backtest_live

        backtest_live(loki_url, truth, groups, since, until, compare, chunk, max_pages, as_json)
        return
    with ExitStack() as stack:
        streams = []
        for path in inputs:
            stream = open_input(path, stack)
            streams.append((path, stream, resolve_format(stream, input_format, line_format)))
        entries = chain.from_iterable(read_entries(stream, line_format, fmt, source=path)
                                      for path, stream, fmt in streams)
        try:
            result = backtest_entries(entries, groups, truth, overrides)
        except InputError as exc:
            click.echo(f"{exc}; nothing was evaluated.", err=True)
            sys.exit(EXIT_INVALID_INPUT)
    if as_json:
        document = {"sources": list(inputs), "max_pages": max_pages, **result.as_json()}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        out = stdout_console(160)
        print_backtest(out, result, list(inputs), max_pages)
    if result.errors or (max_pages is not None and result.pages > max_pages):
        sys.exit(EXIT_FINDINGS)
