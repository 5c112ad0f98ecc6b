"""Redaction rules from truth.privacy, in one place for every component that redacts: the bot's logging module
(at the source), the Alloy pipeline (at ingestion, both log formats) and `obsctl scan` (what it prints).

Each rule is one regex valid in RE2 (Go, Alloy) and Python `re` (the stdlib-only bot module) alike. When the regex
has a group named `value`, only that group is replaced, so `KIE_API_KEY=<redacted:KIE_API_KEY>` keeps its key and
a JSON line stays valid JSON; otherwise the whole match is replaced.

Rules apply to `any` line, or only to `json` lines (one object per line) or `text` lines (the seed's format), since
a value's end is not spelled the same way in both: a JSON string ends at its unescaped quote, a text line at its end.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from generator.syntax.logql import re2_escape
from generator.truth.model import Mask, Truth

LineKind = Literal["any", "json", "text"]
VALUE_GROUP = "value"

# An amount as a bot prints it: signed, decimal, thousands separated (1,234.50), Python's underscores.
_NUMBER = r"-?[0-9](?:[0-9_]|,[0-9])*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
# The same inside a text or a message, where `%r` of a Decimal prints Decimal('45.50').
_PRINTED_NUMBER = rf"(?:Decimal\(['\"]?)?{_NUMBER}(?:['\"]?\))?"
# The body of a JSON string: anything up to the closing unescaped quote.
_JSON_STRING_BODY = r'(?:[^"\\]|\\.)*'


@dataclass(frozen=True)
class RedactionRule:
    id: str  # the truth entry it comes from
    regex: str
    replacement: str
    lines: LineKind

    @property
    def has_value_group(self) -> bool:
        return f"(?P<{VALUE_GROUP}>" in self.regex

    def apply(self, text: str) -> str:
        """Python's reading of the rule (the bot module runs the same logic): every non-overlapping match."""
        pattern = re.compile(self.regex)
        if not self.has_value_group:
            return pattern.sub(lambda _m: self.replacement, text)

        def replace(match: re.Match[str]) -> str:
            start, end = match.span(VALUE_GROUP)
            if start < 0:
                return match.group(0)
            whole = match.group(0)
            offset = match.start()
            return whole[:start - offset] + self.replacement + whole[end - offset:]

        return pattern.sub(replace, text)


def _value(regex: str) -> str:
    return f"(?P<{VALUE_GROUP}>{regex})"


def mask_rules(mask: Mask) -> list[RedactionRule]:
    """The spellings of `<field> <value>` a log line can hold, in the order they must run."""
    key = re2_escape(mask.field)
    if mask.value == "number":
        return [
            # "balance": 45.5 -> "balance": "***" (a bare JSON number becomes a string: the line stays JSON)
            RedactionRule(mask.id, f'"{key}"\\s*:\\s*{_value(_NUMBER)}', json.dumps(mask.replacement), "json"),
            # "balance": "45.50" -> "balance": "***"
            RedactionRule(mask.id, f'"{key}"\\s*:\\s*"{_value(_JSON_STRING_BODY)}"', mask.replacement, "json"),
            # balance=-3.50, balance: 45, 'balance': Decimal('1.00'), "balance": "45" in a text line or a message
            # (an optional backslash before each quote: the same, JSON-escaped inside a JSON string)
            RedactionRule(mask.id, f"\\b{key}\\\\?[\"']?\\s*[:=]\\s*\\\\?[\"']?{_value(_PRINTED_NUMBER)}",
                          mask.replacement, "any"),
        ]
    return [
        # "prompt": "a cat" -> "prompt": "<redacted>"
        RedactionRule(mask.id, f'"{key}"\\s*:\\s*"{_value(_JSON_STRING_BODY)}"', mask.replacement, "json"),
        # prompt=a cat ... inside a JSON string (a message): to the end of that string
        RedactionRule(mask.id, f"\\b{key}={_value(_JSON_STRING_BODY)}", mask.replacement, "json"),
        # prompt=a cat in space / 'prompt': 'a cat' in a text line: to the end of the line (tags after it go too)
        RedactionRule(mask.id, f"(?:\\b{key}=|[\"']{key}[\"']\\s*:\\s*){_value('.*')}", mask.replacement, "text"),
    ]


def redaction_rules(truth: Truth) -> list[RedactionRule]:
    """Secrets first (their markers are what the leak alerts match), then the masks."""
    rules = [RedactionRule(s.id, s.regex, s.redact_as, "any") for s in truth.privacy.never_log if s.redact_as]
    for mask in truth.privacy.masks:
        rules += mask_rules(mask)
    return rules


JSON_LINE_REGEX = r"^\s*\{"  # a JSON log line starts with `{` (the Alloy selectors use the same regex)


def is_json_line(line: str) -> bool:
    return re.match(JSON_LINE_REGEX, line) is not None


def redact_line(line: str, rules: list[RedactionRule]) -> str:
    """What is stored of `line` after ingestion: the rules for its format, in order."""
    kind = "json" if is_json_line(line) else "text"
    for rule in rules:
        if rule.lines in ("any", kind):
            line = rule.apply(line)
    return line
