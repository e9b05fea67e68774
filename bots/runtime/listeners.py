"""What a listener wants to hear, said once when it registers.

Before, every feature filtered every event by hand, and "is this viewer chat?"
was written five ways. A listener now names the event kinds, author roles and
rooms it wants (`Wants`); the router asks `Wants.matches` before calling it, so a
feature's ``on_event`` starts from events it can use. The common interests are
named here (`VIEWER_CHAT`, `CHAT`, ...) so a reader sees at registration what a
feature listens to.

Kinds are the events' own ``kind`` names (`adapters.model`): ``chat`` is a
person's chat line (never a transcript or a command), ``transcript`` is the
host's speech, ``join``/``leave``, ``feedback``, ``viewers``. Commands never
reach listeners: the router runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from adapters.model import Event, Role

__all__ = ["Wants", "ANY", "CHAT", "VIEWER_CHAT", "VIEWER_LINES", "CHAT_AND_SPEECH"]

@dataclass(frozen=True, slots=True)
class Wants:
    """Event kinds, author roles and room keys a listener wants; empty means any."""

    kinds: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()
    rooms: frozenset[str] = frozenset()

    @classmethod
    def of(cls, kinds: Iterable[str] = (), roles: Iterable[Role] = (), rooms: Iterable[str] = ()) -> "Wants":
        return cls(frozenset(kinds), frozenset(roles), frozenset(rooms))

    def matches(self, event: Event) -> bool:
        return ((not self.kinds or event.kind in self.kinds)
                and (not self.roles or event.author.role in self.roles)
                and (not self.rooms or event.room.key in self.rooms))



#: Every event (the default when a listener names nothing).
ANY = Wants()
#: Chat lines from anyone: not transcripts, not commands.
CHAT = Wants.of(kinds=("chat",))
#: What the bot answers: chat lines from people below the host (viewers and mods).
VIEWER_CHAT = Wants.of(kinds=("chat",), roles=(Role.VIEWER, Role.MOD))
#: Viewers' own chat lines (mods and hosts excluded): what the audience says.
VIEWER_LINES = Wants.of(kinds=("chat",), roles=(Role.VIEWER,))
#: Every chat line and the transcript of the host's speech.
CHAT_AND_SPEECH = Wants.of(kinds=("chat", "transcript"))
