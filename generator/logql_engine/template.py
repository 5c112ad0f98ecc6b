"""The subset of Go text/template that alert labels and annotations use: literal text, `{{ $value }}`,
`{{ $labels.name }}` (also `.Value`, `.Labels.name`), string constants such as {{`{{`}}, comments and the `{{-`/`-}}`
whitespace trimming. Anything else is refused at load time rather than rendered differently from Prometheus.

Prometheus (rules/alerting.go) prepends `{{$labels := .Labels}}{{$value := .Value}}...` and executes with
`missingkey=zero` (template/template.go Expander.Expand), so a missing label renders as the empty string; the
value prints with fmt's %v (see gocompat.format_go_float).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from generator.logql_engine.errors import UnsupportedError
from generator.logql_engine.gocompat import format_go_float
from generator.syntax.logql import unquote_string

_LABEL_REF = re.compile(r"(?:\$labels|\.Labels)\.([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`', re.DOTALL)


@dataclass(frozen=True)
class _Part:
    kind: str  # "text", "value", "label", "const"
    text: str


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[_Part, ...]

    def render(self, labels: Mapping[str, str], value: float) -> str:
        out = []
        for part in self.parts:
            if part.kind == "text" or part.kind == "const":
                out.append(part.text)
            elif part.kind == "value":
                out.append(format_go_float(value))
            else:
                out.append(labels.get(part.text, ""))
        return "".join(out)


def _actions(source: str) -> list[tuple[int, int, str, bool, bool]]:
    """(start, end, body, trim_left, trim_right) of each `{{ ... }}`, skipping over string constants inside."""
    found: list[tuple[int, int, str, bool, bool]] = []
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            return found
        i = start + 2
        trim_left = source.startswith("- ", i) or source.startswith("-\t", i) or source.startswith("-\n", i)
        while i < len(source) and not source.startswith("}}", i):
            if source[i] in "\"`":
                match = _STRING.match(source, i)
                if not match:
                    raise UnsupportedError(f"template with an unterminated string: {source!r}")
                i = match.end()
            else:
                i += 1
        if i >= len(source):
            raise UnsupportedError(f"template with an unterminated action: {source!r}")
        body = source[start + 2:i]
        trim_right = body.endswith((" -", "\t-", "\n-"))
        body = body[2 if trim_left else 0:len(body) - (2 if trim_right else 0)]
        found.append((start, i + 2, body, trim_left, trim_right))
        pos = i + 2


def compile_template(source: str) -> Template:
    parts: list[_Part] = []
    pos = 0
    pending_trim_left = False
    for start, end, body, trim_left, trim_right in _actions(source):
        text = source[pos:start]
        if pending_trim_left:
            text = text.lstrip(" \t\r\n")
        if trim_left:  # `{{- ` trims the whitespace before the action
            text = text.rstrip(" \t\r\n")
        if text:
            parts.append(_Part("text", text))
        parts.extend(_compile_action(body.strip(), source))
        pending_trim_left = trim_right
        pos = end
    text = source[pos:]
    if pending_trim_left:
        text = text.lstrip(" \t\r\n")
    if text:
        parts.append(_Part("text", text))
    return Template(source, tuple(parts))


def _compile_action(action: str, source: str) -> list[_Part]:
    if action.startswith("/*") and action.endswith("*/"):
        return []
    if action in ("$value", ".Value"):
        return [_Part("value", "")]
    label = _LABEL_REF.fullmatch(action)
    if label:
        return [_Part("label", label.group(1))]
    if _STRING.fullmatch(action):
        return [_Part("const", unquote_string(action))]
    raise UnsupportedError(
        f"template action {{{{ {action} }}}} in {source!r} (supported: $value, $labels.<name>, string constants)"
    )
