"""What every check shares: the `Problem` it reports and `run_tool`, the one way a check runs an external tool.

A check is a function `(CheckInput) -> list[Problem]`; the pipeline gives it only its own kind's artifacts, written
under a staging root where the tools can read them. A missing tool is a problem, never a silent pass: generation
must not ship files nobody validated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generator.artifacts.base import Artifact

Severity = Literal["error", "warning"]
TOOL_TIMEOUT_SECONDS = 120
# The Go tools (promtool, amtool, the exporters) run for well under a second here, so their garbage collector is
# nearly pure overhead: without it they let the heap grow up to a bound and collect only there. And the checks run
# several tools at once, so each gets one core for Go's scheduler. promtool's unit tests: 1.25 -> 0.9 s CPU with the
# bounded heap (peak 120 MB instead of 60; GOGC=off alone grew to 440), about 15 % less again on one core; an amtool
# render 26 -> 17 ms. Each setting the user made wins.
GO_RUNTIME_ENV = {"GOGC": "off", "GOMEMLIMIT": "100MiB", "GOMAXPROCS": "1"}


@dataclass(frozen=True)
class Problem:
    """One finding. `where` names the file and, when known, the place in it (`file:line` or `file groups[0]`)."""

    where: str
    message: str
    check: str = ""  # the check that found it, e.g. `promtool`; shown by reporters that list several checks
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True)
class CheckInput:
    """What a check sees: the staging root (absolute) and the artifacts of its own kind, already written there."""

    root: Path
    artifacts: tuple[Artifact, ...]

    def paths(self) -> list[str]:
        return [artifact.path for artifact in self.artifacts]

    def find(self, path: str) -> Artifact | None:
        return next((artifact for artifact in self.artifacts if artifact.path == path), None)


Check = Callable[[CheckInput], list[Problem]]


@dataclass(frozen=True)
class ToolResult:
    code: int
    output: str  # stdout and stderr together, stripped

    @property
    def ok(self) -> bool:
        return self.code == 0


def run_tool(args: list[str], cwd: Path, timeout: float = TOOL_TIMEOUT_SECONDS) -> ToolResult:
    """Run a real tool (promtool, amtool, the blackbox exporter, node); a missing tool is exit 127 with a hint."""
    tool = shutil.which(args[0])
    if tool is None:
        return ToolResult(127, f"{args[0]} is not installed (Debian package: see `make deps`)")
    try:
        done = subprocess.run([tool, *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False, env=tool_environment())
    except subprocess.TimeoutExpired:
        return ToolResult(124, f"{args[0]} timed out after {timeout:g}s")
    return ToolResult(done.returncode, (done.stdout + done.stderr).strip())


def tool_environment() -> dict[str, str]:
    """The environment tools run in: ours, with each Go runtime setting above that the user did not make."""
    return {**GO_RUNTIME_ENV, **os.environ}


def tool_failure(what: str, result: ToolResult) -> str:
    """`<what> failed:` and the tool's own output, indented, as one problem message."""
    return f"{what} failed:\n" + "\n".join(f"  {line}" for line in result.output.splitlines())
