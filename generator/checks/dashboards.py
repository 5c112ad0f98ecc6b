"""Checks generated dashboards and Grafana provisioning with the real parsers (Grafana itself cannot run here).

- every dashboard round-trips through grafana-foundation-sdk's models with no key lost or changed, and is written
  in the deterministic form (sorted keys, 2-space indent, trailing newline);
- dashboard uids are unique and at most 40 characters; panel ids are unique; panels fit the 24-column grid and do
  not overlap; every panel but a row has a description; links point at generated dashboards;
- every datasource reference resolves to a provisioned datasource (uid and type);
- every LogQL query parses with Grafana's grammar (@grafana/lezer-logql), every PromQL query with promtool, after
  Grafana's macros and the dashboard variables are substituted as Grafana would;
- provisioning files hold no literal credential: connection settings are environment references.
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import dashboard as dashboard_models

from generator.artifacts.base import Artifact
from generator.artifacts.dashboards.common import MAX_UID_LENGTH, OMITTED_SDK_DEFAULTS, serialize
from generator.artifacts.dashboards.panels import GRID_COLUMNS
from generator.checks.base import CheckInput, Problem, run_tool, tool_failure
from generator.conventions import DASHBOARD_DIR, GRAFANA_PROVISIONING_DIR
from generator.syntax import fast_yaml
from generator.syntax.logql_grammar import GrammarUnavailable, parse_batch

# What Grafana substitutes for its interval macros; any duration parses the same way.
MACRO_VALUES = {"__range": "1h", "__range_s": "3600", "__range_ms": "3600000", "__interval": "1m",
                "__interval_ms": "60000", "__rate_interval": "1m", "__auto": "1m"}
_MACRO = re.compile(r"\$\{(__\w+)\}|\$(__\w+)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# Keys under which a provisioned datasource may hold connection details or credentials: environment only.
SENSITIVE_KEYS = ("url", "user", "basicAuthUser", "database", "password", "basicAuthPassword")
_ENV_ONLY = re.compile(r"^\$\{[A-Z][A-Z0-9_]*\}$")


@dataclass(frozen=True)
class Query:
    where: str  # "dashboards/x.json panel 3 'Title' target A"
    language: str  # datasource type: loki, prometheus, grafana-postgresql-datasource
    text: str


def is_dashboard(path: str) -> bool:
    return path.startswith(f"{DASHBOARD_DIR}/") and path.endswith(".json") and "/" not in path[len(DASHBOARD_DIR) + 1:]


def is_datasource_provisioning(path: str) -> bool:
    return path.startswith(f"{GRAFANA_PROVISIONING_DIR}/datasources/") and path.endswith((".yaml", ".yml"))


# --- structural checks -------------------------------------------------------------------------------------------


def round_trip_problems(where: str, data: dict[str, Any]) -> list[Problem]:
    """Differences between the JSON and what the SDK's models read back and write again."""
    rebuilt = json.loads(json.dumps(dashboard_models.Dashboard.from_json(data), cls=JSONEncoder))
    return [Problem(where, problem) for problem in _diff(data, rebuilt, "")]


def _diff(original: Any, rebuilt: Any, path: str) -> Iterator[str]:
    if isinstance(original, dict) and isinstance(rebuilt, dict):
        for key in original:
            if key not in rebuilt:
                yield f"key {path}/{key} is lost by the SDK models (unknown to the schema)"
            else:
                yield from _diff(original[key], rebuilt[key], f"{path}/{key}")
        for key in rebuilt:
            if key not in original and not OMITTED_SDK_DEFAULTS.fullmatch(f"{path}/{key}"):
                yield f"key {path}/{key} is added by the SDK models (the file is not what the SDK writes)"
    elif isinstance(original, list) and isinstance(rebuilt, list):
        if len(original) != len(rebuilt):
            yield f"{path}: {len(original)} items become {len(rebuilt)}"
        for index, (a, b) in enumerate(zip(original, rebuilt, strict=False)):
            yield from _diff(a, b, f"{path}/{index}")
    elif original != rebuilt or type(original) is not type(rebuilt):
        yield f"{path}: {original!r} becomes {rebuilt!r}"


