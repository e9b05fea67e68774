import pytest

from brain.text.questions import detect_question, language_of, normalise_question


@pytest.mark.parametrize("text,reason", [
    ("how much is the course?", "question-mark"),
    ("how much is the course", "interrogative"),
    ("does it ship to Canada", "interrogative"),
    ("price of the blender", "interrogative"),
    ("这个能用冷冻水果吗", "particle"),
    ("这个能用冷冻水果吗？", "question-mark"),
    ("主播，包邮不", "particle"),
    ("多少钱", "particle"),
    ("有没有优惠券", "particle"),
    ("什么时候发货", "particle"),
    ("@liveroom the refund policy", "mention"),
    ("anyone know the coupon code", "interrogative"),
])
def test_questions_are_detected(text, reason):
    found = detect_question(text)
    if reason is None:
        assert found is None
    else:
        assert found is not None and found.reason == reason


@pytest.mark.parametrize("text", [
    "lol", "love this", "hi from Berlin!", "great tip, thanks", "谢谢主播！", "哈哈哈", "已下单",
    "👍👍", "", "   ", "?", "there is a discount today", "wow",
])
def test_chatter_is_not_a_question(text):
    assert detect_question(text) is None


def test_language_and_normalisation():
    assert language_of("这个能用冷冻水果吗?") == "zh"
    assert language_of("is the Smoothie Lab 课程 good?") == "en"
    assert normalise_question("  How MUCH is the course?? @ann ") == "how much is the course"
    assert normalise_question("多少钱？") == normalise_question("多少钱?")
