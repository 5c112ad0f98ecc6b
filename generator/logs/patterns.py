"""The truth patterns a scan watches, how a matched line is made safe to print, and the multi-pattern matcher.

Hyperscan is only a *prefilter*: the truth patterns go into one block-mode database, scanned once per block of whole
lines (the match *end* offset is enough to find the line, so no start-of-match tracking is paid for), and every
line it reports is confirmed by RE2 on that whole line, the way Loki's line filter runs it. No hit is missed: a
pattern goes to Hyperscan only when `regex_safety.hyperscan_safe` proves it, and matches are never collapsed (no
single-match flag). Any other pattern, and any one Hyperscan cannot compile, is matched line by line with RE2 alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import hyperscan

from generator.logs.cache_files import cache_digest, write_atomically
from generator.logs.regex_safety import hyperscan_safe
from generator.syntax.re2_regex import compile_re2
from generator.syntax.redaction import redact_line

if TYPE_CHECKING:
    from generator.logs.scan_spec import ScanSpec
    from generator.truth import Truth

Kind = Literal["forbidden", "rate_limited", "secret"]
MAX_SHOWN_CHARS = 400


@dataclass(frozen=True)
class WatchedPattern:
    id: str
    kind: Kind
    regex: str
    priority: str | None = None
    limit_count: int | None = None
    limit_per_ns: int | None = None


def watched_patterns(truth: Truth) -> list[WatchedPattern]:
    from generator.plan import log_format

    patterns = [WatchedPattern(p.id, "forbidden", p.regex, priority=p.priority) for p in truth.forbidden_patterns]
    patterns += [
        WatchedPattern(p.id, "rate_limited", p.regex, limit_count=p.limit.count,
                       limit_per_ns=round(p.limit.per.seconds * 1e9))
        for p in truth.rate_limited_patterns
    ]
    patterns += [WatchedPattern(s.id, "secret", log_format.secret_detection_regex(s))
                 for s in truth.privacy.never_log]
    return patterns


class Masker:
    """Makes a line safe to print: secrets (by shape, and by value when the env var is set) and privacy masks.

    Secrets with a `redact_as` marker and the masks are the ingestion pipeline's rules (plan.privacy), for the
    line's format. A secret without a marker (user prompts) matches where the value starts, not where it ends: the
    rest of the line goes too.
    """

    def __init__(self, spec: ScanSpec, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self._spec = spec
        self._values = [(env[s.env], s.redact_as or f"<redacted:{s.id}>")
                        for s in spec.secrets if s.env and len(env.get(s.env, "")) >= 8]
        self._cuts: list[tuple[Any, str]] | None = None  # compiled on the first line to mask

    def mask(self, line: str) -> str:
        if self._cuts is None:
            self._cuts = [(compile_re2(s.regex), f"<redacted:{s.id}>") for s in self._spec.secrets
                          if not s.redact_as]
        for value, marker in self._values:
            line = line.replace(value, marker)
        line = redact_line(line, list(self._spec.redactions))
        for pattern, marker in self._cuts:
            match = pattern.search(line)
            if match is not None:
                line = line[:match.start()] + marker
        # shorten only after masking: a cut secret would no longer match its pattern
        return line if len(line) <= MAX_SHOWN_CHARS else line[:MAX_SHOWN_CHARS] + "…"


@dataclass
class CompiledPatterns:
    """Truth patterns in one Hyperscan database where proven safe; RE2, line by line, for the rest."""

    database: Any  # Hyperscan block-mode database of the truth patterns (ids = pattern index), or None
    engines: list[str]  # per truth pattern: which engine finds its lines, and why
    re2_only: list[int]

    def new_scratch(self) -> Any:
        """Hyperscan's working memory for one more thread (two scans at once may not share one), or None."""
        return hyperscan.Scratch(self.database) if self.database is not None else None

    def match_ends(self, data: Any, scratch: Any = None) -> list[tuple[int, int]]:
        """(end offset, pattern index) of every Hyperscan match in a buffer, in the order Hyperscan reports them.
        `scratch`: the calling thread's own (see `new_scratch`); None for the database's, one thread at a time."""
        found: list[tuple[int, int]] = []
        if self.database is not None:
            append = found.append

            def on_match(pattern_id: int, _start: int, end: int, _flags: int, _context: object) -> None:
                append((end, pattern_id))

            self.database.scan(data, match_event_handler=on_match, scratch=scratch)
        return found


