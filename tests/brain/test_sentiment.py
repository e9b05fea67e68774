"""Lexicon polarity, the per-minute mood series and its moving moments (brain/chat/sentiment.py)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from brain.chat.classify import DEFAULT_DATA, load_labelled
from brain.chat.sentiment import SentimentAnalyzer, analyse, mood_series, moving_moments, polarity


@pytest.mark.parametrize("positive,negative", [
    ("good", "not good"),
    ("I like it", "I don't like it"),
    ("worth it", "not worth it"),
    ("好", "不好"),
    ("好吃", "一点都不好吃"),
    ("有意思", "没意思"),
    ("好用", "不好用"),
])
def test_negation_flips(positive, negative):
    assert polarity(positive) > 0.1
    assert polarity(negative) < -0.1


def test_negating_a_negative_word_is_mildly_positive():
    assert 0 < polarity("not bad") < polarity("good")
    assert polarity("不错") > 0.3  # one word, not 不 + 错


@pytest.mark.parametrize("plain,strong", [
    ("good", "very good"),
    ("helpful", "super helpful"),
    ("bad", "extremely bad"),
    ("好吃", "太好吃"),
    ("好吃", "超级好吃"),
    ("贵", "非常贵"),
])
def test_intensifiers_scale(plain, strong):
    assert abs(polarity(strong)) > abs(polarity(plain))
    assert math.copysign(1, polarity(strong)) == math.copysign(1, polarity(plain))


def test_diminisher_and_partial_negation():
    assert 0 > polarity("不太好") > polarity("不好")
    assert 0 < polarity("kinda good") < polarity("good")


@pytest.mark.parametrize("text,sign", [("😍", 1), ("👍", 1), ("🔥", 1), ("😡", -1), ("💩", -1), ("👎", -1),
                                       ("[赞]", 1), ("[发怒]", -1), (":)", 1), (":(", -1), ("❤️", 1)])
def test_emoji_and_emotes(text, sign):
    assert math.copysign(1, polarity(text)) == sign and abs(polarity(text)) > 0.2


def test_exclamation_caps_elongation_and_repeats():
    assert polarity("great!!!") > polarity("great")
    assert polarity("terrible!!!") < polarity("terrible")
    assert polarity("GREAT stream") > polarity("great stream")
    assert polarity("sooo gooood") > polarity("good")
    flood = polarity("love " * 50)
    assert polarity("love love") == pytest.approx(flood)  # a word counts at most twice
    assert -1 < polarity("😡" * 500) < 0


def test_contrast_weighs_the_second_clause():
    assert polarity("the course is great but the audio is terrible") < 0
    assert polarity("the audio is terrible but the course is great") > 0
    assert polarity("质量很好 但是太贵了") < 0


def test_mixed_language_and_neutral_lines():
    assert polarity("so good 学到了") > 0.5
    assert polarity("refund还没到 😡") < -0.3
    for text in ("", "   ", "how much is it?", "这个多少钱", "12345", "真的假的", "好的"):
        assert abs(polarity(text)) < 0.1, text


def test_evidence_and_bounds_over_the_whole_labelled_set():
    s = analyse("not good at all 😡")
    assert s.score < 0 and s.label == "negative" and [t for t, _ in s.hits] == ["good", "😡"]
    texts = [r["text"] for r in load_labelled(list(DEFAULT_DATA))]
    scores = [polarity(t) for t in texts]
    assert all(-1 < v < 1 for v in scores)
    # praise reads positive more often than complaints do
    recs = load_labelled(list(DEFAULT_DATA))
    praise = np.mean([polarity(r["text"]) for r in recs if r["label"] == "praise"])
    complaint = np.mean([polarity(r["text"]) for r in recs if r["label"] == "complaint"])
    assert praise > 0.25 and complaint < -0.1


def test_very_long_lines_take_bounded_time():
    for text in ("great " * 20_000, "好" * 100_000, "x" * 100_000):
        t0 = time.perf_counter()
        assert -1 < polarity(text) < 1
        assert time.perf_counter() - t0 < 0.5


# ---- mood series --------------------------------------------------------------------------------------------

def test_buckets_counts_means_and_empty_minutes():
    msgs = [(0, "good"), (30, "bad"), (59.9, "great"), (60, "terrible"), (200, "love it"), (130, "ok")]
    s = mood_series(reversed(msgs), bucket_s=60, smooth=2)
    assert list(s.start) == [0, 60, 120, 180]
    assert list(s.count) == [3, 1, 1, 1]
    assert s.mean[0] == pytest.approx(np.mean([polarity("good"), polarity("bad"), polarity("great")]))
    assert s.mean[1] == pytest.approx(polarity("terrible"))
    assert list(s.positive) == [2, 0, 1, 1] and list(s.negative) == [1, 1, 0, 0]
    # smoothed: count-weighted trailing mean of 2 buckets
    assert s.smoothed[1] == pytest.approx((s.mean[0] * 3 + s.mean[1]) / 4)
    rows = s.rows()
    assert rows[0]["count"] == 3 and set(rows[0]) >= {"start", "mean", "smoothed", "count"}


def test_gaps_are_nan_and_smoothing_carries_over():
    s = mood_series([(0, "great"), (600, "awful")], bucket_s=60, smooth=3)
    assert len(s) == 11 and s.count.sum() == 2
    assert math.isnan(s.mean[5]) and s.rows()[5]["mean"] is None
    assert s.smoothed[5] == pytest.approx(polarity("great"))  # carried
    assert s.smoothed[10] == pytest.approx(polarity("awful"))


def test_datetimes_and_alignment():
    t0 = datetime(2026, 11, 20, 12, 0, 30, tzinfo=timezone(timedelta(hours=8)))
    s = mood_series([(t0, "good"), (t0 + timedelta(seconds=40), "bad")])
    assert len(s) == 2 and s.start[0] % 60 == 0
    assert mood_series([]).count.size == 0 and moving_moments(mood_series([])) == []
    with pytest.raises(ValueError):
        mood_series([(0, "x")], bucket_s=0)


def _stream() -> list[tuple[float, str]]:
    """Ten minutes of a stream: calm, a praise wave at minute 4, an audio failure at minute 7."""
    msgs: list[tuple[float, str]] = []
    calm = ["ok", "hello", "how much is it", "lol", "nice", "这个多少钱"]
    for minute in range(10):
        for k in range(30):
            ts = minute * 60 + k * 2
            if minute == 4 and k % 2 == 0:
                text = ["this is so helpful!", "主播讲得太好了", "love it 😍", "best class ever"][k % 4]
            elif minute == 7 and k % 3 != 2:
                text = ["audio is terrible 😡", "can't hear anything, awful", "卡死了 太差了", "worst stream"][k % 4]
            else:
                text = calm[k % len(calm)]
            msgs.append((ts, text))
    return msgs


def test_moving_moments_find_the_waves_with_their_lines():
    s = mood_series(_stream())
    moments = moving_moments(s, top=3)
    assert len(moments) == 3
    first = moments[0]
    assert first.start == 420 and first.direction == "down" and first.count == 30
    assert first.after < first.before and first.strength < 0
    assert first.samples and all(score < 0 for _, score in first.samples)
    assert len({t for t, _ in first.samples}) == len(first.samples) <= 5
    up = next(m for m in moments if m.direction == "up")
    assert up.start == 240 and any("helpful" in t or "太好" in t for t, _ in up.samples)
    assert moving_moments(s, top=1) == moments[:1]


def test_thin_buckets_do_not_dominate():
    msgs = [(m * 60 + k, "ok") for m in range(5) for k in range(20)]
    msgs += [(5 * 60, "worst thing ever 😡")]  # one angry line alone in minute 5
    msgs += [(6 * 60 + k, "terrible" if k % 2 else "ok") for k in range(20)]
    s = mood_series(msgs)
    moments = moving_moments(s, top=5, min_count=1)
    assert moments[0].start == 360  # 20 lines, half negative, beat the single furious line
    assert all(m.start != 300 for m in moving_moments(s, min_count=3))


def test_forty_thousand_messages_in_one_minute():
    base = [r["text"] for r in load_labelled(list(DEFAULT_DATA))]
    msgs = [(i * 0.0015, f"{base[i % len(base)]} {i}") for i in range(40_000)]
    analyzer = SentimentAnalyzer()  # a cold cache: every line is scored
    t0 = time.perf_counter()
    s = mood_series(msgs, analyzer=analyzer)
    elapsed = time.perf_counter() - t0
    assert int(s.count.sum()) == 40_000 and len(s) == 1
    assert len(s.top_positive[0]) == 5 and len(s.top_negative[0]) == 5
    assert elapsed < 15.0  # ~1-2 s on the busy 2-core dev host
