"""Load and validate product/truth.yaml: YAML with positions -> pydantic schema -> cross-reference checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from generator.truth.checks import cross_reference_problems
from generator.truth.loader import Positions, Problem, TruthError, load_yaml_with_positions
from generator.truth.model import Truth
from generator.truth.types import FieldProblem
from generator.truth_path import DEFAULT_TRUTH_PATH

__all__ = ["DEFAULT_TRUTH_PATH", "Problem", "Truth", "TruthError", "load_truth"]


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema class that owns the mapping at `loc`, to list allowed keys in unknown-key errors."""
    import typing

    model: Any = Truth
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *typing.get_args(annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            for c in candidates:
                inner = [a for a in typing.get_args(c) if isinstance(a, type) and issubclass(a, BaseModel)]
                if inner:
                    model = inner[0]
                    break
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _problems_from_validation(exc: ValidationError, positions: Positions) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "extra_forbidden":
            owner = _model_at(loc[:-1])
            allowed = f" (allowed: {', '.join(_allowed_keys(owner))})" if owner else ""
            problems.append(positions.problem(loc, f"unknown key{allowed}", at_key=True))
            continue
        if kind == "missing":
            problems.append(positions.problem(loc, "missing required key"))
            continue
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblem):
            loc = (*loc, cause.field)
        # Union members (e.g. `DurationField | Literal['infinite']`) add their type name to loc: drop it.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("function-after",))))
        if "input" in error and kind.endswith("_type"):
            message = f"{message} (got {type(error['input']).__name__} {error['input']!r})"
        problems.append(positions.problem(loc, message))
    # pydantic may report one mistake under several union branches: keep one line per place and text.
    return list(dict.fromkeys(problems))


def load_truth(path: Path = DEFAULT_TRUTH_PATH, display_path: str | None = None) -> Truth:
    """Load, validate and cross-check the truth file. Raises TruthError listing every located problem."""
    data, positions = load_yaml_with_positions(path, display_path)
    if not isinstance(data, dict):
        raise TruthError([positions.problem((), "the file must be a mapping of sections")])
    try:
        truth = Truth.model_validate(data)
    except ValidationError as exc:
        raise TruthError(_problems_from_validation(exc, positions)) from None
    problems = cross_reference_problems(truth, positions)
    if problems:
        raise TruthError(problems)
    return truth
