"""Test helpers for real external tools: a missing tool skips locally but FAILS in CI (CI=true)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from generator.checks.base import Problem
    from generator.pipeline import Rendered

REPO = Path(__file__).resolve().parents[1]  # the repository root


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Absolute path of an executable; a missing tool is a failure in CI, a skip on a developer machine."""
    path = shutil.which(name)
    if path:
        return path
    message = f"required tool {name!r} is not installed (run `make deps`)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (servers in tests bind to loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_problems(root: Path, rendered: Iterable[Rendered]) -> list[Problem]:
    """Every check of the given rendered kinds on the tree at `root`, one after the other, problems in order (what
    generation runs at once, as each kind is written)."""
    from generator.checks.base import CheckInput

    return [problem for item in rendered for check in item.kind.checks
            for problem in check(CheckInput(root, item.artifacts))]
