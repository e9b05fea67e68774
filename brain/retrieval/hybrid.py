"""Hybrid search: BM25 + dense, fused on absolute per-query scales, with a calibrated confidence.

Why not RRF: reciprocal-rank fusion gives both retrievers equal say on every
query, so on Chinese, where all-MiniLM-L6-v2 reads mostly [UNK], it drags BM25
from 0.97 to about 0.51 recall@1 (data/README.md). Here each retriever's score
is put on a scale that means the same thing on every query, and the dense
weight depends on whether the embedder can read the query's language and on
how many content words the query has:

* BM25 → match ratio = raw score / ``BM25Index.max_score(query tokens)``
  (sum of the query terms' idf: about 1 when a passage matches every term).
* dense → cosine similarity of the normalised vectors.
* fused = (1 - w) * match_ratio + w * cosine, with
  w = ``dense_weight`` * min(1, content_tokens / ``full_weight_tokens``), and
  w = 0 when the embedder declares languages that exclude the query's.
* confidence = sigmoid(a * fused + c * margin + b), where margin is the gap to
  the best *other* candidate (positive only for the top hit). It is increasing
  in fused, so it never reorders hits; a, b, c are a logistic fit of "top hit
  is relevant" on the three eval sets (docs/retrieval.md has the numbers and a
  leave-one-set-out check).

Both retrievers' scores are computed for the union of their top candidates
(BM25 scores the whole corpus anyway; vectors of BM25-only candidates are read
back from Chroma), so no candidate is fused with a missing value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from brain.retrieval.embedders import Embedder
from brain.retrieval.lexical import BM25Index
from brain.retrieval.types import Chunk, SearchHit
from brain.retrieval.vector import VectorIndex
from brain.text.tokens import detect_lang

Mode = Literal["hybrid", "bm25", "dense"]


@dataclass(frozen=True, slots=True)
class FusionConfig:
    """Fusion and calibration constants (chosen on all three eval sets; see docs/retrieval.md)."""

    dense_weight: float = 0.7
    full_weight_tokens: int = 4
    pool: int = 50
    conf_a: float = 4.2   # weight of the fused score
    conf_c: float = 10.9  # weight of the margin to the best other candidate
    conf_b: float = -2.3  # intercept


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate(fused: np.ndarray, cfg: FusionConfig) -> np.ndarray:
    """Map fused scores of one query's candidates to P(relevant), preserving their order."""
    if fused.size == 0:
        return fused
    order = np.argsort(-fused, kind="stable")
    best, second = fused[order[0]], (fused[order[1]] if fused.size > 1 else 0.0)
    other_best = np.full_like(fused, best)
    other_best[order[0]] = second
    margin = fused - other_best
    return _sigmoid(cfg.conf_a * fused + cfg.conf_c * margin + cfg.conf_b)


