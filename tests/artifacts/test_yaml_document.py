"""Generated YAML: the dumper that remembers scalar analyses writes exactly what PyYAML's own emitter writes."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.artifacts import base, promtool_tests
from generator.pipeline import plan_for
from generator.truth import Truth


class _PlainDumper(base._IndentedDumper):
    """The same dumper without the remembered analyses."""

    def analyze_scalar(self, scalar: str) -> yaml.emitter.ScalarAnalysis:
        return yaml.emitter.Emitter.analyze_scalar(self, scalar)


def both(data: Any, allow_unicode: bool = True) -> tuple[str, str]:
    options = {"sort_keys": False, "allow_unicode": allow_unicode, "width": 4096, "default_flow_style": False}
    return (yaml.dump(data, Dumper=base._IndentedDumper, **options), yaml.dump(data, Dumper=_PlainDumper, **options))


def test_a_generated_test_file_is_written_as_pyyamls_emitter_writes_it(truth: Truth) -> None:
    remembered, plain = both(promtool_tests.build_tests(plan_for(truth)))
    assert remembered == plain


tricky = st.one_of(st.text(), st.sampled_from(["", " lead", "trail ", "a: b", "- x", "#c", "yes", "1e3", "~", "é",
                                                 "line\nline", "tab\there", "'q'", '"q"', "{x}", "\u2028"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(tricky, st.one_of(tricky, st.lists(tricky, max_size=3)), max_size=4), max_size=4),
       st.booleans())
def test_any_document_is_written_the_same_with_or_without_remembered_analyses(data: list[dict[str, Any]],
                                                                               allow_unicode: bool) -> None:
    remembered, plain = both(data, allow_unicode)
    assert remembered == plain
    # Again, now that every scalar's analysis is remembered, and with the other unicode setting.
    assert both(data, not allow_unicode)[0] == both(data, not allow_unicode)[1]
    assert both(data, allow_unicode)[0] == plain
