"""The local stack (docker-compose.yml) and its generated configs, checked without a Docker engine.

- docker-compose.yml: `docker-compose config -q` with the committed .env.example; every mounted file exists or is
  generated; mounts, targets and variables agree with the generated configs; images pinned; ports on loopback;
  health checks everywhere;
- the generated configs: `promtool check config` (with the generated rules), `amtool check-config`, the Alloy
  config parsed back (components, references, masking, labels, level extraction), the Loki config (retention,
  ruler storage);
- the demo bot: its schema in a real PostgreSQL with the seed's queries, its /health and /webhook served on
  loopback, and its log output, masked as Alloy masks it, fed to the offline LogQL engine with the generated Loki
  rules: every incident fires exactly the alerts it is meant to, normal traffic fires none.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest
import yaml

from generator import conventions, pipeline
from generator.artifacts import exporters, grafana_provisioning, loki_rules, stack
from generator.artifacts.base import yaml_document
from generator.checks import stack as stack_checks
from generator.conventions import DASHBOARD_DIR, GENERATED_HEADER
from generator.logql_engine import LogStore, evaluate_rules, parse_rule_groups
from generator.logs.inputs import parse_syslog_line
from generator.pipeline import plan_for
from generator.plan import log_format, privacy
from generator.syntax import alloy as alloy_syntax
from generator.syntax import redaction
from generator.truth import Truth, load_truth
from generator.truth.types import Duration, compile_re2
from tests.artifacts.alloy_process import AlloyPipeline, Entry, selector_matches
from tests.integration.metrics_stack import PG_BIN, wait_until
from tests.tooling import free_port, require_tool

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:-[a-z0-9.]+)*$")  # exact release, optional variant (-slim-bookworm)
# PostgreSQL releases are MAJOR.MINOR: 17.6 is an exact release, 17 would float.
TWO_PART_RELEASES = {"postgres": re.compile(r"^\d+\.\d+(?:-[a-z0-9.]+)*$")}
SIM_START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
NS = 1_000_000_000


# --- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """docker-compose.yml as docker-compose resolves it, credentials from a temporary copy of .env.example."""
    tool = require_tool("docker-compose")
    env_file = tmp_path_factory.mktemp("env") / ".env"
    shutil.copy(REPO / ".env.example", env_file)
    done = subprocess.run([tool, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert isinstance(resolved, dict)
    return resolved


@pytest.fixture(scope="module")
def demo_bot() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_bot", REPO / "demo/bot.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_bot"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(compose["services"][name])


def mounts(compose: dict[str, Any], name: str) -> dict[str, str]:
    """Container path -> source (absolute host path, or a named volume) of one service."""
    found = {}
    for volume in service(compose, name).get("volumes", []):
        parts = volume.split(":") if isinstance(volume, str) else [volume["source"], volume["target"]]
        found[parts[1]] = parts[0]
    return found


def repo_relative(source: str) -> str:
    return Path(source).resolve().relative_to(REPO).as_posix()


# --- docker-compose.yml ------------------------------------------------------------------------------------------


def test_compose_file_validates_with_the_committed_env_example(compose: dict[str, Any]) -> None:
    tool = require_tool("docker-compose")
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / ".env"
        shutil.copy(REPO / ".env.example", env_file)
        done = subprocess.run([tool, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = {"grafana", "loki", "alloy", "prometheus", "alertmanager", "blackbox-exporter", "json-exporter",
                "postgres", "postgres-exporter", "bot", "tls-init"}
    assert set(compose["services"]) == expected


def test_compose_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    tool = require_tool("docker-compose")
    (tmp_path / ".env").write_text("")
    done = subprocess.run([tool, "--env-file", str(tmp_path / ".env"), "-f", str(COMPOSE_FILE), "config", "-q"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "GRAFANA_"))})
    assert done.returncode != 0
    assert "set POSTGRES_" in done.stderr or "set GRAFANA_" in done.stderr


def test_every_mounted_file_exists_in_the_repo_or_is_generated(compose: dict[str, Any], truth: Truth) -> None:
    generated_paths = {a.path for a in pipeline.render_all(truth)}
    missing = []
    for name in compose["services"]:
        for target, source in mounts(compose, name).items():
            if not source.startswith("/"):
                assert source in compose["volumes"], f"{name}: {target} uses undeclared volume {source}"
                continue
            rel = repo_relative(source)
            exists = (REPO / rel).exists() or rel in generated_paths or any(
                p.startswith(rel + "/") for p in generated_paths)
            if not exists:
                missing.append(f"{name}: {rel} -> {target}")
    assert not missing, missing


def test_every_image_is_pinned_to_an_exact_release(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if "build" in spec:
            dockerfile = Path(spec["build"]["context"]) / spec["build"].get("dockerfile", "Dockerfile")
            bases = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
            assert bases, f"{name}: no FROM in {dockerfile}"
            for base in bases:
                assert PINNED_TAG.match(base.rpartition(":")[2]), f"{name}: base image {base} is not pinned"
            continue
        image = spec["image"]
        repository, _, tag = image.rpartition(":") if ":" in image.rpartition("/")[2] else (image, "", "")
        pattern = TWO_PART_RELEASES.get(repository, PINNED_TAG)
        assert pattern.match(tag), f"{name}: image {image} is not pinned to an exact version"


def test_every_published_port_binds_loopback_only(compose: dict[str, Any]) -> None:
    published = 0
    for name, spec in compose["services"].items():
        for port in spec.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
            assert text.startswith("127.0.0.1:"), f"{name}: port {port} is not bound to 127.0.0.1"
            published += 1
    assert published >= 10


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if name == "tls-init":  # one-shot; the others wait for `service_completed_successfully`
            assert service(compose, "alloy")["depends_on"]["tls-init"]["condition"] == "service_completed_successfully"
            continue
        test = spec.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no health check"


def test_credentials_come_from_env_and_secrets_are_not_inlined() -> None:
    text = COMPOSE_FILE.read_text()
    example = (REPO / ".env.example").read_text()
    for variable in ("GRAFANA_ADMIN_PASSWORD", "POSTGRES_PASSWORD"):
        assert f"${{{variable}" in text and re.search(rf"^{variable}=", example, re.MULTILINE)
    raw = yaml.safe_load(text)
    for name, spec in raw["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            if re.search(r"PASS|TOKEN|SECRET", key):
                assert value in ("", None) or re.fullmatch(r"\$\{[A-Z_]+(?::[?-][^}]*)?\}", str(value)), \
                    f"{name}: {key} is inlined instead of coming from .env"
    assert ".env" in (REPO / ".gitignore").read_text().split()


# --- mounts agree with the generated configs ---------------------------------------------------------------------


def test_loki_reads_the_generated_rules_at_the_tenant_path(compose: dict[str, Any], truth: Truth) -> None:
    loki = mounts(compose, "loki")
    assert repo_relative(loki[stack.LOKI_RULES_DIR]) == "loki/rules"
    rule_file = PurePosixPath(conventions.loki_rule_file(truth))
    in_container = PurePosixPath(stack.LOKI_RULES_DIR) / rule_file.relative_to("loki/rules")
    assert fnmatch(str(in_container), f"/loki/rules/{truth.logs.tenant}/*.yaml")
    config_flag = next(a for a in service(compose, "loki")["command"] if a.startswith("-config.file="))
    assert repo_relative(loki[config_flag.split("=", 1)[1]]) == conventions.LOKI_CONFIG_PATH
    assert loki[stack.LOKI_DATA_DIR] == "loki-data"


def test_grafana_mounts_the_generated_dashboards_where_the_provider_reads_them(compose: dict[str, Any],
                                                                                truth: Truth) -> None:
    grafana = mounts(compose, "grafana")
    provider_path = grafana_provisioning.dashboards_document(truth)["providers"][0]["options"]["path"]
    assert repo_relative(grafana[provider_path]) == DASHBOARD_DIR
    for kind in ("datasources", "dashboards"):  # only these two: the image keeps its alerting/plugins folders
        mounted = repo_relative(grafana[f"/etc/grafana/provisioning/{kind}"])
        assert mounted == f"{conventions.GRAFANA_PROVISIONING_DIR}/{kind}"
    assert "/etc/grafana/provisioning" not in grafana
    environment = service(compose, "grafana")["environment"]
    for spec in grafana_provisioning.datasource_specs(truth).values():
        for variable in spec.env_vars():
            assert variable in environment, f"datasource {spec.name} reads ${variable}, unset in the stack"
    for variable in ("GRAFANA_LOKI_URL", "GRAFANA_PROMETHEUS_URL", "GRAFANA_ALERTMANAGER_URL"):
        host = environment[variable].split("//", 1)[1].split(":", 1)[0]
        assert host in compose["services"]


def test_alloy_tails_the_file_the_bot_writes_and_reads_its_certificate(compose: dict[str, Any],
                                                                       generated: Path) -> None:
    bot, alloy = mounts(compose, "bot"), mounts(compose, "alloy")
    assert bot[stack.BOT_LOG_DIR] == alloy[stack.BOT_LOG_DIR] == "bot-logs"
    assert alloy[stack.ALLOY_TLS_DIR] == "tls" and mounts(compose, "tls-init")["/tls"] == "tls"
    config_path = next(a for a in service(compose, "alloy")["command"] if a.endswith(".alloy"))
    assert repo_relative(alloy[config_path]) == conventions.ALLOY_CONFIG_PATH
    blocks = alloy_syntax.parse((generated / conventions.ALLOY_CONFIG_PATH).read_text())
    file_match = next(b for b in blocks if b.name == "local.file_match")
    pattern = file_match.attributes["path_targets"][0]["__path__"]
    assert fnmatch(service(compose, "bot")["environment"]["DEMO_LOG_FILE"], pattern)
    syslog = next(b for b in blocks if b.name == "loki.source.syslog").blocks[0]
    tls = syslog.find("tls_config")[0].attributes
    assert {tls["cert_file"], tls["key_file"]} == {f"{stack.ALLOY_TLS_DIR}/syslog.crt",
                                                   f"{stack.ALLOY_TLS_DIR}/syslog.key"}
    port = syslog.attributes["address"].rsplit(":", 1)[1]
    assert any(p.endswith(f":{port}/tcp") for p in service(compose, "alloy")["ports"])


def test_prometheus_and_exporters_mount_the_generated_configs(compose: dict[str, Any], generated: Path) -> None:
    prometheus = mounts(compose, "prometheus")
    flag = next(a for a in service(compose, "prometheus")["command"] if a.startswith("--config.file="))
    container_config = PurePosixPath(flag.split("=", 1)[1])
    mount_target = next(t for t in prometheus if container_config.is_relative_to(t))
    assert (REPO / repo_relative(prometheus[mount_target]) / container_config.relative_to(mount_target)
            ).as_posix().endswith(conventions.PROMETHEUS_CONFIG_PATH)
    assert "--web.enable-otlp-receiver" in service(compose, "prometheus")["command"]
    expected = {
        "postgres-exporter": conventions.POSTGRES_QUERIES_FILE,
        "blackbox-exporter": conventions.BLACKBOX_FILE,
        "json-exporter": conventions.JSON_EXPORTER_FILE,
    }
    for name, path in expected.items():
        config_flag = next(a for a in service(compose, name)["command"] if a.startswith("--"))
        target = config_flag.split("=", 1)[1]
        assert repo_relative(mounts(compose, name)[target]) == path
    alertmanager_mounts = mounts(compose, "alertmanager")
    flag = next(a for a in service(compose, "alertmanager")["command"] if a.startswith("--config.file="))
    directory, file_name = flag.split("=", 1)[1].rsplit("/", 1)
    assert f"{repo_relative(alertmanager_mounts[directory])}/{file_name}" == conventions.ALERTMANAGER_CONFIG_FILE
    # Every scrape target and the Alertmanager target name a service of the stack.
    config = yaml.safe_load((generated / conventions.PROMETHEUS_CONFIG_PATH).read_text())
    addresses = [t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]]
    addresses += [r["replacement"] for job in config["scrape_configs"] for r in job.get("relabel_configs", [])
                  if r.get("target_label") == "__address__"]
    addresses += [t for am in config["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]]
    for address in addresses:
        host = address.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        assert host == "localhost" or host in compose["services"], f"{address}: not a service of the stack"


# --- generated configs, validated with the real tools ------------------------------------------------------------


def test_stack_configs_are_generated_inside_the_owned_folders_with_the_header(truth: Truth) -> None:
    artifacts = {a.path: a.content for a in stack.render(plan_for(truth))}
    assert set(artifacts) == {conventions.LOKI_CONFIG_PATH, conventions.ALLOY_CONFIG_PATH,
                              conventions.PROMETHEUS_CONFIG_PATH}
    for path, content in artifacts.items():
        assert any(path.startswith(owned + "/") for owned in conventions.OWNED_DIRS)
        comment = "//" if path.endswith(".alloy") else "#"
        assert content.startswith(f"{comment} {GENERATED_HEADER}\n"), path
    assert artifacts == {a.path: a.content for a in stack.render(plan_for(truth))}  # deterministic


def test_generated_prometheus_config_passes_promtool_with_the_generated_rules(generated: Path,
                                                                              truth: Truth) -> None:
    promtool = require_tool("promtool")
    done = subprocess.run([promtool, "check", "config", conventions.PROMETHEUS_CONFIG_PATH], cwd=generated,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules found" in done.stdout  # the rule file was found and loaded, not skipped
    config = yaml.safe_load((generated / conventions.PROMETHEUS_CONFIG_PATH).read_text())
    probe = next(j for j in config["scrape_configs"] if j["job_name"] == conventions.names(truth).health_probe_job)
    assert probe["scrape_interval"] == str(truth.health_check.interval)  # the seed's "every 60 seconds"
    assert probe["static_configs"][0]["targets"] == [f"http://{stack.BOT_ADDRESS}{truth.health_check.path}"]
    jobs = {j["job_name"] for j in config["scrape_configs"]}
    assert {conventions.names(truth).queue_job, conventions.POSTGRES_JOB, "alertmanager"} <= jobs


def test_generated_alertmanager_config_passes_amtool(generated: Path) -> None:
    amtool = require_tool("amtool")
    done = subprocess.run([amtool, "check-config", conventions.ALERTMANAGER_CONFIG_FILE], cwd=generated,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_loki_config_reads_rules_from_local_storage_and_runs_retention(generated: Path, truth: Truth) -> None:
    text = (generated / conventions.LOKI_CONFIG_PATH).read_text()
    assert text.startswith("# generated from product/truth.yaml")
    config = yaml.safe_load(text)
    assert config["compactor"]["retention_enabled"] is True
    assert config["compactor"]["delete_request_store"] == "filesystem"
    assert config["schema_config"]["configs"][0]["index"]["period"] == "24h"  # retention needs 24h index tables
    assert config["auth_enabled"] is False  # tenant `fake`, the folder of the generated rule files
    assert truth.logs.tenant == "fake"
    ruler = config["ruler"]
    assert ruler["storage"] == {"type": "local", "local": {"directory": stack.LOKI_RULES_DIR}}
    assert ruler["rule_path"] != stack.LOKI_RULES_DIR
    assert ruler["alertmanager_url"] == f"http://{stack.ALERTMANAGER_ADDRESS}"


def test_loki_ruler_remote_writes_to_the_prometheus_of_the_stack(compose: dict[str, Any], generated: Path) -> None:
    """The log SLO's recorded rates reach Prometheus: the ruler's remote-write client names the compose service at
    its container port and the receiver's path, and Prometheus runs with the receiver enabled."""
    config = yaml.safe_load((generated / conventions.LOKI_CONFIG_PATH).read_text())
    remote_write = config["ruler"]["remote_write"]
    assert remote_write["enabled"] is True
    assert remote_write["clients"] == {"prometheus": {"url": "http://prometheus:9090/api/v1/write"}}
    assert "prometheus" in compose["services"]
    assert "--web.enable-remote-write-receiver" in service(compose, "prometheus")["command"]
    # Prometheus listens on 9090 in its container (the port its own health check asks).
    assert "http://127.0.0.1:9090/-/ready" in service(compose, "prometheus")["healthcheck"]["test"]


