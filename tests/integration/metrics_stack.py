"""A real metrics pipeline on loopback for the end-to-end test: PostgreSQL, postgres_exporter with the generated
queries, blackbox exporter probing a local /health server, pushgateway standing in for Render's OTLP push,
Prometheus with the generated rules and Alertmanager with the generated routing, every receiver pointed at a local
webhook sink.

Test override (documented, routing and rule logic unchanged):
- truth: `health_check.interval` becomes 1s, so the probe scrape, the health rule group and its
  "N consecutive failures" `for` (N-1 intervals) shrink together; thresholds stay the seed's;
- Alertmanager: `alertmanager.with_local_receivers` (receivers -> webhook sink, timers -> seconds);
- Prometheus: global scrape/evaluation interval 1s.
Every process binds 127.0.0.1 on a free port and is stopped by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from generator import conventions
from generator.artifacts import alertmanager, exporters, prometheus_rules
from generator.pipeline import plan_for
from generator.plan.routing import build_routing
from generator.truth import Truth
from generator.truth.types import Duration
from tests.tooling import free_port, require_tool


def _postgres_bin() -> Path:
    """The installed PostgreSQL server's bin folder (Debian: /usr/lib/postgresql/<major>/bin), newest major first."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    return found[0].parent if found else Path("/usr/lib/postgresql/missing/bin")


PG_BIN = _postgres_bin()
FAST_INTERVAL = Duration(1)


def fast_truth(truth: Truth) -> Truth:
    """The documented test override: only the probe interval changes."""
    return truth.model_copy(update={"health_check": truth.health_check.model_copy(update={"interval": FAST_INTERVAL})})


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # servers still starting: retry until the deadline
            last_error = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


@dataclass
class HealthState:
    healthy: bool = True
    queue_size: int = 3


class _HealthHandler(BaseHTTPRequestHandler):
    state: HealthState

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        ok = self.state.healthy
        body = json.dumps({"status": "ok" if ok else "degraded", "queue_size": self.state.queue_size}).encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class WebhookSink:
    """Alertmanager webhook receiver: records (receiver path, payload)."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self) -> list[tuple[str, dict[str, str]]]:
        """(receiver, labels) of every firing alert notified so far."""
        with self.lock:
            return [(path, alert["labels"]) for path, payload in self.received
                    for alert in payload.get("alerts", []) if alert.get("status") == "firing"]


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"{host}:{port}"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, self.stop_signal)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)


def start_process(name: str, args: list[str], workdir: Path, *, env: dict[str, str] | None = None,
                  user: str | None = None, stop_signal: int = signal.SIGTERM) -> Process:
    """`args` started in `workdir`, its output in `<workdir>/<name>.log`."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, user=user, cwd=workdir)
    return Process(name, popen, log, stop_signal)


def alertmanager_command(config: Path, listen: str, storage: Path, external_url: str | None = None) -> list[str]:
    """The real Alertmanager on loopback; the empty cluster address keeps it from gossiping on the network."""
    args = ["prometheus-alertmanager", f"--config.file={config}", f"--web.listen-address={listen}",
            "--cluster.listen-address=", f"--storage.path={storage}"]
    return [*args, f"--web.external-url={external_url}"] if external_url else args


@dataclass
class MetricsStack:
    truth: Truth
    workdir: Path
    health: HealthState
    sink: WebhookSink
    pg_port: int
    prometheus: str = ""
    alertmanager: str = ""
    pushgateway: str = ""
    processes: list[Process] = field(default_factory=list)
    servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def start(self, name: str, args: list[str], *, env: dict[str, str] | None = None, user: str | None = None,
              stop_signal: int = signal.SIGTERM) -> Process:
        process = start_process(name, args, self.workdir, env=env, user=user, stop_signal=stop_signal)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log.read_text(errors='replace')[-3000:]}" for p in self.processes)

    def psql(self, sql: str) -> None:
        subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                        "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
                       check=True, capture_output=True, timeout=30)

    def open_session(self, sql: str) -> subprocess.Popen[bytes]:
        """A psql session that runs `sql` and stays connected until its stdin closes."""
        session = subprocess.Popen([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
                                    "postgres", "-d", "postgres", "-q"], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert session.stdin is not None
        session.stdin.write(sql.encode() + b"\n")
        session.stdin.flush()
        return session

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"http://{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        return list(json.loads(http_get(url))["data"]["result"])

    def push(self, job: str, instance: str, text: str) -> None:
        request = urllib.request.Request(f"http://{self.pushgateway}/metrics/job/{job}/instance/{instance}",
                                         data=text.encode(), method="PUT")
        urllib.request.urlopen(request, timeout=5).close()

    def am_alerts(self) -> list[dict[str, Any]]:
        return list(json.loads(http_get(f"http://{self.alertmanager}/api/v2/alerts")))

    def ensure_running(self) -> None:
        """A process that exited lost its port (another test's server took the free port first): its address
        would reach a stranger's server, so fail loudly instead."""
        dead = [p.name for p in self.processes if p.popen.poll() is not None]
        if dead:
            raise RuntimeError(f"exited early: {', '.join(dead)}\n{self.logs()}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _start_postgres(stack: MetricsStack) -> None:
    data = stack.workdir / "pg"
    data.mkdir()
    shutil.chown(stack.workdir, "postgres")
    shutil.chown(data, "postgres")
    subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, user="postgres", cwd=stack.workdir, timeout=120)
    # SIGINT is PostgreSQL's fast shutdown: it does not wait for the exporter's session.
    stack.start("postgres", [str(PG_BIN / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1",
                             "-p", str(stack.pg_port), "-k", str(data)], user="postgres", stop_signal=signal.SIGINT)
    wait_until(lambda: subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(stack.pg_port)],
                                      capture_output=True).returncode == 0, 30, "PostgreSQL")
    heartbeat = stack.truth.lock_heartbeat
    stack.psql(f"CREATE TABLE {heartbeat.table} (lock_name text PRIMARY KEY, {heartbeat.column} timestamptz NOT NULL);"
               f"INSERT INTO {heartbeat.table} VALUES ('bot', now());")


