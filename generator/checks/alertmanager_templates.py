"""The Telegram message templates, rendered by Alertmanager's own tool before anything is written.

For every tier template, `amtool template render --template.type=html` (html/template, what Alertmanager 0.25 runs
for `parse_mode: HTML`) renders sample notifications built from the generated rules of that tier:
- one firing alert (the tier's alert with the longest links), which must show its dashboard and logs links;
- a resolved one;
- the worst case for length: a group of five firing alerts whose every label and text annotation is 4096 `"`
  (escaped to 5 characters each), with the tier's longest links and the longest external URL shown.
Each result must parse as Telegram HTML (`generator.syntax.telegram_html`) and stay within 4096 characters, both as
sent (Alertmanager cuts above 4096 runes, breaking the markup) and as Telegram counts. A link longer than the
template shows (it would silently disappear from the message) is a problem too.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from generator import conventions
from generator.artifacts.alert_links import DASHBOARD_LINK, LOGS_LINK
from generator.artifacts.alertmanager_templates import LINK_MAX
from generator.checks.base import CheckInput, Problem, run_tool, tool_failure
from generator.syntax import fast_yaml
from generator.syntax.telegram_html import MAX_MESSAGE_LENGTH, TelegramHtmlError, parse

SAMPLE_EXTERNAL_URL = "http://alertmanager.example:9093"
SAMPLE_STARTS_AT = "2026-12-06T03:00:00Z"
SAMPLE_ENDS_AT = "2026-12-06T03:20:00Z"
NOT_ENDED = "0001-01-01T00:00:00Z"  # Alertmanager's zero time: a firing alert
SAMPLE_VALUE = "3"
WORST_CHAR = '"'  # html/template writes it as &#34;: the longest escape of one rune
GROUP_SIZE = 5
_DEFINE = re.compile(r'\{\{ define "(telegram\.tier(\d+)\.message)" ')


def generated_alerts(root: Path) -> list[dict[str, Any]]:
    """Every alerting rule of the generated Loki and Prometheus rule files under `root`."""
    files = [root / conventions.PROMETHEUS_RULES_FILE, *sorted((root / conventions.LOKI_RULES_DIR).rglob("*.yaml"))]
    rules = []
    for path in files:
        if path.is_file():
            for group in (fast_yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
                rules += [rule for rule in group.get("rules", []) if "alert" in rule]
    return rules


def sample_alert(rule: dict[str, Any], status: str) -> dict[str, Any]:
    """The alert as Alertmanager holds it once the ruler sent it: `$value` rendered, alertname added."""
    annotations = {key: str(value).replace("{{ $value }}", SAMPLE_VALUE)
                   for key, value in rule.get("annotations", {}).items()}
    return {"status": status, "labels": {**rule.get("labels", {}), "alertname": rule["alert"]},
            "annotations": annotations, "startsAt": SAMPLE_STARTS_AT,
            "endsAt": SAMPLE_ENDS_AT if status == "resolved" else NOT_ENDED, "generatorURL": "", "fingerprint": ""}


def worst_alert(rule: dict[str, Any], alertname: str) -> dict[str, Any]:
    """Every label and text annotation at its longest, in the character that escapes longest; the links as is."""
    hostile = WORST_CHAR * MAX_MESSAGE_LENGTH  # longer than any message: only the template's own cuts keep it short
    alert = sample_alert(rule, "firing")
    alert["labels"] = {key: hostile for key in alert["labels"]} | {"alertname": alertname}
    alert["annotations"] = {key: value if key in (DASHBOARD_LINK, LOGS_LINK) else hostile
                            for key, value in alert["annotations"].items()}
    return alert


def notification(receiver: str, alerts: list[dict[str, Any]], external_url: str = SAMPLE_EXTERNAL_URL
                 ) -> dict[str, Any]:
    """Alertmanager's template data (template.Data) for one notification of a group by alertname."""
    return {"receiver": receiver, "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
            "alerts": alerts, "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": external_url}


def render_with_amtool(template_file: Path, template_name: str, data: dict[str, Any], workdir: Path,
                       ) -> tuple[bool, str]:
    handle, name = tempfile.mkstemp(prefix="data-", suffix=".json", dir=workdir)  # renders run at once: one each
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(json.dumps(data))
    data_file = Path(name)
    result = run_tool(["amtool", "template", "render", f"--template.glob={template_file}",
                       f'--template.text={{{{ template "{template_name}" . }}}}', "--template.type=html",
                       f"--template.data={data_file}"], workdir)
    return result.ok, result.output if result.ok else tool_failure(f"amtool template render {template_name}", result)