@pytest.mark.parametrize(("remote_write", "messages"), [
    ({}, []),
    ({"enabled": False}, []),
    ({"enabled": True, "clients": {"prometheus": {"url": "http://prometheus:9090/api/v1/write"}}}, []),
    ({"enabled": True, "client": {"url": "http://prometheus:9090/api/v1/write"}}, []),  # deprecated form
    ({"enabled": True}, ["ruler.remote_write: remote-write enabled but no clients URL are configured"]),
    ({"enabled": True, "clients": {"prom": {"remote_timeout": "30s"}}},
     ["ruler.remote_write.clients.prom: remote-write enabled but client 'prom' has no url"]),
])
def test_stack_check_refuses_a_ruler_remote_write_loki_would_refuse(remote_write: dict[str, Any],
                                                                    messages: list[str]) -> None:
    from generator.checks.stack import remote_write_problems

    assert [p.message for p in remote_write_problems(remote_write)] == messages


def retention_period_of(config: dict[str, Any], labels: dict[str, str]) -> float | None:
    """Loki's choice for a stream (grafana/loki pkg/compactor/retention/expiration.go, RetentionPeriodFor): the
    matching retention_stream rule of highest priority (equal priority: the shorter period), else the global
    retention_period; a period of 0 never expires (Expired). Seconds, or None for never deleted."""
    limits = config["limits_config"]
    best: tuple[int, float] | None = None
    for rule in limits.get("retention_stream") or []:
        entry = Entry(labels, "")
        if not selector_matches(rule["selector"], entry):
            continue
        period = Duration.parse(rule["period"]).seconds
        if best is None or rule["priority"] > best[0] or (rule["priority"] == best[0] and period < best[1]):
            best = (rule["priority"], period)
    period = best[1] if best else Duration.parse(limits["retention_period"]).seconds
    return None if period <= 0 else period


