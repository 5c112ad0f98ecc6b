"""Value types of the truth schema: durations in Prometheus/Loki syntax, and RE2 regexes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from generator.syntax.re2_regex import compile_re2

# Prometheus/Loki duration syntax: one or more <number><unit>, units in descending order.
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


class FieldProblem(ValueError):
    """A model-level check that blames one field, so the error points at that field's line."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


@dataclass(frozen=True, order=True)
class Duration:
    """A duration as Loki and Prometheus write it (`30s`, `1h30m`, `500ms`)."""

    seconds: float

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION_RE.match(text.strip()) if text else None
        if not text or not match or not any(match.groups()):
            raise ValueError(
                f"invalid duration {text!r}: use a number with a unit, e.g. 500ms, 30s, 5m, 1h, 3d"
            )
        total = 0.0
        for value, unit in zip(match.groups(), ("y", "w", "d", "h", "m", "s", "ms"), strict=True):
            if value is not None:
                total += int(value) * _UNIT_SECONDS[unit]
        return cls(total)

    @property
    def milliseconds(self) -> int:
        return round(self.seconds * 1000)

    def __str__(self) -> str:
        """Canonical shortest form, stable for generated files (90s -> 1m30s, 0.5s -> 500ms)."""
        ms = self.milliseconds
        if ms == 0:
            return "0s"
        parts = []
        for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)):
            if ms >= size:
                count, ms = divmod(ms, size)
                parts.append(f"{count}{unit}")
        return "".join(parts)

    def scaled(self, factor: float) -> Duration:
        return Duration(round(self.seconds * factor, 3))


def _to_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: write it as a string with a unit, e.g. 30s or 5m")
    return Duration.parse(value)


DurationField = Annotated[Duration, BeforeValidator(_to_duration), PlainSerializer(str, return_type=str)]


def re2_error_text(exc: Exception) -> str:
    """RE2's complaint from a compile_re2 failure (google-re2 reports it as bytes)."""
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


_UNSUPPORTED_HINTS = (
    (re.compile(r"\(\?<?[=!]"), "lookaround is not supported by RE2 (Loki's regex engine)"),
    (re.compile(r"(?<!\\)\\[1-9]"), "backreferences are not supported by RE2 (Loki's regex engine)"),
    (re.compile(r"\(\?>"), "atomic groups are not supported by RE2 (Loki's regex engine)"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers are not supported by RE2 (Loki's regex engine)"),
)


def _to_regex(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a regex must be a string, got {type(value).__name__}")
    if value == "":
        raise ValueError("empty regex: it would match every line")
    try:
        compiled = compile_re2(value)
    except Exception as exc:  # re2.error: message names the RE2 complaint
        hint = next((why for pattern, why in _UNSUPPORTED_HINTS if pattern.search(value)), None)
        raise ValueError(hint or f"invalid RE2 regex {value!r}: {re2_error_text(exc)}") from None
    if compiled.search("") is not None:
        raise ValueError(f"regex {value!r} matches the empty line, so it would match every log line")
    return value


RegexField = Annotated[str, BeforeValidator(_to_regex)]


def regex_matches(pattern: str, line: str) -> bool:
    """Loki line-filter semantics: the regex matches anywhere in the line."""
    return compile_re2(pattern).search(line) is not None
