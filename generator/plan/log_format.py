"""Regex building blocks for the bot's two log formats (truth.logs), shared by every artifact that reads its logs.

Text: `%(asctime)s - %(name)s - %(levelname)s - %(message)s`, tags as `key=value` inside the message.
JSON: one object per line, the level under `json_fields.level`, tags as keys.
All regexes are Go RE2 syntax (Loki, Alloy) that Python's `re` reads alike.
"""

from __future__ import annotations

import re

from generator.syntax.re2_regex import re2_escape
from generator.truth.model import Logs, SecretPattern

LEVEL_PLACEHOLDER = "%(levelname)s"
PLACEHOLDER = re.compile(r"%\([a-zA-Z_]+\)[a-z]")


def level_separators(logs: Logs) -> tuple[str, str]:
    """The literal text right before and right after the level in the text format (` - ` and ` - `)."""
    fmt = logs.text_format
    start = fmt.index(LEVEL_PLACEHOLDER)
    before = PLACEHOLDER.split(fmt[:start])[-1]
    after = PLACEHOLDER.split(fmt[start + len(LEVEL_PLACEHOLDER):])[0]
    return before, after


def level_regex(logs: Logs, levels: list[str]) -> str:
    """Matches a line at one of `levels` in either format, with no parser: ` - ERROR - ` or `"levelname": "ERROR"`."""
    before, after = level_separators(logs)
    alternation = "|".join(levels)
    key = re2_escape(logs.json_fields.level)
    return f'{re2_escape(before)}(?:{alternation}){re2_escape(after)}|"{key}"\\s*:\\s*"(?:{alternation})"'


def level_capture_regex(logs: Logs, group: str) -> str:
    """A `regexp` parser pattern capturing the level of a line in either format into one named group."""
    before, after = level_separators(logs)
    levels = "|".join(level.name for level in logs.levels)
    key = re2_escape(logs.json_fields.level)
    return f'(?:{re2_escape(before)}|"{key}"\\s*:\\s*")(?P<{group}>{levels})(?:{re2_escape(after)}|")'


def text_level_regex(logs: Logs, group: str = "level") -> str:
    """Reads the level from a text-format line anchored at its start: the format's literal parts, fields before the
    level skipped, the level captured. Stops at the level: the message may hold anything."""
    fmt = logs.text_format
    end = fmt.index(LEVEL_PLACEHOLDER) + len(LEVEL_PLACEHOLDER)
    levels = "|".join(level.name for level in logs.levels)
    regex = ["^"]
    for part in re.split(f"({PLACEHOLDER.pattern})", fmt[:end]):
        if part == LEVEL_PLACEHOLDER:
            regex.append(f"(?P<{group}>{levels})")
        elif PLACEHOLDER.fullmatch(part):
            regex.append(".*?")
        else:
            regex.append(re2_escape(part))
    regex.append(re2_escape(level_separators(logs)[1]))
    return "".join(regex)


def text_field_regex(logs: Logs, field: str, value_regex: str) -> str:
    """Matches a text-format line whose `%(<field>)s` is `value_regex`, anchored at the line's start like
    `text_level_regex`: the literal parts of the format, earlier fields skipped, the field, then its separator."""
    fmt = logs.text_format
    placeholder = f"%({field})s"
    if placeholder not in fmt:
        raise ValueError(f"logs.text_format has no {placeholder}")
    start = fmt.index(placeholder)
    regex = ["^"]
    for part in re.split(f"({PLACEHOLDER.pattern})", fmt[:start]):
        regex.append(".*?" if PLACEHOLDER.fullmatch(part) else re2_escape(part))
    regex.append(f"(?:{value_regex})")
    after = PLACEHOLDER.split(fmt[start + len(placeholder):])[0]
    regex.append(re2_escape(after))
    return "".join(regex)


def secret_detection_regex(secret: SecretPattern) -> str:
    """A secret counts as leaked raw or already masked at ingestion (its `redact_as` marker): a masked leak still
    pages, and the scanner sees what the alert sees."""
    return secret.regex if secret.redact_as is None else f"{secret.regex}|{re2_escape(secret.redact_as)}"


def tag_value_regex(tag: str, value: str) -> str:
    """`tag` equal to `value` as a JSON key (`"operation": "webhook"`) or a text `key=value` pair."""
    t, v = re2_escape(tag), re2_escape(value)
    return f'"{t}"\\s*:\\s*"{v}"|\\b{t}={v}\\b'


def tag_present_regex(tag: str) -> str:
    """`tag` present with a value: a JSON string key (`"error_type": "TimeoutError"`) or a text `key=value` pair."""
    t = re2_escape(tag)
    return f'"{t}"\\s*:\\s*"[^"]|\\b{t}=\\S'


def numeric_tag_extractor(tag: str) -> str:
    """A `regexp` parser pattern extracting a numeric tag from JSON (`"duration_ms": 45`) or text (`duration_ms=45`)."""
    t = re2_escape(tag)
    return f'\\b{t}"?\\s*[:=]\\s*"?(?P<{tag}>[0-9]+(?:\\.[0-9]+)?)'


def word_tag_extractor(tag: str) -> str:
    """A `regexp` parser pattern for a word-valued tag: JSON (`"error_type": "TimeoutError"`) or text (`k=v`)."""
    t = re2_escape(tag)
    return f'\\b{t}"?\\s*[:=]\\s*"?(?P<{tag}>[A-Za-z_][A-Za-z0-9_.]*)'
