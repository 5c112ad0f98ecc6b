"""A read-only client of Loki's query API, for `obsctl backtest --loki` and `obsctl lint --online`.

Connection settings are provision's (`LOKI_URL`, `LOKI_TENANT` sent as `X-Scope-OrgID`, `LOKI_TOKEN` as a bearer
token, never printed). Endpoints and answer shapes follow Loki's HTTP API reference
(docs/sources/reference/loki-http-api.md): `query_range` answers `{"status": "success", "data": {"resultType":
"matrix" | "streams", "result": [...]}}` with matrix values `[<seconds>, "<value>"]` and stream values
`["<ns>", "<line>"]`; `series` answers `{"status": "success", "data": [{labels}, ...]}`; `index/stats` answers
`{"streams", "chunks", "entries", "bytes"}`.

Limits a long backtest meets, with their defaults (pkg/validation/limits.go, pkg/loghttp/query.go):
- `max_query_length` 721h: one request may span at most that (`the query time range exceeds the limit`);
- 11,000 points per series: (end - start) / step <= 11000 (`exceeded maximum resolution of 11,000 points`);
- `max_entries_limit_per_query` 5000: a log query's `limit` may not exceed it;
- `max_query_series` 500: a metric query may return at most that many series;
- `max_query_bytes_read` / `max_querier_bytes_read`: bytes a query may read (0 = no limit by default).
An error answer is turned into a message naming the limit to raise (the texts are pkg/util/validation/validate.go,
pkg/querier/queryrange/limits.go and pkg/logqlmodel/error.go).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from generator.provision.config import Secret

DEFAULT_TIMEOUT_S = 60.0
MAX_POINTS_PER_SERIES = 11_000  # pkg/loghttp/query.go
DEFAULT_MAX_QUERY_LENGTH_NS = 721 * 3600 * 10**9  # pkg/validation/limits.go: MaxQueryLength.Set("721h")
DEFAULT_MAX_ENTRIES_PER_QUERY = 5000  # pkg/validation/limits.go: validation.max-entries-limit
DEFAULT_MAX_QUERY_SERIES = 500  # pkg/validation/limits.go: querier.max-query-series

# (text Loki puts in the error, the limits_config setting that governs it, what to do)
_LIMIT_MESSAGES = (
    ("the query time range exceeds the limit", "max_query_length",
     "raise limits_config.max_query_length or pass a smaller --chunk"),
    ("max entries limit per query exceeded", "max_entries_limit_per_query",
     "raise limits_config.max_entries_limit_per_query or pass a smaller --entries-per-request"),
    ("maximum number of series", "max_query_series",
     "raise limits_config.max_query_series (the rule returns more series than it allows)"),
    ("exceeded maximum resolution of 11,000 points", "11,000 points per series (fixed)",
     "pass a smaller --chunk: (end - start) / step must stay under 11,000"),
    ("the query would read too many bytes", "max_query_bytes_read", "raise limits_config.max_query_bytes_read"),
    ("too large to execute on a single querier", "max_querier_bytes_read",
     "raise limits_config.max_querier_bytes_read"),
    ("this data is no longer available", "max_query_lookback",
     "raise limits_config.max_query_lookback or ask for a later --since"),
    ("too many outstanding requests", "max_outstanding_per_tenant",
     "raise query_scheduler.max_outstanding_requests_per_tenant or retry later"),
)


class LokiQueryError(Exception):
    """Loki refused or failed a query; the message says which request and, when known, which limit to raise."""


@dataclass(frozen=True)
class LokiConnection:
    url: str
    tenant: str | None
    token: Secret | None

    @classmethod
    def from_env(cls, url: str | None = None, default_tenant: str | None = None,
                 env: Mapping[str, str] | None = None) -> LokiConnection:
        """`url` (a command-line option) wins over LOKI_URL; LOKI_TENANT over `default_tenant` (truth's)."""
        env = os.environ if env is None else env
        base = (url or env.get("LOKI_URL", "")).strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise LokiQueryError(f"Loki URL {base or '(unset)'!r} must start with http:// or https:// "
                                 "(pass --loki URL or set LOKI_URL)")
        token = env.get("LOKI_TOKEN", "")
        return cls(base, env.get("LOKI_TENANT", "").strip() or default_tenant, Secret(token) if token else None)


def explain_error(status: int, body: str) -> str:
    """Loki's error text, and the limit to raise when the text names one."""
    text = body.strip()[:500]
    for needle, limit, advice in _LIMIT_MESSAGES:
        if needle in text:
            return f"HTTP {status}: {text} (limit `{limit}`: {advice})"
    if status == 401 or status == 403:
        return f"HTTP {status}: {text} (check LOKI_TOKEN and LOKI_TENANT)"
    if status == 429:
        return f"HTTP {status}: {text} (rate limited: raise limits_config query limits or retry later)"
    if status in (502, 503, 504):
        return f"HTTP {status}: {text} (Loki or its gateway timed out: raise querier.query_timeout / " \
               f"server.http_server_read_timeout, or pass a smaller --chunk)"
    return f"HTTP {status}: {text}"


class LokiQueryClient:
    def __init__(self, connection: LokiConnection, timeout_s: float = DEFAULT_TIMEOUT_S,
                 session: requests.Session | None = None):
        self.connection = connection
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        self.requests = 0

    def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        headers = {"Accept": "application/json"}
        if self.connection.tenant:
            headers["X-Scope-OrgID"] = self.connection.tenant
        if self.connection.token:
            headers["Authorization"] = f"Bearer {self.connection.token.reveal()}"
        what = f"GET {path}"
        self.requests += 1
        try:
            response = self.session.get(self.connection.url + path, params=params, headers=headers,
                                        timeout=self.timeout_s)
        except requests.Timeout:
            raise LokiQueryError(f"{what}: no answer within {self.timeout_s:g}s (pass a smaller --chunk)") from None
        except requests.ConnectionError as exc:
            raise LokiQueryError(f"{what}: cannot connect to {self.connection.url} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise LokiQueryError(f"{what}: {explain_error(response.status_code, response.text)}")
        try:
            return response.json()
        except ValueError:
            raise LokiQueryError(f"{what}: HTTP {response.status_code} but not JSON: "
                                 f"{response.text.strip()[:200]!r} (is {self.connection.url} a Loki?)") from None

    @staticmethod
    def _data(document: Any, what: str) -> Any:
        if not isinstance(document, dict) or document.get("status") != "success" or "data" not in document:
            raise LokiQueryError(f"{what}: unexpected answer {str(document)[:200]!r}")
        return document["data"]

    def query_range_matrix(self, query: str, start_ns: int, end_ns: int, step_ns: int) -> list[dict[str, Any]]:
        """A metric query evaluated at start, start + step, ... <= end: `[{"metric": {...}, "values": [[s, "v"]]}]`."""
        data = self._data(self._get("/loki/api/v1/query_range", [
            ("query", query), ("start", str(start_ns)), ("end", str(end_ns)), ("step", f"{step_ns / 1e9:g}s")]),
            "query_range")
        if data.get("resultType") != "matrix":
            raise LokiQueryError(f"query_range {query!r}: expected a matrix, got {data.get('resultType')!r}")
        result: list[dict[str, Any]] = data.get("result") or []
        return result

    def query_range_streams(self, query: str, start_ns: int, end_ns: int, limit: int) -> list[dict[str, Any]]:
        """Log lines in [start, end), oldest first: `[{"stream": {...}, "values": [["ns", "line"]]}]`."""
        data = self._data(self._get("/loki/api/v1/query_range", [
            ("query", query), ("start", str(start_ns)), ("end", str(end_ns)), ("limit", str(limit)),
            ("direction", "forward")]), "query_range")
        if data.get("resultType") != "streams":
            raise LokiQueryError(f"query_range {query!r}: expected streams, got {data.get('resultType')!r}")
        result: list[dict[str, Any]] = data.get("result") or []
        return result

    def series(self, selector: str, start_ns: int, end_ns: int) -> list[dict[str, str]]:
        data = self._data(self._get("/loki/api/v1/series", [
            ("match[]", selector), ("start", str(start_ns)), ("end", str(end_ns))]), "series")
        return list(data or [])

    def index_stats(self, selector: str, start_ns: int, end_ns: int) -> dict[str, int]:
        document = self._get("/loki/api/v1/index/stats", [
            ("query", selector), ("start", str(start_ns)), ("end", str(end_ns))])
        if not isinstance(document, dict) or "bytes" not in document:
            raise LokiQueryError(f"index/stats: unexpected answer {str(document)[:200]!r}")
        return {key: int(document.get(key, 0)) for key in ("streams", "chunks", "entries", "bytes")}
