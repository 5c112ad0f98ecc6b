"""`yaml.safe_load` through libyaml's parser when PyYAML was built with it (Debian's and the wheels' are).

The C parser feeds the same Python constructor and resolver, so a document it accepts gives the same data, with the
same line and column marks, several times faster: generation reads the generated rule and test files back more than
a dozen times per run. A document it refuses is parsed again by the pure-Python parser, so the error a user sees is
the one PyYAML has always given.
"""

from __future__ import annotations

from typing import Any

import yaml

FAST_SAFE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=FAST_SAFE_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)
