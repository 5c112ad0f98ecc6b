"""Alertmanager routing by tier: alerts/alertmanager/alertmanager.yml.

Every alert (Loki and Prometheus) carries `tier` (see generator.plan.alerting); the route tree sends each tier to the
receiver its `notify` mode demands:
- tier 1 (none): an automation webhook if the truth names one, otherwise a receiver with no integration: no human;
- tier 2 (low-priority): Telegram low-priority chat with silent notifications; long repeat; never pages;
- tier 3 (page): Telegram on-call chat;
- tier 4 (escalate): no group wait, short repeat, on-call chat plus the escalation chat.
Inhibitions come from the truth: a firing tier-4 alert silences lower-tier alerts about the same thing.

Telegram fields used, as Alertmanager 0.25 defines them (config/notifiers.go `TelegramConfig`: `api_url`,
`bot_token`, `chat_id`, `message`, `disable_notifications`, `parse_mode`, `send_resolved`; default parse mode
HTML). Each tier's receiver names its message template (`generator.artifacts.alertmanager_templates`).

Secrets: Alertmanager 0.25 (the version validated here) has no `bot_token_file`/`chat_id_file`, so the committed
file carries placeholders naming the environment variables, and `obsctl alertmanager-config --out PATH` writes the
runnable config at deploy time from the environment (`NAME`, or `NAME_FILE` holding a path). The same builder
produces both, so routing is identical.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.artifacts.base import Artifact, yaml_document
from generator.conventions import ALERTMANAGER_CONFIG_FILE, TELEGRAM_TEMPLATE_FILE, telegram_message_template
from generator.plan import Plan
from generator.plan.routing import POLICIES, Routing, build_routing
from generator.truth import Truth

# Alertmanager requires a non-zero chat id; -1 (no such chat) marks "filled in at deploy" in the committed file.
PLACEHOLDER_CHAT_ID = -1


class MissingSecret(Exception):
    """An environment variable the runnable config needs is not set (its value is never included)."""


@dataclass(frozen=True)
class TelegramValues:
    bot_token: str
    chat_ids: Mapping[str, int]  # env var name -> chat id


def placeholder_values(truth: Truth) -> TelegramValues:
    names = truth.alertmanager.telegram
    return TelegramValues(
        bot_token=f"<set at deploy from ${names.bot_token_env}>",
        chat_ids={env: PLACEHOLDER_CHAT_ID for env in _chat_id_envs(truth)},
    )


def _chat_id_envs(truth: Truth) -> list[str]:
    names = truth.alertmanager.telegram
    return [names.low_priority_chat_id_env, names.oncall_chat_id_env, names.escalation_chat_id_env]


def _read_secret(name: str, environ: Mapping[str, str]) -> str:
    if environ.get(name):
        return environ[name].strip()
    path = environ.get(f"{name}_FILE")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MissingSecret(f"{name}_FILE points to an unreadable file: {exc.strerror}") from None
        if value:
            return value
        raise MissingSecret(f"{name}_FILE points to an empty file")
    raise MissingSecret(f"set {name} or {name}_FILE")


def values_from_environment(truth: Truth, environ: Mapping[str, str]) -> TelegramValues:
    names = truth.alertmanager.telegram
    chat_ids: dict[str, int] = {}
    for env in _chat_id_envs(truth):
        raw = _read_secret(env, environ)
        try:
            chat_ids[env] = int(raw)
        except ValueError:
            raise MissingSecret(f"{env} must be a Telegram chat id (an integer)") from None
    return TelegramValues(bot_token=_read_secret(names.bot_token_env, environ), chat_ids=chat_ids)


def _telegram(values: TelegramValues, chat_env: str, *, silent: bool, tier_id: int) -> dict[str, Any]:
    """One chat of a tier. HTML: Alertmanager 0.25 then runs the message through Go's html/template, which escapes
    every label and annotation (see `generator.artifacts.alertmanager_templates`)."""
    return {
        "bot_token": values.bot_token,
        "chat_id": values.chat_ids[chat_env],
        "parse_mode": "HTML",
        "message": f'{{{{ template "{telegram_message_template(tier_id)}" . }}}}',
        "disable_notifications": silent,
        "send_resolved": True,
    }


def receivers(truth: Truth, values: TelegramValues) -> list[dict[str, Any]]:
    names = truth.alertmanager.telegram
    tier_of = {tier.notify: tier.id for tier in truth.tiers}
    automation: dict[str, Any] = {"name": POLICIES["none"].receiver}
    if truth.alertmanager.automation_webhook_url:
        automation["webhook_configs"] = [{"url": truth.alertmanager.automation_webhook_url, "send_resolved": True}]
    return [
        automation,
        {"name": POLICIES["low-priority"].receiver,
         "telegram_configs": [_telegram(values, names.low_priority_chat_id_env, silent=True,
                                        tier_id=tier_of["low-priority"])]},
        {"name": POLICIES["page"].receiver,
         "telegram_configs": [_telegram(values, names.oncall_chat_id_env, silent=False, tier_id=tier_of["page"])]},
        {"name": POLICIES["escalate"].receiver,
         "telegram_configs": [_telegram(values, names.oncall_chat_id_env, silent=False, tier_id=tier_of["escalate"]),
                              _telegram(values, names.escalation_chat_id_env, silent=False,
                                        tier_id=tier_of["escalate"])]},
    ]


# The message templates, as the committed config names them: relative paths resolve against the config's folder.
COMMITTED_TEMPLATES = posixpath.relpath(TELEGRAM_TEMPLATE_FILE, posixpath.dirname(ALERTMANAGER_CONFIG_FILE))


def build_config(truth: Truth, routing: Routing, values: TelegramValues,
                 templates: str = COMMITTED_TEMPLATES) -> dict[str, Any]:
    default = routing.default_policy
    return {
        "global": {"resolve_timeout": "5m"},
        "templates": [templates],
        "route": {
            "receiver": routing.default_receiver,
            "group_by": list(routing.group_by),
            "group_wait": default.group_wait,
            "group_interval": default.group_interval,
            "repeat_interval": default.repeat_interval,
            "routes": list(routing.routes),
        },
        "inhibit_rules": list(routing.inhibit_rules),
        "receivers": receivers(truth, values),
    }


def with_short_timers(config: dict[str, Any], *, group_wait: str = "0s", group_interval: str = "1s",
                      repeat_interval: str = "1m") -> dict[str, Any]:
    """A copy of `config` whose route timers are shortened everywhere (tests: alerts arrive within seconds)."""
    result: dict[str, Any] = yaml.safe_load(yaml.safe_dump(config))

    def shorten(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", group_wait), ("group_interval", group_interval),
                           ("repeat_interval", repeat_interval)):
            if key in route:
                route[key] = value
        for child in route.get("routes", []):
            shorten(child)

    shorten(result["route"])
    return result


def with_local_receivers(config: dict[str, Any], base_url: str, *, group_wait: str = "0s",
                         group_interval: str = "1s", repeat_interval: str = "1m") -> dict[str, Any]:
    """Test/staging override, routing unchanged: every receiver becomes a webhook to `<base_url>/<receiver name>`
    and the timers shrink so alerts arrive within seconds. Routes, matchers and inhibitions stay as generated."""
    result = with_short_timers(config, group_wait=group_wait, group_interval=group_interval,
                               repeat_interval=repeat_interval)
    result["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": f"{base_url.rstrip('/')}/{r['name']}", "send_resolved": True}]}
        for r in result["receivers"]
    ]
    return result


def runnable_config_text(truth: Truth, environ: Mapping[str, str], templates: str = COMMITTED_TEMPLATES) -> str:
    """The config Alertmanager runs: the committed routing with the Telegram secrets from `environ` (MissingSecret
    names the variable when one is not set; a value is never included in an error). `templates`: where the
    message templates are, absolute or relative to the config's folder."""
    return yaml_document(build_config(truth, build_routing(truth), values_from_environment(truth, environ), templates))


def render(plan: Plan) -> list[Artifact]:
    header_note = ("Telegram secrets are placeholders: run `obsctl alertmanager-config --out PATH` at deploy time "
                   "to fill them from the environment")
    config = build_config(plan.truth, plan.routing, placeholder_values(plan.truth))
    return [Artifact(ALERTMANAGER_CONFIG_FILE, yaml_document(config).replace("\n", f"\n# {header_note}\n", 1))]
