"""Shared fixtures. Helpers that tests import (tool lookup, free ports) live in tests/tooling.py; fake servers in
tests/fakes/; runs of several real servers together in tests/integration/."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.truth import Truth, load_truth
from tests.tooling import REPO


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def truth() -> Truth:
    """The repository's own product/truth.yaml, loaded once for the session (tests must not mutate it)."""
    return load_truth(REPO / "product" / "truth.yaml")


@pytest.fixture(scope="session")
def generated(truth: Truth, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every generated artifact written into a fresh tree once per session (independent of what is committed)."""
    from generator import pipeline

    root = tmp_path_factory.mktemp("generated")
    pipeline.write_tree(root, pipeline.render_all(truth))
    return root
