"""`obsctl`: the command line. Every command reads product/truth.yaml unless told otherwise."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from generator.truth import DEFAULT_TRUTH_PATH, Truth, TruthError, load_truth

EXIT_INVALID_INPUT = 2
EXIT_STALE = 1

# Subcommands living in their own modules, imported only when used: `obsctl scan` on a pipe should not pay for
# loading the Grafana SDK and every renderer (about a second).
LAZY_COMMANDS = {
    "alertmanager-config": "generator.alertmanager_config:alertmanager_config_command",
    "provision": "generator.provision_cli:provision",
    "drift": "generator.provision_cli:drift",
    "diff": "generator.provision_cli:diff_command",
    "test": "generator.logql_engine.cli:test_command",
    "scan": "generator.scan_cli:scan_command",
    "backtest": "generator.scan_cli:backtest_command",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, attribute = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise RuntimeError(f"{LAZY_COMMANDS[cmd_name]} is not the `{cmd_name}` command")
            return command
        return super().get_command(ctx, cmd_name)

truth_option = click.option(
    "--truth", "truth_path", type=click.Path(path_type=Path), default=DEFAULT_TRUTH_PATH, show_default=True,
    help="The truth file to read.",
)
repo_option = click.option(
    "--repo", "repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."), show_default=True,
    help="Repository root the generated folders live in.",
)


def load_or_exit(truth_path: Path) -> Truth:
    """Load the truth file; on any problem print every located error and exit 2."""
    try:
        return load_truth(truth_path, display_path=str(truth_path))
    except TruthError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {truth_path}; nothing was written.", err=True)
        sys.exit(EXIT_INVALID_INPUT)


@click.group(cls=LazyGroup)
@click.version_option(package_name="obsctl")
def main() -> None:
    """Observability as code for the Telegram bot: truth.yaml -> rules, routing, dashboards, tests."""


@main.command()
@truth_option
def lint(truth_path: Path) -> None:
    """Validate the truth file without writing anything."""
    truth = load_or_exit(truth_path)
    click.echo(f"{truth_path}: ok ({len(truth.alert_ids())} alerts)")


@main.command()
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
            click.echo(problem, err=True)
        click.echo("generated artifacts failed validation; nothing was written.", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    click.echo(f"wrote {len(artifacts)} files under {', '.join(pipeline.OWNED_DIRS)}")


@main.command()
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
            click.echo(problem, err=True)
        sys.exit(EXIT_INVALID_INPUT)
    if report:
        for diff in report:
            click.echo(diff, err=True)
        click.echo(f"{len(report)} generated file(s) are stale: run `make generate` and commit.", err=True)
        sys.exit(EXIT_STALE)
    click.echo("generated artifacts are up to date")


if __name__ == "__main__":
    main()
