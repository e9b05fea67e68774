"""A Discord bot's shards split over two ingresses: each reply goes back through the ingress holding the
server's shard.

In-process, errbot-style: two real `DiscordAdapter`s (``shard_count=2``, ``shard_ids=[0]`` and ``[1]``,
named with `discord_name` as `configured_adapters` names them) connected to the loopback fake Discord,
each with its own `IngressSink` and its own `ReplyPump` (which knows only that adapter, as each ingress
process would), one real `Worker` behind a real Redis. Only the process that received a slash command's
interaction can answer it, so a reply posted by the wrong ingress would show as a channel post instead of
an interaction callback.
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import make_config  # noqa: E402
from fakes.discord_server import (  # noqa: E402
    CHANNEL_ID,
    GUILD,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    OTHER_GUILD,
    OTHER_GUILD_ID,
    TOKEN,
    VIEWER_ID,
    FakeDiscord,
    interaction_payload,
    message_payload,
    shard_of,
)

from adapters.discord import DiscordAdapter  # noqa: E402
from bots.app import Runtime, discord_name  # noqa: E402
from bots.distributed.ingress import IngressSink, IngressStats, ReplyPump  # noqa: E402
from bots.distributed.streams import StreamLayout  # noqa: E402
from bots.distributed.wire import decode_reply  # noqa: E402
from bots.distributed.worker import Worker  # noqa: E402

pytestmark = pytest.mark.integration

LAYOUT = StreamLayout(prefix="tdc", partitions=4)
WAIT = 20.0  # seconds any one step may take before the test fails


async def until(condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = WAIT) -> float:
    """Poll ``condition`` until it holds; fail saying ``what`` (called then, if callable) after ``timeout`` s."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


class Ingress:
    """One ingress process: a Discord adapter running some shards, its sink into Redis, its reply pump."""

    def __init__(self, redis: Any, fake: FakeDiscord, shard_ids: list[int]) -> None:
        self.redis = redis
        self.stats = IngressStats()
        # defer_after: generous, so a slow machine cannot turn the interaction response into a deferral.
        self.adapter = DiscordAdapter(TOKEN, name=discord_name(shard_ids), api_base=fake.api_base,
                                      gateway_url=fake.gateway_url, shard_count=2, shard_ids=shard_ids,
                                      defer_after=10.0)
        self.adapter.bind(IngressSink(redis, LAYOUT, stats=self.stats))
        self.pump = ReplyPump(redis, LAYOUT, {self.adapter.name: self.adapter}, consumer=self.adapter.name,
                              stats=self.stats)
        self.pump_task: asyncio.Task[None] | None = None
        self.adapter_task: asyncio.Task[None] | None = None

    async def start(self, specs: Any, stack: AsyncExitStack) -> None:
        await self.adapter.register_commands(specs)  # as serve_ingress does, from the registry
        self.pump_task = asyncio.create_task(self.pump.run(), name=f"pump:{self.adapter.name}")
        stack.push_async_callback(self._stop_pump)
        self.adapter_task = asyncio.create_task(self.adapter.run(), name=f"adapter:{self.adapter.name}")
        stack.push_async_callback(self._stop_adapter)

    async def _stop_adapter(self) -> None:
        assert self.adapter_task is not None
        try:
            await self.adapter.stop()
        finally:
            await asyncio.wait_for(self.adapter_task, 10)

    async def _stop_pump(self) -> None:
        assert self.pump_task is not None
        self.pump_task.cancel()
        await asyncio.gather(self.pump_task, return_exceptions=True)

    async def replies_in_stream(self) -> list[tuple[str, str]]:
        """(room id, text) of every reply the workers wrote for this ingress's adapter."""
        entries = await self.redis.xrange(LAYOUT.outbound(self.adapter.name))
        out = []
        for _, fields in entries:
            _, source, reply = decode_reply(fields[b"e"])
            assert source == self.adapter.name
            out.append((reply.room.id, reply.text))
        return out

    async def posted_reply_ids(self) -> list[str]:
        """The reply ids of the platform messages this ingress's adapter posted (``{prefix}:posted:…``)."""
        keys = [k async for k in self.redis.scan_iter(match=LAYOUT.posted(self.adapter.name, "*"))]
        return sorted(v.decode() for v in await self.redis.mget(keys)) if keys else []


