"""What a scan needs from truth.yaml, as plain data, cached so `obsctl scan` starts without the schema.

Loading truth.yaml (YAML with positions, the pydantic schema, cross-reference checks) costs about 0.4 s; the scan
itself needs a few strings: the patterns, how to mask secrets, the log format, the latency targets. `load_scan_spec`
keeps them in a JSON file named by a hash of the truth file's bytes and of the code that derives them, in
`$OBSCTL_CACHE_DIR` (else `$XDG_CACHE_HOME/obsctl`, else `~/.cache/obsctl`). A changed truth file or a changed
obsctl is a new name: the truth file is loaded and checked again, with its located errors. The cache holds names of
environment variables, never their values. An unwritable cache directory only costs the start-up time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.logs.cache_files import cache_digest, write_atomically
from generator.logs.inputs import BotLineFormat
from generator.logs.patterns import WatchedPattern
from generator.syntax.redaction import RedactionRule

if TYPE_CHECKING:
    from generator.truth import Truth

SPEC_VERSION = 1
# The code that turns truth.yaml into a spec: a change in any of them invalidates every cached spec.
_DERIVING_MODULES = ("logs/scan_spec.py", "logs/patterns.py", "logs/inputs.py", "plan/log_format.py",
                     "plan/privacy.py", "syntax/redaction.py",
                     "syntax/logql.py", "syntax/re2_regex.py", "truth/model.py", "truth/checks.py")
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SecretSpec:
    id: str
    regex: str
    redact_as: str | None
    env: str | None


@dataclass(frozen=True)
class ScanSpec:
    patterns: tuple[WatchedPattern, ...]
    secrets: tuple[SecretSpec, ...]
    redactions: tuple[RedactionRule, ...]  # what the ingestion pipeline redacts (plan.privacy), in order
    line_format: BotLineFormat
    text_format: str
    latency_targets_ms: tuple[float, float, float]  # p50, p95, p99

    @classmethod
    def from_truth(cls, truth: Truth) -> ScanSpec:
        from generator.logs.patterns import watched_patterns
        from generator.plan.privacy import redaction_rules

        targets = truth.latency_targets
        return cls(
            patterns=tuple(watched_patterns(truth)),
            secrets=tuple(SecretSpec(s.id, s.regex, s.redact_as, s.env) for s in truth.privacy.never_log),
            redactions=tuple(redaction_rules(truth)),
            line_format=BotLineFormat.from_truth(truth.logs),
            text_format=truth.logs.text_format,
            latency_targets_ms=(targets.p50.milliseconds, targets.p95.milliseconds, targets.p99.milliseconds),
        )

    def to_json(self) -> dict[str, Any]:
        line_format = {f.name: getattr(self.line_format, f.name) for f in fields(self.line_format)
                       if not f.name.startswith("_")}
        return {"patterns": [asdict(p) for p in self.patterns], "secrets": [asdict(s) for s in self.secrets],
                "redactions": [asdict(r) for r in self.redactions], "line_format": line_format,
                "text_format": self.text_format,
                "latency_targets_ms": list(self.latency_targets_ms)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanSpec:
        line_format = dict(data["line_format"])
        line_format["levels"] = tuple(line_format["levels"])
        line_format["tag_names"] = tuple(line_format["tag_names"])
        p50, p95, p99 = data["latency_targets_ms"]
        return cls(
            patterns=tuple(WatchedPattern(**p) for p in data["patterns"]),
            secrets=tuple(SecretSpec(**s) for s in data["secrets"]),
            redactions=tuple(RedactionRule(**r) for r in data["redactions"]),
            line_format=BotLineFormat(**line_format),
            text_format=data["text_format"],
            latency_targets_ms=(float(p50), float(p95), float(p99)),
        )


def cache_dir() -> Path:
    if os.environ.get("OBSCTL_CACHE_DIR"):
        return Path(os.environ["OBSCTL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "obsctl"


def _cache_key(truth_bytes: bytes) -> str:
    modules = [part for module in _DERIVING_MODULES for part in (module.encode(), (_PACKAGE / module).read_bytes())]
    return cache_digest(f"scan-spec {SPEC_VERSION}".encode(), *modules, truth_bytes)


def load_scan_spec(truth_path: Path, load_truth: Callable[[Path], Truth]) -> ScanSpec:
    """The spec of a truth file: from the cache when this very file and code made one, else `load_truth(path)`
    (which reports a bad truth file its own way) and then cached."""
    try:
        cached = cache_dir() / f"scan-spec-{_cache_key(truth_path.read_bytes())}.json"
    except OSError:  # unreadable truth file: load_truth says so, with its location
        return ScanSpec.from_truth(load_truth(truth_path))
    try:
        return ScanSpec.from_json(json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    spec = ScanSpec.from_truth(load_truth(truth_path))
    try:
        write_atomically(cached, json.dumps(spec.to_json()).encode())
    except OSError:
        pass
    return spec
