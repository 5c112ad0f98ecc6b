"""A generated file: where it goes (relative to the repo root) and its exact text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

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
