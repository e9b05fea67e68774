"""Viewer questions in the room → one answer per burst, posted without stalling the room.

The listener only detects questions (microseconds) and queues them; routing
goes on. A worker task takes the queue in batches:

1. on the loop, repeats that share their words with an open burst
   (`brain.answers.bursts.BurstTracker`) are *merged* and cost nothing more;
2. the rest go to the brain in ONE call, `brain.answers.answer_pipeline.AnswerPipeline.answer_batch`
   on the brain thread: vectors, bursts by meaning, the answer cache, curated
   answers, retrieval and the extractive decision; it says for each question
   whether it merged, and otherwise its answer and where it came from;
3. on the loop, the LLM if one is configured (`AnswerPipeline.finish`);
4. the burst's answer is posted ``hold`` seconds after its first question,
   mentioning everyone who asked meanwhile; people who ask the same later in
   the window get one follow-up, not one message each.

Every question is recorded in the store with its outcome (answered, abstained,
merged), its sources, confidence, latency and model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from adapters.commands import CommandSpec, Param
from adapters.model import MessageEvent, Reply, Role, User
from bots.runtime.brain_worker import BrainUnavailable, BrainWorker
from bots.runtime.config import AnswersSection
from bots.runtime.counters import Counters
from bots.runtime.in_flight import still_answering
from bots.runtime.listeners import VIEWER_CHAT
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext
from brain.answers.answer_pipeline import AnswerMemory, AnswerPipeline, Asked, Outcome
from brain.answers.bursts import AnswerCache, Burst, BurstTracker
from brain.answers.compose import Answer
from brain.store.question_rows import question_row
from brain.text.plural import counted
from brain.text.questions import Question, detect_question, language_of

if TYPE_CHECKING:  # pragma: no cover
    from bots.runtime.router import Router
    from brain.store.event_store import Store

#: Sees a detected question before it is queued: returns it (maybe rewritten) or None to take it over.
QuestionHook = Callable[[MessageEvent, Question], "Question | None"]


class LatencyObserver(Protocol):
    """Where answer latencies go (`bots.runtime.metrics.Metrics`)."""

    def observe_answer(self, latency_s: float, status: str) -> None: ...


class ReviewGate(Protocol):
    """Decides, just before an answer posts, whether it waits for a moderator (`bots.features.moderation`)."""

    async def hold(self, lead: MessageEvent, question: Question, answer: Answer,
                   others: list[MessageEvent]) -> int | None:
        """Queue the answer and return its review id, or None to post it now."""

    async def join(self, review_id: int, event: MessageEvent) -> None:
        """Another viewer asked the question whose answer waits."""


__all__ = ["Answering", "QuestionHook", "ReviewGate", "AnsweringStats", "question_row", "ASK", "KB", "UNANSWERED"]

log = logging.getLogger(__name__)

_BATCH = 64
#: A burst's answer names at most this many askers; the rest are counted ("+12").
_MAX_MENTIONS = 8
#: Late askers of an already answered burst get at most one follow-up per this many seconds.
_FOLLOWUP_MIN_DELAY = 10.0
#: seconds /unanswered and /report wait for the questions asked just before them (`Answering.settle`):
#: past the burst hold (1.5 s) and an answer, with room for a knowledge base still loading
SETTLE_TIMEOUT = 10.0
#: ... and for the knowledge base to load first, when it is still loading (the model: seconds)
SETTLE_LOAD_TIMEOUT = 60.0

ASK = CommandSpec("ask", "Ask the bot a question about the course or the products",
                  params=(Param("question", description="your question", rest=True),))
KB = CommandSpec("kb", "Reload the knowledge base after editing it, or show its status",
                 params=(Param("action", choices=("reload", "status"), description="reload or status"),),
                 role=Role.HOST)
UNANSWERED = CommandSpec("unanswered", "Questions the bot could not answer, grouped, most asked first",
                         params=(Param("limit", type="int", required=False, default=10,
                                       description="how many groups"),),
                         role=Role.HOST)


@dataclass(slots=True)
class AnsweringStats(Counters):
    """Counters for replays and health checks. questions = answers + abstained + merged + held."""

    questions: int = 0
    answers: int = 0
    abstained: int = 0
    merged: int = 0
    cached: int = 0
    held: int = 0  # waiting for a moderator (moderation counts what became of them)
    followups: int = 0
    llm_fallbacks: int = 0  # the extractive answer stood in for the model's (failure or unsupported facts)
    llm_errors: int = 0  # of those, the model failed (down, timeout, bad response)
    errors: int = 0


@dataclass
class _BurstState:
    """What the room has been told about one burst."""

    lead: MessageEvent
    question: Question
    answer: Answer | None = None
    posted: bool = False
    askers: list[MessageEvent] = field(default_factory=list)  # merged before the post
    late: list[MessageEvent] = field(default_factory=list)  # merged after the post
    timer: asyncio.Task[None] | None = None
    followup: asyncio.Task[None] | None = None
    review_id: int | None = None  # the answer waits for a moderator


class Answering:
    """The room-facing question pipeline and its commands."""

    def __init__(self, brain: BrainWorker, store: "Store", settings: AnswersSection, *,
                 bot_name: str = "liveroom") -> None:
        self.brain = brain
        self.store = store
        self.settings = settings
        self.bot_name = bot_name
        self.stats = AnsweringStats()
        #: The bursts, recent answers and recent vectors the brain's answer pipeline keeps for this room-facing side.
        self.memory: AnswerMemory[_BurstState] = AnswerMemory(BurstTracker(window=settings.merge_window),
                                                              AnswerCache(ttl=settings.cache_ttl))
        self._queue: asyncio.Queue[tuple[MessageEvent, Question]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._router: Router | None = None
        self._pending_posts: set[asyncio.Task[None]] = set()
        self._post_now: asyncio.Event | None = None  # set by drain(): stop holding, post
        self._busy = 0
        #: per room, the event ids of questions taken and not yet answered, passed on, merged or held
        #: for review: what `settle` waits for
        self._in_flight: dict[str, set[str]] = {}
        self._hooks: list[QuestionHook] = []
        #: Set by moderation: the answers it must see before they post.
        self.gate: ReviewGate | None = None
        #: Set by the runtime: the latency histogram of /metrics.
        self.metrics: LatencyObserver | None = None

    @property
    def tracker(self) -> BurstTracker[_BurstState]:
        """Open bursts per room (`AnswerMemory.tracker`)."""
        return self.memory.tracker

    @property
    def cache(self) -> AnswerCache[Answer]:
        """Recent answers (`AnswerMemory.cache`); cleared when the knowledge changes."""
        return self.memory.cache

    # ---- wiring ----------------------------------------------------------------------

    def attach(self, router: "Router", registry: CommandRegistry) -> None:
        self._router = router
        router.add_listener(self.on_event, VIEWER_CHAT)
        registry.add(ASK, self._ask_command)
        registry.add(KB, self._kb_command)
        registry.add(UNANSWERED, self._unanswered_command)

    async def on_event(self, event: MessageEvent, router: "Router") -> None:
        """The listener for viewers' and mods' chat: detect, queue, return. Never waits for an answer."""
        if not self.settings.enabled:
            return None
        question = detect_question(event.text, bot_names=(self.bot_name,))
        if question is None:
            return None
        for hook in self._hooks:
            question = hook(event, question)
            if question is None:  # another part of the bot answers it (product recommendations)
                return None
        self.submit(event, question)
        return None

    def add_hook(self, hook: QuestionHook) -> None:
        """Let ``hook`` see each detected question first: keep it, rewrite it, or take it (None)."""
        self._hooks.append(hook)

    def submit(self, event: MessageEvent, question: Question) -> None:
        """Queue one question for answering (the listener's path, and a hook's way to hand one back)."""
        self.stats.questions += 1
        self._in_flight.setdefault(event.room.key, set()).add(event.event_id)
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._queue.put_nowait((event, question))
        if self._worker is None or self._worker.done():
            self.brain.start()
            self._worker = asyncio.create_task(self._work(), name="answering")

    # ---- the worker ------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        try:
            await self.brain.ready()
        except BrainUnavailable as exc:
            log.error("answering is off: %s", exc)
            while not self._queue.empty():  # still record the questions, as unanswered
                event, question = self._queue.get_nowait()
                self._record(event, question, None, "abstained", note=str(exc))
                self.stats.errors += 1
            return
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy += 1
            try:
                await self._handle_batch(batch)
            except Exception:  # noqa: BLE001 - a bad batch must not end answering for the stream
                self.stats.errors += len(batch)
                log.exception("answering failed on a batch of %d questions", len(batch))
                for event, _ in batch:
                    self._settled(event)
            finally:
                self._busy -= 1

    async def _handle_batch(self, batch: list[tuple[MessageEvent, Question]]) -> None:
        pipeline = self._pipeline()
        # 1. Repeats that share their words with an open burst are merged without a brain call.
        rest: list[tuple[MessageEvent, Asked]] = []
        for event, question in batch:
            asked = Asked(question, room=event.room.key, event_id=event.event_id, asker=event.author.name,
                          ts=event.ts.timestamp())
            burst = self.memory.join_by_words(asked)
            if burst is not None:
                self._merge(burst, event)
            else:
                rest.append((event, asked))
        if not rest:
            return
        # 2. One brain call: vectors, bursts by meaning, the cache, curated answers, retrieval, the decision.
        outcomes: list[Outcome[_BurstState]] = await self.brain.run(
            pipeline.answer_batch, [asked for _, asked in rest], self.memory)
        fresh: list[tuple[Burst[_BurstState], Outcome[_BurstState]]] = []
        for (event, asked), outcome in zip(rest, outcomes):
            burst = outcome.burst
            assert burst is not None
            if outcome.merged:
                self._merge(burst, event)
                continue
            burst.payload = _BurstState(lead=event, question=asked.question)
            if outcome.cached:
                self.stats.cached += 1
                burst.payload.answer = outcome.answer
                self._schedule_post(burst)
            else:
                fresh.append((burst, outcome))
        # 3. The LLM, if configured, for each new burst's answer; then it posts after the hold.
        for burst, outcome in fresh:
            state = burst.payload
            assert state is not None
            state.answer = await self._finish(pipeline, outcome)
            self._schedule_post(burst)

    def _pipeline(self) -> AnswerPipeline:
        pipeline = self.brain.pipeline
        assert pipeline is not None, "the brain is not ready"
        return pipeline

    async def _finish(self, pipeline: AnswerPipeline, outcome: Outcome[_BurstState]) -> Answer:
        """The outcome's final answer: the LLM's (counted) when it applies, else the pipeline's own."""
        if outcome.final:
            assert outcome.answer is not None
            return outcome.answer
        answer = await pipeline.finish(outcome, self.memory)
        if outcome.llm:
            self._count_llm(answer)
        return answer

    # ---- posting ---------------------------------------------------------------------

    def _merge(self, burst: Burst[_BurstState], event: MessageEvent) -> None:
        self.stats.merged += 1
        state = burst.payload
        if state is None:
            # The burst's lead has no answer state yet (it is being decided in this same batch): the
            # question is still kept, as merged into the lead, never silently lost (1 in ~6,000 under
            # the distributed load benchmark).
            self._record(event, None, None, "merged", merged_into=burst.lead_event_id)
            return
        if state.review_id is not None and self.gate is not None:
            self._spawn(self.gate.join(state.review_id, event))  # they get the answer when it is approved
            self._settled(event)
            return
        if not state.posted:
            state.askers.append(event)
            return
        state.late.append(event)
        if state.followup is None or state.followup.done():
            delay = max(self.settings.hold, _FOLLOWUP_MIN_DELAY)
            state.followup = self._spawn(self._post_followup(burst, delay))

    def _schedule_post(self, burst: Burst[_BurstState]) -> None:
        state = burst.payload
        assert state is not None
        state.timer = self._spawn(self._post_after(burst, self.settings.hold))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._pending_posts.add(task)
        task.add_done_callback(self._pending_posts.discard)
        return task

    async def _hold(self, seconds: float) -> None:
        """Wait ``seconds`` (a burst gathering askers) unless a drain asks to post now."""
        if self._post_now is None:
            self._post_now = asyncio.Event()
        if seconds <= 0 or self._post_now.is_set():
            return
        try:
            await asyncio.wait_for(self._post_now.wait(), seconds)
        except TimeoutError:
            pass

    async def _post_after(self, burst: Burst[_BurstState], delay: float) -> None:
        await self._hold(delay)
        await self._post(burst)

    async def _post(self, burst: Burst[_BurstState]) -> None:
        state = burst.payload
        if state is None or state.posted or state.answer is None:
            return
        state.posted = True
        answer = state.answer
        others = [e for e in state.askers if e.author.key != state.lead.author.key]
        if self.gate is not None:
            state.review_id = await self.gate.hold(state.lead, state.question, answer, others)
            if state.review_id is not None:
                self.stats.held += 1
                self._observe(answer, "held")
                for event in (state.lead, *state.askers):
                    self._settled(event)  # a moderator's now: `settle` does not wait for a review
                state.askers.clear()  # they are in the review; moderation posts and records it
                return
        if answer.abstained:
            self.stats.abstained += 1
        else:
            self.stats.answers += 1
        self._observe(answer, "abstained" if answer.abstained else "answered")
        reply_id = await self._send(state.lead, answer, others)
        self._record(state.lead, state.question, answer, "abstained" if answer.abstained else "answered",
                     reply_id=reply_id)
        for event in state.askers:
            self._record(event, None, answer, "merged", merged_into=state.lead.event_id)
        state.askers.clear()

    def _count_llm(self, answer: Answer) -> None:
        """A note means the extractive answer stood in; "llm fallback" notes are the model failing."""
        if answer.notes:
            self.stats.llm_fallbacks += 1
        if any(n.startswith("llm fallback") for n in answer.notes):
            self.stats.llm_errors += 1

    def _observe(self, answer: Answer, status: str) -> None:
        if self.metrics is not None:
            self.metrics.observe_answer((answer.latency_ms or 0.0) / 1000.0, status)

    async def _post_followup(self, burst: Burst[_BurstState], delay: float) -> None:
        await self._hold(delay)
        state = burst.payload
        if state is None or state.answer is None or not state.late:
            return
        late, state.late = state.late, []
        if state.review_id is not None and self.gate is not None:
            for event in late:  # the answer went to a moderator meanwhile: they get it when approved
                await self.gate.join(state.review_id, event)
            return
        self.stats.followups += 1
        await self._send(late[0], state.answer, late[1:], reply_to=late[0].event_id, followup=True)
        for event in late:
            self._record(event, None, state.answer, "merged", merged_into=state.lead.event_id)
        if state.late:
            # Repeats that came while this follow-up was being sent found it running and did not start
            # another: without this they would wait for ever (3 in 10,000 messages under load).
            state.followup = self._spawn(self._post_followup(burst, delay))

    async def _send(self, lead: MessageEvent, answer: Answer, others: list[MessageEvent],
                    reply_to: str | None = None, *, followup: bool = False) -> str | None:
        assert self._router is not None
        people: list[User] = []
        for e in others:
            if e.author not in people and e.author.key != lead.author.key:
                people.append(e.author)
        prefix = " ".join(f"@{u.name}" for u in people[:_MAX_MENTIONS])
        if len(people) > _MAX_MENTIONS:
            prefix += f" +{len(people) - _MAX_MENTIONS}"
        text = f"{prefix} {answer.render()}" if prefix else answer.render()
        # Answers invite 👍/👎 feedback; a follow-up repeats an answer, so it may be dropped when stale.
        return await self._router.send(Reply(room=lead.room, text=text, reply_to=reply_to or lead.event_id,
                                             to_user=lead.author, mentions=tuple(people[:_MAX_MENTIONS]),
                                             priority=0 if followup else 1, feedback=not answer.abstained),
                                       source=lead.source)

    async def drain(self, timeout: float | None = None) -> None:
        """Answer everything queued and post everything pending now (end of a replay, shutdown).

        With a ``timeout`` (a stop signal), questions still queued when it runs
        out are recorded as not answered, so none is lost.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue is not None and (not self._queue.empty() or self._busy):
            if self._worker is None or self._worker.done():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            event, question = self._queue.get_nowait()
            self.stats.errors += 1
            self._record(event, question, None, "abstained", note="not answered before shutdown")
        if self._post_now is None:
            self._post_now = asyncio.Event()
        self._post_now.set()
        while self._pending_posts:
            await asyncio.gather(*list(self._pending_posts), return_exceptions=True)
        self._post_now.clear()

    # ---- recording -------------------------------------------------------------------

    def _record(self, event: MessageEvent, question: Question | None, answer: Answer | None, status: str,
                *, merged_into: str | None = None, note: str | None = None, reply_id: str | None = None) -> None:
        self._settled(event)
        text = question.text if question is not None else event.text
        self.store.record_question(question_row(
            room=event.room.key, event_id=event.event_id, user_key=event.author.key, user_name=event.author.name,
            text=text, lang=question.lang if question is not None else language_of(text), status=status,
            answer=answer.render() if answer is not None and status != "merged" else note,
            sources=[{"chunk_id": c.chunk_id, "source": c.source, "title": c.title} for c in answer.citations]
            if answer else None,
            confidence=answer.confidence if answer else None, latency_ms=answer.latency_ms if answer else None,
            model=answer.model if answer else None, merged_into=merged_into, ts=event.ts.timestamp(),
            reply_id=reply_id))

    def _settled(self, event: MessageEvent) -> None:
        in_room = self._in_flight.get(event.room.key)
        if in_room is not None:
            in_room.discard(event.event_id)
            if not in_room:
                del self._in_flight[event.room.key]

    async def settle(self, room: str, timeout: float | None = None) -> int:
        """Wait until the questions ``room`` has in flight *now* are answered, passed on, merged or held
        for review, at most ``timeout`` seconds; returns how many still are.

        Why: ``/unanswered`` and ``/report`` read the store, and questions asked just before them
        (piped into the console, or a burst a moment ago) are still being answered: without waiting
        the report says there are none. Questions asked after the command are not waited for, so a
        busy room cannot keep the command waiting past the bound.
        """
        waiting = set(self._in_flight.get(room, ()))
        if waiting:  # the knowledge base loading (seconds, at start-up) is not the answers' time
            with contextlib.suppress(BrainUnavailable, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.brain.ready()), SETTLE_LOAD_TIMEOUT)
        deadline = time.monotonic() + (SETTLE_TIMEOUT if timeout is None else timeout)
        while waiting:
            waiting &= self._in_flight.get(room, set())
            if not waiting or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        return len(waiting)

    # ---- commands --------------------------------------------------------------------

    async def ask(self, event: MessageEvent, text: str, *, review: bool = False) -> Answer | None:
        """Answer one question now, bypassing burst merging (``/ask``, ``liveroom ask``).

        With ``review`` (a viewer's ``/ask``), the moderation gate sees the
        answer first; None means it waits for a moderator, who posts it.
        """
        await self.brain.ready()
        pipeline = self._pipeline()
        question = detect_question(text) or Question(text, language_of(text), "command")
        self.stats.questions += 1
        # Answered alone (no room): no burst, and the cache and curated answers match its words.
        [outcome] = await self.brain.run(pipeline.answer_batch, [Asked(question, typed=text)], self.memory)
        if outcome.cached:
            self.stats.cached += 1
        answer = await self._finish(pipeline, outcome)
        if review and self.gate is not None and await self.gate.hold(event, question, answer, []) is not None:
            self.stats.held += 1
            return None
        if answer.abstained:
            self.stats.abstained += 1
        else:
            self.stats.answers += 1
        self._record(event, question, answer, "abstained" if answer.abstained else "answered")
        return answer

    async def _ask_command(self, context: CommandContext, question: str) -> str | None:
        try:
            answer = await self.ask(context.event, question, review=True)
        except BrainUnavailable as exc:
            return f"I can't look that up right now ({exc}). I'll pass it to the host."
        return answer.render() if answer is not None else None  # None: moderation said it waits

    async def _kb_command(self, context: CommandContext, action: str) -> str:
        try:
            await self.brain.ready()
            if action == "reload":
                summary = await self.brain.run(self.brain.reload)
                if summary.changed:
                    self.cache.clear()
                return "\n".join(summary.lines())
        except BrainUnavailable as exc:
            return str(exc)
        except FileNotFoundError as exc:
            return f"cannot reload: {exc}"
        kb = self.brain.kb
        assert kb is not None
        return (f"knowledge base {kb.root}: {counted(len(kb), 'chunk')}, version {kb.version}; "
                f"answer cache {self.cache.stats()}")

    async def _unanswered_command(self, context: CommandContext, limit: int = 10) -> str:
        room = context.event.room.key
        still = await self.settle(room)
        topics = await asyncio.to_thread(self._unanswered, room, max(1, limit))
        lines = ([f"Unanswered questions ({counted(len(topics), 'group')}):"] if topics
                 else ["No unanswered questions in this room."])
        lines += [f"  {t.asks}× {t.text}  ({', '.join(t.people)})" for t in topics]
        if still:
            lines.append(still_answering(still))
        return "\n".join(lines)

    def _unanswered(self, room: str, limit: int) -> list[Any]:
        """The dashboard's grouping of abstained questions (`brain.insights.interaction_log`), the same everywhere."""
        from brain.insights.interaction_log import unanswered_topics

        self.store.flush()
        return unanswered_topics(self.store.engine, room=room, limit=limit)
