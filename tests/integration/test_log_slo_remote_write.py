"""The log SLO's Prometheus half on a real Prometheus: the rates the Loki ruler records arrive through Prometheus'
remote-write receiver (as `ruler.remote_write` sends them), and the generated rules turn them into error ratios and
burn-rate alerts.

The sender below speaks remote write 1.0 as Loki's ruler does (it uses Prometheus' own remote-write client,
Loki pkg/ruler/registry.go): a snappy-compressed protobuf `prometheus.WriteRequest` POSTed with
`Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and `X-Prometheus-Remote-Write-Version: 0.1.0`
(https://prometheus.io/docs/specs/remote_write_spec/; message layout from prometheus/prompb types.proto and
remote.proto). The snappy block holds literals only, a valid encoding of the block format
(github.com/google/snappy format_description.txt), so no compression library is needed.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import conventions
from generator.artifacts import prometheus_rules
from generator.pipeline import plan_for
from generator.truth import load_truth
from tests.integration.metrics_stack import http_get, wait_until
from tests.tooling import REPO, free_port, require_tool

TRUTH = load_truth(REPO / "product" / "truth.yaml")
STEP_MS = 15_000  # the Loki ruler evaluates the log SLO group every 15 s


# --- remote write 1.0 on the wire ---------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def write_request(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    """prometheus.WriteRequest{timeseries: [TimeSeries{labels: [Label{name, value}], samples: [Sample{value,
    timestamp}]}]}; labels sorted by name, as the spec requires."""
    body = b""
    for labels, samples in series:
        ts = b"".join(_field(1, _field(1, name.encode()) + _field(2, value.encode()))
                      for name, value in sorted(labels.items()))
        for timestamp_ms, value in samples:
            # Sample: value is field 1, a double (wire type 1); timestamp field 2, an int64 varint.
            ts += _field(2, bytes([1 << 3 | 1]) + struct.pack("<d", value) + bytes([2 << 3]) + _varint(timestamp_ms))
        body += _field(1, ts)
    return body


def snappy_literals(data: bytes) -> bytes:
    """A snappy block of literal elements only: the uncompressed length, then chunks tagged 61 (a two-byte
    little-endian length - 1 follows the tag)."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        out += bytes([61 << 2]) + struct.pack("<H", len(chunk) - 1) + chunk
    return bytes(out)


def remote_write(address: str, series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> int:
    request = urllib.request.Request(
        f"http://{address}/api/v1/write", data=snappy_literals(write_request(series)), method="POST",
        headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                 "X-Prometheus-Remote-Write-Version": "0.1.0"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


# --- a real Prometheus with the generated rules and the receiver the stack enables ----------------------------------


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    binary = require_tool("prometheus")
    workdir = Path(tempfile.mkdtemp(prefix="obsctl-log-slo-"))
    (artifact,) = prometheus_rules.render(plan_for(TRUTH))
    (workdir / "rules.yaml").write_text(artifact.content, encoding="utf-8")
    (workdir / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"evaluation_interval": "1s"},  # the only test override: evaluate at once
        "rule_files": [str(workdir / "rules.yaml")],
    }), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--web.listen-address={address}",
         f"--storage.tsdb.path={workdir / 'data'}", "--web.enable-remote-write-receiver"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: http_get(f"http://{address}/-/ready"), 30, "Prometheus ready")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def query(address: str, promql: str) -> list[dict[str, Any]]:
    url = f"http://{address}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    result: list[dict[str, Any]] = json.loads(http_get(url))["data"]["result"]
    return result


def firing(address: str, alertname: str) -> set[str]:
    alerts = json.loads(http_get(f"http://{address}/api/v1/alerts"))["data"]["alerts"]
    return {a["labels"]["service"] for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"}


def test_remote_written_log_rates_become_ratios_and_burn_alerts(prometheus: str) -> None:
    """Two services' rates, as the ruler writes them every 15 s for 10 minutes: one failing 1/64 of its webhooks
    (above 14.4x the 0.001 budget: page and ticket), one 1/512 (about 2x: a ticket only)."""
    now_ms = int(time.time() * 1000)
    times = [now_ms - 10 * 60_000 + k * STEP_MS for k in range(41)]
    series = []
    for service, error_rate in (("telegram-bot", 0.0625), ("telegram-bot-quiet", 0.0078125)):
        series.append(({"__name__": conventions.SLO_LOG_REQUESTS_RATE, "service": service},
                       [(t, 4.0) for t in times]))
        series.append(({"__name__": conventions.SLO_LOG_ERRORS_RATE, "service": service},
                       [(t, error_rate) for t in times]))
    assert remote_write(prometheus, series) == 204

    ratio_1h = conventions.slo_ratio_record(TRUTH.slos.log_error_ratio, TRUTH.slos.burn_rate_windows[0].long)
    wait_until(lambda: len(query(prometheus, ratio_1h)) == 2, 30, f"{ratio_1h} for both services")
    ratios = {r["metric"]["service"]: float(r["value"][1]) for r in query(prometheus, ratio_1h)}
    assert ratios == {"telegram-bot": 0.015625, "telegram-bot-quiet": 0.001953125}
    wait_until(lambda: firing(prometheus, "WebhookLogErrorRatioBurnTicket") == {"telegram-bot", "telegram-bot-quiet"},
               30, "the ticket alert for both services")
    assert firing(prometheus, "WebhookLogErrorRatioBurnPage") == {"telegram-bot"}
    page = next(a for a in json.loads(http_get(f"http://{prometheus}/api/v1/alerts"))["data"]["alerts"]
                if a["labels"]["alertname"] == "WebhookLogErrorRatioBurnPage")
    assert {k: page["labels"][k] for k in ("alert_id", "tier", "severity", "kind")} == {
        "alert_id": "webhook_log_error_ratio_burn_page", "tier": "3", "severity": "high", "kind": "slo_burn_rate"}


def test_the_receiver_refuses_a_request_that_is_not_snappy(prometheus: str) -> None:
    """The sender's encoding is what the receiver checks: plain protobuf is refused (400), so the test above
    proves the snappy framing and the message layout, not a lenient server."""
    request = urllib.request.Request(
        f"http://{prometheus}/api/v1/write", data=write_request([({"__name__": "x"}, [(0, 1.0)])]), method="POST",
        headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                 "X-Prometheus-Remote-Write-Version": "0.1.0"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
