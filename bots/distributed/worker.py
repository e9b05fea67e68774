"""A worker: owns some partitions of the rooms, reads their events from Redis, runs the bot on them.

Who owns what (`Leases`): every worker heartbeats into ``{prefix}:workers`` and takes at most its
fair share, ``ceil(partitions / live workers)``, of the partition leases; a lease is a key with a
time to live that only its holder renews (compare-and-set in Lua). A worker killed with ``kill -9``
stops renewing, its leases expire after ``lease_seconds``, and the others take its partitions.

What a worker does with a partition (`Worker._consume`): first it claims the entries the previous
owner read and never acknowledged (XAUTOCLAIM), then it reads new ones (XREADGROUP). Each entry
goes through the same `Router` as in one process; the store refuses an event it holds already, so
nothing is stored twice. An entry is acknowledged once its event is committed and, if it asked a
question, the question's outcome is recorded: until then a dead worker's successor gets it again
and answers the questions its predecessor never did (`Worker._redeliver`). Replies leave through
`StreamReplyRoute` with an id fixed by what they answer, and the ingress posts an id once, so a
question answered twice across a failover is still posted once.

An entry no worker can read (not JSON, an unknown wire version) goes to ``{prefix}:dead`` with the
reason, is acknowledged and counted; the worker goes on.

Scheduled messages follow the partitions too (`ScheduleService.partition_by`): the worker holding a
partition's lease fires the jobs of its rooms, so a room's promos count the chat this worker sees,
and a dead worker's rooms bring their schedules along.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import socket
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from adapters.base import Adapter, SinkUnavailable
from adapters.model import CommandEvent, Event, MessageEvent, Reply
from bots.distributed.streams import WORKER_GROUP, StreamLayout, append, partition_of
from bots.distributed.wire import WireError, decode_event, encode_reply
from brain.store.schema import events, questions
from brain.text.questions import detect_question

if TYPE_CHECKING:  # pragma: no cover
    from redis.asyncio import Redis

    from bots.app import Runtime

__all__ = ["Worker", "WorkerStats", "Leases", "StreamReplyRoute", "worker_name"]

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def worker_name() -> str:
    """A name no other live worker has: host, pid and start time."""
    return f"{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000) % 100_000_000}"


class Leases:
    """This worker's partitions: heartbeat, renew, release what is over its share, take what is free."""

    def __init__(self, redis: "Redis", layout: StreamLayout, name: str, lease_ms: int) -> None:
        self.redis = redis
        self.layout = layout
        self.name = name
        self.lease_ms = lease_ms
        self.owned: set[int] = set()
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def tick(self) -> tuple[set[int], set[int], set[int]]:
        """One round; returns (partitions gained, partitions lost, partitions over this worker's share).

        The surplus is not released here: the worker first finishes the work it took in them
        (`Worker._hand_over`), or its successor would find questions without an outcome and answer
        them a second time.
        """
        now = int(time.time() * 1000)
        await self.redis.zadd(self.layout.workers, {self.name: now})
        await self.redis.zremrangebyscore(self.layout.workers, "-inf", now - self.lease_ms)
        live = max(int(await self.redis.zcard(self.layout.workers)), 1)
        share = math.ceil(self.layout.partitions / live)
        lost = await self.renew()
        surplus = set(sorted(self.owned, reverse=True)[: max(len(self.owned) - share, 0)])
        gained: set[int] = set()
        # Start where this worker's name points, so two workers do not race for the same partitions.
        start = int(hashlib.sha1(self.name.encode()).hexdigest(), 16) % self.layout.partitions
        for step in range(self.layout.partitions):
            if len(self.owned) >= share:
                break
            partition = (start + step) % self.layout.partitions
            if partition in self.owned:
                continue
            if await self.redis.set(self.layout.lease(partition), self.name, nx=True, px=self.lease_ms):
                self.owned.add(partition)
                gained.add(partition)
        return gained, lost, surplus

    async def release(self, partitions: set[int]) -> None:
        for partition in sorted(partitions & self.owned):
            await self._release(keys=[self.layout.lease(partition)], args=[self.name])
            self.owned.discard(partition)

    async def renew(self) -> set[int]:
        """Extend every lease still held; returns the partitions whose lease ran out (now lost)."""
        lost: set[int] = set()
        for partition in sorted(self.owned):
            if not await self._renew(keys=[self.layout.lease(partition)], args=[self.name, self.lease_ms]):
                lost.add(partition)
        self.owned -= lost
        return lost

    async def release_all(self) -> None:
        for partition in sorted(self.owned):
            await self._release(keys=[self.layout.lease(partition)], args=[self.name])
        self.owned.clear()
        await self.redis.zrem(self.layout.workers, self.name)


