"""The normalized event model every adapter speaks.

Platforms differ in everything (ids, roles, threads, slash commands); the brain
and the runtime must not. Each adapter translates its platform's payloads into
these types and renders `Reply` back. Events carry their own reply route
(``source``: the name of the adapter instance that produced them), so the
runtime never guesses where an answer goes.

Ids are strings everywhere: Telegram chat ids are negative integers and Discord
ids are 64-bit, and neither survives a round trip through JSON or a float.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

__all__ = [
    "Role",
    "User",
    "Room",
    "Event",
    "MessageEvent",
    "TranscriptEvent",
    "CommandEvent",
    "MemberEvent",
    "FeedbackEvent",
    "ViewerCountEvent",
    "Reply",
    "TimeWindow",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now; naive datetimes are never used in the model."""
    return datetime.now(timezone.utc)


class Role(enum.IntEnum):
    """What a person may do in a room. Higher includes lower: a host may run mod commands."""

    VIEWER = 0
    MOD = 1
    HOST = 2

    @classmethod
    def parse(cls, value: str) -> "Role":
        """Role from its lower-case name ('viewer', 'mod', 'host'), with a clear error."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            allowed = ", ".join(r.name.lower() for r in cls)
            raise ValueError(f"unknown role {value!r} (allowed: {allowed})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class User:
    """A person as one platform knows them. ``id`` is the platform's stable id."""

    platform: str
    id: str
    name: str
    role: Role = Role.VIEWER

    @property
    def key(self) -> str:
        """Identity across the store: ``platform:id``."""
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True)
class Room:
    """A place where people talk: a channel, a group, a thread, a DM, a replayed log."""

    platform: str
    id: str
    kind: str = "group"  # group | channel | thread | dm | console | replay
    name: str = ""

    @property
    def key(self) -> str:
        """The one session key per room (``platform:room_id``) used by every component."""
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened in a room.

    ``source`` names the adapter instance the event came through: replies go
    back through it. ``flags`` records what the runtime did to the event on the
    way in (for instance ``truncated``), so nothing is altered silently.
    """

    event_id: str
    room: Room
    author: User
    ts: datetime = field(default_factory=utcnow)
    source: str = ""
    flags: frozenset[str] = frozenset()
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    #: The name this event kind is stored under.
    kind = "event"

    def with_flags(self, *flags: str) -> "Event":
        return replace(self, flags=self.flags | frozenset(flags))


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEvent(Event):
    """A chat line. ``mentions`` are user ids or names the platform resolved."""

    text: str
    mentions: tuple[str, ...] = ()
    reply_to: str | None = None

    kind = "chat"


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptEvent(MessageEvent):
    """What the host says on stream (speech-to-text, captions), not typed chat."""

    kind = "transcript"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandEvent(MessageEvent):
    """A command: ``/name args``.

    ``args`` is the raw argument text of a text room; platforms with native
    typed options (Discord slash commands) put them in ``options`` instead.
    The runtime types either against the command's spec.
    """

    command: str
    args: str = ""
    options: Mapping[str, Any] | None = None

    kind = "command"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberEvent(Event):
    """Someone joined or left the room."""

    joined: bool

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "join" if self.joined else "leave"


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackEvent(Event):
    """A viewer's reaction to one of the bot's messages: +1 (👍) or -1 (👎).

    ``target`` is the platform id of the bot message reacted to.
    """

    target: str
    value: int

    kind = "feedback"


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewerCountEvent(Event):
    """How many people watch the stream now, as the platform or an OBS plugin reports it."""

    count: int

    kind = "viewers"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says. Sent through the adapter that delivered ``in_reply_to``.

    ``ephemeral`` asks the platform to show it only to the person who asked
    (Discord ephemeral responses, a Telegram DM); platforms that cannot do so
    post it normally. ``mentions`` are the people the text addresses as
    ``@name``, for platforms that turn mentions into notifications by id.
    """

    room: Room
    text: str
    reply_to: str | None = None
    ephemeral: bool = False
    to_user: User | None = None
    mentions: tuple[User, ...] = ()
    #: 0 = may be merged or dropped when stale (follow-ups, promotions), 1 = normal,
    #: 2 = never dropped (command responses, moderation).
    priority: int = 1
    #: Whether adapters offer 👍/👎 feedback on this message (answers to questions).
    feedback: bool = False


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far from now an event's own timestamp may lie to be believed.

    Files and HTTP posts carry their own times; a typo (year 0001, 9999, 2126)
    would otherwise become a ten-thousand-year traffic series. Events outside
    the window are refused at the edge with the reason; platform events carry
    the platform's clock and need no check.
    """

    past: timedelta = timedelta(days=3650)
    future: timedelta = timedelta(hours=24)

    def problem(self, ts: datetime, *, now: float | None = None) -> str | None:
        """Why ``ts`` is refused, or None when it lies inside the window (``now``: epoch seconds).

        Compared as epoch floats: cheap enough for every line of a replay, and
        free of the overflow datetime arithmetic meets near year 1 or 9999.
        """
        now = time.time() if now is None else now
        t = ts.timestamp()
        if t < now - self.past.total_seconds():
            return (f"timestamp {ts.isoformat()} is more than {self.past.days} days in the past "
                    f"(limits.event_time_past_days)")
        if t > now + self.future.total_seconds():
            return (f"timestamp {ts.isoformat()} is more than {_hours(self.future)} in the future "
                    f"(limits.event_time_future_hours)")
        return None


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hour{'s' if hours != 1 else ''}"
