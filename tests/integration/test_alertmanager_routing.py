"""Alertmanager routing generated from the truth tiers: each tier reaches the receiver its notify mode demands
(proved with amtool), tier 4 escalates without waiting, and secrets never appear in the committed file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator import conventions
from generator.artifacts import alertmanager
from generator.artifacts.base import Artifact
from generator.checks import alertmanager as alertmanager_checks
from generator.cli.alertmanager import alertmanager_config_command
from generator.pipeline import plan_for
from generator.plan.routing import build_routing
from generator.truth import Truth, load_truth
from tests.tooling import require_tool

SECRET_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@pytest.fixture(scope="module")
def truth() -> Truth:
    return load_truth()


@pytest.fixture()
def committed(truth: Truth, tmp_path: Path) -> Path:
    [artifact] = alertmanager.render(plan_for(truth))
    path = tmp_path / artifact.path
    path.parent.mkdir(parents=True)
    path.write_text(artifact.content, encoding="utf-8")
    return tmp_path


def secret_env(truth: Truth, tmp_path: Path) -> dict[str, str]:
    names = truth.alertmanager.telegram
    token_file = tmp_path / "token"
    token_file.write_text(SECRET_TOKEN + "\n")
    return {f"{names.bot_token_env}_FILE": str(token_file), names.low_priority_chat_id_env: "-1001",
            names.oncall_chat_id_env: "-1002", names.escalation_chat_id_env: "-1003"}


def test_each_tier_lands_at_the_receiver_its_notify_mode_demands(truth: Truth, committed: Path) -> None:
    require_tool("amtool")
    demanded = {"none": "tier1-automation", "low-priority": "tier2-low-priority", "page": "tier3-oncall",
                "escalate": "tier4-escalation"}
    expected = {str(tier.id): demanded[tier.notify] for tier in truth.tiers}
    assert alertmanager_checks.alertmanager_problems(committed, expected) == []
    # amtool really checks: a wrong expectation is reported.
    wrong = {**expected, "3": "tier2-low-priority"}
    [problem] = alertmanager_checks.alertmanager_problems(committed, wrong)
    assert "tier=3 should reach tier2-low-priority" in str(problem)


def test_tier_timing_and_channels_follow_the_seed(truth: Truth) -> None:
    config = alertmanager.build_config(truth, build_routing(truth), alertmanager.placeholder_values(truth))
    routes = {r["matchers"][0]: r for r in config["route"]["routes"]}
    assert routes['tier="4"']["group_wait"] == "0s"
    assert routes['tier="4"']["repeat_interval"] == "15m"
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers["tier1-automation"]) == {"name"}, "tier 1 notifies no human"
    assert [c["disable_notifications"] for c in receivers["tier2-low-priority"]["telegram_configs"]] == [True]
    assert [c["disable_notifications"] for c in receivers["tier3-oncall"]["telegram_configs"]] == [False]
    assert len(receivers["tier4-escalation"]["telegram_configs"]) == 2, "on-call plus the escalation chat"


def test_inhibitions_let_a_higher_tier_silence_only_lower_tiers(truth: Truth) -> None:
    """...or the same tier when truth names the condition both measure (Render's P95 and the logs' P95)."""
    config = alertmanager.build_config(truth, build_routing(truth), alertmanager.placeholder_values(truth))
    assert len(config["inhibit_rules"]) == len(truth.inhibitions)
    same_tier = []
    for rule, source in zip(config["inhibit_rules"], truth.inhibitions, strict=True):
        assert rule["source_matchers"] == [f'alert_id="{source.when}"']
        targets = rule["target_matchers"][0].split('"')[1].split("|")
        assert targets == source.silence
        if source.same_condition is None:
            assert all(truth.effective_tier(t) < truth.effective_tier(source.when) for t in targets)
        else:
            assert all(truth.effective_tier(t) <= truth.effective_tier(source.when) for t in targets)
            same_tier.append((source.when, targets))
    assert same_tier == [("render_latency_p95", ["webhook_latency_p95"])]


def test_committed_config_holds_no_secret_and_passes_amtool(truth: Truth, committed: Path) -> None:
    text = (committed / conventions.ALERTMANAGER_CONFIG_FILE).read_text()
    assert SECRET_TOKEN not in text
    assert f"${truth.alertmanager.telegram.bot_token_env}" in text
    assert alertmanager_checks.alertmanager_problems(committed) == []


def test_runtime_config_takes_secrets_from_the_environment_and_never_prints_them(
        truth: Truth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("amtool")
    for name, value in secret_env(truth, tmp_path).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run" / "alertmanager.yml"
    result = CliRunner().invoke(alertmanager_config_command, ["--out", str(out)])
    assert result.exit_code == 0, result.output
    assert SECRET_TOKEN not in result.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    config = yaml.safe_load(out.read_text())
    chats = {r["name"]: [c["chat_id"] for c in r.get("telegram_configs", [])] for r in config["receivers"]}
    assert chats == {"tier1-automation": [], "tier2-low-priority": [-1001], "tier3-oncall": [-1002],
                     "tier4-escalation": [-1002, -1003]}
    assert {c["bot_token"] for r in config["receivers"] for c in r.get("telegram_configs", [])} == {SECRET_TOKEN}
    # Routing is the committed one.
    committed = alertmanager.build_config(truth, build_routing(truth), alertmanager.placeholder_values(truth))
    assert config["route"] == committed["route"] and config["inhibit_rules"] == committed["inhibit_rules"]
    root = tmp_path / "check"
    path = root / conventions.ALERTMANAGER_CONFIG_FILE
    path.parent.mkdir(parents=True)
    path.write_text(out.read_text())
    assert alertmanager_checks.alertmanager_problems(root) == []


def test_runtime_config_names_a_missing_secret_and_writes_nothing(
        truth: Truth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = secret_env(truth, tmp_path)
    del env[truth.alertmanager.telegram.oncall_chat_id_env]
    for name in (*env, truth.alertmanager.telegram.oncall_chat_id_env,
                 f"{truth.alertmanager.telegram.oncall_chat_id_env}_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "alertmanager.yml"
    result = CliRunner().invoke(alertmanager_config_command, ["--out", str(out)])
    assert result.exit_code != 0
    assert truth.alertmanager.telegram.oncall_chat_id_env in result.output
    assert SECRET_TOKEN not in result.output
    assert not out.exists()


def test_local_receiver_override_keeps_routing_and_only_rewrites_receivers(truth: Truth) -> None:
    config = alertmanager.build_config(truth, build_routing(truth), alertmanager.placeholder_values(truth))
    local = alertmanager.with_local_receivers(config, "http://127.0.0.1:9/")
    assert [r["matchers"] for r in local["route"]["routes"]] == [r["matchers"] for r in config["route"]["routes"]]
    assert [r["receiver"] for r in local["route"]["routes"]] == [r["receiver"] for r in config["route"]["routes"]]
    assert local["inhibit_rules"] == config["inhibit_rules"]
    assert {r["name"]: r["webhook_configs"][0]["url"] for r in local["receivers"]} == {
        name: f"http://127.0.0.1:9/{name}" for name in (r["name"] for r in config["receivers"])}


def test_artifact_is_the_generated_alertmanager_file(truth: Truth) -> None:
    [artifact] = alertmanager.render(plan_for(truth))
    assert isinstance(artifact, Artifact) and artifact.path == "alerts/alertmanager/alertmanager.yml"
    assert artifact.content.startswith("# generated from product/truth.yaml")