async def test_each_ingress_posts_the_replies_to_the_guilds_of_its_own_shard(redis_server, tmp_path):
    import redis.asyncio as aioredis

    assert (shard_of(OTHER_GUILD_ID, 2), shard_of(GUILD_ID, 2)) == (0, 1)
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(
            FakeDiscord(guilds=(GUILD, OTHER_GUILD), shards=2, max_concurrency=2))
        # One Redis client per process, as the three processes would have.
        worker_redis, redis0, redis1 = (aioredis.from_url(redis_server.url) for _ in range(3))
        for client in (worker_redis, redis0, redis1):
            stack.push_async_callback(client.aclose)

        # The worker, as tests/bots/test_distributed.py starts one.
        runtime = Runtime.build(make_config(database={"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                                            audience={"enabled": False}, schedule={"enabled": False}),
                                tmp_path / "worker")
        stack.callback(runtime.close)
        worker = Worker(runtime, worker_redis, LAYOUT, name="w1", lease_seconds=1.0)
        runtime.brain.start()
        worker_task = asyncio.create_task(worker.run(), name="worker")

        async def stop_worker() -> None:
            await worker.stop()
            await asyncio.wait_for(worker_task, 30)

        stack.push_async_callback(stop_worker)

        on_0, on_1 = Ingress(redis0, fake, [0]), Ingress(redis1, fake, [1])
        assert (on_0.adapter.name, on_1.adapter.name) == ("discord-shards-0", "discord-shards-1")
        for ingress in (on_0, on_1):
            await ingress.start(runtime.registry.specs(), stack)
        await asyncio.wait_for(fake.wait_sessions(2), WAIT)
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        # The knowledge base is loaded before the worker takes any partition.
        loaded = await until(lambda: len(worker.leases.owned) == LAYOUT.partitions, "the worker's leases", 30.0)
        started = time.monotonic()

        rooms = {GUILD_ID: CHANNEL_ID, OTHER_GUILD_ID: OTHER_CHANNEL_ID}
        questions, commands = {}, {}
        for guild, channel in rooms.items():
            questions[guild] = message_payload("how much is the course?", author=VIEWER_ID, name="vic", roles=(),
                                              guild=guild, channel=channel)
            commands[guild] = interaction_payload("help", guild=guild, channel=channel)
            await fake.push_event("MESSAGE_CREATE", questions[guild])
            await fake.push_event("INTERACTION_CREATE", commands[guild])

        def channel_posts(channel: str) -> list:
            return fake.posted(f"/channels/{channel}/messages")

        def callbacks(payload: dict[str, Any]) -> list:
            return fake.posted(f"/interactions/{payload['id']}/{payload['token']}/callback")

        def handled() -> int:  # replies the pumps are done with; a post is recorded before send() returns
            return sum(i.stats.replies + i.stats.duplicate_replies + i.stats.bad_replies + i.stats.send_errors
                       for i in (on_0, on_1))

        await until(lambda: handled() >= 4,
                    lambda: f"the four replies to be posted ({on_0.stats}, {on_1.stats}, {fake.requests[-5:]})")
        answered = time.monotonic() - started
        # Longer than a pump's blocking read: a second post would have landed by now (and the pumps have
        # written down which message carries which reply).
        await asyncio.sleep(0.6)

        for guild, channel in rooms.items():
            # The question: answered once, in its channel, replying to it.
            posts = channel_posts(channel)
            assert len(posts) == 1, [p.json.get("content") for p in posts]
            post = posts[0]
            assert "349" in post.json["content"], post.json["content"]
            assert str(post.json["message_reference"]["message_id"]) == questions[guild]["id"]
            # The slash command: answered once, through its interaction's callback (not a deferral).
            responses = callbacks(commands[guild])
            assert len(responses) == 1, [r.json for r in responses]
            callback = responses[0]
            assert callback.json["type"] == 4, callback.json
            assert "/help" in callback.json["data"]["content"]
            assert not int(callback.json["data"].get("flags") or 0) & 64  # /help is public
        assert len(fake.posted("/channels/")) == 2  # nothing else went to any channel
        assert len(fake.posted("/interactions/")) == 2
        assert not fake.posted("/webhooks/")  # no deferred follow-ups

        # Each ingress received its own guild's events and posted its own guild's replies, and only those.
        for ingress, guild in ((on_0, OTHER_GUILD_ID), (on_1, GUILD_ID)):
            channel = rooms[guild]
            stats = ingress.stats
            assert (stats.events, stats.replies, stats.duplicate_replies, stats.bad_replies, stats.send_errors) \
                == (2, 2, 0, 0, 0), (ingress.adapter.name, stats)
            written = await ingress.replies_in_stream()
            assert [room for room, _ in written] == [channel, channel], (ingress.adapter.name, written)
            assert any("349" in text for _, text in written) and any("/help" in text for _, text in written)
            # What its adapter posted, by the reply ids the pump remembered for that adapter's messages.
            posted = [reply_id.split("|")[:2] for reply_id in await ingress.posted_reply_ids()]
            assert sorted(posted) == sorted([[f"discord:{channel}", questions[guild]["id"]],
                                             [f"discord:{channel}", commands[guild]["id"]]]), posted
        assert not await worker_redis.exists(LAYOUT.outbound("discord"))  # nothing routed to the unsplit name
        assert runtime.router.stats.send_errors == 0
        print(f"\nworker ready after {loaded:.2f} s; all four answered {answered:.2f} s after the events")
