from dataclasses import FrozenInstanceError

import pytest

from adapters.model import (
    CommandEvent,
    MemberEvent,
    MessageEvent,
    Reply,
    Role,
    Room,
    TranscriptEvent,
    User,
)


def test_session_key_is_platform_and_room_id():
    room = Room("telegram", "-1001234567890", kind="group")
    assert room.key == "telegram:-1001234567890"
    assert User("discord", "123456789012345678", "ann").key == "discord:123456789012345678"


def test_roles_are_ordered_and_parse_with_clear_errors():
    assert Role.VIEWER < Role.MOD < Role.HOST
    assert Role.parse(" Host ") is Role.HOST
    with pytest.raises(ValueError, match="allowed: viewer, mod, host"):
        Role.parse("admin")


def test_event_kinds_name_what_is_stored():
    room, user = Room("console", "r"), User("console", "u", "u")
    common = dict(event_id="1", room=room, author=user)
    assert MessageEvent(text="hi", **common).kind == "chat"
    assert TranscriptEvent(text="hi", **common).kind == "transcript"
    assert CommandEvent(text="/help", command="help", **common).kind == "command"
    assert MemberEvent(joined=True, **common).kind == "join"
    assert MemberEvent(joined=False, **common).kind == "leave"
    assert isinstance(TranscriptEvent(text="x", **common), MessageEvent)


def test_events_are_immutable_and_flags_accumulate():
    event = MessageEvent(event_id="1", room=Room("c", "r"), author=User("c", "u", "u"), text="hi")
    with pytest.raises(FrozenInstanceError):
        event.text = "changed"  # type: ignore[misc]
    flagged = event.with_flags("truncated").with_flags("spam")
    assert flagged.flags == {"truncated", "spam"} and event.flags == frozenset()
    assert flagged.ts.tzinfo is not None


def test_reply_defaults_are_public():
    reply = Reply(room=Room("c", "r"), text="ok")
    assert reply.ephemeral is False and reply.reply_to is None
