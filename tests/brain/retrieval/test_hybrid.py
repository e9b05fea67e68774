import numpy as np
import pytest

from brain.retrieval.embedders import HashingEmbedder
from brain.retrieval.evaluate import evaluate
from brain.retrieval.hybrid import FusionConfig, calibrate
from brain.retrieval.indexer import KnowledgeIndex
from brain.retrieval.types import Chunk

CORPUS = [
    Chunk("en-ship", "Orders ship within 24 hours; shipping is free over $50.", "faq.md", "When do you ship?", "en", {"kind": "faq"}),
    Chunk("en-refund", "You can return items within 7 days for a full refund.", "faq.md", "Can I get a refund?", "en", {"kind": "faq"}),
    Chunk("en-coupon", "Coupons appear under the stream; one coupon per order.", "faq.md", "How do coupons work?", "en", {"kind": "faq"}),
    Chunk("p-cable", "Braided USB-C cable, 2 m, 100 W charging.", "p-9", "USB-C cable", "en", {"kind": "product"}),
    Chunk("zh-ship", "拍下后48小时内发货，全国包邮，偏远地区除外。", "faq-zh.md", "什么时候发货", "zh", {"kind": "faq"}),
    Chunk("zh-refund", "七天无理由退款，退货运费由买家承担。", "faq-zh.md", "可以退款吗", "zh", {"kind": "faq"}),
    Chunk("zh-coupon", "直播间优惠券在购物车上方领取，每单限用一张。", "faq-zh.md", "优惠券怎么用", "zh", {"kind": "faq"}),
]


@pytest.fixture()
def index(tmp_path):
    ki = KnowledgeIndex(tmp_path / "kb", HashingEmbedder())
    ki.sync(CORPUS)
    return ki


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
@pytest.mark.parametrize(("query", "expected"), [
    ("how long until my order ships", "en-ship"),
    ("refund within days", "en-refund"),
    ("什么时候发货", "zh-ship"),
    ("优惠券怎么领", "zh-coupon"),
    ("可以退款吗", "zh-refund"),
])
def test_top_hit_in_both_languages(index, mode, query, expected):
    hits = index.retriever.search(query, k=3, mode=mode)
    assert hits[0].chunk.id == expected
    scores = [h.score for h in hits]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)


def test_where_filter_applies_to_both_retrievers(index):
    hits = index.retriever.search("usb cable refund", k=5, where={"kind": "product"})
    assert [h.chunk.id for h in hits] == ["p-cable"]


def test_confidence_higher_for_matching_question(index):
    good = index.retriever.search("can I get a refund", k=1)[0]
    bad = index.retriever.search("quantum chromodynamics lecture", k=1)
    assert not bad or bad[0].score < good.score


def test_sync_adds_and_removes(index, tmp_path):
    stats = index.sync(CORPUS[:-1])
    assert stats == {"added": 0, "removed": 1, "chunks": len(CORPUS) - 1}
    reopened = KnowledgeIndex(tmp_path / "kb", HashingEmbedder())
    assert len(reopened.lexical) == len(CORPUS) - 1
    assert reopened.vector is not None and reopened.vector.count() == len(CORPUS) - 1


def test_calibration_keeps_order():
    fused = np.array([0.2, 0.9, 0.5, 0.85])
    conf = calibrate(fused, FusionConfig())
    assert list(np.argsort(-conf)) == list(np.argsort(-fused))


def test_evaluate_on_tiny_beir_set(tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    import json
    (d / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": c.id, "title": c.title, "text": c.text}, ensure_ascii=False) for c in CORPUS), encoding="utf-8")
    (d / "queries.jsonl").write_text('{"_id": "q1", "text": "when will it ship"}\n{"_id": "q2", "text": "优惠券怎么领"}\n{"_id": "q3", "text": "nothing"}\n', encoding="utf-8")
    (d / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ten-ship\t2\nq2\tzh-coupon\t1\nq3\ten-ship\t0\n", encoding="utf-8")
    res = evaluate(d, mode="hybrid", embedder=HashingEmbedder(), workdir=tmp_path)
    assert set(res) == {"recall@1", "recall@5", "mrr@10", "ndcg@10", "queries", "docs", "seconds"}
    assert res["queries"] == 2 and res["docs"] == len(CORPUS) and res["recall@1"] == 1.0
