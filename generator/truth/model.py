"""The typed truth model: every monitoring rule of the bot, validated. Renderers read only this."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from generator.truth.types import DurationField, FieldProblem, RegexField

ID_RE = r"^[a-z][a-z0-9_]*$"
# Bytes per memory unit: binary (IEC) MiB or decimal (SI) MB.
MEMORY_UNIT_BYTES = {"MiB": 1024 * 1024, "MB": 1000 * 1000}
TierId = Literal[1, 2, 3, 4]
Priority = Literal["P0", "P1", "P2"]


class Strict(BaseModel):
    # defer_build: each model's validator is built when first used, not at import; validating a Truth then builds
    # one validator for the whole tree instead of one per model (load_truth + build_plan: about 20 ms less CPU).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --- service and logs -------------------------------------------------------------------------------------------


class Service(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    platform: Literal["render"]
    environment: str = Field(min_length=1)
    instance_memory_mb: int = Field(gt=0)
    # The unit of instance_memory_mb and render.memory_mb: every rule, panel and test converts bytes with it.
    memory_unit: Literal["MiB", "MB"]
    webhook_path: str = Field(pattern=r"^/")
    health_path: str = Field(pattern=r"^/")
    log_labels: dict[str, str] = Field(min_length=1)

    @field_validator("log_labels")
    @classmethod
    def _label_names_are_valid(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", name):
                raise ValueError(f"invalid Loki label name {name!r}")
        return labels

    @property
    def memory_unit_bytes(self) -> int:
        return MEMORY_UNIT_BYTES[self.memory_unit]

    @property
    def log_selector(self) -> str:
        """The LogQL stream selector for the bot's logs, e.g. `{service="telegram-bot"}`."""
        from generator.syntax.logql import quote_string  # lazy: keeps the model free of rendering imports

        inner = ", ".join(f"{name}={quote_string(value, prefer_backticks=False)}"
                          for name, value in sorted(self.log_labels.items()))
        return "{" + inner + "}"


class JsonFields(Strict):
    time: str
    logger: str
    level: str
    message: str


class StandardTag(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    values: list[str] | None = None


class LogLevel(Strict):
    name: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    use: str


class Ruler(Strict):
    interval: DurationField
    rate_limited_interval: DurationField
    occurrence_window: DurationField
    # `obsctl lint --online`: bytes one evaluation of a rule may read (Loki's index stats), above which it warns
    max_bytes_per_evaluation: int = Field(default=100_000_000, gt=0)

    @model_validator(mode="after")
    def _window_covers_interval(self) -> Ruler:
        if self.occurrence_window < self.interval:
            raise FieldProblem(
                "occurrence_window",
                f"occurrence_window ({self.occurrence_window}) is shorter than interval ({self.interval}): "
                "lines between two evaluations would be missed"
            )
        return self


class Logs(Strict):
    tenant: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    namespace: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    ruler: Ruler
    text_format: str
    json_fields: JsonFields
    standard_tags: list[StandardTag]
    levels: list[LogLevel]
    production_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    error_levels: list[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]] = Field(min_length=1)

    @model_validator(mode="after")
    def _text_format_has_level_and_message(self) -> Logs:
        for needed in ("%(levelname)s", "%(message)s"):
            if needed not in self.text_format:
                raise ValueError(f"text_format must contain {needed}")
        return self

    def tag(self, name: str) -> StandardTag | None:
        return next((t for t in self.standard_tags if t.name == name), None)


# --- tiers -------------------------------------------------------------------------------------------------------


class TierMember(Strict):
    event: str
    action: str
    handles: list[str] = Field(default_factory=list)
    assumed: bool = False


class Tier(Strict):
    id: TierId
    name: str
    notify: Literal["none", "low-priority", "page", "escalate"]
    description: str
    members: list[TierMember]


class TierOverlap(Strict):
    resolution: Literal["highest_tier_wins"]
    severity_from_priority: dict[Priority, str]
    severity_without_priority: dict[TierId, str]


# --- patterns ----------------------------------------------------------------------------------------------------


class Examples(Strict):
    match: list[str] = Field(min_length=1)
    no_match: list[str] = Field(min_length=1)
    # Real lines of the same event that the regex, as the seed states it, does not catch: documented gaps
    known_misses: list[str] = Field(default_factory=list)


