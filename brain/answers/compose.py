"""Grounded answers to viewers' questions, with citations, or an honest abstention.

Two ways to answer, one contract:

- **extractive** (the embedded default, no model server): the sentence, table
  row or catalog field of the top sources that answers *this* question
  (`brain.answers.selection`), quoted with its citation. Fast and never invents
  anything.
- **LLM** (when ``llm`` is configured): a short answer in the asker's language
  from the top sources, streamed from any OpenAI-compatible server. If the
  model fails, times out, declines, or states a price, code, date or stock
  figure that its cited sources do not contain, the extractive answer is used.

The bot abstains ("I'll pass this to the host") when retrieval found nothing
near (the top hit's calibrated confidence under ``min_confidence``) or when the
best thing it could quote does not answer the question (the selection's score
under its language's threshold). Sentences that look like instructions to the
bot are never quoted (`brain.text.safety`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from brain.answers.fact_check import unsupported_facts
from brain.answers.llm import NO_ANSWER, LLMClient, LLMUnavailable, build_messages
from brain.answers.selection import AnswerSelector, SelectionWeights, clip
from brain.knowledge.base import KnowledgeBase
from brain.retrieval.embedders import Embedder
from brain.retrieval.query_expansion import expand_query
from brain.retrieval.types import Chunk, SearchHit
from brain.text.questions import language_of
from brain.text.safety import looks_like_instruction

__all__ = ["Answer", "Citation", "Answerer", "ABSTAIN_TEXT"]

ABSTAIN_TEXT = {
    "en": "Good question! I'll pass it to the host.",
    "zh": "好问题！我转给主播来回答。",
}
_CITED = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True, slots=True)
class Citation:
    chunk_id: str
    source: str
    title: str

    @property
    def label(self) -> str:
        return self.title or self.source


@dataclass(frozen=True)
class Answer:
    """What the bot will say about one question, and why."""

    question: str
    lang: str
    text: str | None  # None: abstain
    confidence: float
    citations: tuple[Citation, ...] = ()
    model: str = "extractive"
    reason: str = "answered"
    latency_ms: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def abstained(self) -> bool:
        return self.text is None

    def render(self) -> str:
        """The chat message: the answer with its source, or the abstention in the asker's language."""
        if self.text is None:
            return ABSTAIN_TEXT.get(self.lang, ABSTAIN_TEXT["en"])
        if not self.citations:
            return self.text
        label = "来源" if self.lang == "zh" else "source"
        return f"{self.text} ({label}: {'; '.join(c.label for c in self.citations)})"


def _citation(chunk: Chunk) -> Citation:
    """Where an answer comes from. A title that addresses the bot is never shown, only the file."""
    where = str(chunk.metadata.get("path", chunk.source))
    if not chunk.title or looks_like_instruction(chunk.title):
        return Citation(chunk.id, chunk.source, where)
    title = chunk.title if where in chunk.title else f"{chunk.title} — {where}"
    return Citation(chunk.id, chunk.source, title)


