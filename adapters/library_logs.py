"""One line instead of a traceback for the network failures platform libraries log while they retry.

While a platform is unreachable, discord.py logs every reconnect attempt with its whole
traceback ("Attempting a reconnect in 1.47s"), and python-telegram-bot the failure of
its last getUpdates when it shuts down: pages of tracebacks for one expected, already
handled condition, which bury what the operator needs to read. A filter on the
library's logger keeps such a record (its text, and the cause in one line) as a
warning and drops the traceback; every other record passes untouched.
"""

from __future__ import annotations

import logging
from typing import Mapping

__all__ = ["OneLineRetries", "one_line_retries", "cause"]


class OneLineRetries(logging.Filter):
    """Rewrites the records whose message template starts with a key of ``texts`` and carry an exception.

    The record's text becomes the key's value, a %-template filled with the record's own arguments
    (the library's text when it is empty), followed by the cause in one line.
    """

    def __init__(self, texts: Mapping[str, str]) -> None:
        super().__init__()
        self.texts = dict(texts)
        self._starts = tuple(self.texts)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and isinstance(record.msg, str) and record.msg.startswith(self._starts):
            start = next(s for s in self._starts if record.msg.startswith(s))
            record.msg, record.args = f"{self._text(self.texts[start], record)} ({cause(error)})", ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True

    @staticmethod
    def _text(template: str, record: logging.LogRecord) -> str:
        """``template`` filled with the record's own arguments; the library's text if they do not fit."""
        try:
            return template % (record.args or ()) if template else record.getMessage()
        except (TypeError, ValueError):
            return record.getMessage()


def cause(error: BaseException) -> str:
    """``TimeoutError``, or ``ClientConnectorError: Cannot connect to host …``: what failed, on one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def one_line_retries(logger_name: str, texts: Mapping[str, str]) -> None:
    """Install `OneLineRetries` for ``texts`` on ``logger_name``; idempotent."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, OneLineRetries) and f.texts == dict(texts) for f in logger.filters):
        logger.addFilter(OneLineRetries(texts))
