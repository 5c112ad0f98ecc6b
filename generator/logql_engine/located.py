"""Locations in rule and test files, so every error names the file, the line and the field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.logql_engine.errors import RuleFileError
from generator.truth.loader import Positions, TruthError, format_loc, load_yaml_with_positions


@dataclass(frozen=True)
class Where:
    source: str
    positions: Positions | None = None
    loc: tuple[str | int, ...] = ()

    def __truediv__(self, part: str | int) -> Where:
        return Where(self.source, self.positions, (*self.loc, part))

    def __str__(self) -> str:
        field = format_loc(self.loc)
        if self.positions is None:
            return f"{self.source}: {field}"
        line, column = self.positions.locate(self.loc)
        return f"{self.source}:{line}:{column}: {field}"

    def error(self, message: str) -> RuleFileError:
        return RuleFileError(f"{self}: {message}")


def load_located_yaml(path: Path, what: str) -> tuple[Any, Where]:
    try:
        data, positions = load_yaml_with_positions(path, str(path))
    except TruthError as exc:
        raise RuleFileError(f"{what} {exc}") from None
    return data, Where(str(path), positions)
