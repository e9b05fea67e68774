"""The Discord adapter end to end: real discord.py over real WebSocket/HTTP to the loopback fake."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fakes.discord_server import (  # noqa: E402
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    GUILD,
    GUILD_ID,
    MOD_ID,
    OTHER_CHANNEL_ID,
    OTHER_GUILD,
    OTHER_GUILD_ID,
    THREAD_ID,
    TOKEN,
    VIEWER_ID,
    FakeDiscord,
    interaction_payload,
    message_payload,
    shard_of,
    snowflake,
    user_payload,
)

from adapters.base import AdapterError  # noqa: E402
from adapters.commands import CommandSpec, Param  # noqa: E402
from adapters.discord import DiscordAdapter  # noqa: E402
from adapters.discord.adapter import _IdentifyPacing  # noqa: E402
from adapters.model import CommandEvent, Event, FeedbackEvent, MemberEvent, MessageEvent, Reply, Role, User  # noqa: E402

pytestmark = pytest.mark.integration

MEMBERS_INTENT = 1 << 1
MESSAGE_CONTENT_INTENT = 1 << 15


class Harness:
    """A running adapter bound to a sink that queues events; ``on_event`` may answer them."""

    def __init__(self, fake: FakeDiscord, adapter: DiscordAdapter) -> None:
        self.fake = fake
        self.adapter = adapter
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.on_event: Callable[[Event], Awaitable[None]] | None = None
        adapter.bind(self._sink)

    async def _sink(self, event: Event) -> None:
        await self.events.put(event)
        if self.on_event is not None:
            await self.on_event(event)

    async def next_event(self, timeout: float = 5.0) -> Event:
        return await asyncio.wait_for(self.events.get(), timeout)


def make_adapter(fake: FakeDiscord, **kwargs: Any) -> DiscordAdapter:
    return DiscordAdapter(kwargs.pop("token", TOKEN), api_base=fake.api_base, gateway_url=fake.gateway_url, **kwargs)


async def running(fake: FakeDiscord, adapter: DiscordAdapter, sessions: int = 1) -> AsyncIterator[Harness]:
    """The adapter running, once the fake has seen ``sessions`` sessions in all (one per shard); stopped after."""
    harness = Harness(fake, adapter)
    task = asyncio.create_task(adapter.run())
    await fake.wait_sessions(sessions)
    try:
        yield harness
    finally:
        await adapter.stop()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def room(fake: FakeDiscord) -> AsyncIterator[Harness]:
    async for harness in running(fake, make_adapter(fake, defer_after=0.3)):
        yield harness


async def settle(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (the fake records requests as they arrive)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# ---- input ---------------------------------------------------------------------------------


async def test_message_reaches_the_sink_with_room_author_and_role(room: Harness) -> None:
    await room.fake.push_event("MESSAGE_CREATE", message_payload("is the blender in stock?"))
    event = await room.next_event()
    assert isinstance(event, MessageEvent) and not isinstance(event, CommandEvent)
    assert (event.room.id, event.room.kind, event.room.name) == (CHANNEL_ID, "channel", "live-chat")
    assert (event.author.id, event.author.role, event.source) == (MOD_ID, Role.MOD, "discord")
    assert event.text == "is the blender in stock?"


async def test_thread_message_and_typed_command(room: Harness) -> None:
    await room.fake.push_event("MESSAGE_CREATE", message_payload("/help", channel=THREAD_ID, roles=()))
    event = await room.next_event()
    assert isinstance(event, CommandEvent) and event.command == "help"
    assert (event.room.id, event.room.kind, event.author.role) == (THREAD_ID, "thread", Role.VIEWER)


async def test_member_join_arrives(room: Harness) -> None:
    await room.fake.push_event("GUILD_MEMBER_ADD", {"guild_id": GUILD_ID, "user": user_payload(snowflake(), "newbie"),
                                                    "roles": [], "joined_at": "2024-05-01T00:00:00+00:00",
                                                    "deaf": False, "mute": False, "flags": 0})
    event = await room.next_event()
    assert isinstance(event, MemberEvent) and event.joined and event.author.name == "Newbie"


# ---- output --------------------------------------------------------------------------------


async def test_reply_references_the_message_and_pings_only_mentioned_users(room: Harness) -> None:
    await room.fake.push_event("MESSAGE_CREATE", message_payload("price?"))
    event = await room.next_event()
    wen = User("discord", "700000000000000004", "wen")
    message_id = await room.adapter.send(Reply(room=event.room, text="@wen it is ¥399 @everyone",
                                               reply_to=event.event_id, mentions=(wen,)))
    (post,) = room.fake.posted()
    assert post.path == f"/channels/{CHANNEL_ID}/messages" and message_id is not None
    assert post.json["content"] == "<@700000000000000004> it is ¥399 @everyone"
    assert str(post.json["message_reference"]["message_id"]) == event.event_id
    allowed = post.json["allowed_mentions"]
    assert allowed["parse"] == [] and [str(u) for u in allowed["users"]] == ["700000000000000004"] and not allowed.get("replied_user")


async def test_long_reply_is_split_into_messages_of_at_most_2000(room: Harness) -> None:
    await room.fake.push_event("MESSAGE_CREATE", message_payload("tell me everything"))
    event = await room.next_event()
    text = " ".join(f"word{i:04d}" for i in range(600))[:4499] + "!"
    assert len(text) == 4500
    first = await room.adapter.send(Reply(room=event.room, text=text, reply_to=event.event_id))
    posts = room.fake.posted()
    assert len(posts) == 3 and all(len(p.json["content"]) <= 2000 for p in posts)
    assert " ".join(p.json["content"] for p in posts) == text
    assert str(posts[0].json["message_reference"]["message_id"]) == event.event_id
    assert all("message_reference" not in p.json for p in posts[1:])
    assert first is not None and int(first) < int(room.fake.next_id())


async def test_burst_never_exceeds_the_channel_budget(fake: FakeDiscord) -> None:
    budget = 5
    async for room in running(fake, make_adapter(fake, channel_budget=budget)):
        await room.fake.push_event("MESSAGE_CREATE", message_payload("hello"))
        event = await room.next_event()

        async def reply_later(i: int) -> str | None:
            await asyncio.sleep(i / 50)  # 50 replies spread over one second
            return await room.adapter.send(Reply(room=event.room, text=f"answer {i:02d} " + "x" * 90))

        ids = await asyncio.gather(*(reply_later(i) for i in range(50)))
        posts = room.fake.posted()
        assert all(ids) and len(posts) < 50  # queued replies were merged
        content = "\n".join(p.json["content"] for p in posts)
        assert all(f"answer {i:02d} " in content for i in range(50))  # nothing lost
        times = [p.at for p in posts]
        assert len(posts) > budget, "the burst must outrun the budget for this test to mean anything"
        for earlier, later in zip(times, times[budget:]):
            assert later - earlier >= 5.0 - 0.1, "more than channel_budget messages in a 5 s window"


async def test_feedback_reactions_and_a_thumbs_up_becomes_feedback(room: Harness) -> None:
    await room.fake.push_event("MESSAGE_CREATE", message_payload("what's the warranty?"))
    event = await room.next_event()
    answer_id = await room.adapter.send(Reply(room=event.room, text="Two years [1]", reply_to=event.event_id,
                                              feedback=True))
    await settle(lambda: sum("/reactions/" in r.path for r in room.fake.requests) == 2)
    reactions = [r.path for r in room.fake.requests if "/reactions/" in r.path]
    assert reactions == [f"/channels/{CHANNEL_ID}/messages/{answer_id}/reactions/{e}/@me" for e in ("👍", "👎")]
    # The bot's own reactions come back through the gateway: they are not feedback.
    for user in (BOT_ID, VIEWER_ID):
        await room.fake.push_event("MESSAGE_REACTION_ADD", {
            "user_id": user, "channel_id": CHANNEL_ID, "message_id": answer_id, "guild_id": GUILD_ID,
            "message_author_id": BOT_ID, "burst": False, "type": 0, "emoji": {"id": None, "name": "👍"},
            "member": {"user": user_payload(user, "x"), "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
                       "deaf": False, "mute": False, "flags": 0}})
    feedback = await room.next_event()
    assert isinstance(feedback, FeedbackEvent)
    assert (feedback.target, feedback.value, feedback.author.id) == (answer_id, 1, VIEWER_ID)
    assert room.events.empty()


# ---- slash commands ------------------------------------------------------------------------

SPECS = (
    CommandSpec("help", "List the commands"),
    CommandSpec("remind", "Remind the room", (Param("minutes", "int", "in how many minutes"),
                                              Param("loud", "bool", required=False),
                                              Param("text", "str", rest=True, required=False)), role=Role.MOD),
)


async def test_slash_commands_are_registered_per_guild_with_typed_options(fake: FakeDiscord) -> None:
    adapter = make_adapter(fake, guild_ids=[int(GUILD_ID)])
    await adapter.register_commands(SPECS)
    async for _ in running(fake, adapter):
        commands = fake.commands[GUILD_ID]
        assert [c["name"] for c in commands] == ["help", "remind"]
        minutes, loud, text = commands[1]["options"]
        assert (minutes["type"], minutes["required"], loud["type"], text["type"]) == (4, True, 5, 3)
        assert "global" not in fake.commands


async def test_slash_commands_are_registered_globally_without_guild_ids(fake: FakeDiscord) -> None:
    adapter = make_adapter(fake)
    await adapter.register_commands(SPECS[:1])
    async for _ in running(fake, adapter):
        assert [c["name"] for c in fake.commands["global"]] == ["help"]


async def test_interaction_becomes_a_command_answered_by_the_interaction_response(room: Harness) -> None:
    async def answer(event: Event) -> None:
        await room.adapter.send(Reply(room=event.room, text="Only you can see this", reply_to=event.event_id,
                                      ephemeral=True))

    room.on_event = answer
    payload = interaction_payload("remind", [{"name": "minutes", "type": 4, "value": 5},
                                             {"name": "loud", "type": 5, "value": False}])
    await room.fake.push_event("INTERACTION_CREATE", payload)
    event = await room.next_event()
    assert isinstance(event, CommandEvent)
    assert (event.command, event.options, event.text) == ("remind", {"minutes": 5, "loud": False}, "/remind 5 false")
    assert (event.author.id, event.room.id) == (VIEWER_ID, CHANNEL_ID)
    await settle(lambda: bool(room.fake.posted("/interactions/")))
    (callback,) = room.fake.posted("/interactions/")
    assert callback.path == f"/interactions/{payload['id']}/{payload['token']}/callback"
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] & 64
    assert callback.json["data"]["content"] == "Only you can see this"
    assert not room.fake.posted()  # nothing went to the channel


async def test_slow_command_is_deferred_then_answered_by_followup(room: Harness) -> None:
    async def answer_slowly(event: Event) -> None:
        await asyncio.sleep(0.6)  # longer than defer_after
        await room.adapter.send(Reply(room=event.room, text="Reminder set", reply_to=event.event_id))
        await room.adapter.send(Reply(room=event.room, text="(and a second note)", reply_to=event.event_id,
                                      ephemeral=True))

    room.on_event = answer_slowly
    payload = interaction_payload("help", [])
    await room.fake.push_event("INTERACTION_CREATE", payload)
    await room.next_event()
    await settle(lambda: len(room.fake.posted("/webhooks/")) == 2)
    (callback,) = room.fake.posted("/interactions/")
    assert callback.json["type"] == 5 and not (callback.json.get("data") or {}).get("flags")  # /help: public
    first, second = room.fake.posted("/webhooks/")
    assert first.path == f"/webhooks/{APP_ID}/{payload['token']}" and first.json["content"] == "Reminder set"
    assert not first.json.get("flags") and second.json["flags"] & 64
    assert not room.fake.posted()


async def test_deferred_visibility_mismatch_replaces_the_thinking_message(room: Harness) -> None:
    async def answer_privately(event: Event) -> None:
        await asyncio.sleep(0.6)
        await room.adapter.send(Reply(room=event.room, text="just for you", reply_to=event.event_id, ephemeral=True))

    room.on_event = answer_privately
    payload = interaction_payload("help", [])
    await room.fake.push_event("INTERACTION_CREATE", payload)
    await room.next_event()
    await settle(lambda: len(room.fake.posted("/webhooks/")) == 1)
    methods = [(r.method, r.path.split("/")[1]) for r in room.fake.requests if "itoken" in r.path]
    assert methods == [("POST", "interactions"), ("DELETE", "webhooks"), ("POST", "webhooks")]
    assert room.fake.posted("/webhooks/")[0].json["flags"] & 64


# ---- start-up and connection ---------------------------------------------------------------


async def test_bad_token_is_a_clear_adapter_error(fake: FakeDiscord) -> None:
    adapter = make_adapter(fake, token="not-the-token")
    with pytest.raises(AdapterError) as info:
        await asyncio.wait_for(adapter.run(), 10)
    message = str(info.value)
    assert "rejected the bot token" in message and "DISCORD_TOKEN" in message and "not-the-token" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_empty_token_is_refused_at_construction() -> None:
    with pytest.raises(AdapterError, match="token is empty"):
        DiscordAdapter("  ")


async def test_dropped_gateway_is_resumed_and_events_still_arrive(room: Harness) -> None:
    await room.fake.drop(code=4000)
    await room.fake.wait_sessions(2)
    assert len(room.fake.resumes) == 1 and room.fake.resumes[0]["session_id"] == "session-1"
    await room.fake.push_event("MESSAGE_CREATE", message_payload("still there?"))
    event = await room.next_event()
    assert isinstance(event, MessageEvent) and event.text == "still there?"


async def test_without_the_members_intent_it_reconnects_without_member_events() -> None:
    async with FakeDiscord(allowed_intents=MESSAGE_CONTENT_INTENT) as fake:
        async for room in running(fake, make_adapter(fake)):
            assert [bool(i["intents"] & MEMBERS_INTENT) for i in fake.identifies] == [True, False]
            await fake.push_event("MESSAGE_CREATE", message_payload("hi"))
            assert isinstance(await room.next_event(), MessageEvent)


async def test_without_the_message_content_intent_start_up_explains_it() -> None:
    async with FakeDiscord(allowed_intents=0) as fake:
        with pytest.raises(AdapterError, match="Message Content Intent"):
            await asyncio.wait_for(make_adapter(fake, member_events=False).run(), 10)


async def test_endpoint_override_is_restored_after_run(fake: FakeDiscord) -> None:
    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async for _ in running(fake, make_adapter(fake)):
        assert Route.BASE == fake.api_base
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == before


# ---- sharding ------------------------------------------------------------------------------


@pytest.fixture
async def two_shards() -> AsyncIterator[FakeDiscord]:
    """Discord recommending two shards, with a guild on each; both shards may identify at once."""
    assert (shard_of(GUILD_ID, 2), shard_of(OTHER_GUILD_ID, 2)) == (1, 0)
    async with FakeDiscord(guilds=(GUILD, OTHER_GUILD), shards=2, max_concurrency=2) as server:
        yield server


async def test_auto_sharding_serves_each_guild_on_its_own_connection(two_shards: FakeDiscord) -> None:
    fake = two_shards
    async for room in running(fake, make_adapter(fake, shard_count="auto", defer_after=5.0), sessions=2):
        assert [r.path for r in fake.requests if r.path.startswith("/gateway")]  # the shard count, asked
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        rooms = ((GUILD_ID, CHANNEL_ID, "live-chat"), (OTHER_GUILD_ID, OTHER_CHANNEL_ID, "stalls"))
        for guild, channel, name in rooms:
            await fake.push_event("MESSAGE_CREATE", message_payload(f"price? ({name})", guild=guild, channel=channel,
                                                                    roles=()))
            event = await room.next_event()
            assert isinstance(event, MessageEvent) and event.text == f"price? ({name})"
            assert (event.room.id, event.room.name) == (channel, name)  # the shard's guild cache answered
            await room.adapter.send(Reply(room=event.room, text=f"¥399 in {name}", reply_to=event.event_id))
            post = fake.posted()[-1]
            assert (post.path, post.json["content"]) == (f"/channels/{channel}/messages", f"¥399 in {name}")
            assert str(post.json["message_reference"]["message_id"]) == event.event_id

        async def answer(event: Event) -> None:
            await room.adapter.send(Reply(room=event.room, text="here you go", reply_to=event.event_id))

        room.on_event = answer
        payload = interaction_payload("help", [], guild=OTHER_GUILD_ID, channel=OTHER_CHANNEL_ID)
        await fake.push_event("INTERACTION_CREATE", payload)  # shard 0's guild
        command = await room.next_event()
        assert isinstance(command, CommandEvent) and command.room.id == OTHER_CHANNEL_ID
        await settle(lambda: bool(fake.posted("/interactions/")))
        (callback,) = fake.posted("/interactions/")
        assert callback.path == f"/interactions/{payload['id']}/{payload['token']}/callback"
        assert callback.json["data"]["content"] == "here you go"


async def test_shard_ids_split_the_guilds_between_two_processes(two_shards: FakeDiscord) -> None:
    fake = two_shards
    async for on_0 in running(fake, make_adapter(fake, shard_count=2, shard_ids=[0])):
        async for on_1 in running(fake, make_adapter(fake, shard_count=2, shard_ids=[1]), sessions=2):
            assert [i["shard"] for i in fake.identifies] == [[0, 2], [1, 2]]
            # Each guild's message, then a second one: a message sent to the wrong connection would
            # reach its adapter before that adapter's own next message.
            for text in ("first", "second"):
                await fake.push_event("MESSAGE_CREATE", message_payload(f"{text} on 1", roles=()))
                await fake.push_event("MESSAGE_CREATE", message_payload(f"{text} on 0", guild=OTHER_GUILD_ID,
                                                                        channel=OTHER_CHANNEL_ID, roles=()))
            got_0 = [await on_0.next_event() for _ in range(2)]
            got_1 = [await on_1.next_event() for _ in range(2)]
            assert [(e.room.id, getattr(e, "text", "")) for e in got_0] == [(OTHER_CHANNEL_ID, "first on 0"),
                                                                             (OTHER_CHANNEL_ID, "second on 0")]
            assert [(e.room.id, getattr(e, "text", "")) for e in got_1] == [(CHANNEL_ID, "first on 1"),
                                                                             (CHANNEL_ID, "second on 1")]


async def test_auto_sharding_still_connects_through_the_gateway_url_override(two_shards: FakeDiscord) -> None:
    fake = two_shards
    fake.bot_gateway_url = fake.base_url.replace("http://", "ws://") + "/not-the-gateway"  # what Discord would say
    async for _ in running(fake, make_adapter(fake, shard_count="auto"), sessions=2):
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]


async def test_sharded_without_the_members_intent_reconnects_without_member_events() -> None:
    async with FakeDiscord(guilds=(GUILD, OTHER_GUILD), shards=2, max_concurrency=2,
                           allowed_intents=MESSAGE_CONTENT_INTENT) as fake:
        async for room in running(fake, make_adapter(fake, shard_count=2), sessions=2):
            assert [bool(i["intents"] & MEMBERS_INTENT) for i in fake.identifies][-2:] == [False, False]
            await fake.push_event("MESSAGE_CREATE", message_payload("hi", guild=OTHER_GUILD_ID,
                                                                    channel=OTHER_CHANNEL_ID, roles=()))
            assert isinstance(await room.next_event(), MessageEvent)


async def test_stop_while_shards_wait_their_turn_to_identify_ends_at_once() -> None:
    async with FakeDiscord(guilds=(GUILD, OTHER_GUILD), shards=3, max_concurrency=1) as fake:
        adapter = make_adapter(fake, shard_count="auto")
        Harness(fake, adapter)  # binds a sink
        task = asyncio.create_task(adapter.run())
        await fake.wait_sessions(1)  # shard 1 now waits 5 s for its IDENTIFY, shard 2 after it
        started = time.monotonic()
        await adapter.stop()
        await asyncio.wait_for(task, 10)
        assert time.monotonic() - started < 1.0 and len(fake.identifies) == 1


async def test_identifies_are_paced_per_rate_limit_bucket() -> None:
    pacing = _IdentifyPacing(max_concurrency=2, window=0.3)
    start = time.monotonic()
    await pacing.wait(0)
    await pacing.wait(1)  # another bucket: at once
    assert time.monotonic() - start < 0.1
    await pacing.wait(2)  # bucket 0 again: a window after shard 0
    assert time.monotonic() - start >= 0.3


@pytest.mark.parametrize(("shard_count", "shard_ids", "message"), [
    (0, None, "shard_count must be"),
    ("many", None, "shard_count must be"),
    ("auto", [0], "shard_ids needs a number in shard_count"),
    (None, [0], "shard_ids needs a number in shard_count"),
    (2, [], "shard_ids is empty"),
    (2, [2], "2 is not one of the 2 shards"),
    (2, [0, 0], "shard 0 more than once"),
])
def test_bad_sharding_is_refused_at_construction(shard_count: Any, shard_ids: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DiscordAdapter(TOKEN, shard_count=shard_count, shard_ids=shard_ids)