def test_each_log_class_becomes_exactly_one_retention_rule_with_its_period(generated: Path, truth: Truth) -> None:
    config = yaml.safe_load((generated / conventions.LOKI_CONFIG_PATH).read_text())
    limits = config["limits_config"]
    streams = limits["retention_stream"]
    label = truth.retention.label
    for log_class in truth.retention.classes:
        selecting = [r for r in streams if selector_matches(r["selector"], Entry({label: log_class.id}, ""))]
        kept = retention_period_of(config, {**truth.service.log_labels, label: log_class.id})
        if log_class.keeps_forever:
            # its one rule is the global period, 0s: "never deleted", not Loki's 30-day default nor a large number
            assert selecting == [] and limits["retention_period"] == "0s" and kept is None, log_class.id
        else:
            assert len(selecting) == 1, (log_class.id, selecting)
            assert kept == log_class.period.seconds == Duration.parse(selecting[0]["period"]).seconds  # type: ignore[union-attr]
            assert Duration.parse(selecting[0]["period"]).seconds >= 86400  # Loki refuses shorter stream periods
    assert len(streams) == len([c for c in truth.retention.classes if not c.keeps_forever])
    assert sorted(r["priority"] for r in streams) == list(range(1, len(streams) + 1))
    assert stack_checks.retention_problems(config) == []


