"""Secrets never logged: in messages, arguments, tracebacks and URLs, through real handlers."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote

import pytest

from bots.runtime import redaction as redact
from bots.runtime.config import Config, parse_config
from bots.runtime.redaction import MASK, RedactingFilter, install, secrets_of

TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
DISCORD = "MTA5ODc2NTQzMjEwOTg3NjU0.GhAbCd.x1y2z3-secret_part"
API_KEY = "sk-test-5f3a&b=c/d+e"  # characters URL encoding changes


@pytest.fixture
def captured():
    """A real logger with a formatting handler into a buffer, and the filter on that handler."""
    logger = logging.getLogger("test.redact")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter([TELEGRAM, DISCORD, API_KEY]))
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_a_secret_in_the_message_is_masked(captured):
    logger, stream = captured
    logger.warning(f"connecting with token {DISCORD} now")
    assert stream.getvalue() == f"WARNING test.redact: connecting with token {MASK} now\n"


def kept_records(logger: logging.Logger) -> list[logging.LogRecord]:
    """The records a second handler on ``logger`` receives (what any other handler would see)."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Keep())
    return seen


def test_a_secret_in_the_arguments_is_masked_and_no_handler_sees_the_raw_arguments(captured):
    logger, stream = captured
    seen = kept_records(logger)
    logger.error("llm call failed: key=%s model=%r count=%d", API_KEY, "gpt", 3)
    assert stream.getvalue() == f"ERROR test.redact: llm call failed: key={MASK} model='gpt' count=3\n"
    [record] = seen
    assert API_KEY not in record.getMessage() and API_KEY not in repr(record.args) and API_KEY not in str(record.msg)


def test_a_secret_in_an_object_repr_or_a_mapping_argument_is_masked(captured):
    logger, stream = captured

    class Client:
        def __repr__(self) -> str:
            return f"Client(token={TELEGRAM!r})"

    logger.info("client %r", Client())
    logger.info("%(who)s has %(token)s", {"who": "bot", "token": TELEGRAM})
    lines = stream.getvalue().splitlines()
    assert lines == [f"INFO test.redact: client Client(token='{MASK}')", f"INFO test.redact: bot has {MASK}"]


def test_a_secret_in_a_traceback_is_masked(captured):
    logger, stream = captured
    try:
        raise RuntimeError(f"401 Unauthorized for https://api.telegram.org/bot{TELEGRAM}/getMe")
    except RuntimeError:
        logger.exception("polling failed")
    out = stream.getvalue()
    assert "Traceback (most recent call last)" in out and "RuntimeError: 401 Unauthorized" in out
    assert TELEGRAM not in out and TELEGRAM.split(":")[1] not in out
    assert f"https://api.telegram.org/bot{MASK}/getMe" in out


def test_stack_info_is_masked(captured):
    logger, stream = captured
    stack = f'Stack (most recent call last):\n  File "x.py", line 3, in f\n    connect("{DISCORD}")'
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "about to connect", (), None, sinfo=stack)
    logger.handle(record)
    out = stream.getvalue()
    assert DISCORD not in out and f'connect("{MASK}")' in out and "Stack (most recent call last)" in out


def test_the_url_encoded_form_is_masked(captured):
    logger, stream = captured
    assert quote(API_KEY, safe="") != API_KEY
    logger.info(f"GET https://llm.example/v1?key={quote(API_KEY, safe='')}&x=1")
    logger.info(f"POST https://llm.example/v1/{quote(API_KEY)}")
    assert stream.getvalue().splitlines() == [
        f"INFO test.redact: GET https://llm.example/v1?key={MASK}&x=1",
        f"INFO test.redact: POST https://llm.example/v1/{MASK}"]


def test_telegram_tokens_in_urls_are_masked_even_when_not_configured(captured):
    logger, stream = captured
    other = "987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
    logger.info("HTTP Request: POST https://api.telegram.org/bot%s/getUpdates \"HTTP/1.1 200 OK\"", other)
    logger.info("encoded: https://api.telegram.org/bot987654321%3AZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9/x")
    assert stream.getvalue().splitlines() == [
        f"INFO test.redact: HTTP Request: POST https://api.telegram.org/bot987654321:{MASK}/getUpdates "
        '"HTTP/1.1 200 OK"',
        f"INFO test.redact: encoded: https://api.telegram.org/bot987654321%3A{MASK}/x"]


def test_records_without_secrets_are_left_as_they_were(captured):
    logger, stream = captured
    seen = kept_records(logger)
    logger.info("%d questions in %s, 100%% fine", 3, "console:demo")
    assert stream.getvalue() == "INFO test.redact: 3 questions in console:demo, 100% fine\n"
    assert seen[0].msg == "%d questions in %s, 100%% fine" and seen[0].args == (3, "console:demo")


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole():
    f = RedactingFilter(["abc123", "abc123XYZ789"])
    assert f.redact("x abc123XYZ789 y abc123 z") == f"x {MASK} y {MASK} z"


def test_install_is_idempotent_and_covers_the_root_handlers(monkeypatch):
    monkeypatch.setattr(redact, "_installed", None)
    root = logging.getLogger("test.redact.root")
    root.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        first = install(["s3cr3t-one"], logger=root)
        second = install(["s3cr3t-two"], logger=root)
        assert first is second and handler.filters.count(first) == 1
        root.warning("one=%s two=%s", "s3cr3t-one", "s3cr3t-two")
        assert stream.getvalue() == f"one={MASK} two={MASK}\n"
        assert redact.redact("shown s3cr3t-two") == f"shown {MASK}"
    finally:
        root.removeHandler(handler)
        root.propagate = True


def test_install_defaults_to_the_root_logger(monkeypatch):
    monkeypatch.setattr(redact, "_installed", None)
    handler = logging.NullHandler()
    logging.getLogger().addHandler(handler)
    try:
        f = install([])
        assert f in handler.filters
    finally:
        logging.getLogger().removeHandler(handler)


def test_secrets_of_collects_every_configured_secret():
    env = {"DISCORD_TOKEN": DISCORD, "TELEGRAM_TOKEN": TELEGRAM, "HOOK": "hook-secret-1", "FEED": "feed-tok-2",
           "KEY": API_KEY, "PG": "pg-pass-3"}
    config = parse_config(
        "adapters:\n"
        "  discord:\n    enabled: true\n    token: ${DISCORD_TOKEN}\n"
        "  telegram:\n    enabled: true\n    token: ${TELEGRAM_TOKEN}\n    webhook_secret: ${HOOK}\n"
        "  feed:\n    enabled: true\n    token: ${FEED}\n"
        "llm:\n  base_url: http://localhost:1/v1\n  model: m\n  api_key: ${KEY}\n"
        "database:\n  url: postgresql+psycopg://bot:${PG}@localhost/liveroom\n", env=env)
    expected = [DISCORD, TELEGRAM, "hook-secret-1", "feed-tok-2", API_KEY, "pg-pass-3"]
    assert sorted(secrets_of(config)) == sorted(expected)
    assert secrets_of(parse_config("", env={})) == []  # the defaults hold no secret: nothing to mask


def test_the_dashboard_secrets_are_found_the_way_the_platform_tokens_are():
    """Fields marked repr=False are secrets, wherever a section declares them."""
    config = Config.model_validate({"dashboard": {"password": "dash-pw-4", "metrics_token": "scrape-5",
                                                  "host": "127.0.0.1"}})
    assert sorted(secrets_of(config)) == ["dash-pw-4", "scrape-5"]
