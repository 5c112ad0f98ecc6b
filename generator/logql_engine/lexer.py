"""LogQL tokens. Strings follow Go syntax as Loki's lexer does (pkg/logql/syntax/lex.go uses text/scanner and
strconv.Unquote): backticks are raw, double quotes take Go escapes. Duration literals accept Go and Prometheus
syntax (tryScanDuration), size literals go-humanize syntax (tryScanBytes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from generator.logql_engine.errors import LogQLParseError
from generator.logql_engine.gocompat import GoParseError, parse_bytes, parse_logql_duration_ns
from generator.syntax.logql import unquote_string

TokenKind = Literal["string", "number", "duration", "bytes", "ident", "op", "flag", "eof"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # source text (for strings: the unquoted value)
    pos: int
    value: float | int | None = None  # number value, duration in ns, or byte count


_OPERATORS = sorted(["|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "=", ">", "<", "|", "(", ")",
                     "{", "}", "[", "]", ",", "+", "-", "*", "/", "%", "^", "@"], key=len, reverse=True)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FLAG = re.compile(r"--[a-z][a-z-]*")
_NUMERIC_WORD = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)[0-9A-Za-z.\u00b5\u03bc]*")
_FLOAT = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _string_end(query: str, start: int) -> int:
    quote = query[start]
    i = start + 1
    while i < len(query):
        char = query[i]
        if quote == '"' and char == "\\":
            i += 2
            continue
        if char == "\n" and quote == '"':
            break
        if char == quote:
            return i + 1
        i += 1
    raise LogQLParseError("unterminated string literal", query, start)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
            continue
        if char == "#":  # LogQL accepts line comments
            end = query.find("\n", i)
            i = len(query) if end < 0 else end
            continue
        if char in "\"`":
            end = _string_end(query, i)
            literal = query[i:end]
            try:
                value = unquote_string(literal)
                if char == "`":
                    value = value.replace("\r", "")  # strconv.Unquote drops carriage returns from raw strings
            except (ValueError, IndexError) as exc:
                raise LogQLParseError(f"invalid string literal {literal}: {exc}", query, i) from None
            tokens.append(Token("string", value, i))
            i = end
            continue
        if char.isdigit() or (char == "." and query[i + 1:i + 2].isdigit()):
            word = _NUMERIC_WORD.match(query, i)
            assert word is not None
            text = word.group(0)
            # A float with an exponent (`1e3`, `2.5E-1`) is a number; letters otherwise make a duration or a size.
            float_match = _FLOAT.match(query, i)
            if float_match and (float_match.end() == word.end() or not query[float_match.end()].isalnum()):
                text = float_match.group(0)
                tokens.append(Token("number", text, i, float(text)))
                i = float_match.end()
                continue
            try:
                tokens.append(Token("duration", text, i, parse_logql_duration_ns(text)))
            except GoParseError:
                try:
                    tokens.append(Token("bytes", text, i, parse_bytes(text)))
                except GoParseError:
                    raise LogQLParseError(f"invalid number, duration or size {text!r}", query, i) from None
            i = word.end()
            continue
        flag = _FLAG.match(query, i)
        if flag:
            tokens.append(Token("flag", flag.group(0), i))
            i = flag.end()
            continue
        ident = _IDENT.match(query, i)
        if ident:
            tokens.append(Token("ident", ident.group(0), i))
            i = ident.end()
            continue
        for op in _OPERATORS:
            if query.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            raise LogQLParseError(f"unexpected character {char!r}", query, i)
    tokens.append(Token("eof", "", len(query)))
    return tokens
