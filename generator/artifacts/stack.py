"""Configs of the local stack (docker-compose.yml) generated from truth: Loki, Grafana Alloy and Prometheus.

Outputs:
- loki/loki-config.yaml: single-binary Loki, auth disabled (tenant `fake`), ruler reading the generated rule files
  from local storage and remote-writing its recording rules' samples (the log SLO's rates) to Prometheus,
  compactor retention equal to the truth's Render log retention;
- loki/alloy/config.alloy: the log pipeline in front of Loki: a TLS syslog receiver for Render log streams
  (RFC 5424), tailing of local log files, secret masking at ingestion (truth.privacy), the level as a label for both
  log formats, and the truth's stream labels;
- alerts/stack/prometheus.yml: scrape jobs for the /health probe, the queue gauge, PostgreSQL, Alertmanager and
  the stack itself, the generated rule files, and the Alertmanager target. The OTLP receiver for Render metrics
  streams is a command-line flag (see docker-compose.yml).

docker-compose.yml is hand-written at the repository root (generation owns only its folders); it mounts these files
at the container paths named below, and tests/artifacts/test_stack.py proves the two agree.
"""

from __future__ import annotations

import copy
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from generator import conventions
from generator.artifacts import exporters
from generator.artifacts.base import Artifact, yaml_document
from generator.conventions import GENERATED_HEADER
from generator.plan import Plan, log_format
from generator.plan.alerting import go_template_text
from generator.syntax.alloy import quote as alloy_quote
from generator.syntax.logql import quote_string
from generator.truth import Truth
from generator.truth.types import Duration, compile_re2

# Loki holds the Render log stream, so it keeps logs exactly as long as Render does (truth.retention).
LOG_RETENTION_ID = "render_logs"

# Service names and ports inside the compose network (docker-compose.yml uses the same names).
LOKI_ADDRESS = "loki:3100"
PROMETHEUS_ADDRESS = "prometheus:9090"
# Prometheus' remote-write receiver (enabled by `--web.enable-remote-write-receiver`, see docker-compose.yml).
PROMETHEUS_REMOTE_WRITE_PATH = "/api/v1/write"
ALERTMANAGER_ADDRESS = "alertmanager:9093"
BLACKBOX_ADDRESS = "blackbox-exporter:9115"
JSON_EXPORTER_ADDRESS = "json-exporter:7979"
POSTGRES_EXPORTER_ADDRESS = "postgres-exporter:9187"
ALLOY_ADDRESS = "alloy:12345"
BOT_ADDRESS = "bot:8080"

# Container paths docker-compose.yml mounts the generated files at.
LOKI_DATA_DIR = "/loki"
LOKI_RULES_DIR = "/loki/rules"  # <dir>/<tenant>/<namespace>.yaml: the repo's loki/rules is mounted here
BOT_LOG_DIR = "/var/log/bot"  # the demo bot writes here; Alloy tails it (shared volume)
ALLOY_TLS_DIR = "/etc/alloy/tls"  # syslog.crt / syslog.key, created by the stack's tls-init service
SYSLOG_LISTEN_PORT = 6514  # IANA port for syslog over TLS (RFC 5425)


# --- masking at ingestion ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskRule:
    """One masking step: every match of `regex` becomes `replacement` before the line is stored."""

    id: str
    regex: str
    replacement: str

    @property
    def expression(self) -> str:
        """Alloy's replace stage rewrites capture groups, not matches: one group around the whole regex, and the
        truth regex's own groups made non-capturing so they are not rewritten a second time."""
        return f"({non_capturing(self.regex)})"


def mask_rules(truth: Truth) -> list[MaskRule]:
    """Secrets with a `redact_as` marker first (their alerts also match the marker), then the plain masks."""
    rules = [MaskRule(s.id, s.regex, s.redact_as) for s in truth.privacy.never_log if s.redact_as]
    rules += [MaskRule(m.id, m.regex, m.replacement) for m in truth.privacy.masks]
    return rules


def apply_masks(line: str, rules: list[MaskRule]) -> str:
    """What the Alloy pipeline stores for `line`: each rule in order, every non-overlapping match replaced (the
    semantics of Alloy's stage.replace with a single group spanning the match)."""
    for rule in rules:
        line = compile_re2(rule.expression).sub(lambda _m, r=rule.replacement: r, line)
    return line


