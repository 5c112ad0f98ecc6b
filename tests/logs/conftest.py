"""Scans in tests keep their cached scan specs in a temporary folder, not the developer's ~/.cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _scan_spec_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("obsctl-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OBSCTL_CACHE_DIR", str(folder))
        yield folder
