"""The wire format of events and replies on Redis streams: what goes in comes out; anything else is refused
with a reason (and goes to the dead-letter stream)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from adapters.model import (
    CommandEvent,
    FeedbackEvent,
    MemberEvent,
    MessageEvent,
    Reply,
    Role,
    Room,
    TranscriptEvent,
    User,
    ViewerCountEvent,
)
from bots.distributed.wire import WireError, decode_event, decode_reply, encode_event, encode_reply

ROOM = Room("telegram", "-1001", kind="group", name="Live room")
HOST = User("telegram", "7", "Lin", Role.HOST)
TS = datetime(2026, 12, 7, 12, 0, 1, 250000, tzinfo=timezone.utc)
COMMON = dict(room=ROOM, author=HOST, ts=TS, source="telegram", flags=frozenset({"truncated"}))

EVENTS = [
    MessageEvent(event_id="1", text="这个能用冷冻水果吗? 🍓", mentions=("ann",), reply_to="0", **COMMON),
    TranscriptEvent(event_id="2", text="Now the mango.", **COMMON),
    CommandEvent(event_id="3", text="/pin mini", command="pin", args="mini", options={"product": "mini"}, **COMMON),
    MemberEvent(event_id="4", joined=False, **COMMON),
    FeedbackEvent(event_id="5", target="1000", value=-1, **COMMON),
    ViewerCountEvent(event_id="6", count=1234, **COMMON),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_kind_comes_out_as_it_went_in(event):
    assert decode_event(encode_event(event)) == event


def test_the_platform_payload_stays_behind():
    event = MessageEvent(event_id="1", text="hi", raw={"huge": "x" * 10_000}, **COMMON)
    assert "huge" not in encode_event(event) and decode_event(encode_event(event)).raw is None


def test_a_reply_comes_out_with_its_id_and_route():
    reply = Reply(room=ROOM, text="349 元", reply_to="1", ephemeral=True, to_user=HOST, mentions=(HOST,),
                  priority=2, feedback=True)
    assert decode_reply(encode_reply(reply, reply_id="r1", source="telegram")) == ("r1", "telegram", reply)


@pytest.mark.parametrize("entry, reason", [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"v": 2, "type": "MessageEvent"}', "wire version 2; this liveroom reads version 1"),
    ('{"type": "MessageEvent"}', "wire version None"),
    ('{"v": 1, "type": "Telepathy"}', "unknown event type 'Telepathy'"),
])
def test_what_cannot_be_read_says_why(entry, reason):
    with pytest.raises(WireError, match=reason.replace("(", r"\(").replace("?", r"\?")):
        decode_event(entry)


def _body(**changes):
    body = json.loads(encode_event(EVENTS[0]))
    body.update(changes)
    return json.dumps(body)


@pytest.mark.parametrize("changes, reason", [
    ({"text": 5}, "field 'text' must be a string"),
    ({"ts": "yesterday"}, "field 'ts'"),
    ({"ts": "2026-12-07T12:00:00"}, "no time zone"),
    ({"author": {"platform": "t", "id": "1", "name": "x", "role": "king"}}, "unknown role 'king'"),
    ({"flags": "truncated"}, "field 'flags' must be a list of strings"),
    ({"room": "-1001"}, "field 'room' must be an object"),
])
def test_a_field_of_the_wrong_shape_is_named(changes, reason):
    with pytest.raises(WireError, match=reason):
        decode_event(_body(**changes))


def test_a_missing_field_is_named():
    body = json.loads(encode_event(EVENTS[0]))
    del body["text"]
    with pytest.raises(WireError, match="text"):
        decode_event(json.dumps(body))
