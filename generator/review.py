"""`obsctl diff --base REF`: what a truth.yaml change means for on-call, as Markdown for a pull-request comment.

Both sides are rendered by the current generator code from the truth.yaml of each side (the base from
`git show REF:product/truth.yaml`, the head from the working tree or `--head REF`), so the summary shows the
effect of the truth change alone: alerts added or removed, threshold/window/`for`/tier/routing changes (routing
through `amtool config routes test` on the generated Alertmanager config), log patterns whose truth examples now
match differently, and dashboard panels added, removed or moved.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from generator import pipeline
from generator.artifacts import Artifact
from generator.truth import Truth, TruthError, load_truth
from generator.truth.types import compile_re2

TEMPLATES = Path(__file__).parent / "review_templates"
TRUTH_PATH = "product/truth.yaml"
EXAMPLES_SHOWN = 8


class ReviewError(Exception):
    """A side could not be read or rendered; the message says which."""


# --- reading both sides ------------------------------------------------------------------------------------------


def truth_text_at(repo: Path, ref: str, truth_path: str = TRUTH_PATH) -> str:
    result = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{truth_path}"], capture_output=True, text=True)
    if result.returncode != 0:
        raise ReviewError(f"git show {ref}:{truth_path}: {result.stderr.strip()}")
    return result.stdout


def load_truth_text(text: str, label: str) -> Truth:
    with tempfile.TemporaryDirectory(prefix="obsctl-review-") as tmp:
        path = Path(tmp) / "truth.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_truth(path, display_path=label)
        except TruthError as exc:
            raise ReviewError("\n".join(str(p) for p in exc.problems)) from exc


@dataclass(frozen=True)
class AlertRule:
    name: str
    backend: str  # "loki" or "prometheus"
    group: str
    expr: str
    for_: str
    labels: tuple[tuple[str, str], ...]

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass
class Side:
    label: str
    truth: Truth
    artifacts: dict[str, str]
    alerts: dict[str, AlertRule] = field(default_factory=dict)
    alertmanager: str | None = None  # config text
    panels: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<dashboard> / <panel>" -> gridPos & co


def _alert_rules(artifacts: dict[str, str]) -> dict[str, AlertRule]:
    alerts: dict[str, AlertRule] = {}
    for path, text in sorted(artifacts.items()):
        if not path.endswith((".yaml", ".yml")) or not path.startswith(("loki/", "alerts/")):
            continue
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            continue
        backend = "loki" if path.startswith("loki/") else "prometheus"
        for group in data["groups"]:
            for rule in group.get("rules") or []:
                if "alert" not in rule:
                    continue
                alert = AlertRule(rule["alert"], backend, group.get("name", ""), " ".join(str(rule["expr"]).split()),
                                  str(rule.get("for", "0s")),
                                  tuple(sorted((k, str(v)) for k, v in (rule.get("labels") or {}).items())))
                key = alert.name if alert.name not in alerts else f"{alert.name} ({backend}/{alert.group})"
                alerts[key] = alert
    return alerts


def _alertmanager_config(artifacts: dict[str, str]) -> str | None:
    for path, text in sorted(artifacts.items()):
        if path.startswith("alerts/") and path.endswith((".yaml", ".yml")):
            data = yaml.safe_load(text)
            if isinstance(data, dict) and "route" in data and "receivers" in data:
                return text
    return None


def _panels(artifacts: dict[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path, text in sorted(artifacts.items()):
        if not (path.startswith("dashboards/") and path.endswith(".json") and path.count("/") == 1):
            continue
        dashboard = json.loads(text)
        title = dashboard.get("title", path)
        row = ""
        for panel in dashboard.get("panels") or []:
            nested = panel.get("panels") or []
            if panel.get("type") == "row":
                row = panel.get("title", "")
            for item in [panel, *nested]:
                item_row = row if item is panel else panel.get("title", "")
                name = f"{title} / {item.get('title') or 'panel ' + str(item.get('id'))}"
                found[name] = {"gridPos": item.get("gridPos") or {}, "row": item_row, "type": item.get("type"),
                               "dashboard": dashboard.get("uid", path), "id": item.get("id"),
                               "title": item.get("title") or ""}
    return found


def build_side(label: str, truth: Truth) -> Side:
    try:
        rendered = pipeline.render_all(truth)
    except pipeline.GenerationError as exc:
        raise ReviewError(f"{label}: cannot render: {exc}") from exc
    artifacts = {a.path: a.content for a in rendered}
    return side_from_artifacts(label, truth, artifacts)


def side_from_artifacts(label: str, truth: Truth, artifacts: dict[str, str]) -> Side:
    return Side(label, truth, artifacts, _alert_rules(artifacts), _alertmanager_config(artifacts),
                _panels(artifacts))


# --- comparing ---------------------------------------------------------------------------------------------------

_WINDOW = re.compile(r"\[(\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)(?::[^\]]*)?\]")
_THRESHOLD = re.compile(r"(>=|<=|==|!=|>|<)\s*(?:bool\s+)?(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w.])")


def expr_changes(old: str, new: str) -> list[str]:
    """Thresholds and range windows that differ, in on-call words; a plain 'query changed' otherwise."""
    out = []
    old_windows, new_windows = _WINDOW.findall(old), _WINDOW.findall(new)
    if old_windows != new_windows:
        out.append(f"window {', '.join(old_windows) or '-'} → {', '.join(new_windows) or '-'}")
    old_thresholds = [f"{op} {value}" for op, value in _THRESHOLD.findall(old)]
    new_thresholds = [f"{op} {value}" for op, value in _THRESHOLD.findall(new)]
    if old_thresholds != new_thresholds:
        out.append(f"threshold {', '.join(old_thresholds) or '-'} → {', '.join(new_thresholds) or '-'}")
    if old != new and not out:
        out.append("query changed")
    return out


@lru_cache(maxsize=1024)
def _route(config: str, labels: tuple[tuple[str, str], ...]) -> str:
    amtool = shutil.which("amtool")
    if amtool is None:
        return "? (amtool not installed)"
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="obsctl-review-", delete=False) as handle:
        handle.write(config)
        path = handle.name
    try:
        result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}",
                                 *(f"{k}={v}" for k, v in labels)], capture_output=True, text=True, timeout=60)
    finally:
        Path(path).unlink(missing_ok=True)
    return result.stdout.strip() if result.returncode == 0 else "? (amtool failed)"


def receiver(side: Side, alert: AlertRule) -> str | None:
    if side.alertmanager is None:
        return None
    return _route(side.alertmanager, (("alertname", alert.name), *alert.labels))


@dataclass
class AlertChange:
    name: str
    backend: str
    details: list[str]


@dataclass
class PatternChange:
    id: str
    section: str
    old: str | None
    new: str | None
    now_match: list[str]
    no_longer_match: list[str]


@dataclass
class PanelChange:
    name: str
    action: str  # added / removed / moved
    detail: str = ""


@dataclass
class Review:
    base: str
    head: str
    added: list[AlertChange]
    removed: list[AlertChange]
    changed: list[AlertChange]
    patterns: list[PatternChange]
    panels: list[PanelChange]
    files: list[str]  # generated files that differ, "M path" / "A path" / "D path"

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.patterns or self.panels or self.files)


def _alert_line(side: Side, alert: AlertRule) -> list[str]:
    labels = alert.label_map
    details = [f"tier {labels.get('tier', '?')}", f"severity {labels.get('severity', '?')}",
               f"for {alert.for_}"]
    route = receiver(side, alert)
    if route:
        details.append(f"receiver `{route}`")
    details.append(f"`{alert.expr}`")
    return details


def compare_alerts(base: Side, head: Side) -> tuple[list[AlertChange], list[AlertChange], list[AlertChange]]:
    added = [AlertChange(n, a.backend, _alert_line(head, a)) for n, a in sorted(head.alerts.items())
             if n not in base.alerts]
    removed = [AlertChange(n, a.backend, _alert_line(base, a)) for n, a in sorted(base.alerts.items())
               if n not in head.alerts]
    changed = []
    for name in sorted(set(base.alerts) & set(head.alerts)):
        old, new = base.alerts[name], head.alerts[name]
        details = expr_changes(old.expr, new.expr)
        if old.for_ != new.for_:
            details.append(f"for {old.for_} → {new.for_}")
        old_labels, new_labels = old.label_map, new.label_map
        for label in ("tier", "severity", "priority"):
            if old_labels.get(label) != new_labels.get(label):
                details.append(f"{label} {old_labels.get(label, '-')} → {new_labels.get(label, '-')}")
        old_route, new_route = receiver(base, old), receiver(head, new)
        if old_route != new_route:
            details.append(f"routing `{old_route or '-'}` → `{new_route or '-'}`")
        other = sorted(k for k in set(old_labels) | set(new_labels)
                       if k not in ("tier", "severity", "priority") and old_labels.get(k) != new_labels.get(k))
        details += [f"label {k} {old_labels.get(k, '-')} → {new_labels.get(k, '-')}" for k in other]
        if details:
            changed.append(AlertChange(name, new.backend, details))
    return added, removed, changed


def _patterns(truth: Truth) -> dict[str, tuple[str, str]]:
    found = {}
    for section, items in (("forbidden", truth.forbidden_patterns), ("rate-limited", truth.rate_limited_patterns),
                           ("secret", truth.privacy.never_log), ("mask", truth.privacy.masks)):
        for item in items:
            found[item.id] = (section, str(item.regex))
    return found


def _examples(truth: Truth) -> list[str]:
    lines: list[str] = []
    for item in [*truth.forbidden_patterns, *truth.rate_limited_patterns, *truth.privacy.never_log]:
        lines.extend([*item.examples.match, *item.examples.no_match])
    return lines


def _matches(regex: str | None, line: str) -> bool:
    return regex is not None and compile_re2(regex).search(line) is not None


def compare_patterns(base: Truth, head: Truth) -> list[PatternChange]:
    old_patterns, new_patterns = _patterns(base), _patterns(head)
    examples = list(dict.fromkeys([*_examples(base), *_examples(head)]))
    changes = []
    for pattern_id in sorted(set(old_patterns) | set(new_patterns)):
        section, old = old_patterns.get(pattern_id, (None, None))
        new_section, new = new_patterns.get(pattern_id, (None, None))
        if old == new:
            continue
        now = [line for line in examples if _matches(new, line) and not _matches(old, line)]
        gone = [line for line in examples if _matches(old, line) and not _matches(new, line)]
        changes.append(PatternChange(pattern_id, str(new_section or section), old, new, now, gone))
    return changes


def _where(panel: dict[str, Any]) -> str:
    grid = panel["gridPos"]
    row = f"row {panel['row']!r}, " if panel["row"] else ""
    return f"{row}x={grid.get('x')} y={grid.get('y')} {grid.get('w')}x{grid.get('h')}"


def compare_panels(base: Side, head: Side) -> list[PanelChange]:
    """Panels matched by title first, then by (dashboard, panel id): a panel whose title carries a threshold
    is reported as retitled, not as removed and added."""
    pairs = [(name, name) for name in sorted(set(base.panels) & set(head.panels))]
    gone = sorted(set(base.panels) - set(head.panels))
    new = sorted(set(head.panels) - set(base.panels))
    by_id = {(head.panels[n]["dashboard"], head.panels[n]["id"]): n for n in new if head.panels[n]["id"] is not None}
    retitled = []
    for name in list(gone):
        match = by_id.get((base.panels[name]["dashboard"], base.panels[name]["id"]))
        if match is not None and match in new:
            gone.remove(name)
            new.remove(match)
            retitled.append((name, match))
    changes = [PanelChange(n, "added", _where(head.panels[n])) for n in new]
    changes += [PanelChange(n, "removed") for n in gone]
    for old_name, new_name in [*retitled, *pairs]:
        old, now = base.panels[old_name], head.panels[new_name]
        details = []
        if old_name != new_name:
            details.append(f"was {old['title']!r}")
        if old["gridPos"] != now["gridPos"] or old["row"] != now["row"]:
            details.append(f"{_where(old)} → {_where(now)}")
        if details:
            action = "moved" if old["gridPos"] != now["gridPos"] or old["row"] != now["row"] else "retitled"
            changes.append(PanelChange(new_name, action, "; ".join(details)))
    return changes


def compare(base: Side, head: Side) -> Review:
    added, removed, changed = compare_alerts(base, head)
    files = []
    for path in sorted(set(base.artifacts) | set(head.artifacts)):
        if path not in base.artifacts:
            files.append(f"A {path}")
        elif path not in head.artifacts:
            files.append(f"D {path}")
        elif base.artifacts[path] != head.artifacts[path]:
            files.append(f"M {path}")
    return Review(base.label, head.label, added, removed, changed, compare_patterns(base.truth, head.truth),
                  compare_panels(base, head), files)


def render_markdown(review: Review) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, autoescape=False, keep_trailing_newline=True)
    env.filters["code"] = lambda text: "`" + str(text).replace("`", "'") + "`"
    return env.get_template("summary.md.j2").render(review=review, shown=EXAMPLES_SHOWN)


def review_refs(repo: Path, base_ref: str, head_ref: str | None, truth_path: str = TRUTH_PATH) -> Review:
    base_truth = load_truth_text(truth_text_at(repo, base_ref, truth_path), f"{base_ref}:{truth_path}")
    if head_ref is None:
        head_label = "working tree"
        head_file = repo / truth_path
        try:
            head_truth = load_truth(head_file, display_path=truth_path)
        except TruthError as exc:
            raise ReviewError("\n".join(str(p) for p in exc.problems)) from exc
    else:
        head_label = head_ref
        head_truth = load_truth_text(truth_text_at(repo, head_ref, truth_path), f"{head_ref}:{truth_path}")
    return compare(build_side(base_ref, base_truth), build_side(head_label, head_truth))


__all__ = ["Artifact", "Review", "ReviewError", "compare", "render_markdown", "review_refs", "side_from_artifacts"]
