"""`obsctl backtest --loki URL --since 7d [--until T] [--compare]`: the backtest on a live Loki (see
generator/logs/live_backtest.py). Called from the `backtest` command in cli/logs.py, which owns the offline path and
the timeline printer both share."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from generator.cli.common import EXIT_FINDINGS, EXIT_INVALID_INPUT
from generator.logql_engine import RuleGroup
from generator.logs.live_backtest import compare_results, live_backtest, offline_on_pulled_lines, plan_requests
from generator.logs.live_loki import LokiConnection, LokiQueryClient, LokiQueryError
from generator.truth import Truth
from generator.truth.types import Duration


def parse_time(text: str, now_ns: int, what: str) -> int:
    """`now`, a duration before now (`7d`, `90m`) or an RFC 3339 time, as ns since the epoch."""
    if text == "now":
        return now_ns
    try:
        return now_ns - round(Duration.parse(text).seconds * 1e9)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use a duration (7d, 12h) or an RFC 3339 time", param_hint=what) from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{text!r}: give a time zone (e.g. Z)", param_hint=what)
    return round(moment.timestamp() * 1e9)


def backtest_live(url: str, truth: Truth, groups: list[RuleGroup], since: str, until: str, compare: bool,
                  chunk: str | None, max_pages: int | None, as_json: bool) -> None:
    """Run, print like the offline backtest, exit (0 ok, 1 pages over --max-pages or a --compare difference,
    2 a bad option or a Loki error, which names the limit to raise)."""
    from generator.cli.logs import print_backtest, stdout_console

    now_ns = time.time_ns()
    end_ns = parse_time(until, now_ns, "--until")
    start_ns = parse_time(since, end_ns, "--since")
    if start_ns >= end_ns:
        raise click.BadParameter("--since must be before --until", param_hint="--since")
    chunk_ns = round(Duration.parse(chunk).seconds * 1e9) if chunk else None
    try:
        client = LokiQueryClient(LokiConnection.from_env(url, truth.logs.tenant))
    except LokiQueryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    err = Console(stderr=True, highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("query_range", total=plan_requests(groups, start_ns, end_ns, chunk_ns))

        def step(what: str, _requests: int) -> None:
            progress.update(task, advance=1, description=f"query_range {what}")

        try:
            run = live_backtest(client, groups, truth, start_ns, end_ns, chunk_ns, step)
            offline = None
            if compare:
                progress.update(task, description="pulling lines for --compare", total=None)
                offline = offline_on_pulled_lines(client, groups, truth, start_ns, end_ns, chunk_ns=chunk_ns,
                                                  progress=step)
        except LokiQueryError as exc:
            progress.stop()
            click.echo(f"error: Loki at {client.connection.url}: {exc}", err=True)
            sys.exit(EXIT_INVALID_INPUT)
    differences = compare_results(run.result, offline) if offline is not None else []
    source = f"{client.connection.url} ({run.requests} query_range requests in {run.chunks} chunks)"
    if as_json:
        document = {"sources": [source], "max_pages": max_pages, **run.result.as_json()}
        if offline is not None:
            document["compare"] = {"offline_entries": offline.entries, "differences": differences}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        out = stdout_console(160)
        print_backtest(out, run.result, [source], max_pages)
        if offline is not None:
            out.print(f"[bold]--compare[/bold]: the offline engine on the {offline.entries:,} lines pulled from Loki "
                      + ("agrees on every firing." if not differences else "differs:"))
            for line in differences:
                out.print(line, soft_wrap=True)
    if differences or (max_pages is not None and run.result.pages > max_pages):
        sys.exit(EXIT_FINDINGS)


__all__ = ["backtest_live", "parse_time"]
