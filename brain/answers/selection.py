"""Choosing what to say: the candidate across the top passages that answers *this* question.

Retrieval ranks passages; a viewer reads one short answer. The selector takes
every candidate (`brain.answers.candidates`: a sentence, a table row, a
product field) of the top passages, plus the passages holding the candidates
closest in meaning to the question, describes each by a few signals
(`FEATURES`), and quotes the best:

- **words**: the question's words found in the candidate, weighted by their
  idf in the knowledge base and by how rare they are among the candidates (a
  page's topic name is in all its sentences and tells none apart), and the
  words found in the passage's title (an FAQ's question, a section heading);
- **meaning**: the cosine between the question and the candidate, and between
  the question and the passage's title, under a multilingual reader model
  (`brain.retrieval.embedders.UniversalSentenceEncoder`): what matches
  "寄到美国吗" to "其他国家暂时不发货" with no word in common;
- **kind**: the candidate holds the kind of fact asked for
  (`brain.answers.question_kinds`): a date for "when", a price for "how much";
  and whether any candidate does (none holds a weight for "how heavy?");
- **retrieval**: the calibrated confidence of the candidate's passage;
- **shape**: the asker's language, a product named by the question itself and
  not an accessory for it (and a candidate that mentions no product the
  question names), an FAQ answer, a product field, the position in the
  passage and the length.

The score is a weighted sum, with weights fit on labelled questions
(`bench/fit_answer_selection.py`, numbers in docs/answers.md). A second fitted
model reads the chosen candidate's score, its lead over a rival that says
something else (`rival_margin`) and a few of its features, and gives the confidence:
the probability that what is said carries the answer. Under its language's bar
the bot passes the question on, even when retrieval found a likely passage.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from brain.answers.candidates import Candidate, candidates_of, join_sentences, product_head_words, product_subject
from brain.answers.question_kinds import Kind, asking_phrases, holds, kind_of
from brain.retrieval.embedders import Embedder
from brain.retrieval.query_expansion import intent_words
from brain.retrieval.types import Chunk, SearchHit
from brain.text.tokens import content_words, tokenize

__all__ = ["AnswerSelector", "Selection", "SelectionWeights", "Scored", "FEATURES", "CONFIDENCE_FEATURES",
           "confidence_features", "rival_margin", "clip"]

#: The signals each candidate is described by, in the order of the feature matrix.
FEATURES: tuple[str, ...] = (
    "words", "title", "explained", "unknown", "chars", "meaning", "title_meaning", "passage_meaning", "kind",
    "retrieval", "top_passage", "by_meaning", "language", "subject", "faq", "product_field", "product_line",
    "position", "length", "meaning_gap", "words_gap", "kind_missing", "off_subject",
)

#: What the confidence model reads: the best candidate's score, its margin over the runner-up, and the
#: few of its features that say whether it answers at all. Fewer than the score's: fit on a few hundred
#: viewer questions, the full set learnt the questions rather than the signs (docs/answers.md).
CONFIDENCE_READS: tuple[str, ...] = ("meaning", "retrieval", "unknown", "explained", "kind_missing", "kind", "words",
                                     "title_meaning", "language")
CONFIDENCE_FEATURES: tuple[str, ...] = ("score", "margin") + CONFIDENCE_READS
_CONFIDENCE_COLUMNS = [FEATURES.index(name) for name in CONFIDENCE_READS]


_FIGURE = re.compile(r"\d+(?:[.,:]\d+)?")


def rival_margin(pool: Sequence[tuple[SearchHit, Candidate]], scores: np.ndarray, order: Sequence[int],
                 best: int) -> float:
    """How far ``best`` leads the best candidate that says something else, somewhere else.

    A runner-up stating the same figure ("349 元" in the FAQ and "price 349
    CNY" in the catalog) agrees with the choice rather than competing with it,
    and one from the same passage (the course's early-bird price next to its
    price) elaborates the same source: neither makes the answer less sure.
    """
    figures = set(_FIGURE.findall(pool[best][1].text))
    source = pool[best][1].chunk.id
    for i in order:
        if i == best or pool[i][1].chunk.id == source \
                or (figures and figures & set(_FIGURE.findall(pool[i][1].text))):
            continue
        return float(scores[best] - scores[i])
    return 5.0


def confidence_features(score: float, margin: float, features: np.ndarray) -> np.ndarray:
    """The confidence model's input for one chosen candidate, in `CONFIDENCE_FEATURES` order."""
    return np.concatenate([[score, min(margin, 5.0)], features[_CONFIDENCE_COLUMNS]])


#: Fit by bench/fit_answer_selection.py (docs/answers.md): the weights of the candidates' features,
#: the confidence model over the chosen one, and the confidence each language needs to be said.
FITTED_WEIGHTS: Mapping[str, float] = {
    "words": 1.250, "title": 0.266, "explained": 0.597, "unknown": -0.000, "chars": 1.568, "meaning": 1.273,
    "title_meaning": 0.550, "passage_meaning": 0.434, "kind": 1.169, "retrieval": 1.129, "top_passage": 1.002,
    "by_meaning": -0.571, "language": -0.072, "subject": 0.656, "faq": -0.262, "product_field": 0.063,
    "product_line": -0.277, "position": -0.215, "length": 0.245, "meaning_gap": 1.273, "words_gap": 1.250,
    "kind_missing": -0.000, "off_subject": -0.573,
}
FITTED_CONFIDENCE: Mapping[str, float] = {
    "score": 0.797, "margin": 0.408, "meaning": 0.126, "retrieval": 0.324, "unknown": -0.255, "explained": 0.038,
    "kind_missing": -0.230, "kind": 0.213, "words": -0.025, "title_meaning": 0.176, "language": -0.050,
}
FITTED_CONFIDENCE_BIAS = -3.841
FITTED_BARS: Mapping[str, float] = {
    "en": 0.42, "zh": 0.56,
}


@dataclass(frozen=True, slots=True)
class SelectionWeights:
    """How the signals add up, how sure the choice is, and the confidence each language needs."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(FITTED_WEIGHTS))
    confidence: Mapping[str, float] = field(default_factory=lambda: dict(FITTED_CONFIDENCE))
    confidence_bias: float = FITTED_CONFIDENCE_BIAS
    #: Below this confidence (per language) the best candidate does not answer the question.
    threshold: Mapping[str, float] = field(default_factory=lambda: dict(FITTED_BARS))
    #: A neighbouring sentence scoring at most this far below the best is quoted with it.
    neighbour: float = 0.15
    #: A candidate in the asker's language scoring at most this far below the best is said instead.
    language_slack: float = 1.3
    #: Passages considered, best first.
    passages: int = 5
    #: Passages added because one of their candidates is among the closest in meaning to the question.
    by_meaning: int = 3

    def vector(self) -> np.ndarray:
        return np.array([self.weights.get(name, 0.0) for name in FEATURES], dtype=np.float64)

    def confidence_vector(self) -> np.ndarray:
        return np.array([self.confidence.get(name, 0.0) for name in CONFIDENCE_FEATURES], dtype=np.float64)

    def bar(self, lang: str) -> float:
        return self.threshold.get(lang, max(self.threshold.values()))


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen text, the candidates it came from, and how sure the choice is."""

    text: str
    candidates: tuple[Candidate, ...]
    score: float
    confidence: float  # the fitted probability that the text carries the answer
    kind: Kind
    threshold: float
    lead: int = 0  # the position in the scored pool of the candidate the choice was made on

    @property
    def answers(self) -> bool:
        """Whether the text answers the question surely enough to be said."""
        return self.confidence >= self.threshold


@dataclass(frozen=True, slots=True)
class Scored:
    """The candidates of one question and their feature matrix (what `decide` chooses from, and what is fit)."""

    pool: list[tuple[SearchHit, Candidate]]
    features: np.ndarray  # (len(pool), len(FEATURES))
    kind: Kind
    mixed: bool = False  # the question mixes scripts ("bundle多少钱"): both languages are its own


class _VectorCache:
    """Embeddings of candidate texts, least recently used dropped first."""

    def __init__(self, reader: Embedder, size: int = 50_000) -> None:
        self.reader = reader
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self.reader.embed(missing)):
                self._vectors[text] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        for text in texts:
            self._vectors.move_to_end(text)
        return np.stack([self._vectors[t] for t in texts])