def all_panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Top-level panels and the panels nested in collapsed rows."""
    panels = []
    for panel in data.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []) if panel.get("type") == "row" else [])
    return panels


def layout_problems(where: str, data: dict[str, Any]) -> list[Problem]:
    problems = []
    ids: dict[int, str] = {}
    boxes: list[tuple[str, int, int, int, int]] = []
    for panel in all_panels(data):
        title = panel.get("title", "")
        label = f"{where}: panel {panel.get('id')} {title!r}"
        panel_id = panel.get("id")
        if not isinstance(panel_id, int):
            problems.append(Problem(label, "missing numeric id"))
        elif panel_id in ids:
            problems.append(Problem(label, f"id {panel_id} also used by {ids[panel_id]!r}"))
        else:
            ids[panel_id] = title
        if panel.get("type") != "row" and not str(panel.get("description", "")).strip():
            problems.append(Problem(label, "no description"))
        pos = panel.get("gridPos") or {}
        if not all(isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(Problem(label, f"incomplete gridPos {pos}"))
            continue
        x, y, w, h = (int(pos[k]) for k in ("x", "y", "w", "h"))
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > GRID_COLUMNS:
            problems.append(Problem(label, f"gridPos {pos} outside the {GRID_COLUMNS}-column grid"))
        for other, ox, oy, ow, oh in boxes:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                problems.append(Problem(label, f"overlaps panel {other}"))
        boxes.append((f"{panel_id} {title!r}", x, y, w, h))
    return problems


def _sections(data: dict[str, Any]) -> list[tuple[str, list[tuple[int, int, int, int]]]]:
    """Panels grouped under their row header (the panels above the first row form a section of their own), as
    (row title, [(x, y, w, h)]). A collapsed row's panels are its own section."""
    sections: list[tuple[str, list[tuple[int, int, int, int]]]] = [("(top)", [])]
    for panel in all_panels(data):
        pos = panel.get("gridPos") or {}
        if not all(isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
            continue  # reported by layout_problems
        if panel.get("type") == "row":
            sections.append((str(panel.get("title", "")), []))
            continue
        sections[-1][1].append((pos["x"], pos["y"], pos["w"], pos["h"]))
    return [(title, boxes) for title, boxes in sections if boxes]


def _empty_runs(boxes: list[tuple[int, int, int, int]], line: int) -> set[tuple[int, int]]:
    """(first column, width) of each run of uncovered columns on one grid line."""
    covered = [any(x <= col < x + w and y <= line < y + h for x, y, w, h in boxes) for col in range(GRID_COLUMNS)]
    runs, col = set(), 0
    while col < GRID_COLUMNS:
        start = col
        while col < GRID_COLUMNS and not covered[col]:
            col += 1
        if col > start:
            runs.add((start, col - start))
        col += 1
    return runs


def hole_problems(where: str, data: dict[str, Any]) -> list[Problem]:
    """No row leaves a hole: from a row's first panel line to its last panel's bottom, every cell of the 24-column
    grid is covered (an on-call screen wastes no space). Each hole is reported as a rectangle of empty cells: the same
    run of columns empty on consecutive lines."""
    problems = []
    for title, boxes in _sections(data):
        top, bottom = min(y for _, y, _, _ in boxes), max(y + h for _, y, _, h in boxes)
        holes: list[tuple[int, int, int, int]] = []  # x, y, width, height
        open_holes: dict[tuple[int, int], int] = {}  # (x, width) -> first line
        for line in range(top, bottom + 1):
            runs = _empty_runs(boxes, line) if line < bottom else set()
            for run in [r for r in open_holes if r not in runs]:
                first = open_holes.pop(run)
                holes.append((run[0], first, run[1], line - first))
            for run in runs:
                open_holes.setdefault(run, line)
        for x, y, w, h in sorted(holes, key=lambda hole: (hole[1], hole[0])):
            problems.append(Problem(
                f"{where}: row {title!r}",
                f"hole of {w} column(s) x {h} line(s) at x={x}, y={y}: fill it or widen a panel"))
    return problems


_LINE_COUNT = re.compile(r"\b(?:count_over_time|rate|bytes_over_time|bytes_rate)\s*\(")


def zero_fallback_problems(where: str, data: dict[str, Any]) -> list[Problem]:
    """A stat counting log lines shows 0 on a calm service, not "No data": Loki returns no series at all when no line
    matched (a metric query over no streams is empty), so the query must end in `or vector(0)` over an aggregation
    without labels (with labels, `or` would add the 0 beside the real series)."""
    problems = []
    for panel in all_panels(data):
        if panel.get("type") != "stat" or (panel.get("datasource") or {}).get("type") != "loki":
            continue
        for target in panel.get("targets", []):
            expr = str(target.get("expr", ""))
            if _LINE_COUNT.search(expr) and not re.search(r"^sum\s*\(.*\)\s+or\s+vector\(0\)$", expr, re.S):
                problems.append(Problem(f"{where}: panel {panel.get('id')} {panel.get('title', '')!r}",
                                        "counts log lines but shows \"No data\" when there is none: write "
                                        "`sum(...) or vector(0)`"))
    return problems


def threshold_problems(where: str, data: dict[str, Any]) -> list[Problem]:
    problems = []
    for panel in all_panels(data):
        steps = (((panel.get("fieldConfig") or {}).get("defaults") or {}).get("thresholds") or {}).get("steps")
        if not steps:
            continue
        values = [s.get("value") for s in steps]
        if values[0] is not None or any(v is None for v in values[1:]) or values[1:] != sorted(values[1:]):
            problems.append(Problem(where, f"panel {panel.get('id')} {panel.get('title')!r}: threshold steps must "
                                           f"start with a base step and ascend, got {values}"))
    return problems


def datasource_refs(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every `datasource` reference anywhere in the dashboard (panels, targets, variables, annotations)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield f"{path}/{key}", value
            else:
                yield from datasource_refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from datasource_refs(item, f"{path}/{index}")


def reference_problems(where: str, data: dict[str, Any], datasources: dict[str, str],
                       dashboard_uids: set[str]) -> list[Problem]:
    problems = []
    for path, ref in datasource_refs(data):
        uid, kind = ref.get("uid"), ref.get("type")
        if uid not in datasources:
            problems.append(Problem(where, f"{path} references datasource uid {uid!r}, which is not provisioned "
                            f"(provisioned: {', '.join(sorted(datasources))})"))
        elif datasources[uid] != kind:
            problems.append(Problem(where, f"{path} says datasource {uid!r} is {kind!r}; it is provisioned as "
                            f"{datasources[uid]!r}"))
    for link in data.get("links", []):
        url = link.get("url", "")
        if url.startswith("/d/") and url[3:].split("/")[0].split("?")[0] not in dashboard_uids:
            problems.append(Problem(where, f"link {link.get('title')!r} points at {url}, which is not a generated "
                                           "dashboard"))
    return problems


# --- queries -----------------------------------------------------------------------------------------------------


def variable_values(data: dict[str, Any]) -> dict[str, str]:
    values = {}
    for variable in (data.get("templating") or {}).get("list", []):
        current = (variable.get("current") or {}).get("value")
        if isinstance(current, list):
            current = current[0] if current else ""
        values[variable["name"]] = current if isinstance(current, str) and current != "$__all" else "x"
    return values


def substitute(text: str, variables: dict[str, str]) -> tuple[str, list[str]]:
    """Replace Grafana macros and dashboard variables the way Grafana does before sending a query."""
    unknown: list[str] = []

    def macro(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in MACRO_VALUES:
            unknown.append(name)
            return match[0]
        return MACRO_VALUES[name]

    def variable(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in variables:
            unknown.append(name)
            return match[0]
        return variables[name]

    return _VARIABLE.sub(variable, _MACRO.sub(macro, text)), unknown


def queries_of(where: str, data: dict[str, Any]) -> list[Query]:
    found = []
    for panel in all_panels(data):
        panel_type = (panel.get("datasource") or {}).get("type", "")
        for target in panel.get("targets", []):
            language = (target.get("datasource") or {}).get("type", panel_type)
            text = target.get("expr") if language in ("loki", "prometheus") else target.get("rawSql")
            if text is not None:
                found.append(Query(f"{where}: panel {panel.get('id')} {panel.get('title')!r} target "
                                   f"{target.get('refId')}", language, text))
    return found


def logql_problems(queries: list[tuple[Query, str]]) -> list[Problem]:
    if not queries:
        return []
    try:
        results = parse_batch([text for _, text in queries])
    except GrammarUnavailable as exc:
        return [Problem("", f"LogQL queries not validated: {exc}", "logql-grammar")]
    return [Problem(query.where, f"LogQL does not parse ({result.describe_errors()}): {query.text}")
            for (query, _), result in zip(queries, results, strict=True) if not result.ok]


def promql_problems(queries: list[tuple[Query, str]]) -> list[Problem]:
    """Each expression as a recording rule in its own group, checked by `promtool check rules`."""
    if not queries:
        return []
    groups = [{"name": f"q{index}", "rules": [{"record": "dashboard:query", "expr": text}]}
              for index, (_, text) in enumerate(queries)]
    with tempfile.TemporaryDirectory(prefix="obsctl-promql-") as tmp:
        rules = Path(tmp) / "dashboard-queries.json"  # JSON is YAML to promtool, and quick to write
        rules.write_text(json.dumps({"groups": groups}), encoding="utf-8")
        result = run_tool(["promtool", "check", "rules", str(rules)], Path(tmp))
    if result.ok:
        return []
    output = result.output
    problems = []
    for match in re.finditer(r'group "q(\d+)", rule \d+, "[^"]*": (.*)', output):
        query, text = queries[int(match[1])]
        problems.append(Problem(query.where, f"PromQL does not parse ({match[2].strip()}): {text}"))
    return problems or [Problem("", tool_failure("promtool check rules (dashboard PromQL)", result), "promtool")]


# --- provisioning ------------------------------------------------------------------------------------------------


def provisioned_datasources(artifacts: list[Artifact]) -> tuple[dict[str, str], list[Problem]]:
    """uid -> type of every provisioned datasource, and problems with the provisioning files."""
    datasources: dict[str, str] = {}
    problems = []
    for artifact in artifacts:
        if not is_datasource_provisioning(artifact.path):
            continue
        document = fast_yaml.safe_load(artifact.content)
        if document.get("apiVersion") != 1:
            problems.append(Problem(artifact.path, "apiVersion must be 1"))
        for entry in document.get("datasources", []):
            uid = entry.get("uid")
            if not uid or len(uid) > MAX_UID_LENGTH:
                problems.append(Problem(artifact.path,
                                        f"datasource {entry.get('name')!r} needs a uid of 1-40 characters"))
            if uid in datasources:
                problems.append(Problem(artifact.path, f"datasource uid {uid!r} is provisioned twice"))
            datasources[uid] = entry.get("type")
            problems.extend(Problem(artifact.path, f"datasource {entry.get('name')!r}: {problem}")
                            for problem in literal_credential_problems(entry))
        for entry in document.get("datasources", []):
            linked = (entry.get("jsonData") or {}).get("alertmanagerUid")
            if linked is not None and datasources.get(linked) != "alertmanager":
                problems.append(Problem(artifact.path, f"datasource {entry.get('name')!r}: alertmanagerUid "
                                                       f"{linked!r} is not a provisioned Alertmanager datasource"))
    return datasources, problems


def literal_credential_problems(node: Any, path: str = "") -> Iterator[str]:
    """Connection settings and everything under secureJsonData must be `${ENV}` references."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key == "secureJsonData" and isinstance(value, dict):
                for secret_key, secret in value.items():
                    if not (isinstance(secret, str) and _ENV_ONLY.match(secret)):
                        yield f"{here}/{secret_key} must be an environment reference like ${{VAR}}"
            elif key in SENSITIVE_KEYS and isinstance(value, str):
                if not _ENV_ONLY.match(value):
                    yield f"{here} must be an environment reference like ${{VAR}}"
            else:
                yield from literal_credential_problems(value, here)


# --- entry point -------------------------------------------------------------------------------------------------


def check(inp: CheckInput) -> list[Problem]:
    datasources, problems = provisioned_datasources(list(inp.artifacts))
    dashboards: dict[str, dict[str, Any]] = {}
    for artifact in inp.artifacts:
        if not is_dashboard(artifact.path):
            continue
        text = artifact.content
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(Problem(artifact.path, f"not JSON: {exc}"))
            continue
        if serialize(data) != text:
            problems.append(Problem(artifact.path,
                                    "not in the deterministic form (sorted keys, 2-space indent, newline)"))
        dashboards[artifact.path] = data

    uids: dict[str, str] = {}
    for path, data in dashboards.items():
        uid = data.get("uid")
        if not isinstance(uid, str) or not 0 < len(uid) <= MAX_UID_LENGTH:
            problems.append(Problem(path, f"uid {uid!r} must be 1-{MAX_UID_LENGTH} characters"))
        elif uid in uids:
            problems.append(Problem(path, f"uid {uid!r} is also the uid of {uids[uid]}"))
        else:
            uids[str(uid)] = path
        if Path(path).stem != uid:
            problems.append(Problem(path, f"file name does not match uid {uid!r}"))

    logql: list[tuple[Query, str]] = []
    promql: list[tuple[Query, str]] = []
    for path, data in dashboards.items():
        problems += round_trip_problems(path, data)
        problems += layout_problems(path, data)
        problems += hole_problems(path, data)
        problems += zero_fallback_problems(path, data)
        problems += threshold_problems(path, data)
        problems += reference_problems(path, data, datasources, set(uids))
        if not any(p.get("type") == "alertlist" for p in all_panels(data)):
            problems.append(Problem(path, "no alert list panel"))
        variables = variable_values(data)
        for query in queries_of(path, data):
            if query.language not in ("loki", "prometheus"):
                continue  # SQL runs with Grafana's own macros ($__timeFilter(...)); checked by the tests on PostgreSQL
            text, unknown = substitute(query.text, variables)
            if unknown:
                problems.append(Problem(query.where, f"unknown macro or variable {', '.join(sorted(set(unknown)))}"))
            if query.language == "loki":
                logql.append((query, text))
            elif query.language == "prometheus":
                promql.append((query, text))
    # The grammar's node process and promtool answer at once, not one after the other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        logql_found, promql_found = pool.submit(logql_problems, logql), pool.submit(promql_problems, promql)
        return problems + logql_found.result() + promql_found.result()
