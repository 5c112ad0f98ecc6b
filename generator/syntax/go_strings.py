"""Go string literals, as LogQL and Alloy both read them: raw backtick strings and double-quoted strings with
strconv.Unquote escapes."""

from __future__ import annotations

_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f",
                   "v": "\v"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def go_quote(text: str) -> str:
    """A double-quoted Go string literal: backslash, quote and control characters escaped, the rest verbatim."""
    out = ['"']
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def go_unquote(literal: str) -> str:
    """The value of a Go string literal, raw (backticks) or double-quoted; an invalid escape raises ValueError."""
    if len(literal) >= 2 and literal[0] == literal[-1] == "`":
        return literal[1:-1]
    if not (len(literal) >= 2 and literal[0] == literal[-1] == '"'):
        raise ValueError(f"not a string literal: {literal!r}")
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
        elif nxt in _HEX_ESCAPES:
            width = _HEX_ESCAPES[nxt]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"invalid escape \\{nxt}{digits} in string literal {literal!r}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif nxt in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(c not in "01234567" for c in digits):
                raise ValueError(f"invalid escape \\{digits} in string literal {literal!r}")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"invalid escape \\{nxt} in string literal {literal!r}")
    return "".join(out)
