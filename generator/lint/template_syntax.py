"""`template-syntax`: labels and annotations must parse as Go templates with Prometheus's functions. Go's own parser
decides: the templates are checked by `promtool check rules` on a copy of the file whose expressions are replaced by
`vector(1)` (promtool parses every label and annotation template of an alerting rule; the LogQL expression would not
parse as PromQL). Group and rule numbers in promtool's answer map back to the hand-written file."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import yaml

from generator.checks.base import Problem, run_tool, tool_failure
from generator.lint.base import LintCheck, LintRule

# `<file>: group "g3", rule 2, "Name": annotation "summary": template: ...` (promtool check rules, one per problem)
_PROMTOOL_TEMPLATE_ERROR = re.compile(
    r'group "g(?P<group>\d+)", rule (?P<rule>\d+), "[^"]*": (?P<section>annotation|label) "(?P<key>[^"]*)": '
    r"(?P<message>.*)$")


class TemplateSyntax(LintCheck):
    name = "template-syntax"
    severity = "error"
    description = "labels and annotations parse as Go templates (promtool)"

    def check(self, rule: LintRule) -> list[Problem]:
        return self.check_rules([rule])

    def check_rules(self, rules: list[LintRule]) -> list[Problem]:
        alerts = [r for r in rules if r.is_alert and any(True for _ in r.templates())]
        if not alerts:
            return []
        # one group per rule: numbers in promtool's answer name the rule without ambiguity
        groups = [{"name": f"g{i}", "rules": [{"alert": rule.name, "expr": "vector(1)",
                                                "labels": {k: t for s, k, t in rule.templates() if s == "labels"},
                                                "annotations": {k: t for s, k, t in rule.templates()
                                                                if s == "annotations"}}]}
                  for i, rule in enumerate(alerts)]
        with tempfile.TemporaryDirectory(prefix="obsctl-lint-") as tmp:
            path = Path(tmp) / "templates.yaml"
            path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
            result = run_tool(["promtool", "check", "rules", path.name], cwd=Path(tmp))
        if result.ok:
            return []
        problems = []
        for line in result.output.splitlines():
            found = _PROMTOOL_TEMPLATE_ERROR.search(line)
            if not found:
                continue
            rule = alerts[int(found["group"])]
            section = "annotations" if found["section"] == "annotation" else "labels"
            problems.append(self.problem(rule.where(section, found["key"]),
                                         f"{rule.name}: {section}.{found['key']}: {found['message']}"))
        if not problems:  # promtool missing or failing for another reason: never a silent pass
            problems.append(self.problem(alerts[0].where(), tool_failure("promtool check rules", result)))
        return problems
