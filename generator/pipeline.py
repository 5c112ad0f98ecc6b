"""The generation pipeline, top to bottom: load truth -> plan -> render each artifact kind -> check each kind with
real tools -> write atomically (or compare, for `obsctl check`).

`KINDS` is the one registry: each artifact kind names the paths it owns, the renderers that write them, the checks
that must pass before anything is written, and the other kinds whose files those checks read. Adding a kind, or a
check to a kind, is one entry here.

Generation renders the kinds one by one in registry order, and starts each kind's checks as soon as its files and
those of the kinds it reads are written: the real tools run while later kinds still render. So the registry starts
with the kinds whose checks take longest (promtool's unit tests, then the LogQL grammar and amtool renders).
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from generator import conventions
from generator.artifacts import (
    alertmanager,
    alertmanager_templates,
    bot_logging,
    dashboards,
    exporters,
    grafana_provisioning,
    logql_tests,
    loki_rules,
    prometheus_rules,
    promtool_tests,
    stack,
)
from generator.artifacts.alert_links import linked_plan
from generator.artifacts.base import Artifact
from generator.checks import alertmanager as alertmanager_checks
from generator.checks import alertmanager_templates as alertmanager_template_checks
from generator.checks import bot_logging as bot_logging_checks
from generator.checks import dashboards as dashboard_checks
from generator.checks import exporters as exporter_checks
from generator.checks import logql_tests as logql_test_checks
from generator.checks import loki_rules as loki_rule_checks
from generator.checks import prometheus_rules as prometheus_rule_checks
from generator.checks import stack as stack_checks
from generator.checks.base import Check, CheckInput, Problem
from generator.plan import Plan, build_plan
from generator.truth import Truth

Renderer = Callable[[Plan], list[Artifact]]


@dataclass(frozen=True)
class ArtifactKind:
    name: str
    owns: tuple[str, ...]  # exact paths, or folders ending in "/"
    renderers: tuple[Renderer, ...]
    checks: tuple[Check, ...]
    reads: tuple[str, ...] = ()  # other kinds whose files the checks read from the staging tree

    def owns_path(self, path: str) -> bool:
        return any(path == owned or (owned.endswith("/") and path.startswith(owned)) for owned in self.owns)


KINDS: tuple[ArtifactKind, ...] = (
    ArtifactKind("prometheus-rules", (conventions.PROMETHEUS_RULES_FILE, conventions.PROMTOOL_TESTS_FILE),
                 (prometheus_rules.render, promtool_tests.render), (prometheus_rule_checks.check,)),
    ArtifactKind("loki-rules", (conventions.LOKI_RULES_DIR + "/",), (loki_rules.render,), (loki_rule_checks.check,)),
    ArtifactKind("alertmanager-templates", (conventions.ALERTMANAGER_TEMPLATES_DIR + "/",),
                 (alertmanager_templates.render,), (alertmanager_template_checks.check,),
                 reads=("prometheus-rules", "loki-rules")),  # renders sample alerts of the generated rules
    ArtifactKind("grafana", (conventions.DASHBOARD_DIR + "/",), (dashboards.render, grafana_provisioning.render),
                 (dashboard_checks.check,)),
    ArtifactKind("logql-rule-tests", (conventions.LOGQL_TESTS_DIR + "/",), (logql_tests.render,),
                 (logql_test_checks.check,), reads=("loki-rules",)),  # the tests run the generated Loki rules
    ArtifactKind("alertmanager", (conventions.ALERTMANAGER_CONFIG_FILE,), (alertmanager.render,),
                 (alertmanager_checks.check,)),
    ArtifactKind("local-stack", (conventions.LOKI_CONFIG_PATH, conventions.ALLOY_CONFIG_PATH,
                                 conventions.PROMETHEUS_CONFIG_PATH), (stack.render,), (stack_checks.check,),
                 reads=("prometheus-rules",)),  # promtool check config loads the rule files prometheus.yml names
    ArtifactKind("bot-logging", (conventions.BOT_LOGGING_MODULE,), (bot_logging.render,), (bot_logging_checks.check,)),
    ArtifactKind("exporters", (conventions.EXPORTERS_DIR + "/",), (exporters.render,), (exporter_checks.check,)),
)


class GenerationError(Exception):
    """Rendered artifacts failed their checks; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Rendered:
    kind: ArtifactKind
    artifacts: tuple[Artifact, ...]


def render_kind(kind: ArtifactKind, plan: Plan) -> Rendered:
    return Rendered(kind, tuple(artifact for render in kind.renderers for artifact in render(plan)))


