"""A stand-in for Loki's query API (Loki cannot run on this machine), answering like Loki 3.x per its HTTP API
reference (docs/sources/reference/loki-http-api.md in grafana/loki) and source:

- `GET /loki/api/v1/query_range`: `{"status": "success", "data": {"resultType": "matrix", "result": [{"metric":
  {...}, "values": [[<seconds>, "<value>"], ...]}]}}` for a metric query, evaluated at start, start + step, ...
  <= end ("Step versus interval"); `{"resultType": "streams", "result": [{"stream": {...}, "values": [["<ns>",
  "<line>"], ...]}]}` for a log query, entries with start <= ts < end, `direction=forward` oldest first, at most
  `limit` entries in all;
- `GET /loki/api/v1/series`: `{"status": "success", "data": [{labels}, ...]}`, the streams `match[]` selects;
- `GET /loki/api/v1/index/stats`: `{"streams", "chunks", "entries", "bytes"}` for the selector over [start, end];
- limits, answered as plain text with the status Loki uses (pkg/util/server/error.go WriteError): a range longer
  than `max_query_length` (721h, pkg/validation/limits.go) is 400 `the query time range exceeds the limit (query
  length: ..., limit: ...)` (pkg/util/validation/validate.go); more than 11,000 points per series is 400 `exceeded
  maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter`
  (pkg/loghttp/query.go); `limit` above `max_entries_limit_per_query` (5000) is 400 `max entries limit per query
  exceeded, limit > max_entries_limit_per_query (N > 5000)`; more series than `max_query_series` (500) is 400
  `maximum number of series (500) reached for a single query; ...` (pkg/querier/queryrange/limits.go); no
  `X-Scope-OrgID` is 401 `no org id` (dskit user.ErrNoOrgID).

The fake does not evaluate LogQL: metric answers are the matrices a test states (`matrices[query]`, exact query
text), so a test's expectations are literal; log queries and the series/stats APIs accept only `{name="value", ...}`
selectors and answer from the lines a test stores (`add_lines`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from generator.logql_engine.gocompat import parse_prometheus_duration_ns
from generator.truth.types import Duration
from tests.fakes.server import FakeServer, Reply

MAX_POINTS = 11_000
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _selector(text: str) -> dict[str, str] | None:
    """`{a="b", c="d"}` -> {a: b, c: d}; None for anything else (the fake answers only plain selectors)."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    inner, labels, pos = text[1:-1], {}, 0
    while pos < len(inner):
        found = _MATCHER.match(inner, pos)
        if not found:
            return None
        labels[found.group(1)] = found.group(2)
        pos = found.end()
    return labels


def go_duration(ns: int) -> str:
    """Go's time.Duration String() for whole seconds (`1h0m0s`, `5m0s`, `42s`), as Loki prints a query length."""
    seconds = ns // 10**9
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _seconds(ns: int) -> int | float:
    return ns // 10**9 if ns % 10**9 == 0 else ns / 1e9


@dataclass
class FakeLokiQuery(FakeServer):
    matrices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # query -> [{metric, points{ns: v}}]
    streams: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = field(default_factory=dict)
    max_query_length_ns: int = 721 * 3600 * 10**9
    max_entries_limit_per_query: int = 5000
    max_query_series: int = 500
    queries: list[dict[str, str]] = field(default_factory=list)  # every query_range request's parameters

    def add_series(self, query: str, metric: dict[str, str], points: dict[int, float]) -> None:
        self.matrices.setdefault(query, []).append({"metric": metric, "points": points})

    def add_lines(self, labels: dict[str, str], entries: list[tuple[int, str]]) -> None:
        self.streams.setdefault(tuple(sorted(labels.items())), []).extend(entries)

    def _matching(self, selector: dict[str, str]) -> list[tuple[dict[str, str], list[tuple[int, str]]]]:
        found = []
        for key, entries in self.streams.items():
            labels = dict(key)
            if all(labels.get(name) == value for name, value in selector.items()):
                found.append((labels, sorted(entries)))
        return found

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        if "x-scope-orgid" not in headers:
            return Reply(401, "no org id")
        params = {k: v[0] for k, v in query.items()}
        if method == "GET" and path == "/loki/api/v1/query_range":
            self.queries.append(params)
            return self._query_range(params)
        if method == "GET" and path == "/loki/api/v1/series":
            selector = _selector(params.get("match[]", ""))
            if selector is None:
                return Reply(400, "parse error: the fake answers only {name=\"value\"} selectors")
            start, end = int(params["start"]), int(params["end"])
            data = [labels for labels, entries in self._matching(selector)
                    if any(start <= ts <= end for ts, _ in entries)]
            return Reply(200, {"status": "success", "data": data})
        if method == "GET" and path == "/loki/api/v1/index/stats":
            selector = _selector(params.get("query", ""))
            if selector is None:
                return Reply(400, "parse error: the fake answers only {name=\"value\"} selectors")
            start, end = int(params["start"]), int(params["end"])
            hits = [(labels, [(ts, line) for ts, line in entries if start <= ts <= end])
                    for labels, entries in self._matching(selector)]
            hits = [(labels, entries) for labels, entries in hits if entries]
            return Reply(200, {"streams": len(hits), "chunks": len(hits),
                               "entries": sum(len(e) for _, e in hits),
                               "bytes": sum(len(line.encode()) for _, e in hits for _, line in e)})
        return Reply(404, "404 page not found\n")

    def _query_range(self, params: dict[str, str]) -> Reply:
        start, end = int(params["start"]), int(params["end"])
        if end - start > self.max_query_length_ns:
            # the limit is a Prometheus model.Duration (`30m`, `30d1h`)
            return Reply(400, f"the query time range exceeds the limit (query length: {go_duration(end - start)}, "
                              f"limit: {Duration(self.max_query_length_ns / 1e9)})")
        text = params["query"]
        selector = _selector(text)
        if selector is not None:
            limit = int(params.get("limit", "100"))
            if limit > self.max_entries_limit_per_query:
                return Reply(400, f"max entries limit per query exceeded, limit > max_entries_limit_per_query "
                                  f"({limit} > {self.max_entries_limit_per_query})")
            entries = sorted((ts, labels_key, line) for labels, lines in self._matching(selector)
                             for labels_key in [tuple(sorted(labels.items()))]
                             for ts, line in lines if start <= ts < end)[:limit]
            grouped: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
            for ts, key, line in entries:
                grouped.setdefault(key, []).append([str(ts), line])
            result = [{"stream": dict(key), "values": values} for key, values in grouped.items()]
            return Reply(200, {"status": "success", "data": {"resultType": "streams", "result": result}})
        step_text = params.get("step", "")
        step = (parse_prometheus_duration_ns(step_text) if not step_text.replace(".", "").isdigit()
                else round(float(step_text) * 1e9))
        if (end - start) // step > MAX_POINTS:
            return Reply(400, "exceeded maximum resolution of 11,000 points per time series. Try increasing the "
                              "value of the step parameter")
        series = self.matrices.get(text, [])
        if len(series) > self.max_query_series:
            return Reply(400, f"maximum number of series ({self.max_query_series}) reached for a single query; "
                              "consider reducing query cardinality by adding more specific stream selectors, "
                              "reducing the time range, or aggregating results with functions like sum(), count() "
                              "or topk()")
        result = []
        for item in series:
            values = [[_seconds(t), repr(float(v)) if v != int(v) else str(int(v))]
                      for t, v in sorted(item["points"].items()) if start <= t <= end and (t - start) % step == 0]
            if values:
                result.append({"metric": item["metric"], "values": values})
        return Reply(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
