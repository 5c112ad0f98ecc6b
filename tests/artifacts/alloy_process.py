"""An emulator of the `loki.process` stages the generated Alloy config uses, written from Alloy's Go source
(grafana/alloy internal/component/loki/process/stages/) independently of the generator, so tests can push a line
through the generated pipeline and see what Loki would store: its line and its labels. Alloy is not installable
here; each stage follows the file named in its docstring.

A stage the emulator does not know fails the test instead of being skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from generator import conventions
from generator.syntax import alloy as alloy_syntax
from generator.syntax.logql import unquote_string
from generator.truth.types import compile_re2

_STRING = r'"(?:[^"\\]|\\.)*"|`[^`]*`'
_LABEL_MATCHER = re.compile(rf"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*,?")
_LINE_FILTER = re.compile(rf"\s*(\|~|!~|\|=|!=)\s*({_STRING})")


@dataclass
class Entry:
    labels: dict[str, str]
    line: str
    extracted: dict[str, object] = field(default_factory=dict)


def alloy_replace(expression: str, replace: str, line: str) -> str:
    """stage.replace (replace.go, getReplacedEntry): for every match, each capture group's span is replaced unless
    an earlier replacement already covered it. The generated replacements hold no template action, so the Go
    template renders as its literal text."""
    pattern = compile_re2(expression)
    result, previous_end = "", 0
    for match in pattern.finditer(line):
        for group in range(1, pattern.groups + 1):
            start, end = match.span(group)
            if start == -1:
                continue
            if previous_end == 0 or previous_end <= start:
                result += line[previous_end:start] + replace
                previous_end = end
    return result + line[previous_end:]


def selector_matches(selector: str, entry: Entry) -> bool:
    """stage.match (match.go, matchLogQL): every label matcher on the entry's labels (a missing label reads as the
    empty string; =~ and !~ are anchored, as Prometheus matchers are), then the line filters in order."""
    assert selector.startswith("{"), selector
    close = selector.index("}")
    inner, rest = selector[1:close], selector[close + 1:]
    position = 0
    while position < len(inner.strip()):
        matcher = _LABEL_MATCHER.match(inner, position)
        assert matcher, f"label matcher not understood at {inner[position:]!r}"
        name, op, literal = matcher.groups()
        value, actual = unquote_string(literal), entry.labels.get(name, "")
        ok = {"=": actual == value, "!=": actual != value,
              "=~": compile_re2(f"^(?:{value})$").search(actual) is not None,
              "!~": compile_re2(f"^(?:{value})$").search(actual) is None}[op]
        if not ok:
            return False
        position = matcher.end()
    position = 0
    while rest[position:].strip():
        line_filter = _LINE_FILTER.match(rest, position)
        assert line_filter, f"line filter not understood at {rest[position:]!r}"
        op, literal = line_filter.groups()
        value = unquote_string(literal)
        found = (compile_re2(value).search(entry.line) is not None) if op in ("|~", "!~") else value in entry.line
        if found != (op in ("|~", "|=")):
            return False
        position = line_filter.end()
    return True


def run_stages(stages: list[alloy_syntax.Block], entry: Entry) -> None:
    for stage in stages:
        attributes = stage.attributes
        if stage.name == "stage.replace":
            entry.line = alloy_replace(attributes["expression"], attributes["replace"], entry.line)
        elif stage.name == "stage.static_labels":  # static_labels.go: sets (overwrites) each non-empty value
            entry.labels.update({k: v for k, v in attributes["values"].items() if v})
        elif stage.name == "stage.label_drop":
            for name in attributes["values"]:
                entry.labels.pop(name, None)
        elif stage.name == "stage.match":
            if selector_matches(attributes["selector"], entry):
                run_stages([b for b in stage.blocks if b.name.startswith("stage.")], entry)
        elif stage.name == "stage.json":  # json.go: a line that is not JSON extracts nothing (logged, not fatal)
            try:
                document = json.loads(entry.line)
            except ValueError:
                continue
            for key, path in attributes["expressions"].items():
                if isinstance(document, dict) and path in document:
                    entry.extracted[key] = document[path]
        elif stage.name == "stage.regex":  # regex.go: named groups of the first match go to the extracted map
            match = compile_re2(attributes["expression"]).search(entry.line)
            if match:
                entry.extracted.update({k: v for k, v in match.groupdict().items() if v is not None})
        elif stage.name == "stage.labels":  # labels.go: an extracted value (source defaults to the label name)
            for name, source in attributes["values"].items():
                value = entry.extracted.get(source or name)
                if value is not None:
                    entry.labels[name] = str(value)
        else:
            raise AssertionError(f"the Alloy emulator does not know {stage.name} (line {stage.line})")


class AlloyPipeline:
    """The generated `loki.process` component, ready to process lines."""

    def __init__(self, text: str):
        blocks = alloy_syntax.parse(text)
        self.process = next(b for b in blocks if b.name == "loki.process")
        self.stages = [b for b in self.process.blocks if b.name.startswith("stage.")]

    @classmethod
    def from_tree(cls, root: Path) -> AlloyPipeline:
        return cls((root / conventions.ALLOY_CONFIG_PATH).read_text())

    def push(self, line: str, labels: dict[str, str] | None = None) -> Entry:
        """What Loki receives for `line` arriving with `labels` (a source's own labels, e.g. source=file)."""
        entry = Entry(dict(labels or {}), line)
        run_stages(self.stages, entry)
        return entry
