"""`obsctl provision` / `obsctl drift` against stateful fakes of Grafana and the Loki ruler (they cannot run here),
and a real Prometheus and Alertmanager for the reload path. Every CLI run also checks no token reached the output."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner, Result

from generator.cli import main
from generator.conventions import GENERATED_HEADER
from generator.provision.config import ENV_VARS, ConfigError, RetryPolicy, Secret, targets_from_env
from generator.provision.generated import discover
from generator.provision.plan import MANAGED_TAG, differences, normalise_rule_group
from generator.provision.retry import TransientError, with_retries
from tests.fakes.grafana import FakeGrafana
from tests.fakes.loki_ruler import FakeLokiRuler
from tests.fakes.server import serving
from tests.tooling import free_port, require_tool

GRAFANA_TOKEN = "glsa_obsctlTEST0123456789abcdefSECRET"
LOKI_TOKEN = "loki-gateway-token-SECRET-77"
DATASOURCE_PASSWORD = "datasource-password-SECRET-42"
SECRETS = (GRAFANA_TOKEN, LOKI_TOKEN, DATASOURCE_PASSWORD)
REPO_ROOT = Path(__file__).resolve().parents[2]


# --- a small generated tree --------------------------------------------------------------------------------------


def dashboard(uid: str, title: str, panels: int = 2) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": GENERATED_HEADER, "tags": ["telegram-bot"], "schemaVersion": 39,
        "editable": False, "time": {"from": "now-6h", "to": "now"},
        "panels": [{"id": i + 1, "type": "timeseries", "title": f"Panel {i + 1}",
                    "gridPos": {"x": 0, "y": i * 8, "w": 24, "h": 8},
                    "targets": [{"refId": "A", "expr": f"sum(rate(x_{i}[5m]))"}]} for i in range(panels)],
    }


def rule_group(name: str, threshold: int = 0, interval: str = "1m") -> dict[str, Any]:
    return {"name": name, "interval": interval, "rules": [{
        "alert": name.title().replace("-", ""),
        "expr": f'sum by (service) (count_over_time({{service="telegram-bot"}} |= `{name}` [5m])) > {threshold}',
        "for": "0s",
        "labels": {"alert_id": name.replace("-", "_"), "tier": "4", "severity": "critical"},
        "annotations": {"summary": f"{name} seen"},
    }]}


PROMETHEUS_RULES = f"""# {GENERATED_HEADER}
groups:
  - name: health
    rules:
      - alert: HealthCheckFailing
        expr: probe_success == 0
        for: 2m
        labels:
          tier: "3"
"""

ALERTMANAGER_CONFIG = f"""# {GENERATED_HEADER}
route:
  receiver: tier2-low-priority
  routes:
    - matchers: ['tier="4"']
      receiver: tier4-escalation
receivers:
  - name: tier2-low-priority
  - name: tier4-escalation
