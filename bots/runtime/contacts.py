"""Who runs each room, and which adapter reaches them: one place for every feature.

Product suggestions, traffic notices, review whispers and scheduled notices all
tell "the host" something privately. Each feature used to remember the host from
the events it happened to see, four ways. The router now shows every event
(commands included) to one `RoomContacts`; features ask it.

- the **host**: the last person with the host role who wrote in the room (a chat
  line, a command), or whose speech was transcribed;
- the **staff**: the last mod or host active there (who gets review whispers);
- the **place**: the room and adapter of the first event seen, so a notice can
  go out even before the host has said anything.

Also the (de)serialisation of users and rooms for payloads that outlive the
process (scheduled jobs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from adapters.model import Event, Role, Room, User

__all__ = ["Contact", "RoomContacts", "user_payload", "user_from_payload", "room_payload", "room_from_payload"]


@dataclass(frozen=True, slots=True)
class Contact:
    """A person, the room they were seen in, and the adapter that reaches them there."""

    user: User
    room: Room
    source: str


class RoomContacts:
    """Per room: the host, the active staff member and where the room is reached."""

    def __init__(self) -> None:
        self._hosts: dict[str, Contact] = {}
        self._staff: dict[str, Contact] = {}
        self._places: dict[str, tuple[Room, str]] = {}

    def observe(self, event: Event) -> None:
        key = event.room.key
        self._places.setdefault(key, (event.room, event.source))
        if event.kind not in ("chat", "transcript", "command"):
            return
        role = event.author.role
        contact = Contact(event.author, event.room, event.source)
        if role >= Role.MOD:
            self._staff[key] = contact
        if role >= Role.HOST or event.kind == "transcript":  # whoever's speech is transcribed is the host
            self._hosts[key] = contact

    def host(self, room_key: str) -> Contact | None:
        return self._hosts.get(room_key)

    def staff(self, room_key: str) -> Contact | None:
        return self._staff.get(room_key)

    def place(self, room_key: str) -> tuple[Room, str] | None:
        """The room and the adapter of the first event seen in it."""
        return self._places.get(room_key)


def user_payload(user: User) -> dict[str, str]:
    return {"platform": user.platform, "id": user.id, "name": user.name, "role": user.role.label}


def user_from_payload(data: Mapping[str, Any]) -> User:
    return User(data["platform"], data["id"], data.get("name", ""), Role.parse(data.get("role", "viewer")))


def room_payload(room: Room) -> dict[str, str]:
    return {"platform": room.platform, "id": room.id, "kind": room.kind, "name": room.name}


def room_from_payload(data: Mapping[str, Any]) -> Room:
    return Room(data["platform"], data["id"], data.get("kind", "group"), data.get("name", ""))
