"""The generated LogQL rule tests, run against the freshly rendered Loki rule file with the offline engine: a rule
that does not fire on its truth examples, or fires on a look-alike, fails generation."""

from __future__ import annotations

from generator.checks.base import CheckInput, Problem


def check(inp: CheckInput) -> list[Problem]:
    from generator.logql_engine import LogQLError, run_test_file  # the engine is only needed when tests run
    from generator.logql_engine.testfile import RuleFileMemo

    problems = []
    parsed_rules: RuleFileMemo = {}  # the Loki rule file, parsed once for the seven test files that read it
    for artifact in inp.artifacts:
        if not artifact.path.endswith(".yaml"):
            continue
        try:
            result = run_test_file(inp.root / artifact.path, parsed_rules)
        except LogQLError as exc:
            problems.append(Problem(artifact.path, str(exc), "logql-test"))
            continue
        problems += [Problem("", str(failure).replace(str(inp.root) + "/", ""), "logql-test")
                     for failure in result.failures]
    return problems
