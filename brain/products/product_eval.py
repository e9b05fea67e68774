"""``liveroom eval products DIR``: product relevance on a BEIR-layout set with graded judgments.

The corpus is the catalog (``title`` = product name, ``text`` = description;
a text identical to the title counts as no description), the queries are
stream text (shopping queries, a viewer's need, a transcript window), and
``qrels.tsv`` grades products 0-3. Every product is scored by
:class:`brain.products.matching.ProductMatcher`, exactly as the bot scores its
catalog, and the ranking is measured with ``brain.retrieval.metrics``:

* ``ndcg@10``: graded, linear gains (gain = rating), ideal ranking from all
  judged products of the query.
* ``p@5``: share of the top 5 rated >= 2 ("relevant").
* ``mrr@10``: reciprocal rank of the first product rated >= 2 within the top 10.

Judged-zero and unjudged products count as not relevant. Following the BEIR
convention, queries without any judgment rated > 0 are skipped (they have no
ideal ranking); ``queries`` is the number averaged over. A query whose
judgments are all rated 1 stays in and scores 0 on p@5 and mrr@10.
``seconds`` covers building the matcher (embedding the catalog) and scoring
every query. The qrels are never seen by the matcher.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Mapping, Sequence

from brain.products.matching import MatchConfig, ProductDoc, ProductMatcher
from brain.retrieval.embedders import Embedder, make_embedder
from brain.retrieval.evaluate import load_beir
from brain.retrieval.metrics import mrr_at, ndcg_at

__all__ = ["RELEVANT_RATING", "evaluate_products", "precision_at"]

#: Ratings at or above this count as relevant for p@5 and mrr@10.
RELEVANT_RATING = 2
KEYS = ("ndcg@10", "p@5", "mrr@10", "queries", "docs", "seconds")


def precision_at(ranked: Sequence[str], grades: Mapping[str, int], k: int, min_rating: int = RELEVANT_RATING) -> float:
    """Share of the top k rated >= ``min_rating`` (a short list still divides by k)."""
    return sum(1 for d in ranked[:k] if grades.get(d, 0) >= min_rating) / k


def evaluate_products(directory: str | os.PathLike[str], embedder: Embedder | None = None, *,
                      config: MatchConfig | None = None, lexical_only: bool = False,
                      progress: Callable[[int], None] | None = None,
                      on_start: Callable[[int], None] | None = None) -> dict[str, float | int]:
    """Score every product for every judged query; returns exactly ``KEYS``.

    ``embedder`` defaults to the packaged MiniLM (ignored when ``lexical_only``).
    ``on_start(n_products)`` is called before the catalog is embedded and
    ``progress(n)`` after each embedded batch (for a progress bar).
    """
    data = load_beir(directory)
    docs = [ProductDoc(id=c.id, name=c.title, text="" if c.text.strip() == c.title.strip() else c.text,
                       lang=c.lang) for c in data.corpus]
    if lexical_only:
        embedder = None
    elif embedder is None:
        embedder = make_embedder("minilm")
    if on_start is not None:
        on_start(len(docs))
    t0 = time.perf_counter()
    matcher = ProductMatcher(docs, embedder, config=config, progress=progress)
    judged = {q: g for q, g in data.qrels.items() if q in data.queries and any(v > 0 for v in g.values())}
    sums = {"ndcg@10": 0.0, "p@5": 0.0, "mrr@10": 0.0}
    for qid, grades in judged.items():
        ranked = [matcher.ids[i] for i, _ in matcher.top(matcher.score_text(data.queries[qid]), 10)]
        binary = {d: int(g >= RELEVANT_RATING) for d, g in grades.items()}
        sums["ndcg@10"] += ndcg_at(ranked, grades, 10)
        sums["p@5"] += precision_at(ranked, grades, 5)
        sums["mrr@10"] += mrr_at(ranked, binary, 10)
    seconds = time.perf_counter() - t0
    n = len(judged)
    return {**{k: round(v / n, 4) if n else 0.0 for k, v in sums.items()}, "queries": n,
            "docs": len(matcher), "seconds": round(seconds, 2)}