class Pattern(Strict):
    id: str = Field(pattern=ID_RE)
    regex: RegexField
    examples: Examples
    runbook: list[str] = Field(default_factory=list)


class ForbiddenPattern(Pattern):
    priority: Priority
    reason: str


class RateLimit(Strict):
    count: int = Field(ge=0)
    per: DurationField


class RateLimitedPattern(Pattern):
    limit: RateLimit
    reason: str


# Text a redaction marker may not hold: it lands inside JSON strings, Alloy replace templates and Python code.
_MARKER_FORBIDDEN = re.compile(r'["\\{}\n]')


def _python_regex_problem(regex: str) -> str | None:
    """The bot's logging module redacts with Python's `re` (stdlib only): a truth regex must mean the same there."""
    try:
        re.compile(regex)
    except re.error as exc:
        return f"regex {regex!r} is RE2 but not Python `re` syntax ({exc}): the bot's logging module could not use it"
    return None


class SecretPattern(Pattern):
    what: str
    env: str | None = None
    # Replaces the secret at the source (bot logging module) and at ingestion (Alloy). When `regex` has a group
    # named `value`, only that group is replaced (the key stays readable: `KIE_API_KEY=<redacted:KIE_API_KEY>`).
    redact_as: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _redaction_is_portable(self) -> SecretPattern:
        if self.redact_as is not None and _MARKER_FORBIDDEN.search(self.redact_as):
            raise FieldProblem("redact_as", f"marker {self.redact_as!r} must not contain quotes, backslashes, "
                                            "braces or newlines: it is written inside JSON strings")
        problem = _python_regex_problem(self.regex)
        if problem:
            raise FieldProblem("regex", problem)
        return self


class Mask(Strict):
    """A value masked wherever it is logged under the key `field`: a JSON key (`"balance": 45.5`,
    `"balance": "45.50"`), a text tag (`balance=-3.50`), or `balance: 1` / `'balance': 1` inside a message."""

    id: str = Field(pattern=ID_RE)
    field: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # number: a (signed, decimal) amount; text: free text that runs to the end of the value (a text line's end)
    value: Literal["number", "text"]
    replacement: str = Field(min_length=1)

    @field_validator("replacement")
    @classmethod
    def _replacement_is_portable(cls, replacement: str) -> str:
        if _MARKER_FORBIDDEN.search(replacement):
            raise ValueError(f"replacement {replacement!r} must not contain quotes, backslashes, braces or newlines")
        return replacement


class AllowedField(Strict):
    field: str
    why: str


class Privacy(Strict):
    never_log: list[SecretPattern]
    allowed: list[AllowedField]
    masks: list[Mask]


# --- log-derived thresholds --------------------------------------------------------------------------------------


class ErrorRateAlert(Strict):
    id: str = Field(pattern=ID_RE)
    max_count: int = Field(ge=0)
    window: DurationField
    target_error_ratio: float = Field(gt=0, lt=1)


class LatencyAlert(Strict):
    id: str = Field(pattern=ID_RE)
    quantile: float = Field(gt=0, lt=1)
    above: DurationField
    for_: DurationField = Field(alias="for")
    window: DurationField


class SlowWarning(LatencyAlert):
    """The slow-response band as a windowed signal: the `quantile` of webhook durations over `window` stays above
    `above` for `for`. One slow line is normal (it is the P50 target's other half), a slow median is not."""

    up_to: DurationField

    @model_validator(mode="after")
    def _band_in_order(self) -> SlowWarning:
        if self.up_to <= self.above:
            raise FieldProblem("up_to", f"up_to ({self.up_to}) must be above `above` ({self.above})")
        return self


class WebhookLatency(Strict):
    operation: str
    alert: LatencyAlert
    slow_warning: SlowWarning
    timeout_logged_above: DurationField


class LogEventPattern(Pattern):
    """A log line that is an event worth a notification (not a bug): any hit within the occurrence window alerts."""

    reason: str


class LevelAlert(Strict):
    """Any line logged at a level below `logs.production_level` (DEBUG in production) alerts."""

    id: str = Field(pattern=ID_RE)
    reason: str


class LogAlerts(Strict):
    error_rate: ErrorRateAlert
    webhook_latency: WebhookLatency
    external_api_timeout: LogEventPattern
    below_production_level: LevelAlert


# --- metrics -----------------------------------------------------------------------------------------------------


