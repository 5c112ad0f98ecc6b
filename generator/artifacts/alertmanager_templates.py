"""Telegram message templates for Alertmanager: alerts/alertmanager/templates/telegram.tmpl.

One `{{ define "telegram.tier<N>.message" }}` per tier that reaches people (tier 1 notifies nobody), chosen by the
tier's receiver in alertmanager.yml. A message reads top to bottom: tier and priority, the alert's name and summary,
the value that crossed and the threshold, the first runbook step, then links (dashboard panel with the time range
around the alert, Explore with the rule's LogQL, a silence in Alertmanager). Grouped alerts show a count and the
first few; a resolved group gets a short message.

Escaping. The receivers use `parse_mode: HTML`, and Alertmanager 0.25 then executes the message with Go's
html/template (notify/telegram/telegram.go: `if n.conf.ParseMode == "HTML" { tmpl = notify.TmplHTML(...) }`), which
escapes every value by its context: text becomes `&lt;`/`&amp;`/`&#34;`, a link's URL is normalised and a
`javascript:` URL is replaced. So a log line or a label can never add markup or a link. The template text itself is
trusted: truth text placed in it is HTML-escaped here.

Length. Alertmanager cuts a message above 4096 runes (`notify.TruncateInRunes`), which would cut the markup and make
Telegram refuse it, so every value is cut to a fixed number of runes before escaping and a link is shown only when it
is a plain URL of bounded length. Alertmanager 0.25's template functions (template/template.go `DefaultFuncs`:
toUpper, toLower, title, join, match, safeHtml, reReplaceAll, stringSlice; plus Go's builtins) have no substring
function: `reReplaceAll` cuts, `match` tests. The
generate-time check renders the worst case (every value at its cap, made of the character that escapes longest)
for every tier and proves it fits.
"""

from __future__ import annotations

from generator.artifacts.base import Artifact
from generator.conventions import GENERATED_HEADER, TELEGRAM_TEMPLATE_FILE, telegram_message_template
from generator.plan import Plan
from generator.plan.alerting import go_template_text
from generator.syntax.telegram_html import escape
from generator.truth.model import Tier

# Runes kept of each value before escaping (html/template escapes one rune into at most 5: `"` -> `&#34;`).
CAPS = {
    "alertname": 48,
    "priority": 12,
    "summary": 150,
    "value": 24,
    "threshold": 32,
    "first_step": 100,
    "other_summary": 50,
}
OTHERS_LISTED = 2  # grouped alerts listed after the first, each on one line
# Longest link shown (bytes of printable ASCII). An Explore link carries the rule's whole LogQL, percent-encoded:
# the KIE-key leak rule's is about 1.1 kB.
LINK_MAX = {"dashboard_url": 300, "logs_url": 2000, "external_url": 200}
GO_REPEAT_MAX = 1000  # Go's regexp refuses a repeat count above 1000: longer bounds are written as several runs
SILENCE_LABEL_PATTERN = "^[A-Za-z0-9_:]{1,64}$"  # an alertname the silence filter can carry unchanged
ALERT_LOOKBACK_NS = 3_600_000_000_000  # the dashboard link opens 1h before the alert started...
RESOLVED_LOOKAHEAD_NS = 900_000_000_000  # ...and, once resolved, ends 15m after it ended

# How each notify mode announces itself at the top of a message.
MARKERS = {"low-priority": "🟡", "page": "🟠", "escalate": "🔴"}


def cut(field: str, expr: str) -> str:
    """Go template: `expr` cut to CAPS[field] runes, with an ellipsis when something was cut."""
    return f'reReplaceAll "(?s)^(.{{{CAPS[field]}}}).+$" "${{1}}…" {expr}'


def link_ok(kind: str, expr: str) -> str:
    longest = LINK_MAX[kind]
    runs = [f"[!-~]{{1,{min(longest, GO_REPEAT_MAX)}}}"]
    for rest in range(longest - GO_REPEAT_MAX, 0, -GO_REPEAT_MAX):
        runs.append(f"[!-~]{{0,{min(rest, GO_REPEAT_MAX)}}}")
    return f'match "^https?://{"".join(runs)}$" {expr}'


def _ms(time_expr: str, offset_ns: int) -> str:
    """Unix milliseconds of a template time shifted by `offset_ns` (Go converts the constant to a Duration)."""
    return f"{{{{ ({time_expr}.Add {offset_ns}).Unix }}}}000"


def dashboard_link(to: str) -> str:
    """The panel from an hour before the alert started to `to` (Grafana: `from`/`to` in ms epoch, or `now`)."""
    return (f'<a href="{{{{ .Annotations.dashboard_url }}}}&amp;from={_ms(".StartsAt", -ALERT_LOOKBACK_NS)}'
            f'&amp;to={to}">📈 dashboard</a>')


FIRING_DASHBOARD_LINK = dashboard_link("now")
RESOLVED_DASHBOARD_LINK = dashboard_link(_ms(".EndsAt", RESOLVED_LOOKAHEAD_NS))
LOGS_LINK_HTML = '<a href="{{ .Annotations.logs_url }}">📜 logs</a>'
# Alertmanager's UI opens a new silence prefilled from `filter` (ui/app/src/Views/SilenceForm/Parsing.elm, 0.25).
SILENCE_LINK_HTML = ('<a href="{{ .ExternalURL }}/#/silences/new?filter=%7Balertname%3D%22{{ .GroupLabels.alertname }}'
                     '%22%7D">🔕 silence</a>')
