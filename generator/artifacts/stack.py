"""Configs of the local stack (docker-compose.yml) generated from truth: Loki, Grafana Alloy and Prometheus.

Outputs:
- loki/loki-config.yaml: single-binary Loki, auth disabled (tenant `fake`), ruler reading the generated rule files
  from local storage and remote-writing its recording rules' samples (the log SLO's rates) to Prometheus,
  compactor retention per log class (truth.retention);
- loki/alloy/config.alloy: the log pipeline in front of Loki: a TLS syslog receiver for Render log streams
  (RFC 5424), tailing of local log files, the truth's stream labels, secret masking at ingestion in both log formats
  (truth.privacy), the level and the retention class as labels;
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
from typing import Any

from generator import conventions
from generator.artifacts import exporters
from generator.artifacts.base import Artifact, yaml_document
from generator.conventions import GENERATED_HEADER
from generator.plan import Plan, log_format, privacy, retention
from generator.plan.alerting import go_template_text
from generator.syntax import redaction
from generator.syntax.alloy import quote as alloy_quote
from generator.syntax.logql import quote_string
from generator.truth import Truth
from generator.truth.types import Duration

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


def alloy_expression(rule: redaction.RedactionRule) -> str:
    """Alloy's replace stage rewrites capture groups, not matches: the rule's `value` group becomes the one capture
    group (or one group around the whole regex when it has none); every other group is made non-capturing so it
    is not rewritten too."""
    if rule.has_value_group:
        return non_capturing(rule.regex, keep=redaction.VALUE_GROUP)
    return f"({non_capturing(rule.regex)})"


def non_capturing(regex: str, keep: str | None = None) -> str:
    """`regex` with every capturing group `( )`, `(?P<n> )`, `(?<n> )` turned into `(?: )`, except the group named
    `keep`, which becomes a plain capturing `( )`; classes and escapes kept."""
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
            named = re.match(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>", regex[i:])
            if named:
                out.append("(" if named.group(1) == keep else "(?:")
                i += len(named.group())
                continue
            if not regex.startswith("(?", i):
                out.append("(?:")
                i += 1
                continue
        out.append(char)
        i += 1
    return "".join(out)


JSON_LINE_FILTER = redaction.JSON_LINE_REGEX


# --- Loki --------------------------------------------------------------------------------------------------------


def go_duration(duration: Duration) -> str:
    """Hours/minutes/seconds only: valid for every Loki duration field (some reject `d`)."""
    seconds = round(duration.seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def retention_limits(truth: Truth) -> dict[str, Any]:
    """`limits_config` retention: one rule per truth log class.

    Loki's semantics (grafana/loki):
    - pkg/validation/limits.go, flag `store.retention`: "a zero value of 0 or 0s disables retention" for the global
      `retention_period` (since 2.8.0);
    - pkg/validation/limits.go, `Limits.Validate`: a `retention_stream` period under 24h is refused at start-up
      ("retention period must be >= 24h"), so a stream rule cannot say "forever" with 0s;
    - pkg/compactor/retention/expiration.go, `RetentionPeriodFor` / `Expired`: the matching stream rule with the
      highest priority wins (equal priority: the shorter period), no match falls back to `retention_period`, and a
      period <= 0 never expires a chunk.
    So the class kept forever is the global `retention_period: 0s` (never deleted; a stream without the class label
    falls there too, the safe side), and every class with a period is a `retention_stream` rule selecting its label
    value. Priorities follow the period (longer-kept wins), though the selectors never overlap.
    """
    policy = truth.retention
    forever = [c for c in policy.classes if c.keeps_forever]  # at most one: the truth model refuses more
    finite = [c for c in policy.by_period() if not c.keeps_forever]
    streams = [
        {
            "selector": "{" + f"{policy.label}={quote_string(c.id, prefer_backticks=False)}" + "}",
            "priority": priority,
            "period": go_duration(c.period),  # type: ignore[arg-type]
        }
        for priority, c in enumerate(finite, start=1)
    ]
    if forever:
        global_period = "0s"  # never deleted: see above
    else:  # unlabelled lines keep the default class's period
        global_period = go_duration(policy.default_class.period)  # type: ignore[arg-type]
    return {"retention_period": global_period, "retention_stream": streams}


def prometheus_retention(truth: Truth) -> Duration:
    """How long the local Prometheus keeps samples: the longest window any rule or panel reads (the SLO periods,
    the burn-rate windows) plus truth.retention.metrics_margin."""
    windows = [truth.slos.uptime.period, truth.slos.error_ratio.period,
               *(w.long for w in truth.slos.burn_rate_windows)]
    return Duration(max(w.seconds for w in windows) + truth.retention.metrics_margin.seconds)


def loki_config(truth: Truth) -> dict[str, Any]:
    limits: dict[str, Any] = {
        **retention_limits(truth),
        "allow_structured_metadata": True,
        "volume_enabled": True,
    }
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
            "retention_enabled": True,  # the compactor applies the rules above; without it nothing is ever deleted
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


def _replace_stage(rule: redaction.RedactionRule, indent: str) -> str:
    return f"{indent}// {rule.id}\n" + _stage("replace", {
        "expression": alloy_quote(alloy_expression(rule)),
        # The replacement is a Go template in Alloy: literal braces must not start an action.
        "replace": alloy_quote(go_template_text(rule.replacement)),
    }, indent)


def masking_stages(truth: Truth, json_selector: str, text_selector: str) -> str:
    """The redaction rules in their order; rules for one line format only run inside a match on that format."""
    out: list[str] = []
    rules = privacy.redaction_rules(truth)
    blocks = {"json": 0, "text": 0}
    index = 0
    while index < len(rules):
        kind = rules[index].lines
        run = []
        while index < len(rules) and rules[index].lines == kind:
            run.append(rules[index])
            index += 1
        if kind == "any":
            out += [_replace_stage(rule, "  ") for rule in run]
            continue
        selector = json_selector if kind == "json" else text_selector
        blocks[kind] += 1
        body = "".join(_replace_stage(rule, "    ") for rule in run)
        out.append(f"  stage.match {{\n    selector      = {alloy_quote(selector)}\n"
                   f"    pipeline_name = {alloy_quote(f'{kind}_masks_{blocks[kind]}')}\n\n{body}  }}\n")
    return "".join(out)


def class_stages(truth: Truth, selector: str) -> str:
    """The retention class label: the default class first, then each claiming class from the shortest-kept to the
    longest-kept, each overwriting the label, so a line several classes claim keeps the longest retention."""
    label = truth.retention.label
    default = truth.retention.default_class
    out = [f"  stage.static_labels {{\n    values = {{ {label} = {alloy_quote(default.id)} }}\n  }}\n"]
    for log_class in truth.retention.by_period():
        if log_class.match is None:
            continue
        line_selector = f"{selector} |~ {quote_string(retention.class_regex(truth.logs, log_class))}"
        out.append(f"  stage.match {{\n    selector      = {alloy_quote(line_selector)}\n"
                   f"    pipeline_name = {alloy_quote('class_' + log_class.id)}\n\n"
                   f"    stage.static_labels {{\n      values = {{ {label} = {alloy_quote(log_class.id)} }}\n"
                   f"    }}\n  }}\n")
    return "".join(out)


def alloy_config(truth: Truth) -> str:
    labels = dict(sorted(truth.service.log_labels.items()))
    selector = truth.service.log_selector
    json_selector = f"{selector} |~ {quote_string(JSON_LINE_FILTER)}"
    text_selector = f"{selector} !~ {quote_string(JSON_LINE_FILTER)}"
    masks = masking_stages(truth, json_selector, text_selector)
    classes = class_stages(truth, selector)
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

  // The bot's stream labels (truth.service.log_labels); the file path is not a useful label.
  stage.static_labels {{
    values = {_alloy_map(labels)}
  }}
  stage.label_drop {{
    values = ["filename"]
  }}

  // Secrets and sensitive values are masked before any stage reads the line (truth.privacy), in both formats:
  // Render's log store keeps the raw line, so the bot redacts at the source too (bot/bot_logging.py).
{masks}
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

  // The retention class (truth.retention) as the label `{truth.retention.label}`: Loki's compactor keeps each class
  // for its period (loki/loki-config.yaml, limits_config.retention_stream).
{classes}}}

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
