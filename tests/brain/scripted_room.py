"""A scripted stream written into a real store: the shared fixture of the session, insight and report tests.

Times are numbers of ``unit`` seconds after `T0` (``unit=60``: minutes), so a
test reads like the stream it describes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from adapters.model import CommandEvent, MessageEvent, Role, Room, TranscriptEvent, User
from brain.insights.sessions import SessionData, find_room_sessions, load_session
from brain.store.event_store import Store
from brain.store.question_rows import question_row

ROOM = Room("replay", "r1")
KEY = ROOM.key
T0 = datetime(2026, 1, 5, 20, 0, tzinfo=timezone.utc)
HOST = User("replay", "lin", "lin", Role.HOST)


class ScriptedRoom:
    """Writes one room's stream (commands, speech, chat, pins, handled questions) with increasing ids."""

    def __init__(self, store: Store, *, unit: float = 1.0) -> None:
        self.store = store
        self.unit = unit
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"e{self.n}"

    def at(self, t: float) -> datetime:
        return T0 + timedelta(seconds=t * self.unit)

    def live(self, t: float, action: str, who: User = HOST) -> None:
        self.store.record(CommandEvent(event_id=self._id(), room=ROOM, author=who, text=f"/live {action}",
                                       command="live", args=action, ts=self.at(t)))

    def say(self, t: float, text: str) -> None:
        self.store.record(TranscriptEvent(event_id=self._id(), room=ROOM, author=HOST, text=text, ts=self.at(t)))

    def talk(self, start: float, minutes: float, lines: list[str], every: float = 10.0) -> None:
        """The host speaks ``lines`` in turn, one every ``every`` seconds, for ``minutes``."""
        for i in range(int(minutes * 60 / every)):
            self.say(start + i * every / self.unit, lines[i % len(lines)])

    def chat(self, t: float, text: str = "hi", user: str = "ann", role: Role = Role.VIEWER) -> str:
        event_id = self._id()
        self.store.record(MessageEvent(event_id=event_id, room=ROOM, author=User("replay", user, user, role),
                                       text=text, ts=self.at(t)))
        return event_id

    def chatter(self, start: float, end: float, every: float = 1.0) -> None:
        t = start
        while t <= end:
            self.chat(t)
            t += every

    def pin(self, t: float, product: Any) -> None:
        """The host pinned ``product`` (anything with ``id`` and ``name``)."""
        self.store.record_pin(room=KEY, product_id=product.id, product_name=product.name, user_key=HOST.key,
                              event_id=None, ts=self.at(t).timestamp())

    def question(self, t: float, text: str, status: str, user: str = "ann", answer: str | None = None, *,
                 in_chat: bool = False) -> str:
        """A question the bot handled; ``in_chat`` also writes the viewer's chat line that asked it."""
        event_id = self.chat(t, text, user) if in_chat else self._id()
        self.store.record_question(question_row(
            room=KEY, event_id=event_id, user_key=f"replay:{user}", user_name=user, text=text, lang="en",
            status=status, answer=answer, sources=None, confidence=0.8, latency_ms=5.0, model="extractive",
            ts=self.at(t).timestamp()))
        return event_id

    def done(self) -> Store:
        assert self.store.flush(timeout=60)
        return self.store

    def sessions(self) -> list[SessionData]:
        self.done()
        return [load_session(self.store, KEY, s) for s in find_room_sessions(self.store, KEY)]

    def session(self) -> SessionData:
        (only,) = self.sessions()
        return only
