"""The bot's logging module (bot/bot_logging.py), generated from truth: the seed's text format with the tags as
`key=value`, JSON lines with the standard tags, and a filter that redacts every secret and mask of truth.privacy
before a record is formatted (message, args, `extra` fields, exception and stack text). Standard library only: the
bot copies the file. Its own self-test (`python3 bot_logging.py --self-test`) replays the truth's examples; the
check for this kind runs it without site-packages."""

from __future__ import annotations

from pathlib import Path

from generator import conventions
from generator.artifacts.base import Artifact
from generator.conventions import GENERATED_HEADER
from generator.plan import Plan, privacy
from generator.truth import Truth

# The module's text with `str.format` fields (literal braces doubled); kept as a template file, not Python source,
# since it is the generated module's own code.
MODULE_TEMPLATE = (Path(__file__).parent / "templates" / "bot_logging.py.tmpl").read_text(encoding="utf-8")


def _tuple_literal(items: list[str], indent: str = "    ") -> str:
    if not items:
        return "()"
    return "(\n" + "".join(f"{indent}{item},\n" for item in items) + ")"


def module_source(truth: Truth) -> str:
    source_rules = [r for r in privacy.redaction_rules(truth) if r.lines in ("any", "text")]
    secrets = [s for s in truth.privacy.never_log if s.redact_as]
    return MODULE_TEMPLATE.format(
        header=GENERATED_HEADER,
        title=truth.service.title,
        text_format=truth.logs.text_format,
        json_keys=", ".join(f"`{key}`" for key in (truth.logs.json_fields.time, truth.logs.json_fields.logger,
                                                    truth.logs.json_fields.level, truth.logs.json_fields.message)),
        secret_envs=", ".join(s.env for s in secrets if s.env) or "none",
        json_fields={"time": truth.logs.json_fields.time, "logger": truth.logs.json_fields.logger,
                     "level": truth.logs.json_fields.level, "message": truth.logs.json_fields.message},
        standard_tags=tuple(tag.name for tag in truth.logs.standard_tags),
        production_level=truth.logs.production_level,
        rules=_tuple_literal([repr((r.id, r.regex, r.replacement)) for r in source_rules]),
        secret_env=tuple((s.env, s.redact_as) for s in secrets if s.env),
        self_test_secrets=_tuple_literal([repr((s.id, s.regex, s.redact_as, tuple(s.examples.match),
                                                tuple(s.examples.no_match))) for s in secrets]),
        self_test_masks=tuple((m.field, m.value, m.replacement) for m in truth.privacy.masks),
    )


def render(plan: Plan) -> list[Artifact]:
    return [Artifact(conventions.BOT_LOGGING_MODULE, module_source(plan.truth))]
