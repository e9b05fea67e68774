"""Ranking metrics over graded judgements (BEIR/trec_eval conventions).

A document is relevant when its grade is > 0 (product sets judge some
documents 0 = "not relevant"; they still count as judged). nDCG uses linear
gains (gain = grade) and log2 discounts, as trec_eval's ndcg_cut does, with the
ideal ranking built from all judged documents of the query.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]  # query id -> doc id -> grade


def recall_at(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Share of the query's relevant documents found in the top k."""
    rel = {d for d, g in grades.items() if g > 0}
    if not rel:
        return 0.0
    return len(rel.intersection(ranked[:k])) / len(rel)


def mrr_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k (0 if none)."""
    for i, d in enumerate(ranked[:k]):
        if grades.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def ndcg_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear graded gains; unjudged documents gain 0."""
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mean_metrics(runs: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Average recall@1, recall@5, mrr@10, ndcg@10 over queries that have a relevant document."""
    keys = ("recall@1", "recall@5", "mrr@10", "ndcg@10")
    sums = dict.fromkeys(keys, 0.0)
    n = 0
    for qid, grades in qrels.items():
        if not any(g > 0 for g in grades.values()):
            continue
        ranked = runs.get(qid, [])
        sums["recall@1"] += recall_at(ranked, grades, 1)
        sums["recall@5"] += recall_at(ranked, grades, 5)
        sums["mrr@10"] += mrr_at(ranked, grades, 10)
        sums["ndcg@10"] += ndcg_at(ranked, grades, 10)
        n += 1
    return {k: (v / n if n else 0.0) for k, v in sums.items()}