def test_loki_check_refuses_what_loki_refuses() -> None:
    too_short = {"limits_config": {"retention_stream": [{"selector": '{a="b"}', "priority": 1, "period": "12h"}]},
                 "compactor": {"retention_enabled": True}}
    assert any("under 24h" in p.message for p in stack_checks.retention_problems(too_short))
    disabled = {"limits_config": {"retention_stream": [{"selector": '{a="b"}', "priority": 1, "period": "48h"}]},
                "compactor": {"retention_enabled": False}}
    assert any("retention_enabled" in p.message for p in stack_checks.retention_problems(disabled))


def test_changing_a_period_in_truth_changes_the_loki_config(tmp_path: Path) -> None:
    text = (REPO / "product/truth.yaml").read_text()
    changed = text.replace("      period: 30d\n", "      period: 90d\n", 1)
    assert changed != text
    (tmp_path / "truth.yaml").write_text(changed)
    before = yaml.safe_load(yaml_document(stack.loki_config(load_truth(REPO / "product/truth.yaml"))))
    after = yaml.safe_load(yaml_document(stack.loki_config(load_truth(tmp_path / "truth.yaml"))))
    rule = '{log_class="database_logs"}'
    assert {r["selector"]: r["period"] for r in before["limits_config"]["retention_stream"]}[rule] == "720h"
    assert {r["selector"]: r["period"] for r in after["limits_config"]["retention_stream"]}[rule] == "2160h"


def test_prometheus_keeps_metrics_longer_than_the_longest_slo_window(compose: dict[str, Any], truth: Truth) -> None:
    command = service(compose, "prometheus")["command"]
    flags = [a.split("=", 1)[1] for a in command if a.startswith("--storage.tsdb.retention.time=")]
    assert len(flags) == 1, command
    kept = Duration.parse(flags[0])
    assert kept == stack.prometheus_retention(truth), "docker-compose.yml disagrees with the truth: update the flag"
    longest = max(truth.slos.uptime.period.seconds, truth.slos.error_ratio.period.seconds,
                  *(w.long.seconds for w in truth.slos.burn_rate_windows))
    assert kept.seconds >= longest + truth.retention.metrics_margin.seconds
    assert kept.seconds > 30 * 86400  # the seed's 30-day SLO window, with room


CLASS_CASES = [
    # (line, class): the seed's payment and migration lines, in both formats, and lines no class claims
    ("2026-11-29 10:00:01,123 - bot.payments - INFO - Payment received user_id=123 operation=payment amount=4.99",
     "transaction_logs"),
    ('{"asctime": "2026-11-29 10:00:01,123", "name": "bot.payments", "levelname": "INFO", '
     '"message": "Payment received", "user_id": 123, "operation": "payment", "amount": "4.99"}', "transaction_logs"),
    ("2026-11-29 10:00:01,123 - bot.billing - INFO - User balance checked balance=*** operation=payment",
     "transaction_logs"),
    ("2026-11-29 10:00:01,123 - alembic.runtime.migration - INFO - Running upgrade 3f2a -> 4b1c, add jobs index",
     "database_logs"),
    ('{"asctime": "2026-11-29 10:00:01,123", "name": "alembic.runtime.migration", "levelname": "INFO", '
     '"message": "Running upgrade 3f2a -> 4b1c, add jobs index"}', "database_logs"),
    ("2026-11-29 10:00:01,123 - bot.db - CRITICAL - Database connection lost: server closed the connection",
     "database_logs"),
    # a payment written by the database layer: both classes claim it, the longest-kept wins
    ('{"asctime": "2026-11-29 10:00:01,123", "name": "bot.db", "levelname": "INFO", '
     '"message": "transaction row written", "operation": "payment"}', "transaction_logs"),
    ("2026-11-29 10:00:01,123 - bot.webhook - INFO - Webhook handled update_id=5 operation=webhook duration_ms=80",
     "render_logs"),
    # look-alikes: the logger name or tag only inside the message
    ("2026-11-29 10:00:01,123 - bot.webhook - INFO - forwarded to bot.payments later operation=webhook",
     "render_logs"),
    ('{"asctime": "2026-11-29 10:00:01,123", "name": "bot.api", "levelname": "INFO", '
     '"message": "see {\\"name\\": \\"bot.payments\\"}"}', "render_logs"),
]