def placement_problems(item: Rendered, seen: dict[str, str]) -> list[Problem]:
    """Artifacts written where their kind may not write, or by two kinds; `seen` (path -> kind) grows with `item`."""
    problems = []
    for artifact in item.artifacts:
        if artifact.path in seen:
            problems.append(Problem(artifact.path, f"produced by both {seen[artifact.path]} and {item.kind.name}"))
        seen[artifact.path] = item.kind.name
        if not item.kind.owns_path(artifact.path):
            problems.append(Problem(artifact.path, f"outside what kind {item.kind.name} owns "
                                                   f"({', '.join(item.kind.owns)})"))
        elif not any(artifact.path.startswith(d + "/") for d in conventions.OWNED_DIRS):
            problems.append(Problem(artifact.path, "outside the generated folders "
                                                   f"{', '.join(conventions.OWNED_DIRS)}"))
    return problems


def render_kinds(plan: Plan) -> list[Rendered]:
    rendered = [render_kind(kind, plan) for kind in KINDS]
    seen: dict[str, str] = {}
    problems = [problem for item in rendered for problem in placement_problems(item, seen)]
    if problems:
        raise GenerationError(problems)
    return rendered


def plan_for(truth: Truth) -> Plan:
    """The plan every renderer reads, built once per run: the rules and routes of the truth, and each alert's
    dashboard and Explore links (which only the rendered dashboards can tell)."""
    return linked_plan(build_plan(truth))


def render_all(truth: Truth) -> list[Artifact]:
    """Every artifact of the truth, sorted by path (`obsctl diff` calls this in the tree of each side)."""
    return sorted((a for item in render_kinds(plan_for(truth)) for a in item.artifacts), key=lambda a: a.path)


def write_tree(root: Path, artifacts: list[Artifact]) -> None:
    for artifact in artifacts:
        target = root / artifact.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(artifact.content, encoding="utf-8", newline="\n")
    for owned in conventions.OWNED_DIRS:
        (root / owned).mkdir(parents=True, exist_ok=True)


@dataclass
class Generated:
    staging: Path
    artifacts: list[Artifact]


def render_and_check(plan: Plan, root: Path) -> list[Artifact]:
    """Render kind by kind into `root`, starting each kind's checks once its files and those of the kinds it reads
    are written, so the tools work while later kinds render. Every artifact, sorted by path; GenerationError when a
    kind writes outside what it owns (nothing of it is written, no later check starts) or when checks fail
    (problems in registry order)."""
    seen: dict[str, str] = {}
    written: set[str] = set()
    waiting: list[Rendered] = []
    rendered: list[Rendered] = []
    running: dict[str, list[Future[list[Problem]]]] = {}
    misplaced: list[Problem] = []
    with ThreadPoolExecutor(max_workers=max(1, sum(len(kind.checks) for kind in KINDS))) as pool:
        def start(item: Rendered) -> None:
            inp = CheckInput(root, item.artifacts)
            running[item.kind.name] = [pool.submit(check, inp) for check in item.kind.checks]

        for kind in KINDS:
            item = render_kind(kind, plan)
            misplaced += placement_problems(item, seen)
            if misplaced:
                continue
            write_tree(root, list(item.artifacts))
            rendered.append(item)
            written.add(kind.name)
            waiting.append(item)
            for ready in [w for w in waiting if set(w.kind.reads) <= written]:
                waiting.remove(ready)
                start(ready)
        if misplaced:
            pool.shutdown(cancel_futures=True)
            raise GenerationError(misplaced)
        for item in waiting:  # reads a kind the registry does not have: everything there is is written by now
            start(item)
        problems = [problem for kind in KINDS for future in running.get(kind.name, []) for problem in future.result()]
    if problems:
        raise GenerationError(problems)
    return sorted((a for item in rendered for a in item.artifacts), key=lambda a: a.path)


def stage(truth: Truth, repo: Path) -> Generated:
    """Render and check into a temporary folder next to the repo (same filesystem: renames are atomic)."""
    plan = plan_for(truth)
    # Absolute: checks run tools with their own working directories.
    staging = Path(tempfile.mkdtemp(prefix=".obsctl-tmp-", dir=repo.resolve()))
    try:
        artifacts = render_and_check(plan, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Generated(staging, artifacts)


def swap_in(generated: Generated, repo: Path) -> None:
    """Replace each owned folder by its checked new version; the old one is removed only after the rename."""
    try:
        for owned in conventions.OWNED_DIRS:
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
    for owned in conventions.OWNED_DIRS:
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
