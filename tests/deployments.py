"""The two ways the feature tests run the bot: one process, or an ingress and a worker through Redis.

A feature test asks its ``deployment`` fixture (tests/conftest.py) for a config, a console room, or a
served replay, and makes the same assertions either way:

- **embedded**: `Runtime.serve` and the console adapter attached to the runtime's router, as
  ``make run`` does;
- **distributed**: the real thing of ``liveroom run --role ingress`` and ``--role worker`` in this
  process: the room's adapter delivers into a real Redis (`IngressSink`), a `Worker` owns the
  partitions and runs the runtime on PostgreSQL and the Chroma server, and the replies come back
  through the outbound stream (`ReplyPump`). Nothing of ours is replaced; the test only waits until
  what it typed was handled and what the bot wrote was printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bots.distributed.ingress import IngressSink, ReplyPump
from bots.distributed.streams import INGRESS_GROUP, StreamLayout
from bots.distributed.worker import Worker

if TYPE_CHECKING:  # pragma: no cover
    from adapters.base import Adapter
    from bots.app import Runtime
    from bots.runtime.config import Config

__all__ = ["Embedded", "Distributed", "Cluster"]

#: Few partitions: the one worker of a test takes them all in its first round.
PARTITIONS = 4


def _tag(data_dir: Path) -> str:
    """One bot (a data folder) = one deployment: its own streams, database and collection; its restarts
    (a new runtime on the same folder) find what the previous life left."""
    return hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]


async def _until(condition: Callable[[], Any], what: Callable[[], str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"distributed deployment: timed out waiting for {what()}")
        await asyncio.sleep(0.02)


class Cluster:
    """One ingress and one worker for one life of the bot (a runtime), on a real Redis."""

    def __init__(self, runtime: "Runtime", redis_url: str) -> None:
        self.runtime = runtime
        self.redis_url = redis_url
        self.layout = StreamLayout(prefix=f"bot-{_tag(runtime.data_dir)}", partitions=PARTITIONS)
        self.adapters: dict[str, "Adapter"] = {}
        self.redis: Any = None
        self.sink: IngressSink | None = None
        self.worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._pump_task: asyncio.Task[None] | None = None

    def add(self, adapter: "Adapter") -> None:
        """A room of this ingress; its lines go to Redis, the worker's replies are posted in it."""
        self.adapters[adapter.name] = adapter
        if self.sink is not None:
            adapter.bind(self.sink)
            self._restart_pump()

    async def start(self) -> None:
        """Connect, start the worker, and return once it holds every partition (idempotent)."""
        if self.worker is not None:
            return
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(self.redis_url)
        self.sink = IngressSink(self.redis, self.layout)
        for adapter in self.adapters.values():
            adapter.bind(self.sink)
        self._restart_pump()
        # A test ends with reviews still waiting (they never settle): a short grace, not a stop's 2 s, each time.
        self.worker = Worker(self.runtime, self.redis, self.layout, lease_seconds=2.0, stop_grace=0.5)
        self._worker_task = asyncio.create_task(self.worker.run(), name="worker")
        worker = self.worker

        async def serving() -> bool:
            if self._worker_task is not None and self._worker_task.done():
                self._worker_task.result()  # raise what stopped it
            return len(worker.leases.owned) == PARTITIONS and (
                self.runtime.schedule is None or len(worker._scheduling) == PARTITIONS)  # noqa: SLF001

        await _until(serving, lambda: f"the worker to take its partitions (holds {sorted(worker.leases.owned)}, "
                                      f"schedules {sorted(worker._scheduling)}, stats {worker.stats})")  # noqa: SLF001

    def _restart_pump(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
        if not self.adapters:
            return
        self._pump_task = asyncio.create_task(ReplyPump(self.redis, self.layout, self.adapters).run(), name="replies")

    async def caught_up(self) -> None:
        """Every event the ingress appended went through the worker's router, and what it wrote is printed."""
        assert self.sink is not None and self.worker is not None
        sink, worker = self.sink, self.worker

        async def handled() -> bool:
            return worker.stats.handled >= sink.stats.events

        await _until(handled, lambda: f"the worker to handle what was typed ({worker.stats.handled} of "
                                      f"{sink.stats.events})")
        await self.delivered()

    async def delivered(self) -> None:
        """Every reply written to the outbound streams so far has been posted in its room."""
        streams = [self.layout.outbound(name) for name in self.adapters]

        async def posted() -> bool:
            for stream in streams:
                if not await self.redis.exists(stream):
                    continue
                groups = {g["name"].decode() if isinstance(g["name"], bytes) else g["name"]: g
                          for g in await self.redis.xinfo_groups(stream)}
                group = groups.get(INGRESS_GROUP)
                if group is None or group["pending"] or group.get("lag"):
                    return False
            return True

        await _until(posted, lambda: "the replies to be posted")

    async def stop_worker(self) -> None:
        """The worker leaves (as on SIGTERM: it finishes its work and hands its partitions back); the
        ingress stays, posting what other workers write."""
        assert self.worker is not None and self._worker_task is not None
        await self.worker.stop()
        await self._worker_task

    async def close(self) -> None:
        """Stop the worker (it finishes its work and ends the runtime's parts), post the last replies."""
        if self.worker is None:
            return
        await self.worker.stop()
        assert self._worker_task is not None
        try:
            await self._worker_task  # at once if it was stopped already
        finally:
            try:
                await self.delivered()
            finally:
                if self._pump_task is not None:
                    self._pump_task.cancel()
                    await asyncio.gather(self._pump_task, return_exceptions=True)
                await self.redis.aclose()
                self.worker = None


class Embedded:
    """One process: the default deployment (``make run``)."""

    name = "embedded"

    def __init__(self, make_config: Callable[..., "Config"]) -> None:
        self._make_config = make_config

    def build(self, data_dir: Path, **sections: Any) -> "Runtime":
        """A runtime of the bot kept in ``data_dir`` (sections as for ``make_config``)."""
        from bots.app import Runtime

        return Runtime.build(self._make_config(**sections), data_dir)

    def cluster(self, runtime: "Runtime") -> Cluster | None:
        return None

    async def serve(self, runtime: "Runtime", adapters: Sequence["Adapter"]) -> None:
        """Run the adapters to their end (a replay) and shut down as `liveroom run` does."""
        await runtime.serve(adapters, handle_signals=False)

    async def close(self) -> None:
        return None


class Distributed:
    """An ingress and a worker through Redis, on PostgreSQL and the Chroma server."""

    name = "distributed"
    partitions = PARTITIONS

    def __init__(self, make_config: Callable[..., "Config"], *, redis_url: str, new_database: Callable[[], str],
                 chroma_url: str) -> None:
        self._make_config = make_config
        self.redis_url = redis_url
        self._new_database = new_database
        self.chroma_url = chroma_url
        self._databases: dict[Path, str] = {}
        self._clusters: dict[int, Cluster] = {}

    def build(self, data_dir: Path, **sections: Any) -> "Runtime":
        """A runtime of the bot kept in ``data_dir``: its own PostgreSQL database and Chroma collection
        (the same ones again for a restart on the same folder). A test's own sections win."""
        from bots.app import Runtime

        return Runtime.build(self.build_config(data_dir, **sections), data_dir)

    def build_config(self, data_dir: Path, **sections: Any) -> "Config":
        database = self._databases.get(data_dir)
        if database is None:
            database = self._databases[data_dir] = self._new_database()
        servers = {"database": {"url": database},
                   "retrieval": {"chroma_url": self.chroma_url, "chroma_collection": f"kb-{_tag(data_dir)}"}}
        merged = {name: {**servers.get(name, {}), **sections.get(name, {})} for name in {*servers, *sections}}
        return self._make_config(**merged)

    def cluster(self, runtime: "Runtime") -> Cluster:
        """The ingress and worker serving ``runtime`` (one per life of the bot)."""
        cluster = self._clusters.get(id(runtime))
        if cluster is None:
            cluster = self._clusters[id(runtime)] = Cluster(runtime, self.redis_url)
        return cluster

    async def serve(self, runtime: "Runtime", adapters: Sequence["Adapter"]) -> None:
        """Run the adapters (a replay) into Redis until they end; the worker handles everything, finishes
        its answers and stops; the replies are posted in the adapters' rooms."""
        cluster = self.cluster(runtime)
        for adapter in adapters:
            cluster.add(adapter)
        await cluster.start()
        await asyncio.gather(*(adapter.run() for adapter in adapters))
        await cluster.caught_up()
        await self.stop(runtime)

    async def stop(self, runtime: "Runtime") -> None:
        """End this life of the bot: the worker finishes its work and stops; its replies are posted."""
        cluster = self._clusters.pop(id(runtime), None)
        if cluster is not None:
            await cluster.close()

    async def close(self) -> None:
        for key in list(self._clusters):
            await self._clusters.pop(key).close()
