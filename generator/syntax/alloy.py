"""Grafana Alloy configuration syntax: safe string literals for the renderer, and a small parser for validation.

Alloy cannot run here, so the generated `config.alloy` is checked by parsing it back: braces balance, every
attribute value is a well-formed literal or reference, and every `<component>.<label>.<export>` reference names a
component declared in the file with an export that component really has. The grammar follows the Alloy syntax
reference (blocks `name "label" { ... }`, attributes `name = expr`, `//` and `/* */` comments, double-quoted strings
with Go escapes, raw backtick strings, lists `[...]`, objects `{ key = value, ... }`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from generator.syntax.go_strings import go_quote, go_unquote

# Components this project uses and the fields each exports (Alloy reference, "Exported fields" of each page).
COMPONENT_EXPORTS: dict[str, set[str]] = {
    "local.file_match": {"targets"},
    "loki.source.file": set(),
    "loki.source.syslog": set(),
    "loki.process": {"receiver"},
    "loki.relabel": {"receiver", "rules"},
    "loki.write": {"receiver"},
}
# `stage.*` blocks loki.process accepts (Alloy reference, loki.process "Blocks").
PROCESS_STAGES = {
    "stage.cri", "stage.decolorize", "stage.docker", "stage.drop", "stage.eventlogmessage", "stage.geoip",
    "stage.json", "stage.label_drop", "stage.label_keep", "stage.labels", "stage.limit", "stage.logfmt",
    "stage.luhn", "stage.match", "stage.metrics", "stage.multiline", "stage.output", "stage.pack",
    "stage.regex", "stage.replace", "stage.sampling", "stage.static_labels", "stage.structured_metadata",
    "stage.template", "stage.tenant", "stage.timestamp",
}


class AlloySyntaxError(ValueError):
    def __init__(self, line: int, message: str):
        self.line = line
        super().__init__(f"line {line}: {message}")


# Alloy string literals are Go's: double-quoted with strconv escapes, or raw backticks.
quote = go_quote
unquote = go_unquote


@dataclass(frozen=True)
class Reference:
    """An unquoted dotted identifier in a value, e.g. `loki.write.local.receiver`."""

    path: str
    line: int


@dataclass
class Block:
    name: str  # e.g. "loki.process" or "stage.replace"
    label: str | None
    line: int
    attributes: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def find(self, name: str) -> list[Block]:
        """Nested blocks called `name`, at any depth, in file order."""
        found = []
        for block in self.blocks:
            if block.name == name:
                found.append(block)
            found.extend(block.find(name))
        return found


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[{}\[\]=,:])
    """,
    re.VERBOSE | re.DOTALL,
)
def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens, pos, line = [], 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise AlloySyntaxError(line, f"unexpected character {text[pos]!r}")
        kind, value = match.lastgroup or "", match.group()
        if kind not in ("ws", "line_comment", "block_comment"):
            tokens.append((kind, value, line))
        line += value.count("\n")
        pos = match.end()
    tokens.append(("eof", "", line))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def next(self) -> tuple[str, str, int]:
        token = self.peek()
        self.pos += 1
        return token

    def skip_newlines(self) -> None:
        while self.peek()[0] == "newline":
            self.pos += 1

    def expect(self, value: str) -> None:
        kind, got, line = self.next()
        if got != value or kind not in ("punct",):
            raise AlloySyntaxError(line, f"expected {value!r}, found {got or 'end of file'!r}")

    def body(self, closing: str | None) -> tuple[dict[str, Any], list[Block]]:
        attributes: dict[str, Any] = {}
        blocks: list[Block] = []
        while True:
            self.skip_newlines()
            kind, value, line = self.peek()
            if closing is None and kind == "eof":
                return attributes, blocks
            if closing is not None and value == closing and kind == "punct":
                self.next()
                return attributes, blocks
            if kind != "ident":
                raise AlloySyntaxError(line, f"expected an attribute or block name, found {value or 'end of file'!r}")
            self.next()
            nxt_kind, nxt_value, _ = self.peek()
            if nxt_value == "=" and nxt_kind == "punct":
                self.next()
                if value in attributes:
                    raise AlloySyntaxError(line, f"attribute {value!r} set twice")
                attributes[value] = self.value()
                self.end_of_statement()
                continue
            label = None
            if nxt_kind in ("string", "raw"):
                label = unquote(self.next()[1])
            self.expect("{")
            inner_attributes, inner_blocks = self.body("}")
            blocks.append(Block(value, label, line, inner_attributes, inner_blocks))

    def end_of_statement(self) -> None:
        kind, value, line = self.peek()
        if kind in ("newline", "eof") or (kind == "punct" and value == "}"):
            return
        raise AlloySyntaxError(line, f"expected a new line after the attribute, found {value!r}")

    def value(self) -> Any:
        self.skip_newlines()
        kind, value, line = self.next()
        if kind in ("string", "raw"):
            try:
                return unquote(value)
            except ValueError as exc:
                raise AlloySyntaxError(line, str(exc)) from None
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            return Reference(value, line)
        if kind == "punct" and value == "[":
            items: list[Any] = []
            while True:
                self.skip_newlines()
                if self.peek()[1] == "]":
                    self.next()
                    return items
                items.append(self.value())
                self.skip_newlines()
                sep = self.next()
                if sep[1] == "]":
                    return items
                if sep[1] != ",":
                    raise AlloySyntaxError(sep[2], f"expected ',' or ']' in a list, found {sep[1]!r}")
        if kind == "punct" and value == "{":
            obj: dict[str, Any] = {}
            while True:
                self.skip_newlines()
                if self.peek()[1] == "}":
                    self.next()
                    return obj
                key_kind, key, key_line = self.next()
                if key_kind in ("string", "raw"):
                    key = unquote(key)
                elif key_kind != "ident":
                    raise AlloySyntaxError(key_line, f"expected an object key, found {key!r}")
                self.expect("=")
                obj[key] = self.value()
                self.skip_newlines()
                sep = self.next()
                if sep[1] == "}":
                    return obj
                if sep[1] != ",":
                    raise AlloySyntaxError(sep[2], f"expected ',' or '}}' in an object, found {sep[1]!r}")
        raise AlloySyntaxError(line, f"expected a value, found {value or 'end of file'!r}")


