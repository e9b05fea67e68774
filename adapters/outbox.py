"""Outbound rate limiting per platform rules, with a queue that never falls behind the room.

Platforms throttle bots (Telegram: about 1 message a second per chat and 20 a
minute per group; Discord: per-route buckets, and a sane per-channel budget).
A bot that simply waits its turn falls minutes behind a busy room and answers
questions nobody remembers. `Outbox` sends each room's replies in order within
its budgets, and when a room's queue backs up it

- **merges** queued replies to the same room into one message while they fit
  the platform's length limit (several short answers become one post), and
- **drops** low-priority replies (``Reply.priority == 0``: follow-ups,
  promotions) that waited longer than ``max_age`` seconds.

Normal and high-priority replies are never dropped. Budgets are sliding
windows (at most ``count`` sends in any ``per_seconds``), checked per room
and, optionally, for the whole bot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Awaitable, Callable, Sequence

from adapters.model import Reply

__all__ = ["Budget", "Outbox", "OutboxStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``count`` messages in any window of ``per_seconds``."""

    count: int
    per_seconds: float


#: Seconds added to every budget's window: the lag allowed between claiming a slot and sending.
_SLACK = 0.02


class _Window:
    """Send times inside one budget's sliding window."""

    __slots__ = ("budget", "times")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more send fits (0 if it fits now).

        A slot is claimed just before its send goes out, and the event loop may start that send a few
        milliseconds later; the window is kept `_SLACK` longer so the sends, as the platform sees them
        arrive, still fit the budget.
        """
        span = self.budget.per_seconds + _SLACK
        while self.times and now - self.times[0] >= span:
            self.times.popleft()
        if len(self.times) < self.budget.count:
            return 0.0
        return self.times[0] + span - now

    def take(self, now: float) -> None:
        self.times.append(now)


@dataclass(slots=True)
class OutboxStats:
    sent: int = 0
    merged: int = 0
    dropped: int = 0


@dataclass(slots=True)
class _Item:
    reply: Reply
    queued_at: float
    futures: list[asyncio.Future[str | None]] = field(default_factory=list)


class Outbox:
    """Rate-limited delivery of replies through ``deliver`` (the adapter's real send)."""

    def __init__(self, deliver: Callable[[Reply], Awaitable[str]], *, per_room: Sequence[Budget],
                 overall: Sequence[Budget] = (), max_chars: int = 2000, max_age: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._deliver = deliver
        self._per_room = tuple(per_room)
        self._overall = [_Window(b) for b in overall]
        self._rooms: dict[str, list[_Window]] = {}
        self._queues: dict[str, deque[_Item]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._global_lock = asyncio.Lock()
        self.max_chars = max_chars
        self.max_age = max_age
        self.clock = clock
        self.stats = OutboxStats()

    async def send(self, reply: Reply) -> str | None:
        """Queue ``reply`` and wait until it is sent; None if it was dropped as stale.

        A reply merged into an earlier one resolves to that message's id.
        """
        key = reply.room.key
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        queue = self._queues.setdefault(key, deque())
        if not self._merge_into(queue, reply, future):
            queue.append(_Item(reply, self.clock(), [future]))
        worker = self._workers.get(key)
        if worker is None or worker.done():
            self._workers[key] = asyncio.create_task(self._drain(key), name=f"outbox:{key}")
        return await future

    def _merge_into(self, queue: deque[_Item], reply: Reply, future: asyncio.Future[str | None]) -> bool:
        """Join a queued public reply to the same room if the result still fits one message."""
        if not queue or reply.ephemeral:
            return False
        last = queue[-1]
        if last.reply.ephemeral:
            return False
        combined = f"{last.reply.text}\n{reply.text}"
        if len(combined) > self.max_chars:
            return False
        last.reply = replace(last.reply, text=combined, priority=max(last.reply.priority, reply.priority),
                             mentions=last.reply.mentions + tuple(u for u in reply.mentions
                                                                  if u not in last.reply.mentions),
                             feedback=last.reply.feedback or reply.feedback)
        last.futures.append(future)
        self.stats.merged += 1
        return True

    async def _drain(self, key: str) -> None:
        queue = self._queues[key]
        windows = self._rooms.setdefault(key, [_Window(b) for b in self._per_room])
        while queue:
            item = queue[0]  # stays queued (and mergeable) while it waits for its turn
            await self._wait_turn(windows)
            queue.popleft()
            age = self.clock() - item.queued_at
            if item.reply.priority == 0 and age > self.max_age:
                self.stats.dropped += 1
                log.info("outbox: dropped a stale low-priority reply to %s (%.0f s old)", key, age)
                for f in item.futures:
                    if not f.done():
                        f.set_result(None)
                continue
            try:
                message_id = await self._deliver(item.reply)
            except Exception as exc:  # noqa: BLE001 - the caller (the router) logs and counts it
                for f in item.futures:
                    if not f.done():
                        f.set_exception(exc)
                continue
            self.stats.sent += 1
            for f in item.futures:
                if not f.done():
                    f.set_result(message_id)

    async def _wait_turn(self, windows: list[_Window]) -> None:
        """Wait until every budget has room, then claim the slot (atomically across rooms)."""
        while True:
            async with self._global_lock:
                now = self.clock()
                delay = max([w.wait(now) for w in (*windows, *self._overall)], default=0.0)
                if delay <= 0:
                    for w in (*windows, *self._overall):
                        w.take(now)
                    return
            await asyncio.sleep(delay)

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def close(self) -> None:
        """Send what is queued (within budgets), then stop."""
        workers = [w for w in self._workers.values() if not w.done()]
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
