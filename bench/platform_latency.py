"""Benchmark: the real Telegram and Discord adapters against the loopback fakes, inside a real runtime.

One process, one asyncio loop: `Runtime.build` + `Runtime.serve` (store, router, answering,
the embedded default brain: the packaged MiniLM, the shipped knowledge/ folder ingested and the
model warmed BEFORE anything is timed), with ``answers.hold = 0``. The adapters are the
production ones (python-telegram-bot, discord.py) talking real HTTP / WebSocket to
tests/fakes/telegram_server.py and tests/fakes/discord_server.py, which run in the same loop
(their CPU is part of every figure: a lower bound for the adapters).

1. Answer latency, per platform: a viewer question pushed at the fake (Telegram: an update
   handed to the pending getUpdates long poll; Discord: a MESSAGE_CREATE dispatched on the
   gateway socket) → the bot's matching post arriving at the fake (``sendMessage`` /
   ``POST /channels/{id}/messages``, the fake's own arrival time). Clock: ``time.monotonic``
   on both ends. Questions are realistic, distinct viewer questions (English and Chinese) about
   the shipped knowledge base, asked ONE AT A TIME (the next is pushed only after the previous
   answer arrived) and EACH IN ITS OWN ROOM (a fresh Telegram chat / Discord channel, warmed with
   one chatter line first), so neither the per-chat send budgets (Telegram 1/s, Discord 5 per
   5 s) nor burst merging nor the answer cache can shape the figure. The answers' status/model
   are read back from the store: only ``answered``/``extractive`` questions count as extractive;
   abstentions are reported apart. A second series re-asks questions verbatim (in new rooms):
   the answer-cache path.
2. Inbound capacity, per platform: N messages (90% chatter, 10% questions from the same list,
   200 viewers, one room) pushed as fast as the fake takes them (Telegram: all queued at once,
   returned 100 per getUpdates; Discord: one MESSAGE_CREATE frame after another). Measured:
   routed/s (a router listener timestamps every event), recorded/s (until `Store.flush`
   returns with every row committed; rows counted in the database), per-message delivery lag,
   and whether everything drained. Then a paced series: messages offered at a fixed rate for a
   few seconds; a rate is sustained when the backlog does not grow and the lag stays flat.

Prints the machine, the date and one table per measurement. ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bots.app import Runtime  # noqa: E402
from bots.runtime.config import Config  # noqa: E402
from brain.text.questions import detect_question  # noqa: E402

# ---- the room's words ------------------------------------------------------------------------

#: Distinct viewer questions about the shipped knowledge/ folder (course, products, shipping, FAQ).
QUESTIONS = [
    "How much does the 30-day blender course cost?",
    "what's the regular price of the smoothie course?",
    "Is there an early-bird price if I sign up now?",
    "Can I use frozen fruit in the BlendGo Pro?",
    "does the mini blender handle ice or frozen chunks?",
    "Do you ship to Singapore?",
    "how much is shipping to Hong Kong?",
    "Is shipping free in mainland China?",
    "How long does delivery take with SF Express?",
    "What's the coupon code?",
    "does SMOOTHIE20 work on top of the early bird price?",
    "Can I get a refund on the course?",
    "Can I return the blender if I don't like it?",
    "What is the warranty on the motor base?",
    "When does the spring cohort start?",
    "When is the enrolment deadline?",
    "What time are the live Q&A sessions?",
    "I missed the live Q&A, can I watch the replay later?",
    "Do I need a BlendGo blender to take the course?",
    "How many smoothies per charge with the Pro?",
    "how big is the battery of the BlendGo Mini?",
    "Is the course in English or Chinese?",
    "What's in the starter bundle?",
    "Does the travel lid fit the Mini?",
    "How long does the carry bag keep a smoothie cold?",
    "Is the 6-blade replacement in stock?",
    "Can I change my address after ordering?",
    "How do I contact you by email?",
    "what does the spare jar for the Pro cost?",
    "How much is the e-book with 100 recipes?",
    "how long does the Pro take to charge with the USB-C cable?",
    "Is the starter bundle cheaper than buying everything separately?",
    "Who is teaching the course?",
    "how long is each video lesson?",
    "What do we learn in week 3?",
    "Is the coupon valid on shipping costs?",
    "Where do you ship the blenders from?",
    "What happens if my blender arrives damaged?",
    "Can I switch to the next cohort if I can't make it?",
    "Is the spare jar compatible with the Mini?",
    "电子书多少钱？",
    "课程报名截止到什么时候？",
    "港澳台运费多少？",
    "BlendGo Mini 能打冰块吗？",
    "优惠码有效期到什么时候？",
    "回放多久能上传？",
    "30天搅拌机课程多少钱？",
    "早鸟价是多少？",
    "能用冷冻水果吗？",
    "充一次电能打几杯？",
    "包邮吗？",
    "多久发货？用什么快递？",
    "优惠码怎么用？",
    "课程可以退款吗？",
    "搅拌机可以退货吗？",
    "直播答疑是什么时候？",
    "课程什么时候开课？",
    "没有BlendGo搅拌机可以上课吗？",
]

#: Plain chatter: none of these is detected as a question (checked at start-up).
CHATTER = [
    "hi from Berlin!", "love this", "lol", "wow", "great tip, thanks", "that looks so good",
    "mango is my favourite", "just joined", "hello everyone", "my blender is way louder than that",
    "the colour is amazing", "ordered one yesterday", "good evening from Singapore", "nice",
    "this is my third live this week", "haha", "the green one looks tasty", "I'm making one right now",
    "主播好！", "哈哈哈", "已下单", "谢谢主播", "好漂亮的颜色", "刚来", "太好喝了吧", "支持一下",
    "我家也有一个", "晚上好", "学到了", "芒果最好吃",
]


def message_mix(n: int, rng: random.Random, question_share: float = 0.10) -> list[str]:
    return [rng.choice(QUESTIONS) if rng.random() < question_share else rng.choice(CHATTER) for _ in range(n)]


def check_words() -> None:
    not_questions = [q for q in QUESTIONS if detect_question(q) is None]
    questions = [c for c in CHATTER if detect_question(c) is not None]
    if not_questions or questions:
        raise SystemExit(f"word lists are wrong: not detected {not_questions}, detected {questions}")


# ---- numbers ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Percentile with linear interpolation (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return (f"machine: {platform.machine()}, {cpu}, {os.cpu_count()} cores{mem}; {platform.python_implementation()} "
            f"{platform.python_version()}; {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")


# ---- one platform room harness ---------------------------------------------------------------


@dataclass
class Post:
    room: str  # the platform's chat / channel id, as a string
    reply_to: str | None
    at: float
    text: str


class Platform:
    """A real runtime serving one real adapter against its fake; subclasses know the platform."""

    name = "?"

    def __init__(self, config: Config, data_dir: Path) -> None:
        self.runtime = Runtime.build(config, data_dir)
        self.routed: dict[tuple[str, str], float] = {}  # (room key, event id) → monotonic
        self.watch: set[str] = set()  # room keys whose events are timestamped
        self.counts: dict[str, int] = {}  # room key → events routed there while watched
        self._seen = 0

    async def _listener(self, event: Any, _router: Any) -> None:
        key = event.room.key
        if key in self.watch:
            self.routed[(key, event.event_id)] = time.monotonic()
            self.counts[key] = self.counts.get(key, 0) + 1

    async def start(self) -> None:
        t0 = time.monotonic()
        summary = await self.runtime.brain.ready()  # model + knowledge base, before any timing
        self.brain_seconds = time.monotonic() - t0
        self.chunks = len(self.runtime.brain.kb) if self.runtime.brain.kb is not None else 0
        del summary
        self.runtime.router.add_listener(self._listener)
        await self._start_fake()
        self.serving = asyncio.create_task(self.runtime.serve([self.adapter], handle_signals=False))
        await self._connected()

    async def stop(self) -> None:
        # Post what answering holds (follow-ups wait 10 s) while the adapter is still connected:
        # Runtime.serve drains answering only after the adapters have stopped.
        if self.runtime.answering is not None:
            await self.runtime.answering.drain(timeout=30)
        await self.adapter.stop()
        await asyncio.wait_for(self.serving, 60)
        await self._stop_fake()
        self.runtime.close()

    def room_key(self, room: str) -> str:
        return f"{self.name}:{room}"

    def new_posts(self) -> list[Post]:
        """Bot posts that arrived at the fake since the last call."""
        raise NotImplementedError

    async def push(self, room: str, user: int, text: str) -> tuple[str, float]:
        """Deliver one chat message; (its event id, monotonic time it was handed to the fake)."""
        raise NotImplementedError

    def fresh_room(self) -> str:
        raise NotImplementedError

    def backlog(self) -> int:
        """Messages the fake holds that the adapter has not taken yet (Telegram only)."""
        return 0

    def outbox_pending(self) -> int:
        return self.adapter._outbox.pending()  # noqa: SLF001 - read-only, for quiescence

    async def wait_routed(self, room: str, event_id: str, timeout: float = 10.0) -> float:
        key = (self.room_key(room), event_id)
        async with asyncio.timeout(timeout):
            while key not in self.routed:
                await asyncio.sleep(0.002)
        return self.routed[key]

    async def quiet(self, timeout: float = 60.0) -> None:
        """Wait until answering has nothing queued or in hand and the outbox is empty."""
        answering = self.runtime.answering
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = answering is not None and ((answering._queue is not None and not answering._queue.empty())  # noqa: SLF001
                                              or answering._busy)  # noqa: SLF001
            if not busy and self.outbox_pending() == 0 and self.backlog() == 0:
                return
            await asyncio.sleep(0.05)


class TelegramPlatform(Platform):
    name = "telegram"

    async def _start_fake(self) -> None:
        from fakes.telegram_server import FakeTelegram, admin, user

        from adapters.telegram import TelegramAdapter

        self._user, self._admin = user, admin
        self.host = user(11, "Hana")
        self.fake = FakeTelegram()
        await self.fake.__aenter__()
        self.adapter = TelegramAdapter(self.fake.token, base_url=self.fake.base_url,
                                       base_file_url=self.fake.base_file_url)  # production poll timeout
        self._rooms = iter(range(-1001000000001, -1002000000000, -1))
        self._ids: dict[str, Any] = {}
        self._users: dict[int, dict[str, Any]] = {}

    async def _connected(self) -> None:
        async with asyncio.timeout(15):
            while not self.fake.calls("getUpdates"):
                await asyncio.sleep(0.01)

    async def _stop_fake(self) -> None:
        await self.fake.__aexit__(None, None, None)

    def fresh_room(self) -> str:
        chat = next(self._rooms)
        self.fake.admins[chat] = [self._admin(self.host, creator=True)]
        return str(chat)

    def _person(self, uid: int) -> dict[str, Any]:
        if uid not in self._users:
            self._users[uid] = self._user(uid, f"viewer{uid}")
        return self._users[uid]

    async def push(self, room: str, user: int, text: str) -> tuple[str, float]:
        return self.push_now(room, user, text)

    def push_now(self, room: str, user: int, text: str) -> tuple[str, float]:
        from fakes.telegram_server import group, message_update

        ids = self._ids.setdefault(room, iter(range(1, 10_000_000)))
        message_id = next(ids)
        at = time.monotonic()
        self.fake.push_update(message_update(group(int(room)), self._person(user), text, message_id=message_id))
        return str(message_id), at

    def backlog(self) -> int:
        return self.fake.pending_updates

    def new_posts(self) -> list[Post]:
        out = []
        requests = self.fake.requests
        while self._seen < len(requests):
            r = requests[self._seen]
            self._seen += 1
            if r.method == "sendMessage":
                ref = (r.params.get("reply_parameters") or {}).get("message_id")
                out.append(Post(str(r.params["chat_id"]), None if ref is None else str(ref), r.at,
                                str(r.params.get("text", ""))))
        return out


DISCORD_EPOCH_MS = 1420070400000


class DiscordPlatform(Platform):
    name = "discord"

    async def _start_fake(self) -> None:
        from fakes.discord_server import GUILD_ID, TOKEN, FakeDiscord, user_payload

        from adapters.discord import DiscordAdapter

        self._guild, self._user_payload = GUILD_ID, user_payload
        self.fake = FakeDiscord()
        await self.fake.__aenter__()
        self.adapter = DiscordAdapter(TOKEN, api_base=self.fake.api_base, gateway_url=self.fake.gateway_url)
        self._rooms = iter(range(810000000000000001, 820000000000000000))
        self._seq = 0
        self._last_ms = 0

    async def _connected(self) -> None:
        await self.fake.wait_sessions(1, timeout=20)

    async def _stop_fake(self) -> None:
        await self.fake.__aexit__(None, None, None)

    def fresh_room(self) -> str:
        return str(next(self._rooms))  # a guild channel the client's cache does not know: a plain channel room

    def _snowflake(self) -> str:
        """A message id whose timestamp is now (events' ts, and so burst windows, come from it)."""
        ms = int(time.time() * 1000)
        self._seq = self._seq + 1 if ms == self._last_ms else 0
        self._last_ms = ms
        return str(((ms - DISCORD_EPOCH_MS) << 22) | (self._seq & 0x3FFFFF))

    def payload(self, room: str, user: int, text: str) -> tuple[str, dict[str, Any]]:
        message_id = self._snowflake()
        uid = str(600000000000000000 + user)
        return message_id, {
            "id": message_id, "channel_id": room, "guild_id": self._guild, "type": 0, "content": text,
            "author": self._user_payload(uid, f"viewer{user}"), "member": {"roles": [], "nick": None},
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "tts": False,
            "mention_everyone": False, "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "edited_timestamp": None}

    async def push(self, room: str, user: int, text: str) -> tuple[str, float]:
        message_id, d = self.payload(room, user, text)
        at = time.monotonic()
        await self.fake.push_event("MESSAGE_CREATE", d)
        return message_id, at

    def new_posts(self) -> list[Post]:
        out = []
        requests = self.fake.requests
        while self._seen < len(requests):
            r = requests[self._seen]
            self._seen += 1
            if r.method == "POST" and r.path.startswith("/channels/") and r.path.endswith("/messages"):
                ref = ((r.json or {}).get("message_reference") or {}).get("message_id")
                out.append(Post(r.path.split("/")[2], None if ref is None else str(ref), r.at,
                                (r.json or {}).get("content", "")))
        return out


# ---- 1. answer latency -----------------------------------------------------------------------


@dataclass
class Asked:
    text: str
    room: str
    event_id: str
    pushed: float
    posted: float | None = None
    status: str = "?"
    model: str = "?"
    brain_ms: float | None = None
    routed: float | None = None

    @property
    def ms(self) -> float | None:
        return None if self.posted is None else (self.posted - self.pushed) * 1000

    @property
    def inbound_ms(self) -> float | None:
        return None if self.routed is None else (self.routed - self.pushed) * 1000

    @property
    def outbound_ms(self) -> float | None:
        return None if self.routed is None or self.posted is None else (self.posted - self.routed) * 1000


async def ask(p: Platform, text: str, user: int, timeout: float = 15.0) -> Asked:
    room = p.fresh_room()
    p.watch.add(p.room_key(room))
    warm_id, _ = await p.push(room, user + 1, random.choice(CHATTER))  # the room is alive (admins fetched)
    await p.wait_routed(room, warm_id)
    p.new_posts()
    event_id, pushed = await p.push(room, user, text)
    asked = Asked(text, room, event_id, pushed)
    deadline = time.monotonic() + timeout
    while asked.posted is None and time.monotonic() < deadline:
        for post in p.new_posts():
            if post.room == room and post.reply_to == event_id:
                asked.posted = post.at
        if asked.posted is None:
            await asyncio.sleep(0.002)
    asked.routed = p.routed.get((p.room_key(room), event_id))
    return asked


async def read_outcomes(p: Platform, asked: list[Asked]) -> None:
    """Status, model and brain latency of each question, as the answering pipeline recorded them."""
    by_key = {(p.room_key(a.room), a.event_id): a for a in asked}
    for _ in range(50):  # a question is recorded after its post (and Telegram's feedback buttons) completes
        await asyncio.to_thread(p.runtime.store.flush)
        rows = await asyncio.to_thread(p.runtime.store.iter_questions, limit=100_000)
        for row in rows:
            a = by_key.get((row["room"], row["event_id"]))
            if a is not None:
                a.status, a.model, a.brain_ms = row["status"], row["model"] or "-", row["latency_ms"]
        if all(a.status != "?" for a in asked if a.posted is not None):
            return
        await asyncio.sleep(0.1)


def latency_row(label: str, items: list[Asked]) -> list[Any]:
    ms = [a.ms for a in items if a.ms is not None]
    if not ms:
        return [label, 0, "-", "-", "-", "-", "-", "-", "-"]
    brain = [a.brain_ms for a in items if a.brain_ms is not None]
    inbound = [a.inbound_ms for a in items if a.inbound_ms is not None]
    outbound = [a.outbound_ms for a in items if a.outbound_ms is not None]
    return [label, len(ms), f"{pct(ms, 50):.1f}", f"{pct(ms, 95):.1f}", f"{pct(ms, 99):.1f}", f"{max(ms):.1f}",
            f"{pct(inbound, 50):.1f}", f"{pct(outbound, 50):.1f}", f"{pct(brain, 50):.1f}" if brain else "-"]


async def measure_latency(p: Platform, passes: int, repeats: int) -> dict[str, list[Asked]]:
    rng = random.Random(5)
    # warm-up (untimed): the adapter's first send, the HTTP connection pools, the first embedding call
    for text in ("is the lid dishwasher safe?", "哪里可以买到？"):
        await ask(p, text, 9000)
    await p.quiet()
    distinct: list[Asked] = []
    for i in range(passes):  # a later pass re-asks the same texts: those are cache hits ("other outcomes")
        order = list(QUESTIONS)
        rng.shuffle(order)
        for j, text in enumerate(order):
            distinct.append(await ask(p, text, 100 + j))
    await p.quiet()
    cached: list[Asked] = []
    await read_outcomes(p, distinct)
    answered_texts = [a.text for a in distinct if a.status == "answered" and a.model == "extractive"]
    for j, text in enumerate(rng.sample(answered_texts, min(repeats, len(answered_texts)))):
        cached.append(await ask(p, text, 500 + j))
    await p.quiet()
    await read_outcomes(p, cached)
    return {"distinct": distinct, "cached": cached}


# ---- 2. inbound capacity ---------------------------------------------------------------------


@dataclass
class Flow:
    label: str
    n: int
    offered: float | None  # msgs/s offered (None: as fast as possible)
    push_s: float = 0.0
    routed_s: float = 0.0
    recorded_s: float = 0.0
    rows: int = 0
    lags: list[float] = field(default_factory=list)
    backlog: list[tuple[float, int]] = field(default_factory=list)  # (t, pushed - routed)
    drained: bool = False
    answering: dict[str, int] = field(default_factory=dict)

    @property
    def routed_rate(self) -> float:
        return self.n / self.routed_s if self.routed_s else 0.0

    @property
    def recorded_rate(self) -> float:
        return self.n / self.recorded_s if self.recorded_s else 0.0

    def growth(self) -> float:
        """Backlog slope (messages/s) over the second half of the push phase (paced runs)."""
        pts = [(t, b) for t, b in self.backlog if self.push_s / 2 <= t <= self.push_s]
        if len(pts) < 3:
            return float("nan")
        mt = statistics.fmean(t for t, _ in pts)
        mb = statistics.fmean(b for _, b in pts)
        var = sum((t - mt) ** 2 for t, _ in pts)
        return sum((t - mt) * (b - mb) for t, b in pts) / var if var else float("nan")


async def flow(p: Platform, n: int, rate: float | None, seed: int, label: str) -> Flow:
    rng = random.Random(seed)
    texts = message_mix(n, rng)
    users = [rng.randrange(1000, 1200) for _ in range(n)]
    room = p.fresh_room()
    key = p.room_key(room)
    warm_id, _ = await p.push(room, 999, "hello")  # admins fetched, room known: not part of the figure
    p.watch.add(key)
    await p.wait_routed(room, warm_id)
    await p.quiet()
    before_answering = dict(p.runtime.answering.stats.as_dict()) if p.runtime.answering else {}
    result = Flow(label, n, rate)
    pushed: list[tuple[str, float]] = []
    done = asyncio.Event()
    t0 = time.monotonic()

    async def sample() -> None:
        while not done.is_set():
            routed = p.counts.get(key, 0) - 1  # minus the warm-up line
            result.backlog.append((time.monotonic() - t0, len(pushed) - routed))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    if rate is None:
        if isinstance(p, TelegramPlatform):
            for i in range(n):
                pushed.append(p.push_now(room, users[i], texts[i]))
        else:
            for i in range(n):
                pushed.append(await p.push(room, users[i], texts[i]))
    else:
        tick = 0.02
        i = 0
        while i < n:
            due = min(n, int((time.monotonic() - t0) * rate) + 1)
            while i < due:
                pushed.append(await p.push(room, users[i], texts[i]))
                i += 1
            await asyncio.sleep(tick)
    result.push_s = time.monotonic() - t0
    timeout = 30 + n / 200
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.counts.get(key, 0) - 1 >= n:
            break
        await asyncio.sleep(0.01)
    routed_at = [p.routed.get((key, eid)) for eid, _ in pushed]
    got = [t for t in routed_at if t is not None]
    result.routed_s = (max(got) - t0) if got else 0.0
    await asyncio.to_thread(p.runtime.store.flush)
    result.recorded_s = time.monotonic() - t0
    done.set()
    await sampler
    result.rows = await asyncio.to_thread(p.runtime.store.count, room=key, kind="chat") - 1
    result.lags = [(r - at) * 1000 for (_, at), r in zip(pushed, routed_at) if r is not None]
    await p.quiet(timeout=30)
    result.drained = len(got) == n and result.rows == n and p.backlog() == 0
    after = p.runtime.answering.stats.as_dict() if p.runtime.answering else {}
    result.answering = {k: after[k] - before_answering.get(k, 0) for k in after}
    for k in [k for k in p.routed if k[0] == key]:
        del p.routed[k]
    p.watch.discard(key)
    return result


# ---- driver ----------------------------------------------------------------------------------


def bench_config(data_dir: Path) -> Config:
    return Config.model_validate({
        "knowledge": {"path": str(ROOT / "knowledge")},
        "retrieval": {"embedder": "minilm"},
        "answers": {"hold": 0.0},
        "logging": {"file": None},
    })


async def run_platform(cls: type[Platform], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data_dir = tmp / cls.name
    p = cls(bench_config(data_dir), data_dir)
    await p.start()
    print(f"\n=== {cls.name}: brain ready in {p.brain_seconds:.1f} s ({p.chunks} chunks, MiniLM), adapter connected")
    out: dict[str, Any] = {"platform": cls.name}
    try:
        if args.part in ("latency", "all"):
            res = await measure_latency(p, args.passes, args.repeats)
            out["latency"] = res
            distinct = res["distinct"]
            extractive = [a for a in distinct if a.status == "answered" and a.model == "extractive"]
            abstained = [a for a in distinct if a.status == "abstained"]
            other = [a for a in distinct if a not in extractive and a not in abstained]
            lost = [a for a in distinct if a.ms is None]
            print(f"\n[{cls.name}] answer latency: push at the fake → the bot's post arriving at the fake (ms); "
                  f"questions asked one at a time, each in its own fresh room; hold = 0")
            rows = [latency_row("extractive answer (distinct questions)", extractive),
                    latency_row("abstention (distinct questions)", abstained),
                    latency_row("repeat question (answer cache hit)",
                                [a for a in res["cached"] if a.model == "cache"])]
            if other:
                rows.append(latency_row("other outcomes", other))
            print(table(["series", "n", "p50", "p95", "p99", "max", "in p50", "out p50", "brain p50"], rows))
            print("  in = push → routed by the runtime; out = routed → post at the fake (answering + adapter send); "
                  "brain = retrieval + extractive decision as recorded (excludes the query embedding)")
            if lost:
                print(f"  NO POST within the timeout for {len(lost)} question(s): {[a.text for a in lost][:5]}")
            if abstained:
                print(f"  abstained: {[a.text for a in abstained]}")
            if other:
                print(f"  other: {[(a.text, a.status, a.model) for a in other]}")
        if args.part in ("throughput", "all"):
            flows: list[Flow] = []
            for n in args.sizes:
                for r in range(args.runs):
                    flows.append(await flow(p, n, None, seed=1000 * n + r, label=f"burst {n:,}"))
            burst_rates = [f.routed_rate for f in flows if f.n == max(args.sizes)]
            capacity = statistics.median(burst_rates)
            for frac in args.fractions:
                rate = round(capacity * frac, -1)
                flows.append(await flow(p, int(rate * args.paced_seconds), rate, seed=int(rate),
                                        label=f"paced {frac:.0%} ({rate:.0f}/s)"))
            out["flows"] = flows
            print(f"\n[{cls.name}] inbound: 90% chatter + 10% questions, one room, 200 viewers")
            rows = []
            for f in flows:
                rows.append([f.label, f"{f.n:,}", f"{f.push_s:.2f}", f"{f.routed_s:.2f}", f"{f.routed_rate:,.0f}",
                             f"{f.recorded_rate:,.0f}", f"{f.rows:,}", f"{pct(f.lags, 50):.0f}", f"{pct(f.lags, 95):.0f}",
                             f"{f.lags[-1]:.0f}" if f.lags else "-", max((b for _, b in f.backlog), default=0),
                             f"{f.growth():+.0f}" if f.offered else "-", "yes" if f.drained else "NO",
                             f"{f.answering.get('questions', 0)}/{f.answering.get('answers', 0)}/"
                             f"{f.answering.get('merged', 0)}/{f.answering.get('cached', 0)}"])
            print(table(["run", "N", "push s", "routed s", "routed/s", "recorded/s", "rows", "lag p50 ms",
                         "lag p95 ms", "last lag ms", "max backlog", "backlog/s", "drained",
                         "q/ans/merged/cached"], rows))
            for n in args.sizes:
                rr = [f.routed_rate for f in flows if f.n == n and f.offered is None]
                rc = [f.recorded_rate for f in flows if f.n == n and f.offered is None]
                print(f"  burst {n:,}: median of {len(rr)}: routed {statistics.median(rr):,.0f}/s, "
                      f"recorded {statistics.median(rc):,.0f}/s (min {min(rr):,.0f}, max {max(rr):,.0f})")
        stats = p.runtime.router.stats
        print(f"  router: events {stats.events:,}, replies {stats.replies}, send errors {stats.send_errors}, "
              f"dropped {stats.dropped}, handler errors {stats.handler_errors}; answering "
              f"{p.runtime.answering.stats.as_dict() if p.runtime.answering else '-'}")
    finally:
        await p.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platform", choices=["telegram", "discord", "all"], default="all")
    parser.add_argument("--part", choices=["latency", "throughput", "all"], default="all")
    parser.add_argument("--passes", type=int, default=1,
                        help="passes over the question list (default 1; later passes are cache hits)")
    parser.add_argument("--repeats", type=int, default=20, help="verbatim repeats (cache hits) (default 20)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000],
                        help="N for the as-fast-as-possible runs (default 1000 5000 20000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per N (default 3)")
    parser.add_argument("--fractions", type=float, nargs="*", default=[0.5, 0.75, 1.0],
                        help="paced runs at these fractions of the measured burst rate (default 0.5 0.75 1.0)")
    parser.add_argument("--paced-seconds", type=float, default=5.0, help="length of a paced run (default 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 pass, 5 repeats, N=300, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.passes, args.repeats, args.sizes, args.runs, args.fractions, args.paced_seconds = 1, 5, [300], 1, [0.5], 2.0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    check_words()
    print(machine_line())
    print(f"questions: {len(QUESTIONS)} distinct ({sum(1 for q in QUESTIONS if detect_question(q).lang == 'zh')} "
          f"Chinese); knowledge: {ROOT / 'knowledge'}; answers.hold = 0")
    platforms = {"telegram": TelegramPlatform, "discord": DiscordPlatform}
    chosen = list(platforms) if args.platform == "all" else [args.platform]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="liveroom-platform-") as tmp:
        for name in chosen:
            asyncio.run(run_platform(platforms[name], args, Path(tmp)))
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
