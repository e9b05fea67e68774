"""`stop_adapters`: every adapter ends within its deadline, or is cancelled, or abandoned; nothing waits for ever.

The adapters here are small platform stand-ins implementing the `Adapter` contract (like errbot's
test backend): one that stops at once, one whose stop never ends (a server that never answers),
and one whose run also swallows cancellation (as python-telegram-bot does around its polling task).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import sqlalchemy as sa

from adapters.base import Adapter
from adapters.model import MessageEvent, Reply, Role, Room, User
from bots.app import Runtime
from bots.runtime.adapter_stop import CANCEL_GRACE, STOP_DEADLINE, stop_adapters
from bots.runtime.config import Config
from brain.store.schema import events


class Platform(Adapter):
    """Runs until stopped; ``stuck`` stops never make the run end, ``stubborn`` runs ignore one cancellation."""

    platform = "test"

    def __init__(self, name: str, *, stuck: bool = False, stubborn: bool = False, failing_stop: bool = False) -> None:
        super().__init__(name)
        self.stuck, self.stubborn, self.failing_stop = stuck, stubborn, failing_stop
        self._stopped = asyncio.Event()
        self.release = asyncio.Event()  # lets a stubborn run end at last (the test's clean-up)

    async def run(self) -> None:
        try:
            await self._stopped.wait()
        except asyncio.CancelledError:
            if not self.stubborn:
                raise
            await self.release.wait()  # swallowed: keeps waiting on its platform

    async def stop(self) -> None:
        if self.failing_stop:
            raise ConnectionRefusedError("connect call failed")
        if self.stuck:
            await asyncio.Event().wait()  # waits on a server that never answers
        self._stopped.set()

    async def send(self, reply: Reply) -> str | None:
        return None


async def _run(*adapters: Platform) -> dict[Adapter, asyncio.Task[None]]:
    runs = {a: asyncio.create_task(a.run()) for a in adapters}
    await asyncio.sleep(0)
    return runs


async def test_adapters_that_stop_are_waited_for_and_none_is_abandoned(caplog):
    runs = await _run(Platform("console"), Platform("feed"))
    started = time.monotonic()
    assert await stop_adapters(runs, deadline=2.0) == []
    assert time.monotonic() - started < 0.5
    assert all(task.done() and not task.cancelled() for task in runs.values())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_stop_that_never_ends_is_cut_at_the_deadline_and_its_run_cancelled(caplog):
    healthy, hung = Platform("console"), Platform("telegram", stuck=True)
    runs = await _run(healthy, hung)
    started = time.monotonic()
    assert await stop_adapters(runs, deadline=0.3) == []
    took = time.monotonic() - started
    assert 0.3 <= took < 0.3 + CANCEL_GRACE
    assert runs[hung].cancelled() and runs[healthy].done() and not runs[healthy].cancelled()
    assert "telegram: did not stop within 0.3 s (its platform does not answer?); cancelled" in caplog.text


async def test_a_run_that_swallows_its_cancellation_is_abandoned_and_named(caplog):
    stubborn = Platform("discord", stuck=True, stubborn=True)
    runs = await _run(stubborn)
    started = time.monotonic()
    assert await stop_adapters(runs, deadline=0.2) == ["discord"]
    assert time.monotonic() - started < 0.2 + CANCEL_GRACE + 0.2
    assert not runs[stubborn].done()  # left behind: the caller must not wait for it
    assert "discord: did not stop within 0.2 s, nor when cancelled" in caplog.text and "abandoned" in caplog.text
    stubborn.release.set()
    await runs[stubborn]


async def test_hurry_stops_waiting_at_once(caplog):
    hung = Platform("telegram", stuck=True)
    runs = await _run(hung)
    hurry = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, hurry.set)
    started = time.monotonic()
    await stop_adapters(runs, deadline=30.0, hurry=hurry)
    assert time.monotonic() - started < 0.1 + CANCEL_GRACE
    assert runs[hung].cancelled()


async def test_a_failing_stop_is_reported_and_the_others_still_stop(caplog):
    failing, healthy = Platform("telegram", failing_stop=True), Platform("console")
    runs = await _run(failing, healthy)
    assert await stop_adapters(runs, deadline=0.2) == []
    assert runs[healthy].done() and not runs[healthy].cancelled()
    assert runs[failing].cancelled()  # its stop failed, so its run was still going at the deadline
    assert "telegram: stopping failed: connect call failed" in caplog.text


async def test_runs_already_over_need_no_wait():
    ended = Platform("replay")
    runs = await _run(ended)
    await ended.stop()
    await runs[ended]
    assert await stop_adapters(runs, deadline=0.0) == []


# ---- the runtime: a stop signal with a platform that never lets its adapter stop ------------------------


class Receiving(Platform):
    """Receives one chat line, then serves until stopped (or, stuck and stubborn, for ever)."""

    async def run(self) -> None:
        await self.emit(MessageEvent(event_id="m1", room=Room(self.platform, "r"), text="hello from a viewer",
                                     author=User(self.platform, "u1", "Vic", Role.VIEWER)))
        await super().run()


async def _serve_and_signal(runtime: Runtime, adapter: Receiving, *signals_at: float,
                            on_second_signal=None) -> float:
    """Serve ``adapter`` and send SIGTERM to this process at each time; the seconds from the first to the end."""
    loop = asyncio.get_running_loop()
    serving = asyncio.create_task(runtime.serve([adapter], on_second_signal=on_second_signal))
    await asyncio.sleep(0.3)  # the room is up, the line received
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "the runtime handles SIGTERM"
    started = time.monotonic()
    for at in signals_at:
        loop.call_later(at, signal.raise_signal, signal.SIGTERM)
    await asyncio.wait_for(serving, 10)
    return time.monotonic() - started


def _stored(runtime: Runtime) -> list[str]:
    with runtime.store.engine.connect() as conn:
        return [row.text for row in conn.execute(sa.select(events.c.text).where(events.c.direction == "in"))]


async def test_sigterm_abandons_an_adapter_that_cannot_stop_and_keeps_what_it_received(data_dir, caplog):
    runtime = Runtime.build(Config(answers={"enabled": False}, products={"enabled": False},
                                   schedule={"enabled": False}), data_dir)
    stubborn = Receiving("telegram", stuck=True, stubborn=True)
    try:
        took = await _serve_and_signal(runtime, stubborn, 0.0)
        assert took < STOP_DEADLINE + CANCEL_GRACE + 1.0
        assert runtime.abandoned == ["telegram"]
        assert "telegram: did not stop within 3 s, nor when cancelled" in caplog.text
        assert _stored(runtime) == ["hello from a viewer"]
    finally:
        stubborn.release.set()
        runtime.close()


async def test_a_second_sigterm_flushes_the_store_and_hands_over_at_once(data_dir):
    runtime = Runtime.build(Config(answers={"enabled": False}, products={"enabled": False},
                                   schedule={"enabled": False}), data_dir)
    stubborn = Receiving("discord", stuck=True, stubborn=True)
    exits: list[int] = []
    try:
        took = await _serve_and_signal(runtime, stubborn, 0.0, 0.2, on_second_signal=exits.append)
        assert exits == [128 + signal.SIGTERM]
        assert took < 0.2 + CANCEL_GRACE + 0.5  # no 3 s deadline waited for: the second signal hurried it
        assert _stored(runtime) == ["hello from a viewer"]  # flushed before the hand-over
    finally:
        stubborn.release.set()
        runtime.close()


async def test_the_ingress_abandons_an_adapter_that_cannot_stop(data_dir, redis_server, caplog):
    """The distributed ingress holds the platform connections: the same deadline applies there."""
    import redis.asyncio as aioredis

    from bots.distributed.roles import serve_ingress
    from bots.runtime.config import DistributedSection

    runtime = Runtime.build(Config(answers={"enabled": False}, products={"enabled": False},
                                   schedule={"enabled": False}), data_dir)
    stubborn = Receiving("telegram", stuck=True, stubborn=True)
    redis = aioredis.from_url(redis_server.url)
    section = DistributedSection(redis_url=redis_server.url, partitions=2)
    try:
        serving = asyncio.create_task(serve_ingress(runtime, [stubborn], redis, section))
        await asyncio.sleep(0.3)  # the line is in its room's stream
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "the ingress handles SIGTERM"
        started = time.monotonic()
        signal.raise_signal(signal.SIGTERM)
        stats = await asyncio.wait_for(serving, 10)
        assert time.monotonic() - started < STOP_DEADLINE + CANCEL_GRACE + 1.0
        assert stats.abandoned == ["telegram"] and stats.events == 1
        assert "telegram: did not stop within 3 s, nor when cancelled" in caplog.text
    finally:
        stubborn.release.set()
        await redis.aclose()
        runtime.close()
