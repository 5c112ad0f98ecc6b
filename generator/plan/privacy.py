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

from generator.syntax.re2_regex import re2_escape
from generator.syntax.redaction import VALUE_GROUP, RedactionRule
from generator.truth.model import Mask, Truth

# An amount as a bot prints it: signed, decimal, thousands separated (1,234.50), Python's underscores.
_NUMBER = r"-?[0-9](?:[0-9_]|,[0-9])*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
# The same inside a text or a message, where `%r` of a Decimal prints Decimal('45.50').
_PRINTED_NUMBER = rf"(?:Decimal\(['\"]?)?{_NUMBER}(?:['\"]?\))?"
# The body of a JSON string: anything up to the closing unescaped quote.
_JSON_STRING_BODY = r'(?:[^"\\]|\\.)*'


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