class StreamReplyRoute(Adapter):
    """The reply route of one ingress adapter, seen from a worker: replies go to its outbound stream.

    The id of a reply is fixed by what it answers (room, the message it replies to, and the how-many-th
    reply to it this is), so the same answer written again by a successor after a failover has the same
    id and the ingress posts it once. The id stands in for the platform's message id in the store.
    """

    def __init__(self, redis: "Redis", layout: StreamLayout, source: str) -> None:
        super().__init__(name=source)
        self.platform = source
        self.redis = redis
        self.layout = layout
        self._ordinal: dict[tuple[str, str], int] = defaultdict(int)
        #: How long a reply waits for Redis to come back before it is given up (and logged by the router).
        self.patience = 60.0

    def reply_id(self, reply: Reply) -> str:
        if reply.reply_to is not None:
            key = (reply.room.key, reply.reply_to)
            n = self._ordinal[key]
            self._ordinal[key] = n + 1
            if len(self._ordinal) > 200_000:  # forget the oldest half: a failover replays recent entries only
                for old in list(self._ordinal)[:100_000]:
                    del self._ordinal[old]
            return f"{reply.room.key}|{reply.reply_to}|{n}"
        digest = hashlib.sha1(reply.text.encode("utf-8")).hexdigest()[:16]
        return f"{reply.room.key}|-|{digest}|{int(time.time() // 60)}"

    async def send(self, reply: Reply) -> str | None:
        """Append the reply for the ingress; while Redis is away, wait for it (up to ``patience``)."""
        reply_id = self.reply_id(reply)
        await append(self.redis, self.layout.outbound(self.name),
                     {"e": encode_reply(reply, reply_id=reply_id, source=self.name)},
                     maxlen=1_000_000, patience=self.patience)
        return reply_id

    async def run(self) -> None:  # the ingress runs the platform; a worker only sends through it
        return None

    async def stop(self) -> None:
        return None


@dataclass
class WorkerStats:
    """What a worker did, for its log line at exit and the tests."""

    entries: int = 0
    redelivered: int = 0
    dead_letters: int = 0
    acked: int = 0
    #: new entries (not taken over) whose event went through the router, or the dead letters
    handled: int = 0
    gained: int = 0
    lost: int = 0


@dataclass
class _Waiting:
    """An entry handled but not yet acknowledged: its event, and since when it waits."""

    entry_id: str
    event: Event | None
    since: float
    #: It asked a question: it waits for the question's outcome too (worked out once, not every round).
    asks: bool = False
    flushed: bool = False


