"""A platform library's retry logged with a traceback reads as one warning line; other records pass untouched."""

from __future__ import annotations

import logging

import adapters.discord.adapter  # noqa: F401  (installs its filters, as the bot does by importing it)
import adapters.telegram.adapter  # noqa: F401
from adapters.library_logs import OneLineRetries


def _logged(logger: str, msg: str, *args: object, error: BaseException | None = None) -> logging.LogRecord:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    target = logging.getLogger(logger)
    target.addHandler(handler)
    try:
        try:
            if error is not None:
                raise error
            target.error(msg, *args)
        except Exception:
            target.exception(msg, *args)
    finally:
        target.removeHandler(handler)
    return records[0]


def test_discords_reconnect_traceback_becomes_one_warning_line():
    refused = OSError(111, "Connect call failed ('127.0.0.1', 39903)")
    record = _logged("discord.client", "Attempting a reconnect in %.2fs", 1.4712, error=refused)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == ("discord: no gateway connection; retrying in 1.5 s "
                                   "(ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 39903))")


def test_ptbs_last_get_updates_failure_is_said_plainly():
    record = _logged("telegram.ext.Updater", "Error while calling `get_updates` one more time to mark all fetched "
                     "updates. Suppressing error to ensure graceful shutdown.", error=TimeoutError())
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().startswith("telegram: could not confirm the last updates to the Bot API server")
    assert record.getMessage().endswith("(TimeoutError)")


def test_other_records_are_left_alone():
    record = _logged("discord.client", "Ignoring exception in %s", "on_message", error=ValueError("bug"))
    assert record.levelno == logging.ERROR and record.exc_info is not None  # a real bug keeps its traceback
    plain = _logged("discord.client", "Attempting a reconnect in %.2fs", 2.0)  # no exception: nothing to shorten
    assert plain.levelno == logging.ERROR and plain.getMessage() == "Attempting a reconnect in 2.00s"


def test_a_template_that_does_not_fit_the_arguments_keeps_the_librarys_text():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Attempting a reconnect in %.2fs", (1.5,),
                               (OSError, OSError("down"), None))
    OneLineRetries({"Attempting a reconnect": "shard %s: retrying in %.1f s"}).filter(record)
    assert record.getMessage() == "Attempting a reconnect in 1.50s (OSError: down)"