class HybridRetriever:
    """Searches the lexical and vector indexes of one knowledge base and fuses them."""

    def __init__(self, embedder: Embedder | None, lexical: BM25Index, vector: VectorIndex | None,
                 config: FusionConfig | None = None) -> None:
        self.embedder = embedder
        self.lexical = lexical
        self.vector = vector
        self.config = config or FusionConfig()

    # -- weights ---------------------------------------------------------
    def dense_weight(self, query: str, n_tokens: int) -> float:
        """How much the dense score counts for this query (0 = lexical only)."""
        if self.embedder is None or self.vector is None:
            return 0.0
        langs = getattr(self.embedder, "languages", None)
        if langs is not None and detect_lang(query) not in langs:
            return 0.0
        if n_tokens == 0:
            return 1.0  # nothing for BM25 to match (e.g. emoji or unknown script)
        return self.config.dense_weight * min(1.0, n_tokens / self.config.full_weight_tokens)

    # -- search ----------------------------------------------------------
    def search(self, query: str, k: int = 10, mode: Mode = "hybrid",
               where: Mapping[str, Any] | None = None,
               query_vector: np.ndarray | None = None) -> list[SearchHit]:
        """Top-k hits; ``SearchHit.score`` is the calibrated confidence in [0, 1].

        ``where`` is a Chroma-style equality filter; BM25 candidates are
        filtered with the same simple ``{field: value}`` / ``$and`` semantics.
        ``query_vector`` is the query's embedding when the caller already has
        it (the answerer embeds a burst of questions in one batch).
        """
        if k <= 0 or not query.strip():
            return []
        cfg = self.config
        tokens = self.lexical.query_tokens(query)
        if mode == "bm25":
            w = 0.0
        elif mode == "dense":
            w = 1.0
        else:
            w = self.dense_weight(query, len(set(tokens)))
        pool = max(cfg.pool, k)

        lex: dict[str, float] = {}
        bound = self.lexical.max_score(tokens)
        all_scores = self.lexical.scores(tokens) if w < 1.0 and len(self.lexical) else np.zeros(0)
        chunks: dict[str, Chunk] = {}
        if all_scores.size:
            cand = np.argsort(-all_scores, kind="stable")
            taken = 0
            for i in cand:
                if all_scores[i] <= 0 or taken >= pool:
                    break
                c = self.lexical.chunks_at(int(i))
                if where and not matches_where(c, where):
                    continue
                chunks[c.id] = c
                lex[c.id] = float(all_scores[i])
                taken += 1

        dense: dict[str, float] = {}
        if w > 0.0 and self.embedder is not None and self.vector is not None:
            qvec = query_vector if query_vector is not None else self.embedder.embed([query])[0]
            for c, sim in self.vector.query(qvec, pool, where=where):
                chunks.setdefault(c.id, c)
                dense[c.id] = sim
            missing = [cid for cid in chunks if cid not in dense]
            if missing:
                for cid, vec in self.vector.get_embeddings(missing).items():
                    dense[cid] = float(np.dot(qvec, vec))
        if w < 1.0 and w > 0.0:
            for cid in chunks:
                if cid not in lex:
                    i = self.lexical.position(cid)
                    lex[cid] = float(all_scores[i]) if i is not None and all_scores.size else 0.0
        if not chunks:
            return []

        ids = list(chunks)
        ratio = np.array([lex.get(c, 0.0) for c in ids]) / bound if bound > 0 else np.zeros(len(ids))
        cos = np.array([dense.get(c, 0.0) for c in ids])
        fused = (1.0 - w) * ratio + w * cos
        conf = calibrate(fused, cfg)
        order = np.argsort(-fused, kind="stable")[:k]
        hits = []
        for i in order:
            cid = ids[i]
            ev = {"fused": float(fused[i]), "dense_weight": w}
            if cid in lex:
                ev["bm25"] = lex[cid]
                ev["bm25_ratio"] = float(ratio[i])
            if cid in dense:
                ev["dense"] = dense[cid]
            hits.append(SearchHit(chunk=chunks[cid], score=float(conf[i]), scores=ev))
        return hits


def matches_where(chunk: Chunk, where: Mapping[str, Any]) -> bool:
    """Evaluate the subset of Chroma's ``where`` language the bot uses on a chunk's metadata.

    Supports ``{field: value}``, ``{field: {"$eq"|"$ne"|"$in"|"$nin": ...}}``,
    ``$and`` and ``$or``. Fields source/title/lang map to the chunk's own fields.
    """
    meta = dict(chunk.metadata)
    meta.setdefault("lr_source", chunk.source)
    meta.setdefault("lr_title", chunk.title)
    meta.setdefault("lr_lang", chunk.lang)
    for key, cond in where.items():
        if key == "$and":
            if not all(matches_where(chunk, c) for c in cond):
                return False
            continue
        if key == "$or":
            if not any(matches_where(chunk, c) for c in cond):
                return False
            continue
        value = meta.get(key)
        if isinstance(cond, Mapping):
            for op, arg in cond.items():
                ok = {"$eq": lambda: value == arg, "$ne": lambda: value != arg,
                      "$in": lambda: value in arg, "$nin": lambda: value not in arg,
                      "$gt": lambda: value is not None and value > arg, "$gte": lambda: value is not None and value >= arg,
                      "$lt": lambda: value is not None and value < arg, "$lte": lambda: value is not None and value <= arg,
                      }.get(op)
                if ok is None:
                    raise ValueError(f"unsupported where operator {op!r}")
                if not ok():
                    return False
        elif value != cond:
            return False
    return True
