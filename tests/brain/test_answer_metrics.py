"""How an answer is scored: folding, `carries` and SQuAD-style F1, in English and Chinese."""

import pytest

from brain.answers.answer_metrics import answer_f1, carries, f1_tokens, fold


def test_fold_is_nfkc_case_and_whitespace() -> None:
    assert fold("  Ｆｒｅｅ\tSHIPPING\n over  99 ") == "free shipping over 99"
    assert fold("满　99　元") == "满 99 元"  # full-width space and digits


def test_carries_any_gold_after_folding() -> None:
    answer = "Orders are dispatched within 48\nHOURS of payment."
    assert carries(answer, ["48 hours"])
    assert carries(answer, ["nope", "within 48 hours"])
    assert not carries(answer, ["24 hours"])
    assert carries("全场满９９元包邮", ["满99元包邮"])


@pytest.mark.parametrize("answer", [None, ""])
def test_an_abstention_carries_nothing_and_scores_zero(answer: str | None) -> None:
    assert not carries(answer, ["48 hours"])
    assert answer_f1(answer, ["48 hours"]) == 0.0


def test_empty_gold_is_never_carried() -> None:
    assert not carries("anything at all", [])
    assert not carries("anything at all", [""])
    assert answer_f1("anything at all", []) == 0.0


def test_f1_counts_english_words_without_articles_or_punctuation() -> None:
    assert f1_tokens("The motor is 1200 W!") == ["motor", "is", "1200", "w"]
    assert answer_f1("a 1200 watt motor", ["1200 watt"]) == pytest.approx(0.8)  # p 2/3, r 1
    assert answer_f1("1200 watt", ["the 1200 Watt."]) == 1.0


def test_f1_counts_chinese_characters() -> None:
    assert f1_tokens("长城，全长") == ["长", "城", "全", "长"]
    # 4 characters in common: precision 4/9, recall 4/4, F1 = 8/13.
    assert answer_f1("长城全长约两万千米", ["全长约两"]) == pytest.approx(8 / 13)


def test_f1_takes_the_best_gold() -> None:
    assert answer_f1("five to seven days", ["two days", "five to seven days"]) == 1.0
    assert answer_f1("completely unrelated", ["five to seven days"]) == 0.0
