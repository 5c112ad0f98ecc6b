"""Which series a PromQL expression may read, from its tokens alone: an over-approximation, never an under-one.

Every identifier outside a string counts as a metric name it may read (function names, keywords and label names
included: a name nothing is called never matches anything, so the extra names cost nothing but precision). A
selector that does not name its metric (`{job="x"}`, a `__name__` matcher) may read any series: `everything`.
`ALERTS` and `ALERTS_FOR_STATE` are written by alerting rules, so a read of them is a read of the alerts they select:
the one an `alertname="..."` matcher names, or every alert when no such matcher is there.

Used to tell which promtool test cases cannot observe each other (`generator.checks.promtool_packing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALERT_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE"})
_TOKEN = re.compile(
    r"""(?P<skip>\s+|\#[^\n]*)"""                       # blanks and comments
    r"""|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
    r"""|(?P<number>\.?[0-9][A-Za-z0-9_.]*)"""          # numbers and durations (5m, 1e3, 0x1f): never names
    r"""|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)"""
    r"""|(?P<op>=~|!~|!=|==|.)""",
    re.DOTALL,
)


@dataclass(frozen=True)
class Reads:
    """What one expression may read. `alerts` holds the alert names it reads through ALERTS series;
    `all_alerts` is a read of ALERTS without an alertname to narrow it."""

    names: frozenset[str]
    everything: bool = False
    alerts: frozenset[str] = frozenset()
    all_alerts: bool = False


def _tokens(expr: str) -> list[tuple[str, str]]:
    return [(match.lastgroup or "op", match.group()) for match in _TOKEN.finditer(expr) if match.lastgroup != "skip"]


def _alertname(matchers: list[tuple[str, str]]) -> str | None:
    """The alert an ALERTS selector's matchers pin down (`alertname="X"`), if one does."""
    for index in range(len(matchers) - 2):
        (_, label), (_, op), (kind, value) = matchers[index:index + 3]
        if label == "alertname" and op == "=" and kind == "string" and "\\" not in value:
            return value[1:-1]
    return None


def expression_reads(expr: str) -> Reads:
    tokens = _tokens(expr)
    names: set[str] = set()
    alerts: set[str] = set()
    everything = all_alerts = False
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        if kind == "op" and text == "{":
            close = next((j for j in range(index + 1, len(tokens)) if tokens[j] == ("op", "}")), len(tokens))
            matchers = tokens[index + 1:close]
            named = index > 0 and tokens[index - 1][0] == "name"
            if not named or any(token == ("name", "__name__") for token in matchers):
                everything = True
            if named and tokens[index - 1][1] in ALERT_SERIES:
                alertname = _alertname(matchers)
                if alertname is None:
                    all_alerts = True
                else:
                    alerts.add(alertname)
            names.update(text for kind, text in matchers if kind == "name")
            index = close + 1
            continue
        if kind == "name":
            names.add(text)
            if text == "__name__":
                everything = True
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if text in ALERT_SERIES and following != ("op", "{"):
                all_alerts = True
        index += 1
    return Reads(frozenset(names), everything, frozenset(alerts), all_alerts)


def series_metric(series: str) -> str | None:
    """The metric name of a promtool input series (`name{labels}` or `{__name__="name", ...}`); None when the text
    does not say it plainly."""
    tokens = _tokens(series)
    if tokens and tokens[0][0] == "name":
        return tokens[0][1]
    for index in range(len(tokens) - 2):
        (_, label), (_, op), (kind, value) = tokens[index:index + 3]
        if label == "__name__" and op == "=" and kind == "string" and "\\" not in value:
            return value[1:-1]
    return None
