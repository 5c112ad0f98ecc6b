"""Validate LogQL with Grafana's own grammar (npm @grafana/lezer-logql, pinned in package.json).

One node process parses a whole batch. Positions are reported as Python string offsets (lezer counts UTF-16
code units, as JavaScript strings do; we convert so callers can slice the expression).

node needs about 0.1 s to start and load the grammar before it reads its batch, so a caller that knows it will
parse soon can `start_ahead`: the processes start at once and wait for their batch on stdin, and the next
`parse_batch` calls use them. `obsctl generate` starts its two while Python is still importing and rendering.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from generator.syntax.logql import unquote_string

SCRIPT = Path(__file__).with_name("logql_parse.mjs")


class GrammarUnavailable(RuntimeError):
    """node or the pinned grammar package is missing: run `make setup`."""


@dataclass(frozen=True)
class ParseResult:
    expression: str
    errors: list[tuple[int, int]]
    nodes: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def describe_errors(self) -> str:
        parts = []
        for start, end in self.errors:
            snippet = self.expression[max(0, start - 15):end + 15]
            parts.append(f"syntax error at offset {start}: ...{snippet}...")
        return "; ".join(parts)

    def texts(self, node_name: str) -> list[str]:
        return [self.expression[a:b] for name, a, b in self.nodes if name == node_name]


def _utf16_to_py_offsets(text: str) -> list[int]:
    """Index: UTF-16 offset -> Python offset (astral characters take two UTF-16 units)."""
    mapping = []
    for index, char in enumerate(text):
        mapping.append(index)
        if ord(char) > 0xFFFF:
            mapping.append(index)
    mapping.append(len(text))
    return mapping


def _find_node_modules() -> Path | None:
    for parent in (SCRIPT.parent, *SCRIPT.parents):
        if (parent / "node_modules" / "@grafana" / "lezer-logql").is_dir():
            return parent
    return None


_started: list[subprocess.Popen[str]] = []  # started ahead, each waiting for one batch on stdin
_started_lock = threading.Lock()


def _start(node: str) -> subprocess.Popen[str]:
    return subprocess.Popen([node, str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8")


def start_ahead(count: int) -> None:
    """Start `count` grammar processes now for the next `parse_batch` calls; nothing when node or the grammar is
    missing (`parse_batch` reports that). Processes still unused when Python exits are stopped then."""
    node = shutil.which("node")
    if node is None or _find_node_modules() is None:
        return
    with _started_lock:
        _started.extend(_start(node) for _ in range(count))


@atexit.register
def _stop_unused() -> None:
    with _started_lock:
        while _started:
            process = _started.pop()
            process.kill()
            process.communicate()


def parse_batch(expressions: list[str], with_nodes: bool = False) -> list[ParseResult]:
    """Parse every expression with Grafana's LogQL grammar in one node process (one started ahead, if any)."""
    node = shutil.which("node")
    if node is None or _find_node_modules() is None:
        raise GrammarUnavailable("LogQL grammar unavailable: needs `node` and `npm ci` (@grafana/lezer-logql)")
    if not expressions:
        return []
    request = json.dumps({"expressions": expressions, "nodes": with_nodes})
    with _started_lock:
        process = _started.pop(0) if _started else _start(node)
    try:
        stdout, stderr = process.communicate(request, timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise GrammarUnavailable("LogQL grammar process timed out after 120 s") from None
    if process.returncode != 0:
        raise GrammarUnavailable(f"LogQL grammar process failed: {stderr.strip()[:500]}")
    results = []
    for expr, raw in zip(expressions, json.loads(stdout), strict=True):
        offsets = _utf16_to_py_offsets(expr)
        errors = [(offsets[a], offsets[b]) for a, b in raw["errors"]]
        nodes = [(name, offsets[a], offsets[b]) for name, a, b in raw.get("nodes", [])]
        results.append(ParseResult(expr, errors, nodes))
    return results


def strings_after(result: ParseResult, markers: set[str], container: str | None = None) -> list[str]:
    """The string literals of a parsed expression that follow a node named in `markers` (`Re`, `PipeMatch`, ...),
    unquoted, in order; with `container`, only those inside a node of that name (`Matcher`, `LineFilter`)."""
    found: list[str] = []
    end = -1 if container else len(result.expression) + 1
    pending = False
    for name, start, stop in result.nodes:
        if name == container:
            end, pending = stop, False
        elif start >= end:
            pending = False
        elif name in markers:
            pending = True
        elif name == "String" and pending:
            found.append(unquote_string(result.expression[start:stop]))
            pending = False
    return found
