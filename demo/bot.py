#!/usr/bin/env python3
"""Demo Telegram bot for the local monitoring stack (Python standard library only).

It behaves, as far as monitoring can tell, like the real bot on Render: it answers `/health` with JSON
(`{"status": "ok", "queue_size": N, ...}`), accepts Telegram updates on `/webhook`, writes logs in the seed's text
format (`%(asctime)s - %(name)s - %(levelname)s - %(message)s`, standard tags as `key=value`) and as JSON with the
standard tags (`user_id`, `update_id`, `operation`, `duration_ms`, `error_type`), at every level, and heartbeats its
lock in PostgreSQL when one is configured. On demand it reproduces incidents: forbidden log patterns, rate-limited
patterns above their limit, an error burst, slow webhooks, leaked secrets, an overloaded queue, a failing /health,
a stale lock.

    python3 demo/bot.py serve --port 8080 --log-file /var/log/bot/bot.log
    curl -X POST 'http://127.0.0.1:8080/incident?scenario=forbidden,rate_limited'
    python3 demo/bot.py simulate --minutes 20 --incident forbidden --incident-at 5   # offline, deterministic

`serve` and `simulate` share one traffic model: the lines a test feeds to the offline LogQL engine are the lines
the running bot writes, only with simulated time.
"""

from __future__ import annotations

import argparse
import heapq
import importlib
import json
import logging
import logging.handlers
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from urllib.parse import parse_qs, urlparse


def _import_bot_logging() -> ModuleType:
    """The generated logging module (bot/bot_logging.py, from product/truth.yaml): beside this file in the image
    (docker-compose.yml mounts it there), in ../bot in a checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.join(os.path.dirname(here), "bot")):
        if os.path.exists(os.path.join(folder, "bot_logging.py")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            break
    return importlib.import_module("bot_logging")


bot_logging = _import_bot_logging()
TEXT_FORMAT = bot_logging.TEXT_FORMAT  # the seed's logging.basicConfig format
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
          "CRITICAL": logging.CRITICAL}
MODELS = ["flux-pro", "flux-dev", "sdxl", "kandinsky-3"]
HEARTBEAT_EVERY = 30.0  # seconds, the seed's lock heartbeat
QUEUE_CAPACITY = 100


# --- log events and formats --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    logger: str
    level: int
    message: str
    tags: dict[str, object] = field(default_factory=dict)
    db: tuple[str, ...] = ()  # SQL statements the real bot would run with this event (serve mode only)


class MixedFormatter(logging.Formatter):
    """The bot's own loggers (`bot.*`) write JSON; libraries (aiohttp, httpx) keep the basicConfig text format."""

    def __init__(self) -> None:
        super().__init__()
        self.text, self.json = bot_logging.TextFormatter(), bot_logging.JsonFormatter()

    def format(self, record: logging.LogRecord) -> str:
        return (self.json if record.name.startswith("bot.") else self.text).format(record)


FORMATTERS: dict[str, Callable[[], logging.Formatter]] = {
    "text": bot_logging.TextFormatter, "json": bot_logging.JsonFormatter, "mixed": MixedFormatter,
}


def make_record(event: Event, when: float) -> logging.LogRecord:
    """The record `logger.info(message, extra=tags)` would make, at time `when`."""
    record = logging.LogRecord(event.logger, event.level, __file__, 0, event.message, None, None)
    record.created = when
    record.msecs = int((when - int(when)) * 1000)
    record.__dict__.update(event.tags)
    return record


# --- the traffic model -------------------------------------------------------------------------------------------


