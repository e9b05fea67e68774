"""The console room: a live room in a terminal, with no tokens and no servers.

You type as a viewer. Lines of the form ``/as host [name]`` (or ``mod``,
``viewer``) switch who you are, so host and moderator commands can be tried;
``/say <text>`` speaks as the host on stream (a transcript line); ``/react +1``
(or ``-1``) gives the bot's last message a 👍 (or 👎), as a viewer's reaction
does on Discord or Telegram; ``/quit`` leaves. Everything else starting with
``/`` is a bot command. Bot replies print in the room.

Input comes from any text stream. The blocking reads happen on a daemon
thread, so a pending ``readline`` never keeps the process alive at shutdown;
tests drive the same adapter in-process with ``handle_line`` and read what it
printed (errbot's test backend, without a second implementation).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from adapters.base import Adapter
from adapters.commands import parse_command
from adapters.model import CommandEvent, FeedbackEvent, MessageEvent, Reply, Role, Room, TranscriptEvent, User

__all__ = ["ConsoleAdapter"]

META_HELP = (
    "console: /as host|mod|viewer [name] switches who you are; "
    "/say <text> speaks as the host on stream; /react +1|-1 rates the bot's last message; /quit leaves."
)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ConsoleAdapter(Adapter):
    """A terminal room. One person at the keyboard, any role they choose."""

    platform = "console"

    def __init__(
        self,
        *,
        room: str = "demo",
        user: str = "you",
        name: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        bot_name: str = "liveroom",
        prompt: bool = True,
    ) -> None:
        super().__init__(name)
        self.room = Room(self.platform, room, kind="console", name=room)
        self.user = User(self.platform, user, user, Role.VIEWER)
        self.bot_name = bot_name
        self._stdin = stdin if stdin is not None else sys.stdin
        self._stdout = stdout if stdout is not None else sys.stdout
        # A prompt only makes sense for a person at a terminal, not for piped input.
        self._prompt = prompt and _isatty(self._stdin)
        self._stopped = asyncio.Event()
        #: the id of the bot's last message everyone saw here: what ``/react`` rates
        self._last_sent: str | None = None

    # ---- input -------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def pump() -> None:
            # Daemon thread: a blocked readline must not hold the process at exit.
            try:
                for raw in iter(self._stdin.readline, ""):
                    loop.call_soon_threadsafe(lines.put_nowait, raw)
            except (OSError, ValueError):
                pass  # stdin closed under us
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
        self._print(f"{self.bot_name} is in room '{self.room.id}'. Type /help for commands. {META_HELP}")
        self._show_prompt()
        stop = asyncio.ensure_future(self._stopped.wait())
        try:
            while not self._stopped.is_set():
                get = asyncio.ensure_future(lines.get())
                done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                line = get.result()
                if line is None:
                    break
                if not await self.handle_line(line):
                    self.quit_requested = True
                    break
                self._show_prompt()
        finally:
            stop.cancel()

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False when the user asked to leave."""
        text = line.rstrip("\r\n")
        if not text.strip():
            return True
        stripped = text.strip()
        if stripped in ("/quit", "/exit"):
            return False
        if stripped == "/as" or stripped.startswith("/as "):
            self._switch_identity(stripped[3:].split())
            return True
        if stripped == "/react" or stripped.startswith("/react "):
            await self._react(stripped[6:].strip())
            return True
        event_id = self.next_id()
        if stripped.startswith("/say"):
            spoken = stripped[4:].strip()
            if spoken:
                host = User(self.platform, self.user.id, self.user.name, Role.HOST)
                await self.emit(TranscriptEvent(event_id=event_id, room=self.room, author=host,
                                                text=spoken, source=self.name))
            return True
        parsed = parse_command(stripped)
        if parsed is not None:
            command, args = parsed
            await self.emit(CommandEvent(event_id=event_id, room=self.room, author=self.user,
                                         text=stripped, command=command, args=args, source=self.name))
        else:
            await self.emit(MessageEvent(event_id=event_id, room=self.room, author=self.user,
                                         text=text, mentions=self._mentions(text), source=self.name))
        return True

    async def _react(self, value: str) -> None:
        """A 👍 (+1) or 👎 (-1) on the bot's last message in this room."""
        if value not in ("+1", "-1", "👍", "👎"):
            self._print("console: /react +1 or /react -1 (a 👍 or 👎 on the bot's last message)")
            return
        if self._last_sent is None:
            self._print("console: the bot has not said anything here yet")
            return
        await self.emit(FeedbackEvent(event_id=self.next_id("react"), room=self.room, author=self.user,
                                      target=self._last_sent, value=1 if value in ("+1", "👍") else -1,
                                      source=self.name))

    def _switch_identity(self, words: list[str]) -> None:
        if not words:
            self._print(f"you are {self.user.name} ({self.user.role.label}). {META_HELP}")
            return
        try:
            role = Role.parse(words[0])
        except ValueError as exc:
            self._print(f"console: {exc}")
            return
        name = words[1] if len(words) > 1 else self.user.name
        self.user = User(self.platform, name, name, role)
        self._print(f"you are now {name} ({role.label})")

    def _mentions(self, text: str) -> tuple[str, ...]:
        return tuple(w[1:].rstrip(",.!?:;") for w in text.split() if w.startswith("@") and len(w) > 1)

    # ---- output ------------------------------------------------------------------------

    async def send(self, reply: Reply) -> str:
        prefix = f"[{self.bot_name}]"
        if reply.ephemeral:
            prefix += " (only you see this)"
        self._print("\n".join(f"{prefix} {line}" if i == 0 else f"{' ' * len(prefix)} {line}"
                              for i, line in enumerate(reply.text.splitlines() or [""])))
        message_id = self.next_id("out")
        if not reply.ephemeral:
            self._last_sent = message_id
        return message_id

    async def stop(self) -> None:
        self._stopped.set()

    def _show_prompt(self) -> None:
        if self._prompt:
            self._stdout.write(f"{self.user.name} ({self.user.role.label})> ")
            self._stdout.flush()

    def _print(self, text: str) -> None:
        self._stdout.write(text + "\n")
        self._stdout.flush()
