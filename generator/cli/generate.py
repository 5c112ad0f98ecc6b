"""`obsctl generate`, `obsctl check`: the main job on the truth file (`obsctl lint` is in cli/lint.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from generator.cli.common import EXIT_FINDINGS, EXIT_INVALID_INPUT, load_or_exit, repo_option, truth_option


@click.command()
@truth_option
@repo_option
def generate(truth_path: Path, repo: Path) -> None:
    """Render every artifact, validate it with the real tools, then swap it in atomically."""
    from generator import pipeline

    truth = load_or_exit(truth_path)
    try:
        artifacts = pipeline.generate(truth, repo)
    except pipeline.GenerationError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo("generated artifacts failed validation; nothing was written.", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    click.echo(f"wrote {len(artifacts)} files under {', '.join(pipeline.owned_dirs())}")


@click.command()
@truth_option
@repo_option
def check(truth_path: Path, repo: Path) -> None:
    """Fail (exit 1) with a diff when the committed artifacts differ from a fresh generation."""
    from generator import pipeline

    truth = load_or_exit(truth_path)
    try:
        report = pipeline.stale_report(truth, repo)
    except pipeline.GenerationError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_INVALID_INPUT)
    if report:
        for diff in report:
            click.echo(diff, err=True)
        click.echo(f"{len(report)} generated file(s) are stale: run `make generate` and commit.", err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo("generated artifacts are up to date")
