"""The rolling content window: exact running totals under continuous decay."""

import numpy as np
import pytest

from brain.products.content_window import ContentWindow


def brute_terms(lines, now, half_life, seconds):
    out: dict[str, float] = {}
    for ts, tokens, weight in lines:
        if ts < now - seconds:
            continue
        for t in tokens:
            out[t] = out.get(t, 0.0) + weight * 2.0 ** (-(now - ts) / half_life)
    return out


def test_a_line_weighs_one_when_said_and_half_after_a_half_life():
    w = ContentWindow(seconds=600, half_life=30)
    w.add(100.0, "blender blender jar")
    assert w.terms(100.0) == pytest.approx({"blender": 2.0, "jar": 1.0})
    assert w.terms(130.0)["blender"] == pytest.approx(1.0)


def test_lines_leave_the_window_and_max_lines_caps_it():
    w = ContentWindow(seconds=60, half_life=30, max_lines=3)
    w.add(0.0, "mango")
    w.add(50.0, "lid")
    assert set(w.terms(50.0)) == {"mango", "lid"}
    w.add(70.0, "straw")  # mango (t=0) is now older than 60 s
    assert set(w.terms(70.0)) == {"lid", "straw"}
    for i in range(5):
        w.add(71.0 + i, f"word{i}")
    assert len(w) == 3 and set(w.terms(80.0)) == {"word2", "word3", "word4"}
    assert w.expire(10_000.0) == 3 and len(w) == 0 and w.terms(10_000.0) == {}


def test_running_totals_match_a_brute_force_sum_across_rebases():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(20)]
    w = ContentWindow(seconds=50, half_life=0.5, max_lines=10_000)  # rebases every ~100 s of stream
    lines = []
    ts = 0.0
    for _ in range(2000):
        ts += float(rng.uniform(0, 0.5))
        tokens = list(rng.choice(vocab, size=3))
        weight = float(rng.choice([1.0, 3.0]))
        w.add(ts, " ".join(tokens), weight=weight, tokens=tokens)
        lines.append((ts, tokens, weight))
    expected = brute_terms(lines, ts, 0.5, 50)
    got = w.terms(ts)
    assert set(got) == {k for k, v in expected.items() if v > 0}
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-6, abs=1e-12)


def test_vector_is_the_recency_weighted_mean_direction():
    w = ContentWindow(seconds=600, half_life=10)
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    w.add(0.0, "old line", a)
    w.add(10.0, "new line", b)  # the old one weighs half now
    expected = 0.5 * a + b
    assert w.vector(10.0) == pytest.approx(expected / np.linalg.norm(expected), abs=1e-6)
    assert ContentWindow().vector(0.0) is None


def test_keywords_use_idf_and_the_line_that_said_them_is_found():
    w = ContentWindow(seconds=600, half_life=60)
    w.add(0.0, "the lid has a straw")
    w.add(1.0, "the blender is great, the blender is fast")
    idf = {"lid": 3.0, "straw": 3.0, "blender": 0.5, "great": 1.0, "fast": 1.0}.get
    top = [t for t, _ in w.keywords(1.0, k=2, idf=lambda t: idf(t, 0.0))]
    assert set(top) == {"lid", "straw"}
    assert w.line_with(["straw"]).text == "the lid has a straw"
    assert w.line_with(["nothing"]) is None


def test_a_line_without_content_words_is_not_kept():
    w = ContentWindow()
    assert w.add(0.0, "the and of") is None and len(w) == 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ContentWindow(seconds=0)


def test_vector_share_is_the_weighted_share_of_embedded_lines():
    w = ContentWindow(seconds=600, half_life=10)
    w.add(0.0, "portable blender", np.array([1.0, 0.0], np.float32))
    assert w.vector_share() == pytest.approx(1.0)
    w.add(10.0, "电子书食谱")  # no vector (an English-only model), weighs twice the older line now
    assert w.vector_share() == pytest.approx(0.5 / 1.5)
