"""Timed messages in the room, on APScheduler 3 in the bot's own event loop.

What it schedules:

* ``/schedule live <when> [title]``: the announcement at the stream's start and
  reminders before it (``schedule.reminders``, by default T-24h, T-1h, T-5m);
* ``/schedule promo <every> <text> [--min-lines N] [--max-per-hour N]``: a timed
  message that waits while chat is quiet and thins out while chat is flooded
  (`brain.traffic.promo_gate`), where Nightbot-style timers only count lines;
* other components' periodic jobs (the weekly stream-time suggestion) through
  `register_kind`, so this module knows nothing of what they say.

Why these choices:

* Jobs live in the bot's own database (APScheduler's SQLAlchemy job store on the
  store's engine, so SQLite's WAL settings apply: a job costs no fsync), so they
  survive restarts and PostgreSQL is the same config change as for the store.
  A job holds only plain data (room, adapter name, text); the function it names
  is this module's `fire_scheduled`, which finds the running service.
* A one-shot message is removed from the job store when it is handed to the loop,
  so a crash can lose one post but never repeat one. Lateness is judged here
  against the message's own due time: within ``schedule.grace`` it posts once,
  later it is reported to the host and not posted; ``coalesce`` makes a promo
  that missed several rounds run once, never a burst.
* The clock is injectable (``clock``) so tests drive the whole thing without
  sleeping; the scheduler reads the same clock through APScheduler's module
  (see tests/bots/test_scheduler.py).
* On the workers of a distributed deployment (`partition_by`) each room's jobs
  live in the job table of the room's partition, and only the worker holding
  that partition's lease has the table open: a room's messages fire from the
  one worker that also sees its chat (the promo gates count its lines), and a
  dead worker's rooms bring their jobs along to the worker taking them over.
  APScheduler 3 cannot share one job store between schedulers (each would fire
  every job), which rules out one table read by all.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from adapters.commands import CommandSpec, Param
from adapters.model import CommandEvent, Event, Reply, Role, Room
from bots.runtime.config import ScheduleSection
from bots.runtime.contacts import room_from_payload, room_payload, user_from_payload, user_payload
from bots.runtime.counters import Counters
from bots.runtime.listeners import VIEWER_LINES
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext
from brain.text.plural import counted, plural
from brain.text.questions import language_of
from brain.traffic.promo_gate import PromoGate
from brain.traffic.time_phrases import WhenError, format_when, parse_every, parse_when, validate_tz, zone_label

if TYPE_CHECKING:  # pragma: no cover
    import sqlalchemy as sa

    from bots.runtime.router import Router

__all__ = ["ScheduleService", "SCHEDULE", "fire_scheduled"]

log = logging.getLogger(__name__)

SCHEDULE = CommandSpec(
    "schedule",
    "Schedule a stream announcement (live) or a timed promo; list or cancel them",
    params=(Param("action", choices=("live", "promo", "list", "cancel"),
                  description="live <when> [title] | promo <every> <text> | list | cancel <id>"),
            Param("details", required=False, default="", rest=True,
                  description="e.g. 'tomorrow 8pm Cooking basics', '30m Use code LIVE10 --min-lines 5'")),
    role=Role.HOST,
)

#: The job store's table in the bot's database.
JOB_TABLE = "scheduled_jobs"
_ACTIVE: dict[str, "ScheduleService"] = {}
_FLAG = re.compile(r"--(min-lines|max-per-hour)(?:=|\s+)(\S+)")
KindHandler = Callable[[Mapping[str, Any]], Awaitable[None]]


async def fire_scheduled(name: str, payload: dict[str, Any]) -> None:
    """The function every stored job names: hand the payload to the running service."""
    service = _ACTIVE.get(name)
    if service is None:
        log.warning("scheduled job %s fired with no running scheduler %r; skipped", payload.get("job"), name)
        return
    await service.fire(payload)


@dataclass(slots=True)
class ScheduleStats(Counters):
    posted: int = 0
    held: int = 0
    missed: int = 0
    failed: int = 0


@dataclass(slots=True)
class _RoomPromos:
    gate: PromoGate = field(default_factory=PromoGate)
    retries: dict[str, asyncio.TimerHandle] = field(default_factory=dict)


class ScheduleService:
    """The room-facing scheduler: the /schedule command, the job store, firing and lateness."""

    def __init__(self, engine: "sa.Engine", settings: ScheduleSection, *, name: str = "liveroom",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.name = name
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.stats = ScheduleStats()
        self._engine = engine
        self._scheduler: AsyncIOScheduler | None = None
        self._router: Router | None = None
        self._kinds: dict[str, KindHandler] = {}
        self._promos: dict[str, _RoomPromos] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: promo job id → when it last posted (since start: a restart lets each promo post once)
        self._last_post: dict[str, float] = {}
        #: room key → partition, on a worker of a distributed deployment (`partition_by`)
        self._partition_of: Callable[[str], int] | None = None
        #: the job stores open here: "default", or one "p<n>" per partition this worker holds
        self._open: set[str] = set()

    # ---- wiring ----------------------------------------------------------------------

    def attach(self, router: "Router", registry: CommandRegistry) -> None:
        self._router = router
        router.add_listener(self.on_event, VIEWER_LINES)
        registry.add(SCHEDULE, self._schedule_command)

    def register_kind(self, kind: str, handler: KindHandler) -> None:
        """Let another component own the jobs of ``kind`` (it says what they post)."""
        if kind in ("live", "promo") or kind in self._kinds:
            raise ValueError(f"job kind {kind!r} is taken")
        self._kinds[kind] = handler

    def partition_by(self, partition_of: Callable[[str], int]) -> None:
        """Keep each room's jobs with its partition (a worker); `open_partition` makes a partition's fire."""
        if self._scheduler is not None:
            raise RuntimeError("partition_by must come before start")
        self._partition_of = partition_of

    async def start(self) -> None:
        """Open the job store and start firing (in the running loop)."""
        if self._scheduler is not None:
            return
        partitioned = self._partition_of is not None
        scheduler = AsyncIOScheduler(
            # A worker opens its partitions' tables as it takes them (APScheduler adds an unused memory store).
            jobstores={} if partitioned else {"default": SQLAlchemyJobStore(engine=self._engine, tablename=JOB_TABLE)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc)
        # Start-up reads only the due jobs and the next run time; a row that no longer
        # unpickles is logged and dropped by APScheduler, never fatal.
        scheduler.start()
        self._scheduler = scheduler
        if not partitioned:
            self._open.add("default")
            _ACTIVE[self._fire_key("default")] = self
            log.info("scheduler started with %d stored jobs", len(await self.jobs()))

    async def open_partition(self, partition: int) -> None:
        """Fire the jobs of the rooms of ``partition`` from here (this worker now holds its lease)."""
        alias = f"p{partition}"
        if alias in self._open:
            return
        store = SQLAlchemyJobStore(engine=self._engine, tablename=f"{JOB_TABLE}_{alias}")
        _ACTIVE[self._fire_key(alias)] = self  # before the store: a job due now fires as soon as it is added
        try:
            # Creating the table (first use) is database work: off the loop. APScheduler's lock makes it safe.
            await asyncio.to_thread(self._require().add_jobstore, store, alias)
        except BaseException:
            _ACTIVE.pop(self._fire_key(alias), None)
            raise
        self._open.add(alias)

    def close_partition(self, partition: int) -> None:
        """Stop firing the jobs of ``partition`` (its lease is lost or handed over); they stay stored."""
        alias = f"p{partition}"
        if alias not in self._open or self._scheduler is None:
            return
        self._open.discard(alias)
        for room_key in [k for k in self._promos if self._store_of(k) == alias]:
            for handle in self._promos.pop(room_key).retries.values():
                handle.cancel()
        # Not shut down: APScheduler's shutdown of a SQLAlchemy store disposes the engine the store shares.
        self._scheduler.remove_jobstore(alias, shutdown=False)
        _ACTIVE.pop(self._fire_key(alias), None)

    def _store_of(self, room_key: str) -> str:
        return "default" if self._partition_of is None else f"p{self._partition_of(room_key)}"

    def _fire_key(self, alias: str) -> str:
        """What a stored job names to find the service firing it (one per job store: two workers of
        one process each hold their own partitions)."""
        return self.name if alias == "default" else f"{self.name}/{alias}"

    async def shutdown(self) -> None:
        if self._scheduler is None:
            return
        for room in self._promos.values():
            for handle in room.retries.values():
                handle.cancel()
        # Let messages being posted finish (the asyncio executor would cancel them), then stop.
        # APScheduler runs shutdown in a later loop iteration: yield once so it is done before
        # anything else (a restarted scheduler on the same job store) runs.
        await self.idle(timeout=5.0)
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
        self._scheduler = None
        for alias in self._open:
            if _ACTIVE.get(self._fire_key(alias)) is self:
                del _ACTIVE[self._fire_key(alias)]
        self._open.clear()

    def wakeup(self) -> None:
        """Look for due jobs now (tests call this after moving the clock)."""
        if self._scheduler is not None:
            self._scheduler.wakeup()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the jobs handed to the loop so far have run (and their promo retries are queued)."""
        await asyncio.sleep(0)  # let a pending wakeup hand its jobs over
        deadline = asyncio.get_running_loop().time() + timeout
        executor = self._require()._lookup_executor("default")
        while getattr(executor, "_pending_futures", None) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)

    # ---- jobs ------------------------------------------------------------------------

    async def jobs(self, room_key: str | None = None) -> list[Any]:
        """Stored jobs (of one room), soonest first; read off the loop."""
        scheduler = self._require()
        if room_key is None:
            found = await asyncio.to_thread(scheduler.get_jobs)
        else:
            found = await asyncio.to_thread(scheduler.get_jobs, self._store_of(room_key))
            found = [j for j in found if j.kwargs.get("payload", {}).get("room_key") == room_key]
        return sorted(found, key=lambda j: (j.next_run_time or datetime.max.replace(tzinfo=timezone.utc), j.id))

    def add(self, job_id: str, trigger: Any, payload: dict[str, Any]) -> None:
        """Store a job whose firing calls ``fire(payload)``; replaces a job with the same id."""
        payload = {**payload, "job": job_id}
        alias = self._store_of(payload["room_key"])
        if alias not in self._open:
            raise RuntimeError(f"the jobs of room {payload['room_key']} are not kept by this worker")
        self._require().add_job(fire_scheduled, trigger, id=job_id, name=payload.get("title") or job_id,
                                kwargs={"name": self._fire_key(alias), "payload": payload},
                                jobstore=alias, replace_existing=True)

    def add_weekly(self, job_id: str, *, kind: str, room: Room, source: str, day: str, hour: int,
                   tz: str, extra: Mapping[str, Any] | None = None) -> None:
        """A job of another component's ``kind`` every week at ``day`` ``hour``:00 in ``tz``."""
        trigger = CronTrigger(day_of_week=day, hour=hour, minute=0, timezone=validate_tz(tz))
        self.add(job_id, trigger, {"kind": kind, "room": room_payload(room), "room_key": room.key,
                                   "source": source, **(extra or {})})

    async def cancel(self, room_key: str, ident: str) -> list[str]:
        """Remove the job ``ident`` (and, for a stream, all its reminders) in one room."""
        removed = []
        for job in await self.jobs(room_key):
            if job.id == ident or job.id.split(".", 1)[0] == ident:
                self._require().remove_job(job.id, self._store_of(room_key))
                removed.append(job.id)
                promos = self._promos.get(room_key)
                if promos is not None:  # a promo waiting for a retry or a slot gives up its place
                    handle = promos.retries.pop(job.id, None)
                    if handle is not None:
                        handle.cancel()
                    promos.gate.forget(job.id)
        return removed

    def _require(self) -> AsyncIOScheduler:
        if self._scheduler is None:
            raise RuntimeError("the scheduler is not running")
        return self._scheduler

    # ---- firing ----------------------------------------------------------------------

    async def fire(self, payload: Mapping[str, Any]) -> None:
        kind = payload.get("kind")
        try:
            if kind == "live":
                await self._fire_once(payload)
            elif kind == "promo":
                await self._fire_promo(payload)
            elif kind in self._kinds:
                await self._kinds[kind](payload)
            else:
                log.warning("scheduled job %s has an unknown kind %r; skipped", payload.get("job"), kind)
        except Exception:  # noqa: BLE001 - one failing job must not stop the scheduler
            self.stats.failed += 1
            log.exception("scheduled job %s failed", payload.get("job"))

    async def _fire_once(self, payload: Mapping[str, Any]) -> None:
        due = datetime.fromisoformat(payload["at"])
        late = (self.clock() - due).total_seconds()
        if late > self.settings.grace:
            self.stats.missed += 1
            log.warning("scheduled message %s was due %s and the bot was down; not posted",
                        payload["job"], due.isoformat())
            await self._notify_host(payload, f"While I was offline, the scheduled message {payload['job']} "
                                             f"({payload['text'][:60]!r}) was due at "
                                             f"{format_when(due, now=self.clock())}; I did not post it late.")
            return
        await self.post(payload, payload["text"])

    async def _fire_promo(self, payload: Mapping[str, Any], due: float | None = None) -> None:
        """A promo's round: post if the room's gate allows, else retry while the gate says to."""
        job = payload["job"]
        gate = self._room_promos(payload["room_key"])
        gate.retries.pop(job, None)
        now = self.clock().timestamp()
        due = now if due is None else due
        decision = gate.gate.decide(now, last_post_ts=self._last_post.get(job), min_lines=payload["min_lines"],
                                    max_per_hour=payload["max_per_hour"], due_ts=due, key=job)
        if not decision.post:
            self.stats.held += 1
            log.info("promo %s held: %s", job, decision.reason)
            if decision.retry_after is not None and (now - due) + decision.retry_after < payload["every"]:
                gate.retries[job] = asyncio.get_running_loop().call_later(
                    decision.retry_after, self._spawn_retry, payload, due)
            else:
                gate.gate.forget(job)  # the next round starts afresh
            return
        if await self.post(payload, payload["text"], priority=0):
            gate.gate.record_post(now, key=job)
            self._last_post[job] = now

    def _spawn_retry(self, payload: Mapping[str, Any], due: float) -> None:
        task = asyncio.ensure_future(self._retry_promo(payload, due))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _retry_promo(self, payload: Mapping[str, Any], due: float) -> None:
        if self._scheduler is None or self._scheduler.get_job(payload["job"]) is None:
            return  # cancelled meanwhile
        await self._fire_promo(payload, due)

    async def post(self, payload: Mapping[str, Any], text: str, *, priority: int = 1,
                   to_host: bool = False) -> bool:
        """Send ``text`` to the payload's room (or privately to its host); True if it went out."""
        if self._router is None:
            return False
        room = room_from_payload(payload["room"])
        to_user = user_from_payload(payload["host"]) if to_host and payload.get("host") else None
        reply = Reply(room=room, text=text, priority=priority, ephemeral=to_user is not None, to_user=to_user)
        sent = await self._router.send(reply, source=payload["source"])
        if sent is None:
            self.stats.failed += 1
            return False
        self.stats.posted += 1
        return True

    async def _notify_host(self, payload: Mapping[str, Any], text: str) -> None:
        if payload.get("host"):
            await self.post(payload, text, priority=2, to_host=True)

    # ---- inbound ---------------------------------------------------------------------

    async def on_event(self, event: Event, router: "Router") -> None:
        """Viewers' chat lines feed the rooms' promo gates."""
        # The scheduler's clock, not the event's time: the gate compares lines with
        # its own decisions, and a replayed log carries old timestamps.
        self._room_promos(event.room.key).gate.observe(self.clock().timestamp())
        return None

    def _room_promos(self, room_key: str) -> _RoomPromos:
        room = self._promos.get(room_key)
        if room is None:
            room = self._promos[room_key] = _RoomPromos()
        return room

    # ---- the command -----------------------------------------------------------------

    async def _schedule_command(self, context: CommandContext, action: str, details: str = "") -> str:
        event = context.event
        if self._scheduler is None:
            return "The scheduler is not running (schedule.enabled is false)."
        if self._store_of(event.room.key) not in self._open:  # a worker handing this room over right now
            return "This room is moving to another worker; try again in a few seconds."
        if action == "list":
            return await self._list(event)
        if action == "cancel":
            ident = details.strip()
            if not ident:
                return "Usage: /schedule cancel <id> (the ids are in /schedule list)"
            removed = await self.cancel(event.room.key, ident)
            return (f"Cancelled {ident} ({counted(len(removed), 'message')})."
                    if removed else f"No scheduled message {ident!r} in this room; see /schedule list.")
        try:
            if action == "live":
                return await self._schedule_live(event, details)
            return await self._schedule_promo(event, details)
        except WhenError as exc:
            return f"/schedule {action}: {exc}"

    async def _room_has_room(self, room_key: str, extra: int, *, promo: bool = False) -> str | None:
        jobs = await self.jobs(room_key)
        if len(jobs) + extra > self.settings.max_jobs:
            return (f"This room has {counted(len(jobs), 'scheduled message')} (limit {self.settings.max_jobs}); "
                    "cancel some first (/schedule list).")
        if promo:
            promos = sum(1 for j in jobs if j.kwargs["payload"].get("kind") == "promo")
            if promos >= self.settings.max_promos:
                return (f"This room has {counted(promos, 'promo')} (limit {self.settings.max_promos}); "
                        "cancel one first (/schedule list).")
        return None

    async def _schedule_live(self, event: CommandEvent, details: str) -> str:
        if not details.strip():
            return "Usage: /schedule live <when> [title], e.g. /schedule live tomorrow 8pm Cooking basics"
        tz = self.settings.zone_of(event.room.key)
        now = self.clock()
        parsed = parse_when(details, now=now, tz=tz)
        lang = language_of(details)
        title = parsed.rest.strip() or ("直播" if lang == "zh" else "the stream")
        at = parsed.at
        for job in await self.jobs(event.room.key):
            p = job.kwargs["payload"]
            if p.get("kind") == "live" and p.get("at") == at.isoformat() and p.get("title") == title:
                return f"That stream is already scheduled as {job.id.split('.', 1)[0]}."
        messages = [(label, at - timedelta(seconds=before), text)
                    for label, before, text in self._reminder_texts(at, title, now, lang)
                    if at - timedelta(seconds=before) > now]
        refusal = await self._room_has_room(event.room.key, len(messages))
        if refusal:
            return refusal
        group = f"live-{secrets.token_hex(3)}"
        base = {"kind": "live", "room": room_payload(event.room), "room_key": event.room.key,
                "source": event.source, "host": user_payload(event.author), "title": title}
        for label, when, text in messages:
            self.add(f"{group}.{label}", DateTrigger(run_date=when),
                     {**base, "text": text, "at": when.isoformat(), "stream_at": at.isoformat()})
        reminders = ", ".join(label for label, _, _ in messages if label != "start") or "none (too soon)"
        note = f" ({parsed.note})" if getattr(parsed, "note", "") else ""
        return (f"Scheduled {group}: {title!r} at {format_when(at, now=now, lang=lang)}{note}. "
                f"Reminders: {reminders}. /schedule cancel {group} removes it.")

    def _reminder_texts(self, at: datetime, title: str, now: datetime,
                        lang: str) -> list[tuple[str, float, str]]:
        out: list[tuple[str, float, str]] = []
        for before in sorted(self.settings.reminders, reverse=True):
            label = "t-" + _span(before)
            when_text = format_when(at, now=at - timedelta(seconds=before), lang=lang)
            if lang == "zh":
                out.append((label, before, f"⏰ 直播预告：{title}，{when_text}开始（还有{_span_zh(before)}）"))
            else:
                out.append((label, before, f"⏰ Coming up in {_span_words(before)}: {title}, {when_text}"))
        start = f"🔴 直播开始了：{title}" if lang == "zh" else f"🔴 We are live now: {title}"
        out.append(("start", 0.0, start))
        return out

    async def _schedule_promo(self, event: CommandEvent, details: str) -> str:
        flags = {name: value for name, value in _FLAG.findall(details)}
        body = _FLAG.sub("", details).strip()
        if not body:
            return "Usage: /schedule promo <every> <text> [--min-lines N] [--max-per-hour N], e.g. 30m Code LIVE10"
        every = parse_every(body)
        text = every.rest.strip()
        if not text:
            return "/schedule promo: what should the promo say? e.g. /schedule promo 30m Use code LIVE10"
        try:
            min_lines = int(flags.get("min-lines", self.settings.promo_min_lines))
            max_per_hour = int(flags.get("max-per-hour", self.settings.promo_max_per_hour))
        except ValueError:
            return "/schedule promo: --min-lines and --max-per-hour take whole numbers"
        if not 0 <= min_lines <= 10000 or not 1 <= max_per_hour <= 60:
            return "/schedule promo: --min-lines must be 0-10000 and --max-per-hour 1-60"
        refusal = await self._room_has_room(event.room.key, 1, promo=True)
        if refusal:
            return refusal
        now = self.clock()
        job_id = f"promo-{secrets.token_hex(3)}"
        self.add(job_id, IntervalTrigger(seconds=every.seconds, start_date=now + timedelta(seconds=every.seconds),
                                         timezone=timezone.utc),
                 {"kind": "promo", "room": room_payload(event.room), "room_key": event.room.key,
                  "source": event.source, "host": user_payload(event.author), "text": text[:1000],
                  "title": text[:40], "every": every.seconds, "min_lines": min_lines,
                  "max_per_hour": max_per_hour})
        return (f"Scheduled {job_id}: every {_span_words(every.seconds)}, after at least "
                f"{counted(min_lines, 'chat line')}, at most {max_per_hour}/hour for all promos here. "
                f"/schedule cancel {job_id} stops it.")

    async def _list(self, event: CommandEvent) -> str:
        jobs = await self.jobs(event.room.key)
        if not jobs:
            return "Nothing is scheduled in this room. Try /schedule live tomorrow 8pm <title>."
        return render_list(jobs, now=self.clock(), zone=validate_tz(self.settings.zone_of(event.room.key)))


