import math

import pytest

from brain.retrieval.metrics import mean_metrics, mrr_at, ndcg_at, recall_at


def test_binary_metrics_hand_computed():
    grades = {"d2": 1, "d9": 1}
    ranked = ["d1", "d2", "d3", "d4", "d5", "d9"]
    assert recall_at(ranked, grades, 1) == 0.0
    assert recall_at(ranked, grades, 5) == 0.5
    assert mrr_at(ranked, grades, 10) == 0.5


def test_graded_ndcg_ignores_zero_grades():
    grades = {"a": 3, "b": 0, "c": 1}
    ranked = ["b", "a", "c"]
    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at(ranked, grades, 10) == pytest.approx(dcg / idcg)
    assert mrr_at(ranked, grades) == 0.5  # "b" is judged but not relevant


def test_mean_skips_queries_without_relevant_docs():
    qrels = {"q1": {"a": 1}, "q2": {"x": 0}}
    m = mean_metrics({"q1": ["a"], "q2": ["x"]}, qrels)
    assert m == {"recall@1": 1.0, "recall@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}
