"""Go standard-library behaviours Loki relies on, reproduced exactly: strconv.ParseFloat, time.ParseDuration,
go-humanize ParseBytes, Prometheus duration syntax, and fmt's default float formatting (`%v`).

Loki converts label values with these functions (pkg/logql/log/metrics_extraction.go: convertFloat,
convertDuration, convertBytes; pkg/logql/log/label_filter.go: Numeric/Duration/BytesLabelFilter), so a value that
Go rejects must be rejected here too, with the same consequence (an `__error__` label), never "helpfully" accepted.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal


class GoParseError(ValueError):
    """A Go parse function returned an error; the message mimics Go's so `__error_details__` reads familiar."""


# --- strconv.ParseFloat -------------------------------------------------------------------------------------------

_DECIMAL_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_INF = re.compile(r"[+-]?(?:inf|infinity)", re.IGNORECASE)
_NAN = re.compile(r"[+-]?nan", re.IGNORECASE)


def parse_float(text: str) -> float:
    """Go's strconv.ParseFloat(text, 64): no surrounding spaces, `Inf`/`NaN` words, hex floats; out of range is an
    error (Go returns ±Inf with ErrRange, which Loki treats as a failed conversion)."""
    if text.isascii() and text.isdigit():  # a plain integer (most unwrapped values): the syntax checks all pass
        return _in_range(float(text), text)
    if _NAN.fullmatch(text):
        return math.nan
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _HEX_FLOAT.fullmatch(text):
        return float.fromhex(text)
    # Underscores are only legal in Go with a base prefix (0x...), so a decimal with `_` is a syntax error.
    if "_" in text or not _DECIMAL_FLOAT.fullmatch(text) or text in ("+", "-", ".", "+.", "-."):
        raise GoParseError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    return _in_range(float(text), text)


def _in_range(value: float, text: str) -> float:
    if math.isinf(value):
        raise GoParseError(f'strconv.ParseFloat: parsing "{text}": value out of range')
    return value


# --- time.ParseDuration -------------------------------------------------------------------------------------------

_GO_DURATION_UNITS = {
    "ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
    "m": 60_000_000_000, "h": 3_600_000_000_000,
}
_GO_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]+)")


def parse_go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration in nanoseconds: `300ms`, `1.5h`, `1h30m`, `-2s`, `0`; no days, a unit is required."""
    original = text
    negative = text.startswith("-")
    if text[:1] in "+-":
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise GoParseError(f'time: invalid duration "{original}"')
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        match = _GO_DURATION_PART.match(text, pos)
        if not match or match.group(1) in ("", "."):
            if match is None and re.fullmatch(r"[0-9.]+", text[pos:]):
                raise GoParseError(f'time: missing unit in duration "{original}"')
            raise GoParseError(f'time: invalid duration "{original}"')
        number, unit = match.groups()
        # A unit runs until the next digit or dot; Go then looks it up exactly.
        if unit not in _GO_DURATION_UNITS:
            raise GoParseError(f'time: unknown unit "{unit}" in duration "{original}"')
        total += Decimal(number) * _GO_DURATION_UNITS[unit]
        pos = match.end()
    nanoseconds = int(total)  # Go truncates fractional nanoseconds
    if nanoseconds > 2**63 - 1:
        raise GoParseError(f'time: invalid duration "{original}"')
    return -nanoseconds if negative else nanoseconds


# --- Prometheus model.ParseDuration (what LogQL range literals also accept, e.g. `1d`) ------------------------------

_PROM_DURATION = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_PROM_UNITS_NS = (365 * 86400 * 10**9, 7 * 86400 * 10**9, 86400 * 10**9, 3600 * 10**9, 60 * 10**9, 10**9, 10**6)


def parse_prometheus_duration_ns(text: str) -> int:
    match = _PROM_DURATION.fullmatch(text)
    if text == "0":
        return 0
    if not text or not match or not any(match.groups()):
        raise GoParseError(f'not a valid duration string: "{text}"')
    return sum(int(v) * unit for v, unit in zip(match.groups(), _PROM_UNITS_NS, strict=True) if v)


def parse_logql_duration_ns(text: str) -> int:
    """A duration literal in a LogQL query: Go syntax first, then Prometheus syntax (which adds d, w, y).

    Loki's lexer (pkg/logql/syntax/lex.go, tryScanDuration) tries time.ParseDuration, then model.ParseDuration.
    """
    try:
        return parse_go_duration_ns(text)
    except GoParseError:
        return parse_prometheus_duration_ns(text)


# --- go-humanize ParseBytes ---------------------------------------------------------------------------------------

_BYTE_SIZES = {
    "b": 1, "": 1,
    "kib": 1024, "ki": 1024, "kb": 1000, "k": 1000,
    "mib": 1024**2, "mi": 1024**2, "mb": 1000**2, "m": 1000**2,
    "gib": 1024**3, "gi": 1024**3, "gb": 1000**3, "g": 1000**3,
    "tib": 1024**4, "ti": 1024**4, "tb": 1000**4, "t": 1000**4,
    "pib": 1024**5, "pi": 1024**5, "pb": 1000**5, "p": 1000**5,
    "eib": 1024**6, "ei": 1024**6, "eb": 1000**6, "e": 1000**6,
}


def parse_bytes(text: str) -> int:
    """github.com/dustin/go-humanize ParseBytes: `42`, `42 MB`, `1.5KiB`, `1,000kb`; units case-insensitive."""
    end = 0
    while end < len(text) and (text[end].isdigit() or text[end] in ".,"):
        end += 1
    number = text[:end].replace(",", "")
    value = parse_float(number)
    unit = text[end:].strip().lower()
    if unit not in _BYTE_SIZES:
        raise GoParseError(f"unhandled size name: {unit}")
    value *= _BYTE_SIZES[unit]
    if value >= 2.0**64:
        raise GoParseError(f"too large: {text}")
    return int(value)


# --- fmt %v for float64 (how Go templates print $value) -----------------------------------------------------------


def format_go_float(value: float) -> str:
    """What `fmt.Sprint(float64)` prints (text/template prints `{{ $value }}` this way): shortest round-trip digits,
    `%e` form when the decimal exponent is < -4 or >= 6, so 1000000 prints as `1e+06`.

    fmt/print.go formats %v of a float as strconv 'g' with precision -1; strconv/ftoa.go formatDigits: "if
    precision was the shortest possible, use precision 6 for this decision".
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_tuple.digits)
    exponent = len(digits) + int(digits_tuple.exponent) - 1  # position of the first digit
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return sign + digits + "0" * (exponent + 1 - len(digits))
    return f"{sign}{digits[:exponent + 1]}.{digits[exponent + 1:]}"
