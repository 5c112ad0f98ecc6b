"""`obsctl provision`, `obsctl drift` and `obsctl diff`: apply the generated tree to live servers, report hand
edits, and summarise a truth.yaml change for diff. Registered in generator/cli/__init__.py."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import click

from generator.cli.common import repo_option
from generator.provision import apply
from generator.provision.config import ENV_VARS, ConfigError, Targets, targets_from_env
from generator.provision.drift import State, StateError, blocked, drifted
from generator.provision.generated import Desired, GeneratedTreeError, discover
from generator.provision.plan import Plan
from generator.provision.retry import AuthError, ProvisionError, WrongTargetError
from generator.review import pr_summary

_ENV_HELP = "\n".join(f"  {name}: {text}" for name, text in ENV_VARS.items())


# Values of variables named like credentials are redacted too (e.g. the Alertmanager bot token the runnable config
# is built from): a tool's error message quoting one must not leak it.
_SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|SECRET|_KEY)$")


def _printer(targets: Targets | None, desired: Desired | None, err: bool = False) -> Callable[[str], None]:
    """Every line goes through the redaction of token values, whatever produced it."""
    values = [s.reveal() for s in (targets.secrets() if targets else []) + (desired.secrets if desired else [])]
    values += [v for name, v in os.environ.items() if _SECRET_NAME.search(name) and len(v) >= 8]
    values = sorted({v for v in values if v}, key=len, reverse=True)

    def say(line: str) -> None:
        for value in values:
            line = line.replace(value, "***")
        click.echo(line, err=err)

    return say


def _prepare(repo: Path, force: bool) -> tuple[Targets, Desired, State, list[apply.Backend], list[str]]:
    try:
        targets = targets_from_env(repo=repo)
        desired = discover(repo, datasources=targets.grafana is not None)
        state = State.load(targets.state_file)
        backends, notes = apply.build_backends(targets, desired, force, repo)
    except (ConfigError, GeneratedTreeError, StateError) as exc:
        _printer(None, None, err=True)(f"error: {exc}")
        sys.exit(apply.EXIT_BAD_INPUT)
    if not backends:
        _printer(targets, desired, err=True)(
            "error: no target configured; set at least one of GRAFANA_URL, LOKI_URL, PROMETHEUS_RULES_DIR, "
            "ALERTMANAGER_CONFIG (see `obsctl provision --help`)")
        sys.exit(apply.EXIT_BAD_INPUT)
    return targets, desired, state, backends, notes


def _plan_or_exit(backends: list[apply.Backend], desired: Desired, state: State,
                  say: Callable[[str], None]) -> Plan:
    try:
        return apply.make_plan(backends, desired, state)
    except WrongTargetError as exc:
        say(f"ABORTED before any write: {exc}")
        sys.exit(apply.EXIT_UNSAFE_TARGET)
    except AuthError as exc:
        say(f"error: {exc}")
        sys.exit(apply.EXIT_BAD_INPUT)
    except ProvisionError as exc:
        say(f"error while reading live state (nothing was written): {exc}")
        sys.exit(apply.EXIT_APPLY_FAILED)


@click.command(epilog="Environment variables:\n\n" + _ENV_HELP.replace("\n", "\n\n"))
@repo_option
@click.option("--dry-run", is_flag=True, help="Print the plan and stop; nothing is written.")
@click.option("--prune", is_flag=True, help="Also delete objects obsctl created that are no longer generated.")
@click.option("--force", is_flag=True,
              help="Overwrite hand edits, adopt same-named objects obsctl did not create, and proceed past the "
                   "'target looks empty or changed' safety stop.")
def provision(repo: Path, dry_run: bool, prune: bool, force: bool) -> None:
    """Apply the generated tree to live Grafana, Loki ruler, Prometheus and Alertmanager: plan first, always.

    Exit codes: 0 done (or nothing to do), 1 failed midway (the report says what was applied), 2 bad
    configuration or credentials, 3 aborted because a target looks wrong, 4 refused: hand edits or objects
    obsctl does not own would be overwritten (use --force).
    """
    targets, desired, state, backends, notes = _prepare(repo, force)
    say = _printer(targets, desired)
    plan = _plan_or_exit(backends, desired, state, say)
    for backend in backends:
        say(f"target    {backend.name}: {backend.description}")
    for line in plan.lines(prune):
        say(line)
    for note in [*notes, *plan.notes]:
        say(f"note      {note}")
    if dry_run:
        say("dry run: nothing was written")
        return
    refused = [] if force else blocked(plan, prune)
    if refused:
        for change in refused:
            say(f"REFUSED   {change.backend} {change.kind} {change.key}: {change.blocked_reason}")
        say(f"{len(refused)} object(s) would be overwritten or deleted. Nothing was written. Review them "
            "(`obsctl drift` shows hand edits), then re-run with --force to overwrite them.")
        sys.exit(apply.EXIT_REFUSED)
    writes = plan.writes(prune)
    report = apply.execute(backends, plan, state, prune, progress=say)
    for line in report.lines():
        if not line.startswith("applied"):
            say(line)
    if report.failed:
        sys.exit(apply.EXIT_APPLY_FAILED)
    if _report_health(backends, desired, say):
        sys.exit(apply.EXIT_APPLY_FAILED)
    kept = plan.kept_deletes(prune)
    if writes:
        say(f"done: {len(report.applied)} write(s)")
    elif kept:
        say(f"nothing written: {len(kept)} delete(s) kept; run with --prune to delete them")
    else:
        say("nothing to do: live state matches the generated tree")


def _report_health(backends: list[apply.Backend], desired: Desired, say: Callable[[str], None]) -> int:
    """Print what the servers report about the generated objects; returns how many are in error."""
    try:
        health = apply.check_health(backends, desired)
    except ProvisionError as exc:
        say(f"error while reading rule health: {exc}")
        sys.exit(apply.EXIT_APPLY_FAILED)
    for note in health.notes:
        say(f"note      {note}")
    for problem in health.problems:
        say(f"UNHEALTHY {problem}")
    if health.problems:
        say(f"{len(health.problems)} rule(s) in error on the live servers: the server accepted them but cannot "
            "evaluate them; fix them in the generated files and run provision again")
    return len(health.problems)


@click.command()
@repo_option
def drift(repo: Path) -> None:
    """Report dashboards, data sources, rule groups and files edited by hand since the last apply, and rules the
    live servers report in error (exit 1 if any)."""
    targets, desired, state, backends, notes = _prepare(repo, force=False)
    say = _printer(targets, desired)
    plan = _plan_or_exit(backends, desired, state, say)
    edited = drifted(plan)
    for change in edited:
        detail = f"  ({', '.join(change.fields)})" if change.fields and change.action != "delete" else ""
        say(f"drifted   {change.backend} {change.kind} {change.key}{detail}")
    unhealthy = _report_health(backends, desired, say)
    for backend in backends:
        if backend.name != "grafana" and state.recorded(backend.name, backend.description) is None:
            say(f"note      {backend.name}: no apply recorded in {targets.state_file} for this target; hand edits "
                "cannot be told from generated changes until the next provision")
    if edited:
        say(f"{len(edited)} object(s) edited by hand since the last apply; `obsctl provision` refuses to "
            "overwrite them without --force")
    if edited or unhealthy:
        sys.exit(1)
    say("no drift: live objects are as obsctl last applied them")


@click.command("diff")
@repo_option
@click.option("--base", "base_ref", required=True, help="Git ref to compare against, e.g. origin/main.")
@click.option("--head", "head_ref", default=None, help="Git ref of the change (default: the working tree).")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the Markdown summary to this file (for a PR comment).")
@click.option("--logs", "logs", multiple=True, type=click.Path(dir_okay=False),
              help="Exported logs (text, syslog or Render JSON; gzip accepted) to replay through the base and head "
                   "Loki rules: how often each changed alert would have fired, pages per tier (repeatable).")
def diff_command(repo: Path, base_ref: str, head_ref: str | None, output: Path | None, logs: tuple[str, ...]) -> None:
    """Markdown summary of what a truth.yaml change means for on-call, for a pull-request comment."""
    try:
        summary = pr_summary.render_markdown(pr_summary.review_refs(repo, base_ref, head_ref, list(logs)))
    except pr_summary.ReviewError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(apply.EXIT_BAD_INPUT)
    if output is not None:
        output.write_text(summary, encoding="utf-8")
    click.echo(summary, nl=False)
