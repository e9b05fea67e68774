"""What the offline CLI commands (audience, traffic, evals) share: the store, the room to read,
and how figures are printed.

They run beside or after the bot, on its data directory, and never start it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import click

from brain.text.plural import counted

if TYPE_CHECKING:  # pragma: no cover
    from bots.cli.settings import Settings
    from brain.store.event_store import Store

__all__ = ["open_store", "pick_room", "resolve_room", "echo_figures"]


def echo_figures(result: dict[str, Any], as_json: bool) -> None:
    """An evaluation's figures: one JSON object, or one aligned ``key  value`` line each."""
    if as_json:
        click.echo(json.dumps(result))
        return
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        click.echo(f"{key:>{width}}  {value}")


@contextmanager
def open_store(settings: "Settings") -> Iterator["Store"]:
    """The bot's store for reading (the same database URL the bot uses)."""
    from bots.app import database_url
    from brain.store.event_store import Store, StoreError
    config = settings.config()
    if not config.database.url and not settings.data_dir.is_dir():
        raise click.ClickException(f"nothing is recorded yet: {settings.data_dir} does not exist "
                                   "(run the bot or `liveroom replay` first, or pass --data-dir)")
    try:
        store = Store(database_url(config, settings.data_dir))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


def pick_room(store: "Store", room: str | None) -> str:
    """The recorded room ``room`` names (`resolve_room`); without one, the only room there is."""
    if room is not None:
        return resolve_room(store, room)
    rooms = store.rooms()
    if not rooms:
        raise click.ClickException("nothing is recorded yet: run the bot or `liveroom replay` first")
    if len(rooms) > 1:
        listing = ", ".join(f"{key} ({counted(n, 'event')})" for key, n in rooms[:10])
        raise click.ClickException(f"several rooms are recorded; pick one with --room: {listing}")
    return rooms[0][0]


def resolve_room(store: "Store", room: str, *, new_ok: bool = False) -> str | None:
    """The recorded room key that ``room`` names: the key itself (``replay:smoothie-lab``), or a bare
    name (``smoothie-lab``, as the chat log's lines say it) when exactly one recorded room has it.

    Why: a replay records a log's ``"room": "smoothie-lab"`` as ``replay:smoothie-lab``, and people
    type the name they know. Several rooms of that name (one per platform) are listed, not guessed.
    With ``new_ok`` a name nothing matches gives None (the caller starts a room of that name).
    """
    rooms = store.rooms()
    known = [key for key, _ in rooms]
    if room in known:
        return room
    same = [key for key in known if key.partition(":")[2] == room]
    same = same or [key for key in known if key.partition(":")[2].casefold() == room.casefold()]
    if len(same) == 1:
        return same[0]
    if same:
        raise click.ClickException(f"--room {room!r} names {len(same)} recorded rooms: {', '.join(same)}; "
                                   "pass the one you mean")
    if new_ok:
        return None
    listing = ", ".join(f"{key} ({counted(n, 'event')})" for key, n in rooms[:10])
    hint = f" Rooms recorded: {listing}." if known else " Nothing is recorded yet."
    raise click.ClickException(f"no events for room {room!r} in {store.url.split('///')[-1]}.{hint}")
