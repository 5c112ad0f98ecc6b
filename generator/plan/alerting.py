"""What every generated alert carries, whichever backend evaluates it: name, tier labels, annotations, runbook.

Loki rules, Prometheus rules, Alertmanager routes and dashboards all read these, so a tier or severity means the
same thing everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from generator.truth import Truth

if TYPE_CHECKING:
    from jinja2 import Template

_RUNBOOK = """{% for step in steps %}
{{ loop.index }}. {{ step.title }}: {% if step.command %}`{{ step.command }}`{% else %}`{{ step.sql }}`{% endif %}

{% endfor %}"""


@cache
def _runbook_template() -> Template:
    # jinja2 is imported on first use: `obsctl scan` reaches this package (plan.privacy) without rendering a runbook
    from jinja2 import Environment, StrictUndefined

    return Environment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       autoescape=False).from_string(_RUNBOOK)


def go_template_text(text: str) -> str:
    """Make literal text safe inside a Go-templated annotation: `{{` would start a template action.

    A lone `}}` outside an action is plain text in Go templates, so only `{{` needs escaping.
    """
    return text.replace("{{", "{{`{{`}}")


def alert_labels(truth: Truth, alert_id: str, kind: str, priority: str | None = None) -> dict[str, str]:
    """Routing and traceability labels. `tier` is the winner of the overlap resolution; `tiers` lists them all."""
    labels = {
        "alert_id": alert_id,
        "kind": kind,
        "severity": truth.severity(alert_id, priority),
        "tier": str(truth.effective_tier(alert_id)),
        "tiers": ",".join(str(t) for t in truth.tiers_of(alert_id)),
    }
    if priority is not None:
        labels["priority"] = priority
    return labels


def runbook_text(truth: Truth, step_names: Iterable[str]) -> str:
    steps = [truth.runbooks[name] for name in step_names]
    return _runbook_template().render(steps=steps).strip()


def alert_annotations(
    truth: Truth, alert_id: str, summary: str, description: str, runbook_steps: Iterable[str] = ()
) -> dict[str, str]:
    """Human text for on-call. Summary/description may use Go template actions; truth text is escaped by callers."""
    tier = truth.tier(truth.effective_tier(alert_id))
    annotations = {
        "summary": summary,
        "description": description,
        "tier_action": go_template_text(f"tier {tier.id} ({tier.name}): {tier.description}"),
        "truth": f"product/truth.yaml {truth.truth_ref(alert_id)}",
    }
    steps = list(runbook_steps)
    if steps:
        annotations["runbook"] = go_template_text(runbook_text(truth, steps))
    return annotations


# The value the rule compared, as the ruler renders it at evaluation (Loki and Prometheus expand `$value` alike).
VALUE_TEMPLATE = "{{ $value }}"
_TRAILING_COMPARISON = re.compile(r"(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*$")


def trailing_comparison(expr: str) -> str | None:
    """`... > 80` -> `> 80`: the threshold of a rule that ends in one comparison (None otherwise)."""
    match = _TRAILING_COMPARISON.search(expr)
    return f"{match['op']} {match['value']}" if match else None


def signal_annotations(threshold: str | None, for_seconds: float, for_text: str) -> dict[str, str]:
    """`value` (what crossed) and `threshold` (what it crossed, with the hold time): the page states both. A rule
    without one comparison (a burn rate over two windows, an inferred event) has neither: its summary says what
    happened, and its value would be an intermediate number."""
    if threshold is None:
        return {}
    return {"value": VALUE_TEMPLATE, "threshold": f"{threshold} for {for_text}" if for_seconds else threshold}
