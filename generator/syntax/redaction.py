"""A redaction rule and how a line is redacted with a list of them, with no truth import: `obsctl scan` masks what
it prints from its cached scan spec without loading the truth schema. The rules themselves are built from truth in
`generator.plan.privacy`.

Each rule is one regex valid in RE2 (Go, Alloy) and Python `re` (the stdlib-only bot module) alike. When the regex
has a group named `value`, only that group is replaced; otherwise the whole match is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LineKind = Literal["any", "json", "text"]
VALUE_GROUP = "value"


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