class AnswerSelector:
    """Scores the candidates of the top passages for one question and picks what to quote.

    With a ``reader`` model it also reads meaning: each candidate's cosine to
    the question is a signal, and `index` keeps every candidate of the
    knowledge base as a vector so that a question whose words the retriever
    could not match ("搅拌机坏了怎么办" against "质量问题 30 天内免费换新")
    still finds its sentence: the closest candidates by meaning bring their
    passages into the pool. Without a reader, words, kinds and retrieval decide.
    """

    def __init__(self, *, idf: Callable[[str], float] | None = None, known: Callable[[str], bool] | None = None,
                 reader: Embedder | None = None, weights: SelectionWeights | None = None,
                 max_chars: int = 300) -> None:
        self.idf = idf or (lambda token: 1.0)
        self.known = known
        self.weights = weights or SelectionWeights()
        self.max_chars = max_chars
        self._vectors = _VectorCache(reader) if reader is not None else None
        self._index_chunks: list[Chunk] = []
        self._index_vectors: np.ndarray | None = None
        self._index_owner: np.ndarray = np.zeros(0, dtype=np.int64)

    def index(self, chunks: Iterable[Chunk], limit: int = 50_000) -> int:
        """Embed every candidate of ``chunks`` (at load and after a reload), for the search by meaning.

        Also warms the vector cache, so a viewer's question does not wait for
        its passages' sentences to be embedded. At most ``limit`` candidates
        (the rest are still scored when retrieval finds their passage).
        Returns how many candidates are indexed.
        """
        if self._vectors is None:
            return 0
        kept: list[Chunk] = []
        texts: list[str] = []
        owner: list[int] = []
        for chunk in chunks:
            found = [c.text for c in candidates_of(chunk)]
            if not found or len(texts) + len(found) > limit:
                continue
            kept.append(chunk)
            owner.extend([len(kept) - 1] * len(found))
            texts.extend(found)
        self._index_vectors = self._vectors.get(texts) if texts else None
        self._index_chunks, self._index_owner = kept, np.asarray(owner, dtype=np.int64)
        # The passages and titles are read for every question too: embed them now as well.
        self._vectors.get([c.text for c in kept] + [_heading(c) for c in kept])
        return len(texts)

    def _by_meaning(self, question_vector: np.ndarray, exclude: set[str]) -> list[SearchHit]:
        """Passages holding the candidates closest in meaning to the question, not already among the hits."""
        if self._index_vectors is None or not self.weights.by_meaning:
            return []
        sims = self._index_vectors @ question_vector
        top = np.argsort(-sims)[: self.weights.by_meaning * 4]
        out: list[SearchHit] = []
        for i in top:
            chunk = self._index_chunks[int(self._index_owner[i])]
            if chunk.id not in exclude:
                exclude.add(chunk.id)
                out.append(SearchHit(chunk, 0.0, {"meaning": float(sims[i])}))
                if len(out) >= self.weights.by_meaning:
                    break
        return out

    def score(self, question: str, search_text: str, hits: Sequence[SearchHit], lang: str) -> Scored:
        """The candidates of the top passages (and of the passages closest in meaning) with their features."""
        passages = list(hits[: self.weights.passages])
        if self._vectors is not None:
            question_vector = self._vectors.get([question])[0]
            passages += self._by_meaning(question_vector, {h.chunk.id for h in passages})
        pool = [(hit, c) for hit in passages for c in candidates_of(hit.chunk)]
        kind = kind_of(question)
        top = hits[0].chunk.id if hits else None
        return Scored(pool, self._features(question, search_text, pool, kind, lang, top), kind, _mixed(question))

    def select(self, question: str, search_text: str, hits: Sequence[SearchHit], lang: str) -> Selection | None:
        """The best answer to ``question``, or None when there is nothing to quote at all."""
        return self.decide(self.score(question, search_text, hits, lang), lang)

    def decide(self, scored: Scored, lang: str, weights: SelectionWeights | None = None) -> Selection | None:
        """What to say from scored candidates: the best one, with what it needs, and how sure that is.

        A neighbouring sentence scoring nearly as well is quoted with it; an
        FAQ answer that fits in ``max_chars`` is quoted whole (it was written
        to answer its question: "No. Any blender works, …"). ``weights``
        overrides the selector's own (the fit scores candidate weights so).
        """
        w = weights or self.weights
        pool = scored.pool
        if not pool:
            return None
        scores = scored.features @ w.vector()
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        best = order[0]
        if pool[best][1].chunk.lang != lang and not scored.mixed:
            # A viewer reads an answer in their own language when one is nearly as good.
            own = [i for i in order if pool[i][1].chunk.lang == lang]
            if own and scores[own[0]] >= scores[best] - w.language_slack:
                best = own[0]
        margin = rival_margin(pool, scores, order, best)
        picked = [best]
        neighbours = [i for i in (best - 1, best + 1) if 0 <= i < len(pool) and not pool[best][1].field
                      and pool[i][1].chunk.id == pool[best][1].chunk.id
                      and abs(pool[i][1].position - pool[best][1].position) == 1]
        if neighbours:
            other = max(neighbours, key=lambda i: scores[i])
            if scores[other] >= scores[best] - w.neighbour:
                picked = sorted((best, other))
        chosen = tuple(pool[i][1] for i in picked)
        if pool[best][1].chunk.metadata.get("kind") == "faq":
            whole = tuple(c for _, c in pool if c.chunk.id == pool[best][1].chunk.id)
            if len(join_sentences([c.text for c in whole])) <= self.max_chars:
                chosen = whole
        logit = float(w.confidence_vector() @ confidence_features(float(scores[best]), margin,
                                                                 scored.features[best]) + w.confidence_bias)
        return Selection(text=clip(join_sentences([c.text for c in chosen]), self.max_chars), candidates=chosen,
                         score=float(scores[best]), confidence=float(1.0 / (1.0 + np.exp(-logit))),
                         kind=scored.kind, threshold=w.bar(lang), lead=best)

    # ---- the signals -----------------------------------------------------------------

    @staticmethod
    def _coverage(terms: dict[str, float], words: frozenset[str]) -> float:
        """Share of the question's weighted terms that occur in ``words``."""
        total = sum(terms.values())
        if not total:
            return 0.0
        return sum(w for t, w in terms.items() if t in words) / total

    def _features(self, question: str, search_text: str, pool: list[tuple[SearchHit, Candidate]],
                  kind: Kind, lang: str, top: str | None) -> np.ndarray:
        """The `FEATURES` of each candidate, one row each.

        A question word's weight is its idf in the knowledge base times how
        rare it is *among the candidates*: the name of what a passage is about
        ("黄鳍紫鱼", "BlendGo Pro") is in most of its sentences, so it tells
        them apart less than "颜色" or "charge" does. Words the query expansion
        added ("price" for "how much"), in both languages
        (`brain.retrieval.query_expansion.intent_words`), count half: they are a guess.
        """
        n = len(pool)
        out = np.zeros((n, len(FEATURES)), dtype=np.float64)
        if not n:
            return out
        col = {name: i for i, name in enumerate(FEATURES)}
        mixed = _mixed(question)
        words = [_words(c.text) for _, c in pool]
        asking = asking_phrases(question)
        topic = _strip(question, asking)
        asked = set(tokenize(question))
        kind_words = set(tokenize(" ".join(asking))) - set(tokenize(topic))
        guessed = set(tokenize(search_text)) | set(tokenize(intent_words(question)))
        terms: dict[str, float] = {}
        for t in asked | guessed:
            df = sum(1 for ws in words if t in ws)
            share = 0.5 if t not in asked else _KIND_WORD if t in kind_words else 1.0
            terms[t] = self.idf(t) * float(np.log1p(n / (1 + df))) * share
        # Chinese paraphrases share characters where they share no word ("打冰" and "冰块"):
        # the question's characters, weighted by how rare they are among the candidates.
        hanzi: dict[str, float] = {}
        asked_chars = _hanzi(topic)
        if asked_chars:
            char_sets = [_hanzi(c.text) | _hanzi(c.chunk.title) for _, c in pool]
            for ch in asked_chars:
                df = sum(1 for cs in char_sets if ch in cs)
                hanzi[ch] = float(np.log1p(n / (1 + df)))
        # What the question asks about that the passage, or the whole knowledge base, never mentions
        # ("paypal", "花呗"): the strongest sign that no candidate answers it.
        own = {t: self.idf(t) for t in asked}
        content = {t: self.idf(t) for t in content_words(topic) if t not in _CHAT_FILLER}
        unknown = self._coverage(content, frozenset(t for t in content if self.known and not self.known(t)))
        # The products the question names ("bundle多少钱", "用cable充满pro要多久"): a candidate that
        # mentions none of them answers about something else, however well the rest matches.
        named = frozenset(asked & set().union(*(product_head_words(c.chunk) for _, c in pool if c.field)))
        passage_words: dict[str, frozenset[str]] = {}
        titles: dict[str, tuple[float, dict[str, float]]] = {}
        for i, (hit, cand) in enumerate(pool):
            chunk = cand.chunk
            faq = chunk.metadata.get("kind") == "faq"
            if chunk.id not in titles:
                title_words = _words(chunk.title)
                # A page's title names its topic, which all its sentences share; an FAQ's title is
                # the question its answer answers, so its words still count in the answer.
                rest = terms if faq else {t: v for t, v in terms.items() if t not in title_words}
                titles[chunk.id] = (self._coverage(terms, title_words), rest)
            title, rest = titles[chunk.id]
            row = out[i]
            row[col["words"]] = self._coverage(rest, words[i])
            if chunk.id not in passage_words:
                passage_words[chunk.id] = _words(chunk.text) | _words(chunk.title)
            row[col["explained"]] = self._coverage(own, passage_words[chunk.id])
            row[col["unknown"]] = unknown
            row[col["chars"]] = self._coverage(hanzi, _hanzi(cand.text) | _hanzi(chunk.title)) if hanzi else 0.0
            row[col["title"]] = title
            row[col["kind"]] = kind != "other" and holds(kind, cand.text)
            row[col["retrieval"]] = hit.score
            row[col["top_passage"]] = chunk.id == top
            row[col["by_meaning"]] = "meaning" in hit.scores
            # A question mixing scripts ("bundle多少钱") is in both languages.
            row[col["language"]] = 0.5 if mixed else chunk.lang == lang
            row[col["subject"]] = product_subject(chunk, asked) if cand.field else 0
            row[col["off_subject"]] = bool(named) and not named & (words[i] | _words(chunk.title))
            row[col["faq"]] = faq
            row[col["product_field"]] = cand.field in ("price", "stock", "description")
            row[col["product_line"]] = cand.field == "product"
            row[col["position"]] = min(cand.position, 10) / 10
            row[col["length"]] = np.log1p(len(cand.text)) / 5
        if self._vectors is not None:
            vectors = self._vectors.get([question] + [c.text for _, c in pool])
            out[:, col["meaning"]] = vectors[1:] @ vectors[0]
            heads = self._vectors.get([question] + [_heading(c.chunk) for _, c in pool])
            out[:, col["title_meaning"]] = heads[1:] @ heads[0]
            passages = self._vectors.get([question] + [c.chunk.text for _, c in pool])
            out[:, col["passage_meaning"]] = passages[1:] @ passages[0]
        # How far each candidate is from the best of the pool by meaning and by words: a choice
        # that leads on both is surer than one that wins on the sum of weak signals.
        out[:, col["meaning_gap"]] = out[:, col["meaning"]] - out[:, col["meaning"]].max()
        out[:, col["words_gap"]] = out[:, col["words"]] - out[:, col["words"]].max()
        # A question asking for a kind of fact no candidate holds ("how heavy is the mini?" of a
        # catalog with no weights) is one the knowledge cannot answer, however well its words match.
        out[:, col["kind_missing"]] = kind != "other" and not out[:, col["kind"]].any()
        return out


