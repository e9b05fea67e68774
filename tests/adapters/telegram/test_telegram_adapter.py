"""The Telegram adapter end to end: python-telegram-bot over real HTTP to a loopback fake Bot API."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

import adapters.telegram.adapter as telegram_adapter
from adapters.base import AdapterError
from adapters.commands import CommandSpec, Param
from adapters.model import CommandEvent, Event, FeedbackEvent, MessageEvent, Reply, Role, Room, User
from adapters.telegram import TelegramAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fakes.telegram_server import FakeTelegram, admin, group, message_update, private_chat, user  # noqa: E402

pytestmark = pytest.mark.integration

ANN = user(111, "Ann", "Lee", username="annlee")  # the group's creator
BOB = user(222, "Bob")  # an administrator
CAROL = user(333, "Carol")  # a viewer
GROUP = group(-1001, "Gadget Live")
FORUM = group(-1002, "Course Live", forum=True)
GROUP_ROOM = Room("telegram", "-1001", kind="group", name="Gadget Live")
TOPIC_ROOM = Room("telegram", "-1002/42", kind="thread", name="Course Live")


async def until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Harness:
    """A running adapter bound to a sink that collects events."""

    def __init__(self, fake: FakeTelegram, **options: Any) -> None:
        self.fake = fake
        self.events: list[Event] = []
        self.adapter = TelegramAdapter(fake.token, name="tg", base_url=fake.base_url,
                                       base_file_url=fake.base_file_url, poll_timeout=1, **options)
        self.adapter.bind(self._collect)
        self.task: asyncio.Task[None] | None = None

    async def _collect(self, event: Event) -> None:
        self.events.append(event)

    async def start(self) -> "Harness":
        self.task = asyncio.create_task(self.adapter.run())
        await until(lambda: self.fake.calls("getUpdates") or self.task.done())
        return self

    async def close(self) -> None:
        await self.adapter.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)

    async def receive(self, update: dict[str, Any], count: int = 1) -> list[Event]:
        """Push an update and wait until ``count`` more events reached the sink."""
        before = len(self.events)
        self.fake.push_update(update)
        await until(lambda: len(self.events) >= before + count)
        return self.events[before:]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.admins[GROUP["id"]] = [admin(ANN, creator=True), admin(BOB)]
        server.admins[FORUM["id"]] = [admin(ANN, creator=True)]
        yield server


@pytest.fixture
async def room(fake: FakeTelegram) -> AsyncIterator[Harness]:
    harness = await Harness(fake).start()
    yield harness
    await harness.close()


def sent_params(fake: FakeTelegram) -> list[dict[str, Any]]:
    return [r.params for r in fake.calls("sendMessage")]


# ---- inbound ---------------------------------------------------------------------------


async def test_group_messages_reach_the_sink_with_room_author_and_role(room, fake):
    events = []
    for message_id, person in enumerate((ANN, BOB, CAROL), start=1):
        events += await room.receive(message_update(GROUP, person, "is it waterproof?", message_id=message_id))
    assert all(type(e) is MessageEvent and e.room == GROUP_ROOM and e.source == "tg" for e in events)
    assert [(e.author.id, e.author.name, e.author.role) for e in events] == [
        ("111", "Ann Lee", Role.HOST), ("222", "Bob", Role.MOD), ("333", "Carol", Role.VIEWER)]
    assert [e.event_id for e in events] == ["1", "2", "3"]
    assert len(fake.calls("getChatAdministrators")) == 1  # cached per chat


async def test_private_chats_are_viewers_without_an_admin_lookup(room, fake):
    (event,) = await room.receive(message_update(private_chat(ANN), ANN, "hello"))
    assert event.room.kind == "dm" and event.room.id == "111" and event.author.role is Role.VIEWER
    assert fake.calls("getChatAdministrators") == []


async def test_admin_lookup_failure_makes_a_viewer_not_a_crash(room, fake, caplog):
    unknown = group(-1999, "No admins for you")
    with caplog.at_level(logging.WARNING, logger="adapters.telegram.adapter"):
        (event,) = await room.receive(message_update(unknown, ANN, "hi"))
    assert event.author.role is Role.VIEWER
    assert "could not fetch the administrators of chat -1999" in caplog.text


async def test_command_with_wrong_arguments_still_reaches_the_runtime(room):
    (event,) = await room.receive(message_update(GROUP, CAROL, "/remind@liveroom_bot soon please"))
    assert isinstance(event, CommandEvent) and (event.command, event.args) == ("remind", "soon please")


async def test_ignored_updates_do_not_stop_the_next_ones(room):
    room.fake.push_update({"message": {"message_id": 5, "date": 1, "chat": GROUP, "from": BOB,
                                       "sticker": {"file_id": "x", "file_unique_id": "y", "type": "regular",
                                                   "width": 1, "height": 1, "is_animated": False,
                                                   "is_video": False}}})
    (event,) = await room.receive(message_update(GROUP, BOB, "after the sticker", message_id=6))
    assert event.event_id == "6" and len(room.events) == 1


# ---- outbound --------------------------------------------------------------------------


async def test_send_quotes_the_question_in_its_forum_topic(room, fake):
    message_id = await room.adapter.send(Reply(room=TOPIC_ROOM, text="About 10 hours.", reply_to="77"))
    (params,) = sent_params(fake)
    assert params["chat_id"] == -1002 and params["message_thread_id"] == 42
    assert params["reply_parameters"] == {"message_id": 77, "allow_sending_without_reply": True}
    assert message_id == str(fake.sent[0]["message_id"])


async def test_a_long_reply_arrives_in_parts_of_at_most_4096(room, fake):
    text = " ".join(f"w{i:04d}" for i in range(1667))[:10_000]
    message_id = await room.adapter.send(Reply(room=GROUP_ROOM, text=text, reply_to="9", feedback=True))
    params = sent_params(fake)
    assert len(params) == 3 and all(len(p["text"]) <= 4096 for p in params)
    assert " ".join(p["text"] for p in params) == text
    assert [p.get("reply_parameters", {}).get("message_id") for p in params] == [9, None, None]
    assert message_id == str(fake.sent[0]["message_id"])
    # The last part carries the buttons, keyed by the first part's id; no edit is needed.
    assert "reply_markup" not in params[0] and "reply_markup" not in params[1]
    buttons = params[2]["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"fb:+1:{message_id}", f"fb:-1:{message_id}"]
    assert fake.calls("editMessageReplyMarkup") == []


async def test_feedback_buttons_then_a_click_becomes_a_feedback_event(room, fake):
    message_id = await room.adapter.send(Reply(room=GROUP_ROOM, text="About 10 hours.", feedback=True))
    (edit,) = fake.calls("editMessageReplyMarkup")
    assert edit.params["message_id"] == int(message_id)
    data = [b["callback_data"] for b in edit.params["reply_markup"]["inline_keyboard"][0]]
    assert data == [f"fb:+1:{message_id}", f"fb:-1:{message_id}"]
    (event,) = await room.receive({"callback_query": {
        "id": "cb-1", "from": CAROL, "chat_instance": "1", "data": data[1], "message": fake.sent[0]}})
    assert isinstance(event, FeedbackEvent)
    assert (event.target, event.value, event.author.id, event.room.id) == (message_id, -1, "333", "-1001")
    await until(lambda: fake.calls("answerCallbackQuery"))
    assert fake.calls("answerCallbackQuery")[0].params["callback_query_id"] == "cb-1"


async def test_ephemeral_goes_private_or_falls_back_to_the_group(room, fake):
    ann, carol = User("telegram", "111", "Ann Lee"), User("telegram", "333", "Carol")
    fake.private_blocked.add(333)  # Carol never started the bot
    await room.adapter.send(Reply(room=GROUP_ROOM, text="only for Ann", reply_to="3", ephemeral=True, to_user=ann))
    await room.adapter.send(Reply(room=GROUP_ROOM, text="for Carol", reply_to="4", ephemeral=True, to_user=carol))
    await room.adapter.send(Reply(room=GROUP_ROOM, text="Carol again", ephemeral=True, to_user=carol))
    targets = [(p["chat_id"], p["text"], p.get("reply_parameters")) for p in sent_params(fake)]
    assert targets == [
        (111, "only for Ann", None),
        (333, "for Carol", None),  # refused: 403
        (-1001, "for Carol", {"message_id": 4, "allow_sending_without_reply": True}),
        (-1001, "Carol again", None),  # no second private attempt
    ]


async def test_mentions_notify_by_user_id(room, fake):
    bob = User("telegram", "222", "Bob")
    await room.adapter.send(Reply(room=GROUP_ROOM, text="@Bob see above", mentions=(bob,)))
    (entity,) = sent_params(fake)[0]["entities"]
    assert entity["type"] == "text_mention" and entity["user"]["id"] == 222
    assert (entity["offset"], entity["length"]) == (0, 4)


# ---- rate limits -----------------------------------------------------------------------


def assert_within_budgets(times: list[float], per_minute: int) -> None:
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= 0.95 for gap in gaps), gaps  # 1 a second (50 ms of HTTP jitter allowed)
    assert all(sum(1 for t in times if start <= t < start + 60) <= per_minute for start in times)


async def test_fifty_replies_in_a_second_respect_the_chat_budgets(room, fake):
    replies = [Reply(room=GROUP_ROOM, text=f"answer {i}") for i in range(50)]
    sends = []
    for reply in replies:  # 50 replies arriving over one second
        sends.append(asyncio.create_task(room.adapter.send(reply)))
        await asyncio.sleep(0.02)
    ids = await asyncio.gather(*sends)
    times = [r.at for r in fake.calls("sendMessage")]
    assert_within_budgets(times, per_minute=20)
    assert 2 <= len(times) <= 3 and len(set(ids)) == len(times)  # queued replies were merged
    assert "\n".join(p["text"] for p in sent_params(fake)) == "\n".join(r.text for r in replies)


async def test_the_per_minute_budget_holds_replies_back(fake, monkeypatch):
    monkeypatch.setattr(telegram_adapter, "SHUTDOWN_GRACE", 0.2)
    harness = await Harness(fake, group_messages_per_minute=2).start()
    long_replies = [Reply(room=GROUP_ROOM, text=f"{i} " + "x" * 3000) for i in range(5)]  # too long to merge
    sends = [asyncio.create_task(harness.adapter.send(r)) for r in long_replies]
    await asyncio.sleep(2.5)
    times = [r.at for r in fake.calls("sendMessage")]
    assert len(times) == 2
    assert_within_budgets(times, per_minute=2)
    await harness.close()  # the rest is still waiting for its minute: released, not sent
    results = await asyncio.wait_for(asyncio.gather(*sends), 5)
    assert results[2:] == [None, None, None] and all(results[:2])


# ---- lifecycle -------------------------------------------------------------------------


async def test_commands_are_published_when_the_bot_connects(fake):
    harness = Harness(fake)
    specs = [CommandSpec("help", "Show the commands you can use", (Param("command", required=False),)),
             CommandSpec("announce", "Post an announcement", (Param("text", rest=True),), role=Role.HOST)]
    await harness.adapter.register_commands(specs)  # before run(), as the runtime does
    await harness.start()
    try:
        calls = [c.params for c in fake.calls("setMyCommands")]
        assert [c["scope"]["type"] for c in calls] == ["default", "all_chat_administrators"]
        assert calls[0]["commands"] == [{"command": "help", "description": "Show the commands you can use"}]
        assert [c["command"] for c in calls[1]["commands"]] == ["help", "announce"]
    finally:
        await harness.close()


async def test_a_rejected_token_is_a_clear_adapter_error(fake):
    adapter = TelegramAdapter("999:WRONG-TOKEN", base_url=fake.base_url)
    with pytest.raises(AdapterError) as caught:
        await asyncio.wait_for(adapter.run(), 10)
    message = str(caught.value)
    assert "rejected the bot token" in message and "401" in message and "TELEGRAM_TOKEN" in message
    assert "WRONG-TOKEN" not in message and caught.value.__suppress_context__
    assert [r.method for r in fake.requests] == ["getMe"]


@pytest.mark.parametrize("mode, failures", [("502", 2), ("drop", 1)])
async def test_a_reconnect_loses_no_update(room, fake, mode, failures):
    fake.fail_get_updates(failures, mode)  # the batch below is lost in flight, then fetched again
    fake.push_update(message_update(GROUP, CAROL, "first", message_id=1))
    fake.push_update(message_update(GROUP, CAROL, "second", message_id=2))
    await until(lambda: len(room.events) >= 2, timeout=10)
    (event,) = await room.receive(message_update(GROUP, CAROL, "third", message_id=3))
    assert [e.text for e in room.events] == ["first", "second", "third"]  # each exactly once, in order
    offsets = [r.params.get("offset") for r in fake.calls("getUpdates")]
    assert offsets.count(offsets[1]) >= failures + 1  # the same offset was asked again after the failures


async def test_webhook_mode_without_the_webhook_extra_says_so(fake):
    adapter = TelegramAdapter(fake.token, base_url=fake.base_url, mode="webhook",
                              webhook_url="https://example.org/telegram", webhook_port=0)
    with pytest.raises(AdapterError, match="webhook"):
        await asyncio.wait_for(adapter.run(), 10)


def test_configuration_errors_are_caught_at_construction():
    with pytest.raises(AdapterError, match="token is empty"):
        TelegramAdapter("")
    with pytest.raises(AdapterError, match="webhook_url"):
        TelegramAdapter("1:x", mode="webhook")
