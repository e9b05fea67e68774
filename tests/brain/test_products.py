"""Live product ranking: relevance to the host's speech, the room's signals, explanations."""

import pytest

from brain.products.content_window import ContentWindow
from brain.products.matching import ProductDoc, ProductMatcher
from brain.products.ranking import (
    ProductRanker,
    RankingSettings,
    RoomProducts,
    describe_product,
    detect_need,
    refers_to_current,
    resolve_reference,
)
from brain.retrieval.embedders import HashingEmbedder

CATALOG = [
    ProductDoc("PRO", "BlendGo Pro Portable Blender", "500 ml jar, six steel blades, crushes frozen fruit",
               price=259, currency="CNY", url="https://shop.example/pro", stock=120),
    ProductDoc("LID", "Travel Lid with Straw", "Leak-proof flip lid with a silicone straw", price=39,
               currency="CNY", url="https://shop.example/lid", stock=300),
    ProductDoc("BLADE", "Replacement Blade Assembly", "Six steel blades with sealing ring", price=49,
               currency="CNY", stock=0),
    ProductDoc("BOOK", "思慕雪食谱电子书", "一百道思慕雪食谱，按季节水果分类", price=59, currency="CNY", lang="zh"),
    ProductDoc("COURSE", "30-Day Smoothie Course", "Daily video lessons for beginners and live Q&A", price=349,
               currency="CNY"),
]


@pytest.fixture(scope="module")
def ranker() -> ProductRanker:
    return ProductRanker(ProductMatcher(CATALOG, HashingEmbedder()), RankingSettings(min_relevance=0.05))


def say(r: RoomProducts, ts: float, text: str) -> None:
    r.window.add(ts, text, HashingEmbedder().embed([text])[0])


def room(*lines: tuple[float, str]) -> RoomProducts:
    r = RoomProducts(window=ContentWindow(seconds=120, half_life=30))
    for ts, text in lines:
        say(r, ts, text)
    return r


def test_the_top_product_follows_what_the_host_says(ranker):
    r = room((0, "this portable blender has a 500 ml jar"), (5, "it crushes frozen fruit"))
    assert ranker.rank(r, 5)[0].product.id == "PRO"
    say(r, 60, "and here is the travel lid with a silicone straw")
    say(r, 65, "the flip lid is leak-proof")
    assert ranker.rank(r, 65)[0].product.id == "LID"
    say(r, 70, "最后介绍这本思慕雪食谱电子书")
    say(r, 72, "电子书里有一百道食谱")
    assert ranker.rank(r, 72)[0].product.id == "BOOK"


def test_each_ranked_product_explains_itself(ranker):
    r = room((0, "the travel lid comes with a silicone straw"))
    top = ranker.rank(r, 0)[0]
    assert top.product.id == "LID"
    assert {"lid", "straw"} <= set(top.terms)
    assert top.line == "the travel lid comes with a silicone straw"
    assert "matches" in top.explain() and "host:" in top.explain()


def test_nothing_is_ranked_for_an_empty_window_or_unrelated_talk(ranker):
    assert ranker.rank(room(), 0) == []
    strict = ProductRanker(ranker.matcher, RankingSettings(min_relevance=0.5))
    assert strict.rank(room((0, "weather today is quite cloudy in Berlin")), 0) == []


def test_a_pinned_product_steps_back_and_returns_as_the_penalty_fades(ranker):
    r = room((0, "six steel blades in the portable blender jar"))
    assert ranker.rank(r, 0)[0].product.id == "PRO"
    base = ranker.rank(r, 0)[0].score
    r.pins["PRO"] = 0.0
    pinned = [x for x in ranker.rank(r, 0, n=5) if x.product.id == "PRO"][0]
    assert pinned.score == pytest.approx(base * 0.5, rel=1e-4) and pinned.pinned_ago == 0
    assert "pinned" in pinned.explain()
    # 10 pin half-lives later the penalty has all but gone (the window moves too, so compare factors)
    later = ranker._signal_factors(r, 3000.0)[ranker._position["PRO"]]
    assert later == pytest.approx(1.0, abs=1e-3)


def test_viewers_questions_lift_a_product_and_sold_out_sinks(ranker):
    r = room((0, "six steel blades"))  # matches the blender and the (sold-out) blade assembly
    scores = {x.product.id: x.score for x in ranker.rank(r, 0, n=5)}
    assert scores["PRO"] > scores.get("BLADE", 0)
    blade = [x for x in ranker.rank(r, 0, n=5) if x.product.id == "BLADE"]
    assert not blade or "sold out" in blade[0].explain()
    for t in range(5):
        r.note_asked("LID", float(t))
    factors = ranker._signal_factors(r, 5.0)
    assert factors[ranker._position["LID"]] > 1.4  # 1 + 0.5 * (1 - 2**-mass), mass ~5
    assert factors[ranker._position["PRO"]] == 1.0