class ClassMatch(Strict):
    """Which lines belong to a log class: any logger, tag value or regex listed here claims the line."""

    # Logger names (`%(name)s`, JSON `name`); a name also covers its children: bot.payments -> bot.payments.stripe
    loggers: list[str] = Field(default_factory=list)
    # Standard tag -> values: `operation: [payment]` claims `operation=payment` and `"operation": "payment"`
    tags: dict[str, list[str]] = Field(default_factory=dict)
    regex: list[RegexField] = Field(default_factory=list)  # RE2, searched in the whole line

    @field_validator("loggers")
    @classmethod
    def _logger_names(cls, loggers: list[str]) -> list[str]:
        for name in loggers:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", name):
                raise ValueError(f"invalid logger name {name!r}: dotted Python identifiers, e.g. bot.payments")
        return loggers

    @model_validator(mode="after")
    def _claims_something(self) -> ClassMatch:
        if not (self.loggers or self.tags or self.regex):
            raise ValueError("a class match needs at least one of loggers, tags, regex")
        return self


# Loki refuses a retention_stream period under 24h (pkg/validation/limits.go, Limits.Validate).
MIN_STREAM_RETENTION_SECONDS = 86400


class LogClass(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    store: str
    period: DurationField | Literal["infinite"]
    why: str | None = None
    match: ClassMatch | None = None  # None: the default class, for every line no other class claims

    @model_validator(mode="after")
    def _period_loki_accepts(self) -> LogClass:
        if self.period != "infinite" and self.period.seconds < MIN_STREAM_RETENTION_SECONDS:  # type: ignore[union-attr]
            raise FieldProblem("period", f"period {self.period} is under 24h: Loki refuses a shorter retention "
                                         "(write at least 24h, or `infinite`)")
        return self

    @property
    def keeps_forever(self) -> bool:
        return self.period == "infinite"


class Retention(Strict):
    """Log retention per class (the seed's Log Retention), and how long the local Prometheus keeps metrics."""

    label: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")  # the Loki stream label Alloy sets to the class id
    classes: list[LogClass] = Field(min_length=1)
    # Prometheus keeps samples for the longest SLO period plus this margin: 30-day panels and burn rates need
    # 30 days of history, and the margin covers a late look or a restart.
    metrics_margin: DurationField

    @model_validator(mode="after")
    def _one_default_and_unique_ids(self) -> Retention:
        defaults = [c.id for c in self.classes if c.match is None]
        if len(defaults) != 1:
            raise FieldProblem("classes", f"exactly one class must have no `match` (the default for unclaimed lines); "
                                          f"found {len(defaults)}: {', '.join(defaults) or 'none'}")
        ids = [c.id for c in self.classes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise FieldProblem("classes", f"duplicate class id(s): {', '.join(duplicates)}")
        forever = [c.id for c in self.classes if c.keeps_forever]
        if len(forever) > 1:
            raise FieldProblem("classes", f"at most one class can be kept forever (Loki's global retention_period "
                                          f"0s); found {', '.join(forever)}")
        return self

    @property
    def default_class(self) -> LogClass:
        return next(c for c in self.classes if c.match is None)

    def by_period(self) -> list[LogClass]:
        """Shortest-kept first, forever last: when several classes claim a line, the last (longest) wins."""
        return sorted(self.classes, key=lambda c: (c.keeps_forever, 0 if c.keeps_forever else c.period.seconds))  # type: ignore[union-attr]


class Slo(Strict):
    id: str = Field(pattern=ID_RE)
    objective: float = Field(gt=0, lt=100, description="percent")
    period: DurationField
    allowed_downtime: DurationField | None = None

    @property
    def error_budget(self) -> float:
        return round(1 - self.objective / 100, 10)

    @model_validator(mode="after")
    def _downtime_matches_objective(self) -> Slo:
        if self.allowed_downtime is not None:
            implied = self.period.seconds * self.error_budget
            if abs(implied - self.allowed_downtime.seconds) > 60:
                raise FieldProblem(
                    "allowed_downtime",
                    f"allowed_downtime {self.allowed_downtime} disagrees with objective {self.objective} % "
                    f"over {self.period} (which allows {round(implied / 3600, 2)}h)"
                )
        return self


class BurnRateWindow(Strict):
    name: Literal["page", "ticket"]
    long: DurationField
    short: DurationField
    burn_rate: float = Field(gt=0)

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnRateWindow:
        if self.short >= self.long:
            raise FieldProblem("short", f"short window {self.short} must be shorter than long window {self.long}")
        return self


class LogRequests(Strict):
    """Which log lines are requests: lines whose standard tag `tag` equals `value`."""

    tag: str
    value: str


class LogErrors(Strict):
    """Which request lines failed: at one of `levels`, or carrying one of the standard `tags`."""

    levels: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _says_something(self) -> LogErrors:
        if not self.levels and not self.tags:
            raise ValueError("name at least one of `levels` or `tags`: otherwise no request line is an error")
        return self


class LogSlo(Slo):
    """An error-ratio SLO measured on log lines: Loki records the request and error rates, its ruler
    remote-writes them to Prometheus, which burns them like the metric SLOs."""

    requests: LogRequests
    errors: LogErrors


class Slos(Strict):
    uptime: Slo
    error_ratio: Slo
    log_error_ratio: LogSlo
    burn_rate_windows: list[BurnRateWindow] = Field(min_length=1)

    def all(self) -> list[tuple[str, Slo]]:
        """Every SLO with its key under `slos`, in file order: each gets burn-rate alerts."""
        return [("uptime", self.uptime), ("error_ratio", self.error_ratio), ("log_error_ratio", self.log_error_ratio)]

    def of_burn_alert(self, alert_id: str) -> tuple[str, Slo]:
        """The SLO (and its key) a `<slo id>_burn_<window name>` alert burns; StopIteration when none."""
        return next((key, slo) for key, slo in self.all() if alert_id.startswith(slo.id + "_burn_"))


class HealthCheck(Strict):
    id: str = Field(pattern=ID_RE)
    path: str = Field(pattern=r"^/")
    interval: DurationField
    consecutive_failures: int = Field(ge=1)
    expect_status: int = Field(ge=100, le=599)
    expect_body_regex: RegexField


class LatencyTargets(Strict):
    p50: DurationField
    p95: DurationField
    p99: DurationField

    @model_validator(mode="after")
    def _ordered(self) -> LatencyTargets:
        if not self.p50 <= self.p95 <= self.p99:
            raise FieldProblem("p95", f"targets must satisfy p50 <= p95 <= p99, got {self.p50}, {self.p95}, {self.p99}")
        return self


class ThresholdAlert(Strict):
    id: str = Field(pattern=ID_RE)
    target_below: float
    alert_above: float
    for_: DurationField = Field(alias="for")

    @model_validator(mode="after")
    def _alert_above_target(self) -> ThresholdAlert:
        if self.alert_above < self.target_below:
            raise FieldProblem(
                "alert_above", f"alert_above ({self.alert_above}) is below target_below ({self.target_below})"
            )
        return self


class QueueDepth(ThresholdAlert):
    source_field: str


class DatabasePool(ThresholdAlert):
    max_connections: int = Field(gt=0)

    @model_validator(mode="after")
    def _within_pool(self) -> DatabasePool:
        if self.alert_above >= self.max_connections:
            raise FieldProblem(
                "alert_above",
                f"alert_above ({self.alert_above}) must be below max_connections ({self.max_connections})"
            )
        return self


class LockHeartbeat(Strict):
    id: str = Field(pattern=ID_RE)
    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    column: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    expected_every: DurationField
    alert_older_than: DurationField

    @model_validator(mode="after")
    def _alert_after_expected(self) -> LockHeartbeat:
        if self.alert_older_than <= self.expected_every:
            raise FieldProblem(
                "alert_older_than",
                f"alert_older_than ({self.alert_older_than}) must exceed expected_every ({self.expected_every})"
            )
        return self


class Business(Strict):
    """How the business dashboard reads the bot's tables (columns beyond the seed's diagnostic queries)."""

    revenue_transaction_types: list[str] = Field(min_length=1)  # `transactions.type` values that are money received
    jobs_model_column: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]*$")  # generation model of a job


class Range(Strict):
    from_: float = Field(alias="from")
    to: float


class Bands(Strict):
    """A resource's normal range and its warning and critical thresholds (alert when above)."""

    id: str = Field(pattern=ID_RE)
    normal: Range
    warning_above: float
    critical_above: float
    sustained: DurationField

    @model_validator(mode="after")
    def _bands_in_order(self) -> Bands:
        if self.normal.from_ > self.normal.to:
            raise FieldProblem("normal", f"normal.from ({self.normal.from_}) is above normal.to ({self.normal.to})")
        if not self.normal.to <= self.warning_above:
            raise FieldProblem(
                "warning_above",
                f"warning_above ({self.warning_above}) must not be below normal.to ({self.normal.to})",
            )
        if not self.warning_above < self.critical_above:
            raise FieldProblem(
                "warning_above",
                f"bands out of order: warning_above ({self.warning_above}) must be below "
                f"critical_above ({self.critical_above})"
            )
        return self

    @property
    def warning_id(self) -> str:
        return f"{self.id}_warning"

    @property
    def critical_id(self) -> str:
        return f"{self.id}_critical"


class RenderMetricNames(Strict):
    cpu_time: str
    cpu_limit: str
    memory_usage: str
    memory_limit: str
    http_requests: str
    http_latency: str
    network_transmit: str
    network_receive: str
    instance_count: str


class RenderLatencyAlert(Strict):
    id: str = Field(pattern=ID_RE)
    quantile: float = Field(gt=0, lt=1)
    above: DurationField
    for_: DurationField = Field(alias="for")


class RestartSignals(Strict):
    """How tier-4 events without a log line (OOM kill, startup failure) are inferred from Render metrics."""

    window: DurationField
    oom_memory_ratio_above: float = Field(gt=0, le=1)
    startup_probe_failures: int = Field(ge=1)


class Render(Strict):
    metric_names: RenderMetricNames
    # OTLP keeps the unit the sender declared; Render does not document the latency's, so it is stated here.
    http_latency_unit: Literal["seconds", "milliseconds"]
    restart_signals: RestartSignals
    latency_alert: RenderLatencyAlert
    cpu_percent: Bands
    memory_mb: Bands
    requests_per_minute: Bands

    @model_validator(mode="after")
    def _latency_name_matches_unit(self) -> Render:
        name = self.metric_names.http_latency
        other = "milliseconds" if self.http_latency_unit == "seconds" else "seconds"
        if name.endswith(f"_{other}"):
            raise ValueError(f"http_latency_unit is {self.http_latency_unit} but metric {name!r} is in {other}")
        return self


# --- alert routing -----------------------------------------------------------------------------------------------


class TelegramSecrets(Strict):
    """Names of environment variables (or `<NAME>_FILE` paths) holding the Telegram secrets: never the values."""

    bot_token_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    low_priority_chat_id_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    oncall_chat_id_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    escalation_chat_id_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")


class WithoutDestination(Strict):
    """An alert truth accepts to route to a receiver that notifies nobody, and why."""

    alert: str = Field(pattern=ID_RE)
    reason: str = Field(min_length=1)


class AlertmanagerSettings(Strict):
    automation_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    # Where on-call opens Grafana: every dashboard and Explore link in an alert starts here (no trailing slash).
    grafana_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*[^\s/])?$")
    telegram: TelegramSecrets
    # Generation refuses an alert whose route ends in a receiver with no destination unless it is listed here.
    allowed_without_destination: list[WithoutDestination] = Field(default_factory=list)