#: Entries (a stream with its reminders, a promo, another component's job) shown by /schedule list.
_LIST_MAX = 30


class _Times:
    """Says times of one line relative to ``now`` in the room's zone, each day word once.

    A time on the same local day as the one said before it in the line drops its
    day word ("tomorrow 19:00, 19:55"): the day is said once, and every day word
    counts from the same now (a reminder's stored text counts from when it fires).
    """

    def __init__(self, now: datetime, zone: tzinfo) -> None:
        self.now, self.zone = now, zone
        self._day: date | None = None

    def __call__(self, dt: datetime | None) -> str:
        if dt is None:
            return "paused"
        local = dt.astimezone(self.zone)
        said = f"{local:%H:%M}" if local.date() == self._day else format_when(local, now=self.now, show_tz=False)
        self._day = local.date()
        return said


def render_list(jobs: list[Any], *, now: datetime, zone: tzinfo) -> str:
    """/schedule list: one line per stream (its time, then its reminders) or promo, soonest first.

    A stream's jobs share the id before the dot (live-ab12cd.t-1h); the line names
    the group once and each reminder by its label, so cancelling one reminder
    stays one command. The zone is said once, in the heading.
    """
    entries: dict[str, list[Any]] = {}
    for job in jobs:  # soonest first: an entry sits where its next message is
        p = job.kwargs["payload"]
        entries.setdefault(job.id.split(".", 1)[0] if p.get("kind") == "live" else job.id, []).append(job)
    lines = [f"Scheduled in this room (times in {zone_label(zone)}):"]
    example = None
    for key, group in list(entries.items())[:_LIST_MAX]:
        p = group[0].kwargs["payload"]
        say = _Times(now, zone)
        if p.get("kind") == "live":
            stream_at = datetime.fromisoformat(p.get("stream_at") or p["at"])
            line = f"  {key}  {p.get('title') or 'the stream'}, {say(stream_at)}"
            labels = [(job.id.split(".", 1)[-1], job) for job in group]
            reminders = [f"{say(job.next_run_time)} ({label})" for label, job in labels if label != "start"]
            if reminders:
                line += f" — {plural(len(reminders), 'reminder')} " + ", ".join(reminders)
                example = example or next(job.id for label, job in labels if label != "start")
            if all(label != "start" for label, _ in labels):
                line += "; no announcement at the start"
        elif p.get("kind") == "promo":
            line = f"  {key}  promo every {_span_words(p['every'])}, next {say(group[0].next_run_time)}: " \
                   f"{p['text'][:50]}"
        else:
            line = f"  {key}  {p.get('title') or p.get('kind')}, next {say(group[0].next_run_time)}"
        lines.append(line)
    if len(entries) > _LIST_MAX:
        lines.append(f"  … and {len(entries) - _LIST_MAX} more")
    if example is not None:
        lines.append(f"/schedule cancel <id> cancels an entry (a stream with its reminders); {example} "
                     "only that reminder.")
    return "\n".join(lines)


def _span(seconds: float) -> str:
    """86400 → '24h', 3600 → '1h', 300 → '5m'."""
    seconds = int(seconds)
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _span_words(seconds: float) -> str:
    seconds = int(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            return counted(seconds // size, unit)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return counted(seconds // 60, "minute") if seconds >= 60 else counted(seconds, "second")


def _span_zh(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds // 86400}天"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600}小时"
    return f"{max(seconds // 60, 1)}分钟"
