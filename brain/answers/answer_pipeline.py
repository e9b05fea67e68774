"""The answer pipeline for a batch of viewer questions: one call in, typed outcomes out.

For each question of a batch, in order:

1. its search text (`Answerer.search_text`) and, in the languages the embedder
   reads, its vector: one embedding call for the distinct texts not embedded
   recently (a small LRU); questions in other languages (Chinese, for the default
   English model) are matched by their words alone;
2. its burst (`brain.answers.bursts.BurstTracker`): a question that asks what an
   open burst asks *merges* into it and costs nothing more;
3. for a question that opens a burst: a recent answer from the `AnswerCache`, or
   else a moderator's curated answer (`brain.moderation.curated`, which wins over
   anything retrieved), or else retrieval and the extractive decision
   (`Answerer.retrieve`, `Answerer.decide`).

Why this lives in ``brain/`` and not in the room-facing listener
(`bots.features.answering`): which questions share an answer, which answer is
reused and what is retrieved and said are platform-free decisions. Here they run
as *one* job on the brain thread per batch instead of one round trip per step,
and they can be run and tested without a room, a router or a chat platform
(replays, evaluations, unit tests). The listener keeps only what needs the event
loop: holding a burst's answer for its askers, the moderation gate, posting, and
recording rows. Like all of ``brain``, this module never imports ``bots`` or
``adapters``.

The LLM is the one step that is not here in full: its client belongs to the
event loop, so when one is configured an outcome is not `Outcome.final` and the
caller awaits `AnswerPipeline.finish` on the loop (the model's answer, then the
cache), which keeps the order of cache writes exactly that of the answers.

What the pipeline remembers between batches (the bursts, the answer cache, the
vector LRU) is an `AnswerMemory` owned by the caller, so each listener has its own.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Generic, Literal, Sequence, TypeVar

import numpy as np

from brain.answers.bursts import AnswerCache, Burst, BurstTracker
from brain.answers.compose import Answer, Answerer, Citation
from brain.moderation.curated import CURATED_FILE, CuratedAnswers
from brain.retrieval.embedders import Embedder
from brain.retrieval.types import SearchHit
from brain.text.questions import Question
from brain.text.similarity import similarity_terms

__all__ = ["AnswerPipeline", "AnswerMemory", "Asked", "Outcome", "Source", "VECTOR_CACHE"]

T = TypeVar("T")

#: Search texts whose embeddings `AnswerMemory` keeps (least recently used dropped first).
VECTOR_CACHE = 4096

#: Where an outcome's answer came from; "merged" has no answer of its own (its burst's lead has).
Source = Literal["merged", "cache", "curated", "retrieved"]


@dataclass(frozen=True)
class Asked:
    """One question handed to the pipeline.

    With a ``room`` it is a chat question: it gets a vector and joins or opens a
    burst in that room at ``ts`` (the event's time, the bursts' clock). Without
    one it is answered alone, as ``/ask`` does: no burst, no vector of its own
    (retrieval embeds the text itself; the cache and curated answers match its
    words only). ``typed`` is the text as typed when it differs from
    ``question.text`` (a command's argument): the cache key and the answer's
    ``question`` use it.
    """

    question: Question
    room: str | None = None
    event_id: str = ""
    asker: str = ""
    ts: float = 0.0
    typed: str | None = None

    @property
    def text(self) -> str:
        return self.typed if self.typed is not None else self.question.text

    @cached_property
    def terms(self) -> frozenset[str]:
        """The words bursts compare (`brain.text.similarity.similarity_terms`)."""
        return similarity_terms(self.question.text)


@dataclass(eq=False)
class Outcome(Generic[T]):
    """What the pipeline made of one question."""

    asked: Asked
    search_text: str  # what was searched and embedded; the answer cache's key
    vector: np.ndarray | None  # None: not embedded (a language the embedder cannot read, or no room)
    source: Source
    answer: Answer | None = None  # None only when merged
    hits: list[SearchHit] = field(default_factory=list)  # what retrieval found (empty: cache, curated, merged)
    burst: Burst[T] | None = None  # the burst it joined or opened (None: answered alone)
    #: False: await `AnswerPipeline.finish` on the event loop (an LLM is configured) for the final answer.
    final: bool = True
    #: The answer goes to the LLM (`Answerer.with_llm`) in `finish`.
    llm: bool = False

    @property
    def merged(self) -> bool:
        return self.source == "merged"

    @property
    def cached(self) -> bool:
        return self.source == "cache"

    @property
    def curated(self) -> bool:
        return self.source == "curated"

    @property
    def opened(self) -> bool:
        """It opened a new burst, whose answer this is."""
        return self.burst is not None and not self.merged


class AnswerMemory(Generic[T]):
    """What the pipeline remembers between batches: bursts, recent answers, recent vectors.

    Owned by the caller (one per room-facing listener). The pipeline reads and
    writes it on the brain thread, the caller on its own (clearing the cache when
    the knowledge changes): the cache is thread-safe, and the bursts and vectors
    must be touched by one batch at a time.
    """

    def __init__(self, tracker: BurstTracker[T] | None = None, cache: AnswerCache[Answer] | None = None, *,
                 vector_capacity: int = VECTOR_CACHE) -> None:
        self.tracker: BurstTracker[T] = tracker if tracker is not None else BurstTracker()
        self.cache: AnswerCache[Answer] = cache if cache is not None else AnswerCache()
        self.vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.vector_capacity = vector_capacity

    def join_by_words(self, asked: Asked) -> Burst[T] | None:
        """Join an open burst that shares the question's words, if any: no vector, no model.

        Cheap enough for the event loop; a caller that merges repeats before
        handing the rest to `AnswerPipeline.answer_batch` saves their embedding.
        """
        if asked.room is None:
            return None
        burst = self.tracker.match(asked.room, None, asked.terms, asked.ts)
        if burst is not None:
            self.tracker.join(burst, asked.event_id, asked.asker, asked.ts)
        return burst


class AnswerPipeline:
    """Vectors, bursts, the answer cache, curated answers, retrieval and the extractive decision.

    Built once the models are loaded (`bots.runtime.brain_worker.BrainWorker`);
    `answer_batch` runs where the models live (the brain thread), `finish` on
    the event loop.
    """

    def __init__(self, answerer: Answerer, embedder: Embedder | None = None,
                 curated: CuratedAnswers | None = None) -> None:
        self.answerer = answerer
        self.embedder = embedder
        self.curated = curated

    @property
    def dense_languages(self) -> frozenset[str] | None:
        """Languages the embedder reads (None: any); questions in others are not embedded."""
        return getattr(self.embedder, "languages", None)

    # ---- the batch -------------------------------------------------------------------

    def answer_batch(self, questions: Sequence[Asked], memory: AnswerMemory[T]) -> list[Outcome[T]]:
        """One outcome per question, in order. Blocking: run it on the brain thread.

        Questions are taken in order, so a later one merges into a burst an
        earlier one of the same batch opened. Cache lookups all happen before
        this batch's answers are cached.
        """
        answerer = self.answerer
        texts = [answerer.search_text(a.text, a.question.lang) for a in questions]
        vectors = self._vectors([(t, a.question.lang) for t, a in zip(texts, questions) if a.room is not None],
                                memory)
        outcomes: list[Outcome[T]] = []
        fresh: list[Outcome[T]] = []
        for asked, text in zip(questions, texts):
            vector: np.ndarray | None = None
            burst: Burst[T] | None = None
            if asked.room is not None:
                vector = vectors.get(text)
                burst = memory.tracker.match(asked.room, vector, asked.terms, asked.ts)
                if burst is not None:
                    memory.tracker.join(burst, asked.event_id, asked.asker, asked.ts)
                    outcomes.append(Outcome(asked, text, vector, "merged", burst=burst))
                    continue
                burst = memory.tracker.open(asked.room, asked.event_id, asked.asker, vector, asked.terms, asked.ts)
            cached = memory.cache.get(text, vector, time.monotonic())
            if cached is not None:
                answer = replace(cached, question=asked.text, model="cache", latency_ms=0.0)
                outcomes.append(Outcome(asked, text, vector, "cache", answer, burst=burst))
                continue
            outcome: Outcome[T] = Outcome(asked, text, vector, "retrieved", burst=burst)
            outcomes.append(outcome)
            fresh.append(outcome)
        for outcome in fresh:
            self._decide(outcome)
        for outcome in fresh:
            assert outcome.answer is not None
            if answerer.llm is None:
                if not outcome.answer.abstained:
                    memory.cache.put(outcome.search_text, outcome.vector, outcome.answer, time.monotonic())
            else:
                outcome.final = False
                outcome.llm = not outcome.answer.abstained and outcome.answer.model != "curated"
        return outcomes

    async def finish(self, outcome: Outcome[T], memory: AnswerMemory[T]) -> Answer:
        """Event loop: the LLM's answer (when `Outcome.llm`), then the cache; returns the final answer.

        Any model failure or unsupported fact keeps the extractive answer, with
        the reason in its notes (`Answerer.with_llm`).
        """
        answer = outcome.answer
        assert answer is not None
        if outcome.final:
            return answer
        if outcome.llm:
            answer = await self.answerer.with_llm(outcome.asked.text, outcome.hits, answer)
        if not answer.abstained:
            memory.cache.put(outcome.search_text, outcome.vector, answer, time.monotonic())
        outcome.answer = answer
        outcome.final = True
        return answer

    # ---- the steps -------------------------------------------------------------------

    def _vectors(self, texts: list[tuple[str, str]], memory: AnswerMemory[Any]) -> dict[str, np.ndarray]:
        """Embeddings of distinct search texts in languages the model reads, via the memory's LRU."""
        readable = self.dense_languages
        wanted = list(dict.fromkeys(t for t, lang in texts if readable is None or lang in readable))
        cache = memory.vectors
        missing = [t for t in wanted if t not in cache]
        if missing and self.embedder is not None:
            matrix = self.embedder.embed(missing)
            for text, row in zip(missing, matrix):
                cache[text] = row
        out = {}
        for text in wanted:
            if text in cache:
                cache.move_to_end(text)
                out[text] = cache[text]
        while len(cache) > memory.vector_capacity:
            cache.popitem(last=False)
        return out

    def _decide(self, outcome: Outcome[Any]) -> None:
        """A curated answer if one matches, else retrieval and the extractive decision."""
        question = outcome.asked.question
        started = time.perf_counter()
        curated = self._curated(question, outcome.vector)
        if curated is not None:
            outcome.source = "curated"
            outcome.answer = replace(curated, latency_ms=(time.perf_counter() - started) * 1000)
            return
        hits = self.answerer.retrieve(question.text, question.lang, query_vector=outcome.vector)
        answer = self.answerer.decide(question.text, hits, question.lang)
        outcome.hits = hits
        outcome.answer = replace(answer, latency_ms=(time.perf_counter() - started) * 1000)

    def _curated(self, question: Question, vector: np.ndarray | None) -> Answer | None:
        """A moderator's curated answer to this question, which wins over anything retrieved."""
        found = self.curated.match(question.text, vector) if self.curated is not None else None
        if found is None:
            return None
        entry = found.entry
        return Answer(question=question.text, lang=question.lang, text=entry.answer, confidence=found.score,
                      citations=(Citation(f"curated:{entry.id}", CURATED_FILE,
                                          "moderator" if question.lang != "zh" else "管理员审核"),),
                      model="curated", reason="curated")
