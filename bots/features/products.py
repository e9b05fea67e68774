"""Live product ranking in the room: the host's speech in, suggestions and pins out.

What arrives: transcript lines (replay, captions, the local feed endpoint), the
host's own chat lines and ``/topic``. Each goes into the room's content window
(`brain.products.content_window`); a flood of lines is ranked at most every
``rerank_interval`` seconds, with all the lines that arrived meanwhile embedded
in one call on the brain thread. The event loop only queues.

What goes out:

* ``/products [n]`` (host): the current top n with their reasons;
* ``/pin <product>`` (host): announces the product with price and link and
  records the pin (the ranking then lets it step back while it is on screen);
* ``/topic <text>`` (host): tells the ranking what the stream is about now;
* auto-suggest (``products.auto_suggest``): a whisper to the host when a new
  product takes the top with a margin;
* for viewers, through the answering pipeline's hook: "how much is this one?"
  is asked about the product of the moment, and a viewer who states a need
  gets the best-matching products with one-line reasons.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from adapters.commands import CommandSpec, Param
from adapters.model import Event, MessageEvent, Reply, Role, TranscriptEvent
from bots.runtime.brain_worker import BrainUnavailable, BrainWorker
from bots.runtime.config import ProductsSection
from bots.runtime.counters import Counters
from bots.runtime.listeners import CHAT_AND_SPEECH
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext
from brain.products.content_window import ContentWindow
from brain.products.ranking import (
    ProductRanker,
    RankedProduct,
    RankingSettings,
    RoomProducts,
    describe_product,
    detect_need,
    refers_to_current,
    resolve_reference,
)
from brain.store.question_rows import question_row
from brain.text.questions import Question, detect_question, language_of

if TYPE_CHECKING:  # pragma: no cover
    from bots.runtime.router import Router
    from brain.store.event_store import Store

__all__ = ["LiveProducts", "ProductsStats", "QuestionQueue", "PRODUCTS", "PIN", "TOPIC"]

log = logging.getLogger(__name__)

PRODUCTS = CommandSpec("products", "The products that fit what you are saying now, with reasons",
                       params=(Param("n", type="int", required=False, default=5, description="how many"),),
                       role=Role.HOST)
PIN = CommandSpec("pin", "Announce a product in the room with its price and link",
                  params=(Param("product", description="product id or name", rest=True),), role=Role.HOST)
TOPIC = CommandSpec("topic", "Tell the bot what the stream is about now (steers product suggestions)",
                    params=(Param("text", description="the topic", rest=True),), role=Role.HOST)

#: A /topic line counts as much as this many spoken lines.
_TOPIC_WEIGHT = 3.0
#: A viewer's earlier questions used to personalise recommendations.
_HISTORY = 5


class QuestionQueue(Protocol):
    """What products need of the answering feature (`bots.features.answering.Answering`): to see each
    question before it is queued, and to hand back the ones resolved here ("how much is this one?")."""

    def add_hook(self, hook: Callable[[MessageEvent, Question], Question | None]) -> None: ...

    def submit(self, event: MessageEvent, question: Question) -> None: ...

@dataclass(slots=True)
class ProductsStats(Counters):
    """Counters for replays and health checks."""

    lines: int = 0
    rankings: int = 0
    pins: int = 0
    suggestions: int = 0
    resolved: int = 0
    recommendations: int = 0
    top_changes: int = 0


@dataclass(frozen=True, slots=True)
class _Line:
    """A line of host speech waiting for the room's worker."""

    ts: float
    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class _Ask:
    """A viewer's message that needs the ranking as of its arrival ("this one", a stated need)."""

    event: MessageEvent
    question: Question
    need: bool


@dataclass(slots=True)
class _RoomQueue:
    """One room's work in arrival order, and the task draining it."""

    items: "asyncio.Queue[_Line | _Ask]"
    task: asyncio.Task[None] | None = None


def settings_from(section: ProductsSection) -> RankingSettings:
    return RankingSettings(window=section.window, half_life=section.half_life, max_lines=section.max_lines,
                           asked_boost=section.asked_boost, asked_half_life=section.asked_half_life,
                           pin_penalty=section.pin_penalty, pin_half_life=section.pin_half_life,
                           min_relevance=section.min_relevance)


