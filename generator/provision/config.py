"""Provisioning targets, read from environment variables. Tokens are wrapped so they cannot be printed by accident."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_GRAFANA_FOLDER = "Telegram bot"
DEFAULT_STATE_FILE = ".obsctl/state.json"
DEFAULT_HTTP_TIMEOUT = 10.0

# Every variable `obsctl provision` reads, with what it is for (the README's table and `obsctl provision --help`).
ENV_VARS: dict[str, str] = {
    "GRAFANA_URL": "Grafana base URL, e.g. https://grafana.example.com (unset: Grafana is skipped)",
    "GRAFANA_TOKEN": "Grafana service-account token (Editor or Admin); secret, never printed",
    "GRAFANA_FOLDER": "title of the folder the dashboards go in (default: the generated dashboards provider's "
                      f"folder, else {DEFAULT_GRAFANA_FOLDER})",
    "LOKI_URL": "Loki base URL with the ruler API as obsctl reaches it, e.g. http://loki:3100 (unset: the ruler is "
                "skipped); Grafana's Loki data source uses GRAFANA_LOKI_URL",
    "LOKI_TENANT": "X-Scope-OrgID sent to Loki (default: the tenant folder under loki/rules/)",
    "LOKI_TOKEN": "optional bearer token for a Loki gateway; secret, never printed",
    "PROMETHEUS_RULES_DIR": "folder Prometheus loads rule files from (its rule_files glob; unset: skipped)",
    "PROMETHEUS_URL": "Prometheus base URL for POST /-/reload (needs --web.enable-lifecycle); checked to be a "
                      "Prometheus (/api/v1/status/buildinfo) before any write",
    "ALERTMANAGER_CONFIG": "path of the Alertmanager config file to write (unset: skipped)",
    "ALERTMANAGER_URL": "Alertmanager base URL for POST /-/reload; checked to be an Alertmanager (/api/v2/status) "
                        "before any write",
    "OBSCTL_STATE_FILE": "where the last apply is recorded, for drift and safety checks "
                         f"(default: {DEFAULT_STATE_FILE})",
    "OBSCTL_HTTP_TIMEOUT": f"seconds before an HTTP request counts as timed out (default: {DEFAULT_HTTP_TIMEOUT:g})",
    "OBSCTL_RETRIES": "attempts per request on 5xx and time-outs (default: 4)",
    "OBSCTL_RETRY_DELAY": "first back-off delay in seconds, doubled per attempt (default: 0.5)",
}


class ConfigError(Exception):
    """A provisioning variable is missing or malformed; the message names the variable."""


class Secret:
    """A token. `str()`/`repr()` never show it; only `reveal()` does, at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not picklable")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delays(self) -> Iterable[float]:
        """The waits between attempts: first_delay, doubled each time, capped."""
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield min(delay, self.max_delay)
            delay *= 2


@dataclass(frozen=True)
class GrafanaTarget:
    url: str
    token: Secret
    folder: str | None  # None: the folder the generated dashboards provider names


@dataclass(frozen=True)
class LokiTarget:
    url: str
    tenant: str | None  # None: the tenant folder of each generated rule file
    token: Secret | None


@dataclass(frozen=True)
class PrometheusTarget:
    rules_dir: Path
    reload_url: str | None


@dataclass(frozen=True)
class AlertmanagerTarget:
    config_path: Path
    reload_url: str | None


@dataclass(frozen=True)
class Targets:
    grafana: GrafanaTarget | None = None
    loki: LokiTarget | None = None
    prometheus: PrometheusTarget | None = None
    alertmanager: AlertmanagerTarget | None = None
    state_file: Path = Path(DEFAULT_STATE_FILE)
    timeout: float = DEFAULT_HTTP_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def secrets(self) -> list[Secret]:
        found = [self.grafana.token if self.grafana else None, self.loki.token if self.loki else None]
        return [s for s in found if s]

    def redact(self, text: str) -> str:
        """Last line of defence for anything printed: replace every token value by ***."""
        for secret in self.secrets():
            text = text.replace(secret.reveal(), "***")
        return text

    def configured(self) -> list[str]:
        names = {"grafana": self.grafana, "loki ruler": self.loki, "prometheus": self.prometheus,
                 "alertmanager": self.alertmanager}
        return [name for name, target in names.items() if target is not None]


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} must be an http(s) URL like https://host:port, got a value without scheme/host")
    if parsed.username or parsed.password:
        # Credentials in a URL end up in logs and error messages: tokens go in their own variable.
        raise ConfigError(f"{name} must not contain credentials; put the token in its *_TOKEN variable")
    return value.rstrip("/")


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def targets_from_env(env: Mapping[str, str] | None = None, repo: Path = Path(".")) -> Targets:
    """Read every target; a target whose main variable is unset is skipped, a half-configured one is an error."""
    env = os.environ if env is None else env
    grafana = None
    grafana_url = _url(env, "GRAFANA_URL")
    if grafana_url:
        token = env.get("GRAFANA_TOKEN", "")
        if not token:
            raise ConfigError("GRAFANA_TOKEN is not set (required with GRAFANA_URL): create a service-account token")
        grafana = GrafanaTarget(grafana_url, Secret(token), env.get("GRAFANA_FOLDER", "").strip() or None)
    loki = None
    loki_url = _url(env, "LOKI_URL")
    if loki_url:
        loki_token = env.get("LOKI_TOKEN", "")
        loki = LokiTarget(loki_url, env.get("LOKI_TENANT", "").strip() or None,
                          Secret(loki_token) if loki_token else None)
    prometheus = None
    if env.get("PROMETHEUS_RULES_DIR", "").strip():
        prometheus = PrometheusTarget(Path(env["PROMETHEUS_RULES_DIR"].strip()), _url(env, "PROMETHEUS_URL"))
    elif env.get("PROMETHEUS_URL", "").strip():
        raise ConfigError("PROMETHEUS_URL is set but PROMETHEUS_RULES_DIR is not: set the folder Prometheus loads "
                          "rule files from")
    alertmanager = None
    if env.get("ALERTMANAGER_CONFIG", "").strip():
        alertmanager = AlertmanagerTarget(Path(env["ALERTMANAGER_CONFIG"].strip()), _url(env, "ALERTMANAGER_URL"))
    elif env.get("ALERTMANAGER_URL", "").strip():
        raise ConfigError("ALERTMANAGER_URL is set but ALERTMANAGER_CONFIG is not: set the config file path")
    state = Path(env.get("OBSCTL_STATE_FILE", "").strip() or DEFAULT_STATE_FILE)
    retry = RetryPolicy(attempts=int(_number(env, "OBSCTL_RETRIES", 4, 1)),
                        first_delay=_number(env, "OBSCTL_RETRY_DELAY", 0.5, 0))
    return Targets(
        grafana=grafana, loki=loki, prometheus=prometheus, alertmanager=alertmanager,
        state_file=state if state.is_absolute() else repo / state,
        timeout=_number(env, "OBSCTL_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT, 0.01), retry=retry,
    )