def parse(text: str) -> list[Block]:
    """Top-level blocks of an Alloy configuration; raises AlloySyntaxError naming the line."""
    parser = _Parser(text)
    attributes, blocks = parser.body(None)
    if attributes:
        raise AlloySyntaxError(1, f"top-level attributes are not allowed: {sorted(attributes)}")
    return blocks


def _references(value: Any) -> list[Reference]:
    if isinstance(value, Reference):
        return [value]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item)]
    return []


def _all_references(block: Block) -> list[Reference]:
    refs = [ref for value in block.attributes.values() for ref in _references(value)]
    for inner in block.blocks:
        refs.extend(_all_references(inner))
    return refs


def problems(text: str) -> list[str]:
    """Everything wrong with a config this project generates: syntax, unknown components or stages, and
    references to components that are not declared or exports they do not have."""
    try:
        blocks = parse(text)
    except AlloySyntaxError as exc:
        return [str(exc)]
    found: list[str] = []
    declared: dict[str, str] = {}
    for block in blocks:
        if block.name not in COMPONENT_EXPORTS:
            found.append(f"line {block.line}: unknown component {block.name!r}")
            continue
        if block.label is None:
            found.append(f"line {block.line}: component {block.name} needs a label")
            continue
        key = f"{block.name}.{block.label}"
        if key in declared:
            found.append(f"line {block.line}: component {key} declared twice")
        declared[key] = block.name
        if block.name == "loki.process":
            for stage in _stages(block):
                if stage.name not in PROCESS_STAGES:
                    found.append(f"line {stage.line}: unknown loki.process stage {stage.name!r}")
    for block in blocks:
        for ref in _all_references(block):
            component, _, export = ref.path.rpartition(".")
            if component not in declared:
                found.append(f"line {ref.line}: {ref.path} refers to an undeclared component {component!r}")
            elif export not in COMPONENT_EXPORTS[declared[component]]:
                found.append(f"line {ref.line}: {declared[component]} does not export {export!r}")
    return found


def _stages(block: Block) -> list[Block]:
    stages = []
    for inner in block.blocks:
        if inner.name.startswith("stage."):
            stages.append(inner)
            if inner.name == "stage.match":
                stages.extend(_stages(inner))
    return stages
