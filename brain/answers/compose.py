"""Grounded answers to viewers' questions, with citations, or an honest abstention.

Two ways to answer, one contract:

- **extractive** (the embedded default, no model server): the best sentences of
  the best source, quoted, with its citation. Fast and never invents anything.
- **LLM** (when ``llm`` is configured): a short answer in the asker's language
  from the top sources, streamed from any OpenAI-compatible server. If the
  model fails, times out, declines, or states a price, code, date or stock
  figure that its cited sources do not contain, the extractive answer is used.

Below ``min_confidence`` (the retriever's calibrated confidence of its top
hit) the bot abstains: "I'll pass this to the host". Sentences that look like
instructions to the bot are never quoted (`brain.text.safety`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

import numpy as np

from brain.answers.fact_check import unsupported_facts
from brain.answers.llm import NO_ANSWER, LLMClient, LLMUnavailable, build_messages
from brain.knowledge.product_records import format_price
from brain.knowledge.sentences import split_sentences
from brain.retrieval.query_expansion import expand_query
from brain.retrieval.types import Chunk, SearchHit
from brain.text.questions import language_of
from brain.text.safety import looks_like_instruction
from brain.text.tokens import tokenize

__all__ = ["Answer", "Citation", "Answerer", "ABSTAIN_TEXT"]

ABSTAIN_TEXT = {
    "en": "Good question! I'll pass it to the host.",
    "zh": "好问题！我转给主播来回答。",
}
_FAQ_QUESTION = re.compile(r"^\s*(Q|Question|问|问题)\s*[:：]", re.IGNORECASE)
_FAQ_ANSWER = re.compile(r"^\s*(A|Answer|答|回答)\s*[:：]\s*", re.IGNORECASE)
_CITED = re.compile(r"\[(\d{1,2})\]")
#: Prefer a source in the asker's language when its confidence is at most this far below the best.
_LANGUAGE_SLACK = 0.15


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


def _answer_sentences(chunk: Chunk) -> list[str]:
    """Quotable sentences of a chunk: FAQ answers without their question, no instructions."""
    out: list[str] = []
    for line in chunk.text.splitlines():
        if _FAQ_QUESTION.match(line):
            continue
        line = _FAQ_ANSWER.sub("", line).strip()
        if not line:
            continue
        out.extend(s.strip() for s in split_sentences(line) if s.strip())
    return [s for s in out if not looks_like_instruction(s)]


def _product_answer(chunk: Chunk) -> str:
    """A product in one line: name, price, stock and link, all from the catalog's own fields.

    A catalog row is untrusted text too: a name that addresses the bot is
    replaced by the product's id.
    """
    meta = chunk.metadata
    name = str(meta.get("name") or chunk.title)
    if looks_like_instruction(name):
        name = str(meta.get("id") or chunk.source)
    parts = [name]
    if isinstance(meta.get("price"), (int, float)):
        parts.append(f"{format_price(float(meta['price']))} {meta.get('currency', '')}".strip())
    stock = meta.get("stock")
    if isinstance(stock, int) and not isinstance(stock, bool):
        parts.append(f"{stock} in stock" if stock > 0 else "sold out")
    line = ", ".join(parts)
    return f"{line}. {meta['url']}" if meta.get("url") else f"{line}."


def _join(sentences: Iterable[str]) -> str:
    """Join sentences the way their script does: no space after CJK punctuation."""
    out = ""
    for sentence in sentences:
        out += sentence if not out or out[-1] in "。！？；" else " " + sentence
    return out


_BREAKS = " ，,。；;：:、！？!?）)"


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word or clause break, never inside a number or word."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    brk = max(cut.rfind(ch) for ch in _BREAKS)
    if brk > limit * 0.5:
        cut = cut[: brk + 1]
    else:
        # No break near the end (CJK text): back off to the start of an alphanumeric run.
        end = len(cut)
        while end > 0 and cut[end - 1].isascii() and cut[end - 1].isalnum() and text[end].isascii() \
                and text[end].isalnum():
            end -= 1
        cut = cut[:end]
    return cut.rstrip(" ,;:，；：、") + "…"


class Answerer:
    """Retrieval → extractive or LLM answer → fact check → answer or abstain."""

    def __init__(self, search: Callable[..., Sequence[SearchHit]], *,
                 idf: Callable[[str], float] | None = None, known: Callable[[str], bool] | None = None,
                 llm: LLMClient | None = None,
                 min_confidence: float = 0.5, max_chars: int = 300, top_k: int = 5,
                 llm_sources: int = 3) -> None:
        self.search = search
        self.idf = idf or (lambda token: 1.0)
        self.known = known
        self.llm = llm
        self.min_confidence = min_confidence
        self.max_chars = max_chars
        self.top_k = top_k
        self.llm_sources = llm_sources

    # ---- the parts -------------------------------------------------------------------

    def search_text(self, question: str, lang: str | None = None) -> str:
        """What is searched for: the question with live-commerce words (`brain.retrieval.query_expansion`)."""
        return expand_query(question, lang or language_of(question), self.known)

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
        if not hits:
            return self._abstain(question, lang, 0.0, "no-match", started)
        best = hits[0]
        if best.score < self.min_confidence:
            return self._abstain(question, lang, best.score, "low-confidence", started)
        chosen = self._preferred(hits, lang)
        text = self._extract(self.search_text(question, lang), chosen.chunk)
        if text is None:
            return self._abstain(question, lang, best.score, "nothing-quotable", started)
        return Answer(question=question, lang=lang, text=text, confidence=chosen.score,
                      citations=(_citation(chosen.chunk),), model="extractive",
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
        clean = _clip(_CITED.sub("", text).strip(), self.max_chars)
        return Answer(question=question, lang=fallback.lang, text=clean, confidence=fallback.confidence,
                      citations=tuple(_citation(h.chunk) for h in cited_hits), model=self.llm.name)

    # ---- helpers ---------------------------------------------------------------------

    def _abstain(self, question: str, lang: str, confidence: float, reason: str, started: float) -> Answer:
        return Answer(question=question, lang=lang, text=None, confidence=confidence, model="none",
                      reason=reason, latency_ms=(time.perf_counter() - started) * 1000)

    def _preferred(self, hits: Sequence[SearchHit], lang: str) -> SearchHit:
        """The best hit, or a nearly-as-good one in the asker's language."""
        best = hits[0]
        if best.chunk.lang == lang:
            return best
        for hit in hits[1:]:
            if hit.chunk.lang == lang and hit.score >= max(self.min_confidence, best.score - _LANGUAGE_SLACK):
                return hit
        return best

    def _extract(self, question: str, chunk: Chunk) -> str | None:
        """The one or two sentences of ``chunk`` that best cover the question's words."""
        if chunk.metadata.get("kind") == "product":
            return _clip(_product_answer(chunk), self.max_chars)
        sentences = _answer_sentences(chunk)
        if not sentences:
            return None
        if chunk.metadata.get("kind") == "faq" and len(_join(sentences)) <= self.max_chars:
            return _join(sentences)  # a short FAQ answer is quoted whole
        return self._best_of(question, sentences)

    def _best_of(self, question: str, sentences: list[str]) -> str:
        terms = set(tokenize(question))
        scored = []
        for i, sentence in enumerate(sentences):
            words = set(tokenize(sentence))
            overlap = sum(self.idf(t) for t in terms & words)
            scored.append((overlap - 0.01 * i, i))
        scored.sort(reverse=True)
        first = scored[0][1]
        picked = [first]
        if len(scored) > 1 and scored[1][0] > 0:
            second = scored[1][1]
            if len(sentences[first]) + len(sentences[second]) + 1 <= self.max_chars:
                picked.append(second)
        return _clip(_join(sentences[i] for i in sorted(picked)), self.max_chars)