class Traffic:
    """Normal operation plus injected incidents, as a time-ordered stream of (seconds since start, Event).

    Normal traffic stays inside every alert threshold the seed sets: webhook responses under 300 ms, fewer than a
    handful of ERROR lines per 10 minutes, each rate-limited pattern far less often than once per 30 s, no forbidden
    pattern, no secret. Incidents break exactly the thresholds they are named after.
    """

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.heap: list[tuple[float, int, object]] = []
        self.sequence = 0
        self.next_update_id = 900_000 + self.rng.randrange(1000)
        self.queue_size = 3
        self.overload_until = -1.0
        self.health_down_until = -1.0
        self.heartbeat_paused_until = -1.0
        for first, ticker in ((0.5, self._update), (1.0, self._heartbeat), (45.0, self._duplicate),
                              (70.0, self._insufficient_balance), (110.0, self._model_not_found),
                              (95.0, self._api_timeout), (170.0, self._generation_failed), (20.0, self._queue)):
            self._push(first, ticker)
        self._push(0.0, Event("bot.main", logging.INFO, "Bot started", {"operation": "startup"}))

    # scheduling

    def _push(self, when: float, item: object) -> None:
        heapq.heappush(self.heap, (when, self.sequence, item))
        self.sequence += 1

    def next_time(self) -> float:
        while self.heap and callable(self.heap[0][2]):
            when, _, ticker = heapq.heappop(self.heap)
            next_when = ticker(when)  # type: ignore[operator]
            self._push(next_when, ticker)
        return self.heap[0][0]

    def pop(self) -> tuple[float, Event]:
        self.next_time()
        when, _, event = heapq.heappop(self.heap)
        return when, event  # type: ignore[return-value]

    def events_until(self, end: float) -> Iterator[tuple[float, Event]]:
        while self.next_time() <= end:
            yield self.pop()

    # normal operation

    def _user(self) -> int:
        return self.rng.choice([123, 4567, 88231, 104455, 5550123, 7001234])

    def _update(self, now: float) -> float:
        update_id, user_id = self.next_update_id, self._user()
        self.next_update_id += 1
        duration = int(self.rng.triangular(40, 280, 110))
        self._push(now, Event("bot.webhook", logging.DEBUG, "Update received",
                              {"update_id": update_id, "user_id": user_id}))
        self._push(now + duration / 1000, Event("bot.webhook", logging.INFO, "Webhook handled", {
            "update_id": update_id, "user_id": user_id, "operation": "webhook", "duration_ms": duration}))
        roll = self.rng.random()
        if roll < 0.3:
            model = self.rng.choice(MODELS)
            took = int(self.rng.uniform(2500, 9000))
            self._push(now + 0.2, Event("bot.generation", logging.INFO, "Generation started", {
                "user_id": user_id, "operation": "generation", "model": model,
                "prompt_length": self.rng.randrange(8, 200)}))
            self._push(now + 0.2 + took / 1000, Event("bot.generation", logging.INFO, "Generation completed", {
                "user_id": user_id, "operation": "generation", "model": model, "duration_ms": took},
                db=(f"INSERT INTO jobs (user_id, model, status, created_at, completed_at) VALUES "
                    f"({user_id}, {sql_text(model)}, 'completed', now() - interval '{took} milliseconds', now())",
                    f"INSERT INTO transactions (user_id, amount, type, description) VALUES "
                    f"({user_id}, -1.00, 'charge', {sql_text('generation ' + model)})")))
        elif roll < 0.4:
            amount = self.rng.choice(["4.99", "9.99", "19.99"])
            self._push(now + 0.1, Event("bot.payments", logging.INFO, "Payment received", {
                "user_id": user_id, "operation": "payment", "amount": amount,
                "duration_ms": int(self.rng.uniform(30, 120))},
                db=(f"INSERT INTO transactions (user_id, amount, type, description) VALUES "
                    f"({user_id}, {amount}, 'topup', 'Telegram Stars payment')",)))
            # The seed masks balances: Alloy turns balance=<n> into balance=*** at ingestion.
            self._push(now + 0.15, Event("bot.billing", logging.INFO,
                                         f"User balance checked balance={self.rng.uniform(5, 80):.2f}",
                                         {"user_id": user_id, "operation": "payment"}))
        self._push(now + 0.05, Event("httpx", logging.INFO,
                                     'HTTP Request: POST https://api.telegram.org/sendMessage "HTTP/1.1 200 OK"'))
        return now + self.rng.uniform(3.0, 7.0)

    def _heartbeat(self, now: float) -> float:
        if now < self.heartbeat_paused_until:
            return now + HEARTBEAT_EVERY
        self._push(now, Event("bot.lock", logging.DEBUG, "Lock heartbeat written", {"operation": "lock"},
                              db=("INSERT INTO lock_heartbeat (lock_name, holder, acquired_at, last_heartbeat) "
                                  "VALUES ('telegram-bot', 'demo-bot', now(), now()) ON CONFLICT (lock_name) DO "
                                  "UPDATE SET holder = EXCLUDED.holder, last_heartbeat = now()",)))
        return now + HEARTBEAT_EVERY

    # Tier-1/2 events of the seed, each far below its limit (rate-limited ones: >= 90 s apart, limit 1 per 30 s).

    def _duplicate(self, now: float) -> float:
        self._push(now, Event("bot.webhook", logging.WARNING,
                              f"Duplicate update_id {self.next_update_id - 1}, skipping",
                              {"update_id": self.next_update_id - 1, "operation": "webhook"}))
        return now + self.rng.uniform(130, 170)

    def _insufficient_balance(self, now: float) -> float:
        user_id = self._user()
        self._push(now, Event("bot.billing", logging.WARNING,
                              f"Insufficient balance for user {user_id}: balance=0.00",
                              {"user_id": user_id, "operation": "generation"}))
        return now + self.rng.uniform(100, 140)

    def _model_not_found(self, now: float) -> float:
        self._push(now, Event("bot.generation", logging.WARNING, "Model not found: flux-9000",
                              {"user_id": self._user(), "operation": "generation"}))
        return now + self.rng.uniform(170, 230)

    def _api_timeout(self, now: float) -> float:
        self._push(now, Event("bot.generation", logging.WARNING, "External API timeout, retrying with backoff",
                              {"operation": "generation", "attempt": 1, "error_type": "TimeoutError"}))
        return now + self.rng.uniform(80, 120)

    def _generation_failed(self, now: float) -> float:
        self._push(now, Event("bot.generation", logging.ERROR, "Generation failed: upstream returned 502", {
            "user_id": self._user(), "operation": "generation", "error_type": "HTTPStatusError"}))
        return now + self.rng.uniform(280, 320)

    def _queue(self, now: float) -> float:
        if now < self.overload_until:
            self.queue_size = self.rng.randrange(90, 99)
            self._push(now, Event("bot.queue", logging.WARNING,
                                  f"Queue depth high: {self.queue_size} of {QUEUE_CAPACITY} updates waiting",
                                  {"operation": "webhook"}))
        else:
            self.queue_size = max(0, min(20, self.queue_size + self.rng.choice([-2, -1, 0, 1, 2])))
            self._push(now, Event("bot.queue", logging.DEBUG,
                                  f"Queue size {self.queue_size} of {QUEUE_CAPACITY}", {"operation": "webhook"}))
        return now + 15.0

    # incidents

    def inject(self, scenario: str, now: float) -> int:
        """Schedule `scenario` starting at `now`; returns the number of log lines it adds."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        events = SCENARIOS[scenario].build(self, now)
        for when, event in events:
            self._push(when, event)
        return len(events)

    def health(self, now: float) -> tuple[int, dict[str, object]]:
        if now < self.health_down_until:
            return 503, {"status": "degraded", "queue_size": self.queue_size, "error": "database ping timed out"}
        return 200, {"status": "ok", "queue_size": self.queue_size}


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- incident scenarios ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    description: str
    build: Callable[[Traffic, float], list[tuple[float, Event]]]


def _forbidden(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    lines = [
        Event("bot.payments", logging.ERROR, "TypeError: Object of type Decimal is not JSON serializable",
              {"user_id": 4567, "operation": "payment", "error_type": "TypeError"}),
        Event("bot.lock", logging.CRITICAL,
              "asyncpg.exceptions.NumericValueOutOfRangeError: OID out of range",
              {"operation": "lock", "error_type": "NumericValueOutOfRangeError"}),
        Event("aiohttp.server", logging.ERROR, "Error handling request"),
        Event("bot.lock", logging.ERROR, "Lock acquisition failed after 3 attempts",
              {"operation": "lock", "error_type": "LockNotAvailableError"}),
        Event("bot.queue", logging.WARNING, "Queue full, rejecting update 555 with 429",
              {"update_id": 555, "operation": "webhook"}),
        Event("bot.db", logging.CRITICAL, "Database connection lost: server closed the connection unexpectedly",
              {"operation": "webhook", "error_type": "ConnectionDoesNotExistError"}),
        Event("bot.webhook", logging.ERROR, "Webhook timeout: 734 ms for update 91",
              {"update_id": 91, "error_type": "TimeoutError"}),
    ]
    return [(now + 1.0 * index, event) for index, event in enumerate(lines)]


def _rate_limited(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    events = []
    for repeat in range(3):  # three hits within 10 s: above the limit of 1 per 30 s
        at = now + 4.0 * repeat
        events += [
            (at, Event("bot.webhook", logging.WARNING, f"Duplicate update_id {987654 + repeat}, skipping",
                       {"update_id": 987654 + repeat, "operation": "webhook"})),
            (at + 0.5, Event("bot.billing", logging.WARNING, "Insufficient balance for user 123: balance=0.00",
                             {"user_id": 123, "operation": "generation"})),
            (at + 1.0, Event("bot.generation", logging.WARNING, "Model not found: flux-9000",
                             {"user_id": 123, "operation": "generation"})),
        ]
    return events


def _error_burst(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    return [(now + 4.0 * i, Event("bot.generation", logging.ERROR, "Generation failed: upstream returned 502",
                                  {"user_id": 88231, "operation": "generation", "error_type": "HTTPStatusError"}))
            for i in range(12)]


def _webhooks(traffic: Traffic, now: float, count: int, every: float, low: int, high: int
              ) -> list[tuple[float, Event]]:
    """`count` webhook responses `every` seconds, durations in [low, high) ms; the seed logs 300-800 ms as WARNING."""
    return [(now + every * i, Event("bot.webhook", logging.WARNING if d > 300 else logging.INFO, "Webhook handled", {
        "update_id": 500_000 + i, "user_id": 123, "operation": "webhook", "duration_ms": d}))
        for i, d in enumerate(traffic.rng.randrange(low, high) for _ in range(count))]


def _slow_webhooks(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    # The 300-800 ms band for 15 minutes, one a second beside the normal traffic: the median moves into the band
    # and stays there past the warning's `for` (a few slow lines alone leave the median, and the alert, alone).
    return _webhooks(traffic, now, 900, 1.0, 400, 700)


def _latency(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    return _webhooks(traffic, now, 140, 3.0, 1200, 2500)  # 7 minutes of P95 > 1 s


def _secret_leak(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    # Made-up credentials in the shape of the real ones: what a careless debug line would print.
    return [
        (now, Event("httpx", logging.INFO, "HTTP Request: POST https://api.telegram.org/bot"
                    "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/sendMessage \"HTTP/1.1 200 OK\"")),
        (now + 1.0, Event("bot.config", logging.INFO, "Configuration loaded",
                          {"kie_api_key": "demo0123456789abcdefDEMO", "operation": "startup"})),
        (now + 2.0, Event("bot.generation", logging.INFO, "Generation started",
                          {"user_id": 123, "operation": "generation", "prompt": "a cat in space"})),
    ]


def _overload(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    traffic.overload_until = now + 360.0  # queue above 80 for 6 minutes: the 5-minute alert fires
    traffic.queue_size = traffic.rng.randrange(90, 99)
    return [(now, Event("bot.queue", logging.WARNING, "Update queue growing: generation workers saturated",
                        {"operation": "webhook"}))]


def _health_down(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    traffic.health_down_until = now + 300.0  # five failed probes at one per minute: > 3 consecutive failures
    return [(now, Event("bot.db", logging.ERROR, "Database ping timed out after 5 s",
                        {"operation": "health", "error_type": "TimeoutError"}))]


def _lock_stale(traffic: Traffic, now: float) -> list[tuple[float, Event]]:
    traffic.heartbeat_paused_until = now + 180.0  # no heartbeat for 3 minutes: older than the 60 s limit
    return [(now, Event("bot.lock", logging.WARNING, "Lock heartbeat thread stalled", {"operation": "lock"}))]


SCENARIOS: dict[str, Scenario] = {
    "forbidden": Scenario("one line of every forbidden pattern, text and JSON", _forbidden),
    "rate_limited": Scenario("every rate-limited pattern three times in 10 s", _rate_limited),
    "error_burst": Scenario("12 ERROR lines in under a minute", _error_burst),
    "slow_webhooks": Scenario("15 minutes of webhook responses of 400-700 ms, one a second", _slow_webhooks),
    "latency": Scenario("7 minutes of webhook responses over 1 s", _latency),
    "secret_leak": Scenario("a bot token, an API key and a user prompt in the logs", _secret_leak),
    "overload": Scenario("queue_size above 80 in /health for 6 minutes", _overload),
    "health_down": Scenario("/health answers 503 for 5 minutes", _health_down),
    "lock_stale": Scenario("no lock heartbeat for 3 minutes", _lock_stale),
}
DEFAULT_INCIDENT = "forbidden,rate_limited"


def parse_scenarios(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if not names or unknown:
        raise ValueError(f"unknown scenario(s) {unknown or text!r}; known: {', '.join(SCENARIOS)}")
    return names


# --- simulate: the same traffic, offline ------------------------------------------------------------------------


def simulate(minutes: float, start: datetime, log_format: str = "mixed", seed: int = 7,
             incidents: tuple[tuple[float, str], ...] = (), min_level: int = logging.INFO
             ) -> list[tuple[datetime, str]]:
    """Log lines (with their timestamps) the bot would write over `minutes`, incidents at (minute, scenario), at
    `min_level` and above (INFO: the seed's production default; DEBUG lines alert in production)."""
    traffic = Traffic(seed)
    for minute, scenario in incidents:
        traffic.inject(scenario, minute * 60.0)
    formatter = FORMATTERS[log_format]()
    redaction = bot_logging.RedactingFilter()  # as the running bot's handlers: redacted at the source
    base = start.timestamp()
    lines = []
    for offset, event in traffic.events_until(minutes * 60.0):
        if event.level >= min_level:
            when = base + offset
            record = make_record(event, when)
            redaction.filter(record)
            lines.append((datetime.fromtimestamp(when, UTC), formatter.format(record)))
    return lines


# --- serve: the running demo bot -------------------------------------------------------------------------------


class SyslogTlsHandler(logging.Handler):
    """RFC 5424 over TLS with octet-counting framing (RFC 5425/6587), the way Render log streams deliver lines."""

    def __init__(self, address: str, ca_file: str | None, hostname: str = "demo-bot", app: str = "telegram-bot"):
        super().__init__()
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl._create_unverified_context()
        if ca_file:
            self.context.check_hostname = False  # the local stack's certificate names the compose service
        self.hostname, self.app = hostname, app
        self.sock: ssl.SSLSocket | None = None

    def emit(self, record: logging.LogRecord) -> None:
        severity = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}.get(record.levelno, 2)
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message = f"<{8 + severity}>1 {stamp} {self.hostname} {self.app} {os.getpid()} - - {self.format(record)}"
        frame = f"{len(message.encode())} {message}".encode()
        try:
            if self.sock is None:
                raw = socket.create_connection(self.address, timeout=5)
                self.sock = self.context.wrap_socket(raw, server_hostname=self.address[0])
            self.sock.sendall(frame)
        except OSError:
            self.sock = None  # the next line reconnects; a lost line is what a real log stream loses too
            self.handleError(record)