class Answerer:
    """Retrieval → extractive or LLM answer → fact check → answer or abstain."""

    def __init__(self, search: Callable[..., Sequence[SearchHit]], *, known: Callable[[str], bool] | None = None,
                 mend: Callable[[str], str] | None = None, llm: LLMClient | None = None,
                 selector: AnswerSelector | None = None,
                 min_confidence: float = 0.0, max_chars: int = 300, top_k: int = 5,
                 llm_sources: int = 3) -> None:
        self.search = search
        self.known = known
        #: Mends a question's typos against the knowledge base's words (`KnowledgeBase.mend_typos`).
        self.mend = mend
        self.llm = llm
        self.min_confidence = min_confidence
        self.max_chars = max_chars
        self.top_k = top_k
        self.llm_sources = llm_sources
        #: What to quote from the hits (`for_knowledge_base` gives it the knowledge base's idf and a reader).
        self.selector = selector or AnswerSelector(max_chars=max_chars)

    @classmethod
    def for_knowledge_base(cls, kb: KnowledgeBase, *, reader: Embedder | None = None, llm: LLMClient | None = None,
                           min_confidence: float = 0.0, max_chars: int = 300, top_k: int = 5,
                           bars: Mapping[str, float] | None = None) -> "Answerer":
        """The answerer the bot runs on ``kb``: its idf and vocabulary, ``reader`` reading meaning.

        ``bars`` overrides the fitted confidence an answer needs, per language.
        Indexes every candidate answer of ``kb`` for the reader now, so that
        questions do not wait for it (`selector.index` again after the knowledge changes).
        """
        weights = SelectionWeights()
        if bars:
            weights = replace(weights, threshold={**weights.threshold, **bars})
        selector = AnswerSelector(idf=kb.idf, known=kb.knows, reader=reader, weights=weights, max_chars=max_chars)
        selector.index(kb.chunks())
        return cls(kb.search, known=kb.knows, mend=kb.mend_typos, llm=llm, selector=selector,
                   min_confidence=min_confidence, max_chars=max_chars, top_k=top_k)

    # ---- the parts -------------------------------------------------------------------

    def as_read(self, question: str) -> str:
        """The question as the bot reads it: typos mended ("refnd policy" → "refund policy")."""
        return self.mend(question) if self.mend is not None else question

    def search_text(self, question: str, lang: str | None = None) -> str:
        """What is searched for: the question as read, with live-commerce words (`brain.retrieval.query_expansion`)."""
        return expand_query(self.as_read(question), lang or language_of(question), self.known)

    def retrieve(self, question: str, lang: str | None = None,
                 query_vector: np.ndarray | None = None) -> list[SearchHit]:
        """Top hits for the question; ``query_vector`` is the embedding of `search_text` if known."""
        text = self.search_text(question, lang)
        if query_vector is None:
            return list(self.search(text, self.top_k))
        return list(self.search(text, self.top_k, query_vector=query_vector))

    def decide(self, question: str, hits: Sequence[SearchHit], lang: str | None = None) -> Answer:
        """The extractive answer or an abstention; pure CPU, safe to run in a worker thread."""
        started = time.perf_counter()
        lang = lang or language_of(question)
        top = hits[0].score if hits else 0.0
        if top < self.min_confidence:
            return self._abstain(question, lang, top, "low-confidence" if hits else "no-match", started)
        selection = self.selector.select(self.as_read(question), self.search_text(question, lang), hits, lang)
        if selection is None:
            return self._abstain(question, lang, top, "nothing-quotable" if hits else "no-match", started)
        if not selection.answers:
            return self._abstain(question, lang, selection.confidence, "not-answered", started)
        chunks = list({c.chunk.id: c.chunk for c in selection.candidates}.values())
        return Answer(question=question, lang=lang, text=selection.text, confidence=selection.confidence,
                      citations=tuple(_citation(c) for c in chunks), model="extractive",
                      latency_ms=(time.perf_counter() - started) * 1000)

    async def answer(self, question: str, hits: Sequence[SearchHit] | None = None,
                     lang: str | None = None) -> Answer:
        """The full path: extractive first (it is also the fallback), then the LLM if configured."""
        started = time.perf_counter()
        hits = self.retrieve(question) if hits is None else hits
        extractive = self.decide(question, hits, lang)
        if extractive.abstained or self.llm is None:
            return replace(extractive, latency_ms=(time.perf_counter() - started) * 1000)
        result = await self.with_llm(question, hits, extractive)
        return replace(result, latency_ms=(time.perf_counter() - started) * 1000)

    async def with_llm(self, question: str, hits: Sequence[SearchHit], fallback: Answer) -> Answer:
        """Ask the model; any failure or unsupported fact returns ``fallback`` with the reason noted."""
        assert self.llm is not None
        sources = [h for h in hits if h.score >= self.min_confidence][: self.llm_sources] or list(hits[:1])
        messages = build_messages(question, fallback.lang, [(_citation(h.chunk).label, h.chunk.text) for h in sources])
        try:
            text = await self.llm.complete(messages)
        except LLMUnavailable as exc:
            return replace(fallback, notes=fallback.notes + (f"llm fallback: {exc}",))
        if not text or NO_ANSWER in text:
            return Answer(question=question, lang=fallback.lang, text=None, confidence=fallback.confidence,
                          model=self.llm.name, reason="llm-declined")
        cited = sorted({int(n) for n in _CITED.findall(text) if 1 <= int(n) <= len(sources)})
        cited_hits = [sources[n - 1] for n in cited] or sources[:1]
        missing = unsupported_facts(text, [h.chunk.text for h in cited_hits])
        if missing:
            facts = ", ".join(f.text for f in missing)
            return replace(fallback, notes=fallback.notes + (f"llm answer rejected: unsupported {facts}",))
        clean = clip(_CITED.sub("", text).strip(), self.max_chars)
        return Answer(question=question, lang=fallback.lang, text=clean, confidence=fallback.confidence,
                      citations=tuple(_citation(h.chunk) for h in cited_hits), model=self.llm.name)

    # ---- helpers ---------------------------------------------------------------------

    def _abstain(self, question: str, lang: str, confidence: float, reason: str, started: float) -> Answer:
        return Answer(question=question, lang=lang, text=None, confidence=confidence, model="none",
                      reason=reason, latency_ms=(time.perf_counter() - started) * 1000)
