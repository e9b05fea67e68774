"""Pure translation of Discord gateway payloads (recorded JSON shaped like Discord's documented payloads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.commands import CommandSpec, Param, bind_options
from adapters.discord.translate import (
    Context,
    Ignored,
    RolePolicy,
    StaticDirectory,
    command_payload,
    render_outgoing_mentions,
    to_event,
)
from adapters.model import CommandEvent, FeedbackEvent, MemberEvent, MessageEvent, Role, User

PAYLOADS = Path(__file__).parent / "payloads"
BOT_ID = "900000000000000001"


def load(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ctx() -> Context:
    directory = StaticDirectory.from_guilds(load("guild_create"))
    return Context(source="dc", bot_id=BOT_ID, directory=directory,
                   policy=RolePolicy.from_names(("Host", "Streamer", "Owner"), ("Moderator", "Mod")))


def test_guild_message(ctx: Context) -> None:
    event = to_event("MESSAGE_CREATE", load("message_guild"), ctx)
    assert isinstance(event, MessageEvent) and not isinstance(event, CommandEvent)
    assert event.event_id == "1236000000000000001"
    assert (event.room.id, event.room.kind, event.room.name, event.room.key) == (
        "800000000000000010", "channel", "live-chat", "discord:800000000000000010")
    assert (event.author.id, event.author.name, event.author.role) == ("700000000000000003", "Vic", Role.VIEWER)
    assert event.text == "How much is the blender?" and event.source == "dc" and event.reply_to is None
    assert event.ts.year >= 2022 and event.ts.tzinfo is not None  # from the snowflake


def test_reply_carries_the_referenced_message_and_the_nickname(ctx: Context) -> None:
    event = to_event("MESSAGE_CREATE", load("message_reply"), ctx)
    assert isinstance(event, MessageEvent)
    assert event.reply_to == "1236000000000000001"
    assert event.author.name == "vicky"


def test_mentions_become_names_in_text_and_ids_and_names_in_mentions(ctx: Context) -> None:
    event = to_event("MESSAGE_CREATE", load("message_mention"), ctx)
    assert isinstance(event, MessageEvent)
    assert event.text == "@liveroom what about @wenwen's order?"
    assert event.mentions == ("900000000000000001", "liveroom", "700000000000000004", "wenwen")


def test_thread_message_is_its_own_room(ctx: Context) -> None:
    event = to_event("MESSAGE_CREATE", load("message_thread"), ctx)
    assert isinstance(event, MessageEvent)
    assert (event.room.id, event.room.kind, event.room.name) == ("800000000000000011", "thread", "product questions")


def test_dm(ctx: Context) -> None:
    event = to_event("MESSAGE_CREATE", load("message_dm"), ctx)
    assert isinstance(event, MessageEvent)
    assert (event.room.id, event.room.kind, event.room.name) == ("800000000000000099", "dm", "DM with Vic")
    assert event.author.role is Role.VIEWER


@pytest.mark.parametrize("name, reason", [
    ("message_attachment_only", "attachments only"),
    ("message_sticker_only", "sticker_items only"),
    ("message_other_bot", "from bot or webhook"),
    ("message_own", "our own message"),
])
def test_messages_without_chat_are_ignored_with_a_reason(ctx: Context, name: str, reason: str) -> None:
    result = to_event("MESSAGE_CREATE", load(name), ctx)
    assert isinstance(result, Ignored) and reason in result.reason and not result.warn


def test_empty_content_with_nothing_else_hints_at_the_message_content_intent(ctx: Context) -> None:
    payload = {**load("message_guild"), "content": ""}
    result = to_event("MESSAGE_CREATE", payload, ctx)
    assert isinstance(result, Ignored) and result.warn and "Message Content intent" in result.reason


@pytest.mark.parametrize("t, name", [("MESSAGE_UPDATE", "message_update"), ("MESSAGE_DELETE", "message_delete")])
def test_edited_and_deleted_messages_are_ignored(ctx: Context, t: str, name: str) -> None:
    result = to_event(t, load(name), ctx)
    assert isinstance(result, Ignored)
    assert ("edited" if t == "MESSAGE_UPDATE" else "deleted") in result.reason


def test_system_messages_and_unknown_dispatches(ctx: Context) -> None:
    join_notice = {**load("message_guild"), "type": 7}
    assert isinstance(to_event("MESSAGE_CREATE", join_notice, ctx), Ignored)
    assert to_event("TYPING_START", {"channel_id": "1"}, ctx) is None


@pytest.mark.parametrize("name, role", [
    ("message_host_by_name", Role.HOST),  # role "STREAMER" matches "Streamer" case-insensitively
    ("message_mod_by_name", Role.MOD),  # role "mod"
    ("message_admin_by_permission", Role.HOST),  # Administrator
    ("message_mod_by_permission", Role.MOD),  # Manage Messages
    ("message_owner", Role.HOST),  # owns the guild
    ("message_guild", Role.VIEWER),
])
def test_roles_by_name_and_by_permission(ctx: Context, name: str, role: Role) -> None:
    event = to_event("MESSAGE_CREATE", load(name), ctx)
    assert isinstance(event, MessageEvent) and event.author.role is role


def test_typed_text_command(ctx: Context) -> None:
    event = to_event("MESSAGE_CREATE", load("message_host_by_name"), ctx)
    assert isinstance(event, CommandEvent)
    assert (event.command, event.args, event.options) == ("pin", "Welcome everyone", None)


def test_slash_command_with_typed_options(ctx: Context) -> None:
    payload = load("interaction_command")
    event = to_event("INTERACTION_CREATE", payload, ctx)
    assert isinstance(event, CommandEvent)
    assert event.command == "remind" and event.event_id == "1236000000000000100"
    assert event.options == {"minutes": 10, "price": 399.0, "loud": True, "text": "flash sale"}
    assert isinstance(event.options["price"], float)  # NUMBER sent as a JSON integer
    assert event.text == '/remind 10 399.0 true "flash sale"'
    assert (event.room.kind, event.room.name) == ("channel", "live-chat")
    assert (event.author.name, event.author.role) == ("Moritz", Role.MOD)
    assert event.raw is not None and "token" not in event.raw  # the interaction token stays out of the store
    spec = CommandSpec("remind", "remind", (Param("minutes", "int"), Param("price", "float"),
                                            Param("loud", "bool"), Param("text", rest=True)))
    assert bind_options(spec, event.options) == event.options


def test_slash_command_in_a_dm(ctx: Context) -> None:
    event = to_event("INTERACTION_CREATE", load("interaction_dm_command"), ctx)
    assert isinstance(event, CommandEvent)
    assert (event.command, event.text, event.options) == ("help", "/help", {})
    assert (event.room.kind, event.author.id, event.author.role) == ("dm", "700000000000000003", Role.VIEWER)


def test_other_interactions_are_ignored(ctx: Context) -> None:
    button = {**load("interaction_command"), "type": 3}
    assert isinstance(to_event("INTERACTION_CREATE", button, ctx), Ignored)


@pytest.mark.parametrize("name, value", [("reaction_thumbs_up", 1), ("reaction_thumbs_down_skin_tone", -1)])
def test_reaction_feedback_on_our_message(ctx: Context, name: str, value: int) -> None:
    event = to_event("MESSAGE_REACTION_ADD", load(name), ctx)
    assert isinstance(event, FeedbackEvent)
    assert (event.target, event.value, event.author.id) == ("1236000000000000300", value, "700000000000000003")


@pytest.mark.parametrize("change", [
    {"message_author_id": "700000000000000001"},  # someone else's message
    {"user_id": BOT_ID},  # the bot's own 👍 under its answer
    {"emoji": {"id": None, "name": "🔥"}},
])
def test_reactions_that_are_not_feedback(ctx: Context, change: dict[str, Any]) -> None:
    assert isinstance(to_event("MESSAGE_REACTION_ADD", {**load("reaction_thumbs_up"), **change}, ctx), Ignored)


def test_member_join_and_leave_in_the_system_channel(ctx: Context) -> None:
    joined = to_event("GUILD_MEMBER_ADD", load("member_add"), ctx)
    left = to_event("GUILD_MEMBER_REMOVE", load("member_remove"), ctx)
    assert isinstance(joined, MemberEvent) and isinstance(left, MemberEvent)
    assert (joined.kind, left.kind) == ("join", "leave")
    assert joined.room.id == left.room.id == "800000000000000012" and joined.room.name == "welcome"
    assert joined.author.name == "Newbie"


def test_command_payload_types_choices_and_required() -> None:
    spec = CommandSpec("ask", "Ask the knowledge base", (
        Param("topic", "str", "what about", choices=("price", "shipping")),
        Param("count", "int", required=False, default=1, choices=("1", "3")),
        Param("ratio", "float", required=False),
        Param("private", "bool", required=False, choices=("true",)),
    ))
    payload = command_payload(spec)
    assert payload["name"] == "ask" and payload["type"] == 1 and payload["description"] == "Ask the knowledge base"
    topic, count, ratio, private = payload["options"]
    assert (topic["type"], topic["required"], topic["description"]) == (3, True, "what about")
    assert topic["choices"] == [{"name": "price", "value": "price"}, {"name": "shipping", "value": "shipping"}]
    assert (count["type"], count["required"], count["choices"][1]) == (4, False, {"name": "3", "value": 3})
    assert (ratio["type"], ratio["description"]) == (10, "ratio")  # Discord needs a description
    assert private["type"] == 5 and "choices" not in private


def test_long_descriptions_are_cut_to_discords_limit() -> None:
    payload = command_payload(CommandSpec("x", "y" * 150))
    assert len(payload["description"]) == 100


def test_outgoing_mentions_use_ids_only_for_known_discord_users() -> None:
    users = (User("discord", "700000000000000004", "wen"), User("discord", "700000000000000003", "vic"),
             User("telegram", "42", "tg"), User("discord", "bot", "x"))
    text, ids = render_outgoing_mentions("@wen @wendy and @tg: see above", users)
    assert text == "<@700000000000000004> @wendy and @tg: see above"
    assert ids == (700000000000000004,)
