"""Events and replies as stream entries: versioned JSON, decoded strictly.

Every entry on a liveroom stream is one field ``e`` holding ``{"v": 1, "type": …, …}``.
Decoding checks the version and every field's type, so an entry written by a newer
liveroom, by hand, or cut short is refused with a reason (`WireError`) and moved to
the dead-letter stream, never half-understood. The platform's ``raw`` payload stays
in the ingress process: it can be large and holds nothing the brain reads.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import Any, Mapping

from adapters.model import (
    CommandEvent,
    Event,
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

__all__ = ["WIRE_VERSION", "WireError", "encode_event", "decode_event", "encode_reply", "decode_reply"]

#: The version this liveroom writes and reads. A reader refuses any other.
WIRE_VERSION = 1

_EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in (
    MessageEvent, TranscriptEvent, CommandEvent, MemberEvent, FeedbackEvent, ViewerCountEvent)}


class WireError(ValueError):
    """A stream entry this liveroom cannot read; the message says what is wrong with it."""


def _user(user: User) -> dict[str, Any]:
    return {"platform": user.platform, "id": user.id, "name": user.name, "role": user.role.label}


def _room(room: Room) -> dict[str, Any]:
    return {"platform": room.platform, "id": room.id, "kind": room.kind, "name": room.name}


def encode_event(event: Event) -> str:
    """One event as the JSON text of a stream entry."""
    body: dict[str, Any] = {"v": WIRE_VERSION, "type": type(event).__name__}
    for f in fields(event):
        value = getattr(event, f.name)
        if f.name == "raw":
            continue
        if isinstance(value, User):
            value = _user(value)
        elif isinstance(value, Room):
            value = _room(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        body[f.name] = value
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _load(text: str | bytes) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise WireError("not a JSON object")
    version = body.get("v")
    if version != WIRE_VERSION:
        raise WireError(f"wire version {version!r}; this liveroom reads version {WIRE_VERSION}")
    return body


def _str(body: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise WireError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _decode_user(value: Any, key: str) -> User:
    if not isinstance(value, dict):
        raise WireError(f"field {key!r} must be an object")
    try:
        role = Role.parse(_str(value, "role"))
    except ValueError as exc:
        raise WireError(f"field {key!r}: {exc}") from None
    return User(_str(value, "platform"), _str(value, "id"), _str(value, "name"), role)


def _decode_room(value: Any) -> Room:
    if not isinstance(value, dict):
        raise WireError("field 'room' must be an object")
    return Room(_str(value, "platform"), _str(value, "id"), _str(value, "kind"), _str(value, "name"))


def decode_event(text: str | bytes) -> Event:
    """The event in a stream entry; `WireError` says why one cannot be read."""
    body = _load(text)
    cls = _EVENT_TYPES.get(body.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise WireError(f"unknown event type {body.get('type')!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name == "raw" or f.name not in body:
            continue
        value = body[f.name]
        if f.name in ("author",):
            value = _decode_user(value, f.name)
        elif f.name == "room":
            value = _decode_room(value)
        elif f.name == "ts":
            try:
                value = datetime.fromisoformat(_str(body, "ts"))
            except ValueError as exc:
                raise WireError(f"field 'ts': {exc}") from None
            if value.tzinfo is None:
                raise WireError("field 'ts' has no time zone")
        elif f.name == "flags":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise WireError("field 'flags' must be a list of strings")
            value = frozenset(value)
        elif f.name == "mentions":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise WireError("field 'mentions' must be a list of strings")
            value = tuple(value)
        elif f.name == "options":
            if value is not None and not isinstance(value, dict):
                raise WireError("field 'options' must be an object")
        elif f.name in ("joined",):
            if not isinstance(value, bool):
                raise WireError(f"field {f.name!r} must be true or false")
        elif f.name in ("value", "count"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise WireError(f"field {f.name!r} must be an integer")
        elif f.name in ("reply_to",):
            value = _str(body, f.name, optional=True)
        else:
            value = _str(body, f.name)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise WireError(f"{cls.__name__}: {exc}") from None


def encode_reply(reply: Reply, *, reply_id: str, source: str) -> str:
    """A reply on its way to the ingress holding ``source``; ``reply_id`` makes posting it idempotent."""
    return json.dumps({
        "v": WIRE_VERSION, "type": "Reply", "id": reply_id, "source": source, "room": _room(reply.room),
        "text": reply.text, "reply_to": reply.reply_to, "ephemeral": reply.ephemeral,
        "to_user": _user(reply.to_user) if reply.to_user else None,
        "mentions": [_user(u) for u in reply.mentions], "priority": reply.priority, "feedback": reply.feedback,
    }, ensure_ascii=False, separators=(",", ":"))


def decode_reply(text: str | bytes) -> tuple[str, str, Reply]:
    """(reply id, source adapter, reply) from a reply entry."""
    body = _load(text)
    if body.get("type") != "Reply":
        raise WireError(f"expected a Reply, got {body.get('type')!r}")
    mentions = body.get("mentions") or []
    if not isinstance(mentions, list):
        raise WireError("field 'mentions' must be a list")
    priority = body.get("priority", 1)
    if not isinstance(priority, int):
        raise WireError("field 'priority' must be an integer")
    reply = Reply(room=_decode_room(body.get("room")), text=_str(body, "text"),
                  reply_to=_str(body, "reply_to", optional=True), ephemeral=bool(body.get("ephemeral")),
                  to_user=_decode_user(body["to_user"], "to_user") if body.get("to_user") else None,
                  mentions=tuple(_decode_user(u, "mentions") for u in mentions), priority=priority,
                  feedback=bool(body.get("feedback")))
    return _str(body, "id"), _str(body, "source"), reply
