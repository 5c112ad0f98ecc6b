"""The log pipeline of one query, applied line by line: line filters, parsers, label filters, unwrap.

Semantics follow Loki 3.x pkg/logql/log: parser.go (JSONParser, LogfmtParser, RegexpParser, PatternParser),
labels.go (LabelsBuilder: parsed labels win over stream labels, `__error__`), label_filter.go, filter.go,
metrics_extraction.go (labelSampleExtractor), logfmt/decode.go, pattern/pattern.go.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from generator.logql_engine import ast
from generator.logql_engine.gocompat import GoParseError, parse_bytes, parse_float, parse_go_duration_ns
from generator.logql_engine.regex import byte_searcher, group_numbers, matches_label, search_found, search_groups

# pkg/logql/log/error.go
ERR_JSON = "JSONParserErr"
ERR_LOGFMT = "LogfmtParserErr"
ERR_SAMPLE_EXTRACTION = "SampleExtractionErr"
ERR_LABEL_FILTER = "LabelFilterErr"
ERROR_LABEL = "__error__"
ERROR_DETAILS_LABEL = "__error_details__"
DUPLICATE_SUFFIX = "_extracted"  # parser.go: an extracted label that clashes with a stream label is renamed

LabelSet = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable series identity


class LabelsBuilder:
    """Per-line label state (labels.go LabelsBuilder): stream labels, parsed labels, and the error."""

    __slots__ = ("base", "parsed", "err", "err_details")

    def __init__(self, base: dict[str, str]):
        self.base = base
        self.parsed: dict[str, str] = {}
        self.err = ""
        self.err_details = ""

    def get(self, name: str) -> str | None:
        if name in self.parsed:
            return self.parsed[name]
        return self.base.get(name)

    def base_has(self, name: str) -> bool:
        return name in self.base

    def set_parsed(self, name: str, value: str) -> None:
        self.parsed[name] = value  # a later value of the same name replaces the earlier one (Set)

    def set_error(self, err: str, details: str) -> None:
        self.err = err
        self.err_details = details

    def all_labels(self) -> dict[str, str]:
        """labels.go UnsortedLabels: stream labels not overridden, then parsed labels, then the error labels."""
        out = {k: v for k, v in self.base.items() if k not in self.parsed}
        out.update(self.parsed)
        if self.err:
            out[ERROR_LABEL] = self.err
        if self.err_details:
            out[ERROR_DETAILS_LABEL] = self.err_details
        return out

    def grouped(self, grouping: ast.Grouping | None) -> dict[str, str]:
        """labels.go GroupedLabels: an error returns every label (so the error is not lost), else the grouping."""
        if self.err or grouping is None:
            return self.all_labels()
        if grouping.without:
            drop = set(grouping.labels)
            return {k: v for k, v in self.all_labels().items() if k not in drop}
        out = {}
        for name in grouping.labels:
            value = self.get(name)
            if value is not None:
                out[name] = value
        return out


# --- label names ---------------------------------------------------------------------------------------------------


# Go's unicode.IsSpace (what strings.TrimSpace / bytes.TrimSpace trim), not Python's str.isspace.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u2028\u2029\u202f\u205f\u3000"


def _sanitize_chars(key: str) -> str:
    return "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "_" for c in key)


def sanitize_label_key(key: str, is_prefix: bool) -> str:
    """parser.go/util.go sanitizeLabelKey: trim spaces, `_` before a leading digit, anything else than
    [A-Za-z0-9_] becomes `_` (one `_` per character)."""
    key = key.strip(GO_SPACE)
    if not key:
        return key
    if is_prefix and key[0].isascii() and key[0].isdigit():
        key = "_" + key
    return _sanitize_chars(key)


def _replace_rune_error(text: str) -> str:
    # parser.go removeInvalidUtf: U+FFFD is rejected by Prometheus, Loki replaces it with a space.
    return text.replace("\ufffd", " ")


# --- json ----------------------------------------------------------------------------------------------------------


class _JsonSyntaxError(Exception):
    pass


_JSON_WS = " \t\n\r"
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class _JsonScanner:
    """Walks one JSON object the way Loki's JSONParser does (jsonparser.ObjectEach): strings, numbers and booleans
    become labels, nested objects extend the key prefix with `_`, arrays and nulls are skipped."""

    def __init__(self, line: str, builder: LabelsBuilder):
        self.s = line
        self.i = 0
        self.b = builder

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _JSON_WS:
            self.i += 1

    def string_raw(self) -> str:
        if self.i >= len(self.s) or self.s[self.i] != '"':
            raise _JsonSyntaxError("expected string")
        j = self.i + 1
        while j < len(self.s):
            c = self.s[j]
            if c == "\\":
                j += 2
                continue
            if c == '"':
                raw = self.s[self.i + 1:j]
                self.i = j + 1
                return raw
            j += 1
        raise _JsonSyntaxError("unterminated string")

    def skip_value(self) -> None:
        self.ws()
        if self.i >= len(self.s):
            raise _JsonSyntaxError("unexpected end")
        c = self.s[self.i]
        if c == '"':
            self.string_raw()
        elif c in "{[":
            closing = "}" if c == "{" else "]"
            self.i += 1
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == closing:
                self.i += 1
                return
            while True:
                if c == "{":
                    self.ws()
                    self.string_raw()
                    self.ws()
                    self.expect(":")
                self.skip_value()
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == ",":
                    self.i += 1
                    continue
                self.expect(closing)
                return
        else:
            self.scalar()

    def expect(self, char: str) -> None:
        if self.i >= len(self.s) or self.s[self.i] != char:
            raise _JsonSyntaxError(f"expected {char!r}")
        self.i += 1

    def scalar(self) -> tuple[str, str]:
        for word in ("true", "false", "null"):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return ("bool" if word != "null" else "null"), word
        match = _JSON_NUMBER.match(self.s, self.i)
        if not match:
            raise _JsonSyntaxError("unknown value type")
        self.i = match.end()
        return "number", match.group(0)

    def object(self, prefix: str) -> None:
        self.ws()
        self.expect("{")
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "}":
            self.i += 1
            return
        while True:
            self.ws()
            key = self.string_raw()  # jsonparser hands over the key undecoded
            self.ws()
            self.expect(":")
            self.ws()
            if self.i >= len(self.s):
                raise _JsonSyntaxError("unexpected end")
            c = self.s[self.i]
            if c == "{":
                self.object(_json_prefix(prefix, key))
            elif c == "[":
                self.skip_value()
            elif c == '"':
                raw = self.string_raw()
                self.set(prefix, key, _json_unescape(raw))
            else:
                kind, text = self.scalar()
                if kind != "null":  # parseObject handles only String, Number, Boolean
                    self.set(prefix, key, text)
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == ",":
                self.i += 1
                continue
            self.expect("}")
            return

    def set(self, prefix: str, key: str, value: str) -> None:
        # parser.go parseLabelValue: a top-level key is sanitised on its own; a nested one is appended to the
        # prefix with `_` (an empty nested key leaves a trailing `_`, as appendSanitized does).
        name = sanitize_label_key(key, True) if not prefix else prefix + "_" + _sanitize_chars(key.strip(GO_SPACE))
        if not name:
            return  # Loki would set a label with an empty name; no valid series can carry it
        if self.b.base_has(name):
            name += DUPLICATE_SUFFIX
        self.b.set_parsed(name, value)


def _json_prefix(prefix: str, key: str) -> str:
    """parser.go nextKeyPrefix/appendSanitized: `_` joins nested keys. A leading digit gets `_` only at the very
    start of the name (Loki 3.0-3.4 appendSanitized: `len(to) == 0`; later releases also prefix nested keys)."""
    key = key.strip(GO_SPACE)
    if not prefix:
        return sanitize_label_key(key, True)
    return prefix + "_" + _sanitize_chars(key)


def _json_unescape(raw: str) -> str:
    if "\\" not in raw:
        return _replace_rune_error(raw)
    try:
        value = json.loads(f'"{raw}"', strict=False)
    except ValueError:
        return ""  # unescapeJSONString returns "" when jsonparser.Unescape fails
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        value = "".join(" " if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return _replace_rune_error(value)


def parse_json(line: str, builder: LabelsBuilder) -> None:
    scanner = _JsonScanner(line, builder)
    try:
        scanner.object("")
    except _JsonSyntaxError:
        # Labels extracted before the error stay; the error is recorded (parser.go JSONParser.Process). The details
        # text is jsonparser's MalformedObjectError; other jsonparser errors word it differently.
        builder.set_error(ERR_JSON, "Value looks like object, but can't find closing '}' symbol")


# --- logfmt (a port of the decoder in pkg/logql/log/logfmt/decode.go) -------------------------------------------


class LogfmtDecoder:
    def __init__(self, line: bytes):
        self.line = line
        self.pos = 0
        self.key: bytes | None = None
        self.value: bytes | None = None
        self.err: str | None = None

    def eol(self) -> bool:
        return self.pos >= len(self.line)

    def _error(self, message: str) -> None:
        self.err = f"logfmt syntax error at pos {self.pos + 1} : {message}"

    def _skip_value(self) -> bool:
        line = self.line
        while self.pos < len(line):
            if line[self.pos] <= 0x20:
                return False
            self.pos += 1
        return False

    def scan_keyval(self) -> bool:  # noqa: C901 - mirrors the Go state machine
        self.key = self.value = None
        line = self.line
        while self.pos < len(line) and line[self.pos] <= 0x20:  # garbage
            self.pos += 1
        if self.pos >= len(line):
            return False
        start = self.pos
        multibyte = False
        while self.pos < len(line):
            c = line[self.pos]
            if c == 0x3D:  # '='
                if self.pos > start:
                    self.key = line[start:self.pos]
                    if multibyte and _has_invalid_utf8(self.key):
                        self._error("invalid key")
                        return self._skip_value()
                if self.key is None:
                    self._error("unexpected '='")
                    return self._skip_value()
                return self._after_equal()
            if c == 0x22:  # '"'
                self._error("unexpected '\"'")
                return self._skip_value()
            if c <= 0x20:
                if self.pos > start:
                    self.key = line[start:self.pos]
                    if multibyte and _has_invalid_utf8(self.key):
                        self._error("invalid key")
                        return False
                return True
            if c >= 0x80:
                multibyte = True
            self.pos += 1
        if self.pos > start:
            self.key = line[start:self.pos]
            if multibyte and _has_invalid_utf8(self.key):
                self._error("invalid key")
                return False
        return True

    def _after_equal(self) -> bool:
        line = self.line
        self.pos += 1
        if self.pos >= len(line):
            return True
        c = line[self.pos]
        if c <= 0x20:
            return True
        if c == 0x22:
            return self._quoted_value()
        start = self.pos
        while self.pos < len(line):
            c = line[self.pos]
            if c in (0x3D, 0x22):
                self._error(f"unexpected '{chr(c)}'")
                return self._skip_value()
            if c <= 0x20:
                if self.pos > start:
                    self.value = line[start:self.pos]
                return True
            self.pos += 1
        if self.pos > start:
            self.value = line[start:self.pos]
        return True

    def _quoted_value(self) -> bool:
        line = self.line
        start = self.pos
        has_esc = esc = False
        p = self.pos + 1
        while p < len(line):
            c = line[p]
            if esc:
                esc = False
            elif c == 0x5C:
                has_esc = esc = True
            elif c == 0x22:
                self.pos = p + 1
                if has_esc:
                    value = _unquote_json_bytes(line[start:self.pos])
                    if value is None:
                        self._error("invalid quoted value")
                        return False
                    self.value = value
                else:
                    inner = line[start + 1:self.pos - 1]
                    if inner:
                        self.value = inner
                return True
            p += 1
        self.pos = len(line)
        self._error("unterminated quoted value")
        return False


def _has_invalid_utf8(data: bytes) -> bool:
    try:
        return "\ufffd" in data.decode("utf-8")
    except UnicodeDecodeError:
        return True


_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unquote_json_bytes(quoted: bytes) -> bytes | None:
    """logfmt/jsonstring.go unquoteBytes (encoding/json's, plus \\'): JSON escapes; an unpaired surrogate becomes
    U+FFFD; raw control characters are kept (Loki's tests expect `"foo bar<LF>b\\\\az"` -> `foo bar<LF>b\\az`)."""
    body = quoted[1:-1].decode("utf-8", "replace")
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = body[i + 1:i + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i += 2
            continue
        if escape != "u" or not re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
            return None
        code = int(body[i + 2:i + 6], 16)
        i += 6
        if 0xD800 <= code <= 0xDFFF:
            low = body[i + 2:i + 6] if body[i:i + 2] == "\\u" else ""
            if 0xD800 <= code < 0xDC00 and re.fullmatch(r"[dD][c-fC-F][0-9a-fA-F]{2}", low):
                code = 0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00)
                i += 6
            else:
                code = 0xFFFD
        out.append(chr(code))
    return "".join(out).encode("utf-8")


def parse_logfmt(line: str, builder: LabelsBuilder, stage: ast.LogfmtParser) -> None:
    """parser.go LogfmtParser.Process (Loki 3.x): errors are skipped unless --strict; empty values are dropped
    unless --keep-empty; a key clashing with a stream label gets `_extracted`."""
    decoder = LogfmtDecoder(line.encode("utf-8", "surrogatepass"))
    while not decoder.eol():
        if not decoder.scan_keyval():
            if stage.strict:
                break
            continue
        key_bytes = decoder.key or b""
        name = sanitize_label_key(key_bytes.decode("utf-8", "replace"), True)
        if not name:
            continue
        if builder.base_has(name):
            name += DUPLICATE_SUFFIX
        value = (decoder.value or b"").decode("utf-8", "replace")
        value = _replace_rune_error(value)
        if not stage.keep_empty and not value:
            continue
        builder.set_parsed(name, value)
    if stage.strict and decoder.err is not None:
        builder.set_error(ERR_LOGFMT, decoder.err)


# --- pattern (pkg/logql/log/pattern) -------------------------------------------------------------------------------


class PatternError(ValueError):
    pass


_PATTERN_CAPTURE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


@dataclass(frozen=True)
class _Pattern:
    nodes: tuple[tuple[str, str], ...]  # ("capture", name) or ("literal", text)

    @property
    def names(self) -> list[str]:
        return [v for k, v in self.nodes if k == "capture" and v != "_"]


def parse_pattern(text: str) -> _Pattern:
    nodes: list[tuple[str, str]] = []
    pos = 0
    for match in _PATTERN_CAPTURE.finditer(text):
        if match.start() > pos:
            nodes.append(("literal", text[pos:match.start()]))
        nodes.append(("capture", match.group(1)))
        pos = match.end()
    if pos < len(text):
        nodes.append(("literal", text[pos:]))
    pattern = _Pattern(tuple(nodes))
    # pattern/ast.go validate
    if not pattern.names:
        raise PatternError("at least one capture is required")
    for first, second in zip(nodes, nodes[1:], strict=False):
        if first[0] == "capture" and second[0] == "capture":
            raise PatternError("found consecutive capture: invalid expression")
    if len(set(pattern.names)) != len(pattern.names):
        raise PatternError("duplicate capture name: invalid expression")
    return pattern


def pattern_matches(pattern: _Pattern, line: str) -> list[str]:
    """pattern.go Matches: captures in order; a literal that is not found ends matching, the current capture
    taking the rest of the line; a leading literal must be at the start."""
    if not line or not pattern.nodes:
        return []
    nodes = list(pattern.nodes)
    captures: list[str] = []
    rest = line
    if nodes[0][0] == "literal":
        if not rest.startswith(nodes[0][1]):
            return []
        rest = rest[len(nodes[0][1]):]
        nodes = nodes[1:]
    if not nodes:
        return []
    while nodes:
        if len(nodes) == 1:
            if nodes[0][1] != "_":
                captures.append(rest)
            return captures
        capture, literal = nodes[0][1], nodes[1][1]
        nodes = nodes[2:]
        index = rest.find(literal)
        if index < 0:
            if capture != "_":
                captures.append(rest)
            return captures
        if capture != "_":
            captures.append(rest[:index])
        rest = rest[index + len(literal):]
    return captures


# --- label filters -------------------------------------------------------------------------------------------------

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def apply_label_filter(f: ast.LabelFilter, builder: LabelsBuilder) -> bool:
    """label_filter.go: string filters compare a missing label as "" and read `__error__` from the builder;
    numeric/duration/bytes filters drop the line when the label is missing and, when the value does not convert,
    keep the line with `__error__=LabelFilterErr` (unless an error is already set)."""
    if isinstance(f, ast.AndLabelFilter):
        # BinaryLabelFilter.Process with And: both sides always run (the right side may set an error).
        left = apply_label_filter(f.left, builder)
        right = apply_label_filter(f.right, builder)
        return left and right
    if isinstance(f, ast.StringLabelFilter):
        m = f.matcher
        current = builder.err if m.name == ERROR_LABEL else (builder.get(m.name) or "")
        return matches_label(m.op, m.value, current)
    raw = builder.get(f.name)
    if raw is None:
        return False
    try:
        # Durations compare as integer nanoseconds and sizes as integer bytes (Go's time.Duration and uint64).
        value: float | int
        if f.kind == "number":
            value = parse_float(raw)
        elif f.kind == "duration":
            value = parse_go_duration_ns(raw)
        else:
            value = parse_bytes(raw)
    except GoParseError as exc:
        if not builder.err:
            builder.set_error(ERR_LABEL_FILTER, str(exc))
        return True
    return _COMPARE[f.op](value, f.value if f.kind == "number" else int(f.value))


# --- the whole pipeline ---------------------------------------------------------------------------------------------


def filter_entries(f: ast.LineFilter, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """line_filter_matches over many entries at once (same semantics, without per-line call overhead)."""
    if f.op == "|=":
        return [e for e in entries if f.value in e[1]]
    if f.op == "!=":
        return [e for e in entries if f.value not in e[1]]
    search = byte_searcher(f.value)
    if f.op == "|~":
        return [e for e in entries if search(e[1].encode("utf-8")) is not None]
    return [e for e in entries if search(e[1].encode("utf-8")) is None]


def line_filter_matches(f: ast.LineFilter, line: str) -> bool:
    """filter.go: `|=` substring, `!=` not a substring, `|~` regex found anywhere, `!~` not found."""
    if f.op == "|=":
        return f.value in line
    if f.op == "!=":
        return f.value not in line
    found = search_found(f.value, line)
    return found if f.op == "|~" else not found


@dataclass
class Extracted:
    value: float
    labels: dict[str, str]


class LogPipeline:
    """Compiled stages of one log range; `process` returns the sample a line contributes, or None."""

    def __init__(self, log_range: ast.LogRange, range_op: str, grouping: ast.Grouping | None):
        self.stages = log_range.stages
        self.unwrap = log_range.unwrap
        self.range_op = range_op
        self.patterns = {id(s): parse_pattern(s.pattern) for s in self.stages if isinstance(s, ast.PatternParser)}
        # metrics_extraction.go LabelExtractorWithStages: without a `by` grouping the unwrapped label is removed
        # from the series (grouping becomes `without (<label>)`).
        if self.unwrap is not None and (grouping is None or grouping.without):
            labels = tuple(sorted({*(grouping.labels if grouping else ()), self.unwrap.label}))
            grouping = ast.Grouping(labels, without=True)
        self.grouping = grouping

    @property
    def leading_line_filters(self) -> int:
        """How many stages at the start are line filters (they need no labels, so they can run in bulk first)."""
        count = 0
        for stage in self.stages:
            if not isinstance(stage, ast.LineFilter):
                break
            count += 1
        return count

    def run_stages(self, stream_labels: dict[str, str], line: str, skip: int = 0) -> LabelsBuilder | None:
        builder = LabelsBuilder(stream_labels)
        for stage in self.stages[skip:] if skip else self.stages:
            if isinstance(stage, ast.LineFilter):
                if not line_filter_matches(stage, line):
                    return None
            elif isinstance(stage, ast.JsonParser):
                parse_json(line, builder)
            elif isinstance(stage, ast.LogfmtParser):
                parse_logfmt(line, builder, stage)
            elif isinstance(stage, ast.RegexpParser):
                parse_regexp(stage.regex, line, builder)
            elif isinstance(stage, ast.PatternParser):
                pattern = self.patterns[id(stage)]
                for name, value in zip(pattern.names, pattern_matches(pattern, line), strict=False):
                    builder.set_parsed(name + DUPLICATE_SUFFIX if builder.base_has(name) else name, value)
            elif not apply_label_filter(stage, builder):
                return None
        return builder

    def process(self, stream_labels: dict[str, str], line: str, skip: int = 0) -> Extracted | None:
        """The sample `line` contributes, or None. `skip` leading line filters were already applied by the caller."""
        builder = self.run_stages(stream_labels, line, skip)
        if builder is None:
            return None
        if self.unwrap is None:
            # metrics_extraction.go CountExtractor / BytesExtractor (len of the line in bytes).
            value = float(len(line.encode("utf-8", "surrogatepass"))) if self.range_op.startswith("bytes") else 1.0
            return Extracted(value, builder.grouped(self.grouping))
        raw = builder.get(self.unwrap.label)
        if not raw:
            return None  # a missing or empty label is skipped silently (Loki issue #6713)
        try:
            if self.unwrap.conversion == "float":
                value = parse_float(raw)
            elif self.unwrap.conversion == "duration":
                value = parse_go_duration_ns(raw) / 1e9
            else:
                value = float(parse_bytes(raw))
        except GoParseError as exc:
            value = 0.0
            builder.set_error(ERR_SAMPLE_EXTRACTION, str(exc))
        for post in self.unwrap.post_filters:
            if not apply_label_filter(post, builder):
                return None
        return Extracted(value, builder.grouped(self.grouping))


def parse_regexp(pattern: str, line: str, builder: LabelsBuilder) -> None:
    """parser.go RegexpParser: named groups become labels; no match adds nothing; a group that did not take part
    in the match yields an empty value."""
    numbers, keys = _regexp_parser(pattern)
    values = search_groups(pattern, numbers, line)
    if values is None:
        return
    for key, value in zip(keys, values, strict=True):
        builder.set_parsed(key + DUPLICATE_SUFFIX if builder.base_has(key) else key, value or "")


@lru_cache(maxsize=4096)
def _regexp_parser(pattern: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The regex's named groups that make a label: their numbers and label names (sanitised), in `groupindex` order
    (a name that sanitises to nothing makes none)."""
    named = [(number, sanitize_label_key(name, True)) for name, number in group_numbers(pattern)]
    return tuple(number for number, key in named if key), tuple(key for _number, key in named if key)
