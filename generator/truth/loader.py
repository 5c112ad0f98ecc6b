"""Read truth.yaml keeping the line and column of every value, so that errors can point at them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.syntax.fast_yaml import FAST_SAFE_LOADER

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located in the file."""

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.field}: {self.message}"


class TruthError(Exception):
    """The truth file is invalid; carries every problem found, each with its location."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.line, p.column, p.field, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


def format_loc(loc: Loc) -> str:
    """`('forbidden_patterns', 2, 'regex')` -> `forbidden_patterns[2].regex`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


@dataclass
class Positions:
    """Maps a location path to the (line, column) of its value (or key, for missing children), 1-based."""

    path: str
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc, at_key: bool = False) -> tuple[int, int]:
        """Closest known position: the value itself, else the nearest ancestor that exists in the file."""
        probe = tuple(loc)
        if at_key and probe in self.keys:
            return self.keys[probe]
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def problem(self, loc: Loc, message: str, at_key: bool = False) -> Problem:
        line, column = self.locate(loc, at_key=at_key)
        return Problem(self.path, line, column, format_loc(loc), message)


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_with_positions(node: yaml.Node, loc: Loc, positions: Positions, problems: list[Problem],
                              constructor: yaml.SafeLoader) -> Any:
    positions.values[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        constructor.flatten_mapping(node)  # resolves `<<` merge keys
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                problems.append(positions.problem(loc, f"mapping key {key!r} must be a string"))
                continue
            child = (*loc, key)
            positions.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                line, col = positions.keys[child]
                problems.append(Problem(positions.path, line, col, format_loc(child), "duplicate key"))
                continue
            result[key] = _construct_with_positions(value_node, child, positions, problems, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct_with_positions(item, (*loc, index), positions, problems, constructor)
            for index, item in enumerate(node.value)
        ]
    return constructor.construct_object(node, deep=True)


def load_yaml_with_positions(path: Path, display_path: str | None = None) -> tuple[Any, Positions]:
    """Parse YAML; return plain data and the position of every value. Raises TruthError on any problem."""
    shown = display_path or str(path)
    positions = Positions(shown)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TruthError([Problem(shown, 1, 1, "<file>", f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise TruthError([Problem(shown, 1, 1, "<file>", "not valid UTF-8")]) from exc
    try:
        # libyaml's parser first (`fast_yaml`): same nodes and marks; an error is read again by the Python one below.
        nodes = list(yaml.compose_all(text, Loader=FAST_SAFE_LOADER))
    except yaml.YAMLError:
        nodes = []
    try:
        nodes = nodes or list(yaml.compose_all(text, Loader=_UniqueKeyLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise TruthError([Problem(shown, line, col, "<yaml>", f"invalid YAML: {exc.problem}")]) from exc
    if len(nodes) != 1 or nodes[0] is None:
        raise TruthError([Problem(shown, 1, 1, "<root>", "expected exactly one YAML document")])
    problems: list[Problem] = []
    data = _construct_with_positions(nodes[0], (), positions, problems, _UniqueKeyLoader(""))
    if problems:
        raise TruthError(problems)
    return data, positions
