"""Rank the catalog against what the host is saying, with the room's signals, and explain it.

The relevance of each product to the host's recent speech comes from
`brain.products.matching.ProductMatcher` (lexical + dense, see docs/products.md).
This module adds what only a live room knows:

* **asked**: products viewers asked about recently lift (a saturating boost
  that fades with ``asked_half_life``): the host should show what the room wants;
* **pinned**: a product the host just pinned is already on screen, so it steps
  back and comes back as the penalty fades (``pin_half_life``);
* **stock**: a sold-out product sinks (it stays listed, with the reason).

Every `RankedProduct` carries its explanation: the matching words, the line of
host speech that said them, and the signals that moved it.

It also holds the two viewer-facing uses: resolving "how much is this one?" /
"这个多少钱" to the product of the moment, and recommending products to a viewer
who states a need ("有适合新手的吗?"), weighted by what that viewer asked before.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from brain.knowledge.product_records import format_price
from brain.products.content_window import ContentWindow
from brain.products.matching import ProductDoc, ProductMatcher, product_docs_from_chunks
from brain.text.tokens import detect_lang, tokenize

if TYPE_CHECKING:  # pragma: no cover
    from brain.knowledge.base import KnowledgeBase
    from brain.retrieval.embedders import Embedder

__all__ = [
    "RankingSettings",
    "RankedProduct",
    "RoomProducts",
    "ProductRanker",
    "refers_to_current",
    "resolve_reference",
    "detect_need",
    "describe_product",
]


@dataclass(frozen=True, slots=True)
class RankingSettings:
    """The knobs of live ranking (config: ``products``)."""

    window: float = 120.0
    half_life: float = 45.0
    max_lines: int = 2000
    asked_boost: float = 0.5
    asked_half_life: float = 300.0
    pin_penalty: float = 0.5
    pin_half_life: float = 300.0
    min_relevance: float = 0.15
    sold_out_factor: float = 0.2
    #: weight of a viewer's earlier questions beside their stated need
    history_weight: float = 0.3


@dataclass(frozen=True, slots=True)
class RankedProduct:
    """One product's place in the ranking, with why it is there."""

    product: ProductDoc
    score: float
    relevance: float
    terms: tuple[str, ...] = ()
    line: str | None = None
    asked: float = 0.0
    pinned_ago: float | None = None

    @property
    def reasons(self) -> list[str]:
        out = []
        if self.terms:
            out.append("matches " + ", ".join(f"'{t}'" for t in self.terms[:4]))
        if self.line:
            out.append(f"host: “{_clip(self.line, 80)}”")
        if self.asked >= 0.5:
            out.append(f"viewers asked about it (~{self.asked:.0f}× recently)")
        if self.pinned_ago is not None:
            out.append(f"pinned {_ago(self.pinned_ago)} ago")
        if self.product.stock == 0:
            out.append("sold out")
        elif self.product.stock is not None and self.product.stock <= 5:
            out.append(f"only {self.product.stock} left")
        if not out:
            out.append("close in meaning to what the host is saying")
        return out

    def explain(self) -> str:
        return "; ".join(self.reasons)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, int(seconds))} s"
    if seconds < 5400:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def describe_product(product: ProductDoc, lang: str = "en") -> str:
    """Name, price and link: how a product is announced in the room."""
    parts = [product.name]
    if product.price is not None:
        amount = format_price(product.price)
        if lang == "zh" and product.currency in ("CNY", ""):
            parts.append(f"{amount} 元")
        else:
            parts.append(f"{amount} {product.currency}".strip())
    text = ", ".join(parts) if lang != "zh" else "，".join(parts)
    if product.stock == 0:
        text += " (已售罄)" if lang == "zh" else " (sold out)"
    if product.url:
        text += f" {product.url}"
    return text


@dataclass
class RoomProducts:
    """What one room's ranking remembers: the host's speech, questions about products, pins."""

    window: ContentWindow
    asked: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    pins: dict[str, float] = field(default_factory=dict)
    top: RankedProduct | None = None
    last_suggested: float = float("-inf")

    def note_asked(self, product_id: str, ts: float, keep: int = 50) -> None:
        times = self.asked[product_id]
        times.append(ts)
        del times[:-keep]


#: `ProductRanker.from_knowledge`'s default embedder: the knowledge base's own.
_KB_EMBEDDER: Any = object()


