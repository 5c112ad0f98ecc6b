"""truth.yaml is parsed by libyaml when PyYAML has it: the same data and positions as the Python parser, and on a
syntax error the Python parser's own message and location."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.truth import loader
from generator.truth.loader import TruthError, load_yaml_with_positions
from tests.tooling import REPO

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML was built without libyaml")

# Anchors, merge keys, flow collections, block scalars, quoted keys and non-ASCII text before a value on its line
# (columns count characters, not bytes).
SHAPES = """\
defaults: &defaults {tier: 2, tags: [a, b]}
alerts:
  - <<: *defaults
    id: "queue_full"
    summary: Очередь полна — drop
    note: |
      two
      lines
  - {id: x, tier: 1}
"é": 1.5
empty:
"""


def load_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """What load_yaml_with_positions returns (or raises) with libyaml, then with the Python parser alone."""
    def outcome() -> object:
        try:
            data, positions = load_yaml_with_positions(path)
        except TruthError as exc:
            return [str(p) for p in exc.problems]
        return data, positions.values, positions.keys

    fast = outcome()
    monkeypatch.setattr(loader, "FAST_SAFE_LOADER", yaml.SafeLoader)  # the pure-Python parser only
    return fast, outcome()


def test_libyaml_reads_the_repository_truth_file_exactly_like_the_python_parser(monkeypatch) -> None:
    fast, python = load_both(REPO / "product" / "truth.yaml", monkeypatch)
    assert fast == python


def test_libyaml_gives_the_same_data_and_positions_on_every_yaml_shape(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "shapes.yaml"
    path.write_text(SHAPES, encoding="utf-8")
    fast, python = load_both(path, monkeypatch)
    assert fast == python
    data, values, _ = fast  # type: ignore[misc]
    assert data["alerts"][0] == {"tier": 2, "tags": ["a", "b"], "id": "queue_full", "summary": "Очередь полна — drop",
                                 "note": "two\nlines\n"}
    assert values[("alerts", 0, "summary")] == (5, 14)


@pytest.mark.parametrize(("text", "words"), [
    ("a: [1\n", "expected ',' or ']', but got '<stream end>'"),  # libyaml: "did not find expected ',' or ']'"
    ("a: 1\n\tb: 2\n", "found character '\\t' that cannot start any token"),
    ("a: *missing\n", "found undefined alias 'missing'"),
], ids=["unclosed flow", "tab", "undefined alias"])
def test_a_syntax_error_is_reported_in_the_python_parsers_words_and_place(tmp_path: Path, monkeypatch, text: str,
                                                                          words: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    fast, python = load_both(path, monkeypatch)
    assert fast == python
    assert isinstance(fast, list) and len(fast) == 1 and words in fast[0]
