"""The caption adapter: a caption file (SRT, WebVTT) played into a room as the host's speech.

Each cue becomes a `TranscriptEvent` in the given room, authored by the host,
at ``base_time + cue.start``. Cues are paced by their start times divided by
``speed`` (measured from the first cue, so a file that starts at 00:10:00 does
not wait ten minutes), or delivered as fast as the runtime takes them with
``fast``. Replies the bot makes go to ``replies`` (and ``echo``), exactly as in
a replayed chat log.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from adapters.base import Adapter, AdapterError
from adapters.captions.parser import BadCue, CaptionError, Captions, read_captions
from adapters.model import Reply, Role, Room, TranscriptEvent, User, utcnow
from adapters.replay.adapter import ReplyCollector

__all__ = ["CaptionAdapter", "CaptionStats", "PLATFORM"]

PLATFORM = "captions"
_YIELD_EVERY = 500
_BAD_CUES_KEPT = 100


@dataclass(slots=True)
class CaptionStats:
    """What a caption run delivered and what the file had to skip."""

    cues: int = 0
    bad_cues: int = 0
    bad_cue_samples: list[BadCue] = field(default_factory=list)
    replies: int = 0
    seconds: float = 0.0
    format: str = ""
    encoding: str = ""


class CaptionAdapter(ReplyCollector, Adapter):
    """Plays one caption file into ``room``; ``run()`` returns after the last cue.

    ``room`` is a `Room` or a room key ``platform:room_id`` (a bare name is a room
    of the ``captions`` platform), so captions can join the chat of a room that
    another source (a replayed log, the console) fills.
    """

    platform = PLATFORM

    def __init__(
        self,
        source: str | Path | Captions,
        *,
        room: Room | str,
        name: str | None = None,
        host_name: str = "host",
        base_time: datetime | None = None,
        fast: bool = False,
        speed: float = 1.0,
        echo: TextIO | None = None,
    ) -> None:
        super().__init__(name)
        if speed <= 0:
            raise AdapterError(f"caption speed must be > 0, got {speed}")
        if not host_name.strip():
            raise AdapterError("the host's name must not be empty")
        if base_time is not None and base_time.tzinfo is None:
            raise AdapterError("base_time must be timezone-aware")
        self.room = room if isinstance(room, Room) else parse_room(room)
        self.host = User(self.room.platform, host_name, host_name, Role.HOST)
        self.base_time = base_time
        self.fast = fast
        self.speed = speed
        self.echo = echo
        self.stats = CaptionStats()
        self.replies: list[Reply] = []
        self._path: Path | None = None
        self._captions: Captions | None = None
        if isinstance(source, Captions):
            self._set(source)
        else:
            self._path = Path(source)
        self._stopped = asyncio.Event()

    def _set(self, captions: Captions) -> None:
        self._captions = captions
        self.stats.format, self.stats.encoding = captions.format, captions.encoding
        self.stats.bad_cues = len(captions.bad)
        self.stats.bad_cue_samples = captions.bad[:_BAD_CUES_KEPT]

    def load(self) -> Captions:
        """Read and parse the file now (the CLI does, to fail before starting the runtime)."""
        if self._captions is None:
            assert self._path is not None
            try:
                self._set(read_captions(self._path))
            except CaptionError as exc:
                raise AdapterError(str(exc)) from None
        assert self._captions is not None
        return self._captions

    async def run(self) -> None:
        captions = self.load()
        base = self.base_time or utcnow()
        started = time.perf_counter()
        first = captions.cues[0].start if captions.cues else 0.0
        try:
            for cue in captions.cues:
                if self._stopped.is_set():
                    break
                if not self.fast:
                    delay = (cue.start - first) / self.speed - (time.perf_counter() - started)
                    if delay > 0:
                        await self._sleep(delay)
                    if self._stopped.is_set():
                        break
                await self.emit(TranscriptEvent(
                    event_id=self.next_id("cue"), room=self.room, author=self.host,
                    ts=base + timedelta(seconds=cue.start), text=cue.text, source=self.name,
                    raw={"lineno": cue.lineno, "start": cue.start, "end": cue.end, "voice": cue.voice}))
                self.stats.cues += 1
                if self.stats.cues % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        finally:
            self.stats.seconds = time.perf_counter() - started

    async def _sleep(self, delay: float) -> None:
        """Wait until the next cue is due, or ``stop()``, whichever comes first."""
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass

    async def stop(self) -> None:
        self._stopped.set()


def parse_room(key: str) -> Room:
    """``platform:room_id`` → `Room`; a bare name is a room of the captions platform."""
    key = key.strip()
    platform, sep, room_id = key.partition(":")
    if not sep:
        platform, room_id = PLATFORM, key
    if not platform or not room_id:
        raise AdapterError(f"room {key!r} must be 'platform:room_id' (e.g. console:demo) or a name")
    return Room(platform, room_id, name=room_id)