ENDED = '{{ .EndsAt.UTC.Format "2006-01-02 15:04 UTC" }}'
FIRST_LINE = '(reReplaceAll "(?s)\\n.*$" "" .)'  # the runbook's first step: its first line

SHARED = f"""{{{{ define "obsctl.telegram.alert" -}}}}
<b>{{{{ {cut("alertname", ".Labels.alertname")} }}}}</b>
{{{{ {cut("summary", ".Annotations.summary")} }}}}
{{{{- with .Annotations.value }}}}
Value: <b>{{{{ {cut("value", ".")} }}}}</b>{{{{ end }}}}
{{{{- with .Annotations.threshold }}}} (threshold {{{{ {cut("threshold", ".")} }}}}){{{{ end }}}}
{{{{- with .Annotations.runbook }}}}
First step: {{{{ {cut("first_step", FIRST_LINE)} }}}}{{{{ end }}}}
{{{{- end }}}}

{{{{ define "obsctl.telegram.priority" -}}}}
{{{{ with (index .Alerts.Firing 0).Labels }}}}{{{{ {cut("priority", "(or .priority .severity)")} }}}}{{{{ end }}}}
{{{{- end }}}}

{{{{ define "obsctl.telegram.links" -}}}}
{{{{ with index .Alerts.Firing 0 -}}}}
{{{{ if {link_ok("dashboard_url", ".Annotations.dashboard_url")} }}}}{FIRING_DASHBOARD_LINK} · {{{{ end -}}}}
{{{{ if {link_ok("logs_url", ".Annotations.logs_url")} }}}}{LOGS_LINK_HTML} · {{{{ end -}}}}
{{{{ end -}}}}
{{{{ if and ({link_ok("external_url", ".ExternalURL")}) (match "{SILENCE_LABEL_PATTERN}" .GroupLabels.alertname) -}}}}
{SILENCE_LINK_HTML}
{{{{- end }}}}
{{{{- end }}}}

{{{{ define "obsctl.telegram.firing" -}}}}
{{{{ template "obsctl.telegram.alert" (index .Alerts.Firing 0) }}}}
{{{{- if gt (len .Alerts.Firing) 1 }}}}
<b>{{{{ len .Alerts.Firing }}}} firing</b> in this group:
{{{{- range $index, $alert := .Alerts.Firing }}}}{{{{ if and (gt $index 0) (le $index {OTHERS_LISTED}) }}}}
• {{{{ {cut("other_summary", "$alert.Annotations.summary")} }}}}{{{{ end }}}}{{{{ end }}}}
{{{{- if gt (len .Alerts.Firing) {OTHERS_LISTED + 1} }}}}
• … (all of them on the dashboard){{{{ end }}}}
{{{{- end }}}}
{{{{- with .Alerts.Resolved }}}}
{{{{ len . }}}} resolved since the last message{{{{ end }}}}
{{{{ template "obsctl.telegram.links" . }}}}
{{{{- end }}}}

{{{{ define "obsctl.telegram.resolved" -}}}}
{{{{ with index .Alerts.Resolved 0 -}}}}
<b>{{{{ {cut("alertname", ".Labels.alertname")} }}}}</b> is back to normal (ended {ENDED})
{{{{ {cut("summary", ".Annotations.summary")} }}}}
{{{{- end }}}}
{{{{- if gt (len .Alerts.Resolved) 1 }}}}
{{{{ len .Alerts.Resolved }}}} alerts of this group resolved{{{{ end }}}}
{{{{- with index .Alerts.Resolved 0 }}}}{{{{ if {link_ok("dashboard_url", ".Annotations.dashboard_url")} }}}}
{RESOLVED_DASHBOARD_LINK}{{{{ end }}}}{{{{ end }}}}
{{{{- end }}}}
"""


def trusted_text(text: str) -> str:
    """Truth text placed in the template itself: HTML-escaped (template text is trusted markup) and Go-safe."""
    return go_template_text(escape(text))


def tier_template(tier: Tier) -> str:
    name = telegram_message_template(tier.id)
    title = f"TIER {tier.id} · {tier.name.upper()}"
    return (
        f'{{{{ define "{name}" -}}}}\n'
        "{{ if .Alerts.Firing -}}\n"
        f'{MARKERS[tier.notify]} <b>{trusted_text(title)}</b> · {{{{ template "obsctl.telegram.priority" . }}}}'
        f" · {trusted_text(tier.description)}\n"
        '{{ template "obsctl.telegram.firing" . }}\n'
        "{{- else -}}\n"
        f"✅ <b>RESOLVED · {trusted_text(title)}</b>\n"
        '{{ template "obsctl.telegram.resolved" . }}\n'
        "{{- end }}\n"
        "{{- end }}\n"
    )


def people_tiers(plan: Plan) -> list[Tier]:
    """Tiers whose receivers message people (tier 1's notify mode `none` reaches no one)."""
    return [tier for tier in sorted(plan.truth.tiers, key=lambda t: t.id) if tier.notify in MARKERS]


def render(plan: Plan) -> list[Artifact]:
    parts = [f"{{{{/* {GENERATED_HEADER} */}}}}\n", SHARED, *(tier_template(tier) for tier in people_tiers(plan))]
    return [Artifact(TELEGRAM_TEMPLATE_FILE, "\n".join(parts))]
