"""Relevance of every catalog product to a text: the core of live product ranking.

The bot re-ranks the whole catalog after each line of the host's speech (a
rolling, recency-weighted window of the transcript) and for a viewer's stated
need. This module only scores; windows, room signals and commands are built on
top of :class:`ProductMatcher`.

Method (docs/products.md has the evaluation and the variants tried):

* Lexical: BM25F over two fields, the product **name** (+ tags) and its
  **text** (description), name occurrences weighted ``name_weight``,
  per-field length normalisation and one saturation (k1) over the weighted
  sum. Adjacent word pairs of the name ("mouse pad") are extra name terms,
  matched by the pairs ``terms_from_text`` adds at ``phrase_weight``. The
  saturated weights of every (product, term) pair do not depend on the query,
  so they are precomputed into one sparse CSC matrix; scoring gathers the
  query's columns and sums them per product. The lexical score is put on the
  absolute scale of ``brain.retrieval.hybrid``: a **match ratio** = score /
  Σ (query weight × idf), clipped at 1: about 1 when a product names every
  query term, lower for partial matches; terms the catalog never uses count
  with the maximal idf, so a half-matched query scores low.
* Dense: cosine of the query vector with each product's vector (name +
  description). English query text is embedded as ``query_template``
  ("buy {}"): short shopping words embed poorly alone, framed as a purchase
  they land nearer product names. Optional Rocchio feedback towards the top
  ``prf_k`` lexical matches exists but is off (it measured worse).
* Fusion: ``(1 - w) * ratio + w * max(cos, 0)`` with ``w = dense_weight``;
  ``w = 0`` without a vector (no embedder, or a query in a language the
  embedder does not declare: ``embed_query`` returns None), ``w = 1`` when no
  query term is known to the catalog. Scores lie in [0, 1] and mean the same
  on every query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from scipy import sparse

from brain.retrieval.embedders import Embedder
from brain.text.tokens import detect_lang, tokenize

__all__ = ["ProductDoc", "MatchConfig", "ProductMatcher", "product_docs_from_chunks"]


@dataclass(frozen=True)
class ProductDoc:
    """One catalog product as the matcher sees it.

    ``text`` is the description (or a whole passage); it may be empty, then
    the product is matched on its name (and tags) only.
    """

    id: str
    name: str
    text: str = ""
    lang: str = "en"
    price: float | None = None
    currency: str = ""
    url: str = ""
    tags: tuple[str, ...] = ()
    stock: int | None = None

    @classmethod
    def from_chunk(cls, chunk: Any) -> "ProductDoc":
        """Build from a knowledge-base product chunk (``metadata["kind"] == "product"``).

        The chunk text is ``brain.knowledge.product_records.product_draft``'s rendering
        (name. description. Price: .. Tags: .. Stock: .. Product ID: ..\\nLink: ..);
        the catalog fields come from the metadata, and the rendered field lines are
        stripped from the text so that "price", "stock", the id and the link do
        not count as description words. Tags are stored flattened as
        ``"a, b, c"`` in metadata and split back here.
        """
        meta = dict(getattr(chunk, "metadata", {}) or {})
        if meta.get("kind", "product") != "product":
            raise ValueError(f"chunk {getattr(chunk, 'id', '?')!r} is not a product chunk (kind={meta.get('kind')!r})")
        name = str(meta.get("name") or getattr(chunk, "title", "") or "")
        pid = str(meta.get("id") or getattr(chunk, "source", "") or getattr(chunk, "id", ""))
        price = meta.get("price")
        stock = meta.get("stock")
        raw_tags = meta.get("tags") or ""
        tags = tuple(t for t in (s.strip() for s in str(raw_tags).split(",")) if t)
        return cls(id=pid, name=name, text=_description_from_rendering(str(getattr(chunk, "text", "")), name),
                   lang=str(getattr(chunk, "lang", "en") or "en"),
                   price=float(price) if isinstance(price, (int, float)) and not isinstance(price, bool) else None,
                   currency=str(meta.get("currency") or ""), url=str(meta.get("url") or ""), tags=tags,
                   stock=int(stock) if isinstance(stock, (int, float)) and not isinstance(stock, bool) else None)

    def embed_text(self) -> str:
        """The text the dense side embeds: name, then description (and tags when there is no description)."""
        body = self.text if self.text else ", ".join(self.tags)
        return f"{self.name}. {body}" if body and not body.startswith(self.name) else (body or self.name)


# Field lines product_draft appends after the description (English and Chinese).
_RENDERED_FIELD = re.compile(
    r"(?:^|(?<=[.。]))\s*(?:Price|Tags|Stock|Product ID|价格|标签|库存|商品编号)\s*[:：].*$", re.DOTALL)
_LINK_LINE = re.compile(r"\n(?:Link|链接)[:：]\s*\S+\s*$")


def _description_from_rendering(text: str, name: str) -> str:
    text = _LINK_LINE.sub("", text)
    text = _RENDERED_FIELD.sub("", text).strip()
    stripped = name.rstrip(".")
    if stripped and text.startswith(stripped):
        text = text[len(stripped):].lstrip(" .。")
    return text.strip()


def _pairs(tokens: Sequence[str]) -> list[str]:
    """Adjacent token pairs, "a b" (tokens never contain spaces), for phrase matching."""
    return [f"{a} {b}" for a, b in zip(tokens, tokens[1:]) if a != b]


def product_docs_from_chunks(chunks: Iterable[Any]) -> list[ProductDoc]:
    """ProductDocs of the product chunks among ``chunks`` (others are ignored), in order."""
    return [ProductDoc.from_chunk(c) for c in chunks
            if (getattr(c, "metadata", None) or {}).get("kind") == "product"]


@dataclass(frozen=True)
class MatchConfig:
    """Relevance constants (chosen on prod-chorus-dev with a 2-fold check; docs/products.md)."""

    k1: float = 1.2
    b_name: float = 0.75        # length normalisation of the name field
    b_text: float = 0.75        # ... and of the description field
    name_weight: float = 1.0    # a name occurrence counts this many description occurrences
    tag_weight: float = 1.0     # tags are indexed as part of the name field, with this weight
    dense_weight: float = 0.5   # share of the cosine in the fused score
    phrase_weight: float = 0.5  # query weight of adjacent word pairs, matched in names (0 = off)
    query_template: str = "buy {}"  # English query text is embedded as this ("{}" = the text)
    prf_k: int = 0              # top lexical matches used for dense feedback (0 = off; measured worse)
    prf_weight: float = 0.5     # weight of their mean vector in the feedback query
    batch_size: int = 256       # products embedded per batch when building


class ProductMatcher:
    """Scores every product of a fixed catalog against a weighted-term query and/or a vector.

    Build once per catalog (it precomputes the lexical matrix and the product
    vectors), then call :meth:`scores` as often as needed; it does not mutate
    state, so concurrent readers are safe.

    Attributes: ``products`` (unique, in input order), ``ids``, ``duplicates``
    (ids given more than once; the first occurrence is kept), ``vectors``
    ((n, dim) float32 or None), ``vocab`` (token → column).
    """

    def __init__(self, products: Sequence[ProductDoc], embedder: Embedder | None = None, *,
                 vectors: np.ndarray | Mapping[str, Any] | None = None,
                 config: MatchConfig | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.config = cfg = config or MatchConfig()
        self._progress = progress
        self.embedder = embedder
        seen: dict[str, int] = {}
        unique: list[ProductDoc] = []
        dups: list[str] = []
        positions: list[int] = []  # input position of each kept product (for aligned vector arrays)
        for pos, p in enumerate(products):
            if p.id in seen:
                dups.append(p.id)
                continue
            seen[p.id] = len(unique)
            unique.append(p)
            positions.append(pos)
        self.products: tuple[ProductDoc, ...] = tuple(unique)
        self.ids: tuple[str, ...] = tuple(p.id for p in unique)
        self.duplicates: tuple[str, ...] = tuple(dups)
        self._pos = seen
        self._rows: Any = None  # CSR copy of the term matrix, built on the first `explain`
        self._col_token: dict[int, str] = {}
        self._build_lexical(cfg)
        self.vectors: np.ndarray | None = self._build_vectors(embedder, vectors, positions, len(products))

    # -- building --------------------------------------------------------
    def _build_lexical(self, cfg: MatchConfig) -> None:
        n = len(self.products)
        base_toks = [tokenize(p.name) for p in self.products]
        tag_toks = [[t for tag in p.tags for t in tokenize(tag)] for p in self.products]
        name_toks = [a + b for a, b in zip(base_toks, tag_toks)]
        pair_toks = [_pairs(t) if cfg.phrase_weight > 0 else [] for t in base_toks]
        text_toks = [tokenize(p.text) for p in self.products]
        name_len = np.array([len(t) for t in name_toks], dtype=np.float64)
        text_len = np.array([len(t) for t in text_toks], dtype=np.float64)
        avg_name = float(name_len.mean()) if n and name_len.sum() else 1.0
        avg_text = float(text_len.mean()) if n and text_len.sum() else 1.0
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i in range(n):
            nn = 1.0 - cfg.b_name + cfg.b_name * name_len[i] / avg_name
            nt = 1.0 - cfg.b_text + cfg.b_text * text_len[i] / avg_text
            tf: dict[str, float] = {}
            n_name = len(base_toks[i])
            for j, tok in enumerate(name_toks[i]):
                w = cfg.name_weight if j < n_name else cfg.name_weight * cfg.tag_weight
                tf[tok] = tf.get(tok, 0.0) + w / nn
            for tok in text_toks[i]:
                tf[tok] = tf.get(tok, 0.0) + 1.0 / nt
            for tok in pair_toks[i]:
                tf[tok] = tf.get(tok, 0.0) + cfg.name_weight / nn
            for tok, v in tf.items():
                col = vocab.setdefault(tok, len(vocab))
                rows.append(i)
                cols.append(col)
                # BM25 saturation, scaled so that one occurrence in an average
                # description gives 1 (the "match ratio" convention of hybrid.py).
                vals.append(v * (cfg.k1 + 1.0) / (v + cfg.k1))
        self.vocab: dict[str, int] = vocab
        self._tw = sparse.csc_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                                     shape=(n, len(vocab)), dtype=np.float32)
        df = np.diff(self._tw.indptr).astype(np.float64)
        self._idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self._max_idf = float(math.log(1.0 + (n + 0.5) / 0.5)) if n else 0.0

    def _build_vectors(self, embedder: Embedder | None, given: np.ndarray | Mapping[str, Any] | None,
                       positions: list[int], n_input: int) -> np.ndarray | None:
        n = len(self.products)
        if embedder is None and given is None:
            return None
        out: np.ndarray | None = None
        missing: list[int] = list(range(n))
        if isinstance(given, Mapping):
            have = [i for i, pid in enumerate(self.ids) if given.get(pid) is not None]
            if have:
                first = np.asarray(given[self.ids[have[0]]], dtype=np.float32)
                out = np.zeros((n, first.shape[0]), dtype=np.float32)
                for i in have:
                    out[i] = np.asarray(given[self.ids[i]], dtype=np.float32)
                hs = set(have)
                missing = [i for i in range(n) if i not in hs]
        elif given is not None:
            arr = np.asarray(given, dtype=np.float32)
            if arr.ndim != 2 or arr.shape[0] not in (n_input, n):
                raise ValueError(f"vectors must have one row per product ({n_input}), got shape {arr.shape}")
            out = arr[positions] if arr.shape[0] == n_input else arr
            out = np.array(out, dtype=np.float32)
            missing = []
        if missing:
            if embedder is None:
                raise ValueError(f"{len(missing)} product(s) have no vector and there is no embedder")
            if out is None:
                out = np.zeros((n, int(embedder.dim)), dtype=np.float32)
            bs = max(1, self.config.batch_size)
            for s in range(0, len(missing), bs):
                part = missing[s : s + bs]
                out[part] = embedder.embed([self.products[i].embed_text() for i in part])
                if self._progress is not None:
                    self._progress(len(part))
        if out is None:
            out = np.zeros((0, int(embedder.dim) if embedder is not None else 0), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(out / norms, dtype=np.float32)

    # -- queries ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self.products)

    def position(self, product_id: str) -> int | None:
        """Index of a product id in the score arrays (None if unknown)."""
        return self._pos.get(product_id)

    def query_from_text(self, text: str) -> tuple[dict[str, float], np.ndarray | None]:
        """(terms, vector) for a plain text: each token weight 1 (repeats add up), vector if the embedder reads its language."""
        return self.terms_from_text(text), self.embed_query(text)

    def terms_from_text(self, text: str, weight: float = 1.0) -> dict[str, float]:
        """Weighted query terms of a text: each token ``weight`` (repeats add up), plus adjacent
        word pairs ("mouse pad") at ``weight * phrase_weight``; a window builder can add several
        lines' terms with recency weights."""
        terms: dict[str, float] = {}
        toks = tokenize(text)
        for tok in toks:
            terms[tok] = terms.get(tok, 0.0) + weight
        pw = self.config.phrase_weight * weight
        if pw > 0:
            for pair in _pairs(toks):
                terms[pair] = terms.get(pair, 0.0) + pw
        return terms

    def embed_query(self, text: str) -> np.ndarray | None:
        """The normalised query vector, or None without an embedder or for a language it does not read."""
        if self.embedder is None or self.vectors is None or not text.strip():
            return None
        lang = detect_lang(text)
        langs = getattr(self.embedder, "languages", None)
        if langs is not None and lang not in langs:
            return None
        tpl = self.config.query_template
        if lang == "en" and tpl and "{}" in tpl:
            text = tpl.replace("{}", text.strip())
        return np.asarray(self.embedder.embed([text])[0], dtype=np.float32)

    def _query_columns(self, terms: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray, float]:
        cols: list[int] = []
        weights: list[float] = []
        bound = 0.0
        for tok, qw in terms.items():
            if qw <= 0:
                continue
            col = self.vocab.get(tok)
            if col is None:
                bound += qw * self._max_idf
                continue
            w = qw * float(self._idf[col])
            cols.append(col)
            weights.append(w)
            bound += w
        return np.asarray(cols, dtype=np.int64), np.asarray(weights, dtype=np.float32), bound

    def lexical_scores(self, terms: Mapping[str, float]) -> np.ndarray:
        """Match ratio of every product, in [0, 1] (1 = every query term matched as well as an average mention)."""
        n = len(self.products)
        cols, weights, bound = self._query_columns(terms)
        if not n or not cols.size or bound <= 0:
            return np.zeros(n, dtype=np.float32)
        # Gather the query columns straight from the CSC arrays and sum per product
        # (cheaper than building a sliced sparse matrix on every call).
        m = self._tw
        starts, ends = m.indptr[cols], m.indptr[cols + 1]
        sel = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if cols.size > 1 \
            else np.arange(starts[0], ends[0])
        contrib = m.data[sel] * np.repeat(weights / np.float32(bound), ends - starts)
        raw = np.bincount(m.indices[sel], weights=contrib, minlength=n).astype(np.float32)
        return np.minimum(raw, np.float32(1.0))

    def dense_scores(self, vector: np.ndarray | None, terms: Mapping[str, float] | None = None,
                     lexical: np.ndarray | None = None) -> np.ndarray:
        """Cosine (clipped at 0) of every product with the query vector, after lexical feedback if configured."""
        n = len(self.products)
        if vector is None or self.vectors is None or not n:
            return np.zeros(n, dtype=np.float32)
        q = np.asarray(vector, dtype=np.float32).ravel()
        cfg = self.config
        if cfg.prf_k > 0 and cfg.prf_weight > 0:
            lex = lexical if lexical is not None else (self.lexical_scores(terms) if terms else None)
            if lex is not None and lex.size and float(lex.max()) > 0:
                k = min(cfg.prf_k, int(np.count_nonzero(lex)))
                top = np.argpartition(-lex, k - 1)[:k]
                centroid = self.vectors[top].mean(axis=0)
                q = q + cfg.prf_weight * centroid / max(float(np.linalg.norm(centroid)), 1e-9)
                q = q / max(float(np.linalg.norm(q)), 1e-9)
        return np.maximum(self.vectors @ q, np.float32(0.0))

    def scores(self, terms: Mapping[str, float], vector: np.ndarray | None = None,
               dense_share: float = 1.0) -> np.ndarray:
        """One relevance score in [0, 1] per product (order of ``products``), comparable across queries.

        ``terms`` maps tokens (as ``brain.text.tokens.tokenize`` makes them)
        to weights; ``vector`` is the normalised query embedding or None for
        lexical only. ``dense_share`` scales the dense weight: the share of a
        mixed-language window the vector stands for (Chinese lines have none
        with an English-only model, so they must not be outvoted by it).
        An empty catalog gives an empty array.
        """
        n = len(self.products)
        if not n:
            return np.zeros(0, dtype=np.float32)
        lex = self.lexical_scores(terms)
        if vector is None or self.vectors is None:
            return lex
        known = any(tok in self.vocab and w > 0 for tok, w in terms.items())
        w = self.config.dense_weight * min(1.0, max(0.0, dense_share)) if known else 1.0
        dense = self.dense_scores(vector, lexical=lex if known else None)
        return (1.0 - w) * lex + w * dense

    def score_text(self, text: str) -> np.ndarray:
        """``scores(*query_from_text(text))``."""
        terms, vec = self.query_from_text(text)
        return self.scores(terms, vec)

    def top(self, scores: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
        """The k best (index, score) pairs, best first, score > 0 only; ties keep catalog order."""
        if k <= 0 or not scores.size:
            return []
        k = min(k, scores.size)
        part = np.argpartition(-scores, k - 1)[:k]
        order = part[np.lexsort((part, -scores[part]))]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]

    def idf(self, token: str) -> float:
        """The catalog's idf of a token (0 for a token no product has): the window's keyword weights."""
        col = self.vocab.get(token)
        return 0.0 if col is None else float(self._idf[col])

    def explain(self, index: int, terms: Mapping[str, float]) -> list[str]:
        """The query terms product ``index`` matches, most contributing first (for "why this product")."""
        if not 0 <= index < len(self.products):
            raise IndexError(index)
        if self._rows is None:  # row access for explanations: a CSR copy, made once (~1.8 MB / 10k products)
            self._rows = self._tw.tocsr()
            self._col_token = {col: tok for tok, col in self.vocab.items()}
        start, end = self._rows.indptr[index], self._rows.indptr[index + 1]
        contrib: list[tuple[float, str]] = []
        # Walk the product's own terms (a dozen or two), not the window's hundreds.
        for col, tw in zip(self._rows.indices[start:end], self._rows.data[start:end]):
            tok = self._col_token[int(col)]
            qw = terms.get(tok, 0.0)
            if qw > 0 and tw > 0:
                contrib.append((float(qw * self._idf[col] * tw), tok))
        contrib.sort(key=lambda x: (-x[0], x[1]))
        return [tok for _, tok in contrib]

    def nbytes(self) -> int:
        """Bytes held by the precomputed arrays (sparse matrix, idf, vectors); excludes the ProductDocs."""
        m = self._tw
        total = m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + self._idf.nbytes
        if self.vectors is not None:
            total += self.vectors.nbytes
        return int(total)