@lru_cache(maxsize=100_000)
def _words(text: str) -> frozenset[str]:
    """The tokens of a candidate or title, cached: the same passages come back question after question."""
    return frozenset(tokenize(text))


#: Chat words that name no topic: never a sign that the knowledge base lacks what is asked about.
_CHAT_FILLER = frozenset({"what", "whats", "much", "many", "u", "ur", "r", "pls", "plz", "please", "hi", "hello",
                          "hey", "guys", "anyone", "someone", "thanks", "怎么办", "请问", "大家", "主播", "老师"})

#: How much a word that only says what kind of fact is asked ("how much", "多少钱") counts.
_KIND_WORD = 0.3


def _strip(question: str, asking: list[str]) -> str:
    """``question`` without its asking phrases: the topic the question is about."""
    for phrase in asking:
        question = question.replace(phrase, " ")
    return question


_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _mixed(question: str) -> bool:
    """Whether the question mixes English words and Chinese ("bundle多少钱")."""
    return bool(_LATIN_WORD.search(question)) and bool(_hanzi(question))
#: Characters that carry grammar, not meaning: never a reason to pick a sentence.
_FUNCTION_CHARS = frozenset("的了吗呢啊吧呀是在有和与我你他她它们这那哪能可以会要么什怎如何个一不没也都就还很吗嘛么")


@lru_cache(maxsize=100_000)
def _hanzi(text: str) -> frozenset[str]:
    """The CJK characters of ``text`` that carry meaning."""
    return frozenset(ch for ch in text if "\u4e00" <= ch <= "\u9fff" and ch not in _FUNCTION_CHARS)


def _heading(chunk: Chunk) -> str:
    """The last part of a chunk's title path: the FAQ question or the section a sentence is under."""
    return (chunk.title or chunk.source).split(" > ")[-1]


_BREAKS = " ，,。；;：:、！？!?）)"


def clip(text: str, limit: int) -> str:
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
