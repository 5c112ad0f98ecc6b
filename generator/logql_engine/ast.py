"""The typed LogQL syntax tree of the supported subset (names follow Loki's pkg/logql/syntax/ast.go)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MatchOp = Literal["=", "!=", "=~", "!~"]
LineFilterOp = Literal["|=", "!=", "|~", "!~"]
CompareOp = Literal[">", ">=", "<", "<=", "==", "!="]


@dataclass(frozen=True)
class LabelMatcher:
    name: str
    op: MatchOp
    value: str


@dataclass(frozen=True)
class StreamSelector:
    matchers: tuple[LabelMatcher, ...]


# --- pipeline stages ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineFilter:
    op: LineFilterOp
    value: str


@dataclass(frozen=True)
class JsonParser:
    pass


@dataclass(frozen=True)
class LogfmtParser:
    strict: bool = False
    keep_empty: bool = False


@dataclass(frozen=True)
class RegexpParser:
    regex: str


@dataclass(frozen=True)
class PatternParser:
    pattern: str


@dataclass(frozen=True)
class StringLabelFilter:
    matcher: LabelMatcher


@dataclass(frozen=True)
class NumericLabelFilter:
    """`name op value` where the literal decides the conversion: a number, a duration (`1s`) or a size (`20MB`)."""

    name: str
    op: CompareOp
    kind: Literal["number", "duration", "bytes"]
    value: float  # number: the float; duration: nanoseconds; bytes: byte count


@dataclass(frozen=True)
class AndLabelFilter:
    left: LabelFilter
    right: LabelFilter


LabelFilter = StringLabelFilter | NumericLabelFilter | AndLabelFilter
Stage = LineFilter | JsonParser | LogfmtParser | RegexpParser | PatternParser | LabelFilter


@dataclass(frozen=True)
class Unwrap:
    label: str
    conversion: Literal["float", "duration", "bytes"] = "float"
    post_filters: tuple[LabelFilter, ...] = ()


@dataclass(frozen=True)
class LogRange:
    selector: StreamSelector
    stages: tuple[Stage, ...]
    range_ns: int
    unwrap: Unwrap | None = None


# --- metric expressions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    labels: tuple[str, ...]
    without: bool = False


RangeOp = Literal["count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time",
                  "min_over_time", "max_over_time", "quantile_over_time"]
VectorOp = Literal["sum", "avg", "min", "max", "count"]


@dataclass(frozen=True)
class RangeAggregation:
    op: RangeOp
    log_range: LogRange
    grouping: Grouping | None = None
    param: float | None = None


@dataclass(frozen=True)
class VectorAggregation:
    op: VectorOp
    inner: MetricExpr
    grouping: Grouping = field(default_factory=lambda: Grouping(()))


@dataclass(frozen=True)
class Comparison:
    """A vector compared with a scalar literal. `scalar_on_left` keeps `1000 < expr` distinct from `expr > 1000`."""

    op: CompareOp
    vector: MetricExpr
    scalar: float
    scalar_on_left: bool = False
    return_bool: bool = False


MetricExpr = RangeAggregation | VectorAggregation | Comparison
