"""Log classes for retention (truth.retention): the regex that claims a line for a class, in both log formats, and
the order classes are assigned in. The Alloy pipeline labels each line with its class; Loki keeps each class for
its period."""

from __future__ import annotations

from generator.plan import log_format
from generator.syntax.re2_regex import re2_escape
from generator.truth.model import LogClass, Logs

# A logger's children belong to it (bot.payments.stripe is bot.payments): an optional dotted tail.
_CHILD_LOGGERS = r"(?:\.[A-Za-z0-9_]+)*"


def class_regex(logs: Logs, log_class: LogClass) -> str:
    """RE2 (and Python `re`) matching a line of either format that `log_class` claims: its logger (text: the
    `%(name)s` field; JSON: the logger key), one of its tag values, or one of its regexes."""
    match = log_class.match
    if match is None:
        raise ValueError(f"class {log_class.id} is the default class: it claims no line by itself")
    parts: list[str] = []
    if match.loggers:
        names = "|".join(re2_escape(name) for name in match.loggers)
        parts.append(log_format.text_field_regex(logs, "name", f"(?:{names}){_CHILD_LOGGERS}"))
        key = re2_escape(logs.json_fields.logger)
        parts.append(f'(?:^|[{{,])\\s*"{key}"\\s*:\\s*"(?:{names}){_CHILD_LOGGERS}"')
    for tag, values in match.tags.items():
        parts += [log_format.tag_value_regex(tag, value) for value in values]
    parts += [f"(?:{regex})" for regex in match.regex]
    return "|".join(parts)
