"""The bot's logging module (bot/bot_logging.py), generated from truth: the seed's text format with the tags as
`key=value`, JSON lines with the standard tags, and a filter that redacts every secret and mask of truth.privacy
before a record is formatted (message, args, `extra` fields, exception and stack text). Standard library only: the
bot copies the file. Its own self-test (`python3 bot_logging.py --self-test`) replays the truth's examples; the
check for this kind runs it without site-packages."""

from __future__ import annotations

from generator import conventions
from generator.artifacts.base import Artifact
from generator.conventions import GENERATED_HEADER
from generator.plan import Plan, privacy
from generator.truth import Truth

MODULE_TEMPLATE = '''# {header}
"""Logging for the {title}, generated from product/truth.yaml (standard library only: copy this file into the bot).

- TextFormatter: the seed's format `{text_format}`, tags appended to the message as `key=value`;
- JsonFormatter: one JSON object per line, the seed's fields ({json_keys}) plus the tags, standard tags first;
- RedactingFilter: applies every secret and mask of truth.privacy to the message (args merged in), every `extra`
  field, the exception and the stack text, before any formatter sees the record. It also replaces the values of
  the secrets' environment variables ({secret_envs}) wherever they appear.

Install it with logging.config.dictConfig, a filter on every handler:

    import logging.config
    import bot_logging
    logging.config.dictConfig(bot_logging.dict_config("json", level="INFO"))

or in your own dictConfig: formatters {{"()": "bot_logging.JsonFormatter"}} or {{"()": "bot_logging.TextFormatter"}},
filters {{"redact": {{"()": "bot_logging.RedactingFilter"}}}}, and `"filters": ["redact"]` on each handler.
`python3 bot_logging.py --self-test` checks the redaction against the truth's own examples.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

TEXT_FORMAT = {text_format!r}
JSON_FIELDS = {json_fields!r}
STANDARD_TAGS = {standard_tags!r}
PRODUCTION_LEVEL = {production_level!r}
# (truth id, regex, replacement): when the regex has a group named `value`, only that group is replaced.
REDACTION_RULES = {rules}
# Environment variables holding secrets: their values are replaced wherever they appear.
SECRET_ENVIRONMENT = {secret_env!r}
# Shortest environment value replaced literally (a shorter one would redact ordinary words).
MIN_SECRET_LENGTH = 8

_COMPILED = tuple((rule_id, re.compile(regex), replacement) for rule_id, regex, replacement in REDACTION_RULES)
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {{"message", "asctime"}}
_REDACTED_FLAG = "_bot_logging_redacted"


def _substitute(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    if "value" not in pattern.groupindex:
        return pattern.sub(lambda _match: replacement, text)

    def one(match: re.Match[str]) -> str:
        start, end = match.span("value")
        if start < 0:
            return match.group(0)
        return text[match.start():start] + replacement + text[end:match.end()]

    return pattern.sub(one, text)


def redact(text: str) -> str:
    """`text` with every secret and masked value of the truth replaced."""
    for variable, marker in SECRET_ENVIRONMENT:
        value = os.environ.get(variable, "")
        if len(value) >= MIN_SECRET_LENGTH:
            text = text.replace(value, marker)
    for _rule_id, pattern, replacement in _COMPILED:
        text = _substitute(pattern, replacement, text)
    return text


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The record's `extra` fields, standard tags first (in the truth's order), then the others as given."""
    extra = {{key: value for key, value in vars(record).items()
             if key not in _RECORD_ATTRIBUTES and not key.startswith("_")}}
    ordered = {{tag: extra.pop(tag) for tag in STANDARD_TAGS if tag in extra}}
    ordered.update(extra)
    return ordered


class RedactingFilter(logging.Filter):
    """Redacts a record in place before it is formatted; attach it to every handler (a handler filter also sees
    records propagated from child loggers, a logger filter does not)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _REDACTED_FLAG, False):
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in extra_fields(record).items():
            if value is None or isinstance(value, bool):
                continue
            # A field is redacted as the text `key=value`, so rules that need the key (KIE_API_KEY=..., balance=...)
            # see it; a changed value is kept as text.
            shown = f"{{key}}={{value}}"
            redacted = redact(shown)
            if redacted != shown:
                setattr(record, key, redacted[len(key) + 1:] if redacted.startswith(key + "=") else redacted)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        setattr(record, _REDACTED_FLAG, True)
        return True


class TextFormatter(logging.Formatter):
    """The seed's text format; the tags follow the message as `key=value`. Times in UTC unless utc=False."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None, utc: bool = True) -> None:
        super().__init__(fmt, datefmt)
        if utc:
            self.converter = time.gmtime

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging API)
        tags = extra_fields(record)
        message = record.message
        if tags:
            record.message = message + " " + " ".join(f"{{key}}={{value}}" for key, value in tags.items())
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, logger, level and message under the seed's names, then the tags."""

    def __init__(self, datefmt: str | None = None, utc: bool = True) -> None:
        super().__init__(datefmt=datefmt)
        if utc:
            self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        document: dict[str, object] = {{
            JSON_FIELDS["time"]: self.formatTime(record, self.datefmt),
            JSON_FIELDS["logger"]: record.name,
            JSON_FIELDS["level"]: record.levelname,
            JSON_FIELDS["message"]: record.message,
        }}
        for key, value in extra_fields(record).items():
            document.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exc_info"] = record.exc_text
        if record.stack_info:
            document["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def dict_config(fmt: str = "json", level: str = PRODUCTION_LEVEL, stream: str = "ext://sys.stdout") -> dict:
    """A logging.config.dictConfig configuration: one stream handler with the redacting filter and the formatter
    `fmt` ("json" or "text"), at `level` (the truth's production level by default)."""
    formatters = {{"json": "JsonFormatter", "text": "TextFormatter"}}
    if fmt not in formatters:
        raise ValueError(f"fmt must be one of {{', '.join(formatters)}}, not {{fmt!r}}")
    return {{
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {{"redact": {{"()": f"{{__name__}}.RedactingFilter"}}}},
        "formatters": {{"bot": {{"()": f"{{__name__}}.{{formatters[fmt]}}"}}}},
        "handlers": {{"console": {{"class": "logging.StreamHandler", "stream": stream, "formatter": "bot",
                                 "filters": ["redact"]}}}},
        "root": {{"level": level, "handlers": ["console"]}},
    }}


# --- self-test: the truth's own examples ----------------------------------------------------------------------

# (truth id, regex, marker, lines it must redact, lines it must leave alone)
SELF_TEST_SECRETS = {self_test_secrets}
SELF_TEST_MASKS = {self_test_masks!r}


def self_test() -> list[str]:
    """Failures (empty: all good): every secret example redacted, every look-alike untouched, every mask applied in
    both formats through dictConfig, args, `extra` fields and exception text."""
    import io
    import logging.config

    failures = []
    for secret_id, regex, marker, leaks, look_alikes in SELF_TEST_SECRETS:
        pattern = re.compile(regex)
        for line in leaks:
            redacted = redact(line)
            if marker not in redacted or pattern.search(redacted):
                failures.append(f"{{secret_id}}: not redacted: {{redacted}}")
        for line in look_alikes:
            if redact(line) != line:
                failures.append(f"{{secret_id}}: look-alike changed: {{line}} -> {{redact(line)}}")
    for fmt in ("json", "text"):
        stream = io.StringIO()
        config = dict_config(fmt, level="DEBUG")
        config["handlers"]["console"]["stream"] = stream
        logging.config.dictConfig(config)
        log = logging.getLogger("bot.self_test")
        for field, value_kind, replacement in SELF_TEST_MASKS:
            secret_value = "-1234.56" if value_kind == "number" else "a private wish"
            log.info("checked %s=%s", field, secret_value, extra={{field: secret_value}})
            try:
                raise ValueError(f"{{field}}={{secret_value}}")
            except ValueError:
                log.exception("failed")
            output = stream.getvalue()
            if secret_value in output or replacement not in output:
                failures.append(f"mask {{field}} ({{fmt}}): {{output}}")
            if fmt == "json":
                for line in output.splitlines():
                    if line.startswith("{{"):
                        json.loads(line)
            stream.seek(0)
            stream.truncate()
    logging.config.dictConfig({{"version": 1, "disable_existing_loggers": False}})
    return failures


if __name__ == "__main__":
    if sys.argv[1:] != ["--self-test"]:
        print(__doc__)
        sys.exit(2)
    problems = self_test()
    for problem in problems:
        print(problem)
    print(f"bot_logging self-test: {{len(problems)}} failure(s)")
    sys.exit(1 if problems else 0)
'''


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
