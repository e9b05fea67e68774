"""Rooms spread over workers through a real Redis: ingress → streams → workers → replies → ingress.

In-process, errbot-style: real console adapters (one room each) bound to the ingress sink, a real
Redis on loopback, real runtimes (store, router, brain with the hashing embedder) behind two
`Worker` objects. A worker "dies" here as kill -9 leaves it: its tasks stop and its leases are not
handed back (tests/bots/test_distributed_processes.py kills real processes).
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import make_config  # noqa: E402

from adapters.console import ConsoleAdapter  # noqa: E402
from bots.app import Runtime  # noqa: E402
from bots.distributed.ingress import IngressSink, ReplyPump  # noqa: E402
from bots.distributed.streams import StreamLayout, partition_of  # noqa: E402
from bots.distributed.worker import Worker  # noqa: E402
from brain.store.schema import events, questions  # noqa: E402

pytestmark = pytest.mark.integration

LAYOUT = StreamLayout(prefix="t", partitions=8)
ROOMS = 12


class Ingress:
    """Console rooms whose lines go into Redis, and the pump that prints the workers' replies in them."""

    def __init__(self, redis) -> None:
        self.rooms = []
        for i in range(ROOMS):
            adapter = ConsoleAdapter(room=f"room{i}", user=f"viewer{i}", name=f"console{i}", stdin=io.StringIO(""),
                                     stdout=io.StringIO(), prompt=False)
            adapter.bind(IngressSink(redis, LAYOUT))
            self.rooms.append(adapter)
        self.pump = ReplyPump(redis, LAYOUT, {a.name: a for a in self.rooms})
        self.task = asyncio.create_task(self.pump.run())

    def printed(self, i: int) -> str:
        return self.rooms[i]._stdout.getvalue()  # noqa: SLF001 - the room's screen

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def start_worker(redis, data_dir: Path, url: str, name: str) -> tuple[Worker, asyncio.Task]:
    runtime = Runtime.build(make_config(database={"url": url}, audience={"enabled": False},
                                        schedule={"enabled": False}), data_dir)
    worker = Worker(runtime, redis, LAYOUT, name=name, lease_seconds=1.0)
    runtime.brain.start()
    return worker, asyncio.create_task(worker.run())


async def crash(worker: Worker, task: asyncio.Task) -> None:
    """What kill -9 leaves: reading stops, nothing is acknowledged or handed back, the leases run out."""
    worker.leases.release_all = _nothing  # type: ignore[method-assign]
    worker.before_release = None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await worker.runtime.answering.drain(timeout=0.0)
    worker.runtime.close()


async def _nothing() -> None:
    return None


async def until(condition, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def counts(url: str) -> tuple[int, int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            inbound = conn.execute(sa.select(sa.func.count()).select_from(events).where(
                events.c.direction == "in")).scalar_one()
            distinct = conn.execute(sa.select(sa.func.count()).select_from(
                sa.select(events.c.room, events.c.event_id).where(events.c.direction == "in").distinct()
                .subquery())).scalar_one()
            asked = conn.execute(sa.select(sa.func.count()).select_from(questions)).scalar_one()
        return inbound, distinct, asked
    finally:
        engine.dispose()


async def test_rooms_are_served_by_two_workers_and_survive_one_dying(redis_server, database_url, tmp_path):
    import redis.asyncio as aioredis

    redis = aioredis.from_url(redis_server.url)
    ingress = Ingress(redis)
    first, first_task = await start_worker(redis, tmp_path / "w1", database_url, "w1")
    second, second_task = await start_worker(redis, tmp_path / "w2", database_url, "w2")
    try:
        await until(lambda: len(first.leases.owned) + len(second.leases.owned) == LAYOUT.partitions
                    and first.leases.owned and second.leases.owned)
        assert not first.leases.owned & second.leases.owned  # each partition has one owner
        for i, room in enumerate(ingress.rooms):
            await room.handle_line("how much is the course?")
            await room.handle_line("love this")
        await until(lambda: all("349" in ingress.printed(i) for i in range(ROOMS)))

        # The worker owning room 0 dies; its rooms are served again after its leases run out.
        victim, victim_task = ((first, first_task) if partition_of("console:room0", LAYOUT.partitions)
                               in first.leases.owned else (second, second_task))
        survivor = second if victim is first else first
        await crash(victim, victim_task)
        orphaned = [i for i in range(ROOMS)
                    if partition_of(f"console:room{i}", LAYOUT.partitions) in victim.leases.owned]
        assert orphaned and len(orphaned) < ROOMS
        for i in range(ROOMS):
            await ingress.rooms[i].handle_line("do you ship to canada?")
        took = await until(lambda: all(ingress.printed(i).count("[liveroom]") >= 2 for i in range(ROOMS)))
        assert took < 10, f"rooms {orphaned} waited {took:.1f} s"
        assert len(survivor.leases.owned) == LAYOUT.partitions
        await survivor.runtime.answering.drain()
        await asyncio.to_thread(survivor.runtime.store.flush)
        inbound, distinct, asked = counts(database_url)
        assert inbound == distinct == ROOMS * 3  # every message stored once
        assert asked == ROOMS * 2                # every question answered or passed on once
        for i in range(ROOMS):                   # and posted once
            assert ingress.printed(i).count("[liveroom]") == 2, ingress.printed(i)
    finally:
        for worker, task in ((first, first_task), (second, second_task)):
            if not task.done():
                await worker.stop()
                await task
                worker.runtime.close()
        await ingress.close()
        await redis.aclose()


async def test_an_unreadable_entry_is_moved_aside_and_the_worker_goes_on(redis_server, tmp_path):
    import redis.asyncio as aioredis

    redis = aioredis.from_url(redis_server.url)
    ingress = Ingress(redis)
    worker, task = await start_worker(redis, tmp_path / "w", f"sqlite:///{tmp_path / 'db.sqlite'}", "solo")
    try:
        stream = LAYOUT.inbound_of("console:room3")
        await redis.xadd(stream, {"e": "{not json"})
        await redis.xadd(stream, {"e": '{"v": 99, "type": "MessageEvent"}'})
        await redis.xadd(stream, {"other": "x"})
        await ingress.rooms[3].handle_line("how much is the course?")
        await until(lambda: "349" in ingress.printed(3))
        dead = await redis.xrange(LAYOUT.dead)
        reasons = [fields[b"error"].decode() for _, fields in dead]
        assert len(reasons) == 3 and worker.stats.dead_letters == 3
        assert "not JSON" in reasons[0] and "wire version 99" in reasons[1] and "no field 'e'" in reasons[2]
        for _ in range(100):  # every entry acknowledged: the dead letters and the answered question
            if (await redis.xpending(stream, "workers"))["pending"] == 0:
                break
            await asyncio.sleep(0.05)
        assert (await redis.xpending(stream, "workers"))["pending"] == 0
    finally:
        await worker.stop()
        await task
        worker.runtime.close()
        await ingress.close()
        await redis.aclose()
