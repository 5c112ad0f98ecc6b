"""YAML read through libyaml's parser (`generator.syntax.fast_yaml`) gives what the pure-Python parser gives: the
same data and the same line and column of every value, and, for a broken document, the same error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.syntax import fast_yaml
from generator.truth import loader
from tests.tooling import REPO


def yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def test_every_generated_file_and_the_truth_read_the_same_with_either_parser(generated: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    files = [REPO / "product" / "truth.yaml", *yaml_files(generated)]
    assert len(files) > 10
    fast = [loader.load_yaml_with_positions(path) for path in files]
    monkeypatch.setattr(loader, "FAST_SAFE_LOADER", yaml.SafeLoader)  # the pure-Python parser only
    for path, (data, positions) in zip(files, fast, strict=True):
        python_data, python_positions = loader.load_yaml_with_positions(path)
        assert data == python_data, path
        assert (positions.values, positions.keys) == (python_positions.values, python_positions.keys), path
        assert fast_yaml.safe_load(path.read_text(encoding="utf-8")) == yaml.safe_load(path.read_text()), path


@pytest.mark.parametrize("text", ["a: [b\n", "a: b: c\n", "- a\nb: c\n", "a: 'unterminated\n"])
def test_a_broken_document_raises_the_pure_python_parsers_error(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as python_error:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as fast_error:
        fast_yaml.safe_load(text)
    assert str(fast_error.value) == str(python_error.value)
    assert type(fast_error.value) is type(python_error.value)