@pytest.mark.parametrize(("line", "expected"), CLASS_CASES)
def test_alloy_labels_each_line_with_its_retention_class(generated: Path, truth: Truth, line: str,
                                                         expected: str) -> None:
    pipeline = AlloyPipeline.from_tree(generated)
    entry = pipeline.push(line, {"source": "file"})
    assert entry.labels[truth.retention.label] == expected, (line, entry.labels)
    # the same line from Render's log stream (RFC 5424 over TLS): the MSG part goes through the same stages
    frame = f"<134>1 2026-11-29T10:00:01.123Z srv-abc telegram-bot 1 - - {line}".encode()
    _ts, message, _labels = parse_syslog_line(frame, "syslog", 1)
    assert pipeline.push(message, {"source": "render"}).labels[truth.retention.label] == expected


def test_retention_class_label_stays_low_cardinality(generated: Path, truth: Truth, demo_bot: ModuleType) -> None:
    pipeline = AlloyPipeline.from_tree(generated)
    seen = {pipeline.push(line).labels[truth.retention.label]
            for line_format in ("text", "json") for _w, line in demo_bot.simulate(10, SIM_START, line_format)}
    assert {"render_logs", "transaction_logs"} <= seen <= {c.id for c in truth.retention.classes}


# --- Alloy: parsed back, masking and levels proven on the truth's own examples -----------------------------------


def test_alloy_config_parses_and_every_reference_resolves(generated: Path) -> None:
    text = (generated / conventions.ALLOY_CONFIG_PATH).read_text()
    assert alloy_syntax.problems(text) == []
    names = {(b.name, b.label) for b in alloy_syntax.parse(text)}
    assert {("loki.source.syslog", "render"), ("loki.source.file", "bot"), ("local.file_match", "bot"),
            ("loki.process", "bot"), ("loki.write", "loki")} == names


def test_alloy_sanity_check_catches_broken_configs() -> None:
    assert alloy_syntax.problems('loki.write "a" {\n  endpoint {\n    url = "x"\n  }\n') != []  # unbalanced
    dangling = 'loki.source.file "f" {\n  targets = []\n  forward_to = [loki.process.missing.receiver]\n}\n'
    assert any("undeclared component" in p for p in alloy_syntax.problems(dangling))
    wrong_export = ('loki.write "w" {\n  endpoint {\n    url = "x"\n  }\n}\n'
                    'loki.source.file "f" {\n  targets = []\n  forward_to = [loki.write.w.targets]\n}\n')
    assert any("does not export" in p for p in alloy_syntax.problems(wrong_export))
    assert any("unknown loki.process stage" in p for p in alloy_syntax.problems(
        'loki.process "p" {\n  forward_to = []\n  stage.nope {\n  }\n}\n'))


def test_alloy_masks_every_secret_and_mask_of_the_truth_at_ingestion(generated: Path, truth: Truth,
                                                                     demo_bot: ModuleType) -> None:
    pipeline = AlloyPipeline.from_tree(generated)
    replaces = pipeline.process.find("stage.replace")
    rules = privacy.redaction_rules(truth)
    assert len(replaces) == len(rules)
    readers = [s for s in pipeline.process.find("stage.json") + pipeline.process.find("stage.regex")]
    assert max(r.line for r in replaces) < min(r.line for r in readers), "masking must come before any reader"
    for stage in replaces:
        compile_re2(stage.attributes["expression"])  # RE2, as Go's regexp in Alloy
    for secret in truth.privacy.never_log:
        for example in secret.examples.match:
            masked = pipeline.push(example).line
            if secret.redact_as:
                assert secret.redact_as in masked, (secret.id, example)
                assert compile_re2(secret.regex).search(masked) is None, (secret.id, masked)
            # the Go-source emulator and the generator's own reading agree
            assert masked == redaction.redact_line(example, rules), example
            if example.lstrip().startswith("{"):
                json.loads(masked)  # still one JSON object: the level and class stages can read it
        for example in secret.examples.no_match:
            assert pipeline.push(example).line == example
    # Forbidden and rate-limited examples carry no secret: masking leaves them alone, so their alerts still match.
    for pattern in [*truth.forbidden_patterns, *truth.rate_limited_patterns]:
        for example in pattern.examples.match:
            assert compile_re2(pattern.regex).search(pipeline.push(example).line), (pattern.id, example)


