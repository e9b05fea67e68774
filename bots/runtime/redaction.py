"""Secrets never reach a log: a filter on the root logger's handlers that masks them in every record.

Configured secrets (platform tokens, the LLM key, the feed token, the webhook
secret, the dashboard password: every config field declared ``repr=False``,
and a database URL's password) are replaced by ``***`` wherever they appear:
in the message, in its arguments, in an exception's traceback and in stack
info, as written or URL-encoded (httpx and aiohttp log request URLs, and a
token in a query string is percent-encoded). Telegram's Bot API puts the
token in every URL path (``/bot<id>:<token>/getUpdates``), so that shape is
masked even when the token is not configured (a test bot, a second token).

The filter sits on handlers, not on loggers: a logger's filters see only
records logged on that very logger, while a handler's see every record that
reaches it, from any library.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import BaseModel

    from bots.runtime.config import Config

__all__ = ["RedactingFilter", "install", "secrets_of", "redact", "MASK"]

MASK = "***"
#: ``bot<digits>:<token>`` (``:`` possibly encoded) as Telegram's Bot API URLs carry it; the bot id stays.
_TELEGRAM = re.compile(r"(?<![A-Za-z0-9])(bot\d+(?::|%3A|%3a))[A-Za-z0-9_-]{20,}")


def _forms(secret: str) -> set[str]:
    """The secret as written and as URL-encoding shows it."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    forms = {form for s in secrets if s for form in _forms(s)}
    if not forms:
        return None
    # Longest first: a secret that contains another is masked whole, not around the shorter one.
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


class RedactingFilter(logging.Filter):
    """Masks secrets in each record it sees; never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._re: re.Pattern[str] | None = None
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Mask these too (a config reload adds a token; nothing configured is ever unmasked)."""
        self._secrets = self._secrets | {s for s in secrets if s}
        self._re = _pattern(self._secrets)

    def redact(self, text: str) -> str:
        if self._re is not None:
            text = self._re.sub(MASK, text)
        return _TELEGRAM.sub(lambda m: m.group(1) + MASK, text)

    def _leaks(self, text: str) -> bool:
        return (self._re is not None and self._re.search(text) is not None) or _TELEGRAM.search(text) is not None

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - bad arguments: logging reports those itself; mask what is there
            message = str(record.msg)
        if self._leaks(message):
            # The formatted message replaces template and arguments: a secret may only appear once
            # they are combined (an object's repr), and no handler should see the raw arguments.
            record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text and self._leaks(record.exc_text):
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info and self._leaks(record.stack_info):
            record.stack_info = self.redact(record.stack_info)
        return True


_installed: RedactingFilter | None = None


def install(secrets: Iterable[str], *, logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach the one redacting filter to every handler of ``logger`` (the root logger); idempotent.

    Calling it again adds secrets and covers handlers added since, without
    a second filter on any handler. Handlers added after the last call are
    not covered: call it once logging is set up.
    """
    global _installed
    if _installed is None:
        _installed = RedactingFilter(secrets)
    else:
        _installed.update(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        if _installed not in handler.filters:
            handler.addFilter(_installed)
    return _installed


def redact(text: str) -> str:
    """``text`` with the installed secrets (and Telegram tokens in URLs) masked; for messages shown outside logs."""
    return (_installed or RedactingFilter()).redact(text)


def _hidden_fields(model: "BaseModel") -> Iterable[str]:
    """Values of fields declared ``repr=False`` (the project's mark for a secret), in nested sections too."""
    from pydantic import BaseModel

    for name, field in type(model).model_fields.items():
        value: Any = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _hidden_fields(value)
        elif field.repr is False and isinstance(value, str) and value:
            yield value


def secrets_of(config: "Config") -> list[str]:
    """Every non-empty secret of the configuration, for `install`.

    The Discord and Telegram tokens, the Telegram webhook secret, the feed
    token, the LLM API key and the dashboard password are the fields marked
    ``repr=False``; a new secret field is covered by being marked the same
    way. A database URL's password is added too.
    """
    found = list(dict.fromkeys(_hidden_fields(config)))
    url = config.database.url
    if url:
        try:
            import sqlalchemy as sa

            password = sa.make_url(url).password
        except Exception:  # noqa: BLE001 - an unparseable URL fails at start-up with its own message
            password = None
        if password and str(password) not in found:
            found.append(str(password))
    return found
