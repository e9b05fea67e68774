"""The router: every event's path through the runtime.

record in the store → command? → role check → typed arguments → handler → reply,
or, for other events, the listeners (the brain's hooks: question answering,
the audience graph, the stream-content window), each isolated so one failing
listener neither stops the others nor the room.

Replies go back through the adapter named by the event's ``source``.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Iterable, Protocol

from adapters.base import Adapter, SinkUnavailable
from adapters.commands import ArgumentError, CommandSpec, bind_arguments, bind_options
from adapters.model import CommandEvent, Event, MessageEvent, Reply, Role, User
from bots.runtime.config import RolesSection
from bots.runtime.contacts import Contact, RoomContacts
from bots.runtime.listeners import ANY, Wants
from bots.runtime.registry import CommandRegistry, HandlerResult
from brain.store.event_store import Store, StoreError

__all__ = ["Router", "RouterStats", "CommandContext", "Listener", "kept_phrases"]

log = logging.getLogger(__name__)

Listener = Callable[[Event, "Router"], Awaitable[HandlerResult]]


class RoomCounts(Protocol):
    """What the router tells the metrics: one message in, one out, per room (O(1) each)."""

    def observe_in(self, room: str) -> None: ...

    def observe_out(self, room: str) -> None: ...


@dataclass(slots=True)
class RouterStats:
    """Counters a replay or a health check reports."""

    events: int = 0
    commands: int = 0
    replies: int = 0
    truncated: int = 0
    #: events whose text held characters no database can store (repaired at the adapter)
    repaired: int = 0
    #: events already stored (a log replayed again, a platform's redelivery): neither stored nor answered
    duplicates: int = 0
    #: events refused because the store cannot record (its writer stopped)
    refused: int = 0
    denied: int = 0
    unknown_commands: int = 0
    handler_errors: int = 0
    send_errors: int = 0
    dropped: int = 0


def kept_phrases(*, already_stored: int, repaired: int, set_aside: int, refused: int) -> list[str]:
    """What happened to events beyond handling them, as "N what" phrases (only those that happened),
    for ``/status`` and the replay/captions summaries: one wording wherever these counts are shown."""
    phrases = ((already_stored, "already stored (skipped, not answered again)"),
               (repaired, "repaired (unstorable characters replaced by U+FFFD)"),
               (set_aside, "set aside by the database (kept in table dead_letters)"),
               (refused, "refused (the store could not record them)"))
    return [f"{n} {what}" for n, what in phrases if n]


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What a handler knows about the call: the event, the caller's role, the runtime."""

    event: CommandEvent
    role: Role
    spec: CommandSpec
    router: "Router"

    def reply(self, text: str, *, ephemeral: bool | None = None) -> Reply:
        """A reply to the caller; host and mod commands answer privately by default."""
        private = self.spec.role > Role.VIEWER if ephemeral is None else ephemeral
        return Reply(room=self.event.room, text=text, reply_to=self.event.event_id,
                     ephemeral=private, to_user=self.event.author)