class Database:
    """The bot's PostgreSQL writes through `psql` (connection from the standard PG* environment variables)."""

    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("PGHOST"))
        self.pending: list[str] = []
        self.lock = threading.Lock()

    def add(self, statements: tuple[str, ...]) -> None:
        if self.enabled and statements:
            with self.lock:
                self.pending.extend(statements)

    def flush(self, log: logging.Logger) -> None:
        with self.lock:
            statements, self.pending = self.pending, []
        if not statements:
            return
        script = "BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;\n"
        result = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-qAt"], input=script, text=True,
                                capture_output=True, timeout=20)
        if result.returncode != 0:
            log.error("Database write failed: %s", result.stderr.strip().splitlines()[-1:] or "psql failed",
                      extra={"operation": "db", "error_type": "PsqlError"})


class Bot:
    def __init__(self, traffic: Traffic):
        self.traffic = traffic
        self.started = time.time()
        self.cond = threading.Condition()
        self.db = Database()
        self.seen_updates: deque[int] = deque(maxlen=1000)

    def now(self) -> float:
        return time.time() - self.started

    def emit(self, event: Event, when: float) -> None:
        logger = logging.getLogger(event.logger)
        if logger.isEnabledFor(event.level):
            logger.handle(make_record(event, when))
        self.db.add(event.db)

    def run_traffic(self, stop: threading.Event) -> None:
        last_flush = time.time()
        while not stop.is_set():
            with self.cond:
                due = self.traffic.next_time()
                wait = due - self.now()
                if wait > 0:
                    self.cond.wait(timeout=min(wait, 1.0))
                    continue
                _offset, event = self.traffic.pop()
            self.emit(event, time.time())
            if self.db.enabled and time.time() - last_flush >= 5:
                self.db.flush(logging.getLogger("bot.db"))
                last_flush = time.time()

    def incident(self, scenarios: list[str]) -> int:
        with self.cond:
            added = sum(self.traffic.inject(name, self.now()) for name in scenarios)
            self.cond.notify_all()
        logging.getLogger("bot.demo").info("Demo incident started: %s", ",".join(scenarios),
                                           extra={"operation": "demo"})
        return added

    def webhook(self, update: dict[str, object]) -> None:
        started = time.perf_counter()
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            raise ValueError("update_id missing")
        message = update.get("message")
        sender = message.get("from") if isinstance(message, dict) else None
        user_id = sender.get("id") if isinstance(sender, dict) else None
        log = logging.getLogger("bot.webhook")
        if update_id in self.seen_updates:
            log.warning("Duplicate update_id %s, skipping", update_id,
                        extra={"update_id": update_id, "operation": "webhook"})
            return
        self.seen_updates.append(update_id)
        log.debug("Update received", extra={"update_id": update_id, "user_id": user_id})
        duration = round((time.perf_counter() - started) * 1000) + 1
        log.info("Webhook handled", extra={"update_id": update_id, "user_id": user_id,
                                           "operation": "webhook", "duration_ms": duration})


