import numpy as np

from brain.answers.bursts import AnswerCache, BurstTracker
from brain.text.similarity import similarity_terms, text_overlap


def unit(*xs):
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_terms_are_words_or_cjk_bigrams():
    assert similarity_terms("How much is the course??") == {"how", "much", "is", "the", "course"}
    assert similarity_terms("多少钱？") == {"多少", "少钱"}
    assert text_overlap(similarity_terms("这个多少钱"), similarity_terms("这个多少钱啊")) >= 0.6


def test_a_burst_collects_paraphrases_within_the_window():
    tracker = BurstTracker(window=20, cosine=0.9, overlap=0.6)
    a, new_a = tracker.observe("r", "1", "tom", unit(1, 0.1, 0), similarity_terms("how much is the course?"), 0)
    b, new_b = tracker.observe("r", "2", "ana", unit(1, 0.12, 0), similarity_terms("price of the course?"), 3)
    c, new_c = tracker.observe("r", "3", "小王", None, similarity_terms("课程多少钱"), 4)
    d, new_d = tracker.observe("r", "4", "小李", None, similarity_terms("课程多少钱？"), 5)
    assert new_a and not new_b and b is a and a.askers == ["tom", "ana"]
    assert new_c and not new_d and d is c and c.size == 2


def test_bursts_expire_and_rooms_are_separate():
    tracker = BurstTracker(window=10)
    terms = similarity_terms("is shipping free?")
    first, _ = tracker.observe("r1", "1", "a", None, terms, 0)
    other, new_other = tracker.observe("r2", "2", "b", None, terms, 1)
    later, new_later = tracker.observe("r1", "3", "c", None, terms, 30)
    assert new_other and other is not first
    assert new_later and later is not first


def test_cache_serves_exact_and_semantic_repeats_until_ttl():
    cache: AnswerCache[str] = AnswerCache(ttl=60, cosine=0.95)
    cache.put("How much is the course?", unit(1, 0, 0), "¥199", now=0)
    assert cache.get("how much is the course", None, now=10) == "¥199"
    assert cache.get("course price please", unit(1, 0.05, 0), now=10) == "¥199"
    assert cache.get("is shipping free", unit(0, 1, 0), now=10) is None
    assert cache.get("how much is the course?", None, now=61) is None
    cache.clear()
    assert len(cache) == 0 and cache.stats()["hits"] == 2


def test_cache_is_bounded():
    cache: AnswerCache[int] = AnswerCache(capacity=3)
    for i in range(5):
        cache.put(f"question {i}", None, i, now=0)
    assert len(cache) == 3 and cache.get("question 0", None, now=1) is None


def test_overlap_groups_put_a_text_with_the_first_group_that_shares_its_words():
    from brain.text.similarity import OverlapGroups

    groups: OverlapGroups[list[str]] = OverlapGroups(0.5)
    for text in ("do you ship to the moon?", "包邮吗？", "can you ship to the moon?", "主播包邮吗", "what colour is it?"):
        groups.get(text, lambda first: []).append(text)
    assert groups.groups() == [["do you ship to the moon?", "can you ship to the moon?"], ["包邮吗？", "主播包邮吗"],
                               ["what colour is it?"]]
