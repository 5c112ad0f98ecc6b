"""A generated file: where it goes (relative to the repo root) and its exact text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from yaml.emitter import ScalarAnalysis

from generator.conventions import GENERATED_HEADER


@dataclass(frozen=True)
class Artifact:
    path: str  # posix, relative to the repository root, e.g. "loki/rules/fake/telegram-bot.yaml"
    content: str


class _IndentedDumper(yaml.SafeDumper):
    """Block lists indented under their key, the way Prometheus/Loki docs write rule files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: object) -> bool:
        # A dict reused by a renderer must be written out again, not as an anchor: config loaders differ on aliases.
        return True

    # The emitter's costliest step is a pure function of the scalar (and of allow_unicode), and generated files
    # repeat their scalars (`1m`, label values, keys): remembered, rendering takes 0.19 -> 0.14 s CPU per run.
    _analyses: ClassVar[dict[tuple[str, bool], ScalarAnalysis]] = {}
    _ANALYSES_KEPT = 100_000

    def analyze_scalar(self, scalar: str) -> ScalarAnalysis:
        key = (scalar, bool(self.allow_unicode))
        found = self._analyses.get(key)
        if found is None:
            if len(self._analyses) >= self._ANALYSES_KEPT:
                self._analyses.clear()
            found = self._analyses[key] = super().analyze_scalar(scalar)
        return found


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (runbooks, descriptions) reads best as a literal block.
    if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_IndentedDumper.add_representer(str, _str_presenter)


def yaml_document(data: Any, header: str = GENERATED_HEADER) -> str:
    """Deterministic YAML (insertion order kept, no anchors, wide lines) under the generated-file header."""
    body = yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True, width=4096,
                     default_flow_style=False)
    return f"# {header}\n{body}"