class LiveProducts:
    """The room-facing product ranking: listener, commands and the answering hook."""

    def __init__(self, brain: BrainWorker, store: "Store", settings: ProductsSection) -> None:
        self.brain = brain
        self.store = store
        self.settings = settings
        self.ranking = settings_from(settings)
        self.stats = ProductsStats()
        self.ranker: ProductRanker | None = None
        self._kb_version = -1
        self._rooms: dict[str, RoomProducts] = {}
        self._pins_loaded: set[str] = set()
        self._queues: dict[str, _RoomQueue] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._router: Router | None = None
        self._answering: QuestionQueue | None = None
        #: every change of a room's top product: (room key, ts, product id); replays report it
        self.top_history: list[tuple[str, float, str]] = []

    # ---- wiring ----------------------------------------------------------------------

    def attach(self, router: "Router", registry: CommandRegistry, answering: "QuestionQueue | None") -> None:
        self._router = router
        self._answering = answering
        router.add_listener(self.on_event, CHAT_AND_SPEECH)
        registry.add(PRODUCTS, self._products_command)
        registry.add(PIN, self._pin_command)
        registry.add(TOPIC, self._topic_command)
        if answering is not None:
            answering.add_hook(self.question_hook)

    # ---- the catalog -----------------------------------------------------------------

    def _current_ranker(self) -> ProductRanker:
        """Brain thread: the ranker for the knowledge base as it is now (rebuilt after a reload)."""
        kb = self.brain.kb
        if kb is None:
            raise BrainUnavailable("the knowledge base is not loaded yet")
        if self.ranker is None or kb.version != self._kb_version:
            # The knowledge base has embedded every product already: the ranker reuses those vectors.
            ranker = ProductRanker.from_knowledge(kb, self.ranking, embedder=self.brain.embedder)
            if ranker.matcher.duplicates:
                log.warning("catalog: product ids given more than once (first kept): %s",
                            ", ".join(sorted(set(ranker.matcher.duplicates))[:10]))
            self.ranker = ranker
            self._kb_version = kb.version
            log.info("product ranking over %d products", len(ranker.matcher))
        return self.ranker

    async def _ready_ranker(self) -> ProductRanker:
        await self.brain.ready()
        return await self.brain.run(self._current_ranker)

    def _room(self, key: str) -> RoomProducts:
        """The room's state, created empty (no I/O: this runs on the event loop)."""
        room = self._rooms.get(key)
        if room is None:
            s = self.ranking
            room = self._rooms[key] = RoomProducts(window=ContentWindow(s.window, s.half_life, s.max_lines))
        return room

    async def _room_loaded(self, key: str) -> RoomProducts:
        """The room's state with its earlier pins read back from the store (once, off the loop)."""
        room = self._room(key)
        if key not in self._pins_loaded:
            self._pins_loaded.add(key)
            for pin in await asyncio.to_thread(self.store.iter_pins, room=key):
                pid = pin["product_id"]  # a pin made since start is newer than the stored ones
                room.pins[pid] = max(room.pins.get(pid, pin["ts"]), pin["ts"])
        return room

    # ---- inbound ---------------------------------------------------------------------

    async def on_event(self, event: Event, router: "Router") -> None:
        if not self.settings.enabled:
            return None
        if isinstance(event, TranscriptEvent) or event.author.role is Role.HOST:
            self.feed(event.room.key, event.ts.timestamp(), event.text)
            return None
        if self.ranker is not None and event.room.key in self._rooms:
            for product in self.ranker.products_named_in(event.text)[:3]:
                self._rooms[event.room.key].note_asked(product.id, event.ts.timestamp())
        if detect_need(event.text) and detect_question(event.text) is None:
            # "I need something for running in the rain": a need, though not a question.
            self._enqueue(event.room.key, _Ask(event, Question(event.text, language_of(event.text), "need"), True))
        return None

    def feed(self, room_key: str, ts: float, text: str, *, weight: float = 1.0) -> None:
        """Queue one line of host speech for the room's worker."""
        if not text.strip():
            return
        self.stats.lines += 1
        self._enqueue(room_key, _Line(ts, text, weight))

    def _enqueue(self, room_key: str, item: "_Line | _Ask") -> None:
        queue = self._queues.get(room_key)
        if queue is None:
            queue = self._queues[room_key] = _RoomQueue(items=asyncio.Queue())
        queue.items.put_nowait(item)
        if queue.task is None or queue.task.done():
            queue.task = self._spawn(self._work(room_key, queue))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _work(self, room_key: str, queue: _RoomQueue) -> None:
        """Drain one room's queue in order: lines in batches, each viewer ask after the lines before it.

        Lines are batched by *event* time: consecutive lines less than
        ``rerank_interval`` apart are embedded in one call and ranked once, so a
        caption flood costs one ranking per interval of speech, while a replayed
        script ranks after each line, exactly as it would have live.
        """
        try:
            ranker = await self._ready_ranker()
        except BrainUnavailable as exc:
            log.warning("product ranking is off: %s", exc)
            ranker = None
        room = await self._room_loaded(room_key)
        held: _Line | _Ask | None = None
        while held is not None or not queue.items.empty():
            item = held if held is not None else queue.items.get_nowait()
            held = None
            if isinstance(item, _Ask):
                await self._answer_ask(room, item)
                continue
            batch = [item]
            while not queue.items.empty():
                nxt = queue.items.get_nowait()
                if isinstance(nxt, _Line) and nxt.ts - batch[0].ts <= self.settings.rerank_interval:
                    batch.append(nxt)
                    continue
                held = nxt
                break
            if ranker is None:
                continue
            try:
                ranked = await self.brain.run(self._add_and_rank, ranker, room, batch)
            except Exception:  # noqa: BLE001 - one bad batch must not end the room's ranking
                log.exception("product ranking failed on %d lines in %s", len(batch), room_key)
                continue
            self.stats.rankings += 1
            await self._after_ranking(room_key, room, ranked)

    def _add_and_rank(self, ranker: ProductRanker, room: RoomProducts, lines: list[_Line]) -> list[RankedProduct]:
        """Brain thread: embed the new lines in one call, add them, rank."""
        vectors = self._embed([line.text for line in lines])
        for line, vector in zip(lines, vectors):
            # the matcher's own terms (tokens + word pairs), so live ranking scores as the eval measures
            room.window.add(line.ts, line.text, vector, weight=line.weight,
                            tokens=ranker.matcher.terms_from_text(line.text))
        return ranker.rank(room, max(line.ts for line in lines), n=2)

    def _embed(self, texts: list[str]) -> list[np.ndarray | None]:
        """Vectors for the texts the embedder can read; None for the others (matched lexically)."""
        embedder = self.brain.embedder
        readable = self.brain.dense_languages
        if embedder is None:
            return [None] * len(texts)
        wanted = [i for i, t in enumerate(texts) if readable is None or language_of(t) in readable]
        out: list[np.ndarray | None] = [None] * len(texts)
        if wanted:
            matrix = embedder.embed([texts[i] for i in wanted])
            for i, row in zip(wanted, matrix):
                out[i] = np.asarray(row, dtype=np.float32)
        return out

    async def _after_ranking(self, room_key: str, room: RoomProducts, ranked: list[RankedProduct]) -> None:
        top = ranked[0] if ranked else None
        previous = room.top
        room.top = top
        if top is None or (previous is not None and previous.product.id == top.product.id):
            return
        self.stats.top_changes += 1
        now = room.window.lines[-1].ts if len(room.window) else time.time()
        self.top_history.append((room_key, now, top.product.id))
        host = self._router.contacts.host(room_key) if self._router is not None else None
        if not self.settings.auto_suggest or host is None:
            return
        second = ranked[1].score if len(ranked) > 1 else 0.0
        lead = (top.score - second) / top.score if top.score > 0 else 0.0
        if lead < self.settings.suggest_margin or time.monotonic() - room.last_suggested < self.settings.suggest_min_interval:
            return
        room.last_suggested = time.monotonic()
        self.stats.suggestions += 1
        assert self._router is not None
        lang = language_of(top.line or top.product.name)
        text = (f"Suggestion: pin {describe_product(top.product, lang)} — {top.explain()}. "
                f"/pin {top.product.id}")
        await self._router.whisper(host, text, priority=0)

    # ---- viewers, through the answering pipeline -------------------------------------

    def question_hook(self, event: MessageEvent, question: Question) -> Question | None:
        """Answering asks before queuing a question: keep it, or take it (None) to handle in order.

        "How much is this one?" and stated needs depend on what the host said
        before the question, so they go through the room's ordered queue.
        """
        if not self.settings.enabled:
            return question
        need = detect_need(question.text)
        if not need and not refers_to_current(question.text):
            return question
        self._enqueue(event.room.key, _Ask(event, question, need))
        return None

    async def _answer_ask(self, room: RoomProducts, ask: _Ask) -> None:
        """Worker: resolve "this one" against the top product of the moment, or recommend."""
        event, question = ask.event, ask.question
        ranker = self.ranker
        if ask.need and ranker is not None and ranker.products:
            if await self._recommend(event, question):
                return
        elif (ranker is not None and room.top is not None
              and not ranker.products_named_in(question.text)):
            self.stats.resolved += 1
            room.note_asked(room.top.product.id, event.ts.timestamp())
            question = replace(question, text=resolve_reference(question.text, room.top.product))
        if self._answering is not None and question.reason != "need":
            self._answering.submit(event, question)

    async def _recommend(self, event: MessageEvent, question: Question) -> bool:
        """Post the best products for a stated need; False if the catalog has nothing for it."""
        history = [r["text"] for r in await asyncio.to_thread(
            self.store.iter_questions, room=event.room.key, user_key=event.author.key, limit=_HISTORY)
            if r["event_id"] != event.event_id]
        assert self.ranker is not None
        picks = await self.brain.run(self._recommend_now, self.ranker, question.text, history)
        if not picks:
            return False
        self.stats.recommendations += 1
        for pick in picks:
            self._room(event.room.key).note_asked(pick.product.id, event.ts.timestamp())
        zh = question.lang == "zh"
        lines = ["可以看看：" if zh else "You might like:"]
        for i, pick in enumerate(picks, 1):
            why = ("、".join(pick.terms[:3]) if zh else ", ".join(pick.terms[:3])) or ""
            reason = (f"（匹配：{why}）" if zh else f" (matches {why})") if why else ""
            lines.append(f"{i}. {describe_product(pick.product, question.lang)}{reason}")
        text = "\n".join(lines)
        assert self._router is not None
        reply_id = await self._router.send(Reply(room=event.room, text=text, reply_to=event.event_id,
                                                 to_user=event.author, feedback=True), source=event.source)
        self.store.record_question(question_row(
            room=event.room.key, event_id=event.event_id, user_key=event.author.key, user_name=event.author.name,
            text=question.text, lang=question.lang, status="answered", answer=text, sources=None,
            confidence=picks[0].relevance, latency_ms=None, model="products", ts=event.ts.timestamp(),
            reply_id=reply_id))
        return True

    def _recommend_now(self, ranker: ProductRanker, need: str, history: list[str]) -> list[RankedProduct]:
        history_vectors = self._embed(history) if history else []
        return ranker.recommend(need, history, vector=ranker.matcher.embed_query(need),
                                history_vectors=[v for v in history_vectors if v is not None],
                                n=self.settings.recommend_count)

    # ---- commands --------------------------------------------------------------------

    async def _products_command(self, context: CommandContext, n: int = 5) -> str:
        try:
            ranker = await self._ready_ranker()
        except BrainUnavailable as exc:
            return str(exc)
        if not ranker.products:
            return "The catalog is empty: add products (CSV, JSON or YAML) to the knowledge folder, then /kb reload."
        key = context.event.room.key
        await self._flush_pending(key)
        room = await self._room_loaded(key)
        now = context.event.ts.timestamp()  # event time: a replayed stream is ranked as it was live
        ranked = await self.brain.run(ranker.rank, room, now, max(1, min(n, 20)))
        if not ranked:
            return ("Nothing in the catalog matches what you have said in the last "
                    f"{int(self.ranking.window)} s. Talk about a product, or set /topic <text>.")
        keywords = [t for t, _ in room.window.keywords(now, k=6, idf=ranker.matcher.idf)]
        lines = [f"Top products now ({len(ranked)}); you are talking about: {', '.join(keywords)}"]
        for i, r in enumerate(ranked, 1):
            lines.append(f"{i}. {describe_product(r.product)} [{r.product.id}] score {r.score:.2f}: {r.explain()}")
        return "\n".join(lines)

    async def _flush_pending(self, key: str) -> None:
        """Let the room's queued lines be ranked first, so a command sees the latest line."""
        queue = self._queues.get(key)
        if queue is not None and queue.task is not None and not queue.task.done():
            await asyncio.gather(queue.task, return_exceptions=True)

    async def _pin_command(self, context: CommandContext, product: str) -> str | Reply:
        try:
            ranker = await self._ready_ranker()
        except BrainUnavailable as exc:
            return str(exc)
        found = ranker.find(product)
        if found is None:
            return f"No product matches {product!r}. /products lists what fits now; ids are in the catalog."
        event = context.event
        ts = event.ts.timestamp()
        (await self._room_loaded(event.room.key)).pins[found.id] = ts
        self.stats.pins += 1
        self.store.record_pin(room=event.room.key, product_id=found.id, product_name=found.name,
                              user_key=event.author.key, event_id=event.event_id, ts=ts)
        lang = language_of(found.name)
        return Reply(room=event.room, text=f"📌 {describe_product(found, lang)}", priority=2)

    async def _topic_command(self, context: CommandContext, text: str) -> str:
        event = context.event
        self.feed(event.room.key, event.ts.timestamp(), text, weight=_TOPIC_WEIGHT)
        await self._flush_pending(event.room.key)
        room = self._rooms.get(event.room.key)
        top = room.top if room is not None else None
        suffix = f" Top product now: {describe_product(top.product)}." if top else ""
        return f"Topic noted: {text}.{suffix}"

    async def drain(self) -> None:
        """Finish pending rankings (end of a replay, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