def test_find_by_id_name_or_words(ranker):
    assert ranker.find("PRO").id == "PRO"
    assert ranker.find("travel lid with straw").id == "LID"
    assert ranker.find("blendgo pro").id == "PRO"
    assert ranker.find("nonexistent gadget") is None and ranker.find("  ") is None
    assert [p.id for p in ranker.products_named_in("is the travel lid leak-proof?")] == ["LID"]


def test_recommend_meets_a_need_and_history_nudges_it(ranker):
    picks = ranker.recommend("something for beginners who want video lessons", n=2)
    assert picks[0].product.id == "COURSE" and picks[0].terms
    vague = ranker.recommend("I need something good", history=["does the straw lid leak?"], n=1)
    assert vague and vague[0].product.id == "LID"


def test_an_empty_catalog_ranks_nothing():
    empty = ProductRanker(ProductMatcher([], HashingEmbedder()))
    assert empty.rank(room((0, "blender")), 0) == [] and empty.recommend("blender") == []
    assert empty.find("x") is None


@pytest.mark.parametrize("text, expected", [
    ("how much is this one?", True), ("is that in stock?", True), ("how much is it?", True),
    ("这个多少钱", True), ("这款有货吗？", True),
    ("is it raining there?", False), ("what time is the next stream?", False), ("包邮吗？", False),
])
def test_refers_to_current(text, expected):
    assert refers_to_current(text) is expected


def test_resolve_reference_names_the_product():
    pro = CATALOG[0]
    assert resolve_reference("how much is this one?", pro) == "how much is BlendGo Pro Portable Blender?"
    assert resolve_reference("how much is it?", pro) == "how much is BlendGo Pro Portable Blender?"
    assert resolve_reference("这个多少钱", pro) == "BlendGo Pro Portable Blender多少钱"


@pytest.mark.parametrize("text, expected", [
    ("I need something for running in the rain", True), ("can you recommend a blender?", True),
    ("有适合新手的吗?", True), ("求推荐一款榨汁机", True),
    ("how much is the course?", False), ("谢谢主播！", False), ("hello everyone", False),
    # Asking what is *required* is a question for the knowledge base, not a need to recommend for.
    ("do I need to buy a BlendGo to take the course?", False), ("is a blender required for the course?", False),
    ("需要买 BlendGo 才能上课吗", False), ("I need a blender, which one should I get?", True),
])
def test_detect_need(text, expected):
    assert detect_need(text) is expected


def test_describe_product_shows_price_link_and_stock():
    assert describe_product(CATALOG[0]) == "BlendGo Pro Portable Blender, 259 CNY https://shop.example/pro"
    assert describe_product(CATALOG[3], "zh") == "思慕雪食谱电子书，59 元"
    assert "(sold out)" in describe_product(CATALOG[2])


def test_a_ranker_from_a_knowledge_base_ranks_its_catalog_with_the_stored_vectors(tmp_path):
    """`ProductRanker.from_knowledge`: the shipped catalog, ingested, ranked without re-embedding a product."""
    import shutil
    from pathlib import Path

    from brain.knowledge.base import KnowledgeBase

    class Counting(HashingEmbedder):
        """The hashing embedder, recording every text it embeds."""

        def __init__(self) -> None:
            super().__init__()
            self.texts: list[str] = []

        def embed(self, texts):  # noqa: ANN001, ANN201 - Embedder protocol
            self.texts.extend(texts)
            return super().embed(texts)

    folder = tmp_path / "knowledge"
    shutil.copytree(Path(__file__).resolve().parents[2] / "knowledge", folder)
    embedder = Counting()
    kb = KnowledgeBase(folder, tmp_path / "state", embedder)
    kb.ingest()
    chunks, stored = kb.product_chunks()
    assert len(chunks) == 11 and stored is not None and set(stored) == {c.id for c in chunks}

    embedded = len(embedder.texts)
    ranker = ProductRanker.from_knowledge(kb, RankingSettings())
    assert len(embedder.texts) == embedded  # the catalog's vectors come from the index, not a new embedding
    assert ranker.matcher.embedder is embedder and not ranker.matcher.duplicates
    assert {p.id for p in ranker.products} >= {"BG-PRO-01", "BG-JAR-PRO", "SL-COURSE-30", "SL-EBOOK-100"}

    def top(text: str) -> list[str]:
        r = RoomProducts(window=ContentWindow(seconds=120, half_life=45))
        r.window.add(0, text, embedder.embed([text])[0], tokens=ranker.matcher.terms_from_text(text))
        return [x.product.id for x in ranker.rank(r, 1, n=3)]

    assert top("this portable blender crushes frozen fruit, 500 ml jar and a big battery")[:2] == [
        "BG-PRO-01", "BG-MINI-01"]
    assert top("the spare jar fits the Pro only")[0] == "BG-JAR-PRO"
    assert top("a thirty day course with live Q&A")[0] == "SL-COURSE-30"
    # lexical-only on request: same catalog, no query vectors
    lexical = ProductRanker.from_knowledge(kb, RankingSettings(), embedder=None)
    assert lexical.products == ranker.products and lexical.matcher.embed_query("blender") is None
