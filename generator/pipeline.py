"""The generation pipeline, top to bottom: load truth -> render each artifact kind -> validate with real tools ->
write atomically (or compare, for `obsctl check`)."""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.artifacts import (
    alertmanager,
    dashboards,
    exporters,
    grafana_provisioning,
    logql_tests,
    loki_rules,
    prometheus_rules,
    promtool_tests,
    stack,
)
from generator.artifacts.base import Artifact
from generator.checks import dashboards as dashboard_checks
from generator.checks import loki_rules as loki_checks
from generator.checks import prometheus as prometheus_checks
from generator.checks import stack as stack_checks
from generator.truth import Truth

Renderer = Callable[[Truth], list[Artifact]]
Validator = Callable[[Path, list[Artifact]], list[str]]

# Each artifact kind, in pipeline order. A renderer returns files; a validator checks them with real tools.
RENDERERS: list[Renderer] = [
    loki_rules.render,
    logql_tests.render,
    prometheus_rules.render,
    promtool_tests.render,
    alertmanager.render,
    exporters.render,
    dashboards.render,
    grafana_provisioning.render,
    stack.render,
]
VALIDATORS: list[Validator] = [
    loki_checks.validate,
    logql_tests.validate,
    prometheus_checks.validate,
    dashboard_checks.validate,
    stack_checks.validate,
]
# Folders generation owns entirely: swapped in whole, so a removed rule leaves no stale file behind.
OWNED_DIRS: tuple[str, ...] = ("loki", "alerts", "dashboards", "tests/generated")


def owned_dirs() -> tuple[str, ...]:
    return OWNED_DIRS


class GenerationError(Exception):
    """Rendered artifacts failed validation; nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def render_all(truth: Truth) -> list[Artifact]:
    artifacts = [artifact for render in RENDERERS for artifact in render(truth)]
    paths = [a.path for a in artifacts]
    duplicated = sorted({p for p in paths if paths.count(p) > 1})
    if duplicated:
        raise GenerationError([f"two renderers produce {p}" for p in duplicated])
    outside = [a.path for a in artifacts if not any(a.path.startswith(d + "/") for d in OWNED_DIRS)]
    if outside:
        raise GenerationError([f"{p}: outside the generated folders {', '.join(OWNED_DIRS)}" for p in outside])
    return sorted(artifacts, key=lambda a: a.path)


def write_tree(root: Path, artifacts: list[Artifact]) -> None:
    for artifact in artifacts:
        target = root / artifact.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(artifact.content, encoding="utf-8", newline="\n")
    for owned in OWNED_DIRS:
        (root / owned).mkdir(parents=True, exist_ok=True)


def validate_tree(root: Path, artifacts: list[Artifact]) -> list[str]:
    return [problem for validate in VALIDATORS for problem in validate(root, artifacts)]


@dataclass
class Generated:
    staging: Path
    artifacts: list[Artifact]


def stage(truth: Truth, repo: Path) -> Generated:
    """Render and validate into a temporary folder next to the repo (same filesystem: renames are atomic)."""
    artifacts = render_all(truth)
    # Absolute: validators run tools with their own working directories.
    staging = Path(tempfile.mkdtemp(prefix=".obsctl-tmp-", dir=repo.resolve()))
    try:
        write_tree(staging, artifacts)
        problems = validate_tree(staging, artifacts)
        if problems:
            raise GenerationError(problems)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Generated(staging, artifacts)


def swap_in(generated: Generated, repo: Path) -> None:
    """Replace each owned folder by its validated new version; the old one is removed only after the rename."""
    try:
        for owned in OWNED_DIRS:
            new = generated.staging / owned
            target = repo / owned
            target.parent.mkdir(parents=True, exist_ok=True)
            old = generated.staging / (".old-" + owned.replace("/", "-"))
            if target.exists():
                os.replace(target, old)
            os.replace(new, target)
    finally:
        shutil.rmtree(generated.staging, ignore_errors=True)


def generate(truth: Truth, repo: Path) -> list[Artifact]:
    generated = stage(truth, repo)
    swap_in(generated, repo)
    return generated.artifacts


def _files_under(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for owned in OWNED_DIRS:
        base = root / owned
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    found[path.relative_to(root).as_posix()] = path
    return found


def stale_report(truth: Truth, repo: Path) -> list[str]:
    """Unified diffs between the committed artifacts and a fresh generation; empty when up to date."""
    generated = stage(truth, repo)
    try:
        fresh = _files_under(generated.staging)
        committed = _files_under(repo)
        report = []
        for rel in sorted(set(fresh) | set(committed)):
            new = fresh[rel].read_text(encoding="utf-8").splitlines(keepends=True) if rel in fresh else []
            old = committed[rel].read_text(encoding="utf-8").splitlines(keepends=True) if rel in committed else []
            if new != old:
                report.append("".join(difflib.unified_diff(old, new, f"committed/{rel}", f"generated/{rel}")))
        return report
    finally:
        shutil.rmtree(generated.staging, ignore_errors=True)
