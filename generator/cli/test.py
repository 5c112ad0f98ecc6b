"""`obsctl test FILE...`: run LogQL rule unit tests offline. Exit 0 all pass, 1 a test failed, 2 bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from generator.cli.common import EXIT_FINDINGS, EXIT_INVALID_INPUT
from generator.logql_engine.errors import LogQLError
from generator.logql_engine.testfile import run_test_file


@click.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def test_command(files: tuple[Path, ...]) -> None:
    """Run LogQL rule unit tests (promtool-style test files) against the offline engine."""
    failed = invalid = False
    for path in files:
        try:
            result = run_test_file(path)
        except LogQLError as exc:
            click.echo(f"ERROR {exc}", err=True)
            invalid = True
            continue
        for failure in result.failures:
            click.echo(str(failure), err=True)
        status = "SUCCESS" if result.ok else "FAILED"
        click.echo(f"{status} {result.path}: {result.tests} tests, {result.assertions} assertions, "
                   f"{len(result.failures)} failed")
        failed = failed or not result.ok
    sys.exit(EXIT_INVALID_INPUT if invalid else EXIT_FINDINGS if failed else 0)
