"""The contract between a platform and the runtime.

An adapter turns platform input into `adapters.model` events, hands them to the
sink the runtime bound, and renders `Reply` objects back. It knows its
platform and nothing else: no brain, no store, no config file.

Lifecycle: ``run()`` is one coroutine that owns the adapter's connection and
returns when the source ends (a replayed log is finished, stdin closed) or
after ``stop()``. A single coroutine per adapter lets the runtime run every
adapter, the scheduler and the brain in one asyncio loop with ``gather`` and
cancel them together.
"""

from __future__ import annotations

import abc
import itertools
import os
import time
from typing import Awaitable, Callable, Sequence

from adapters.commands import CommandSpec
from adapters.model import Event, Reply
from adapters.text import scrub_event

__all__ = ["Adapter", "EventSink", "AdapterError", "SinkUnavailable", "REPLY_FLUSH_GRACE"]

#: Seconds an adapter's stop lets its queued replies go out before dropping them. The runtime
#: gives a whole stop one second more (`bots.runtime.adapter_stop`): the connection must close too.
REPLY_FLUSH_GRACE = 2.0

#: This process's mark in generated ids: its start time and pid (two processes may start in one second).
_RUN = f"{int(time.time()):x}{os.getpid():x}"
_INSTANCES = itertools.count(1)

EventSink = Callable[[Event], Awaitable[None]]


class AdapterError(RuntimeError):
    """A platform problem the user can fix (bad token, unreadable file); the message says how."""


class SinkUnavailable(AdapterError):
    """The runtime refused an event because it cannot keep it (its store stopped recording).

    Raised by ``emit``: an adapter that can answer its sender (the feed) says so
    instead of pretending to have accepted the event.
    """


class Adapter(abc.ABC):
    """Base class of every platform adapter.

    ``name`` is the instance name: events carry it as ``source`` so replies are
    routed back through the adapter they came from, even when two adapters of
    the same platform run side by side.
    """

    platform: str = "abstract"
    #: True for adapters that serve no room of their own, only feed others' (the feed endpoint).
    auxiliary: bool = False

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.platform
        #: set when the room's own user asked to leave (the console's ``/quit``), not when its
        #: source merely ended: the runtime then stops everything instead of serving on.
        self.quit_requested = False
        self._sink: EventSink | None = None
        self._ids = itertools.count(1)
        # Ids of platforms that have none restart with the process; the run's own prefix keeps
        # them unique in the store across restarts (the store refuses a (room, id) it already has).
        self._run = f"{_RUN}{next(_INSTANCES)}"
        #: Events whose text held characters no database can store (replaced by U+FFFD, flagged ``repaired``).
        self.repaired = 0

    def bind(self, sink: EventSink) -> None:
        """Set where events go. The runtime calls this before ``run()``."""
        self._sink = sink

    async def emit(self, event: Event) -> None:
        """Deliver one event to the runtime, its text made storable first.

        Every adapter's events pass here, so text no database can encode (a lone
        surrogate from a JSON ``"\\ud800"`` or an undecodable console byte) is
        repaired at the edge, once, whatever the platform.
        """
        if self._sink is None:
            raise AdapterError(f"adapter {self.name!r} is not bound to a runtime")
        cleaned = scrub_event(event)
        if cleaned is not event:
            self.repaired += 1
        await self._sink(cleaned)

    def next_id(self, prefix: str = "m") -> str:
        """A message id unique across runs, for platforms that have none of their own."""
        return f"{self.name}-{self._run}-{prefix}{next(self._ids)}"

    @abc.abstractmethod
    async def run(self) -> None:
        """Receive from the platform until the source ends or ``stop()`` is called."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Ask ``run()`` to finish soon; idempotent."""

    @abc.abstractmethod
    async def send(self, reply: Reply) -> str | None:
        """Post a reply; return the platform's id of the sent message.

        None means the reply was deliberately not sent: a stale low-priority
        reply dropped by rate limiting (`adapters.outbox`).
        """

    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        """Render the commands natively (slash commands, command menus). Text rooms need nothing."""
        return None
