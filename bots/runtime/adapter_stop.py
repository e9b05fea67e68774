"""Stopping adapters within a deadline, so a platform that stopped answering cannot hold the process.

An adapter's ``stop()`` asks its ``run()`` to end, and ending may need the platform:
python-telegram-bot confirms the last updates with one more getUpdates, discord.py
closes the gateway with a close frame and may be asleep in its reconnect back-off.
When the platform server is gone or hangs, those steps wait for their own timeouts,
or for ever inside a library that swallows a cancellation. So every adapter gets a
deadline: past it its run is cancelled, and a run that does not unwind at once is
abandoned with a log line. Shutdown then goes on (answers drained, the store
flushed) and the process exits without waiting for what was abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Mapping

from adapters.base import REPLY_FLUSH_GRACE

if TYPE_CHECKING:  # pragma: no cover
    from adapters.base import Adapter

__all__ = ["STOP_DEADLINE", "CANCEL_GRACE", "stop_adapters"]

log = logging.getLogger(__name__)

#: Seconds an adapter's run gets to end after ``stop()``: its queued replies go out, the connection closes.
STOP_DEADLINE = REPLY_FLUSH_GRACE + 1.0
#: Seconds a run cancelled at the deadline gets to unwind before it is abandoned.
CANCEL_GRACE = 0.5


async def stop_adapters(runs: Mapping["Adapter", "asyncio.Task[Any]"], *, deadline: float = STOP_DEADLINE,
                        hurry: asyncio.Event | None = None) -> list[str]:
    """Stop every adapter and wait for its run to end: at most ``deadline`` seconds, less once ``hurry``
    is set (a second stop signal). Returns the names of the adapters abandoned, whose runs may still
    be pending: the caller must not wait for them (``asyncio.run``'s clean-up would).

    A failing ``stop()`` is logged, never raised: one adapter's trouble must not keep the others
    running or the store unflushed. What a run raised stays on its task for the caller to report.
    """
    stops = {adapter: asyncio.create_task(adapter.stop(), name=f"stop:{adapter.name}") for adapter in runs}
    running = [task for task in runs.values() if not task.done()]
    if running:
        await _wait_all(running, timeout=deadline, hurry=hurry)
    late = {adapter: task for adapter, task in runs.items() if not task.done()}
    for task in late.values():
        task.cancel()
    if late:
        await _wait_all(list(late.values()), timeout=CANCEL_GRACE)
    abandoned = []
    for adapter, task in late.items():
        if task.done():
            log.warning("%s: did not stop within %g s (its platform does not answer?); cancelled",
                        adapter.name, deadline)
        else:
            log.warning("%s: did not stop within %g s, nor when cancelled (its platform does not answer?); "
                        "abandoned", adapter.name, deadline)
            abandoned.append(adapter.name)
    for adapter, stopping in stops.items():
        if not stopping.done():
            stopping.cancel()  # it waits on the same unanswering platform; its run has ended or was left
        elif not stopping.cancelled() and stopping.exception() is not None:
            log.warning("%s: stopping failed: %s", adapter.name, stopping.exception())
    return abandoned


async def _wait_all(tasks: list["asyncio.Task[Any]"], *, timeout: float, hurry: asyncio.Event | None = None) -> None:
    """Wait until every task is done, ``timeout`` has passed or ``hurry`` is set."""
    everything = asyncio.ensure_future(asyncio.wait(tasks))
    waits: set[asyncio.Future[Any]] = {everything}
    if hurry is not None:
        waits.add(asyncio.ensure_future(hurry.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
