"""What every `obsctl` command shares: the `--truth` and `--repo` options, exit codes, loading truth or exiting."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from generator.truth_path import DEFAULT_TRUTH_PATH

if TYPE_CHECKING:
    from generator.truth import Truth

# Exit codes, the same for every command so CI can tell "found something" from "could not run".
EXIT_OK = 0
EXIT_FINDINGS = 1  # check: stale artifacts; test: a test failed; scan: a hit; backtest: too many pages
EXIT_INVALID_INPUT = 2  # a bad truth file, an unreadable input, a malformed record

truth_option = click.option(
    "--truth", "truth_path", type=click.Path(path_type=Path), default=DEFAULT_TRUTH_PATH, show_default=True,
    help="The truth file to read.",
)
repo_option = click.option(
    "--repo", "repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."), show_default=True,
    help="Repository root the generated folders live in.",
)


_quick_exit = False


def allow_quick_exit() -> None:
    """Called by a command once it has written everything and holds nothing that needs finalizing (its threads
    joined, its files closed or written atomically): `generator.cli.run` may then end the process at once."""
    global _quick_exit
    _quick_exit = True


def quick_exit_allowed() -> bool:
    return _quick_exit


def load_or_exit(truth_path: Path) -> Truth:
    """Load the truth file; on any problem print every located error and exit 2."""
    from generator.truth import TruthError, load_truth  # the schema costs start-up: only commands that need it

    try:
        return load_truth(truth_path, display_path=str(truth_path))
    except TruthError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {truth_path}; nothing was written.", err=True)
        sys.exit(EXIT_INVALID_INPUT)
