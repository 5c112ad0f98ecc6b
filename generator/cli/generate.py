"""`obsctl generate`, `obsctl check`: the main job on the truth file (`obsctl lint` is in cli/lint.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from generator.cli.common import EXIT_FINDINGS, EXIT_INVALID_INPUT, load_or_exit, repo_option, truth_option

if TYPE_CHECKING:
    from generator.truth import Truth

# LogQL grammar batches a generation parses: the Loki rule check's and the dashboard check's. Their node processes
# start before the truth schema, the renderers and the Grafana SDK are imported, and load the grammar meanwhile.
GRAMMAR_BATCHES = 2

Result = TypeVar("Result")


def run_pipeline(truth_path: Path, repo: Path, step: Callable[[Truth, Path], Result]) -> Result:
    """Load truth and run one pipeline step on it; a failed check prints every problem and exits 2."""
    from generator.syntax import logql_grammar

    logql_grammar.start_ahead(GRAMMAR_BATCHES)
    from generator import pipeline  # the renderers and the Grafana SDK load only for the commands that need them

    truth = load_or_exit(truth_path)
    try:
        return step(truth, repo)
    except pipeline.GenerationError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo("generated artifacts failed their checks; nothing was written.", err=True)
        sys.exit(EXIT_INVALID_INPUT)


@click.command()
@truth_option
@repo_option
def generate(truth_path: Path, repo: Path) -> None:
    """Render every artifact, check it with the real tools, then swap it in atomically."""
    from generator import conventions, pipeline

    artifacts = run_pipeline(truth_path, repo, pipeline.generate)
    click.echo(f"wrote {len(artifacts)} files under {', '.join(conventions.OWNED_DIRS)}")


@click.command()
@truth_option
@repo_option
def check(truth_path: Path, repo: Path) -> None:
    """Fail (exit 1) with a diff when the committed artifacts differ from a fresh generation."""
    from generator import pipeline

    report = run_pipeline(truth_path, repo, pipeline.stale_report)
    if report:
        for diff in report:
            click.echo(diff, err=True)
        click.echo(f"{len(report)} generated file(s) are stale: run `make generate` and commit.", err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo("generated artifacts are up to date")
