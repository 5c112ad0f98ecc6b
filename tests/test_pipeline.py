"""Generation is all-or-nothing, deterministic, and `obsctl check` catches stale artifacts."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import conventions, pipeline
from generator.artifacts import loki_rules
from generator.artifacts.base import Artifact
from generator.checks.base import Check, CheckInput, Problem, run_tool
from generator.cli import main
from generator.cli.generate import GRAMMAR_BATCHES
from generator.pipeline import plan_for
from generator.plan import Plan
from generator.syntax import logql_grammar
from generator.truth import Truth, load_truth
from tests.tooling import check_problems, require_tool

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch repository: the real truth file plus a fresh generation of every artifact."""
    (tmp_path / "product").mkdir()
    shutil.copy(REPO / "product" / "truth.yaml", tmp_path / "product" / "truth.yaml")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["generate"])
    assert result.exit_code == 0, result.output
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_byte_identical_on_every_run(repo_copy: Path) -> None:
    first = snapshot(repo_copy)
    assert CliRunner().invoke(main, ["generate"]).exit_code == 0
    assert snapshot(repo_copy) == first


def test_fresh_generation_passes_check(repo_copy: Path) -> None:
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_check_fails_with_a_diff_when_an_artifact_was_edited(repo_copy: Path) -> None:
    rule_file = repo_copy / "loki" / "rules" / "fake" / "telegram-bot.yaml"
    rule_file.write_text(rule_file.read_text().replace("> 10", "> 99"))
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "--- committed/loki/rules/fake/telegram-bot.yaml" in result.stderr
    assert "-" in result.stderr and "> 99" in result.stderr and "> 10" in result.stderr
    assert "stale" in result.stderr


def test_check_flags_a_leftover_file_in_a_generated_folder(repo_copy: Path) -> None:
    (repo_copy / "loki" / "rules" / "fake" / "old-namespace.yaml").write_text("groups: []\n")
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "old-namespace.yaml" in result.stderr


def test_generation_removes_files_no_longer_generated(repo_copy: Path) -> None:
    stale = repo_copy / "loki" / "rules" / "fake" / "old-namespace.yaml"
    stale.write_text("groups: []\n")
    assert CliRunner().invoke(main, ["generate"]).exit_code == 0
    assert not stale.exists()


