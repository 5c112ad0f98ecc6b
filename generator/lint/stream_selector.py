"""`stream-selector` (online): each rule's stream selector matches at least one stream on the live Loki over the
recent past (`GET /loki/api/v1/series`). A selector that matches nothing is a rule that can never fire: a typo in a
label, or labels the log agent does not set."""

from __future__ import annotations

from dataclasses import dataclass

from generator.checks.base import Problem
from generator.lint.base import LintCheck, LintRule, selector_text
from generator.lint.for_interval import duration_text
from generator.logs.live_loki import LokiQueryClient, LokiQueryError


@dataclass
class StreamSelector(LintCheck):
    name = "stream-selector"
    severity = "error"
    description = "the stream selector matches streams on the live Loki"
    online = True

    client: LokiQueryClient
    now_ns: int
    lookback_ns: int

    def __post_init__(self) -> None:
        self._seen: dict[str, int | str] = {}  # selector -> streams found, or the error text

    def check(self, rule: LintRule) -> list[Problem]:
        problems = []
        for selector in dict.fromkeys(selector_text(a.log_range.selector) for a in rule.aggregations()):
            if selector not in self._seen:
                try:
                    self._seen[selector] = len(self.client.series(selector, self.now_ns - self.lookback_ns,
                                                                  self.now_ns))
                except LokiQueryError as exc:
                    self._seen[selector] = str(exc)
            found = self._seen[selector]
            if isinstance(found, str):
                problems.append(self.about(rule, "expr", f"could not ask Loki: {found}"))
            elif found == 0:
                problems.append(self.about(
                    rule, "expr", f"{selector} matches no stream on {self.client.connection.url} in the last "
                    f"{duration_text(self.lookback_ns)}: the rule can never fire"))
        return problems