def start_stack(truth: Truth) -> MetricsStack:
    for tool in ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter",
                 "prometheus-postgres-exporter", "prometheus-pushgateway"):
        require_tool(tool)
    if not (PG_BIN / "postgres").exists():
        require_tool(str(PG_BIN / "postgres"))  # absolute path: skips locally, fails in CI
    workdir = Path(tempfile.mkdtemp(prefix="metrics-e2e-", dir="/tmp"))
    workdir.chmod(0o755)
    _HealthHandler.state = HealthState()
    stack = MetricsStack(truth=truth, workdir=workdir, health=_HealthHandler.state, sink=WebhookSink(),
                         pg_port=free_port())
    try:
        _launch(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def _launch(stack: MetricsStack) -> None:
    truth, workdir = stack.truth, stack.workdir
    health_server, health_addr = _serve(_HealthHandler)
    sink = stack.sink

    class SinkHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with sink.lock:
                sink.received.append((self.path.strip("/"), payload))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    sink_server, sink_addr = _serve(SinkHandler)
    stack.servers += [health_server, sink_server]
    _start_postgres(stack)

    for artifact in [*exporters.render(plan_for(truth)), *prometheus_rules.render(plan_for(truth))]:
        target = workdir / Path(artifact.path).name
        target.write_text(artifact.content, encoding="utf-8")

    pg_exporter, blackbox, pushgateway = (f"127.0.0.1:{free_port()}" for _ in range(3))
    stack.pushgateway = pushgateway
    stack.start("postgres_exporter", [
        "prometheus-postgres-exporter", f"--web.listen-address={pg_exporter}",
        f"--extend.query-path={workdir / Path(conventions.POSTGRES_QUERIES_FILE).name}",
    ], env={**os.environ, "DATA_SOURCE_NAME": f"postgresql://postgres@127.0.0.1:{stack.pg_port}/postgres"
                                              "?sslmode=disable&application_name="
                                              f"{conventions.EXPORTER_APPLICATION_NAME}"})
    stack.start("blackbox", ["prometheus-blackbox-exporter", f"--web.listen-address={blackbox}",
                             f"--config.file={workdir / Path(conventions.BLACKBOX_FILE).name}"])
    # Empty persistence file: Debian's default (/var/lib/prometheus) would leak pushes between runs.
    stack.start("pushgateway", ["prometheus-pushgateway", f"--web.listen-address={pushgateway}",
                                "--persistence.file="])

    am_config = alertmanager.with_local_receivers(
        alertmanager.build_config(truth, build_routing(truth), alertmanager.placeholder_values(truth)), f"http://{sink_addr}")
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(am_config), encoding="utf-8")
    stack.alertmanager = f"127.0.0.1:{free_port()}"
    stack.start("alertmanager", alertmanager_command(workdir / "alertmanager.yml", stack.alertmanager,
                                                     workdir / "am-data"))

    scrape = exporters.scrape_configs(truth, health_url=f"http://{health_addr}{truth.service.health_path}",
                                             blackbox=blackbox, postgres_exporter=pg_exporter)
    # Render's OTLP push is replaced by the pushgateway: its pushed job/instance labels are kept.
    scrape.append({"job_name": "render-push", "honor_labels": True, "static_configs": [{"targets": [pushgateway]}]})
    prometheus_config = {
        "global": {"scrape_interval": str(FAST_INTERVAL), "evaluation_interval": str(FAST_INTERVAL)},
        "rule_files": [str(workdir / Path(conventions.PROMETHEUS_RULES_FILE).name)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [stack.alertmanager]}]}]},
        "scrape_configs": scrape,
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config), encoding="utf-8")
    stack.prometheus = f"127.0.0.1:{free_port()}"
    stack.start("prometheus", [
        "prometheus", f"--config.file={workdir / 'prometheus.yml'}", f"--web.listen-address={stack.prometheus}",
        f"--storage.tsdb.path={workdir / 'prom-data'}",
    ])
    for name, url in (("Prometheus", f"http://{stack.prometheus}/-/ready"),
                      ("Alertmanager", f"http://{stack.alertmanager}/-/ready"),
                      ("pushgateway", f"http://{pushgateway}/-/ready")):
        wait_until(lambda url=url: http_get(url) is not None, 30, name)
    time.sleep(1)
    stack.ensure_running()


def running_stack(truth: Truth) -> Iterator[MetricsStack]:
    stack = start_stack(fast_truth(truth))
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(stack.workdir, ignore_errors=True)