"""


class Tree:
    """The generated folders of a repository, written the way the renderers lay them out."""

    def __init__(self, root: Path):
        self.root = root
        self.dashboards = [dashboard("tb-overview", "Telegram bot: overview"),
                           dashboard("tb-latency", "Telegram bot: latency")]
        self.groups = {"telegram-bot": [rule_group("forbidden-patterns"), rule_group("error-rate", 10, "60s")]}
        self.datasources = [{
            "name": "Loki", "type": "loki", "uid": "telegram-bot-loki", "access": "proxy", "orgId": 1,
            "editable": False, "url": "${FIXTURE_LOKI_URL}", "basicAuth": True, "basicAuthUser": "bot",
            "jsonData": {"maxLines": 1000}, "secureJsonData": {"basicAuthPassword": "${FIXTURE_LOKI_PASSWORD}"},
        }]
        self.prometheus_rules: str | None = None
        self.alertmanager: str | None = None
        self.write()

    def write(self) -> None:
        for folder in ("dashboards", "loki", "alerts"):
            for path in sorted((self.root / folder).rglob("*"), reverse=True) if (self.root / folder).exists() else []:
                path.unlink() if path.is_file() else path.rmdir()
        (self.root / "dashboards/provisioning/datasources").mkdir(parents=True, exist_ok=True)
        (self.root / "dashboards/provisioning/dashboards").mkdir(parents=True, exist_ok=True)
        for body in self.dashboards:
            (self.root / f"dashboards/{body['uid']}.json").write_text(json.dumps(body, indent=2))
        (self.root / "dashboards/provisioning/datasources/telegram-bot.yaml").write_text(
            f"# {GENERATED_HEADER}\n" + yaml.safe_dump({"apiVersion": 1, "datasources": self.datasources}))
        (self.root / "dashboards/provisioning/dashboards/telegram-bot.yaml").write_text(
            f"# {GENERATED_HEADER}\n" + yaml.safe_dump({"apiVersion": 1, "providers": [
                {"name": "telegram-bot", "folder": "Telegram bot", "folderUid": "telegram-bot", "type": "file"}]}))
        for namespace, groups in self.groups.items():
            path = self.root / f"loki/rules/fake/{namespace}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {GENERATED_HEADER}\n" + yaml.safe_dump({"groups": groups}, sort_keys=False))
        if self.prometheus_rules is not None:
            (self.root / "alerts/prometheus").mkdir(parents=True, exist_ok=True)
            (self.root / "alerts/prometheus/rules.yaml").write_text(self.prometheus_rules)
        if self.alertmanager is not None:
            (self.root / "alerts/alertmanager").mkdir(parents=True, exist_ok=True)
            (self.root / "alerts/alertmanager/alertmanager.yml").write_text(self.alertmanager)


# --- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    yield from serving(FakeGrafana(GRAFANA_TOKEN))


@pytest.fixture
def loki() -> Iterator[FakeLokiRuler]:
    yield from serving(FakeLokiRuler())


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "repo")


def base_env(tree: Tree) -> dict[str, str | None]:
    env: dict[str, str | None] = {name: None for name in ENV_VARS}
    env.update(FIXTURE_LOKI_URL="http://loki.internal:3100", FIXTURE_LOKI_PASSWORD=DATASOURCE_PASSWORD,
               OBSCTL_STATE_FILE=str(tree.root / ".obsctl/state.json"), OBSCTL_HTTP_TIMEOUT="1",
               OBSCTL_RETRY_DELAY="0.01", OBSCTL_RETRIES="4")
    return env


@pytest.fixture
def env(tree: Tree, grafana: FakeGrafana, loki: FakeLokiRuler) -> dict[str, str | None]:
    values = base_env(tree)
    values.update(GRAFANA_URL=grafana.url, GRAFANA_TOKEN=GRAFANA_TOKEN, LOKI_URL=loki.url, LOKI_TOKEN=LOKI_TOKEN)
    return values


def obsctl(tree: Tree, env: dict[str, str | None], *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--repo", str(tree.root)], env=env, catch_exceptions=False)
    for secret in SECRETS:
        assert secret not in result.output, f"a secret reached the output of obsctl {' '.join(args)}"
    return result


def provision(tree: Tree, env: dict[str, str | None], *flags: str, expect: int = 0) -> str:
    result = obsctl(tree, env, "provision", *flags)
    assert result.exit_code == expect, result.output
    return result.output


def writes(*servers: Any) -> list[str]:
    return [f"{r.method} {r.path}" for server in servers for r in server.writes()]


def reset_logs(*servers: Any) -> None:
    for server in servers:
        server.requests.clear()


# --- apply, re-apply, dry run ------------------------------------------------------------------------------------


def test_first_apply_creates_everything_marked_as_managed(tree: Tree, env: dict, grafana: FakeGrafana,
                                                          loki: FakeLokiRuler) -> None:
    output = provision(tree, env)
    assert "plan: 6 create, 0 update, 0 delete, 0 unchanged" in output
    assert [f["title"] for f in grafana.folders.values()] == ["Telegram bot"]
    assert set(grafana.dashboards) == {"tb-overview", "tb-latency"}
    for entry in grafana.dashboards.values():
        assert entry["folderUid"] == "telegram-bot"  # the generated provider's folder
        assert MANAGED_TAG in entry["dashboard"]["tags"]
    stored = grafana.datasources["telegram-bot-loki"]
    assert stored["url"] == "http://loki.internal:3100" and stored["jsonData"]["obsctlManaged"] is True
    assert grafana.secure_values["telegram-bot-loki"] == {"basicAuthPassword": DATASOURCE_PASSWORD}
    assert set(loki.groups("fake", "telegram-bot")) == {"forbidden-patterns", "error-rate"}
    # One listing goes without the tenant header: it tells a Loki without auth (which ignores the header) apart.
    assert [f"{r.method} {r.path}" for r in loki.requests if "x-scope-orgid" not in r.headers] == \
        ["GET /loki/api/v1/rules"]
    assert all(r.headers.get("x-scope-orgid") in (None, "fake") for r in loki.requests)
    assert all(r.headers.get("authorization") == f"Bearer {LOKI_TOKEN}" for r in loki.requests)
    state = json.loads((tree.root / ".obsctl/state.json").read_text())
    assert set(state["backends"]) == {"grafana", "loki ruler"}
    assert not any(secret in json.dumps(state) for secret in SECRETS)


def test_second_apply_writes_nothing(tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    provision(tree, env)
    reset_logs(grafana, loki)
    output = provision(tree, env)
    assert "plan: 0 create, 0 update, 0 delete, 6 unchanged" in output
    assert "nothing to do" in output
    assert writes(grafana, loki) == []


def test_dry_run_prints_the_plan_and_writes_nothing(tree: Tree, env: dict, grafana: FakeGrafana,
                                                    loki: FakeLokiRuler) -> None:
    output = provision(tree, env, "--dry-run")
    assert "create    grafana dashboard tb-overview" in output
    assert "create    loki ruler rule group fake/telegram-bot/error-rate" in output
    assert "dry run: nothing was written" in output
    assert writes(grafana, loki) == [] and not (tree.root / ".obsctl/state.json").exists()


def test_a_changed_truth_updates_only_what_changed(tree: Tree, env: dict, grafana: FakeGrafana,
                                                    loki: FakeLokiRuler) -> None:
    provision(tree, env)
    tree.dashboards[0]["panels"][1]["targets"][0]["expr"] = "sum(rate(changed[10m]))"
    tree.groups["telegram-bot"][1] = rule_group("error-rate", 20, "60s")
    tree.write()
    reset_logs(grafana, loki)
    output = provision(tree, env)
    assert "update    grafana dashboard tb-overview  (panels[1].targets[0].expr)" in output
    assert "update    loki ruler rule group fake/telegram-bot/error-rate  (rules[0].expr)" in output
    assert sorted(writes(grafana, loki)) == ["POST /api/dashboards/db", "POST /loki/api/v1/rules/telegram-bot"]
    assert grafana.dashboard("tb-overview")["version"] == 2
    assert loki.groups("fake", "telegram-bot")["error-rate"]["rules"][0]["expr"].endswith("> 20")


def test_a_field_the_generator_stopped_setting_is_removed(tree: Tree, env: dict, grafana: FakeGrafana,
                                                          loki: FakeLokiRuler) -> None:
    provision(tree, env)
    del tree.dashboards[1]["time"]
    tree.write()
    output = provision(tree, env)
    assert "update    grafana dashboard tb-latency  (time)" in output
    assert "time" not in grafana.dashboard("tb-latency")


def test_ruler_round_trip_normalisation_sees_no_change() -> None:
    # The ruler answers `interval: 1m` for `60s` and drops `for: 0s`: both mean the same group.
    sent = rule_group("error-rate", 10, "60s")
    answered = copy.deepcopy(sent)
    answered["interval"] = "1m"
    del answered["rules"][0]["for"]
    assert normalise_rule_group(sent) == normalise_rule_group(answered)
    assert differences({"a": 1, "b": []}, {"a": 1.0, "server_default": True}) == []


# --- ownership and prune -----------------------------------------------------------------------------------------


def test_prune_deletes_only_what_obsctl_created(tree: Tree, env: dict, grafana: FakeGrafana,
                                                loki: FakeLokiRuler) -> None:
    grafana.add_dashboard(dashboard("someone-elses", "Hand-made dashboard"))
    grafana.add_datasource({"name": "Team DB", "type": "postgres", "uid": "team-db"})
    loki.put_group("fake", "other-team", rule_group("their-rules"))
    loki.put_group("other-tenant", "telegram-bot", rule_group("forbidden-patterns"))
    provision(tree, env)
    del tree.dashboards[1]
    tree.groups["telegram-bot"].pop(0)
    tree.write()

    kept = provision(tree, env)
    assert "delete    grafana dashboard tb-latency  [kept: --prune deletes it]" in kept
    assert "tb-latency" in grafana.dashboards and "forbidden-patterns" in loki.groups("fake", "telegram-bot")

    pruned = provision(tree, env, "--prune")
    assert "applied   delete    grafana dashboard tb-latency" in pruned
    assert set(grafana.dashboards) == {"tb-overview", "someone-elses"}
    assert set(grafana.datasources) == {"telegram-bot-loki", "team-db"}
    assert set(loki.groups("fake", "telegram-bot")) == {"error-rate"}
    assert set(loki.groups("fake", "other-team")) == {"their-rules"}
    assert set(loki.groups("other-tenant", "telegram-bot")) == {"forbidden-patterns"}
    reset_logs(grafana, loki)
    provision(tree, env, "--prune")
    assert writes(grafana, loki) == []


def test_an_existing_object_obsctl_did_not_create_is_not_overwritten_without_force(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    grafana.add_folder("telegram-bot", "Telegram bot")
    grafana.add_dashboard(dashboard("tb-overview", "Made by hand"), "telegram-bot")
    output = provision(tree, env, expect=4)
    assert "REFUSED   grafana dashboard tb-overview: exists but was not created by obsctl" in output
    assert writes(grafana, loki) == []
    provision(tree, env, "--force")
    assert MANAGED_TAG in grafana.dashboard("tb-overview")["tags"]


def test_objects_grafana_loads_from_provisioning_files_are_left_to_it(tree: Tree, env: dict,
                                                                       grafana: FakeGrafana) -> None:
    grafana.add_folder("telegram-bot", "Telegram bot")
    grafana.add_dashboard(dashboard("tb-overview", "Telegram bot: overview"), "telegram-bot", from_files=True)
    grafana.add_datasource({**tree.datasources[0], "url": "http://loki:3100", "readOnly": True})
    output = provision(tree, env)
    assert "note      grafana: dashboard tb-overview is provisioned from files" in output
    assert "note      grafana: data source 'Loki' is provisioned from files (read-only)" in output
    assert writes(grafana) == ["POST /api/dashboards/db"]  # only tb-latency, which files do not provide


# --- drift -------------------------------------------------------------------------------------------------------


def test_hand_edits_are_reported_and_not_overwritten_without_force(tree: Tree, env: dict, grafana: FakeGrafana,
                                                                  loki: FakeLokiRuler) -> None:
    provision(tree, env)
    clean = obsctl(tree, env, "drift")
    assert clean.exit_code == 0 and "no drift" in clean.output

    grafana.edit_dashboard_in_ui("tb-latency", lambda d: d.update(title="Latency (tweaked)"))
    edited = rule_group("error-rate", 999, "60s")
    loki.put_group("fake", "telegram-bot", edited)
    loki.put_group("fake", "telegram-bot", rule_group("added-by-hand"))

    report = obsctl(tree, env, "drift")
    assert report.exit_code == 1, report.output
    assert "drifted   grafana dashboard tb-latency  (title)" in report.output
    assert "drifted   loki ruler rule group fake/telegram-bot/error-rate  (rules[0].expr)" in report.output
    assert "drifted   loki ruler rule group fake/telegram-bot/added-by-hand" in report.output

    reset_logs(grafana, loki)
    refused = provision(tree, env, "--prune", expect=4)
    assert "REFUSED   grafana dashboard tb-latency: edited by hand since the last apply" in refused
    assert "REFUSED   loki ruler rule group fake/telegram-bot/added-by-hand" in refused
    assert writes(grafana, loki) == [] and grafana.dashboard("tb-latency")["title"] == "Latency (tweaked)"

    provision(tree, env, "--prune", "--force")
    assert grafana.dashboard("tb-latency")["title"] == "Telegram bot: latency"
    assert set(loki.groups("fake", "telegram-bot")) == {"forbidden-patterns", "error-rate"}
    assert obsctl(tree, env, "drift").exit_code == 0


# --- faults ------------------------------------------------------------------------------------------------------


def assert_fully_applied(tree: Tree, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    assert set(grafana.dashboards) == {d["uid"] for d in tree.dashboards}
    for body in tree.dashboards:
        live = grafana.dashboard(body["uid"])
        assert differences({k: v for k, v in body.items() if k != "tags"}, live) == []
    assert set(loki.groups("fake", "telegram-bot")) == {g["name"] for g in tree.groups["telegram-bot"]}


def test_5xx_answers_are_retried_and_nothing_is_lost(tree: Tree, env: dict, grafana: FakeGrafana,
                                                     loki: FakeLokiRuler) -> None:
    grafana.inject("POST", "/api/dashboards/db", status=503, times=2)
    grafana.inject("GET", "/api/folders", status=502)
    loki.inject("POST", "/loki/api/v1/rules/", status=500, body="rpc error: code = Unavailable", times=3)
    provision(tree, env)
    assert_fully_applied(tree, grafana, loki)
    assert all(f.hits == f.times for f in grafana.faults + loki.faults)


def test_a_time_out_whose_write_landed_is_reconciled_through_412(tree: Tree, env: dict, grafana: FakeGrafana,
                                                                 loki: FakeLokiRuler) -> None:
    # The first save lands but its answer is lost; the retry meets 412 version-mismatch, reads the dashboard
    # back, sees its own content and moves on instead of failing or saving twice.
    grafana.inject("POST", "/api/folders", delay=3, process_first=True)  # retried: 409, the folder is there
    grafana.inject("POST", "/api/datasources", delay=3, process_first=True)  # retried: 409, ours is there
    grafana.inject("POST", "/api/dashboards/db", delay=3, process_first=True)
    loki.inject("POST", "/loki/api/v1/rules/", delay=3, process_first=True)  # the retry sets the same group
    output = provision(tree, env)
    assert "done: 6 write(s)" in output
    assert_fully_applied(tree, grafana, loki)
    assert sorted(d["dashboard"]["version"] for d in grafana.dashboards.values()) == [1, 1]
    reset_logs(grafana, loki)
    provision(tree, env)
    assert writes(grafana, loki) == []


def test_a_412_from_a_concurrent_hand_edit_stops_without_overwriting_it(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    provision(tree, env)
    tree.dashboards[0]["title"] = "Telegram bot: overview v2"
    tree.write()

    def someone_saves_in_the_ui() -> None:
        grafana.edit_dashboard_in_ui("tb-overview", lambda d: d.update(refresh="5s"))

    grafana.inject("POST", "/api/dashboards/db", status=412, before=someone_saves_in_the_ui,
                   body={"message": "The dashboard has been changed by someone else", "status": "version-mismatch"})
    output = provision(tree, env, expect=1)
    assert "FAILED    update    grafana dashboard tb-overview" in output and "HTTP 412" in output
    assert grafana.dashboard("tb-overview")["refresh"] == "5s"  # the hand edit survives


def test_a_412_after_another_obsctl_run_is_retried_with_the_new_version(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    provision(tree, env)
    tree.dashboards[0]["title"] = "Telegram bot: overview v2"
    tree.write()
    grafana.inject("POST", "/api/dashboards/db", status=412,
                   body={"message": "The dashboard has been changed by someone else", "status": "version-mismatch"})
    provision(tree, env)
    assert grafana.dashboard("tb-overview")["title"] == "Telegram bot: overview v2"


def test_a_failure_midway_reports_what_was_applied_and_a_rerun_finishes(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    loki.inject("POST", "/loki/api/v1/rules/", status=503, times=100)
    output = provision(tree, env, expect=1)
    assert "applied   create    grafana dashboard tb-overview" in output
    assert "FAILED    create    loki ruler rule group fake/telegram-bot/forbidden-patterns" in output
    assert "still failing after 4 attempt(s)" in output
    assert "not applied create    loki ruler rule group fake/telegram-bot/error-rate" in output
    assert "4 applied, 2 not applied" in output
    loki.clear_faults()
    rerun = provision(tree, env)
    assert "plan: 2 create, 0 update, 0 delete, 4 unchanged" in rerun
    assert_fully_applied(tree, grafana, loki)


def test_a_ruler_with_local_rule_storage_is_explained_not_retried(tree: Tree, env: dict, grafana: FakeGrafana,
                                                                   loki: FakeLokiRuler) -> None:
    # What a real Loki 3.4.6 answers to API writes when its rules live in a local directory.
    fault = loki.inject("POST", "/loki/api/v1/rules/", status=500, times=10,
                        body="SetRuleGroup unsupported in rule local store")
    output = provision(tree, env, expect=1)
    assert "keeps rules in local storage" in output and "mount loki/rules/" in output
    assert fault.hits == 1


def test_401_names_the_variable_to_fix_and_never_prints_the_token(tree: Tree, env: dict, grafana: FakeGrafana,
                                                                  loki: FakeLokiRuler) -> None:
    grafana.token = "the-real-token"
    output = provision(tree, env, expect=2)
    assert "HTTP 401" in output and "check GRAFANA_TOKEN" in output
    assert writes(grafana, loki) == []


def test_an_unreachable_grafana_is_retried_then_reported_without_writing(tree: Tree, env: dict,
                                                                         loki: FakeLokiRuler) -> None:
    closed = free_port()  # nothing listens there
    env["GRAFANA_URL"] = f"http://127.0.0.1:{closed}"
    output = provision(tree, env, expect=1)
    assert "cannot connect" in output and "still failing after 4 attempt(s)" in output
    assert "nothing was written" in output and writes(loki) == []


def test_a_404_that_is_not_an_empty_ruler_aborts_before_any_write(tree: Tree, env: dict, grafana: FakeGrafana,
                                                                  loki: FakeLokiRuler) -> None:
    env["LOKI_URL"] = loki.url + "/wrong-prefix"
    output = provision(tree, env, expect=3)
    assert "ABORTED before any write" in output and "LOKI_URL is not a Loki with the ruler API" in output
    assert writes(grafana, loki) == []  # Grafana was planned first, yet nothing was written there either


def test_an_empty_ruler_where_rules_were_applied_aborts_instead_of_recreating(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    provision(tree, env)
    loki.wipe()
    reset_logs(grafana, loki)
    output = provision(tree, env, expect=3)
    assert "tenant 'fake' has no rule groups" in output and "obsctl applied 2 there" in output
    assert writes(grafana, loki) == []
    provision(tree, env, "--force")
    assert set(loki.groups("fake", "telegram-bot")) == {"forbidden-patterns", "error-rate"}


def test_a_changed_tenant_aborts_instead_of_provisioning_a_second_copy(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    provision(tree, env)
    env["LOKI_TENANT"] = "typo"
    output = provision(tree, env, expect=3)
    assert "last provisioned at" in output and "tenants=fake" in output and "tenants=typo" in output
    assert loki.groups("typo", "telegram-bot") == {}


def test_grafana_losing_every_managed_dashboard_aborts(tree: Tree, env: dict, grafana: FakeGrafana,
                                                       loki: FakeLokiRuler) -> None:
    provision(tree, env)
    grafana.dashboards.clear()
    grafana.folders.clear()
    output = provision(tree, env, expect=3)
    assert "has none of the 2 dashboards obsctl applied there" in output


# --- configuration and secrets -----------------------------------------------------------------------------------


def test_tokens_are_never_shown_by_the_secret_type_or_the_targets() -> None:
    targets = targets_from_env({"GRAFANA_URL": "https://grafana.example", "GRAFANA_TOKEN": GRAFANA_TOKEN,
                                "LOKI_URL": "http://loki:3100", "LOKI_TOKEN": LOKI_TOKEN})
    for text in (repr(targets), str(targets), repr(Secret(GRAFANA_TOKEN)), f"{Secret(GRAFANA_TOKEN)}"):
        assert GRAFANA_TOKEN not in text and LOKI_TOKEN not in text
    assert targets.redact(f"oops {GRAFANA_TOKEN} {LOKI_TOKEN}") == "oops *** ***"


@pytest.mark.parametrize(("env", "names"), [
    ({"GRAFANA_URL": "https://grafana.example"}, "GRAFANA_TOKEN"),
    ({"GRAFANA_URL": "grafana.example", "GRAFANA_TOKEN": "t"}, "GRAFANA_URL"),
    ({"GRAFANA_URL": "https://admin:pw@grafana.example", "GRAFANA_TOKEN": "t"}, "GRAFANA_URL"),
    ({"PROMETHEUS_URL": "http://prom:9090"}, "PROMETHEUS_RULES_DIR"),
    ({"OBSCTL_HTTP_TIMEOUT": "soon"}, "OBSCTL_HTTP_TIMEOUT"),
])
def test_a_bad_configuration_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        targets_from_env(env)


def test_no_target_configured_is_an_error(tree: Tree) -> None:
    result = obsctl(tree, base_env(tree), "provision")
    assert result.exit_code == 2 and "no target configured" in result.output


def test_retries_back_off_and_give_up_with_the_cause() -> None:
    waits: list[float] = []
    calls = iter([TransientError("HTTP 503"), TransientError("HTTP 503"), "ok"])

    def flaky() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert with_retries("x", flaky, RetryPolicy(attempts=3, first_delay=0.5), sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0]
    with pytest.raises(TransientError, match="still failing after 2 attempt"):
        with_retries("x", lambda: (_ for _ in ()).throw(TransientError("HTTP 500")), RetryPolicy(2, 0),
                     sleep=waits.append)


def test_the_committed_generated_tree_is_discovered_by_path() -> None:
    desired = discover(REPO_ROOT, env={name: "x" for name in _datasource_env_names()})
    assert {g.name for g in desired.loki_groups} >= {"forbidden-patterns", "error-rate"}
    assert all(g.tenant == "fake" and g.namespace == "telegram-bot" for g in desired.loki_groups)
    assert desired.dashboards and all(d.source == f"dashboards/{d.uid}.json" for d in desired.dashboards)
    assert "Loki" in {d.name for d in desired.datasources} and desired.folder_title
    assert [f.source for f in desired.prometheus_rules] == ["alerts/prometheus/rules.yaml"]  # not its tests file
    assert desired.alertmanager_config and desired.alertmanager_config.source.startswith("alerts/alertmanager/")


def _datasource_env_names() -> list[str]:
    names = []
    for path in (REPO_ROOT / "dashboards/provisioning").rglob("*.yaml"):
        names += re.findall(r"\$\{(\w+)\}", path.read_text())
    return names


# --- real Prometheus and Alertmanager: files + /-/reload --------------------------------------------------------


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready: {log.read_text()[-2000:]}")


@pytest.fixture
def metrics_servers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    prometheus = require_tool("prometheus")
    alertmanager = require_tool("prometheus-alertmanager")
    require_tool("promtool")
    require_tool("amtool")
    rules_dir = tmp_path / "prom-rules"
    rules_dir.mkdir()
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"evaluation_interval": "1m"}, "rule_files": [f"{rules_dir}/*.yaml", f"{rules_dir}/*.yml"]}))
    am_dir = tmp_path / "am"
    am_dir.mkdir()
    (am_dir / "alertmanager.yml").write_text(f"# {GENERATED_HEADER}\nroute:\n  receiver: x\nreceivers:\n  - name: x\n")
    prom_port, am_port = free_port(), free_port()
    processes = []
    for command, log in (
        ([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{prom_port}",
          f"--storage.tsdb.path={tmp_path / 'tsdb'}", "--web.enable-lifecycle"], tmp_path / "prometheus.log"),
        ([alertmanager, f"--config.file={am_dir / 'alertmanager.yml'}", f"--web.listen-address=127.0.0.1:{am_port}",
          "--cluster.listen-address=", f"--storage.path={tmp_path / 'am-data'}"], tmp_path / "alertmanager.log"),
    ):
        with log.open("wb") as handle:
            processes.append((subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT), log))
    try:
        _wait_ready(f"http://127.0.0.1:{prom_port}", *processes[0])
        _wait_ready(f"http://127.0.0.1:{am_port}", *processes[1])
        yield {"rules_dir": rules_dir, "am_config": am_dir / "alertmanager.yml",
               "prometheus": f"http://127.0.0.1:{prom_port}", "alertmanager": f"http://127.0.0.1:{am_port}"}
    finally:
        for process, _ in processes:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=10)


def _reload_time(url: str, prefix: str) -> float:
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{prefix}_config_last_reload_success_timestamp_seconds "):
            return float(line.split()[1])
    raise AssertionError("no reload metric")


def test_rule_files_and_alertmanager_config_are_written_and_reloaded_for_real(
        tree: Tree, metrics_servers: dict[str, Any]) -> None:
    tree.prometheus_rules = PROMETHEUS_RULES
    tree.alertmanager = ALERTMANAGER_CONFIG
    tree.write()
    foreign = metrics_servers["rules_dir"] / "team-rules.yml"
    foreign.write_text("groups: []\n")
    env = base_env(tree)
    env.update(PROMETHEUS_RULES_DIR=str(metrics_servers["rules_dir"]), PROMETHEUS_URL=metrics_servers["prometheus"],
               ALERTMANAGER_CONFIG=str(metrics_servers["am_config"]), ALERTMANAGER_URL=metrics_servers["alertmanager"])

    output = provision(tree, env, "--prune")
    assert "create    prometheus rule file rules.yaml" in output, output
    # The Alertmanager file existed but was obsctl's (header): an update, no --force needed.
    assert "update    alertmanager config alertmanager.yml  (content)" in output
    rules = requests.get(f"{metrics_servers['prometheus']}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert [g["name"] for g in rules] == ["health"]
    status = requests.get(f"{metrics_servers['alertmanager']}/api/v2/status", timeout=5).json()
    assert "tier4-escalation" in status["config"]["original"]
    assert foreign.read_text() == "groups: []\n"  # not obsctl's: --prune leaves it

    assert metrics_servers["rules_dir"].joinpath("rules.yaml").stat().st_mode & 0o777 == 0o644
    assert metrics_servers["am_config"].stat().st_mode & 0o777 == 0o640  # holds secrets: not world-readable

    reloaded = (_reload_time(metrics_servers["prometheus"], "prometheus"),
                _reload_time(metrics_servers["alertmanager"], "alertmanager"))
    again = provision(tree, env, "--prune")
    assert "plan: 0 create, 0 update, 0 delete, 2 unchanged" in again
    assert (_reload_time(metrics_servers["prometheus"], "prometheus"),
            _reload_time(metrics_servers["alertmanager"], "alertmanager")) == reloaded  # no reload either

    rules_file = metrics_servers["rules_dir"] / "rules.yaml"
    rules_file.write_text(rules_file.read_text().replace("for: 2m", "for: 10m"))
    drift = obsctl(tree, env, "drift")
    assert drift.exit_code == 1 and "drifted   prometheus rule file rules.yaml  (content)" in drift.output
    assert provision(tree, env, expect=4).count("REFUSED") == 1


def test_a_rule_file_promtool_rejects_is_never_written(tree: Tree, metrics_servers: dict[str, Any]) -> None:
    tree.prometheus_rules = PROMETHEUS_RULES.replace("probe_success == 0", "probe_success ==")
    tree.write()
    env = base_env(tree)
    env.update(PROMETHEUS_RULES_DIR=str(metrics_servers["rules_dir"]), PROMETHEUS_URL=metrics_servers["prometheus"])
    result = obsctl(tree, env, "provision")
    assert result.exit_code == 1 and "promtool rejects alerts/prometheus/rules.yaml" in result.output
    assert list(metrics_servers["rules_dir"].iterdir()) == []


def test_a_reload_the_server_rejects_restores_the_previous_files(tree: Tree,
                                                                 metrics_servers: dict[str, Any]) -> None:
    tree.prometheus_rules = PROMETHEUS_RULES
    tree.write()
    env = base_env(tree)
    env.update(PROMETHEUS_RULES_DIR=str(metrics_servers["rules_dir"]), PROMETHEUS_URL=metrics_servers["prometheus"])
    # Someone else's broken file in the same folder makes Prometheus refuse any reload.
    (metrics_servers["rules_dir"] / "broken.yml").write_text("groups: [{name: x, rules: [{alert: A, expr: '('}]}]\n")
    output = provision(tree, env, expect=1)
    assert "the previous files were restored" in output
    assert not (metrics_servers["rules_dir"] / "rules.yaml").exists()
    assert "not applied create    prometheus rule file rules.yaml" in output
    assert "applied   create    prometheus rule file rules.yaml" not in output  # never reported both ways


# --- issue 13: as real servers behave ----------------------------------------------------------------------------

OWNER, GROUP = 4242, 4343  # a service account other than root (tests run as root, so chown works)


def metrics_env(tree: Tree, servers: dict[str, Any], prometheus: bool = True,
                alertmanager: bool = True) -> dict[str, str | None]:
    env = base_env(tree)
    if prometheus:
        env.update(PROMETHEUS_RULES_DIR=str(servers["rules_dir"]), PROMETHEUS_URL=servers["prometheus"])
    if alertmanager:
        env.update(ALERTMANAGER_CONFIG=str(servers["am_config"]), ALERTMANAGER_URL=servers["alertmanager"])
    return env


def reload_requests(alertmanager_url: str) -> int:
    """POST /-/reload requests Alertmanager has served (its own HTTP metrics)."""
    prefix = 'alertmanager_http_request_duration_seconds_count{handler="/-/reload",method="post"} '
    for line in requests.get(f"{alertmanager_url}/metrics", timeout=5).text.splitlines():
        if line.startswith(prefix):
            return int(float(line[len(prefix):]))
    return 0


def test_without_grafana_the_datasource_variables_are_not_needed(tree: Tree, loki: FakeLokiRuler) -> None:
    env = base_env(tree)
    env.update(FIXTURE_LOKI_URL=None, FIXTURE_LOKI_PASSWORD=None, LOKI_URL=loki.url)
    assert "grafana: GRAFANA_URL not set: skipped" in provision(tree, env)
    drift = obsctl(tree, env, "drift")
    assert drift.exit_code == 0, drift.output


def test_grafana_datasources_read_their_own_variables_not_obsctls_targets() -> None:
    text = (REPO_ROOT / "dashboards/provisioning/datasources/telegram-bot.yaml").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == {
        "GRAFANA_LOKI_URL", "GRAFANA_LOKI_USER", "GRAFANA_LOKI_PASSWORD",
        "GRAFANA_PROMETHEUS_URL", "GRAFANA_PROMETHEUS_USER", "GRAFANA_PROMETHEUS_PASSWORD",
        "GRAFANA_ALERTMANAGER_URL", "GRAFANA_ALERTMANAGER_USER", "GRAFANA_ALERTMANAGER_PASSWORD",
        "GRAFANA_BOT_DB_HOST", "GRAFANA_BOT_DB_NAME", "GRAFANA_BOT_DB_USER", "GRAFANA_BOT_DB_PASSWORD",
        "GRAFANA_BOT_DB_SSLMODE"}
    assert "LOKI_URL" in ENV_VARS and "GRAFANA_LOKI_URL" not in ENV_VARS


def test_rewritten_files_keep_owner_and_group_and_secrets_are_not_world_readable(
        tree: Tree, metrics_servers: dict[str, Any]) -> None:
    tree.prometheus_rules = PROMETHEUS_RULES
    tree.alertmanager = ALERTMANAGER_CONFIG
    tree.write()
    am_config, rules_dir = metrics_servers["am_config"], metrics_servers["rules_dir"]
    os.chown(am_config, OWNER, GROUP)
    am_config.chmod(0o644)
    os.chown(rules_dir, OWNER + 1, GROUP + 1)  # a new file takes the folder's owner and group
    provision(tree, metrics_env(tree, metrics_servers))
    stat = am_config.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (OWNER, GROUP, 0o640)
    stat = (rules_dir / "rules.yaml").stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (OWNER + 1, GROUP + 1, 0o644)


def test_a_rollback_puts_back_owner_group_and_mode(tree: Tree, metrics_servers: dict[str, Any]) -> None:
    tree.prometheus_rules = PROMETHEUS_RULES
    tree.write()
    previous = metrics_servers["rules_dir"] / "rules.yaml"
    previous.write_text(PROMETHEUS_RULES.replace("for: 2m", "for: 5m"))
    os.chown(previous, OWNER, GROUP)
    previous.chmod(0o640)
    (metrics_servers["rules_dir"] / "broken.yml").write_text("groups: [{name: x, rules: [{alert: A, expr: '('}]}]\n")
    output = provision(tree, metrics_env(tree, metrics_servers, alertmanager=False), expect=1)
    assert "the previous files were restored" in output
    stat = previous.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (OWNER, GROUP, 0o640)
    assert "for: 5m" in previous.read_text()


@pytest.mark.parametrize(("wrong", "variable", "expected"), [
    ("PROMETHEUS_URL", "alertmanager", "is not a Prometheus"),
    ("ALERTMANAGER_URL", "prometheus", "is not an Alertmanager"),
])
def test_a_reload_url_of_the_wrong_server_aborts_before_any_write(
        tree: Tree, metrics_servers: dict[str, Any], wrong: str, variable: str, expected: str) -> None:
    tree.prometheus_rules = PROMETHEUS_RULES
    tree.alertmanager = ALERTMANAGER_CONFIG
    tree.write()
    env = metrics_env(tree, metrics_servers)
    env[wrong] = metrics_servers[variable]
    before = metrics_servers["am_config"].read_text()
    output = provision(tree, env, expect=3)
    assert "ABORTED before any write" in output and wrong in output and expected in output
    assert list(metrics_servers["rules_dir"].iterdir()) == []
    assert metrics_servers["am_config"].read_text() == before
    assert reload_requests(metrics_servers["alertmanager"]) == 0


def test_alertmanager_refusing_a_config_is_not_retried_and_not_reported_as_applied(
        tree: Tree, metrics_servers: dict[str, Any]) -> None:
    # amtool checks the config in a scratch folder; next to the live file, a broken template makes Alertmanager
    # answer 500 "failed to reload config" (checked with Alertmanager 0.25).
    tree.alertmanager = ALERTMANAGER_CONFIG + "templates: ['templates/*.tmpl']\n"
    tree.write()
    templates = metrics_servers["am_config"].parent / "templates"
    templates.mkdir()
    (templates / "broken.tmpl").write_text('{{ define "x" }}{{ .Foo \n')
    output = provision(tree, metrics_env(tree, metrics_servers, prometheus=False), expect=1)
    assert "failed to reload config" in output and "still failing" not in output
    assert reload_requests(metrics_servers["alertmanager"]) == 2  # the refused one, then the restored config
    assert "applied   update    alertmanager config" not in output
    assert "not applied update    alertmanager config alertmanager.yml" in output


def test_a_rule_file_with_an_invalid_regex_is_refused_before_any_write(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    tree.groups["telegram-bot"][1]["rules"][0]["expr"] = \
        'sum(count_over_time({service="telegram-bot"} |~ `timeout(` [5m])) > 0'
    tree.write()
    output = provision(tree, env, expect=2)
    assert "loki/rules/fake/telegram-bot.yaml: group 'error-rate' rules[0] (ErrorRate): regex 'timeout('" in output
    assert "does not compile in RE2: missing ): timeout(" in output
    assert writes(grafana, loki) == []


def test_a_logql_syntax_error_in_any_group_writes_nothing(tree: Tree, env: dict, grafana: FakeGrafana,
                                                          loki: FakeLokiRuler) -> None:
    tree.groups["telegram-bot"][1]["rules"][0]["expr"] = 'sum(count_over_time({service="telegram-bot"} |= [5m]))'
    tree.write()
    output = provision(tree, env, expect=2)
    assert "group 'error-rate' rules[0] (ErrorRate): LogQL does not parse" in output
    assert writes(grafana, loki) == [] and loki.groups("fake", "telegram-bot") == {}


def test_a_rule_in_error_on_the_ruler_fails_provision_and_shows_in_drift(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    provision(tree, env)
    loki.fail_evaluation("fake", "telegram-bot", "error-rate", "rule evaluation failed: context deadline exceeded")
    output = provision(tree, env, expect=1)
    assert ("UNHEALTHY loki ruler rule group fake/telegram-bot/error-rate: rule ErrorRate: "
            "rule evaluation failed: context deadline exceeded") in output
    assert "nothing to do" not in output
    drift = obsctl(tree, env, "drift")
    assert drift.exit_code == 1
    assert "UNHEALTHY loki ruler rule group fake/telegram-bot/error-rate: rule ErrorRate" in drift.output


def test_rules_the_ruler_has_not_loaded_yet_are_noted_not_failed(tree: Tree, env: dict,
                                                                 loki: FakeLokiRuler) -> None:
    loki.sync_on_write = False
    output = provision(tree, env)
    assert ("note      loki ruler: 2 rule group(s) not evaluated by the ruler yet (it loads new rules at its next "
            "poll): `obsctl drift` reports any rule in error") in output


def test_a_group_name_the_ruler_api_cannot_address_is_refused(tree: Tree, env: dict, grafana: FakeGrafana,
                                                              loki: FakeLokiRuler) -> None:
    tree.groups["telegram-bot"].append(rule_group("team/errors"))
    tree.write()
    output = provision(tree, env, expect=2)
    assert "loki/rules/fake/telegram-bot.yaml: group 'team/errors'" in output and "cannot contain '/'" in output
    assert writes(grafana, loki) == []


def test_a_live_group_the_api_cannot_delete_is_not_reported_as_deleted(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    provision(tree, env)
    loki.put_group("fake", "telegram-bot", rule_group("made/by-hand"))
    output = provision(tree, env, "--prune", "--force")
    assert "delete    loki ruler rule group fake/telegram-bot/made/by-hand" not in output
    assert ("note      loki ruler: rule group fake/telegram-bot/made/by-hand cannot be deleted through the API "
            "(its name contains '/'): remove it from the ruler's storage") in output
    assert "made/by-hand" in loki.groups("fake", "telegram-bot")


def test_a_router_404_on_delete_is_an_error_not_already_gone(tree: Tree, env: dict, grafana: FakeGrafana,
                                                             loki: FakeLokiRuler) -> None:
    provision(tree, env)
    tree.groups["telegram-bot"].pop(0)
    tree.write()
    loki.inject("DELETE", "/loki/api/v1/rules/", status=404, body="404 page not found\n")
    output = provision(tree, env, "--prune", expect=1)
    assert "FAILED    delete    loki ruler rule group fake/telegram-bot/forbidden-patterns" in output
    assert "404 page not found" in output
    state = json.loads((tree.root / ".obsctl/state.json").read_text())
    assert "fake/telegram-bot/forbidden-patterns" in state["backends"]["loki ruler"]["objects"]


def test_the_stores_group_does_not_exist_on_delete_counts_as_already_gone(
        tree: Tree, env: dict, grafana: FakeGrafana, loki: FakeLokiRuler) -> None:
    # Object stores whose Delete reports a missing object make the ruler answer 404 with ErrGroupNotFound's text.
    provision(tree, env)
    tree.groups["telegram-bot"].pop(0)
    tree.write()
    loki.inject("DELETE", "/loki/api/v1/rules/", status=404, body="group does not exist\n")
    output = provision(tree, env, "--prune")
    assert "applied   delete    loki ruler rule group fake/telegram-bot/forbidden-patterns" in output
    state = json.loads((tree.root / ".obsctl/state.json").read_text())
    assert "fake/telegram-bot/forbidden-patterns" not in state["backends"]["loki ruler"]["objects"]


def test_pending_deletes_are_not_called_nothing_to_do(tree: Tree, env: dict, grafana: FakeGrafana,
                                                      loki: FakeLokiRuler) -> None:
    provision(tree, env)
    del tree.dashboards[1]
    tree.write()
    output = provision(tree, env)
    assert "nothing to do" not in output
    assert "nothing written: 1 delete(s) kept; run with --prune to delete them" in output


@pytest.mark.parametrize("tenant", [None, "team-a"])
def test_a_ruler_without_auth_is_one_tenant_and_the_plan_says_so(tree: Tree, tenant: str | None) -> None:
    ruler = FakeLokiRuler(auth_enabled=False).start()
    try:
        env = base_env(tree)
        env.update(FIXTURE_LOKI_URL=None, FIXTURE_LOKI_PASSWORD=None, LOKI_URL=ruler.url, LOKI_TENANT=tenant)
        output = provision(tree, env)
        assert ("note      loki ruler: this Loki runs with auth_enabled: false: it ignores X-Scope-OrgID and keeps "
                "every rule group in tenant 'fake'") in output
        assert f"target    loki ruler: {ruler.url} tenants=fake" in output
        assert set(ruler.groups("fake", "telegram-bot")) == {"forbidden-patterns", "error-rate"}
        if tenant:
            assert "LOKI_TENANT 'team-a' is tenant 'fake' here" in output
    finally:
        ruler.stop()


# --- opt-in: a real Grafana (and Loki, when LOKI_URL is set too) -------------------------------------------------


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("GRAFANA_URL"), reason="set GRAFANA_URL and GRAFANA_TOKEN to run")
def test_live_stack_apply_then_reapply_writes_nothing(tmp_path: Path) -> None:
    """Against a real Grafana (and a real Loki ruler when LOKI_URL is set; it needs object-storage rules):
    apply a one-dashboard tree into its own folder and namespace, re-apply (nothing to do), then prune it away.
    Prometheus/Alertmanager variables are ignored here: their reload path is tested above with real servers."""
    live_tree = Tree(tmp_path / "repo")
    live_tree.dashboards = [dashboard("obsctl-live-test", "obsctl live test")]
    live_tree.datasources = []
    live_tree.groups = {"obsctl-live-test": [rule_group("obsctl-live-test")]}
    live_tree.write()
    (live_tree.root / "dashboards/provisioning/datasources/telegram-bot.yaml").unlink()
    env = {name: os.environ.get(name) for name in ENV_VARS}
    env.update(GRAFANA_FOLDER="obsctl live test", OBSCTL_STATE_FILE=str(tmp_path / "state.json"),
               PROMETHEUS_RULES_DIR=None, PROMETHEUS_URL=None, ALERTMANAGER_CONFIG=None, ALERTMANAGER_URL=None)
    first = obsctl(live_tree, env, "provision")
    assert first.exit_code == 0, first.output
    second = obsctl(live_tree, env, "provision")
    assert second.exit_code == 0 and "nothing to do" in second.output, second.output
    drift = obsctl(live_tree, env, "drift")
    assert drift.exit_code == 0, drift.output
    live_tree.dashboards, live_tree.groups = [], {}
    live_tree.write()
    cleanup = obsctl(live_tree, env, "provision", "--prune")
    assert cleanup.exit_code == 0 and "delete    grafana dashboard obsctl-live-test" in cleanup.output, cleanup.output
