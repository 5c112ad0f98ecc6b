"""`obsctl alertmanager-config --out F`: the runnable Alertmanager config, Telegram secrets from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import click

from generator.artifacts import alertmanager_templates
from generator.artifacts.alertmanager import COMMITTED_TEMPLATES, MissingSecret, runnable_config_text
from generator.cli.common import truth_option
from generator.plan import build_plan
from generator.truth import TruthError, load_truth


@click.command("alertmanager-config")
@truth_option
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the runnable alertmanager.yml (mode 0600); its Telegram message templates go "
                   f"beside it, in {COMMITTED_TEMPLATES}.")
def alertmanager_config_command(truth_path: Path, out: Path) -> None:
    """Write the runnable Alertmanager config, Telegram secrets taken from the environment (never printed), and the
    message templates it names."""
    try:
        truth = load_truth(truth_path, display_path=str(truth_path))
        text = runnable_config_text(truth, os.environ)
    except TruthError as exc:
        raise click.ClickException("\n".join(str(p) for p in exc.problems)) from None
    except MissingSecret as exc:
        raise click.ClickException(f"{exc}; nothing was written") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    # The templates first: a config naming a template that is not there yet would not load.
    for artifact in alertmanager_templates.render(build_plan(truth)):
        template_path = out.parent / COMMITTED_TEMPLATES
        template_path.parent.mkdir(parents=True, exist_ok=True)
        template_temporary = template_path.with_name(f".{template_path.name}.tmp")
        template_temporary.write_text(artifact.content, encoding="utf-8")
        os.replace(template_temporary, template_path)
    temporary = out.with_name(f".{out.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, out)
    click.echo(f"wrote {out} and {out.parent / COMMITTED_TEMPLATES}")
