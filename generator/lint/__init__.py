"""LogQL rule checks for `obsctl lint` (pint's habits, for Loki): one check per module, all `LintCheck`s."""

from __future__ import annotations

from generator.lint.base import LintCheck, LintInputError, LintReport, LintRule, format_problem, load_lint_rules
from generator.lint.for_interval import ForInterval
from generator.lint.logql_parse import LogqlParse
from generator.lint.range_interval import RangeInterval
from generator.lint.regex_literal import RegexLiteral
from generator.lint.regex_prefilter import RegexPrefilter
from generator.lint.template_labels import TemplateLabels
from generator.lint.template_syntax import TemplateSyntax


def offline_checks() -> list[LintCheck]:
    """Every check that needs no server, in the order their findings are printed for one rule."""
    return [LogqlParse(), TemplateSyntax(), TemplateLabels(), ForInterval(), RangeInterval(), RegexLiteral(),
            RegexPrefilter()]


__all__ = ["LintCheck", "LintInputError", "LintReport", "LintRule", "format_problem", "load_lint_rules",
           "offline_checks"]
