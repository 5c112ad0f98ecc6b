"""`obsctl lint [RULE_FILE...]`: validate truth.yaml, then check the generated Loki rules and any hand-written rule
file named on the command line with the LogQL checks of `generator.lint` (pint's habits: `file:line: check: message`).

Exit status: 0 clean or warnings only, 1 an error-severity finding (or any finding with `--fail-on warning`),
2 a bad truth file or an unreadable rule file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from generator.cli.common import EXIT_FINDINGS, EXIT_INVALID_INPUT, load_or_exit, repo_option, truth_option
from generator.lint import LintInputError, LintReport, format_problem, load_lint_rules, offline_checks
from generator.lint.base import LintCheck, run_checks
from generator.truth.types import Duration


def _online_checks(url: str, tenant: str, lookback: str, max_bytes: int) -> list[LintCheck]:
    from generator.lint.bytes_per_evaluation import BytesPerEvaluation
    from generator.lint.stream_selector import StreamSelector
    from generator.logs.live_loki import LokiConnection, LokiQueryClient, LokiQueryError

    try:
        client = LokiQueryClient(LokiConnection.from_env(url, tenant))
        lookback_ns = round(Duration.parse(lookback).seconds * 1e9)
    except (LokiQueryError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    now_ns = time.time_ns()
    return [StreamSelector(client, now_ns, lookback_ns), BytesPerEvaluation(client, now_ns, max_bytes)]


@click.command()
@click.argument("rule_files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@truth_option
@repo_option
@click.option("--online", "online_url", metavar="URL", default=None,
              help="Also ask this Loki (tenant and token from LOKI_TENANT / LOKI_TOKEN) whether each selector "
                   "matches streams and how many bytes one evaluation reads.")
@click.option("--lookback", default="24h", show_default=True,
              help="With --online: how far back a selector must have matched a stream.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
              help="Lowest severity that makes the exit status 1.")
def lint(rule_files: tuple[Path, ...], truth_path: Path, repo: Path, online_url: str | None, lookback: str,
         fail_on: str) -> None:
    """Validate the truth file, then run the LogQL rule checks on the generated Loki rules and on RULE_FILEs.

    \b
    Checks (one module each in generator/lint/):
      logql-parse, template-syntax, template-labels, for-interval, range-interval, regex-literal, regex-prefilter;
      with --online URL: stream-selector, bytes-per-evaluation (threshold: logs.ruler.max_bytes_per_evaluation).
    """
    truth = load_or_exit(truth_path)
    click.echo(f"{truth_path}: ok ({len(truth.alert_ids())} alerts)")
    generated_dir = repo / "loki" / "rules" / truth.logs.tenant
    files = sorted(generated_dir.glob("*.y*ml")) if generated_dir.is_dir() else []
    files += [path for path in rule_files if path not in files]
    if not files:
        return
    checks = offline_checks()
    if online_url:
        checks += _online_checks(online_url, truth.logs.tenant, lookback, truth.logs.ruler.max_bytes_per_evaluation)
    report = LintReport()
    default_interval_ns = round(truth.logs.ruler.interval.seconds * 1e9)
    for path in files:
        try:
            rules = load_lint_rules(path, default_interval_ns)
        except LintInputError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_INVALID_INPUT)
        run_checks(checks, rules, report)
    for problem in report.problems:
        click.echo(format_problem(problem))
    warnings = len(report.problems) - report.errors
    click.echo(f"{report.files} rule file(s), {report.rules} rule(s): {report.errors} error(s), "
               f"{warnings} warning(s)")
    failing = report.errors if fail_on == "error" else len(report.problems)
    if failing:
        sys.exit(EXIT_FINDINGS)