def non_capturing(regex: str) -> str:
    """`regex` with every capturing group `( )`, `(?P<n> )`, `(?<n> )` turned into `(?: )`; classes and escapes kept."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            out.append(regex[i:i + 2])
            i += 2
            continue
        if in_class:
            if char == "[" and regex.startswith("[:", i):
                end = regex.index(":]", i + 2) + 2
                out.append(regex[i:end])
                i = end
                continue
            if char == "]":
                in_class = False
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            i += 1
            if regex.startswith("^", i):
                out.append("^")
                i += 1
            if regex.startswith("]", i):  # a leading ] is a literal member
                out.append("]")
                i += 1
            continue
        if char == "(":
            named = re.match(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>", regex[i:])
            if named:
                out.append("(?:")
                i += len(named.group())
                continue
            if not regex.startswith("(?", i):
                out.append("(?:")
                i += 1
                continue
        out.append(char)
        i += 1
    return "".join(out)


# --- level extraction --------------------------------------------------------------------------------------------


JSON_LINE_FILTER = r"^\s*\{"  # a JSON log line starts with `{`


# --- Loki --------------------------------------------------------------------------------------------------------


def log_retention(truth: Truth) -> Duration | None:
    """Render's log retention (None: keep forever)."""
    entry = next((r for r in truth.retention if r.id == LOG_RETENTION_ID), None)
    if entry is None:
        raise ValueError(f"product/truth.yaml retention: no entry with id {LOG_RETENTION_ID!r} (Loki's retention)")
    return None if entry.period == "infinite" else entry.period  # type: ignore[return-value]