MASK_CASES = [
    # (raw line, what Loki stores): the seed's `extra={"balance": ...}` in JSON, negative and decimal, and prompts
    ('{"asctime": "2026-11-29 10:00:01,123", "name": "bot.billing", "levelname": "INFO", '
     '"message": "User balance checked", "user_id": 1, "balance": 45.5}',
     '{"asctime": "2026-11-29 10:00:01,123", "name": "bot.billing", "levelname": "INFO", '
     '"message": "User balance checked", "user_id": 1, "balance": "***"}'),
    ('{"name": "bot.billing", "levelname": "INFO", "message": "low", "balance": "-3.50"}',
     '{"name": "bot.billing", "levelname": "INFO", "message": "low", "balance": "***"}'),
    ("2026-11-29 10:00:01,123 - bot.billing - INFO - User balance checked balance=-12.75 user_id=1",
     "2026-11-29 10:00:01,123 - bot.billing - INFO - User balance checked balance=*** user_id=1"),
    ("2026-11-29 10:00:01,123 - bot.billing - INFO - state {'balance': Decimal('45.50'), 'user_id': 1}",
     "2026-11-29 10:00:01,123 - bot.billing - INFO - state {'balance': ***, 'user_id': 1}"),
    ('{"name": "bot.generation", "levelname": "INFO", "message": "generation started", "prompt": "a \\"cat\\"", '
     '"user_id": 7}',
     '{"name": "bot.generation", "levelname": "INFO", "message": "generation started", '
     '"prompt": "<redacted:prompt>", "user_id": 7}'),
    ("2026-11-29 10:00:01,123 - bot.generation - INFO - generation started prompt=a cat in space",
     "2026-11-29 10:00:01,123 - bot.generation - INFO - generation started prompt=<redacted:prompt>"),
    ("2026-11-29 10:00:01,123 - httpx - DEBUG - headers {'Authorization': 'Bearer sk_live_0123456789abcdef0123'}",
     "2026-11-29 10:00:01,123 - httpx - DEBUG - headers {'Authorization': 'Bearer <redacted:KIE_API_KEY>'}"),
    ('{"name": "bot.config", "levelname": "INFO", "message": "config", "kie_api_key": "abcdef0123456789abcdef"}',
     '{"name": "bot.config", "levelname": "INFO", "message": "config", "kie_api_key": "<redacted:KIE_API_KEY>"}'),
]


@pytest.mark.parametrize(("raw", "stored"), MASK_CASES)
def test_alloy_masks_both_formats_and_keeps_json_lines_json(generated: Path, truth: Truth, raw: str,
                                                            stored: str) -> None:
    entry = AlloyPipeline.from_tree(generated).push(raw, {"source": "render"})
    assert entry.line == stored
    if stored.startswith("{"):
        assert entry.labels["level"] == json.loads(stored)["levelname"]  # the JSON stage still reads the line


def test_non_capturing_rewrite_keeps_the_language_of_the_regex() -> None:
    cases = {
        r"(a|b)c": r"(?:a|b)c",
        r"(?P<x>\d+)-(y)": r"(?:\d+)-(?:y)",
        r"[(]x(?:z)": r"[(]x(?:z)",
        r"\(lit\)": r"\(lit\)",
        r"[]()]+(q)": r"[]()]+(?:q)",
        r"[[:alpha:](]+": r"[[:alpha:](]+",
    }
    assert stack.non_capturing(r"(a|b)=(?P<value>\d+)(?P<x>y)", keep="value") == r"(?:a|b)=(\d+)(?:y)"
    for regex, expected in cases.items():
        rewritten = stack.non_capturing(regex)
        assert rewritten == expected
        assert compile_re2(rewritten).groups == 0


def test_alloy_sets_the_truth_labels_and_extracts_the_level_from_both_formats(generated: Path, truth: Truth,
                                                                              demo_bot: ModuleType) -> None:
    process = AlloyPipeline.from_tree(generated).process
    static = next(s for s in process.blocks if s.name == "stage.static_labels")
    assert static.attributes["values"] == truth.service.log_labels
    matches = process.find("stage.match")
    json_match = next(m for m in matches if m.find("stage.json"))
    text_match = next(m for m in matches if m.find("stage.regex"))
    json_key = json_match.find("stage.json")[0].attributes["expressions"]["level"]
    text_regex = compile_re2(text_match.find("stage.regex")[0].attributes["expression"])
    line_filter = compile_re2(stack.JSON_LINE_FILTER)
    assert f"|~ `{stack.JSON_LINE_FILTER}`" in json_match.attributes["selector"]
    assert f"!~ `{stack.JSON_LINE_FILTER}`" in text_match.attributes["selector"]
    seen = set()
    for line_format in ("text", "json", "mixed"):
        lines = demo_bot.simulate(6, SIM_START, line_format, incidents=((1, "forbidden"),),
                                  min_level=demo_bot.LEVELS["DEBUG"])
        for _when, line in lines:
            if line_filter.search(line):
                level = json.loads(line)[json_key]
            else:
                match = text_regex.search(line)
                assert match, line
                level = match.group("level")
            assert level in {lv.name for lv in truth.logs.levels}
            seen.add((line_format, level))
    for line_format in ("text", "json"):
        assert {level for fmt, level in seen if fmt == line_format} == {lv.name for lv in truth.logs.levels}


# --- the demo bot ------------------------------------------------------------------------------------------------


def level_of(line: str, truth: Truth) -> str:
    if line.lstrip().startswith("{"):
        return str(json.loads(line)[truth.logs.json_fields.level])
    match = compile_re2(log_format.text_level_regex(truth.logs)).search(line)
    assert match, line
    return str(match.group("level"))


def fired(truth: Truth, lines: list[tuple[datetime, str]], start: datetime, minutes: float) -> set[str]:
    """Alert ids the generated Loki rules fire over `lines`, stored the way the stack stores them: masked by the
    Alloy pipeline, with the truth's stream labels plus the level."""
    pipeline = AlloyPipeline(stack.alloy_config(truth))
    store = LogStore()
    for when, line in lines:
        entry = pipeline.push(line, {"source": "file"})
        assert entry.labels["level"] == level_of(line, truth), line
        store.append(entry.labels, int(when.timestamp() * NS), entry.line)
    (artifact,) = loki_rules.render(plan_for(truth))
    groups = parse_rule_groups(yaml.safe_load(artifact.content), artifact.path)
    start_ns = int(start.timestamp() * NS)
    run = evaluate_rules(groups, store, start_ns, start_ns + int(minutes * 60 * NS))
    assert not run.errors, run.errors[:3]
    return {event.labels["alert_id"] for event in run.events if event.state == "firing"}


