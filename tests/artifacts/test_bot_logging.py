"""The generated bot logging module (bot/bot_logging.py) and the Alloy masking stages, against the seed's privacy
rules: nothing secret survives redaction at the source (module) or at ingestion (Alloy, both formats), and
ordinary text passes unchanged. Property tests embed random secrets and balances in random records and lines."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import logging.config
import re
import shutil
import string
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import conventions, pipeline
from generator.checks import bot_logging as bot_logging_checks
from generator.checks.base import CheckInput
from generator.truth import Truth, load_truth
from tests.artifacts.alloy_process import AlloyPipeline
from tests.tooling import REPO

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
# Words an ordinary message never holds: the keys the privacy rules look for.
SECRET_KEYS = ("balance", "prompt", "kie", "bearer", "authorization")
TOKEN_SHAPE = re.compile(r"[0-9]{8,10}:[A-Za-z0-9_-]{35}")


@pytest.fixture(scope="module")
def module(generated: Path) -> Iterator[ModuleType]:
    """The freshly generated module, imported under its own name (dict_config names its classes by it)."""
    spec = importlib.util.spec_from_file_location("bot_logging", generated / conventions.BOT_LOGGING_MODULE)
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("bot_logging")
    sys.modules["bot_logging"] = loaded
    spec.loader.exec_module(loaded)
    yield loaded
    if saved is None:
        sys.modules.pop("bot_logging", None)
    else:
        sys.modules["bot_logging"] = saved


@pytest.fixture(scope="module")
def alloy(generated: Path) -> AlloyPipeline:
    return AlloyPipeline.from_tree(generated)


# --- strategies ----------------------------------------------------------------------------------------------------

ordinary_text = st.text(alphabet=string.ascii_letters + string.digits + " .,:;-_/()#@!?", max_size=60).filter(
    lambda text: not any(key in text.lower() for key in SECRET_KEYS) and not TOKEN_SHAPE.search(text))
telegram_tokens = st.from_regex(r"[0-9]{8,10}:[A-Za-z0-9_-]{35}", fullmatch=True)
kie_values = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=16, max_size=40)
KIE_SPELLINGS = ["KIE_API_KEY={}", "kie_api_key: {}", "kie-api-key={}", "KieApiKey: {}", "Authorization: Bearer {}",
                 "{{'Authorization': 'Bearer {}'}}", "bearer {}", '"kie_api_key": "{}"']
balances = st.one_of(
    st.decimals(min_value=-10**6, max_value=10**6, places=2, allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-10**6, max_value=10**6),
)
prompts = st.text(alphabet=string.ascii_letters + " ", min_size=12, max_size=40).filter(
    lambda text: text.strip() and not any(key in text.lower() for key in SECRET_KEYS))
PLACES = ["message", "args", "extra", "exception"]
BALANCE_LEAK = re.compile(r"balance\\?[\"']?\s*[:=]\s*\\?[\"']?-?[0-9]")


@st.composite
def secrets(draw: st.DrawFn) -> tuple[str, str, object, str]:
    """(kind, raw secret that must not survive, value for an `extra` field, the text spelling in a message)."""
    kind = draw(st.sampled_from(["token", "kie", "balance", "prompt"]))
    if kind == "token":
        token = draw(telegram_tokens)
        return kind, token, f"https://api.telegram.org/bot{token}/sendMessage", f"POST /bot{token}/getMe"
    if kind == "kie":
        value = draw(kie_values)
        return kind, value, value, draw(st.sampled_from(KIE_SPELLINGS)).format(value)
    if kind == "balance":
        value = draw(balances)
        return kind, str(value), value, f"balance={value}"
    text = draw(prompts)
    return kind, text, text, f"prompt={text}"


EXTRA_KEY = {"token": "url", "kie": "kie_api_key", "balance": "balance", "prompt": "prompt"}


def emit(module: ModuleType, fmt: str, call: str, *args: object, **kwargs: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(module.JsonFormatter() if fmt == "json" else module.TextFormatter())
    handler.addFilter(module.RedactingFilter())
    logger = logging.Logger("bot.payments", logging.DEBUG)
    logger.addHandler(handler)
    getattr(logger, call)(*args, **kwargs)
    return stream.getvalue()


def assert_nothing_secret(kind: str, raw: str, output: str, *ordinary: str) -> None:
    """No trace of the secret beyond what the ordinary text around it happens to spell."""
    if kind == "balance":
        assert not BALANCE_LEAK.search(output), output
        return
    residue = output
    for part in sorted(ordinary, key=len, reverse=True):
        if part:
            residue = residue.replace(part, "\0")
    assert raw not in residue, output


# --- the module: redaction at the source ---------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(secret=secrets(), before=ordinary_text, after=ordinary_text, fmt=st.sampled_from(["json", "text"]),
       place=st.sampled_from(PLACES))
def test_module_lets_no_secret_through_any_part_of_a_record(module: ModuleType, secret: tuple[str, str, object, str],
                                                             before: str, after: str, fmt: str, place: str) -> None:
    kind, raw, extra_value, spelled = secret
    if place == "message":
        output = emit(module, fmt, "info", f"{before} {spelled} {after}")
    elif place == "args":
        output = emit(module, fmt, "warning", "%s %s %s", before, spelled, after)
    elif place == "extra":
        output = emit(module, fmt, "info", before, extra={EXTRA_KEY[kind]: extra_value, "user_id": 7})
    else:
        try:
            raise ValueError(f"{before} {spelled} {after}")
        except ValueError:
            output = emit(module, fmt, "exception", "failed %s", before)
    assert_nothing_secret(kind, raw, output, before, after)
    if fmt == "json":
        document = json.loads(output)  # one object per line, still
        if place == "extra":
            assert document[EXTRA_KEY[kind]] != extra_value or kind == "token"
            assert document["user_id"] == 7  # ordinary tags keep their type


@PROPERTY_SETTINGS
@given(text=ordinary_text, user_id=st.integers(min_value=1, max_value=10**10),
       duration=st.integers(min_value=0, max_value=10**5), fmt=st.sampled_from(["json", "text"]))
def test_module_leaves_ordinary_records_unchanged(module: ModuleType, text: str, user_id: int, duration: int,
                                                  fmt: str) -> None:
    output = emit(module, fmt, "info", "%s", text, extra={"user_id": user_id, "operation": "webhook",
                                                           "duration_ms": duration})
    if fmt == "json":
        document = json.loads(output)
        assert (document["message"], document["user_id"], document["duration_ms"]) == (text, user_id, duration)
        assert document["operation"] == "webhook"
    else:
        assert output.rstrip("\n").endswith(
            f" - bot.payments - INFO - {text} user_id={user_id} operation=webhook duration_ms={duration}")


def test_module_formats_the_seed_text_format_and_the_standard_tags_first(module: ModuleType) -> None:
    line = emit(module, "text", "info", "User balance checked", extra={
        "model": "sdxl", "duration_ms": 45, "operation": "check_balance", "balance": Decimal("45.50"), "user_id": 123})
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - bot\.payments - INFO - User balance checked "
                        r"user_id=123 operation=check_balance duration_ms=45 model=sdxl balance=\*\*\*\n", line), line
    document = json.loads(emit(module, "json", "info", "User balance checked", extra={
        "balance": 45.5, "user_id": 123, "operation": "check_balance", "duration_ms": 45}))
    assert list(document) == ["asctime", "name", "levelname", "message", "user_id", "operation", "duration_ms",
                              "balance"]
    assert document["balance"] == "***"


def test_module_installs_through_dict_config_with_a_redacting_filter_on_the_handler(module: ModuleType) -> None:
    stream = io.StringIO()
    config = module.dict_config("json", level="INFO")
    config["handlers"]["console"]["stream"] = stream
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logging.config.dictConfig(config)
        # a child logger's record reaches the root handler, and the handler's filter redacts it
        logging.getLogger("bot.config").info("loaded", extra={"kie_api_key": "sk_live_0123456789abcdef0123"})
        logging.getLogger("bot.config").debug("below the production level")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["kie_api_key"] == "<redacted:KIE_API_KEY>"
    with pytest.raises(ValueError, match="fmt must be one of"):
        module.dict_config("xml")


def test_module_redacts_the_values_of_the_secret_environment_variables(module: ModuleType,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIE_API_KEY", "plainvalue42")  # no shape any regex knows: only the value gives it away
    output = emit(module, "text", "info", "calling with plainvalue42")
    assert "plainvalue42" not in output and "<redacted:KIE_API_KEY>" in output


def test_module_and_alloy_redact_the_same_truth_entries(module: ModuleType, alloy: AlloyPipeline,
                                                        truth: Truth) -> None:
    expected = {s.id for s in truth.privacy.never_log if s.redact_as} | {m.id for m in truth.privacy.masks}
    assert {rule_id for rule_id, _regex, _replacement in module.REDACTION_RULES} == expected
    assert len(alloy.process.find("stage.replace")) >= len(expected)
    assert {env for env, _marker in module.SECRET_ENVIRONMENT} == {"TELEGRAM_BOT_TOKEN", "KIE_API_KEY"}


def test_module_is_standard_library_only_and_passes_its_self_test(generated: Path) -> None:
    artifacts = tuple(a for a in pipeline.render_all(load_truth(REPO / "product/truth.yaml"))
                      if a.path == conventions.BOT_LOGGING_MODULE)
    assert bot_logging_checks.check(CheckInput(generated, artifacts)) == []


def test_check_fails_a_module_whose_redaction_is_broken(generated: Path, tmp_path: Path) -> None:
    broken_root = tmp_path / "tree"
    shutil.copytree(generated / conventions.BOT_DIR, broken_root / conventions.BOT_DIR)
    path = broken_root / conventions.BOT_LOGGING_MODULE
    text = path.read_text()
    broken = text.replace("    for _rule_id, pattern, replacement in _COMPILED:\n", "    for _rule_id, pattern, "
                          "replacement in _COMPILED[:0]:\n")
    assert broken != text
    path.write_text(broken)
    artifacts = (pipeline.Artifact(conventions.BOT_LOGGING_MODULE, broken),)
    problems = bot_logging_checks.check(CheckInput(broken_root, artifacts))
    assert problems and "not redacted" in problems[0].message


def test_demo_bot_logs_through_the_generated_module(truth: Truth) -> None:
    spec = importlib.util.spec_from_file_location("demo_bot_for_logging", REPO / "demo/bot.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    sys.modules["demo_bot_for_logging"] = demo
    cached = sys.modules.pop("bot_logging", None)  # the demo must find the committed module by itself
    try:
        spec.loader.exec_module(demo)
    finally:
        if cached is not None:
            sys.modules["bot_logging"] = cached
    assert Path(demo.bot_logging.__file__).resolve() == (REPO / conventions.BOT_LOGGING_MODULE).resolve()
    assert demo.TEXT_FORMAT == truth.logs.text_format
    from datetime import UTC, datetime
    lines = [line for fmt in ("text", "json") for _w, line in demo.simulate(
        8, datetime(2026, 11, 29, 10, 0, tzinfo=UTC), fmt, incidents=((1, "secret_leak"),))]
    text = "\n".join(lines)
    for raw in ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "demo0123456789abcdefDEMO", "a cat in space"):
        assert raw not in text
    assert not BALANCE_LEAK.search(text)
    assert "<redacted:TELEGRAM_BOT_TOKEN>" in text and "<redacted:KIE_API_KEY>" in text


# --- Alloy: redaction at ingestion, both formats -------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(secret=secrets(), before=ordinary_text, after=ordinary_text, fmt=st.sampled_from(["json", "text"]),
       as_field=st.booleans())
def test_alloy_lets_no_secret_through_either_format(alloy: AlloyPipeline, secret: tuple[str, str, object, str],
                                                    before: str, after: str, fmt: str, as_field: bool) -> None:
    kind, raw, extra_value, spelled = secret
    if fmt == "json":
        document: dict[str, object] = {"asctime": "2026-11-29 10:00:01,123", "name": "httpx", "levelname": "INFO",
                                       "message": f"{before} {spelled} {after}"}
        if as_field:
            document = {**document, "message": before,
                        EXTRA_KEY[kind]: float(extra_value) if isinstance(extra_value, Decimal) else extra_value}
        line = json.dumps(document)
    else:
        line = f"2026-11-29 10:00:01,123 - httpx - INFO - {before} {spelled} {after}"
    entry = alloy.push(line, {"source": "render"})
    assert_nothing_secret(kind, raw, entry.line, before, after)
    if fmt == "json":
        assert json.loads(entry.line)["levelname"] == entry.labels["level"] == "INFO"


@PROPERTY_SETTINGS
@given(text=ordinary_text, fmt=st.sampled_from(["json", "text"]))
def test_alloy_leaves_ordinary_lines_unchanged(alloy: AlloyPipeline, text: str, fmt: str) -> None:
    if fmt == "json":
        line = json.dumps({"asctime": "2026-11-29 10:00:01,123", "name": "bot.webhook", "levelname": "INFO",
                           "message": text, "user_id": 123, "duration_ms": 45})
    else:
        line = f"2026-11-29 10:00:01,123 - bot.webhook - INFO - {text} user_id=123 duration_ms=45"
    assert alloy.push(line).line == line
