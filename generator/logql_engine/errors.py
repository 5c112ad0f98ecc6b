"""Errors of the offline LogQL engine. Every message says what went wrong and, for queries, where."""

from __future__ import annotations


class LogQLError(Exception):
    """Base class: anything the engine refuses or cannot do."""


class LogQLParseError(LogQLError):
    """The query is not valid LogQL (Loki would refuse it too)."""

    def __init__(self, message: str, query: str = "", position: int | None = None):
        self.message = message
        self.query = query
        self.position = position
        where = ""
        if query and position is not None:
            before, after = query[max(0, position - 20):position], query[position:position + 20]
            where = f" at position {position + 1}: {before}\u2038{after}"
        super().__init__(f"parse error: {message}{where}")


class UnsupportedError(LogQLError):
    """Valid LogQL, but outside the subset this engine evaluates. Refused, never approximated."""

    def __init__(self, what: str):
        self.what = what
        super().__init__(f"unsupported in the offline engine: {what}")


class PipelineError(LogQLError):
    """Loki fails a metric query when a sample carries an `__error__` label nobody filtered (pkg/logqlmodel/error.go,
    NewPipelineErr; raised from RangeVectorEvaluator.Next in pkg/logql/evaluator.go)."""

    def __init__(self, labels: dict[str, str]):
        self.labels = labels
        error = labels.get("__error__", "")
        shown = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        super().__init__(
            f"pipeline error: '{error}' for series: '{shown}'. Use a label filter to intentionally skip this error "
            f'(e.g. | __error__!="{error}"); to skip all potential errors match empty errors (e.g. | __error__="")'
        )


class RuleFileError(LogQLError):
    """A rule file or test file is malformed; the message names the file and the field."""
