import numpy as np

from brain.retrieval.embedders import HashingEmbedder, make_embedder
from brain.retrieval.lexical import BM25Index
from brain.retrieval.types import Chunk
from brain.retrieval.vector import VectorIndex

CHUNKS = [
    Chunk("c1", "We ship within 24 hours. Free shipping on orders over $50.", "faq.md", "Shipping", "en", {"kind": "faq"}),
    Chunk("c2", "Refunds are accepted within 7 days of delivery.", "faq.md", "Refunds", "en", {"kind": "faq"}),
    Chunk("c3", "USB-C charger, 65 W, two ports.", "p-1", "Charger", "en", {"kind": "product", "price": 19.9}),
    Chunk("c4", "下单后48小时内发货，全国包邮。", "faq-zh.md", "发货", "zh", {"kind": "faq"}),
]


def test_hashing_embedder_is_deterministic_and_normalised():
    e = HashingEmbedder(dim=64)
    a = e.embed(["free shipping", "免费包邮"])
    assert a.shape == (2, 64) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, HashingEmbedder(dim=64).embed(["free shipping", "免费包邮"]))
    sims = e.embed(["free shipping"]) @ e.embed(["shipping is free", "usb charger"]).T
    assert sims[0, 0] > sims[0, 1]
    assert make_embedder("hashing-32").dim == 32


def test_bm25_save_load_round_trip(tmp_path):
    idx = BM25Index()
    idx.build(CHUNKS)
    before = [(c.id, s) for c, s in idx.search("refund days", 3)]
    assert before[0][0] == "c2"
    idx.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert [(c.id, s) for c, s in loaded.search("refund days", 3)] == before
    assert loaded.get("c3").metadata["price"] == 19.9
    assert loaded.search("包邮", 1)[0][0].id == "c4"
    assert loaded.search("nothingmatches", 3) == []


def test_chroma_upsert_query_delete(tmp_path):
    e = HashingEmbedder()
    v = VectorIndex(tmp_path / "chroma", "test-chunks")
    v.upsert(CHUNKS, e.embed([c.text for c in CHUNKS]))
    assert v.count() == 4 and v.get_ids() == {"c1", "c2", "c3", "c4"}
    hits = v.query(e.embed(["refunds accepted within days"])[0], k=2)
    assert hits[0][0].id == "c2" and hits[0][0].title == "Refunds" and -1.0 <= hits[0][1] <= 1.0
    only_products = v.query(e.embed(["refund"])[0], k=5, where={"kind": "product"})
    assert [c.id for c, _ in only_products] == ["c3"]
    v.delete(["c2"])
    reopened = VectorIndex(tmp_path / "chroma", "test-chunks")
    assert reopened.get_ids() == {"c1", "c3", "c4"}
