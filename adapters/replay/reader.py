"""Parse a chat log in JSON Lines into events, line by line, never giving up on the file.

Each line is ``{"id", "ts", "user", "text", "room"}`` with optional
``"reply_to"``, ``"kind"`` (chat, transcript, join, leave), ``"role"``
(viewer, mod, host) and ``"mentions"`` (a list of names). ``ts`` is ISO 8601
with an offset. A line that breaks any rule (invalid UTF-8 or JSON, a missing
field, a naive or unparsable timestamp, a line longer than the limit) becomes
a `BadLine` with its number and the reason, and the rest of the file goes on.

Lines are read with a bounded ``readline`` so a pathological line (a 1 GB
line with no newline) costs a bounded amount of memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Iterator

from adapters.commands import parse_command
from adapters.model import (
    CommandEvent,
    Event,
    MemberEvent,
    MessageEvent,
    Role,
    Room,
    TimeWindow,
    TranscriptEvent,
    User,
)

__all__ = ["BadLine", "read_log", "parse_record", "PLATFORM"]

PLATFORM = "replay"
REQUIRED = ("id", "ts", "user", "text", "room")
KINDS = ("chat", "transcript", "join", "leave")
_SKIP_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not become an event, and why."""

    lineno: int
    reason: str


class _Invalid(ValueError):
    pass


def _field_str(record: dict, key: str) -> str:
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Invalid(f"field {key!r} must be a string")
    text = str(value)
    if not text.strip():
        raise _Invalid(f"field {key!r} is empty")
    return text


#: Said once, on the first line, when a file is one JSON array rather than JSON Lines.
ARRAY_HINT = ("the file looks like one JSON array; replay reads JSON Lines (one JSON object per line): "
              "convert it with  jq -c '.[]' FILE.json > FILE.jsonl")


def _parse_ts(value: object) -> datetime:
    if not isinstance(value, str):
        raise _Invalid("field 'ts' must be an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"field 'ts' is not ISO 8601: {value[:40]!r}") from None
    if ts.tzinfo is None:
        raise _Invalid("field 'ts' has no UTC offset")
    return ts


def parse_record(record: object, source: str, window: TimeWindow | None = None) -> Event:
    """One decoded JSON value → an event, or `_Invalid` with a one-line reason.

    With a ``window``, a timestamp too far from now is a reason too (a typo'd year).
    """
    if not isinstance(record, dict):
        raise _Invalid("line is not a JSON object")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise _Invalid(f"missing field(s): {', '.join(missing)}")
    event_id = _field_str(record, "id")
    user_name = _field_str(record, "user")
    room_id = _field_str(record, "room")
    text = record["text"]
    if not isinstance(text, str):
        raise _Invalid("field 'text' must be a string")
    ts = _parse_ts(record["ts"])
    if window is not None and (problem := window.problem(ts)) is not None:
        raise _Invalid(problem)
    kind = record.get("kind", "chat")
    if kind not in KINDS:
        raise _Invalid(f"field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    default_role = Role.HOST if kind == "transcript" else Role.VIEWER
    try:
        role = Role.parse(record["role"]) if "role" in record else default_role
    except (ValueError, AttributeError) as exc:
        raise _Invalid(f"field 'role': {exc}") from None
    reply_to = record.get("reply_to")
    if reply_to is not None:
        reply_to = _field_str(record, "reply_to")
    mentions = record.get("mentions") or ()
    if not isinstance(mentions, (list, tuple)) or not all(isinstance(m, str) for m in mentions):
        raise _Invalid("field 'mentions' must be a list of strings")

    room = Room(PLATFORM, room_id, kind="replay", name=room_id)
    author = User(PLATFORM, user_name, user_name, role)
    common = dict(event_id=event_id, room=room, author=author, ts=ts, source=source)
    if kind in ("join", "leave"):
        return MemberEvent(joined=kind == "join", **common)
    if kind == "transcript":
        return TranscriptEvent(text=text, reply_to=reply_to, mentions=tuple(mentions), **common)
    parsed = parse_command(text)
    if parsed is not None:
        return CommandEvent(text=text, command=parsed[0], args=parsed[1], reply_to=reply_to,
                            mentions=tuple(mentions), **common)
    return MessageEvent(text=text, reply_to=reply_to, mentions=tuple(mentions), **common)


def read_log(stream: BinaryIO, *, source: str = PLATFORM, max_line_bytes: int = 65536,
             window: TimeWindow | None = None) -> Iterator[Event | BadLine]:
    """Yield an `Event` or a `BadLine` for every non-blank line of a binary stream."""
    lineno = 0
    seen_content = False
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        lineno += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            size = len(line)
            while True:  # discard the rest of the oversized line in bounded chunks
                rest = stream.readline(_SKIP_CHUNK)
                size += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield BadLine(lineno, f"line is {size} bytes, over the {max_line_bytes}-byte limit")
            continue
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadLine(lineno, f"invalid UTF-8 at byte {exc.start}")
            continue
        if not seen_content and text.lstrip().startswith("["):
            yield BadLine(lineno, ARRAY_HINT)
            seen_content = True
            continue
        seen_content = True
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield BadLine(lineno, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        try:
            yield parse_record(record, source, window)
        except _Invalid as exc:
            yield BadLine(lineno, str(exc))