class Handler(BaseHTTPRequestHandler):
    bot: Bot
    health_path = "/health"
    webhook_path = "/webhook"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server API)
        logging.getLogger("aiohttp.access").debug("%s %s", self.command, self.path)

    def reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        path = urlparse(self.path).path
        if path == self.health_path:
            status, body = self.bot.traffic.health(self.bot.now())
            body |= {"uptime_seconds": round(self.bot.now()), "version": "demo"}
            if status != 200:
                logging.getLogger("bot.health").error("Health check failed: %s", body.get("error"),
                                                      extra={"operation": "health"})
            self.reply(status, body)
        elif path == "/incident":
            self.reply(200, {"scenarios": {name: s.description for name, s in SCENARIOS.items()},
                             "default": DEFAULT_INCIDENT})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        if url.path == "/incident":
            try:
                scenarios = parse_scenarios(parse_qs(url.query).get("scenario", [DEFAULT_INCIDENT])[0])
            except ValueError as exc:
                self.reply(400, {"error": str(exc)})
                return
            self.reply(202, {"scenarios": scenarios, "log_lines": self.bot.incident(scenarios)})
        elif url.path == self.webhook_path:
            try:
                self.bot.webhook(json.loads(payload or b"{}"))
            except (ValueError, AttributeError) as exc:
                logging.getLogger("aiohttp.server").warning("Bad update: %s", exc)
                self.reply(400, {"ok": False})
                return
            self.reply(200, {"ok": True})
        else:
            self.reply(404, {"error": "not found"})


