"""Rooms spread over workers through a real Redis: ingress → streams → workers → replies → ingress.

In-process, errbot-style: real console adapters (one room each) bound to the ingress sink, a real
Redis on loopback, real runtimes (store, router, brain with the hashing embedder) behind two
`Worker` objects. Killing a worker outright is tested with real processes in
tests/bots/test_distributed_processes.py.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

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


@asynccontextmanager
async def serving(redis_url: str, tmp_path: Path, database: str,
                  *names: str) -> AsyncIterator[tuple[Any, Ingress, list]]:
    """Redis, the console rooms' ingress and one worker per name; all stopped and closed afterwards."""
    import redis.asyncio as aioredis

    redis = aioredis.from_url(redis_url)
    ingress = Ingress(redis)
    workers = [await start_worker(redis, tmp_path / name, database, name) for name in names]
    try:
        yield redis, ingress, workers
    finally:
        for worker, task in workers:
            if not task.done():
                await worker.stop()
                await task
            worker.runtime.close()
        await ingress.close()
        await redis.aclose()


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


async def test_rooms_are_shared_by_two_workers_and_handed_over_when_one_stops(redis_server, database_url, tmp_path):
    """Each partition has one owner; a worker that stops finishes its answers and hands its rooms over at
    once (a worker killed outright: tests/bots/test_distributed_processes.py)."""
    async with serving(redis_server.url, tmp_path, database_url, "w1", "w2") as (redis, ingress, workers):
        (first, first_task), (second, _) = workers
        await until(lambda: len(first.leases.owned) + len(second.leases.owned) == LAYOUT.partitions
                    and first.leases.owned and second.leases.owned)
        assert not first.leases.owned & second.leases.owned  # each partition has one owner
        for i, room in enumerate(ingress.rooms):
            await room.handle_line("how much is the course?")
            await room.handle_line("love this")
        await until(lambda: all("349" in ingress.printed(i) for i in range(ROOMS)))
        served = {i for i in range(ROOMS) if partition_of(f"console:room{i}", LAYOUT.partitions)
                  in first.leases.owned}
        assert served and len(served) < ROOMS  # both workers served rooms

        for i in range(ROOMS):
            await ingress.rooms[i].handle_line("do you ship to canada?")
        await first.stop()  # mid-stream: it finishes what it took, then hands its partitions back
        await first_task
        took = await until(lambda: all(ingress.printed(i).count("[liveroom]") >= 2 for i in range(ROOMS)))
        assert took < 10
        await until(lambda: len(second.leases.owned) == LAYOUT.partitions, 5)
        for i in range(ROOMS):
            await ingress.rooms[i].handle_line("what is the refund policy?")
        await until(lambda: all(ingress.printed(i).count("[liveroom]") >= 3 for i in range(ROOMS)))
        await second.runtime.answering.drain()
        await asyncio.to_thread(second.runtime.store.flush)
        first.runtime.close()
        inbound, distinct, asked = counts(database_url)
        assert inbound == distinct == ROOMS * 4  # every message stored once
        assert asked == ROOMS * 3                # every question answered or passed on once
        await asyncio.sleep(0.3)
        for i in range(ROOMS):                   # and posted once
            assert ingress.printed(i).count("[liveroom]") == 3, ingress.printed(i)


async def test_an_unreadable_entry_is_moved_aside_and_the_worker_goes_on(redis_server, tmp_path):
    async with serving(redis_server.url, tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", "solo") as (
            redis, ingress, [(worker, _)]):
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


async def _type_in_background(ingress: Ingress, line: str, rooms: range) -> asyncio.Task:
    async def typing() -> None:
        for i in rooms:
            await ingress.rooms[i].handle_line(line)
            await asyncio.sleep(0.05)
    return asyncio.create_task(typing())


async def _settled_counts(worker: Worker, url: str) -> tuple[int, int, int]:
    await worker.runtime.answering.drain()
    assert await asyncio.to_thread(worker.runtime.store.flush, 30)
    return counts(url)


async def test_redis_restarted_mid_stream_loses_nothing(redis_server, tmp_path):
    """The ingress holds what it receives while Redis is away; the worker waits and catches up."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with serving(redis_server.url, tmp_path, url, "solo") as (redis, ingress, [(worker, _)]):
        for i in range(ROOMS):
            await ingress.rooms[i].handle_line("how much is the course?")
        await until(lambda: all("349" in ingress.printed(i) for i in range(ROOMS)))
        redis_server.stop()
        typing = await _type_in_background(ingress, "do you ship to canada?", range(ROOMS))
        await asyncio.sleep(2.0)  # lines typed meanwhile wait in the ingress
        redis_server.start()
        await typing
        await until(lambda: all(ingress.printed(i).count("[liveroom]") == 2 for i in range(ROOMS)), 60)
        inbound, distinct, asked = await _settled_counts(worker, url)
        assert inbound == distinct == 2 * ROOMS and asked == 2 * ROOMS
        await asyncio.sleep(0.5)
        assert all(ingress.printed(i).count("[liveroom]") == 2 for i in range(ROOMS))


async def test_postgresql_away_for_five_seconds_loses_nothing(redis_server, tmp_path):
    """The store retries its commits; the worker acknowledges nothing the database does not hold yet."""
    from conftest import loopback, start_or_skip

    servers = loopback()
    cluster = start_or_skip(servers.PostgresCluster(), servers.PostgresUnavailable, "PostgreSQL",
                            "LIVEROOM_REQUIRE_POSTGRES")  # its own: this test stops it for a while
    url = cluster.new_database()
    try:
        async with serving(redis_server.url, tmp_path, url, "solo") as (redis, ingress, [(worker, _)]):
            for i in range(ROOMS):
                await ingress.rooms[i].handle_line("how much is the course?")
            await until(lambda: all("349" in ingress.printed(i) for i in range(ROOMS)))
            await asyncio.to_thread(cluster.pause)
            typing = await _type_in_background(ingress, "do you ship to canada?", range(ROOMS))
            await asyncio.sleep(5.0)
            await asyncio.to_thread(cluster.resume)
            await typing
            await until(lambda: all(ingress.printed(i).count("[liveroom]") == 2 for i in range(ROOMS)), 60)
            inbound, distinct, asked = await _settled_counts(worker, url)
            assert inbound == distinct == 2 * ROOMS and asked == 2 * ROOMS
            assert await _eventually_acknowledged(redis)
    finally:
        cluster.stop()


async def _eventually_acknowledged(redis) -> bool:
    for _ in range(100):
        pending = 0
        for p in range(LAYOUT.partitions):
            try:
                pending += (await redis.xpending(LAYOUT.inbound(p), "workers"))["pending"]
            except Exception:  # noqa: BLE001 - a partition no room used has no group
                pass
        if pending == 0:
            return True
        await asyncio.sleep(0.1)
    return False