class Worker:
    """Serve the rooms of the partitions this worker owns, until `stop`."""

    def __init__(self, runtime: "Runtime", redis: "Redis", layout: StreamLayout, *, name: str | None = None,
                 lease_seconds: float = 5.0, batch: int = 200, ack_deadline: float = 300.0,
                 stop_grace: float = 2.0) -> None:
        self.runtime = runtime
        self.redis = redis
        self.layout = layout
        self.name = name or worker_name()
        self.leases = Leases(redis, layout, self.name, int(lease_seconds * 1000))
        self.lease_seconds = lease_seconds
        self.batch = batch
        #: An entry still waiting for its question's outcome after this long is acknowledged anyway.
        self.ack_deadline = ack_deadline
        #: At a stop, after the work in flight is done, how long the partitions may take to acknowledge what
        #: settled; entries still unsettled then (an answer waiting for a moderator) stay pending for the next owner.
        self.stop_grace = stop_grace
        self.stats = WorkerStats()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        #: Events this process has worked on (room, id), newest last: a copy met again (Redis's client
        #: retrying an append, this worker's own pending entries after a failure) is not worked on twice.
        self._mine: OrderedDict[tuple[str, str], None] = OrderedDict()
        #: Set to stop waiting for the answers in flight (a second stop signal).
        self.hurry = asyncio.Event()
        #: Partitions being given to another worker: no new entries are read from them.
        self._handing_over: set[int] = set()
        #: Partitions whose scheduled messages fire here (follows the leases, `_follow_schedule`).
        self._scheduling: set[int] = set()
        # Replies to events from adapter ``source`` go to its ingress's outbound stream.
        runtime.router.route_for = lambda source: StreamReplyRoute(redis, layout, source)

    # ---- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Start the runtime's parts, hold leases and consume the owned partitions until `stop`; then
        finish the work in flight, hand the leases back and end the parts, as `Runtime.serve` does.

        A worker takes no room before its knowledge base is loaded: a room it owned meanwhile would wait
        for the load, and the load's seconds of CPU can delay the lease renewals past their expiry.
        """
        runtime = self.runtime
        if runtime.answering is not None or runtime.products is not None:
            runtime.brain.start()
        if runtime.moderation is not None:
            await runtime.moderation.start()
        await self._get_ready()
        schedule = self.runtime.schedule
        if schedule is not None:
            schedule.partition_by(lambda room_key: partition_of(room_key, self.layout.partitions))
            await schedule.start()
        try:
            while not self._stopping.is_set():
                try:
                    gained, lost, surplus = await self.leases.tick()
                except Exception as exc:  # noqa: BLE001 - Redis restarting: keep what runs, try again
                    log.warning("worker %s: cannot reach Redis (%s); retrying", self.name, exc)
                    gained, lost, surplus = set(), set(), set()
                if surplus:
                    await self._hand_over(surplus)
                    lost |= surplus
                for partition in lost:
                    self.stats.lost += 1
                    task = self._tasks.pop(partition, None)
                    if task is not None:
                        task.cancel()
                for partition in gained:
                    self.stats.gained += 1
                    self._tasks[partition] = asyncio.create_task(self._consume(partition),
                                                                 name=f"partition:{partition}")
                await self._follow_schedule()
                if gained or lost:
                    log.info("worker %s owns partitions %s", self.name, sorted(self.leases.owned))
                try:
                    await asyncio.wait_for(self._stopping.wait(), self.lease_seconds / 3)
                except asyncio.TimeoutError:
                    pass
        finally:
            # No new entries; the answers in flight finish; the partitions acknowledge what is now settled,
            # so the next owner finds nothing pending (what is left is taken up again, as after a crash).
            self._handing_over |= set(self._tasks)
            keeping = asyncio.create_task(self._keep_leases())
            try:
                await self._finish_work()
                if self._tasks:
                    await asyncio.wait(list(self._tasks.values()), timeout=self.stop_grace)
            finally:
                keeping.cancel()
                await asyncio.gather(keeping, return_exceptions=True)
                for task in self._tasks.values():
                    task.cancel()
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
                self._tasks.clear()
                self._handing_over.clear()
            if schedule is not None:
                await schedule.shutdown()
                self._scheduling.clear()
            try:
                await self.leases.release_all()
            except Exception:  # noqa: BLE001 - Redis gone at exit: the leases expire on their own
                pass
            if runtime.audience is not None:
                runtime.audience_summary = await runtime.audience.drain()
            await runtime.brain.aclose()
            await asyncio.to_thread(runtime.store.flush)

    async def stop(self) -> None:
        self._stopping.set()

    async def _get_ready(self) -> None:
        from bots.runtime.brain_worker import BrainUnavailable

        if self.runtime.answering is None and self.runtime.products is None:
            return
        loading = asyncio.ensure_future(self.runtime.brain.ready())
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([loading, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if loading.done() and loading.exception() is not None:
            exc = loading.exception()
            if not isinstance(exc, BrainUnavailable):
                raise exc  # type: ignore[misc]
            log.error("worker %s: the knowledge base did not load (%s); questions are recorded unanswered",
                      self.name, exc)
        elif not loading.done():
            loading.cancel()

    async def _hand_over(self, partitions: set[int], deadline: float = 60.0) -> None:
        """Give partitions to a worker that joined: stop reading them, wait until every entry taken from
        them is settled (its question's outcome recorded), then release their leases.

        Waiting per entry, not draining the answering as a stop does: the rooms this worker keeps go on
        asking, and a drain cut short by its timeout would drop the batch in flight.
        """
        self._handing_over |= partitions
        tasks = [self._tasks.pop(p) for p in partitions if p in self._tasks]
        keeping = asyncio.create_task(self._keep_leases())
        try:
            done, pending = await asyncio.wait(tasks, timeout=deadline) if tasks else (set(), set())
            for task in pending:  # a question still unsettled after a minute: its successor takes it up
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
            self._handing_over -= partitions
        if self.runtime.schedule is not None:  # before the lease goes: one scheduler per room at a time
            for partition in partitions & self._scheduling:
                self.runtime.schedule.close_partition(partition)
            self._scheduling -= partitions
        await self.leases.release(partitions)
        log.info("worker %s handed partitions %s over", self.name, sorted(partitions))

    async def _follow_schedule(self) -> None:
        """Fire the scheduled messages of the partitions held, and of no other; a table that cannot be
        opened (the database away) is tried again next round."""
        schedule = self.runtime.schedule
        if schedule is None:
            return
        for partition in self._scheduling - self.leases.owned:
            schedule.close_partition(partition)
        self._scheduling &= self.leases.owned
        for partition in sorted(self.leases.owned - self._scheduling):
            try:
                await schedule.open_partition(partition)
            except Exception as exc:  # noqa: BLE001
                log.warning("worker %s: the scheduled messages of partition %d cannot be opened yet: %s",
                            self.name, partition, exc)
                continue
            self._scheduling.add(partition)

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.leases.renew()
            except Exception:  # noqa: BLE001 - Redis away: the leases may run out, as for a dead worker
                pass

    async def _finish_work(self, timeout: float = 30.0) -> None:
        """Post the answers in flight before the partitions are handed back: the successor would
        otherwise find those questions without an outcome and answer them a second time."""
        runtime = self.runtime
        waits = []
        if runtime.traffic is not None:
            waits.append(runtime.traffic.drain())
        if runtime.products is not None:
            waits.append(runtime.products.drain())
        if runtime.answering is not None:
            waits.append(runtime.answering.drain(timeout=timeout))
        if runtime.moderation is not None:
            waits.append(runtime.moderation.drain())
        finished = asyncio.ensure_future(asyncio.gather(*waits, return_exceptions=True))
        hurry = asyncio.ensure_future(self.hurry.wait())
        await asyncio.wait([finished, hurry], return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        try:
            await asyncio.to_thread(runtime.store.flush)
        except Exception:  # noqa: BLE001 - the database away at exit: the store keeps retrying until closed
            pass

    async def _consume(self, partition: int) -> None:
        """Read the partition until the lease is lost. After any failure (Redis restarting, the database
        away) the entries already read and not finished are taken up again from the pending list:
        a read entry is never left behind."""
        stream = self.layout.inbound(partition)
        waiting: list[_Waiting] = []
        recover = True  # first: what the previous owner left pending
        while True:
            try:
                if recover:
                    await self._ensure_group(stream)
                    await self._reclaim(stream, waiting)
                    recover = False
                if partition in self._handing_over:
                    await self._acknowledge(stream, waiting)
                    if not waiting:
                        return  # everything taken from it is settled: the lease may go
                    await asyncio.sleep(0.1)
                    continue
                reply = await self.redis.xreadgroup(WORKER_GROUP, self.name, {stream: ">"}, count=self.batch,
                                                    block=250)
                for _, entries in reply or ():
                    for entry_id, fields in entries:
                        waiting.append(await self._handle(stream, entry_id, fields, redelivered=False))
                await self._acknowledge(stream, waiting)
            except asyncio.CancelledError:
                raise
            except SinkUnavailable as exc:  # the store stopped recording: the entry stays pending
                log.error("worker %s: not taking entries (%s)", self.name, exc)
                recover = True
                await asyncio.sleep(1.0)
            except Exception as exc:  # noqa: BLE001 - Redis restarting, the database away: retry
                log.warning("worker %s: partition %d: %s: %s; retrying", self.name, partition,
                            type(exc).__name__, exc)
                recover = True
                await asyncio.sleep(0.5)

    async def _ensure_group(self, stream: str) -> None:
        from redis.exceptions import ResponseError

        try:
            await self.redis.xgroup_create(stream, WORKER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _reclaim(self, stream: str, waiting: list[_Waiting]) -> None:
        """Take up what was read and never acknowledged: by the partition's previous owner, or by this
        worker before a failure (entries already handled and only waiting for their answer are left be)."""
        handled = {w.entry_id for w in waiting}
        start = "0-0"
        while True:
            start, entries, *_ = await self.redis.xautoclaim(stream, WORKER_GROUP, self.name, min_idle_time=0,
                                                             start_id=start, count=self.batch)
            for entry_id, fields in entries:
                if entry_id in handled:
                    continue
                if fields is None:  # trimmed away meanwhile
                    await self.redis.xack(stream, WORKER_GROUP, entry_id)
                    continue
                waiting.append(await self._handle(stream, entry_id, fields, redelivered=True))
                handled.add(entry_id)
            if start in ("0-0", b"0-0"):
                return

    # ---- one entry -------------------------------------------------------------------

    async def _handle(self, stream: str, entry_id: Any, fields: dict[Any, Any], *, redelivered: bool) -> _Waiting:
        self.stats.entries += 1
        try:
            return await self._work_on(stream, entry_id, fields, redelivered=redelivered)
        finally:
            if not redelivered:
                self.stats.handled += 1

    async def _work_on(self, stream: str, entry_id: Any, fields: dict[Any, Any], *, redelivered: bool) -> _Waiting:
        raw = fields.get(b"e", fields.get("e"))
        try:
            if raw is None:
                raise WireError("the entry has no field 'e'")
            event = decode_event(raw)
        except WireError as exc:
            self.stats.dead_letters += 1
            log.error("worker %s: entry %s of %s moved to %s: %s", self.name, entry_id, stream,
                      self.layout.dead, exc)
            await self.redis.xadd(self.layout.dead, {"stream": stream, "entry": entry_id, "error": str(exc),
                                                     "e": raw if raw is not None else ""})
            return _Waiting(entry_id, None, time.monotonic())
        waiting = _Waiting(entry_id, event, time.monotonic(), asks=self._asks(event))
        key = (event.room.key, event.event_id)
        if key in self._mine:
            return waiting  # worked on here already
        self._mine[key] = None
        if len(self._mine) > 500_000:
            self._mine.popitem(last=False)
        if redelivered:
            self.stats.redelivered += 1
            await self._redeliver(event)
        else:
            await self.runtime.router.dispatch(event)
        return waiting

    async def _redeliver(self, event: Event) -> None:
        """An entry a dead worker read: stored already? Then only a question still without an outcome
        is worked on again (commands and chat are not run twice); else it is new here."""
        stored, outcome = await asyncio.to_thread(self._state_of, event)
        if not stored:
            await self.runtime.router.dispatch(event)
        elif not outcome and self._asks(event):
            await self.runtime.router.resume(event)

    def _asks(self, event: Event) -> bool:
        return (isinstance(event, MessageEvent) and not isinstance(event, CommandEvent)
                and detect_question(event.text, bot_names=(self.runtime.config.bot.name,)) is not None)

    def _state_of(self, event: Event) -> tuple[bool, bool]:
        """(the event is stored, its question has an outcome recorded)."""
        with self.runtime.store.engine.connect() as conn:
            stored = conn.execute(sa.select(events.c.id).where(
                events.c.room == event.room.key, events.c.event_id == event.event_id,
                events.c.direction == "in").limit(1)).first() is not None
            outcome = conn.execute(sa.select(questions.c.id).where(
                questions.c.room == event.room.key, questions.c.event_id == event.event_id).limit(1)).first()
        return stored, outcome is not None

    async def _acknowledge(self, stream: str, waiting: list[_Waiting]) -> None:
        """Acknowledge the entries whose event is committed and whose question, if any, has its outcome."""
        if not waiting:
            return
        if any(not w.flushed for w in waiting):
            if not await asyncio.to_thread(self.runtime.store.flush):
                return  # the database is away: nothing is acknowledged before it holds the events
            for w in waiting:
                w.flushed = True
        asked = [w.event for w in waiting if w.asks and w.event is not None]
        settled = await asyncio.to_thread(self._settled, asked)
        now = time.monotonic()
        done = [w for w in waiting if not w.asks or w.event is None
                or (w.event.room.key, w.event.event_id) in settled or now - w.since > self.ack_deadline]
        if done:
            await self.redis.xack(stream, WORKER_GROUP, *[w.entry_id for w in done])
            self.stats.acked += len(done)
            finished = {id(w) for w in done}
            waiting[:] = [w for w in waiting if id(w) not in finished]

    def _settled(self, asked: list[Event]) -> set[tuple[str, str]]:
        if not asked:
            return set()
        with self.runtime.store.engine.connect() as conn:
            rows = conn.execute(sa.select(questions.c.room, questions.c.event_id).where(
                questions.c.event_id.in_({e.event_id for e in asked}),
                questions.c.room.in_({e.room.key for e in asked})))
            return {(r.room, r.event_id) for r in rows}
