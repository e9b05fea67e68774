"""An FAQ entry's vector weighs its question as much as its whole text, and indexes made otherwise are re-embedded."""

import json

import numpy as np

from brain.retrieval.embedders import HashingEmbedder
from brain.retrieval.evaluate import load_beir
from brain.retrieval.indexer import VECTOR_RECIPE, KnowledgeIndex, embed_chunks
from brain.retrieval.lexical import chunk_index_text
from brain.retrieval.types import Chunk
from brain.retrieval.vector import VectorIndex


def _faq(cid: str, question: str, answer: str) -> Chunk:
    return Chunk(cid, f"Q: {question}\nA: {answer}", "faq.md", question, "en", {"kind": "faq"})


# The delivery entry's long answer talks about parcels and couriers; the address entry's answer merely
# repeats the asker's words.
DELIVERY = _faq("delivery", "What is the shipping time?",
                "Parcels leave our warehouse on the next working day. Most arrive within three days; remote "
                "islands and mountain villages can need a week, and the courier emails a tracking number as soon "
                "as it collects the parcel from us.")
ADDRESS = _faq("address", "Can I change my address?",
               "Yes, until the parcel leaves. A new address does not change the shipping time: the shipping time "
               "is the same for every address we ship to.")
QUERY = "shipping time"


def test_the_entry_whose_question_matches_ranks_above_the_one_whose_answer_repeats_the_words():
    e = HashingEmbedder()
    whole = e.embed([chunk_index_text(c) for c in (DELIVERY, ADDRESS)])
    q = e.embed([QUERY])[0]
    assert whole[1] @ q > whole[0] @ q  # by whole text alone the wrong entry wins
    index = KnowledgeIndex(None, e)
    index.sync([DELIVERY, ADDRESS])
    assert [h.chunk.id for h in index.retriever.search(QUERY, k=2, mode="dense")] == ["delivery", "address"]


def test_only_faq_chunks_get_their_question_mixed_in():
    e = HashingEmbedder()
    doc = Chunk("d1", "Opening hours are nine to five.", "about.md", "About us > Hours", "en", {"kind": "doc"})
    product = Chunk("p1", "USB-C charger, 65 W", "p-1", "Charger", "en", {"kind": "product"})
    vecs = embed_chunks(e, [doc, DELIVERY, product])
    plain = e.embed([chunk_index_text(c) for c in (doc, DELIVERY, product)])
    assert np.allclose(vecs[[0, 2]], plain[[0, 2]], atol=1e-6)
    mixed = plain[1] + e.embed([DELIVERY.title])[0]
    assert np.allclose(vecs[1], mixed / np.linalg.norm(mixed), atol=1e-6)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert embed_chunks(e, []).shape == (0, e.dim)


def test_an_index_made_by_another_recipe_is_re_embedded_whole_and_stale_rows_still_go(tmp_path):
    e = HashingEmbedder()
    index = KnowledgeIndex(tmp_path, e)
    index.sync([DELIVERY, ADDRESS])
    assert index.vector.recipe == VECTOR_RECIPE and not index.vectors_stale()
    # An index from before this recipe: whole-text vectors and no stamp.
    index.vector.upsert([DELIVERY, ADDRESS], e.embed([chunk_index_text(c) for c in (DELIVERY, ADDRESS)]))
    index.vector._col.modify(metadata={"lr_vectors": "older"})
    reopened = KnowledgeIndex(tmp_path, e)
    assert reopened.vectors_stale()
    counts = reopened.sync([DELIVERY])
    assert counts == {"added": 1, "removed": 1, "chunks": 1}
    assert reopened.vector.get_ids() == {"delivery"} and not reopened.vectors_stale()
    stored = reopened.vector.get_embeddings(["delivery"])["delivery"]
    assert np.allclose(stored, embed_chunks(e, [DELIVERY])[0], atol=1e-6)
    assert KnowledgeIndex(tmp_path, e).sync([DELIVERY])["added"] == 0  # stamped: nothing to redo


def test_beir_documents_titled_by_a_question_load_as_faq_entries(tmp_path):
    docs = [{"_id": "a", "title": "How long does delivery take?", "text": "Three days."},
            {"_id": "b", "title": "Shipping", "text": "We ship worldwide."}]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs), encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "delivery time"}), encoding="utf-8")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq\ta\t1\n", encoding="utf-8")
    kinds = {c.id: c.metadata["kind"] for c in load_beir(tmp_path).corpus}
    assert kinds == {"a": "faq", "b": "doc"}


def test_the_recipe_is_read_from_chroma_not_from_when_the_collection_was_opened(tmp_path):
    # Workers sharing one Chroma server open the collection before the writer stamps it; a stale read would make
    # every one of them re-embed the whole knowledge base.
    writer, reader = VectorIndex(tmp_path, "shared-chunks"), VectorIndex(tmp_path, "shared-chunks")
    assert reader.recipe is None
    writer.set_recipe(VECTOR_RECIPE)
    assert reader.recipe == VECTOR_RECIPE
