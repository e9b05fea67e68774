from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.text import split_message


def test_short_text_is_one_part():
    assert split_message("hello", 2000) == ["hello"]


def test_splits_at_paragraphs_then_sentences():
    text = "First paragraph here.\n\nSecond one is longer. It has two sentences."
    assert split_message(text, 40) == ["First paragraph here.", "Second one is longer.", "It has two sentences."]


def test_chinese_sentences_split_at_their_punctuation():
    text = "第一句话说完了。第二句话也说完了。第三句话。"
    assert split_message(text, 10) == ["第一句话说完了。", "第二句话也说完了。", "第三句话。"]


def test_text_without_breaks_is_cut_hard():
    assert split_message("x" * 4500, 2000) == ["x" * 2000, "x" * 2000, "x" * 500]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.integers(min_value=5, max_value=600))
def test_parts_respect_the_limit_and_keep_every_character(text, limit):
    parts = split_message(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert "".join("".join(p.split()) for p in parts) == "".join(text.split())
