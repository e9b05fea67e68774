"""The room's rhythm: anomaly notices while live, and ``/when`` to plan the next streams.

* Every inbound chat line counts towards its room's current minute. When a
  minute closes (a line of a later minute arrives, or, for a live room, the
  wall clock passes it) its count goes to the room's `AnomalyDetector`; a spike
  (a raid, a clip going viral) or a drop (the stream went down) is whispered to
  the room's host, so it arrives where they already look.
* ``/when`` (host) reads the room's history from the store, off the loop, and
  suggests the best stream starts of the next week with the audience to expect
  and the reason (`brain.traffic.slots.suggest_slots`). It also books a weekly job
  (``traffic.weekly_suggestions``) that posts the same to the host.

Event time, not wall time, closes minutes while events flow, so a replayed log
raises the same notices as the live stream did; the wall clock only closes the
minutes of rooms that went silent *now* (a dead stream sends no events).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Protocol

from adapters.commands import CommandSpec
from adapters.model import Event, Role, Room
from bots.runtime.config import ScheduleSection, TrafficSection
from bots.runtime.contacts import user_payload
from bots.runtime.counters import Counters
from bots.runtime.listeners import CHAT
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext
from brain.traffic.anomalies import Anomaly, AnomalyDetector
from brain.traffic.live_sessions import find_sessions
from brain.traffic.series import activity_series
from brain.traffic.slots import Suggestions, suggest_slots

if TYPE_CHECKING:  # pragma: no cover
    from bots.runtime.router import Router
    from brain.store.event_store import Store

__all__ = ["LiveTraffic", "WHEN", "WeeklySchedule"]

log = logging.getLogger(__name__)

WHEN = CommandSpec("when", "The best times to go live next week, with the audience to expect and why",
                   role=Role.HOST)

_MINUTE = 60


class WeeklySchedule(Protocol):
    """What ``/when`` needs of the scheduler (`bots.features.scheduler.ScheduleService`) for weekly suggestions."""

    def clock(self) -> datetime: ...

    def register_kind(self, kind: str, handler: Callable[[Mapping[str, Any]], Awaitable[None]]) -> None: ...

    def add_weekly(self, job_id: str, *, kind: str, room: Room, source: str, day: str, hour: int,
                   tz: str, extra: Mapping[str, Any] | None = None) -> None: ...

    async def post(self, payload: Mapping[str, Any], text: str, *, priority: int = 1,
                   to_host: bool = False) -> bool: ...


#: A silent gap longer than this is fed as at most this many empty minutes (a restart, a night).
_MAX_GAP_MINUTES = 60
#: The wall clock closes a room's minutes only while its last event is this recent (a live room).
_LIVE_WITHIN = 600.0


@dataclass(slots=True)
class _RoomRhythm:
    detector: AnomalyDetector = field(default_factory=AnomalyDetector)
    minute: int | None = None        # the open minute (epoch minutes)
    count: int = 0                   # chat lines in it
    last_event_wall: float = 0.0     # time.time() when its last event arrived


@dataclass(slots=True)
class TrafficStats(Counters):
    minutes: int = 0
    spikes: int = 0
    drops: int = 0
    notices: int = 0


class LiveTraffic:
    """The listener that watches each room's per-minute chat, and the ``/when`` command."""

    def __init__(self, store: "Store", settings: TrafficSection, schedule_settings: ScheduleSection,
                 schedule: WeeklySchedule | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        #: "now" for /when (tests pin it; the live minutes follow event time, see the module docstring)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.settings = settings
        self.schedule_settings = schedule_settings
        self.schedule = schedule
        self.stats = TrafficStats()
        self.notices: list[tuple[str, Anomaly]] = []   # (room key, anomaly), for replays and tests
        self._rooms: dict[str, _RoomRhythm] = {}
        self._router: Router | None = None
        self._ticker: asyncio.Task[None] | None = None

    def attach(self, router: "Router", registry: CommandRegistry) -> None:
        self._router = router
        router.add_listener(self.on_event, CHAT)
        registry.add(WHEN, self._when_command)
        if self.schedule is not None:
            self.schedule.register_kind("when", self._weekly)

    # ---- live minutes ----------------------------------------------------------------

    async def on_event(self, event: Event, router: "Router") -> None:
        room = self._rooms.get(event.room.key)
        if room is None:
            room = self._rooms[event.room.key] = _RoomRhythm()
        room.last_event_wall = time.time()
        minute = int(event.ts.timestamp() // _MINUTE)
        await self._advance(event.room.key, room, minute)
        room.count += 1
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name="traffic-minutes")
        return None

    async def _advance(self, key: str, room: _RoomRhythm, minute: int) -> None:
        """Close every minute before ``minute`` (feeding the detector), then open ``minute``."""
        if room.minute is None:
            room.minute, room.count = minute, 0
            return
        if minute <= room.minute:
            return  # the same minute (or a late line): it counts in the open one
        closing = [room.count] + [0] * min(minute - room.minute - 1, _MAX_GAP_MINUTES)
        first = room.minute
        room.minute, room.count = minute, 0
        for offset, count in enumerate(closing):
            self.stats.minutes += 1
            anomaly = room.detector.update(count, ts=float((first + offset) * _MINUTE))
            if anomaly is not None and self.settings.anomaly_notices:
                await self._notify(key, anomaly)

    async def _tick(self) -> None:
        """Close the minutes of live rooms that went quiet (no event would close them)."""
        while True:
            await asyncio.sleep(_MINUTE)
            now = time.time()
            for key, room in list(self._rooms.items()):
                if room.minute is not None and now - room.last_event_wall <= _LIVE_WITHIN:
                    await self._advance(key, room, int(now // _MINUTE))

    async def _notify(self, key: str, anomaly: Anomaly) -> None:
        if anomaly.kind == "spike":
            self.stats.spikes += 1
        else:
            self.stats.drops += 1
        self.notices.append((key, anomaly))
        log.info("traffic %s in %s: %s", anomaly.kind, key, anomaly.reason)
        host = self._router.contacts.host(key) if self._router is not None else None
        if self._router is None or host is None:
            return  # nobody to tell: no host has spoken in this room since the start
        label = "Chat spike" if anomaly.kind == "spike" else "Chat drop"
        if await self._router.whisper(host, f"{label}: {anomaly.reason}", priority=2) is not None:
            self.stats.notices += 1

    async def drain(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    # ---- /when -----------------------------------------------------------------------

    def suggestions(self, room_key: str, now: datetime | None = None) -> Suggestions:
        """Blocking (store reads, a forecast): the room's best stream starts for the next week."""
        now = now or self.clock()
        since = now.timestamp() - self.settings.history_days * 86400
        series = activity_series(self.store, room_key, since=since, until=now.timestamp())
        if len(series) and not find_sessions(series):
            # A forecast of a room that never held a stream is a forecast of zero: say so instead.
            return Suggestions([], note="no stream of 10 minutes or more is recorded in this room yet; "
                                        "stream a few times, then ask again")
        return suggest_slots(series, now=now, tz=self.schedule_settings.zone_of(room_key),
                             top=self.settings.slots, duration_minutes=self.settings.stream_minutes)

    async def _when_command(self, context: CommandContext) -> str:
        event = context.event
        slots = await asyncio.to_thread(self.suggestions, event.room.key)
        text = render_slots(slots, self.schedule_settings.zone_of(event.room.key))
        if self.schedule is not None and self.settings.weekly_suggestions:
            self.schedule.add_weekly(f"when-{event.room.key}", kind="when", room=event.room, source=event.source,
                                     day=self.settings.weekly_day, hour=self.settings.weekly_hour,
                                     tz=self.schedule_settings.zone_of(event.room.key),
                                     extra={"host": user_payload(event.author), "title": "weekly /when"})
            text += (f"\nI will send you these every {self.settings.weekly_day.capitalize()} at "
                     f"{self.settings.weekly_hour:02d}:00.")
        return text

    async def _weekly(self, payload: Mapping[str, Any]) -> None:
        """The weekly job: the same suggestions, whispered to the host who asked for them."""
        assert self.schedule is not None
        slots = await asyncio.to_thread(self.suggestions, payload["room_key"], self.schedule.clock())
        await self.schedule.post(payload, "Your week ahead — " + render_slots(
            slots, self.schedule_settings.zone_of(payload["room_key"])), priority=2, to_host=True)


def render_slots(slots: Suggestions, tz: str) -> str:
    if not slots:
        return f"No suggestion yet: {slots.note}"
    lines = [f"Best times to go live next week ({tz}):"]
    for i, slot in enumerate(slots, 1):
        lines.append(f"  {i}. {slot.start:%a %d %b %H:%M}: about {slot.expected:.0f} {slot.unit} "
                     f"({slot.lower:.0f}–{slot.upper:.0f}, {slot.confidence} confidence). {slot.reason}")
    if slots.note:
        lines.append(slots.note)
    return "\n".join(lines)
