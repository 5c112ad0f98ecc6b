"""Where the truth file lives by default; apart from `generator.truth` so the CLI can name it without importing
the schema (pydantic: about 0.3 s of start-up)."""

from pathlib import Path

DEFAULT_TRUTH_PATH = Path("product/truth.yaml")