def test_failed_validation_leaves_the_tree_untouched(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(repo_copy)
    broken = pipeline.ArtifactKind("loki-rules", (conventions.LOKI_RULES_DIR + "/",), (loki_rules.render,),
                                   (lambda inp: [Problem("loki/rules/x.yaml", "broken on purpose")],))
    monkeypatch.setattr(pipeline, "KINDS", tuple(broken if k.name == "loki-rules" else k for k in pipeline.KINDS))
    (repo_copy / "product" / "truth.yaml").write_text(
        (repo_copy / "product" / "truth.yaml").read_text().replace("max_count: 10 ", "max_count: 11 "))
    result = CliRunner().invoke(main, ["generate"])
    assert result.exit_code == 2
    assert "broken on purpose" in result.stderr and "nothing was written" in result.stderr
    after = snapshot(repo_copy)
    after.pop("product/truth.yaml")
    before.pop("product/truth.yaml")
    assert after == before
    assert not list(repo_copy.glob(".obsctl-tmp-*"))


def test_renderers_may_only_write_inside_generated_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    rogue = pipeline.ArtifactKind("rogue", ("README.md",), (lambda plan: [Artifact("README.md", "x")],), ())
    monkeypatch.setattr(pipeline, "KINDS", (*pipeline.KINDS, rogue))
    with pytest.raises(pipeline.GenerationError, match="outside the generated folders"):
        pipeline.render_all(load_truth(REPO / "product" / "truth.yaml"))


def test_a_kind_may_only_write_the_paths_it_owns(monkeypatch: pytest.MonkeyPatch) -> None:
    # A renderer writing into another kind's folder would dodge that kind's checks: refused before anything runs.
    stray = pipeline.ArtifactKind("stray", ("alerts/stray/",), (lambda plan: [Artifact("loki/rules/x.yaml", "x")],), ())
    monkeypatch.setattr(pipeline, "KINDS", (*pipeline.KINDS, stray))
    with pytest.raises(pipeline.GenerationError, match="outside what kind stray owns"):
        pipeline.render_all(load_truth(REPO / "product" / "truth.yaml"))


def test_each_check_sees_only_its_own_kinds_artifacts(truth: Truth, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}

    def recorder(name: str) -> Check:
        def record(inp: CheckInput) -> list[Problem]:
            seen[name] = inp.paths()
            return []
        return record

    monkeypatch.setattr(pipeline, "KINDS", tuple(
        pipeline.ArtifactKind(k.name, k.owns, k.renderers, (recorder(k.name),)) for k in pipeline.KINDS))
    pipeline.render_and_check(plan_for(truth), tmp_path)
    assert seen["alertmanager"] == [conventions.ALERTMANAGER_CONFIG_FILE]
    assert seen["prometheus-rules"] == [conventions.PROMETHEUS_RULES_FILE, conventions.PROMTOOL_TESTS_FILE]
    assert all(path.startswith("dashboards/") for path in seen["grafana"])
    every = [path for paths in seen.values() for path in paths]
    assert len(every) == len(set(every))


def test_the_repository_artifacts_are_up_to_date() -> None:
    truth = load_truth(REPO / "product" / "truth.yaml")
    assert pipeline.stale_report(truth, REPO) == []


def test_go_tools_run_with_a_bounded_heap_instead_of_garbage_collection_on_one_core(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
        monkeypatch.delenv(name, raising=False)
    assert run_tool(["sh", "-c", 'echo "$GOGC $GOMEMLIMIT $GOMAXPROCS"'], tmp_path).output == "off 100MiB 1"


def test_each_go_runtime_setting_of_the_user_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOGC", "50")
    monkeypatch.setenv("GOMAXPROCS", "2")
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    assert run_tool(["sh", "-c", 'echo "$GOGC $GOMEMLIMIT $GOMAXPROCS"'], tmp_path).output == "50 100MiB 2"


def test_each_kinds_checks_pass_with_only_its_own_files_and_those_of_the_kinds_it_reads(
        truth: Truth, tmp_path: Path) -> None:
    """The `reads` of the registry are complete: a check started as soon as they are written finds what it needs."""
    rendered = {item.kind.name: item for item in pipeline.render_kinds(plan_for(truth))}
    for name, item in rendered.items():
        assert set(item.kind.reads) <= set(rendered) - {name}
        root = tmp_path / name
        pipeline.write_tree(root, [a for kind in (name, *item.kind.reads) for a in rendered[kind].artifacts])
        assert check_problems(root, [item]) == [], name


def recording_kind(kind: pipeline.ArtifactKind, check: Check, reads: tuple[str, ...] = ()) -> pipeline.ArtifactKind:
    return pipeline.ArtifactKind(kind.name, kind.owns, kind.renderers, (check,), reads)


def test_checks_start_while_later_kinds_still_render(truth: Truth, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    first_check_running = threading.Event()
    seen_by_last_renderer: list[bool] = []

    def first_check(inp: CheckInput) -> list[Problem]:
        first_check_running.set()
        return []

    def last_renderer(plan: Plan) -> list[Artifact]:
        # Waits for the first kind's check; only a deadlock guard bounds the wait.
        seen_by_last_renderer.append(first_check_running.wait(timeout=60))
        return kinds[-1].renderers[0](plan)

    kinds = pipeline.KINDS
    first, last = kinds[0], kinds[-1]
    monkeypatch.setattr(pipeline, "KINDS", (
        recording_kind(first, first_check), *kinds[1:-1],
        pipeline.ArtifactKind(last.name, last.owns, (last_renderer, *last.renderers[1:]), last.checks)))
    pipeline.render_and_check(plan_for(truth), tmp_path)
    assert seen_by_last_renderer == [True]


def test_a_check_starts_only_once_the_kinds_it_reads_are_written(truth: Truth, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    found: dict[str, bool] = {}

    def reads_prometheus_rules(inp: CheckInput) -> list[Problem]:
        found["rules"] = (inp.root / conventions.PROMETHEUS_RULES_FILE).is_file()
        return []

    by_name = {kind.name: kind for kind in pipeline.KINDS}
    reader = recording_kind(by_name["loki-rules"], reads_prometheus_rules, reads=("prometheus-rules",))
    # The reader renders first; the kind it reads comes last.
    monkeypatch.setattr(pipeline, "KINDS", (reader, *[k for k in pipeline.KINDS if k.name not in (
        "loki-rules", "prometheus-rules")], by_name["prometheus-rules"]))
    pipeline.render_and_check(plan_for(truth), tmp_path)
    assert found == {"rules": True}


def test_a_kind_writing_outside_what_it_owns_stops_generation_before_its_files_are_written(
        truth: Truth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stray = pipeline.ArtifactKind("stray", ("alerts/stray/",), (lambda plan: [Artifact("loki/rules/x.yaml", "x")],),
                                  ())
    monkeypatch.setattr(pipeline, "KINDS", (stray, *pipeline.KINDS))
    with pytest.raises(pipeline.GenerationError, match="outside what kind stray owns"):
        pipeline.render_and_check(plan_for(truth), tmp_path)
    assert not (tmp_path / "loki/rules/x.yaml").exists()


def test_a_generation_uses_exactly_the_grammar_processes_the_cli_starts_ahead(truth: Truth, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """None is left waiting (each would have cost node's start-up for nothing), none is started late."""
    require_tool("node")
    started: list[object] = []
    start = logql_grammar._start
    monkeypatch.setattr(logql_grammar, "_start", lambda node: started.append(start(node)) or started[-1])
    logql_grammar.start_ahead(GRAMMAR_BATCHES)
    generated = pipeline.stage(truth, tmp_path)
    shutil.rmtree(generated.staging)
    assert len(started) == GRAMMAR_BATCHES
    assert logql_grammar._started == []
