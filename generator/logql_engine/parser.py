"""Recursive-descent parser for the supported LogQL subset, producing the typed tree of `ast.py`.

Shapes and validation follow Loki's grammar (pkg/logql/syntax/expr.y) and checks (pkg/logql/syntax/ast.go:
RangeAggregationExpr.validate, parameter rules, stream-selector rules). Valid LogQL outside the subset raises
UnsupportedError naming the construct; invalid LogQL raises LogQLParseError with the position.
"""

from __future__ import annotations

from typing import NoReturn

import re2

from generator.logql_engine import ast
from generator.logql_engine.errors import LogQLParseError, UnsupportedError
from generator.logql_engine.lexer import Token, tokenize
from generator.logql_engine.regex import compile_search, matches_label

VECTOR_OPS = {"sum", "avg", "min", "max", "count"}
UNSUPPORTED_VECTOR_OPS = {"stddev", "stdvar", "topk", "bottomk", "sort", "sort_desc", "approx_topk"}
RANGE_OPS = {"count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time",
             "min_over_time", "max_over_time", "quantile_over_time"}
UNSUPPORTED_RANGE_OPS = {"stddev_over_time", "stdvar_over_time", "first_over_time", "last_over_time",
                         "absent_over_time", "rate_counter", "quantile_sketch_over_time"}
