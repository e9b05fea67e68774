"""Drivers that put each adapter in a room the contract suite can talk to.

A driver owns one adapter attached to a real runtime, injects what people say
the way its platform would deliver it, and reports what the bot posted, with
the time each message left. The suite in test_contract.py runs the same checks
through every driver.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adapters.console import ConsoleAdapter
from adapters.replay import ReplayAdapter


@dataclass
class Sent:
    """One message the bot posted: where, what, in reply to what, when."""

    room: str
    text: str
    reply_to: str | None
    at: float


class Driver:
    """Base: subclasses implement start, say, sent, stop."""

    name = "abstract"
    max_chars: int | None = None  # the platform's message length limit
    budget: tuple[int, float] | None = None  # at most count messages per seconds, per room
    supports_reconnect = False
    room = "room-1"

    def __init__(self, runtime: Any, tmp: Path) -> None:
        self.runtime = runtime
        self.tmp = tmp

    @property
    def room_key(self) -> str:
        """The session key of the room the driver talks in."""
        return f"{self.name}:{self.room}"

    async def start(self) -> None: ...

    async def say(self, text: str, *, user: str = "ann", role: str = "viewer") -> str:
        """Deliver one message from ``user``; returns its message id."""
        raise NotImplementedError

    async def sent(self) -> list[Sent]:
        """Everything the bot posted, once sending has stopped (a check that nothing else came needs this)."""
        raise NotImplementedError

    async def sent_so_far(self) -> list[Sent]:
        """What the bot posted up to now, without waiting for sending to stop: for polling until a message
        is there. Where `sent` does not wait, the same."""
        return await self.sent()

    async def reconnect(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None: ...

    async def routed(self, before: int, timeout: float = 10.0) -> None:
        """Wait until the runtime has routed an event beyond ``before`` (network adapters are async)."""
        async with asyncio.timeout(timeout):
            while self.runtime.router.stats.events <= before:
                await asyncio.sleep(0.005)


class ConsoleDriver(Driver):
    name = "console"

    async def start(self) -> None:
        self.out = io.StringIO()
        self.adapter = ConsoleAdapter(room=self.room, user="ann", stdin=io.StringIO(), stdout=self.out,
                                      prompt=False)
        self.runtime.router.attach(self.adapter)
        self._sent: list[Sent] = []
        original = self.adapter.send

        async def send(reply):  # record each message as it leaves, with its time
            self._sent.append(Sent(reply.room.key, reply.text, reply.reply_to, time.monotonic()))
            return await original(reply)

        self.adapter.send = send  # type: ignore[method-assign]
        emit = self.adapter.emit
        self.last_id = ""

        async def remember(event):  # the id the console gave the typed line
            self.last_id = event.event_id
            await emit(event)

        self.adapter.emit = remember  # type: ignore[method-assign]

    async def say(self, text: str, *, user: str = "ann", role: str = "viewer") -> str:
        await self.adapter.handle_line(f"/as {role} {user}")
        await self.adapter.handle_line(text)
        return self.last_id

    async def sent(self) -> list[Sent]:
        return list(self._sent)


class ReplayDriver(Driver):
    """Messages are written to a chat log; the log is replayed when the suite asks what was sent."""

    name = "replay"

    async def start(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.clock = datetime(2026, 11, 20, 20, 0, tzinfo=timezone(timedelta(hours=8)))
        self.adapter: ReplayAdapter | None = None

    async def say(self, text: str, *, user: str = "ann", role: str = "viewer") -> str:
        self.clock += timedelta(milliseconds=20)
        event_id = f"r{len(self.lines)}"
        self.lines.append({"id": event_id, "ts": self.clock.isoformat(), "user": user, "text": text,
                           "room": self.room, "role": role})
        return event_id

    async def sent(self) -> list[Sent]:
        if self.adapter is None:
            log = self.tmp / "contract.jsonl"
            log.write_text("".join(json.dumps(line) + "\n" for line in self.lines))  # ASCII: escapes survive
            self.adapter = ReplayAdapter(log, fast=True)
            self.runtime.router.attach(self.adapter)
            await asyncio.wait_for(self.adapter.run(), 30)
            if self.runtime.answering is not None:
                await self.runtime.answering.drain()
        return [Sent(r.room.key, r.text, r.reply_to, 0.0) for r in self.adapter.replies]


class DiscordDriver(Driver):
    """discord.py over real WebSocket/HTTP to the loopback fake gateway + REST."""

    name = "discord"
    max_chars = 2000
    budget = (5, 5.0)
    supports_reconnect = True

    async def start(self) -> None:
        from fakes.discord_server import (
            CHANNEL_ID,
            HOST_ID,
            HOST_ROLE_ID,
            MOD_ID,
            MOD_ROLE_ID,
            TOKEN,
            VIEWER_ID,
            FakeDiscord,
        )

        from adapters.discord import DiscordAdapter

        self.channel = CHANNEL_ID
        self.people = {"host": (HOST_ID, [HOST_ROLE_ID]), "mod": (MOD_ID, [MOD_ROLE_ID]), "viewer": (VIEWER_ID, [])}
        self.fake = FakeDiscord()
        await self.fake.__aenter__()
        self.adapter = DiscordAdapter(TOKEN, api_base=self.fake.api_base, gateway_url=self.fake.gateway_url,
                                      channel_budget=self.budget[0])
        self.runtime.router.attach(self.adapter)
        await self.adapter.register_commands(self.runtime.registry.specs())
        self.task = asyncio.create_task(self.adapter.run())
        self.sessions = 1
        await self.fake.wait_sessions(self.sessions)
        self.ids = iter(range(1, 1_000_000))

    async def say(self, text: str, *, user: str = "ann", role: str = "viewer") -> str:
        from fakes.discord_server import GUILD_ID, user_payload

        message_id = str(1250000000000000000 + next(self.ids))
        author, roles = self.people[role]
        before = self.runtime.router.stats.events
        await self.fake.push_event("MESSAGE_CREATE", {
            "id": message_id, "channel_id": self.channel, "guild_id": GUILD_ID, "type": 0, "content": text,
            "author": user_payload(author, user), "member": {"roles": roles, "nick": None}, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
            "tts": False, "mention_everyone": False, "timestamp": "2026-11-20T12:00:00+00:00",
            "edited_timestamp": None})
        await self.routed(before)
        return message_id

    async def sent(self) -> list[Sent]:
        await asyncio.sleep(0.2)  # let in-flight REST calls land
        return await self.sent_so_far()

    async def sent_so_far(self) -> list[Sent]:
        out = []
        for r in self.fake.posted(f"/channels/{self.channel}/messages"):
            reference = (r.json.get("message_reference") or {}).get("message_id")
            out.append(Sent(f"discord:{self.channel}", r.json.get("content", ""),
                            None if reference is None else str(reference), r.at))
        return out

    @property
    def room_key(self) -> str:
        return f"discord:{self.channel}"

    async def reconnect(self) -> None:
        await self.fake.drop(4000)
        self.sessions += 1
        await self.fake.wait_sessions(self.sessions)

    async def stop(self) -> None:
        await self.adapter.stop()
        await asyncio.wait_for(self.task, 10)
        await self.fake.__aexit__(None, None, None)


class TelegramDriver(Driver):
    """python-telegram-bot over real HTTP to the loopback Bot API fake (long polling)."""

    name = "telegram"
    max_chars = 4096
    budget = (1, 1.0)
    supports_reconnect = True
    chat_id = -100777

    async def start(self) -> None:
        from fakes.telegram_server import FakeTelegram, admin, user

        from adapters.telegram import TelegramAdapter

        self.people = {"host": user(11, "Hana"), "mod": user(12, "Moritz"), "viewer": user(13, "Vic")}
        self.fake = FakeTelegram()
        await self.fake.__aenter__()
        self.fake.admins[self.chat_id] = [admin(self.people["host"], creator=True), admin(self.people["mod"])]
        self.adapter = TelegramAdapter(self.fake.token, base_url=self.fake.base_url,
                                       base_file_url=self.fake.base_file_url, poll_timeout=1)
        self.runtime.router.attach(self.adapter)
        await self.adapter.register_commands(self.runtime.registry.specs())
        self.task = asyncio.create_task(self.adapter.run())
        async with asyncio.timeout(10):
            while not self.fake.calls("getUpdates"):
                await asyncio.sleep(0.01)
        self.ids = iter(range(1, 1_000_000))

    async def say(self, text: str, *, user: str = "ann", role: str = "viewer") -> str:
        from fakes.telegram_server import group, message_update

        message_id = next(self.ids)
        before = self.runtime.router.stats.events
        self.fake.push_update(message_update(group(self.chat_id), self.people[role], text, message_id=message_id))
        await self.routed(before)
        return str(message_id)

    async def sent(self) -> list[Sent]:
        # Parts of long replies are spaced by the chat's budget (1 a second): sending has stopped once no
        # message came for 1.5 s, counted from this call or from the last message, whichever is later
        # (as three quiet polls 0.5 s apart did, but without waiting out a whole poll past the quiet time).
        called = time.monotonic()
        while time.monotonic() - max([called, *(r.at for r in self.fake.calls("sendMessage"))]) < 1.5:
            await asyncio.sleep(0.05)
        return await self.sent_so_far()

    async def sent_so_far(self) -> list[Sent]:
        out = []
        for r in self.fake.calls("sendMessage"):
            reference = (r.params.get("reply_parameters") or {}).get("message_id")
            out.append(Sent(f"telegram:{r.params['chat_id']}", str(r.params.get("text", "")),
                            None if reference is None else str(reference), r.at))
        return out

    @property
    def room_key(self) -> str:
        return f"telegram:{self.chat_id}"

    async def reconnect(self) -> None:
        polls = len(self.fake.calls("getUpdates"))
        self.fake.fail_get_updates(2, "drop")
        async with asyncio.timeout(15):
            while len(self.fake.calls("getUpdates")) < polls + 3:
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.adapter.stop()
        await asyncio.wait_for(self.task, 15)
        await self.fake.__aexit__(None, None, None)
