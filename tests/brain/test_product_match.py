"""ProductMatcher: fielded BM25 match ratio + cosine over a whole catalog, and the product eval."""

import json

import numpy as np
import pytest

from brain.knowledge.content import Product
from brain.knowledge.product_records import product_draft
from brain.products.matching import MatchConfig, ProductDoc, ProductMatcher, product_docs_from_chunks
from brain.products.product_eval import evaluate_products, precision_at
from brain.retrieval.embedders import HashingEmbedder
from brain.retrieval.types import Chunk

CATALOG = [
    ProductDoc("spk", "Portable Bluetooth Speaker MBS-100", "Waterproof speaker with 12 h battery"),
    ProductDoc("hp", "Bluetooth Stereo Headphones", "Over-ear headphones, noise cancelling"),
    ProductDoc("aa", "AA Alkaline Batteries 8-pack"),
    ProductDoc("pad", "Gel Mouse Pad Blue"),
    ProductDoc("mouse", "Gaming Mouse RGB", "Laser gaming mouse, 16000 dpi"),
    ProductDoc("m1", "FA766AA"),  # model number only, no description
    ProductDoc("zh", "便携榨汁机", "无线充电，可以打冷冻水果", lang="zh"),
]


def matcher(products=CATALOG, **kw):
    return ProductMatcher(products, HashingEmbedder(128), **kw)


def ranked(m, text, k=3):
    return [m.ids[i] for i, _ in m.top(m.score_text(text), k)]


def test_scores_one_value_per_product_in_unit_range_and_rank_the_named_product_first():
    m = matcher()
    s = m.score_text("bluetooth speaker")
    assert s.shape == (len(CATALOG),) and s.dtype == np.float32
    assert float(s.min()) >= 0.0 and float(s.max()) <= 1.0
    assert ranked(m, "bluetooth speaker")[0] == "spk"
    assert ranked(m, "aa batteries")[0] == "aa"


def test_adjacent_word_pairs_favour_the_phrase():
    with_pairs, without = ProductMatcher(CATALOG, None), ProductMatcher(CATALOG, None, config=MatchConfig(phrase_weight=0))
    def pad_over_mouse(m):
        s = m.lexical_scores(m.terms_from_text("mouse pad"))
        return s[m.position("pad")] - s[m.position("mouse")]
    assert "mouse pad" in with_pairs.terms_from_text("mouse pad") and "mouse pad" not in without.terms_from_text("mouse pad")
    assert pad_over_mouse(with_pairs) > pad_over_mouse(without) > 0


def test_chinese_query_matches_lexically():
    m = matcher()
    assert ranked(m, "榨汁机能打冷冻水果吗")[0] == "zh"


def test_weighted_terms_steer_the_ranking():
    m = matcher()
    assert m.ids[int(np.argmax(m.scores({"headphone": 3.0, "speaker": 1.0})))] == "hp"
    assert m.ids[int(np.argmax(m.scores({"headphone": 1.0, "speaker": 3.0})))] == "spk"


def test_match_ratio_is_comparable_across_queries():
    m = ProductMatcher(CATALOG, None)
    full = m.lexical_scores(m.terms_from_text("bluetooth speaker"))
    half = m.lexical_scores(m.terms_from_text("bluetooth speaker zebra giraffe"))
    i = m.position("spk")
    assert full[i] > 0.9 and half[i] < 0.6 * full[i]  # unknown terms count against the match


def test_lexical_only_without_embedder_and_no_vector_means_no_dense_part():
    m = ProductMatcher(CATALOG, None)
    terms, vec = m.query_from_text("bluetooth headphones")
    assert vec is None and m.vectors is None
    assert np.array_equal(m.scores(terms, None), m.lexical_scores(terms))
    assert ranked(m, "bluetooth headphones")[0] == "hp"


def test_embedder_languages_are_respected():
    class EnglishOnly(HashingEmbedder):
        languages = frozenset({"en"})

    m = ProductMatcher(CATALOG, EnglishOnly(64))
    assert m.embed_query("便携榨汁机") is None
    assert m.embed_query("portable speaker") is not None
    terms, vec = m.query_from_text("便携榨汁机")
    assert vec is None and np.array_equal(m.scores(terms, vec), m.lexical_scores(terms))