def go_duration(duration: Duration) -> str:
    """Hours/minutes/seconds only: valid for every Loki duration field (some reject `d`)."""
    seconds = round(duration.seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def loki_config(truth: Truth) -> dict[str, Any]:
    retention = log_retention(truth)
    limits: dict[str, Any] = {
        "retention_period": go_duration(retention) if retention else "0s",  # 0s: keep forever
        "allow_structured_metadata": True,
        "volume_enabled": True,
    }
    if retention:
        # Lines older than the retention would be deleted by the next compaction anyway.
        limits["reject_old_samples"] = True
        limits["reject_old_samples_max_age"] = go_duration(retention)
    return {
        "auth_enabled": False,  # single tenant: Loki calls it `fake`, the tenant folder of the rule files
        "server": {"http_listen_port": 3100, "grpc_listen_port": 9095, "log_level": "info"},
        "common": {
            "instance_addr": "127.0.0.1",
            "path_prefix": LOKI_DATA_DIR,
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
            "storage": {"filesystem": {"chunks_directory": f"{LOKI_DATA_DIR}/chunks",
                                       "rules_directory": LOKI_RULES_DIR}},
        },
        "schema_config": {"configs": [{
            "from": "2024-04-01", "store": "tsdb", "object_store": "filesystem", "schema": "v13",
            "index": {"prefix": "index_", "period": "24h"},
        }]},
        "limits_config": limits,
        "compactor": {
            "working_directory": f"{LOKI_DATA_DIR}/compactor",
            "compaction_interval": "10m",
            "retention_enabled": retention is not None,
            "retention_delete_delay": "2h",
            "delete_request_store": "filesystem",
        },
        "ruler": {
            # Local storage: Loki reads <directory>/<tenant>/*.yaml; the API cannot write here (files are the way in).
            "storage": {"type": "local", "local": {"directory": LOKI_RULES_DIR}},
            "rule_path": f"{LOKI_DATA_DIR}/rules-temp",  # scratch space, must differ from the rules directory
            "wal": {"dir": f"{LOKI_DATA_DIR}/ruler-wal"},
            "alertmanager_url": f"http://{ALERTMANAGER_ADDRESS}",
            "enable_alertmanager_v2": True,
            "enable_api": True,
            "ring": {"kvstore": {"store": "inmemory"}},
            # Recording rules' samples go to Prometheus' remote-write receiver; Loki cannot be queried for them.
            # Keys of Loki's pkg/ruler/config.go RemoteWriteConfig (`clients`, a map of Prometheus remote_write
            # configs; the single `client` is deprecated).
            "remote_write": {
                "enabled": True,
                "clients": {"prometheus": {"url": f"http://{PROMETHEUS_ADDRESS}{PROMETHEUS_REMOTE_WRITE_PATH}"}},
            },
        },
        "analytics": {"reporting_enabled": False},
    }


# --- Alloy -------------------------------------------------------------------------------------------------------


def _alloy_map(values: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{key} = {alloy_quote(value)}" for key, value in values.items()) + " }"


def _stage(name: str, attributes: dict[str, str], indent: str = "  ") -> str:
    width = max(len(key) for key in attributes)
    body = "".join(f"{indent}  {key.ljust(width)} = {value}\n" for key, value in attributes.items())
    return f"{indent}stage.{name} {{\n{body}{indent}}}\n"


def alloy_config(truth: Truth) -> str:
    labels = dict(sorted(truth.service.log_labels.items()))
    selector = truth.service.log_selector
    json_selector = f"{selector} |~ {quote_string(JSON_LINE_FILTER)}"
    text_selector = f"{selector} !~ {quote_string(JSON_LINE_FILTER)}"
    masks = "".join(
        f"  // {rule.id}\n" + _stage("replace", {
            "expression": alloy_quote(rule.expression),
            # The replacement is a Go template in Alloy: literal braces must not start an action.
            "replace": alloy_quote(go_template_text(rule.replacement)),
        })
        for rule in mask_rules(truth)
    )
    level_key = truth.logs.json_fields.level
    return f"""// {GENERATED_HEADER}
// Log pipeline of the local stack: Render log streams (TLS syslog, RFC 5424) and local log files -> masking ->
// labels -> Loki. Check it with `alloy validate` when Alloy is installed.

// Render log streams: Render connects over TLS and sends RFC 5424 messages; the MSG part becomes the log line.
loki.source.syslog "render" {{
  listener {{
    address  = "0.0.0.0:{SYSLOG_LISTEN_PORT}"
    protocol = "tcp"
    labels   = {{ source = "render" }}

    tls_config {{
      cert_file = "{ALLOY_TLS_DIR}/syslog.crt"
      key_file  = "{ALLOY_TLS_DIR}/syslog.key"
    }}
  }}
  forward_to = [loki.process.bot.receiver]
}}

// Local log files: the demo bot's log, or an exported log dropped into the folder.
local.file_match "bot" {{
  path_targets = [{{ "__path__" = "{BOT_LOG_DIR}/*.log", source = "file" }}]
}}

loki.source.file "bot" {{
  targets    = local.file_match.bot.targets
  forward_to = [loki.process.bot.receiver]
}}

loki.process "bot" {{
  forward_to = [loki.write.loki.receiver]

  // Secrets and sensitive values are masked before anything else reads the line (truth.privacy).
{masks}
  // The bot's stream labels (truth.service.log_labels); the file path is not a useful label.
  stage.static_labels {{
    values = {_alloy_map(labels)}
  }}
  stage.label_drop {{
    values = ["filename"]
  }}

  // The level as a label, for both log formats: JSON lines carry it under "{level_key}", text lines between the
  // separators of truth.logs.text_format.
  stage.match {{
    selector      = {alloy_quote(json_selector)}
    pipeline_name = "json_level"

    stage.json {{
      expressions = {{ level = {alloy_quote(level_key)} }}
    }}
  }}
  stage.match {{
    selector      = {alloy_quote(text_selector)}
    pipeline_name = "text_level"

    stage.regex {{
      expression = {alloy_quote(log_format.text_level_regex(truth.logs))}
    }}
  }}
  stage.labels {{
    values = {{ level = "" }}
  }}
}}

loki.write "loki" {{
  endpoint {{
    url = "http://{LOKI_ADDRESS}/loki/api/v1/push"
  }}
}}
"""


# --- Prometheus --------------------------------------------------------------------------------------------------


def prometheus_config(truth: Truth) -> dict[str, Any]:
    health_url = f"http://{BOT_ADDRESS}{truth.health_check.path}"
    # Deep copy: the jobs share relabel rules, which YAML would otherwise write as anchors and aliases.
    exporter_jobs = [copy.deepcopy(job) for job in exporters.scrape_configs(
        truth, health_url=health_url, blackbox=BLACKBOX_ADDRESS, postgres_exporter=POSTGRES_EXPORTER_ADDRESS,
        json_exporter=JSON_EXPORTER_ADDRESS,
    )]
    stack_jobs = [
        {"job_name": name, "static_configs": [{"targets": [address]}]}
        for name, address in (("prometheus", "localhost:9090"), ("alertmanager", ALERTMANAGER_ADDRESS),
                              ("loki", LOKI_ADDRESS), ("alloy", ALLOY_ADDRESS))
    ]
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [ALERTMANAGER_ADDRESS]}]}]},
        # Relative to prometheus.yml; the stack mounts alerts/ whole, so the paths hold in the repo and the container.
        "rule_files": [posixpath.relpath(conventions.PROMETHEUS_RULES_FILE,
                                         posixpath.dirname(conventions.PROMETHEUS_CONFIG_PATH))],
        # Render pushes metrics over OTLP in batches; samples may arrive a little out of order.
        "storage": {"tsdb": {"out_of_order_time_window": "30m"}},
        "scrape_configs": [*exporter_jobs, *stack_jobs],
    }


def render(plan: Plan) -> list[Artifact]:
    truth = plan.truth
    return [
        Artifact(conventions.LOKI_CONFIG_PATH, yaml_document(loki_config(truth))),
        Artifact(conventions.ALLOY_CONFIG_PATH, alloy_config(truth)),
        Artifact(conventions.PROMETHEUS_CONFIG_PATH, yaml_document(prometheus_config(truth))),
    ]