@pytest.mark.parametrize("log_format", ["text", "json", "mixed"])
def test_demo_bot_normal_traffic_fires_no_alert(demo_bot: ModuleType, truth: Truth, log_format: str) -> None:
    lines = demo_bot.simulate(45, SIM_START, log_format)  # at INFO, the production level
    assert len(lines) > 1500
    assert fired(truth, lines, SIM_START, 45) == set()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_demo_bot_at_debug_level_fires_the_debug_in_production_alert_alone(
        demo_bot: ModuleType, truth: Truth, log_format: str) -> None:
    lines = demo_bot.simulate(10, SIM_START, log_format, min_level=demo_bot.LEVELS["DEBUG"])
    assert any(level_of(line, truth) == "DEBUG" for _w, line in lines)
    assert fired(truth, lines, SIM_START, 10) == {truth.log_alerts.below_production_level.id}


def expected_log_alerts(truth: Truth) -> dict[str, set[str]]:
    latency = truth.log_alerts.webhook_latency
    return {
        "forbidden": {p.id for p in truth.forbidden_patterns},
        "rate_limited": {p.id for p in truth.rate_limited_patterns},
        "error_burst": {truth.log_alerts.error_rate.id},
        "slow_webhooks": {latency.slow_warning.id},
        # 7 minutes above 1 s page (P95 for 5m) but end before the median's warning has held for its 10m.
        "latency": {latency.alert.id},
        "secret_leak": {s.id for s in truth.privacy.never_log},
        # Metric-side incidents: nothing in the logs may page; Prometheus sees them (queue, probe, heartbeat).
        "overload": set(),
        "health_down": set(),
        "lock_stale": set(),
    }


@pytest.mark.parametrize("scenario", ["forbidden", "rate_limited", "error_burst", "slow_webhooks", "latency",
                                      "secret_leak", "overload", "health_down", "lock_stale"])
def test_each_demo_incident_fires_exactly_its_alerts(demo_bot: ModuleType, truth: Truth, scenario: str) -> None:
    assert set(demo_bot.SCENARIOS) == set(expected_log_alerts(truth))
    lines = demo_bot.simulate(20, SIM_START, "mixed", incidents=((5, scenario),))
    assert fired(truth, lines, SIM_START, 20) == expected_log_alerts(truth)[scenario]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_forbidden_incident_fires_in_either_log_format(demo_bot: ModuleType, truth: Truth, log_format: str) -> None:
    lines = demo_bot.simulate(12, SIM_START, log_format, incidents=((5, "forbidden"),))
    assert fired(truth, lines, SIM_START, 12) == {p.id for p in truth.forbidden_patterns}


def test_demo_logs_carry_the_standard_tags_in_both_formats(demo_bot: ModuleType, truth: Truth) -> None:
    tags = {t.name for t in truth.logs.standard_tags}
    text = "\n".join(line for _w, line in demo_bot.simulate(15, SIM_START, "text", incidents=((1, "forbidden"),)))
    documents = [json.loads(line) for _w, line in demo_bot.simulate(15, SIM_START, "json",
                                                                      incidents=((1, "forbidden"),))]
    fields = truth.logs.json_fields
    for document in documents:
        assert {fields.time, fields.logger, fields.level, fields.message} <= set(document)
    for tag in tags:
        assert re.search(rf"\b{tag}=\S", text), f"text logs never carry {tag}"
        assert any(tag in document for document in documents), f"JSON logs never carry {tag}"
    operations = {d["operation"] for d in documents if "operation" in d}
    assert set(truth.logs.tag("operation").values or []) <= operations  # type: ignore[union-attr]


@pytest.fixture()
def running_bot(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log_file = tmp_path / "bot.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DEMO_"))}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "demo/bot.py"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-file", str(log_file), "--log-format", "mixed", "--log-level", "INFO"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200, 20, "the demo bot")
        yield url, log_file
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def post(url: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def timestamp_of(line: str, truth: Truth) -> datetime:
    text = str(json.loads(line)[truth.logs.json_fields.time]) if line.startswith("{") else line[:23]
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)


def test_running_demo_bot_serves_health_and_its_incident_fires_the_forbidden_and_rate_limited_alerts(
        running_bot: tuple[str, Path], truth: Truth) -> None:
    url, log_file = running_bot
    with urllib.request.urlopen(f"{url}{truth.health_check.path}", timeout=5) as response:
        body = response.read().decode()
        health = json.loads(body)
    assert response.status == truth.health_check.expect_status
    assert compile_re2(truth.health_check.expect_body_regex).search(body)
    assert isinstance(health[truth.queue_depth.source_field], int)
    assert health[truth.queue_depth.source_field] < truth.queue_depth.target_below
    # The seed's test update: accepted, and a retry of it is logged as a duplicate.
    update = json.dumps({"update_id": 999999, "message": {"message_id": 1, "from": {"id": 123, "is_bot": False,
                         "first_name": "Test"}, "chat": {"id": 123, "type": "private"}, "text": "/start"}}).encode()
    assert post(f"{url}{truth.service.webhook_path}", update)[0] == 200
    assert post(f"{url}{truth.service.webhook_path}", update)[0] == 200
    assert post(f"{url}/incident?scenario=nonsense")[0] == 400
    status, answer = post(f"{url}/incident?scenario=forbidden,rate_limited")
    assert status == 202 and answer["scenarios"] == ["forbidden", "rate_limited"]
    needles = [*(p.regex for p in truth.forbidden_patterns), *(p.regex for p in truth.rate_limited_patterns)]

    def incident_logged() -> bool:
        text = log_file.read_text()
        return all(compile_re2(n).search(text) for n in needles) and text.count("Model not found: flux-9000") >= 3

    wait_until(incident_logged, 30, "the incident's log lines")
    lines = [(timestamp_of(line, truth), line) for line in log_file.read_text().splitlines() if line]
    start = lines[0][0].replace(microsecond=0)
    minutes = (lines[-1][0] - start).total_seconds() / 60 + 1
    expected = {p.id for p in truth.forbidden_patterns} | {p.id for p in truth.rate_limited_patterns}
    assert fired(truth, lines, start, minutes) == expected