def test_dense_carries_a_query_with_no_known_term():
    m = matcher()
    terms, vec = m.query_from_text("zzqx")
    s = m.scores(terms, vec)
    assert np.allclose(s, m.dense_scores(vec))  # w = 1 when nothing lexical is known


def test_duplicate_ids_keep_the_first_and_are_reported():
    docs = [ProductDoc("a", "Red Mug"), ProductDoc("b", "Blue Cup"), ProductDoc("a", "Green Plate")]
    m = matcher(docs)
    assert m.ids == ("a", "b") and m.duplicates == ("a",)
    assert m.products[0].name == "Red Mug"
    assert m.scores(m.terms_from_text("green plate")).max() == 0.0


def test_empty_catalog_returns_empty_arrays():
    m = matcher([])
    assert len(m) == 0
    assert m.score_text("anything").shape == (0,)
    assert m.scores({"x": 1.0}, np.ones(128, dtype=np.float32)).shape == (0,)
    assert m.top(m.score_text("anything")) == []


def test_products_without_description_are_matched_on_their_name():
    m = matcher()
    assert ranked(m, "FA766AA", 1) == ["m1"]


def test_precomputed_vectors_are_used_as_given():
    emb = HashingEmbedder(128)
    vecs = emb.embed([p.embed_text() for p in CATALOG])
    by_array = ProductMatcher(CATALOG, emb, vectors=vecs)
    by_map = ProductMatcher(CATALOG, None, vectors={p.id: v for p, v in zip(CATALOG, vecs)})
    built = ProductMatcher(CATALOG, emb)
    assert np.allclose(by_array.vectors, built.vectors) and np.allclose(by_map.vectors, built.vectors)
    partial = ProductMatcher(CATALOG, emb, vectors={CATALOG[0].id: vecs[0]})  # the rest is embedded
    assert np.allclose(partial.vectors, built.vectors)
    with pytest.raises(ValueError):
        ProductMatcher(CATALOG, None, vectors={CATALOG[0].id: vecs[0]})
    with pytest.raises(ValueError):
        ProductMatcher(CATALOG, emb, vectors=vecs[:2])


def test_vectors_are_embedded_in_batches_with_progress():
    seen = []
    m = ProductMatcher(CATALOG, HashingEmbedder(32), config=MatchConfig(batch_size=3), progress=seen.append)
    assert seen == [3, 3, 1] and m.vectors.shape == (7, 32)
    assert np.allclose(np.linalg.norm(m.vectors, axis=1), 1.0, atol=1e-5)


def test_explain_lists_the_matching_terms():
    m = matcher()
    terms = m.terms_from_text("bluetooth speaker battery")
    assert m.explain(m.position("spk"), terms)[:1] in (["speaker"], ["bluetooth"])
    assert set(m.explain(m.position("spk"), terms)) >= {"speaker", "bluetooth", "battery"}
    assert m.explain(m.position("pad"), terms) == []
    with pytest.raises(IndexError):
        m.explain(99, terms)


def test_from_chunk_reads_the_catalog_fields_and_strips_the_rendered_ones():
    product = Product(id="BG-PRO-01", name="BlendGo Pro Portable Blender 500 ml", price=259.0, currency="CNY",
                      url="https://shop.example/p/bg-pro-01", tags=("portable blender", "USB-C"), stock=120,
                      description="Our best seller: 6 stainless steel blades.")
    d = product_draft(product)
    chunk = Chunk(id="c1", text=d.text, source="BG-PRO-01", title=d.title, lang=d.lang,
                  metadata={**d.metadata, "path": "products.csv", "format": "csv"})
    doc = ProductDoc.from_chunk(chunk)
    assert (doc.id, doc.name, doc.price, doc.currency, doc.stock) == (
        "BG-PRO-01", "BlendGo Pro Portable Blender 500 ml", 259.0, "CNY", 120)
    assert doc.url == "https://shop.example/p/bg-pro-01" and doc.tags == ("portable blender", "USB-C")
    assert doc.text.rstrip(".") == "Our best seller: 6 stainless steel blades"
    other = Chunk(id="c2", text="x", source="f.md", metadata={"kind": "doc"})
    assert product_docs_from_chunks([chunk, other]) == [doc]
    with pytest.raises(ValueError):
        ProductDoc.from_chunk(other)
    # tags are searchable through the name field
    m = ProductMatcher([doc, ProductDoc("x", "Spare Jar")], None)
    assert ranked(m, "usb-c", 1) == ["BG-PRO-01"]


