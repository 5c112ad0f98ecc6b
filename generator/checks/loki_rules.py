"""Validate Loki ruler rule files before they ship: one unparsable file breaks rule listing for its whole tenant.

Checks: the rule-group file shape Loki's ruler accepts, every expr parsed by Grafana's LogQL grammar and being a
metric query, every regex (line filter, regexp parser, label matcher) compiling in RE2, every double-quoted string
using only Go escapes, and annotation templates with balanced actions.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from generator.checks.base import CheckInput, Problem
from generator.syntax import fast_yaml
from generator.syntax.logql import unquote_string
from generator.syntax.logql_grammar import GrammarUnavailable, ParseResult, parse_batch, strings_after
from generator.truth.types import Duration, compile_re2, re2_error_text

RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
GROUP_KEYS = {"name", "interval", "limit", "rules"}
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Grammar node names after which the next String is a regex (|~ line filter, =~/!~ matchers, regexp parser).
REGEX_MARKERS = {"PipeMatch", "Re", "Nre", "Regexp"}


def _shape_problems(where: str, data: Any) -> tuple[list[Problem], list[tuple[str, str]]]:
    """Structural problems, and (location, expr) pairs to parse."""
    problems: list[Problem] = []
    exprs: list[tuple[str, str]] = []
    if not isinstance(data, dict) or set(data) != {"groups"} or not isinstance(data["groups"], list):
        return [Problem(where, "a rule file is a mapping with exactly one key, `groups` (a list)")], exprs
    names: set[str] = set()
    for g_index, group in enumerate(data["groups"]):
        at = f"{where}: groups[{g_index}]"
        if not isinstance(group, dict) or not isinstance(group.get("name"), str) or not group.get("name"):
            problems.append(Problem(at, "a group needs a non-empty `name`"))
            continue
        at = f"{where}: group {group['name']!r}"
        if group["name"] in names:
            problems.append(Problem(at, "duplicate group name in one file"))
        names.add(group["name"])
        unknown = set(group) - GROUP_KEYS
        if unknown:
            problems.append(Problem(at, f"unknown keys {sorted(unknown)}"))
        if "interval" in group:
            try:
                Duration.parse(str(group["interval"]))
            except ValueError as exc:
                problems.append(Problem(at, f"interval: {exc}"))
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            problems.append(Problem(at, "`rules` must be a non-empty list"))
            continue
        for r_index, rule in enumerate(rules):
            problems.extend(_rule_problems(f"{at} rules[{r_index}]", rule, exprs))
    return problems, exprs


def _rule_problems(at: str, rule: Any, exprs: list[tuple[str, str]]) -> list[Problem]:
    if not isinstance(rule, dict):
        return [Problem(at, "a rule must be a mapping")]
    problems = []
    unknown = set(rule) - RULE_KEYS
    if unknown:
        problems.append(Problem(at, f"unknown keys {sorted(unknown)}"))
    if ("alert" in rule) == ("record" in rule):
        problems.append(Problem(at, "exactly one of `alert` or `record` is required"))
    if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
        problems.append(Problem(at, "`expr` must be a non-empty string"))
    else:
        exprs.append((f"{at} ({rule.get('alert') or rule.get('record')})", rule["expr"]))
    for key in ("for", "keep_firing_for"):
        if key in rule:
            try:
                Duration.parse(str(rule[key]))
            except ValueError as exc:
                problems.append(Problem(at, f"{key}: {exc}"))
    for key in ("labels", "annotations"):
        mapping = rule.get(key, {})
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            problems.append(Problem(at, f"`{key}` must map strings to strings"))
            continue
        for name, value in mapping.items():
            if not LABEL_NAME.match(name):
                problems.append(Problem(at, f"{key}.{name}: invalid name"))
            unclosed = unclosed_template_action(value)
            if unclosed is not None:
                problems.append(Problem(at, f"{key}.{name}: template action opened at offset {unclosed} is "
                                            "never closed"))
    return problems


def unclosed_template_action(text: str) -> int | None:
    """Offset of a Go template `{{` whose action never ends (strings inside the action may hold `}}`)."""
    i = 0
    while (start := text.find("{{", i)) != -1:
        j = start + 2
        while j < len(text) and not text.startswith("}}", j):
            if text[j] in "`\"":
                close = text.find(text[j], j + 1)
                if close == -1:
                    return start
                j = close
            j += 1
        if j >= len(text):
            return start
        i = j + 2
    return None


def regex_strings(result: ParseResult) -> list[str]:
    """The regex literals of a parsed expression, unquoted, in order."""
    return strings_after(result, REGEX_MARKERS)


def expression_problems(results: list[tuple[str, ParseResult]]) -> list[Problem]:
    problems = []
    for at, result in results:
        if not result.ok:
            problems.append(Problem(at, f"LogQL does not parse: {result.describe_errors()}"))
            continue
        top = next((name for name, _a, _b in result.nodes if name in ("MetricExpr", "LogExpr")), None)
        if top != "MetricExpr":
            problems.append(Problem(at, "a rule expr must be a metric query (Loki rejects log queries at evaluation)"))
        for text in result.texts("String"):
            try:
                unquote_string(text)
            except (ValueError, IndexError) as exc:
                problems.append(Problem(at, f"{exc}"))
        try:
            regexes = regex_strings(result)
        except (ValueError, IndexError):
            continue  # already reported above
        for regex in regexes:
            try:
                compile_re2(regex)
            except Exception as exc:
                problems.append(Problem(at, f"regex {regex!r} does not compile in RE2: {re2_error_text(exc)}"))
    return problems


def validate_rule_texts(files: dict[str, str]) -> list[Problem]:
    """Validate rule files given as {display path: YAML text}; all expressions parsed in one grammar process."""
    problems: list[Problem] = []
    located: list[tuple[str, str]] = []
    for where, text in sorted(files.items()):
        try:
            data = fast_yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problems.append(Problem(where, f"not valid YAML: {exc}"))
            continue
        shape, exprs = _shape_problems(where, data)
        problems.extend(shape)
        located.extend(exprs)
    try:
        parsed = parse_batch([expr for _at, expr in located], with_nodes=True)
    except GrammarUnavailable as exc:
        return [*problems, Problem("", str(exc), "logql-grammar")]
    problems.extend(expression_problems([(at, r) for (at, _e), r in zip(located, parsed, strict=True)]))
    return problems


def check(inp: CheckInput) -> list[Problem]:
    return validate_rule_texts({a.path: a.content for a in inp.artifacts if a.path.endswith((".yaml", ".yml"))})
