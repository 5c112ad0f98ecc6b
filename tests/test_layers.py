"""The package reads top to bottom: no module imports a layer above its own (function-level imports included).

Layers, lowest first: syntax helpers; truth; the offline LogQL engine and the naming conventions; the plan; artifact
renderers; checks; the pipeline; the tools built on it (logs, review, provision, lint); the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.tooling import REPO

PACKAGE = REPO / "generator"
LAYERS: dict[str, int] = {
    "syntax": 0,
    "truth": 1,
    "truth_path": 1,  # the default truth path alone, importable without the schema (scan start-up)
    "logql_engine": 2,
    "conventions": 2,
    "plan": 3,
    "artifacts": 4,
    "checks": 5,
    "pipeline": 6,
    "logs": 7,
    "review": 7,
    "provision": 7,
    "lint": 7,
    "cli": 8,
}


def layer_of(module: str) -> tuple[str, int]:
    parts = module.split(".")
    assert parts[0] == "generator", module
    if len(parts) == 1:
        return "generator", max(LAYERS.values())
    top = parts[1]
    assert top in LAYERS, f"generator.{top} has no layer: add it to LAYERS in tests/test_layers.py"
    return top, LAYERS[top]


def imports_of(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("generator"):
            if node.module == "generator":  # `from generator import x`: x is the module
                found += [(node.lineno, f"generator.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("generator")]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def upward_imports(module: str, source: str) -> list[str]:
    own_name, own = layer_of(module)
    return [f"{module}:{line} imports {imported} ({layer_of(imported)[0]}, layer {layer_of(imported)[1]}) from "
            f"{own_name} (layer {own})" for line, imported in imports_of(source) if layer_of(imported)[1] > own]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    assert upward_imports(module, path.read_text(encoding="utf-8")) == []


def test_every_top_level_module_or_package_has_a_layer() -> None:
    tops = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops - set(LAYERS) == set()


def test_a_module_reaching_up_is_reported_even_inside_a_function() -> None:
    source = ("from generator.syntax.logql import quote_string\n\n"
              "def f():\n    from generator import pipeline\n    import generator.artifacts.base\n")
    assert upward_imports("generator.truth.model", source) == [
        "generator.truth.model:4 imports generator.pipeline (pipeline, layer 6) from truth (layer 1)",
        "generator.truth.model:5 imports generator.artifacts.base (artifacts, layer 4) from truth (layer 1)",
    ]
