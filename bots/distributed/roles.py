"""``liveroom run --role ingress|worker``: the two halves of a deployment past one process.

- **ingress** holds the platform connections (the adapters the config enables), appends every event
  to its room's stream, and posts the replies the workers write back (`bots.distributed.ingress`).
- **worker** owns a share of the room partitions and runs the bot on their events: the store, the
  brain, answers, products, audience, traffic, moderation (`bots.distributed.worker`).

``--role all`` (the default) is the single process of `Runtime.serve`: no Redis at all.

Scheduled messages fire from the worker holding their room's partition. Not yet in a distributed
deployment (docs/scaling.md): the dashboard, which runs in the single process only.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Sequence
from urllib.parse import urlsplit

from bots.distributed.ingress import IngressSink, IngressStats, ReplyPump
from bots.distributed.streams import StreamLayout
from bots.distributed.worker import Worker
from bots.runtime.adapter_stop import stop_adapters

if TYPE_CHECKING:  # pragma: no cover
    from adapters.base import Adapter
    from bots.app import Runtime
    from bots.runtime.config import DistributedSection

__all__ = ["serve_ingress", "serve_worker", "layout_of", "connect", "redis_address"]

log = logging.getLogger(__name__)

def layout_of(section: "DistributedSection") -> StreamLayout:
    return StreamLayout(prefix=section.prefix, partitions=section.partitions)


def redis_address(url: str) -> str:
    """``host:port/db`` of a Redis URL: what logs and messages show (never the password)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


async def connect(section: "DistributedSection") -> "object":
    """A Redis client, checked with a PING so a wrong URL fails with the key's name."""
    import redis.asyncio as redis

    if section.redis_url is None:
        raise RuntimeError("distributed.redis_url is not set: an ingress or a worker needs Redis")
    client = redis.from_url(section.redis_url, socket_connect_timeout=5, health_check_interval=10)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        await client.aclose()
        raise RuntimeError(f"distributed.redis_url: Redis at {redis_address(section.redis_url)} cannot be "
                           f"reached: {exc}") from exc
    return client


def _on_stop_signals(stop: "asyncio.Event", *, hard: "asyncio.Event | None" = None) -> list[int]:
    """First SIGINT/SIGTERM sets ``stop``; a second sets ``hard`` (stop waiting)."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def request() -> None:
        if stop.is_set() and hard is not None:
            hard.set()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, request)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    return installed


async def serve_ingress(runtime: "Runtime", adapters: Sequence["Adapter"], redis: "object",
                        section: "DistributedSection") -> IngressStats:
    """Run the adapters into Redis and post the workers' replies, until they end or a stop signal."""
    layout = layout_of(section)
    stats = IngressStats()
    sink = IngressSink(redis, layout, stats=stats)  # type: ignore[arg-type]
    for adapter in adapters:
        adapter.bind(sink)
    specs = runtime.registry.specs()
    for adapter in adapters:
        await adapter.register_commands(specs)
    pump = asyncio.create_task(ReplyPump(redis, layout, {a.name: a for a in adapters},  # type: ignore[arg-type]
                                         stats=stats).run(), name="replies")
    runs = [asyncio.create_task(a.run(), name=f"adapter:{a.name}") for a in adapters]
    stop, hard = asyncio.Event(), asyncio.Event()
    installed = _on_stop_signals(stop, hard=hard)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        log.info("ingress: stopping adapters")
        stats.abandoned = await stop_adapters(dict(zip(adapters, runs)), hurry=hard)
    finally:
        pump.cancel()
        stopper.cancel()
        await asyncio.gather(pump, stopper, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    log.info("ingress: %d events appended, %d replies posted, %d duplicate replies skipped",
             stats.events, stats.replies, stats.duplicate_replies)
    return stats


async def serve_worker(runtime: "Runtime", redis: "object", section: "DistributedSection",
                       *, name: str | None = None) -> Worker:
    """Serve a share of the rooms until a stop signal; answers in flight are finished before the
    worker hands its partitions back (bounded: 30 s, or at once on a second signal)."""
    layout = layout_of(section)
    worker = Worker(runtime, redis, layout, name=name, lease_seconds=section.lease_seconds)  # type: ignore[arg-type]
    stop, hard = asyncio.Event(), asyncio.Event()
    installed = _on_stop_signals(stop, hard=hard)

    async def hurry_on_second_signal() -> None:
        await hard.wait()
        worker.hurry.set()

    hurrying = asyncio.create_task(hurry_on_second_signal())
    running = asyncio.create_task(worker.run(), name="worker")
    try:
        await asyncio.wait([running, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        await worker.stop()
        await running
    finally:
        hurrying.cancel()
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    log.info("worker %s: %d entries (%d taken over from a dead worker), %d dead letters",
             worker.name, worker.stats.entries, worker.stats.redelivered, worker.stats.dead_letters)
    return worker