def _links_of(rule: dict[str, Any]) -> int:
    return sum(len(str(rule.get("annotations", {}).get(key, ""))) for key in (DASHBOARD_LINK, LOGS_LINK))


def message_problems(where: str, what: str, text: str) -> list[str]:
    try:
        parsed = parse(text)
    except TelegramHtmlError as exc:
        return [f"{what}: Telegram would refuse it (can't parse entities: {exc})"]
    problems = []
    if len(text) > MAX_MESSAGE_LENGTH:
        problems.append(f"{what}: {len(text)} characters as sent; Alertmanager cuts above {MAX_MESSAGE_LENGTH} "
                        "and the cut markup would be refused")
    if parsed.length > MAX_MESSAGE_LENGTH:
        problems.append(f"{what}: {parsed.length} characters after entity parsing, above Telegram's limit")
    return problems


def template_problems(root: Path, template_path: str) -> list[Problem]:
    template_file = root / template_path
    tiers = {int(tier): name for name, tier in _DEFINE.findall(template_file.read_text(encoding="utf-8"))}
    alerts = generated_alerts(root)
    if tiers and not alerts:  # never a silent pass: the rule files the samples come from must be there
        return [Problem(template_path, f"no alerting rule in {conventions.PROMETHEUS_RULES_FILE} or "
                                       f"{conventions.LOKI_RULES_DIR}/ to render the templates with", "amtool")]
    problems: list[Problem] = []
    for rule in alerts:
        for key in (DASHBOARD_LINK, LOGS_LINK):
            link = str(rule.get("annotations", {}).get(key, ""))
            if len(link) > LINK_MAX[key]:
                problems.append(Problem(template_path, f"{rule['alert']}: {key} is {len(link)} characters; the "
                                        f"message shows links up to {LINK_MAX[key]}", "amtool"))
    renders: list[tuple[str, dict[str, Any], str, dict[str, Any], bool]] = []  # name, rule, what, data, links?
    for tier, name in sorted(tiers.items()):
        of_tier = [rule for rule in alerts if str(rule.get("labels", {}).get("tier")) == str(tier)]
        if not of_tier:
            continue
        rule = max(of_tier, key=_links_of)
        longest_url = "http://" + "a" * (LINK_MAX["external_url"] - 7)
        renders += [
            (name, rule, "firing", notification(name, [sample_alert(rule, "firing")]), True),
            (name, rule, "resolved", notification(name, [sample_alert(rule, "resolved")]), False),
            (name, rule, "worst case",
             notification(name, [worst_alert(rule, WORST_CHAR * 64)] * GROUP_SIZE, longest_url), False),
            (name, rule, "worst case, silence link shown",
             notification(name, [worst_alert(rule, "A" * 64)] * GROUP_SIZE, longest_url), False),
        ]
    with tempfile.TemporaryDirectory(prefix="obsctl-amtool-") as temporary:
        # One amtool process per message, all at once: each spends its time starting up, not rendering.
        with ThreadPoolExecutor(max_workers=max(1, len(renders))) as pool:
            outputs = list(pool.map(lambda item: render_with_amtool(template_file, item[0], item[3], Path(temporary)),
                                    renders))
    for (name, rule, what, _data, needs_links), (ok, output) in zip(renders, outputs, strict=True):
        label = f"{name} ({what}, {rule['alert']})"
        if not ok:
            problems.append(Problem(template_path, output, "amtool"))
            continue
        found = message_problems(template_path, label, output)
        if needs_links and not found:
            hrefs = [href for href, _ in parse(output).links]
            for key in (DASHBOARD_LINK, LOGS_LINK):
                link = str(rule.get("annotations", {}).get(key, ""))
                if link and not any(href.startswith(link) for href in hrefs):
                    found.append(f"{label}: the {key} link is missing from the message")
        problems += [Problem(template_path, message, "amtool") for message in found]
    return problems


def check(inp: CheckInput) -> list[Problem]:
    if inp.find(conventions.TELEGRAM_TEMPLATE_FILE) is None:
        return []
    return template_problems(inp.root.resolve(), conventions.TELEGRAM_TEMPLATE_FILE)
