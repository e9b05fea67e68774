"""VectorIndex keeps its row count and stored vectors in memory; they must always equal what Chroma holds."""

import numpy as np

from brain.retrieval.embedders import HashingEmbedder
from brain.retrieval.types import Chunk
from brain.retrieval.vector import VectorIndex

CHUNKS = [
    Chunk("c1", "We ship within 24 hours.", "faq.md", "Shipping", "en", {"kind": "faq"}),
    Chunk("c2", "Refunds are accepted within 7 days of delivery.", "faq.md", "Refunds", "en", {"kind": "faq"}),
    Chunk("c3", "USB-C charger, 65 W, two ports.", "p-1", "Charger", "en", {"kind": "product"}),
]


def _from_chroma(v: VectorIndex, ids):
    res = v._col.get(ids=list(ids), include=["embeddings"])
    return {i: np.asarray(e, dtype=np.float32) for i, e in zip(res["ids"], res["embeddings"])}


def test_cached_vectors_and_count_equal_chroma_through_upsert_replace_delete_and_reopen(tmp_path):
    e = HashingEmbedder()
    v = VectorIndex(tmp_path / "chroma", "cache-test")
    vecs = e.embed([c.text for c in CHUNKS])
    v.upsert(CHUNKS, vecs)
    assert v.count() == 3
    got = v.get_embeddings(["c1", "c3", "nope"])
    assert set(got) == {"c1", "c3"}
    for cid, vec in _from_chroma(v, ["c1", "c3"]).items():
        assert np.array_equal(got[cid], vec)  # bit-identical to what Chroma returns

    other = e.embed(["something else entirely"])
    v.upsert([CHUNKS[0]], other)  # replace c1's vector
    assert np.array_equal(v.get_embeddings(["c1"])["c1"], _from_chroma(v, ["c1"])["c1"])
    assert np.array_equal(v.get_embeddings(["c1"])["c1"], other[0])

    v.delete(["c2"])
    assert v.count() == 2 and v.get_embeddings(["c2"]) == {}

    reopened = VectorIndex(tmp_path / "chroma", "cache-test")  # nothing cached: read from Chroma once
    assert reopened.count() == 2
    again = reopened.get_embeddings(["c1", "c3"])
    assert all(np.array_equal(again[i], v.get_embeddings([i])[i]) for i in ("c1", "c3"))