class ProductRanker:
    """Scores a catalog against a room's window and signals. Runs on the brain thread."""

    def __init__(self, matcher: ProductMatcher, settings: RankingSettings = RankingSettings()) -> None:
        self.matcher = matcher
        self.settings = settings
        self.products: Sequence[ProductDoc] = matcher.products
        self._position = {p.id: i for i, p in enumerate(self.products)}
        self._name_index = _NameIndex(self.products)
        #: sold-out products sink (precomputed: the catalog is fixed for the ranker's life)
        self._stock_factor = np.asarray([settings.sold_out_factor if p.stock == 0 else 1.0 for p in self.products],
                                        dtype=np.float32)

    @classmethod
    def from_knowledge(cls, kb: "KnowledgeBase", settings: RankingSettings = RankingSettings(), *,
                       embedder: "Embedder | None" = _KB_EMBEDDER) -> "ProductRanker":
        """The ranker over a knowledge base's catalog as it is now (rebuild when ``kb.version`` moves).

        The products are the knowledge base's product chunks
        (`KnowledgeBase.product_chunks`). Their vectors are the ones ingest
        stored, reused when every product has one (never re-embedded);
        otherwise the matcher embeds the catalog itself. ``embedder`` embeds
        queries (and the catalog when it must); it defaults to the knowledge
        base's own, and None ranks lexically. Product ids given more than once
        keep their first product: ``ranker.matcher.duplicates`` lists them.
        """
        if embedder is _KB_EMBEDDER:
            embedder = kb.embedder
        chunks, stored = kb.product_chunks()
        docs = product_docs_from_chunks(chunks)
        vectors = None
        if stored is not None and chunks:
            by_product = {str(c.metadata.get("id", c.id)): stored[c.id] for c in chunks if c.id in stored}
            if len(by_product) == len(docs):
                vectors = by_product
        return cls(ProductMatcher(docs, embedder, vectors=vectors), settings)

    def find(self, text: str) -> ProductDoc | None:
        """A product by id, exact name, or the best name match (``/pin blendgo pro``)."""
        needle = text.strip()
        if not needle:
            return None
        for p in self.products:
            if p.id.lower() == needle.lower() or p.name.lower() == needle.lower():
                return p
        named = self._name_index.named_in(needle, min_share=0.5)
        return self.products[named[0]] if named else None

    def products_named_in(self, text: str) -> list[ProductDoc]:
        """Products a viewer's message names (most of the name's words appear in it)."""
        return [self.products[i] for i in self._name_index.named_in(text, min_share=0.6)]

    # ---- ranking ---------------------------------------------------------------------

    def rank(self, room: RoomProducts, now: float, n: int = 5) -> list[RankedProduct]:
        """The top ``n`` products for the room at ``now`` (empty when nothing is relevant)."""
        room.window.expire(now)
        terms = room.window.terms(now)
        if not self.products or (not terms and room.window.vector(now) is None):
            return []
        relevance = self.matcher.scores(terms, room.window.vector(now), room.window.vector_share())
        score = relevance * self._signal_factors(room, now)
        order = _top_indices(score, max(n, 1))
        out = []
        for i in order:
            if relevance[i] < self.settings.min_relevance:
                continue
            out.append(self._ranked(int(i), float(score[i]), float(relevance[i]), terms, room, now))
        return out[:n]

    def _signal_factors(self, room: RoomProducts, now: float) -> np.ndarray:
        s = self.settings
        factor = self._stock_factor.copy()
        for pid, times in room.asked.items():
            i = self._position.get(pid)
            if i is not None:
                factor[i] *= 1.0 + s.asked_boost * (1.0 - 2.0 ** -self._asked_mass(times, now))
        for pid, ts in room.pins.items():
            i = self._position.get(pid)
            if i is not None:
                factor[i] *= 1.0 - s.pin_penalty * 2.0 ** (-max(0.0, now - ts) / s.pin_half_life)
        return factor

    def _asked_mass(self, times: Sequence[float], now: float) -> float:
        hl = self.settings.asked_half_life
        return float(sum(2.0 ** (-max(0.0, now - t) / hl) for t in times))

    def _ranked(self, i: int, score: float, relevance: float, terms: Mapping[str, float],
                room: RoomProducts, now: float) -> RankedProduct:
        product = self.products[i]
        matched = tuple(self.matcher.explain(i, terms))
        line = room.window.line_with(matched) if matched else None
        pinned = room.pins.get(product.id)
        return RankedProduct(product=product, score=score, relevance=relevance, terms=matched,
                             line=line.text if line else None,
                             asked=self._asked_mass(room.asked.get(product.id, ()), now),
                             pinned_ago=None if pinned is None else max(0.0, now - pinned))

    # ---- viewers ---------------------------------------------------------------------

    def recommend(self, need: str, history: Sequence[str] = (), *, vector: np.ndarray | None = None,
                  history_vectors: Sequence[np.ndarray] = (), n: int = 3) -> list[RankedProduct]:
        """Products for a viewer's stated need, nudged by what they asked before."""
        if not self.products:
            return []
        terms = self.matcher.terms_from_text(need)
        w = self.settings.history_weight / max(1, len(history))
        for text in history:
            for token, value in self.matcher.terms_from_text(text, weight=w).items():
                terms[token] = terms.get(token, 0.0) + value
        if vector is not None and len(history_vectors):
            vector = vector + self.settings.history_weight * np.mean(np.asarray(history_vectors), axis=0)
            vector = (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)
        relevance = self.matcher.scores(terms, vector)
        relevance = relevance * self._stock_factor
        need_terms = {t: 1.0 for t in tokenize(need)}
        out = []
        for i in _top_indices(relevance, n):
            if relevance[i] < self.settings.min_relevance:
                break
            out.append(RankedProduct(product=self.products[int(i)], score=float(relevance[i]),
                                     relevance=float(relevance[i]),
                                     terms=tuple(self.matcher.explain(int(i), need_terms))))
        return out


