"""Base for the stateful fake HTTP servers (Grafana, Loki ruler): loopback only, a free port, a request log, and
faults injected per test. Subclasses implement `handle(method, path, query, headers, body)`."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON, str -> text
    content_type: str | None = None


@dataclass
class Fault:
    """Answer `times` matching requests abnormally.

    status: answer with this status instead of handling the request (the request has no effect);
    delay: sleep this long before answering (a client with a shorter timeout gives up);
    process_first: with delay, handle the request before sleeping: the write lands but its answer is lost;
    before: run this first (e.g. a concurrent hand edit)."""

    method: str
    path: str  # regex matched against the path from its start
    status: int | None = None
    body: Any = None
    delay: float = 0.0
    process_first: bool = False
    times: int = 1
    before: Callable[[], None] | None = None
    hits: int = 0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class FakeServer:
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
                pass

            def _serve(self) -> None:
                server._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    # -- faults and the log -----------------------------------------------------------------------------------

    def inject(self, method: str, path: str, **kwargs: Any) -> Fault:
        fault = Fault(method, path, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def writes(self) -> list[Request]:
        """Write requests that the server handled (faulted ones did nothing)."""
        return [r for r in self.requests if r.method in WRITE_METHODS and r.status < 300]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and re.match(fault.path, path) and fault.hits < fault.times:
                    fault.hits += 1
                    return fault
        return None

    # -- dispatch ---------------------------------------------------------------------------------------------

    def _dispatch(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        method = http.command
        record = Request(method, parts.path, {k.lower(): v for k, v in http.headers.items()})
        fault = self._fault_for(method, parts.path)
        if fault and fault.before:
            fault.before()
        if fault and fault.status is not None:
            reply = Reply(fault.status, fault.body if fault.body is not None else {"message": "injected fault"})
            record.status = 600  # counts as not handled
        else:
            if fault and fault.delay and not fault.process_first:
                time.sleep(fault.delay)
            with self.lock:
                reply = self.handle(method, parts.path, parse_qs(parts.query), record.headers, body)
            record.status = reply.status
        with self.lock:
            self.requests.append(record)  # logged when handled, not when answered
        if fault and fault.delay and fault.process_first:
            time.sleep(fault.delay)
        self._send(http, reply)

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply.body, dict | list):
            payload = json.dumps(reply.body).encode()
            content_type = reply.content_type or "application/json"
        else:
            payload = str(reply.body or "").encode()
            content_type = reply.content_type or "text/plain; charset=utf-8"
        try:
            http.send_response(reply.status)
            http.send_header("Content-Type", content_type)
            http.send_header("Content-Length", str(len(payload)))
            http.end_headers()
            http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (time-out fault)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        raise NotImplementedError


Served = TypeVar("Served", bound=FakeServer)


def serving(server: Served) -> Iterator[Served]:
    """For a fixture: `yield from serving(FakeX())` starts the fake on loopback and stops it after the test."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
