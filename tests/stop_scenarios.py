"""Real `liveroom run` processes against a loopback platform server that is then broken, and their stop.

Shared by `tests/bots/test_stop_deadline.py` (the 5 s bound on every CI run) and
`bench/stop_deadline.py` (the stop times, before and after issue 19's fix). A scenario:

- killed: the server dies (listener closed, connections reset) a moment before SIGTERM;
- hanging: the server accepts requests and answers none, long polls and gateway included;
- reconnecting: the server has been gone for 4 s, so the bot is in its retry back-off;
- long-outage: gone for 40 s (the back-off has grown: 30 s for PTB, minutes for discord.py);
- second-signal: hanging, and a second SIGTERM 0.3 s after the first.

Each bot answers a command, receives one more line, then its server is broken and it gets SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes.discord_server import VIEWER_ID, FakeDiscord, message_payload  # noqa: E402
from fakes.telegram_server import FakeTelegram, group, message_update, user  # noqa: E402

__all__ = ["Telegram", "Discord", "Bot", "run_scenarios", "COMMAND", "LAST_LINE", "SCENARIOS"]

ROOT = Path(__file__).resolve().parents[1]

#: A command the bot answers without its knowledge base (no model, no index: quick to start), then a chat line.
COMMAND, LAST_LINE = "/help", "thanks, see you tonight"
#: Seconds between breaking the server and the signal; "reconnecting" leaves the bot in its back-off.
BROKEN_FOR = {"killed": 0.5, "hanging": 0.5, "reconnecting": 4.0, "second-signal": 0.5, "long-outage": 40.0}
SCENARIOS = tuple(BROKEN_FOR)


async def until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


class Loopback:
    """What every loopback server offers a scenario: start, die, stall, close."""

    fake: FakeTelegram | FakeDiscord

    async def start(self) -> None:
        await self.fake.__aenter__()

    async def kill(self) -> None:
        await self.fake.kill()

    async def hang(self) -> None:
        self.fake.hang()

    async def close(self) -> None:
        await self.fake.__aexit__(None, None, None)


class Telegram(Loopback):
    """A loopback Bot API server and what a bot against it needs."""

    name = "telegram"

    def __init__(self) -> None:
        self.fake = FakeTelegram()
        self._ids = iter(range(1, 1000))

    def adapter_config(self) -> dict[str, Any]:
        return {"telegram": {"enabled": True, "token": self.fake.token, "base_url": self.fake.base_url}}

    async def connected(self) -> None:
        await until(lambda: self.fake.calls("getUpdates"), "the first getUpdates")

    async def say(self, text: str) -> None:
        self.fake.push_update(message_update(group(-1001), user(100, "Vic"), text, message_id=next(self._ids)))

    def replied(self) -> bool:
        return bool(self.fake.sent)

    async def received_all(self) -> None:
        await until(lambda: self.fake.pending_updates == 0, "the bot to confirm its updates", timeout=15)


class Discord(Loopback):
    """A loopback Discord (REST and gateway) and what a bot against it needs."""

    name = "discord"

    def __init__(self) -> None:
        self.fake = FakeDiscord()

    def adapter_config(self) -> dict[str, Any]:
        return {"discord": {"enabled": True, "token": self.fake.token, "api_base": self.fake.api_base,
                            "gateway_url": self.fake.gateway_url}}

    async def connected(self) -> None:
        await self.fake.wait_sessions(1, timeout=60)

    async def say(self, text: str) -> None:
        await self.fake.push_event("MESSAGE_CREATE", message_payload(text, author=VIEWER_ID, name="vic", roles=()))

    def replied(self) -> bool:
        return bool(self.fake.posted())

    async def received_all(self) -> None:
        await asyncio.sleep(0.5)  # sent on the open gateway connection: the bot has it; give it time to record


@dataclass
class Bot:
    """One `liveroom run` process against its own loopback server, and how its stop went."""

    scenario: str
    server: Telegram | Discord
    home: Path
    code: Path = ROOT  #: the source tree the bot runs from (the bench's baseline: an older checkout)
    proc: subprocess.Popen[bytes] | None = None
    stopped_in: float | None = None
    log: list[str] = field(default_factory=list)

    def launch(self) -> None:
        self.home.mkdir(parents=True)
        config = self.home / "config.yaml"
        config.write_text(json.dumps({  # JSON is YAML
            "adapters": {"console": {"enabled": False}, **self.server.adapter_config()},
            "answers": {"enabled": False}, "products": {"enabled": False}, "schedule": {"enabled": False},
            "logging": {"level": "INFO"},
        }))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(self.code)}
        self.proc = subprocess.Popen([sys.executable, "-m", "bots.cli", "--config", str(config),
                                      "--data-dir", str(self.home / "d"), "run"], cwd=self.code, env=env,
                                     stdout=subprocess.DEVNULL, stderr=(self.home / "stderr.txt").open("wb"))

    async def break_server(self) -> None:
        if self.scenario == "hanging" or self.scenario == "second-signal":
            await self.server.hang()
        else:
            await self.server.kill()

    async def stop(self, *, second_after: float | None = None) -> None:
        assert self.proc is not None
        signalled = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        if second_after is not None:
            await asyncio.sleep(second_after)
            self.proc.send_signal(signal.SIGTERM)
        while self.proc.poll() is None and time.monotonic() - signalled < 20:
            await asyncio.sleep(0.02)
        self.stopped_in = time.monotonic() - signalled
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stored(self) -> list[tuple[str, str, str]]:
        with sqlite3.connect(self.home / "d" / "liveroom.db") as conn:
            return conn.execute("select direction, kind, text from events order by id").fetchall()

    def received(self) -> list[str]:
        """The texts of the stored inbound events, in order."""
        return [text for direction, _, text in self.stored() if direction == "in"]

    def sent_kinds(self) -> list[str]:
        """The kinds of the stored outbound events (``reply``), in order."""
        return [kind for direction, kind, _ in self.stored() if direction == "out"]

    def stderr(self) -> str:
        return (self.home / "stderr.txt").read_text(errors="replace")


async def run_scenarios(tmp_path: Path, platform: Callable[[], Telegram | Discord],
                        scenarios: list[str], *, code: Path = ROOT) -> list[Bot]:
    """Start one bot per scenario, side by side; answer a command, receive one more line, break, SIGTERM."""
    bots = [Bot(s, platform(), tmp_path / s, code) for s in scenarios]
    try:
        for bot in bots:
            await bot.server.start()
            bot.launch()
        for bot in bots:
            await bot.server.connected()
            await bot.server.say(COMMAND)
        for bot in bots:
            await until(bot.server.replied, f"{bot.scenario}: the reply to {COMMAND}")
            await bot.server.say(LAST_LINE)
        for bot in bots:
            await bot.server.received_all()
        await _each(bots, lambda bot: bot.break_server())
        await _each(bots, _stop_after_breaking)
        return bots
    finally:
        for bot in bots:
            if bot.proc is not None and bot.proc.poll() is None:
                bot.proc.kill()
                bot.proc.wait()
            if bot.scenario in ("hanging", "second-signal"):
                await bot.server.close()


async def _each(bots: list[Bot], step: Callable[[Bot], Awaitable[None]]) -> None:
    await asyncio.gather(*(step(bot) for bot in bots))


async def _stop_after_breaking(bot: Bot) -> None:
    await asyncio.sleep(BROKEN_FOR[bot.scenario])
    await bot.stop(second_after=0.3 if bot.scenario == "second-signal" else None)
