"""Translation of recorded Bot API payloads (tests/adapters/telegram/payloads) and of replies."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.commands import CommandSpec
from adapters.model import CommandEvent, FeedbackEvent, MemberEvent, MessageEvent, Reply, Role, Room, User
from adapters.telegram.translate import (
    Destination,
    TranslateContext,
    bot_commands,
    callback_query_id,
    destination_of,
    dm_destination,
    feedback_data,
    feedback_markup,
    parse_feedback,
    plan_messages,
    roles_from_admins,
    to_events,
)

PAYLOADS = Path(__file__).parent / "payloads"
CTX = TranslateContext(source="tg", bot_username="liveroom_bot")
GROUP = "-1001234567890"
FORUM = "-1009876543210"


def load(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def only(name: str) -> Any:
    events = to_events(load(name), CTX)
    assert len(events) == 1, events
    return events[0]


# ---- inbound ---------------------------------------------------------------------------


def test_group_message():
    event = only("group_message")
    assert type(event) is MessageEvent
    assert event.room == Room("telegram", GROUP, kind="group", name="Gadget Live")
    assert event.author == User("telegram", "111", "Ann Lee", Role.VIEWER)
    assert event.event_id == "501" and event.source == "tg"
    assert event.text == "How long does the battery last?"
    assert event.ts == datetime(2024, 6, 10, 6, 13, 20, tzinfo=timezone.utc)
    assert event.reply_to is None and event.mentions == ()
    assert event.raw == load("group_message")


def test_reply_carries_the_quoted_message_id():
    event = only("reply")
    assert event.reply_to == "501" and event.author.name == "Bob"


def test_mentions_use_utf16_offsets():
    assert only("mention").mentions == ("bob_b", "carol_c")  # two emoji before: 4 UTF-16 units


def test_text_mention_gives_the_user_id():
    assert only("text_mention").mentions == ("222",)


def test_forum_topic_is_its_own_room_and_the_topic_root_is_not_a_reply():
    event = only("forum_topic")
    assert event.room == Room("telegram", f"{FORUM}/42", kind="thread", name="Course Live / Q&A")
    assert event.reply_to is None


def test_reply_inside_a_forum_topic():
    event = only("forum_topic_reply")
    assert event.room.id == f"{FORUM}/42" and event.room.kind == "thread"
    assert event.reply_to == "77"


def test_reply_thread_of_a_plain_supergroup_stays_in_the_chat():
    event = only("thread_reply_not_topic")
    assert event.room.id == GROUP and event.room.kind == "group" and event.reply_to == "501"


def test_private_chat_is_a_dm_room():
    event = only("private")
    assert event.room == Room("telegram", "111", kind="dm", name="Ann Lee")
    assert event.author.id == "111"


def test_command_with_bot_name_and_args():
    event = only("command_args")
    assert type(event) is CommandEvent
    assert (event.command, event.args) == ("ask", "how much is shipping?")
    assert event.text.startswith("/ask@Liveroom_Bot")


def test_command_token_ends_at_its_entity_even_before_a_newline():
    event = only("command_newline")
    assert (event.command, event.args) == ("price", "the blue one")


def test_command_for_another_bot_is_ignored(caplog):
    with caplog.at_level(logging.DEBUG, logger="adapters.telegram.translate"):
        assert to_events(load("command_other_bot"), CTX) == ()
    assert "addressed to another bot" in caplog.text


def test_command_without_a_known_bot_name_is_accepted():
    event = to_events(load("command_other_bot"), TranslateContext("tg"))[0]
    assert isinstance(event, CommandEvent) and event.command == "start"


def test_slash_text_without_a_bot_command_entity_is_plain_text():
    update = load("group_message")
    update["message"]["text"] = "/ask how much"
    assert type(to_events(update, CTX)[0]) is MessageEvent


@pytest.mark.parametrize("name, reason", [
    ("edited_message", "edited_message updates are not handled"),
    ("channel_post", "channel_post updates are not handled"),
    ("sticker", "no text or caption"),
    ("photo_no_caption", "no text or caption"),
    ("callback_other", "is not feedback"),
])
def test_ignored_updates_return_nothing_and_say_why(name, reason, caplog):
    with caplog.at_level(logging.DEBUG, logger="adapters.telegram.translate"):
        assert to_events(load(name), CTX) == ()
    assert reason in caplog.text


def test_photo_caption_is_the_text_with_its_entities():
    event = only("photo_caption")
    assert event.text == "does it come in @blue_shop colours?" and event.mentions == ("blue_shop",)


def test_new_members_join_and_bots_are_skipped():
    events = to_events(load("new_members"), CTX)
    assert [type(e) for e in events] == [MemberEvent, MemberEvent]
    assert [(e.author.id, e.author.name, e.joined, e.kind) for e in events] == [
        ("222", "Bob", True, "join"), ("333", "quiet_one", True, "join")]
    assert len({e.event_id for e in events}) == 2


def test_left_member():
    (event,) = to_events(load("left_member"), CTX)
    assert isinstance(event, MemberEvent) and not event.joined and event.kind == "leave"
    assert event.author.id == "222" and event.room.id == GROUP


def test_feedback_callback():
    event = only("callback_feedback")
    assert type(event) is FeedbackEvent
    assert (event.target, event.value, event.author.id) == ("1000", 1, "222")
    assert event.room.id == f"{FORUM}/42" and event.event_id == "4382bfdwdsb323b2d9"
    assert callback_query_id(load("callback_feedback")) == "4382bfdwdsb323b2d9"


def test_anonymous_admin_posts_as_the_group_and_is_a_moderator():
    event = only("anonymous_admin")
    assert event.author == User("telegram", GROUP, "Gadget Live", Role.MOD)


@pytest.mark.parametrize("update", [
    None, [], "text", {}, {"update_id": 1}, {"message": None}, {"message": {}},
    {"message": {"chat": "nope"}}, {"message": {"chat": {"id": "x", "type": "group"}}},
    {"message": {"chat": {"id": -1, "type": "group"}, "text": "hi"}},  # no sender, no id
    {"message": {"message_id": 1, "chat": {"id": -1, "type": "group"}, "from": {"id": True}, "text": "x"}},
    {"message": {"message_id": 1, "chat": {"id": -1, "type": "group"}, "from": {"id": 5}, "text": 7}},
    {"message": {"message_id": 1, "chat": {"id": -1, "type": "group"}, "from": {"id": 5}, "text": "/x",
                 "entities": [{"type": "bot_command", "offset": 0}], "date": "yesterday"}},
    {"message": {"message_id": 1, "chat": {"id": -1, "type": "group"}, "from": {"id": 5}, "text": "@a",
                 "entities": [{"type": "mention", "offset": 9, "length": 4}, "junk", {"type": "text_mention"}]}},
    {"message": {"message_id": 1, "chat": {"id": -1, "type": "group"}, "new_chat_members": "bob"}},
    {"message": {"message_id": 1, "chat": {"id": -1, "type": "group"}, "new_chat_members": [None, 3]}},
    {"callback_query": {"id": "1", "data": "fb:+1:12"}},  # no message, no sender
    {"callback_query": {"id": "1", "data": "fb:+2:12", "from": {"id": 5}}},
])
def test_invalid_or_missing_fields_never_crash(update):
    events = to_events(update, CTX)
    assert isinstance(events, tuple)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(message=st.dictionaries(st.sampled_from(["message_id", "chat", "from", "text", "entities", "date",
                                                "caption", "reply_to_message", "new_chat_members",
                                                "sender_chat", "is_topic_message", "message_thread_id"]),
                               _json, max_size=8))
def test_arbitrary_message_shapes_never_crash(message):
    to_events({"update_id": 1, "message": message}, CTX)
    to_events({"update_id": 2, "callback_query": {"id": "q", "data": "fb:-1:3", "message": message}}, CTX)


# ---- roles, feedback data, commands --------------------------------------------------


def test_roles_from_administrators():
    members = [{"status": "creator", "user": {"id": 1, "first_name": "Host"}},
               {"status": "administrator", "user": {"id": 2, "first_name": "Mod"}},
               {"status": "member", "user": {"id": 3, "first_name": "V"}}, {"status": "creator"}, None]
    assert roles_from_admins(members) == {"1": Role.HOST, "2": Role.MOD}


def test_feedback_data_round_trip_and_markup():
    assert feedback_data(1, "1000") == "fb:+1:1000" and feedback_data(-1, "7") == "fb:-1:7"
    assert parse_feedback("fb:+1:1000") == (1, "1000") and parse_feedback("fb:-1:7") == (-1, "7")
    for bad in ("fb:+2:1", "fb:+1:", "fb:+1:x", "xx:+1:1", None, 5):
        assert parse_feedback(bad) is None
    row = feedback_markup("1000")["inline_keyboard"][0]
    assert [(b["text"], b["callback_data"]) for b in row] == [("👍", "fb:+1:1000"), ("👎", "fb:-1:1000")]


def test_bot_commands_respect_telegram_limits_and_roles():
    specs = [CommandSpec("help", "Show   commands"), CommandSpec("announce", "x" * 300, role=Role.HOST),
             CommandSpec("status", "", role=Role.MOD)]
    assert bot_commands(specs, max_role=Role.VIEWER) == [("help", "Show commands")]
    pairs = dict(bot_commands(specs))
    assert len(pairs["announce"]) == 256 and pairs["announce"].endswith("…") and pairs["status"] == "status"


# ---- outbound --------------------------------------------------------------------------


def test_destinations():
    assert destination_of(Room("telegram", "-100123")) == Destination(-100123)
    assert destination_of(Room("telegram", "-100123/42", kind="thread")) == Destination(-100123, 42)
    assert Destination(111).is_private and not Destination(-5).is_private
    with pytest.raises(ValueError, match="not a Telegram room id"):
        destination_of(Room("telegram", "lobby"))
    assert dm_destination(User("telegram", "111", "Ann")) == Destination(111)
    assert dm_destination(User("console", "111", "Ann")) is None and dm_destination(None) is None


def test_plan_quotes_only_the_first_part_and_keeps_the_topic():
    reply = Reply(room=Room("telegram", "-100/42", kind="thread"), text=("word " * 2000).strip(), reply_to="77")
    parts = plan_messages(reply, Destination(-100, 42), quote=True)
    assert len(parts) == 3 and all(len(p.text) <= 4096 for p in parts)
    assert [p.reply_to for p in parts] == [77, None, None]
    assert {p.thread_id for p in parts} == {42} and {p.chat_id for p in parts} == {-100}
    assert plan_messages(reply, Destination(111), quote=False)[0].reply_to is None


def test_plan_links_mentions_by_user_id_in_utf16_units():
    bob = User("telegram", "222", "Bob Ray")
    reply = Reply(room=Room("telegram", "-100"), text="🎉 @Bob Ray see above", mentions=(bob,))
    (part,) = plan_messages(reply, Destination(-100), quote=False)
    (span,) = part.mentions
    assert (span.offset, span.length, span.user_id) == (3, 8, 222)