UNSUPPORTED_FUNCTIONS = {"label_replace", "vector", "absent", "sort", "sort_desc"}
# ast.go RangeAggregationExpr.validate: which range operations take `| unwrap` and which take `by/without`.
UNWRAP_OPS = {"sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "quantile_over_time", "rate"}
LINE_OPS = {"count_over_time", "rate", "bytes_over_time", "bytes_rate"}
GROUPING_RANGE_OPS = {"avg_over_time", "quantile_over_time", "min_over_time", "max_over_time"}
COMPARISON_OPS = {">", ">=", "<", "<=", "==", "!="}
ARITHMETIC_OPS = {"+", "-", "*", "/", "%", "^"}
SET_OPS = {"and", "or", "unless"}
UNSUPPORTED_STAGES = {"line_format", "label_format", "drop", "keep", "decolorize", "unpack", "distinct"}


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    # -- token helpers --

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        raise LogQLParseError(message, self.query, (token or self.tok).pos)

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def is_ident(self, *names: str) -> bool:
        return self.tok.kind == "ident" and (not names or self.tok.text in names)

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            self.fail(f"expected {op!r}, found {self.tok.text or 'end of query'!r}")
        return self.advance()

    def expect_ident(self, what: str = "an identifier") -> str:
        if self.tok.kind != "ident":
            self.fail(f"expected {what}, found {self.tok.text or 'end of query'!r}")
        return self.advance().text

    def expect_string(self, what: str) -> str:
        if self.tok.kind != "string":
            self.fail(f"expected {what} (a quoted string), found {self.tok.text or 'end of query'!r}")
        return self.advance().text

    # -- entry --

    def parse(self) -> ast.MetricExpr:
        if self.tok.kind == "eof":
            self.fail("empty query")
        expr = self.comparison()
        if self.tok.kind != "eof":
            self.unexpected_after_expression()
        if isinstance(expr, float):
            raise UnsupportedError("a query without a log stream selector (a bare number)")
        return expr

    def unexpected_after_expression(self) -> NoReturn:
        token = self.tok
        if token.kind == "op" and token.text in ARITHMETIC_OPS:
            raise UnsupportedError(f"arithmetic binary operator {token.text!r}")
        if token.kind == "ident" and token.text in SET_OPS:
            raise UnsupportedError(f"set operator {token.text!r}")
        if token.kind == "ident" and token.text == "offset":
            raise UnsupportedError("offset modifier")
        self.fail(f"unexpected {token.text!r}")

    # -- metric expressions --

    def comparison(self) -> ast.MetricExpr | float:
        left = self.unary()
        while self.is_op(*COMPARISON_OPS):
            op_token = self.advance()
            return_bool = False
            if self.is_ident("bool"):
                self.advance()
                return_bool = True
            if self.is_ident("on", "ignoring", "group_left", "group_right"):
                raise UnsupportedError(f"vector matching modifier {self.tok.text!r}")
            right = self.unary()
            left = self.combine(op_token, left, right, return_bool)
        return left

    def combine(self, op_token: Token, left: ast.MetricExpr | float, right: ast.MetricExpr | float,
                return_bool: bool) -> ast.MetricExpr:
        op = op_token.text
        left_scalar, right_scalar = isinstance(left, float), isinstance(right, float)
        if left_scalar and right_scalar:
            raise UnsupportedError(f"comparison {op!r} between two numbers")
        if not left_scalar and not right_scalar:
            raise UnsupportedError(f"comparison {op!r} between two vectors (only a comparison with a number)")
        if left_scalar:
            return ast.Comparison(op, right, left, scalar_on_left=True, return_bool=return_bool)  # type: ignore[arg-type]
        return ast.Comparison(op, left, right, return_bool=return_bool)  # type: ignore[arg-type]

    def unary(self) -> ast.MetricExpr | float:
        token = self.tok
        if token.kind == "number":
            self.advance()
            return float(token.value)  # type: ignore[arg-type]
        if self.is_op("-") and self.peek().kind == "number":
            self.advance()
            return -float(self.advance().value)  # type: ignore[arg-type]
        if self.is_op("("):
            self.advance()
            inner = self.comparison()
            self.expect_op(")")
            return inner
        if self.is_op("{"):
            raise UnsupportedError("log queries: an instant metric query (e.g. count_over_time(...)) is required, "
                                   "as Loki's ruler requires")
        if token.kind == "ident":
            name = token.text
            if name in VECTOR_OPS:
                return self.vector_aggregation()
            if name in RANGE_OPS:
                return self.range_aggregation()
            if name in UNSUPPORTED_VECTOR_OPS:
                raise UnsupportedError(f"vector aggregation {name}")
            if name in UNSUPPORTED_RANGE_OPS:
                raise UnsupportedError(f"range aggregation {name}")
            if name in UNSUPPORTED_FUNCTIONS:
                raise UnsupportedError(f"function {name}")
        if token.kind in ("duration", "bytes"):
            self.fail(f"unexpected {token.text!r}")
        self.fail(f"unexpected {token.text or 'end of query'!r}")

    def grouping(self) -> ast.Grouping:
        without = self.advance().text == "without"
        self.expect_op("(")
        labels: list[str] = []
        while not self.is_op(")"):
            labels.append(self.expect_ident("a label name"))
            if not self.is_op(")"):
                self.expect_op(",")
        self.expect_op(")")
        return ast.Grouping(tuple(labels), without)

    def vector_aggregation(self) -> ast.VectorAggregation:
        op = self.advance().text
        grouping = self.grouping() if self.is_ident("by", "without") else None
        self.expect_op("(")
        if self.tok.kind == "number" and self.peek().kind == "op" and self.peek().text == ",":
            raise UnsupportedError(f"a parameter for {op}")
        inner = self.comparison()
        if isinstance(inner, float):
            self.fail(f"{op} needs a vector expression, not a number")
        self.expect_op(")")
        if self.is_ident("by", "without"):
            if grouping is not None:
                self.fail("grouping given both before and after the aggregation")
            grouping = self.grouping()
        return ast.VectorAggregation(op, inner, grouping or ast.Grouping(()))  # type: ignore[arg-type]

    def range_aggregation(self) -> ast.RangeAggregation:
        op_token = self.advance()
        op = op_token.text
        self.expect_op("(")
        param = None
        if self.tok.kind == "number" or (self.is_op("-") and self.peek().kind == "number"):
            negative = self.is_op("-")
            if negative:
                self.advance()
            param = float(self.advance().value) * (-1 if negative else 1)  # type: ignore[arg-type]
            self.expect_op(",")
        log_range = self.log_range()
        self.expect_op(")")
        grouping = self.grouping() if self.is_ident("by", "without") else None
        # ast.go RangeAggregationExpr.validate and newRangeAggregationExpr parameter rules.
        if op == "quantile_over_time" and param is None:
            self.fail("parameter required for operation quantile_over_time", op_token)
        if op != "quantile_over_time" and param is not None:
            self.fail(f"parameter not supported for operation {op}", op_token)
        if grouping is not None and op not in GROUPING_RANGE_OPS:
            self.fail(f"grouping not allowed for {op} aggregation", op_token)
        if log_range.unwrap is not None and op not in UNWRAP_OPS:
            self.fail(f"invalid aggregation {op} with unwrap", op_token)
        if log_range.unwrap is None and op not in LINE_OPS:
            self.fail(f"invalid aggregation {op} without unwrap", op_token)
        return ast.RangeAggregation(op, log_range, grouping, param)  # type: ignore[arg-type]

    # -- log range --

    def log_range(self) -> ast.LogRange:
        if self.is_op("("):
            self.advance()
            selector = self.selector()
            stages, unwrap = self.pipeline()
            self.expect_op(")")
            range_ns = self.range_literal()
            if self.starts_stage():
                self.fail("a pipeline both inside the parentheses and after the range")
        else:
            selector = self.selector()
            stages, unwrap = self.pipeline()
            range_ns = self.range_literal()
            if self.starts_stage():
                if stages or unwrap:
                    self.fail("a pipeline both before and after the range")
                stages, unwrap = self.pipeline()
        if self.is_ident("offset"):
            raise UnsupportedError("offset modifier")
        return ast.LogRange(selector, tuple(stages), range_ns, unwrap)

    def range_literal(self) -> int:
        if not self.is_op("["):
            self.fail("expected a range such as [5m]")
        self.advance()
        token = self.tok
        if token.kind != "duration":
            self.fail("expected a duration such as 5m inside [...]")
        self.advance()
        if self.is_op(":"):
            raise UnsupportedError("subqueries")
        self.expect_op("]")
        if token.value is None or int(token.value) <= 0:
            self.fail("the range must be positive", token)
        return int(token.value)

    def selector(self) -> ast.StreamSelector:
        start = self.expect_op("{")
        matchers: list[ast.LabelMatcher] = []
        while not self.is_op("}"):
            matchers.append(self.label_matcher())
            if not self.is_op("}"):
                self.expect_op(",")
        self.expect_op("}")
        # Loki refuses selectors that could match every stream (pkg/logql/syntax/parser.go validateMatchers with
        # util.SplitFiltersAndMatchers: a matcher counts only if it rejects the empty string, so `a!=""` counts).
        if all(matches_label(m.op, m.value, "") for m in matchers):
            self.fail("queries require at least one regexp or equality matcher that does not have an "
                      'empty-compatible value. For instance, app=~".*" does not meet this requirement, but '
                      'app=~".+" will', start)
        return ast.StreamSelector(tuple(matchers))

    def label_matcher(self) -> ast.LabelMatcher:
        name = self.expect_ident("a label name")
        if not self.is_op("=", "!=", "=~", "!~"):
            self.fail("expected a label matcher operator (=, !=, =~, !~)")
        op = self.advance().text
        value_token = self.tok
        value = self.expect_string("a label value")
        if op in ("=~", "!~"):
            self.check_regex(value, value_token)
        return ast.LabelMatcher(name, op, value)  # type: ignore[arg-type]

    def check_regex(self, pattern: str, token: Token) -> None:
        try:
            compile_search(pattern)
        except re2.error as exc:
            self.fail(f"invalid regex {pattern!r}: {exc}", token)

    # -- pipeline --

    def starts_stage(self) -> bool:
        return self.is_op("|=", "!=", "|~", "!~", "|>", "!>", "|")

    def pipeline(self) -> tuple[list[ast.Stage], ast.Unwrap | None]:
        stages: list[ast.Stage] = []
        while self.starts_stage():
            token = self.advance()
            if token.text in ("|>", "!>"):
                raise UnsupportedError(f"pattern line filter {token.text!r}")
            if token.text != "|":
                stages.append(self.line_filter(token.text))
                continue
            if self.is_ident("unwrap"):
                return stages, self.unwrap()
            stages.append(self.pipe_stage())
        return stages, None

    def line_filter(self, op: str) -> ast.LineFilter:
        if self.is_ident("ip") and self.peek().kind == "op" and self.peek().text == "(":
            raise UnsupportedError("ip() line filter")
        value_token = self.tok
        value = self.expect_string("a line filter value")
        if op in ("|~", "!~"):
            self.check_regex(value, value_token)
        if self.is_ident("or"):
            raise UnsupportedError("line filter `or` alternatives")
        return ast.LineFilter(op, value)  # type: ignore[arg-type]

    def pipe_stage(self) -> ast.Stage:
        token = self.tok
        if token.kind == "ident" and token.text in UNSUPPORTED_STAGES:
            raise UnsupportedError(f"pipeline stage {token.text}")
        if self.is_ident("json"):
            self.advance()
            if self.is_ident() and self.peek().kind == "op" and self.peek().text == "=":
                raise UnsupportedError("json parser with extraction parameters")
            return ast.JsonParser()
        if self.is_ident("logfmt"):
            self.advance()
            strict = keep_empty = False
            while self.tok.kind == "flag":
                flag = self.advance()
                if flag.text == "--strict":
                    strict = True
                elif flag.text == "--keep-empty":
                    keep_empty = True
                else:
                    self.fail(f"unknown logfmt flag {flag.text}", flag)
            if self.is_ident() and self.peek().kind == "op" and self.peek().text == "=":
                raise UnsupportedError("logfmt parser with extraction parameters")
            return ast.LogfmtParser(strict, keep_empty)
        if self.is_ident("regexp"):
            self.advance()
            value_token = self.tok
            pattern = self.expect_string("a regular expression")
            self.check_regex(pattern, value_token)
            compiled = compile_search(pattern)
            names = [n for n in compiled.groupindex]
            if not names:
                self.fail("at least one named capture must be supplied", value_token)
            return ast.RegexpParser(pattern)
        if self.is_ident("pattern"):
            self.advance()
            value_token = self.tok
            text = self.expect_string("a pattern")
            from generator.logql_engine.stages import PatternError, parse_pattern

            try:
                parse_pattern(text)
            except PatternError as exc:
                self.fail(str(exc), value_token)
            return ast.PatternParser(text)
        if token.kind == "ident" or self.is_op("("):
            return self.label_filter_expr()
        self.fail(f"expected a parser or a label filter after '|', found {token.text or 'end of query'!r}")

    def unwrap(self) -> ast.Unwrap:
        self.advance()  # unwrap
        conversion = "float"
        if self.is_ident("duration", "duration_seconds", "bytes") and self.peek().kind == "op" \
                and self.peek().text == "(":
            conversion = "bytes" if self.advance().text == "bytes" else "duration"
            self.expect_op("(")
            label = self.expect_ident("a label name")
            self.expect_op(")")
        else:
            label = self.expect_ident("a label name to unwrap")
        post: list[ast.LabelFilter] = []
        while self.starts_stage():
            token = self.advance()
            if token.text != "|":
                self.fail("only label filters may follow unwrap", token)
            post.append(self.label_filter_expr())
        return ast.Unwrap(label, conversion, tuple(post))  # type: ignore[arg-type]

    # -- label filters: `a > 1`, `a="x" and b=~"y"`, `a > 1, b < 2`, `(a > 1 b < 2)` --

    def label_filter_expr(self) -> ast.LabelFilter:
        left = self.label_filter_atom()
        while True:
            if self.is_ident("or"):
                raise UnsupportedError("label filter `or`")
            if self.is_ident("and") or self.is_op(","):
                self.advance()
            elif not (self.is_op("(") or (self.tok.kind == "ident" and self.peek().kind == "op"
                                          and self.peek().text in ("=", "!=", "=~", "!~", ">", ">=", "<", "<=",
                                                                   "=="))):
                return left
            left = ast.AndLabelFilter(left, self.label_filter_atom())

    def label_filter_atom(self) -> ast.LabelFilter:
        if self.is_op("("):
            self.advance()
            inner = self.label_filter_expr()
            self.expect_op(")")
            return inner
        name = self.expect_ident("a label name")
        if not self.is_op("=", "!=", "=~", "!~", ">", ">=", "<", "<=", "=="):
            self.fail("expected a label filter operator")
        op = self.advance().text
        if self.is_ident("ip"):
            raise UnsupportedError("ip() label filter")
        value = self.tok
        if value.kind == "string":
            if op not in ("=", "!=", "=~", "!~"):
                self.fail(f"operator {op} needs a number, a duration or a size, not a string", value)
            self.advance()
            if op in ("=~", "!~"):
                self.check_regex(value.text, value)
            return ast.StringLabelFilter(ast.LabelMatcher(name, op, value.text))  # type: ignore[arg-type]
        negative = False
        if self.is_op("-") and self.peek().kind in ("number", "duration"):
            self.advance()
            negative = True
            value = self.tok
        if value.kind not in ("number", "duration", "bytes") or op in ("=~", "!~"):
            self.fail(f"expected a value for the label filter on {name}", value)
        self.advance()
        number = float(value.value) * (-1 if negative else 1)  # type: ignore[arg-type]
        compare = "==" if op == "=" else op
        return ast.NumericLabelFilter(name, compare, value.kind, number)  # type: ignore[arg-type]


def parse_expr(query: str) -> ast.MetricExpr:
    """Parse a LogQL metric query of the supported subset."""
    return _Parser(query).parse()