def test_from_chunk_of_a_chinese_product_without_description():
    d = product_draft(Product(id="Z1", name="思慕雪食谱电子书", price=59.0, currency="CNY"))
    doc = ProductDoc.from_chunk(Chunk(id="c", text=d.text, source="Z1", title=d.title, lang=d.lang,
                                      metadata=d.metadata))
    assert doc.name == "思慕雪食谱电子书" and doc.text == "" and doc.lang == "zh" and doc.price == 59.0


def test_scoring_20000_products_stays_fast():
    import time
    rng = np.random.default_rng(0)
    # an array, not a list: rng.choice would convert a 3000-word list to an array on each of its 40000 calls
    # (14 s of the test); the draws, and so the catalog, are the same
    words = np.array([f"w{i}" for i in range(3000)])
    docs = [ProductDoc(str(i), " ".join(rng.choice(words, 4)), " ".join(rng.choice(words, 12)))
            for i in range(20000)]
    vecs = rng.standard_normal((20000, 384)).astype(np.float32)
    m = ProductMatcher(docs, None, vectors=vecs)
    terms = {w: 1.0 for w in rng.choice(words, 30)}
    q = vecs[0]
    m.scores(terms, q)
    t0 = time.perf_counter()
    for _ in range(20):
        m.scores(terms, q)
    assert (time.perf_counter() - t0) / 20 < 0.05  # generous: the benchmark measures the real p95
    assert m.nbytes() > vecs.nbytes


def write_beir(folder, docs, queries, qrels):
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n"
                                                for i, (t, x) in docs.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n"
                                                 for k, v in queries.items()))
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                      + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in qrels))
    return folder


def test_evaluate_products_on_a_tiny_graded_set(tmp_path):
    folder = write_beir(tmp_path / "set",
                        {"d1": ("AA Batteries", "AA Batteries"), "d2": ("Bluetooth Speaker", ""),
                         "d3": ("Laptop Sleeve", "for 15 inch laptops"), "d4": ("USB Cable", "")},
                        {"q1": "aa battery", "q2": "bluetooth speaker", "q3": "laptop", "q4": "nothing judged"},
                        [("q1", "d1", 3), ("q2", "d2", 2), ("q2", "d4", 0), ("q3", "d3", 1), ("q4", "d4", 0)])
    res = evaluate_products(folder, HashingEmbedder(64))
    assert list(res) == ["ndcg@10", "p@5", "mrr@10", "queries", "docs", "seconds"]
    assert res["queries"] == 3 and res["docs"] == 4  # q4 has no rating > 0: skipped
    assert res["ndcg@10"] == 1.0
    assert res["mrr@10"] == pytest.approx(2 / 3, abs=1e-4)  # q3's only judgment is rated 1 < 2
    assert res["p@5"] == pytest.approx((1 / 5 + 1 / 5 + 0) / 3, abs=1e-4)
    assert evaluate_products(folder, lexical_only=True)["ndcg@10"] == 1.0


def test_precision_at_divides_by_k():
    assert precision_at(["a", "b"], {"a": 3, "b": 1}, 5) == pytest.approx(0.2)


@pytest.mark.integration
def test_real_minilm_ranks_by_meaning_when_words_differ():
    from brain.retrieval.embedders import make_embedder
    docs = [ProductDoc("e", "Wireless Earbuds", "In-ear, charging case"),
            ProductDoc("t", "Ceramic Teapot", "1 litre, for loose-leaf tea"),
            ProductDoc("c", "USB-C Charging Cable", "1 m braided")]
    m = ProductMatcher(docs, make_embedder("minilm"))
    assert m.vectors.shape == (3, 384)
    assert ranked(m, "headphones", 1) == ["e"]  # no shared word: the cosine decides
    assert ranked(m, "teapot", 1) == ["t"]
