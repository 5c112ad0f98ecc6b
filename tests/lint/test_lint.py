"""LogQL rule checks (`obsctl lint`): each check's name, severity and table of cases (a rule -> the messages it
must produce), the command's `file:line: check: message` output on a hand-written bad rule file, and the online
checks against a fake Loki query API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import main
from generator.lint import LintCheck, load_lint_rules, offline_checks
from generator.lint.bytes_per_evaluation import BytesPerEvaluation
from generator.lint.for_interval import ForInterval
from generator.lint.logql_parse import LogqlParse
from generator.lint.range_interval import RangeInterval
from generator.lint.regex_literal import RegexLiteral
from generator.lint.regex_prefilter import RegexPrefilter
from generator.lint.stream_selector import StreamSelector
from generator.lint.template_labels import TemplateLabels
from generator.lint.template_syntax import TemplateSyntax
from generator.logs.live_loki import LokiConnection, LokiQueryClient
from tests.fakes.loki_query import FakeLokiQuery
from tests.fakes.server import serving
from tests.tooling import REPO, require_tool

BAD_RULES = REPO / "tests" / "lint" / "bad-rules.yaml"
SEL = '{service="shop"}'


def lint_rule(tmp_path: Path, check: LintCheck, rule: dict, interval: str = "1m") -> list[str]:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "interval": interval, "rules": [rule]}]}),
                    encoding="utf-8")
    return [p.message for p in check.check_rules(load_lint_rules(path))]


def test_every_check_has_a_unique_name_a_severity_and_a_description() -> None:
    checks = offline_checks()
    names = [c.name for c in checks]
    assert names == ["logql-parse", "template-syntax", "template-labels", "for-interval", "range-interval",
                     "regex-literal", "regex-prefilter"]
    assert all(c.severity in ("error", "warning") and c.description for c in checks)


CASES = [
    # (check, rule, interval, expected messages)
    (TemplateLabels(), {"alert": "A", "expr": f"sum by (service) (count_over_time({SEL} [5m])) > 0",
                        "annotations": {"summary": "{{ $labels.pod }} on {{ $labels.service }}"}}, "1m",
     ["A: annotations.summary uses {{ $labels.pod }} but the expression keeps only (service): it renders empty; "
      "add `pod` to the by (...) clause or drop it"]),
    (TemplateLabels(), {"alert": "A", "expr": f"sum(count_over_time({SEL} [5m])) > 0",
                        "labels": {"team": "{{ .Labels.team }}"}}, "1m",
     ["A: labels.team uses {{ $labels.team }} but the expression keeps only (no label): it renders empty; "
      "add `team` to the by (...) clause or drop it"]),
    (TemplateLabels(), {"alert": "A", "expr": f"count_over_time({SEL} [5m]) > 0",
                        "annotations": {"summary": "{{ $labels.anything }}"}}, "1m", []),  # stream labels: unknown
    (ForInterval(), {"alert": "A", "expr": f"count_over_time({SEL} [5m]) > 0", "for": "30s"}, "1m",
     ["A: for: 30s is shorter than the group interval 1m (g): the alert fires 1m after it turns pending, not 30s; "
      "use for: 0s or a multiple of the interval"]),
    (ForInterval(), {"alert": "A", "expr": f"count_over_time({SEL} [5m]) > 0", "for": "0s"}, "1m", []),
    (ForInterval(), {"alert": "A", "expr": f"count_over_time({SEL} [5m]) > 0", "for": "2m"}, "1m", []),
    (RangeInterval(), {"alert": "A", "expr": f"count_over_time({SEL} [30s]) > 0"}, "1m",
     ["A: count_over_time window [30s] is shorter than the group interval 1m (g): lines in the 30s between two "
      "windows are never seen; widen the window to at least 1m"]),
    (RangeInterval(), {"record": "r", "expr": f"count_over_time({SEL} [1m])"}, "1m", []),
    (RegexLiteral(), {"alert": "A", "expr": f'count_over_time({SEL} |~ "gateway down" !~ "test" [5m]) > 0'}, "1m",
     ["A: |~ `gateway down` matches plain text: write |= `gateway down` (a substring search, no regex)",
      "A: !~ `test` matches plain text: write != `test` (a substring search, no regex)"]),
    (RegexLiteral(), {"alert": "A", "expr": f'count_over_time({SEL} |~ "gate(way)? down" [5m]) > 0'}, "1m", []),
    (RegexPrefilter(), {"alert": "A", "expr": f'count_over_time({SEL} |~ "checkout.*timed out" [5m]) > 0'}, "1m",
     ["A: |~ `checkout.*timed out` runs on every selected line: add |= `timed out` before it (every match "
      "contains it)"]),
    (RegexPrefilter(), {"alert": "A", "expr": f'count_over_time({SEL} |= "timed out" |~ "checkout.*timed out" '
                                              f'[5m]) > 0'}, "1m", []),
    (RegexPrefilter(), {"alert": "A", "expr": f'count_over_time({SEL} |~ "ERROR|CRITICAL" [5m]) > 0'}, "1m", []),
    (LogqlParse(), {"alert": "A", "expr": f"sum(count_over_time({SEL} [5m]) > 0"}, "1m",
     # the expression is 47 characters long: the `)` is missing at its end
     ["A: parse error: expected ')', found 'end of query' at position 47: ce=\"shop\"} [5m]) > 0\u2038"]),
    (LogqlParse(), {"alert": "A", "expr": f"topk(3, count_over_time({SEL} [5m]))"}, "1m",
     ["A: not analysed: unsupported in the offline engine: vector aggregation topk"]),
]


@pytest.mark.parametrize(("check", "rule", "interval", "expected"), CASES,
                         ids=[f"{c[0].name}-{i}" for i, c in enumerate(CASES)])
def test_each_check_on_its_table_of_rules(tmp_path: Path, check: LintCheck, rule: dict, interval: str,
                                          expected: list[str]) -> None:
    assert lint_rule(tmp_path, check, rule, interval) == expected


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ $labels.service }} {{ humanize $value }}", []),
    ("{{ if gt $value 1.0 }}many{{ end }}", []),
    ("{{ $labels.service }", ['A: annotations.summary: template: __alert_A:1: unexpected "}" in operand']),
    ("{{ humanise $value }}", ['A: annotations.summary: template: __alert_A:1: function "humanise" not defined']),
    ("{{ if $value }}open", ["A: annotations.summary: template: __alert_A:1: unexpected EOF"]),
])
def test_template_syntax_is_decided_by_gos_parser_in_promtool(tmp_path: Path, template: str,
                                                              expected: list[str]) -> None:
    require_tool("promtool")
    rule = {"alert": "A", "expr": f"count_over_time({SEL} [5m]) > 0", "annotations": {"summary": template}}
    assert lint_rule(tmp_path, TemplateSyntax(), rule) == expected


def test_obsctl_lint_prints_file_line_check_message_for_a_hand_written_file() -> None:
    require_tool("promtool")
    result = CliRunner().invoke(main, ["lint", "--repo", str(REPO), "--truth", str(REPO / "product" / "truth.yaml"),
                                       str(BAD_RULES)])
    assert result.exit_code == 1, result.output
    shown = str(BAD_RULES)
    lines = [line.replace(shown, "bad-rules.yaml") for line in result.stdout.splitlines()
             if line.startswith(shown)]
    assert [line.split(": ")[0] + ": " + line.split(": ")[1] for line in lines] == [
        "bad-rules.yaml:8: for-interval",
        "bad-rules.yaml:12: template-labels",
        "bad-rules.yaml:14: range-interval",
        "bad-rules.yaml:14: regex-prefilter",
        "bad-rules.yaml:16: template-syntax",
        "bad-rules.yaml:18: regex-literal",
        "bad-rules.yaml:22: logql-parse",
    ]
    assert "2 rule file(s), 24 rule(s): 1 error(s), 6 warning(s)" in result.stdout
    assert result.stdout.startswith(f"{REPO / 'product' / 'truth.yaml'}: ok (")


def test_the_generated_rules_pass_every_offline_check() -> None:
    require_tool("promtool")
    result = CliRunner().invoke(main, ["lint", "--repo", str(REPO), "--truth", str(REPO / "product" / "truth.yaml")])
    assert result.exit_code == 0, result.output
    assert "1 rule file(s), 20 rule(s): 0 error(s), 0 warning(s)" in result.stdout


def test_a_file_that_is_not_a_rule_file_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: g\n    interval: soon\n    rules: []\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["lint", "--repo", str(tmp_path), "--truth",
                                       str(REPO / "product" / "truth.yaml"), str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3: groups[0].interval: invalid duration 'soon'" in result.stderr


@pytest.fixture
def loki() -> Iterator[FakeLokiQuery]:
    yield from serving(FakeLokiQuery())


def test_online_checks_ask_the_series_and_index_stats_apis(loki: FakeLokiQuery, tmp_path: Path) -> None:
    now = time.time_ns()
    # 20 lines of 75 bytes in the last minute: 1,500 bytes read by a 5m window, over a 1,000-byte threshold
    loki.add_lines({"service": "shop"}, [(now - (k + 1) * 10**9, "x" * 75) for k in range(20)])
    client = LokiQueryClient(LokiConnection(loki.url, "fake", None))
    checks: list[LintCheck] = [StreamSelector(client, now, 3600 * 10**9), BytesPerEvaluation(client, now, 1000)]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "Shop", "expr": 'count_over_time({service="shop"} [5m]) > 0'},
        {"alert": "Typo", "expr": 'count_over_time({service="shpo"} [5m]) > 0'}]}]}), encoding="utf-8")
    rules = load_lint_rules(path)
    found = [(p.check, p.severity, p.message) for c in checks for p in c.check_rules(rules)]
    assert found == [
        ("stream-selector", "error", f'Typo: {{service="shpo"}} matches no stream on {loki.url} in the last 1h: '
                                     "the rule can never fire"),
        ("bytes-per-evaluation", "warning", "Shop: one evaluation reads about 1.5 kB (index stats), above the "
                                            "1.0 kB of logs.ruler.max_bytes_per_evaluation: narrow the stream "
                                            "selector or shorten the range window"),
    ]
    series = [r for r in loki.requests if r.path == "/loki/api/v1/series"]
    assert len(series) == 2 and all(r.headers["x-scope-orgid"] == "fake" for r in loki.requests)


def test_obsctl_lint_online_uses_the_threshold_from_truth(loki: FakeLokiQuery, tmp_path: Path) -> None:
    require_tool("promtool")
    truth = (REPO / "product" / "truth.yaml").read_text(encoding="utf-8")
    assert "max_bytes_per_evaluation: 100000000" in truth
    (tmp_path / "truth.yaml").write_text(truth.replace("max_bytes_per_evaluation: 100000000",
                                                       "max_bytes_per_evaluation: 1000"), encoding="utf-8")
    now = time.time_ns()
    # 20 lines of 100 bytes in the last 20 s: inside every window of the generated rules (the shortest is 30s)
    loki.add_lines({"service": "telegram-bot"}, [(now - (k + 1) * 10**9, "y" * 100) for k in range(20)])
    result = CliRunner().invoke(main, ["lint", "--repo", str(REPO), "--truth", str(tmp_path / "truth.yaml"),
                                       "--online", loki.url])
    assert result.exit_code == 0, result.output  # warnings only
    warned = [line for line in result.stdout.splitlines() if ": bytes-per-evaluation: " in line]
    # each of the 20 generated rules (18 alerts, the log SLO's 2 recording rules) reads the 2,000 bytes, over the
    # 1,000 of the edited truth
    assert len(warned) == 20 and all("reads about 2.0 kB (index stats), above the 1.0 kB" in line for line in warned)
    assert not any(": stream-selector: " in line for line in result.stdout.splitlines())