def test_demo_bot_health_reports_overload_and_failure(running_bot: tuple[str, Path], truth: Truth) -> None:
    url, _log = running_bot
    assert post(f"{url}/incident?scenario=overload,health_down")[0] == 202
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(f"{url}{truth.health_check.path}", timeout=5)
    assert failure.value.code != truth.health_check.expect_status  # the blackbox probe fails
    health = failure.value.read().decode()
    assert not compile_re2(truth.health_check.expect_body_regex).search(health)
    assert json.loads(health)[truth.queue_depth.source_field] > truth.queue_depth.alert_above  # json_exporter


class SyslogTlsReceiver:
    """A TLS syslog listener on loopback standing in for Alloy's loki.source.syslog: octet-counted RFC 5424 frames
    (RFC 5425 / 6587), as Render log streams deliver them."""

    def __init__(self, workdir: Path):
        openssl = require_tool("openssl")
        self.cert, key = workdir / "syslog.crt", workdir / "syslog.key"
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=alloy",
                        "-keyout", str(key), "-out", str(self.cert)], check=True, capture_output=True, timeout=60)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.listener = context.wrap_socket(socket.create_server(("127.0.0.1", 0)), server_side=True)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.frames: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            connection, _ = self.listener.accept()
            buffer = b""
            while chunk := connection.recv(65536):
                buffer += chunk
                while b" " in buffer:
                    length, _, rest = buffer.partition(b" ")
                    if len(rest) < int(length):
                        break
                    self.frames.append(rest[:int(length)])
                    buffer = rest[int(length):]

    def close(self) -> None:
        self.listener.close()


def test_demo_bot_sends_a_render_style_log_stream_that_fires_the_forbidden_alerts(tmp_path: Path,
                                                                                  truth: Truth) -> None:
    receiver = SyslogTlsReceiver(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DEMO_"))}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "demo/bot.py"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-format", "mixed", "--syslog", receiver.address, "--syslog-ca", str(receiver.cert),
         "--log-file", str(tmp_path / "unused.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(f"{url}/health", timeout=2).status == 200, 20, "the demo bot")
        assert post(f"{url}/incident?scenario=forbidden")[0] == 202
        needles = [compile_re2(p.regex) for p in truth.forbidden_patterns]
        wait_until(lambda: all(any(n.search(f.decode()) for f in receiver.frames) for n in needles), 30,
                   "every forbidden pattern on the syslog stream")
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        receiver.close()
    assert not (tmp_path / "unused.log").exists()  # the stream replaces the file: no line ingested twice
    records = [parse_syslog_line(frame, "syslog", number) for number, frame in enumerate(receiver.frames, 1)]
    lines = [(datetime.fromtimestamp(ts / NS, UTC), message) for ts, message, _labels in records]
    assert {labels["app_name"] for _ts, _m, labels in records} == {"telegram-bot"}
    start = lines[0][0].replace(microsecond=0)
    assert fired(truth, lines, start, (lines[-1][0] - start).total_seconds() / 60 + 1) == {
        p.id for p in truth.forbidden_patterns}


# --- the bot's tables in a real PostgreSQL -----------------------------------------------------------------------


def test_schema_serves_the_seed_queries_the_bot_writes_and_the_exporter_reads(demo_bot: ModuleType,
                                                                                truth: Truth) -> None:
    if not (PG_BIN / "postgres").exists():
        require_tool(str(PG_BIN / "postgres"))  # absolute path: skips locally, fails in CI
    workdir = Path(tempfile.mkdtemp(prefix="stack-schema-", dir="/tmp"))
    workdir.chmod(0o755)
    data, port = workdir / "pg", free_port()
    data.mkdir()
    as_postgres = {"user": "postgres"} if os.geteuid() == 0 else {}
    if as_postgres:
        shutil.chown(data, "postgres")
    subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, cwd=workdir, timeout=120, **as_postgres)  # type: ignore[call-overload]
    server = subprocess.Popen([str(PG_BIN / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1",
                               "-p", str(port), "-k", str(data)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=workdir, **as_postgres)  # type: ignore[call-overload]

    def psql(sql: str) -> str:
        done = subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                               "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"], input=sql, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        wait_until(lambda: subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                          capture_output=True).returncode == 0, 30, "PostgreSQL")
        psql((REPO / "demo/schema.sql").read_text())
        traffic = demo_bot.Traffic(7)
        statements = [s for _t, event in traffic.events_until(15 * 60) for s in event.db]
        assert any("lock_heartbeat" in s for s in statements) and any("INTO jobs" in s for s in statements)
        psql("BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;\n")
        for step in ("lock_state", "recent_jobs", "recent_transactions"):
            assert psql(truth.runbooks[step].sql or "").strip(), f"the seed's {step} query returns no rows"
        for name, query in exporters.postgres_queries(truth).items():
            row = psql(query["query"]).strip()
            assert row, name
        age = float(psql(exporters.postgres_queries(truth)[
            f"{conventions.names(truth).metric_prefix}_lock_heartbeat"]["query"]).strip())
        assert 0 <= age < truth.lock_heartbeat.alert_older_than.seconds
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
