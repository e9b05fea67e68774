"""The replay adapter: a recorded chat log played into the bot.

With ``fast`` the log is delivered as fast as the runtime takes it (for
benchmarks and back-filling the store); otherwise events keep the log's own
pacing, divided by ``speed``. Replies are collected (and optionally printed),
so a replay doubles as an in-process test room.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from adapters.base import Adapter, AdapterError
from adapters.model import Event, Reply, TimeWindow
from adapters.replay.reader import PLATFORM, BadLine, read_log

__all__ = ["ReplayAdapter", "ReplayStats", "ReplyCollector"]

#: How many events a fast replay delivers before yielding to the loop (signals, the store).
_YIELD_EVERY = 500
_BAD_LINES_KEPT = 100


@dataclass(slots=True)
class ReplayStats:
    """What a replay delivered and what it had to skip."""

    messages: int = 0
    bad_lines: int = 0
    bad_line_samples: list[BadLine] = field(default_factory=list)
    replies: int = 0
    seconds: float = 0.0
    bytes_read: int = 0


class ReplyCollector:
    """``send()`` for rooms played from a file (a chat log, captions): the bot's replies are kept in
    ``replies``, counted in ``stats.replies`` and, with an ``echo`` stream, printed.

    Mixed in before `Adapter`; the adapter sets ``replies``, ``stats`` and ``echo``.
    """

    replies: list[Reply]
    stats: Any  # has an int ``replies``
    echo: TextIO | None

    async def send(self, reply: Reply) -> str:
        self.replies.append(reply)
        self.stats.replies += 1
        if self.echo is not None:
            self.echo.write(f"[{reply.room.id}] bot: {reply.text}\n")
        return self.next_id("out")  # type: ignore[attr-defined]


class ReplayAdapter(ReplyCollector, Adapter):
    """Plays one JSON Lines chat log; ``run()`` returns when the log ends."""

    platform = PLATFORM

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        fast: bool = False,
        speed: float = 1.0,
        max_line_bytes: int = 65536,
        echo: TextIO | None = None,
        progress: Callable[[int], None] | None = None,
        window: TimeWindow | None = None,
    ) -> None:
        super().__init__(name)
        if speed <= 0:
            raise AdapterError(f"replay speed must be > 0, got {speed}")
        self.path = Path(path)
        self.fast = fast
        self.speed = speed
        self.max_line_bytes = max_line_bytes
        self.echo = echo
        self.progress = progress
        self.window = window
        self.stats = ReplayStats()
        self.replies: list[Reply] = []
        self._stopping = False

    async def run(self) -> None:
        try:
            stream = self.path.open("rb")
        except OSError as exc:
            raise AdapterError(f"cannot read replay file {self.path}: {exc.strerror}") from None
        started = time.perf_counter()
        first_ts: float | None = None
        last_pos = 0
        try:
            with stream:
                for item in read_log(stream, source=self.name, max_line_bytes=self.max_line_bytes,
                                     window=self.window):
                    if self._stopping:
                        break
                    if isinstance(item, BadLine):
                        self._bad(item)
                        continue
                    if not self.fast:
                        first_ts = await self._pace(item, first_ts, started)
                    await self.emit(item)
                    self.stats.messages += 1
                    if self.stats.messages % _YIELD_EVERY == 0:
                        pos = stream.tell()
                        if self.progress is not None:
                            self.progress(pos - last_pos)
                        last_pos = pos
                        await asyncio.sleep(0)
                self.stats.bytes_read = stream.tell()
                if self.progress is not None:
                    self.progress(self.stats.bytes_read - last_pos)
        finally:
            self.stats.seconds = time.perf_counter() - started

    async def _pace(self, event: Event, first_ts: float | None, started: float) -> float:
        """Sleep until the event's moment in the log, scaled by speed; returns the log's start."""
        ts = event.ts.timestamp()
        if first_ts is None:
            return ts
        delay = (ts - first_ts) / self.speed - (time.perf_counter() - started)
        if delay > 0:
            await asyncio.sleep(delay)
        return first_ts

    def _bad(self, bad: BadLine) -> None:
        self.stats.bad_lines += 1
        if len(self.stats.bad_line_samples) < _BAD_LINES_KEPT:
            self.stats.bad_line_samples.append(bad)

    async def stop(self) -> None:
        self._stopping = True