def configure_logging(log_format: str, level: str, log_file: str | None, syslog: str | None,
                      syslog_ca: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if syslog:
        # Like Render: the log stream is the way out. No file as well, or Alloy would ingest every line twice.
        handlers.append(SyslogTlsHandler(syslog, syslog_ca))
    elif log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        # Rotated copies are named bot.log.1: outside the `*.log` glob Alloy tails, so no line is read twice.
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=50_000_000, backupCount=1,
                                                             encoding="utf-8"))
    formatter = FORMATTERS[log_format]()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(bot_logging.RedactingFilter())  # every handler: records from child loggers too
    logging.basicConfig(level=LEVELS[level], handlers=handlers, force=True)


def serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format, args.log_level, args.log_file, args.syslog, args.syslog_ca)
    bot = Bot(Traffic(args.seed))
    Handler.bot = bot
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    stop = threading.Event()
    worker = threading.Thread(target=bot.run_traffic, args=(stop,), daemon=True)
    worker.start()

    def shutdown(signum: int, _frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    # SIGUSR1 starts the default incident without HTTP (`docker kill -s USR1 <bot container>`).
    signal.signal(signal.SIGUSR1, lambda _s, _f: bot.incident(parse_scenarios(DEFAULT_INCIDENT)))
    logging.getLogger("aiohttp.web").info("Listening on %s:%s", args.host, server.server_address[1])
    server.serve_forever()
    worker.join(timeout=5)
    if bot.db.enabled:
        bot.db.flush(logging.getLogger("bot.db"))
    return 0


def wait_for_health(url: str, wait: float) -> str | None:
    """The /health body once the bot answers (any status: health_down answers 503), or None after `wait` s."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                return None
            time.sleep(1)


def request_incident(url: str, scenario: str, wait: float) -> int:
    """Client side of `make demo-incident`: wait for the bot, then POST /incident."""
    import urllib.error
    import urllib.request

    if wait_for_health(url, wait) is None:
        print(f"the demo bot at {url} does not answer; is the stack up (`make up`)?", file=sys.stderr)
        return 1
    request = urllib.request.Request(f"{url}/incident?scenario={scenario}", method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as exc:
        print(f"the bot refused the incident: {exc.read().decode()}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=sorted(FORMATTERS), default=os.environ.get("DEMO_LOG_FORMAT", "mixed"))
    common.add_argument("--seed", type=int, default=7)
    run = commands.add_parser("serve", parents=[common], help="run the bot (HTTP + live logs)")
    run.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8080")))
    run.add_argument("--log-level", choices=list(LEVELS), default=os.environ.get("DEMO_LOG_LEVEL", "INFO"))
    run.add_argument("--log-file", default=os.environ.get("DEMO_LOG_FILE") or None)
    run.add_argument("--syslog", default=os.environ.get("DEMO_SYSLOG_ADDRESS") or None,
                     help="also send RFC 5424 over TLS to host:port (a Render log stream)")
    run.add_argument("--syslog-ca", default=os.environ.get("DEMO_SYSLOG_CA") or None)
    client = commands.add_parser("incident", help="ask a running bot to start an incident")
    client.add_argument("--url", default="http://127.0.0.1:8080")
    client.add_argument("--scenario", default=DEFAULT_INCIDENT, help=f"comma-separated: {', '.join(SCENARIOS)}")
    client.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the bot's /health first")
    waiter = commands.add_parser("wait", help="wait until a running bot answers /health, print the answer")
    waiter.add_argument("--url", default="http://127.0.0.1:8080")
    waiter.add_argument("--timeout", type=float, default=120.0)
    sim = commands.add_parser("simulate", parents=[common], help="print the log lines of a simulated period")
    sim.add_argument("--minutes", type=float, default=20.0)
    sim.add_argument("--start", default="2026-11-29T10:00:00+00:00")
    sim.add_argument("--incident", default=None, help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    sim.add_argument("--incident-at", type=float, default=5.0, help="minute the incident starts")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "incident":
        return request_incident(args.url, args.scenario, args.wait)
    if args.command == "wait":
        body = wait_for_health(args.url, args.timeout)
        if body is None:
            print(f"the demo bot at {args.url} did not answer within {args.timeout:g} s", file=sys.stderr)
            return 1
        print(body)
        return 0
    try:
        incidents = tuple((args.incident_at, name) for name in parse_scenarios(args.incident)) if args.incident else ()
        start = datetime.fromisoformat(args.start)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        for _when, line in simulate(args.minutes, start, args.log_format, args.seed, incidents):
            print(line)
    except BrokenPipeError:  # `| head`: the reader has enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