class Router:
    """Routes events from adapters to handlers and listeners, and replies back."""

    def __init__(self, *, store: Store, registry: CommandRegistry, roles: RolesSection | None = None,
                 max_message_chars: int = 2000, bot_name: str = "liveroom") -> None:
        self.store = store
        self.registry = registry
        self.roles = roles or RolesSection()
        self.max_message_chars = max_message_chars
        self.bot_name = bot_name
        self.adapters: dict[str, Adapter] = {}
        self.listeners: list[tuple[Listener, Wants]] = []
        #: Who runs each room and how to reach them, from every event (`bots.runtime.contacts`).
        self.contacts = RoomContacts()
        self.stats = RouterStats()
        #: Per-room message counts for /metrics (`bots.runtime.metrics.Metrics`), when the runtime keeps them.
        self.metrics: "RoomCounts | None" = None
        #: The reply route of a source no adapter here is named after, made on first use: a worker's
        #: scheduled message or moderator decision may go to a room before any event from it came in.
        self.route_for: Callable[[str], Adapter] | None = None

    def attach(self, adapter: Adapter) -> None:
        """Make ``adapter`` a reply route and send its events here."""
        if adapter.name in self.adapters:
            raise ValueError(f"two adapters are named {adapter.name!r}")
        self.adapters[adapter.name] = adapter
        adapter.bind(self.dispatch)

    def route(self, source: str) -> Adapter | None:
        """The adapter replies to ``source`` go through (made by `route_for` where there is none yet)."""
        adapter = self.adapters.get(source)
        if adapter is None and source and self.route_for is not None:
            adapter = self.route_for(source)
            self.attach(adapter)
        return adapter

    def add_listener(self, listener: Listener, wants: Wants = ANY) -> None:
        """Call ``listener`` for every non-command event that ``wants`` matches."""
        self.listeners.append((listener, wants))

    # ---- inbound ---------------------------------------------------------------------

    async def dispatch(self, event: Event) -> None:
        """Handle one event from an adapter. Never raises for bad input.

        An event the store already has is dropped here, before anything acts on
        it. When the store cannot record, the adapter gets `SinkUnavailable`: the
        bot stops accepting rather than answer what it can no longer keep (commands
        still run, so ``/status`` can say what is wrong).
        """
        claimed = self.store.claim_in_memory(event)
        if claimed is None:  # a room's first event, or a room too big to keep in memory: ask off the loop
            claimed = await asyncio.to_thread(self.store.claim, event)
        if not claimed:
            self.stats.duplicates += 1
            return
        event = self._normalise(event)
        try:
            self.store.record(event)
        except StoreError as exc:
            if not isinstance(event, CommandEvent):
                self.stats.refused += 1
                raise SinkUnavailable(f"not recording: {exc}") from exc
            # Commands still run, unrecorded: /status is how a moderator learns the bot is not recording.
            log.error("store: command /%s not recorded (%s)", event.command, exc)
        self.stats.events += 1
        self.contacts.observe(event)
        if "repaired" in event.flags:
            self.stats.repaired += 1
        if self.metrics is not None:
            self.metrics.observe_in(event.room.key)
        if isinstance(event, CommandEvent):
            await self._run_command(event)
            return
        await self.run_listeners(event)

    async def resume(self, event: Event) -> None:
        """Run the listeners on an event stored before but never worked on: a worker taking over a
        dead worker's rooms gives it the questions its predecessor recorded and never answered."""
        await self.run_listeners(self._normalise(event))

    async def run_listeners(self, event: Event) -> None:
        """Give a recorded, non-command event to the listeners (and deliver what they return)."""
        for listener, wants in self.listeners:
            if not wants.matches(event):
                continue
            try:
                result = await listener(event, self)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the room
                self.stats.handler_errors += 1
                log.exception("listener %s failed on event %s", getattr(listener, "__name__", listener),
                              event.event_id)
                continue
            await self._deliver(event, result, default_ephemeral=False)

    def _normalise(self, event: Event) -> Event:
        """Apply config roles and the message length limit; flag what was changed."""
        configured = self.roles.role_of(event.author.key)
        if configured > event.author.role:
            event = replace(event, author=replace(event.author, role=configured))
        if isinstance(event, MessageEvent) and len(event.text) > self.max_message_chars:
            self.stats.truncated += 1
            event = replace(event, text=event.text[: self.max_message_chars],
                            flags=event.flags | {"truncated"})
            if isinstance(event, CommandEvent):
                event = replace(event, args=event.args[: self.max_message_chars])
        return event

    async def _run_command(self, event: CommandEvent) -> None:
        self.stats.commands += 1
        found = self.registry.lookup(event.command)
        role = event.author.role
        if found is None:
            self.stats.unknown_commands += 1
            visible = [s.name for s in self.registry.specs(role)]
            close = difflib.get_close_matches(event.command, visible, n=1)
            hint = f" Did you mean /{close[0]}?" if close else ""
            await self._reply_to(event, f"Unknown command /{event.command}.{hint} Type /help for the list.")
            return
        spec, handler = found
        if role < spec.role:
            self.stats.denied += 1
            await self._reply_to(event, f"/{spec.name} is for the {spec.role.label}"
                                        f"{'s' if spec.role is Role.MOD else ''} only.", ephemeral=True)
            return
        try:
            kwargs = (bind_options(spec, event.options) if event.options is not None
                      else bind_arguments(spec, event.args))
        except ArgumentError as exc:
            await self._reply_to(event, f"/{spec.name}: {exc}", ephemeral=True)
            return
        context = CommandContext(event=event, role=role, spec=spec, router=self)
        try:
            result = await handler(context, **kwargs)
        except Exception:  # noqa: BLE001 - a failing command answers, it does not crash the bot
            self.stats.handler_errors += 1
            log.exception("command /%s failed (event %s)", spec.name, event.event_id)
            await self._reply_to(event, f"Sorry, /{spec.name} failed on our side; it has been logged.",
                                 ephemeral=True)
            return
        await self._deliver(event, result, default_ephemeral=spec.role > Role.VIEWER)

    # ---- outbound --------------------------------------------------------------------

    async def _reply_to(self, event: Event, text: str, *, ephemeral: bool = False) -> None:
        await self.send(Reply(room=event.room, text=text, reply_to=event.event_id,
                              ephemeral=ephemeral, to_user=event.author), source=event.source)

    async def _deliver(self, event: Event, result: HandlerResult, *, default_ephemeral: bool) -> None:
        for reply in self._as_replies(event, result, default_ephemeral):
            await self.send(reply, source=event.source)

    @staticmethod
    def _as_replies(event: Event, result: HandlerResult, ephemeral: bool) -> Iterable[Reply]:
        if result is None:
            return ()
        if isinstance(result, str):
            return (Reply(room=event.room, text=result, reply_to=event.event_id,
                          ephemeral=ephemeral, to_user=event.author),)
        if isinstance(result, Reply):
            return (result,)
        return tuple(result)

    async def whisper(self, contact: Contact, text: str, *, priority: int = 2) -> str | None:
        """Tell ``contact`` something privately in the room they were seen in; None if it did not go out."""
        reply = Reply(room=contact.room, text=text, ephemeral=True, to_user=contact.user, priority=priority)
        return await self.send(reply, source=contact.source)

    async def send(self, reply: Reply, *, source: str) -> str | None:
        """Send through the adapter named ``source`` and record it; None if sending failed."""
        adapter = self.route(source)
        if adapter is None:
            self.stats.send_errors += 1
            log.error("no adapter named %r to send a reply to room %s", source, reply.room.key)
            return None
        try:
            message_id = await adapter.send(reply)
        except Exception:  # noqa: BLE001 - a platform hiccup loses one reply, not the bot
            self.stats.send_errors += 1
            log.exception("adapter %s could not send a reply to %s", source, reply.room.key)
            return None
        if message_id is None:
            self.stats.dropped += 1  # the adapter's rate limiter judged it stale; nothing was posted
            return None
        self.stats.replies += 1
        if self.metrics is not None:
            self.metrics.observe_out(reply.room.key)
        try:
            self.store.record_reply(reply, message_id=message_id, source=source, bot=self.bot_user(reply))
        except StoreError as exc:  # it was posted: say so in the log, do not pretend it failed
            log.error("store: reply %s to %s not recorded (%s)", message_id, reply.room.key, exc)
        return message_id

    def bot_user(self, reply: Reply) -> User:
        return User(reply.room.platform, "bot", self.bot_name, Role.VIEWER)