class Inhibition(Strict):
    """While `when` fires, the `silence` alerts (about the same thing, lower tier) are not notified. Alerts of the
    same tier may inhibit each other only when they measure the same condition: `same_condition` says why."""

    when: str = Field(pattern=ID_RE)
    silence: list[str] = Field(min_length=1)
    same_condition: str | None = Field(default=None, min_length=1)


class Event(Strict):
    id: str = Field(pattern=ID_RE)
    what: str
    action: str


class Runbook(Strict):
    title: str
    command: str | None = None
    sql: str | None = None

    @model_validator(mode="after")
    def _has_a_step(self) -> Runbook:
        if not (self.command or self.sql):
            raise ValueError("a runbook step needs a `command` or an `sql`")
        return self


# --- the whole file ----------------------------------------------------------------------------------------------


class Truth(Strict):
    version: Literal[1]
    service: Service
    logs: Logs
    tiers: list[Tier] = Field(min_length=4, max_length=4)
    tier_overlap: TierOverlap
    forbidden_patterns: list[ForbiddenPattern] = Field(min_length=1)
    rate_limited_patterns: list[RateLimitedPattern]
    log_alerts: LogAlerts
    privacy: Privacy
    retention: Retention
    slos: Slos
    health_check: HealthCheck
    latency_targets: LatencyTargets
    queue_depth: QueueDepth
    database_pool: DatabasePool
    lock_heartbeat: LockHeartbeat
    business: Business | None = None  # optional: only the business dashboard reads it
    render: Render
    alertmanager: AlertmanagerSettings
    inhibitions: list[Inhibition] = Field(default_factory=list)
    events: list[Event]
    runbooks: dict[str, Runbook]

    # -- derived views used by every renderer --

    def tier(self, tier_id: int) -> Tier:
        return next(t for t in self.tiers if t.id == tier_id)

    def tiers_of(self, alert_id: str) -> list[int]:
        """Every tier whose members list this alert id, ascending."""
        return sorted({t.id for t in self.tiers for m in t.members if alert_id in m.handles})

    def effective_tier(self, alert_id: str) -> int:
        """The overlap resolution: the highest tier that lists the alert wins."""
        return max(self.tiers_of(alert_id))

    def severity(self, alert_id: str, priority: str | None = None) -> str:
        if priority is not None:
            return self.tier_overlap.severity_from_priority[priority]  # type: ignore[index]
        return self.tier_overlap.severity_without_priority[self.effective_tier(alert_id)]  # type: ignore[index]

    def tier_has_destination(self, tier_id: int) -> bool:
        """A tier's receiver reaches someone: any notify mode but `none`, or `none` with an automation webhook."""
        return self.tier(tier_id).notify != "none" or self.alertmanager.automation_webhook_url is not None

    def burn_rate_alert_ids(self) -> list[str]:
        names = sorted({w.name for w in self.slos.burn_rate_windows})
        return [f"{slo.id}_burn_{name}" for _, slo in self.slos.all() for name in names]

    def alert_ids(self) -> dict[str, tuple[str | int, ...]]:
        """Every alert the truth defines, mapped to the location of its definition."""
        ids: dict[str, tuple[str | int, ...]] = {}
        for section in ("forbidden_patterns", "rate_limited_patterns"):
            for index, pattern in enumerate(getattr(self, section)):
                ids[pattern.id] = (section, index, "id")
        for index, secret in enumerate(self.privacy.never_log):
            ids[secret.id] = ("privacy", "never_log", index, "id")
        ids[self.log_alerts.error_rate.id] = ("log_alerts", "error_rate", "id")
        ids[self.log_alerts.webhook_latency.alert.id] = ("log_alerts", "webhook_latency", "alert", "id")
        ids[self.log_alerts.webhook_latency.slow_warning.id] = ("log_alerts", "webhook_latency", "slow_warning", "id")
        ids[self.log_alerts.external_api_timeout.id] = ("log_alerts", "external_api_timeout", "id")
        ids[self.log_alerts.below_production_level.id] = ("log_alerts", "below_production_level", "id")
        ids[self.health_check.id] = ("health_check", "id")
        ids[self.queue_depth.id] = ("queue_depth", "id")
        ids[self.database_pool.id] = ("database_pool", "id")
        ids[self.lock_heartbeat.id] = ("lock_heartbeat", "id")
        ids[self.render.latency_alert.id] = ("render", "latency_alert", "id")
        for key in ("cpu_percent", "memory_mb", "requests_per_minute"):
            bands: Bands = getattr(self.render, key)
            ids[bands.warning_id] = ("render", key, "id")
            ids[bands.critical_id] = ("render", key, "id")
        for _, slo in self.slos.all():
            for index, window in enumerate(self.slos.burn_rate_windows):
                ids.setdefault(f"{slo.id}_burn_{window.name}", ("slos", "burn_rate_windows", index, "name"))
        for index, event in enumerate(self.events):
            ids[event.id] = ("events", index, "id")
        return ids

    def truth_ref(self, alert_id: str) -> str:
        """Where an alert is defined, e.g. `forbidden_patterns[4]`, for traceability labels."""
        from generator.truth.loader import format_loc

        loc = self.alert_ids()[alert_id]
        if loc[:2] == ("slos", "burn_rate_windows"):
            slo_key = self.slos.of_burn_alert(alert_id)[0]
            return f"slos.{slo_key} x {format_loc(loc[:-1])}"
        return format_loc(loc[:-1] if loc[-1] == "id" else loc)
