"""`bytes-per-evaluation` (online): the bytes one evaluation of a rule reads, from Loki's index
(`GET /loki/api/v1/index/stats` over the rule's widest range window ending now), against the threshold in truth
(`logs.ruler.max_bytes_per_evaluation`). The index statistics are an approximation (Loki's API reference: ingester
data is not included, streams spanning period configs may count twice); they are what the query planner sees."""

from __future__ import annotations

from dataclasses import dataclass

from generator.checks.base import Problem
from generator.lint.base import LintCheck, LintRule, selector_text
from generator.logs.live_loki import LokiQueryClient, LokiQueryError


def size_text(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


@dataclass
class BytesPerEvaluation(LintCheck):
    name = "bytes-per-evaluation"
    severity = "warning"
    description = "one evaluation reads at most logs.ruler.max_bytes_per_evaluation (truth)"
    online = True

    client: LokiQueryClient
    now_ns: int
    max_bytes: int

    def check(self, rule: LintRule) -> list[Problem]:
        total = 0
        for aggregation in rule.aggregations():
            selector = selector_text(aggregation.log_range.selector)
            try:
                stats = self.client.index_stats(selector, self.now_ns - aggregation.log_range.range_ns, self.now_ns)
            except LokiQueryError as exc:
                return [self.about(rule, "expr", f"could not ask Loki: {exc}")]
            total += stats["bytes"]
        if total > self.max_bytes:
            return [self.about(rule, "expr", f"one evaluation reads about {size_text(total)} (index stats), above the "
                f"{size_text(self.max_bytes)} of logs.ruler.max_bytes_per_evaluation: narrow the stream selector "
                f"or shorten the range window")]
        return []