def _flags(regex: bytes) -> int:
    # MULTILINE: `^`/`$` match at every line boundary of the block, as they do at the ends of each Loki line. Only
    # where the regex has an anchor: the flag slows Hyperscan down by about a third.
    return hyperscan.HS_FLAG_MULTILINE if (b"^" in regex or b"$" in regex) else 0


def hyperscan_complaint(regex: str) -> str | None:
    """None when Hyperscan compiles the regex, else its complaint."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(expressions=[regex.encode()], ids=[0], elements=1, flags=[_flags(regex.encode())])
    except hyperscan.error as exc:
        return str(exc) or type(exc).__name__
    return None


def block_database(expressions: list[bytes], ids: list[int]) -> Any:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=expressions, ids=ids, elements=len(expressions),
                     flags=[_flags(expression) for expression in expressions])
    return database


def compile_patterns(regexes: list[str], cache_folder: Path | None = None) -> CompiledPatterns:
    """`cache_folder`: keep the compiled database there (Hyperscan's serialised form, named by a hash of the
    regexes, of this module and of the Hyperscan build) and reuse it; compiling costs about 0.1 s of start-up."""
    cached = _cache_file(regexes, cache_folder) if cache_folder is not None else None
    if cached is not None:
        loaded = _load_compiled(cached)
        if loaded is not None:
            return loaded
    compiled = _compile_patterns(regexes)
    if cached is not None:
        _store_compiled(cached, compiled)
    return compiled


def _cache_file(regexes: list[str], folder: Path) -> Path:
    build = f"{getattr(hyperscan, '__version__', '')}\0{os.uname().machine}\0"  # a database fits one build and CPU
    digest = cache_digest(Path(__file__).read_bytes(), build.encode(), json.dumps(regexes).encode())
    return folder / f"patterns-{digest}.hsdb"


def _load_compiled(path: Path) -> CompiledPatterns | None:
    try:
        data = path.read_bytes()
        header_size = int.from_bytes(data[:4], "big")
        header = json.loads(data[4:4 + header_size])
        body = data[4 + header_size:]
        database = hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK) if body else None
        if database is not None:
            database.scratch = hyperscan.Scratch(database)
        return CompiledPatterns(database, list(header["engines"]), list(header["re2_only"]))
    except (OSError, ValueError, KeyError, TypeError, hyperscan.error):
        return None  # absent, damaged or built for another CPU: compile again


def _store_compiled(path: Path, compiled: CompiledPatterns) -> None:
    header = json.dumps({"engines": compiled.engines, "re2_only": compiled.re2_only}).encode()
    body = hyperscan.dumpb(compiled.database) if compiled.database is not None else b""
    try:
        write_atomically(path, len(header).to_bytes(4, "big") + header + body)
    except OSError:
        pass  # an unwritable cache only costs the compile next time


def _compile_patterns(regexes: list[str]) -> CompiledPatterns:
    expressions: list[bytes] = []
    ids: list[int] = []
    engines: list[str] = []
    re2_only: list[int] = []
    for index, regex in enumerate(regexes):
        complaint = hyperscan_complaint(regex)
        if complaint is not None:
            engines.append(f"re2 (Hyperscan cannot compile it: {complaint})")
            re2_only.append(index)
        elif not hyperscan_safe(regex):
            engines.append("re2 (byte-mode matching not proven equal to RE2 for it)")
            re2_only.append(index)
        else:
            engines.append("hyperscan+re2")
            expressions.append(regex.encode())
            ids.append(index)
    return CompiledPatterns(block_database(expressions, ids) if expressions else None, engines, re2_only)