def _top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` best scores, best first (a partial sort: O(len) instead of O(len log len))."""
    if n >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


class _NameIndex:
    """Inverted index of product-name tokens, to tell which products a message names."""

    def __init__(self, products: Sequence[ProductDoc]) -> None:
        self._names: list[frozenset[str]] = []
        self._by_token: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(products):
            toks = frozenset(tokenize(p.name))
            self._names.append(toks)
            for t in toks:
                self._by_token[t].append(i)

    def named_in(self, text: str, min_share: float) -> list[int]:
        """Products whose name's tokens appear in ``text`` for at least ``min_share``; best first."""
        toks = set(tokenize(text))
        hits: dict[int, int] = defaultdict(int)
        for t in toks:
            for i in self._by_token.get(t, ()):
                hits[i] += 1
        scored = [(c / len(self._names[i]), c, i) for i, c in hits.items() if self._names[i]]
        scored = [x for x in scored if x[0] >= min_share]
        return [i for _, _, i in sorted(scored, key=lambda x: (-x[0], -x[1], x[2]))]


# ---- words that point at "the product on screen" and words that state a need ------------

_DEICTIC_EN = re.compile(r"\b(?:this|that)(?:\s+(?:one|thing|item|product|model))?\b", re.I)
#: "it" points at the product only in questions about a product's attributes ("how much is it?").
_IT_EN = re.compile(r"\bit\b", re.I)
_ATTRIBUTE_EN = re.compile(r"\b(?:how\s+much|price|cost|stock|available|battery|size|colou?r|weigh|"
                           r"come\s+with|work\s+with|fit|warranty|ship)", re.I)
_DEICTIC_ZH = re.compile(r"这个|那个|这款|那款|这件|那件|这一款|这个东西|它")
_NEED_EN = re.compile(
    r"\b(?:i\s+need|i'?m\s+looking\s+for|i\s+am\s+looking\s+for|looking\s+for|recommend|suggest|"
    r"(?:something|anything)\s+(?:for|to|that)|what\s+should\s+i\s+(?:buy|get)|"
    r"which\s+(?:one|product|model)\s+(?:should|is\s+best|for)|do\s+you\s+have\s+(?:anything|something))\b",
    re.I)
_NEED_ZH = re.compile(r"适合|推荐|想买|想要|有没有.{0,8}的|有.{0,8}的吗|哪款|哪个好|求推荐")
#: "Do I need to buy a BlendGo to take the course?" asks what is *required*: a question for the
#: knowledge base (its FAQ says "No. Any blender works"), not a need for a recommendation.
_REQUIREMENT_EN = re.compile(
    r"\b(?:do|does|did|will|would|should|must|shall)\s+(?:i|we|you|one|they)\s+(?:really\s+|also\s+|still\s+)?"
    r"(?:need|have\s+to|gotta)\b|\bis\s+(?:it|an?\s+\w+|the\s+\w+)\s+(?:required|necessary|needed|a\s+must)\b|"
    r"\bneed(?:ed)?\s+(?:for|to\s+(?:take|join|do|follow|attend))\s+the\s+(?:course|class|lesson)", re.I)
_REQUIREMENT_ZH = re.compile(r"需要.{0,16}[吗么嘛]|必须|一定要|非得|得买.{0,10}[吗么]|才能")


def refers_to_current(text: str) -> bool:
    """Does the message point at "this one" rather than name a product?"""
    if detect_lang(text) == "zh":
        return bool(_DEICTIC_ZH.search(text))
    return bool(_DEICTIC_EN.search(text) or (_IT_EN.search(text) and _ATTRIBUTE_EN.search(text)))


def resolve_reference(text: str, product: ProductDoc) -> str:
    """``text`` with its first "this one"/"这个" replaced by the product's name."""
    if detect_lang(text) == "zh":
        return _DEICTIC_ZH.sub(product.name, text, count=1)
    replaced, n = _DEICTIC_EN.subn(product.name, text, count=1)
    return replaced if n else _IT_EN.sub(product.name, text, count=1)


def detect_need(text: str) -> bool:
    """Does a viewer state a need the catalog might meet ("有适合新手的吗?", "I need something for...")?"""
    if detect_lang(text) == "zh":
        return bool(_NEED_ZH.search(text)) and not _REQUIREMENT_ZH.search(text)
    return bool(_NEED_EN.search(text)) and not _REQUIREMENT_EN.search(text)
