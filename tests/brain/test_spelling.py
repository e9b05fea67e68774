"""Chat typos mended against the knowledge base's words (`brain.text.spelling`)."""

from __future__ import annotations

from brain.text.spelling import Speller

_SHOP = ("The motor base of every BlendGo blender has a 12-month warranty. Refunds for the course follow the "
         "refund policy. Coupon code SMOOTHIE20. Free shipping on orders of 99 元. Shipping costs 8 元.")


def test_typos_one_edit_away_are_mended():
    speller = Speller.from_texts([_SHOP])
    assert speller.correct("warrenty") == "warranty"  # a letter changed
    assert speller.correct("refnd") == "refund"  # a letter dropped
    assert speller.correct("coupn") == "coupon"
    assert speller.correct("shiping") == "shipping"
    assert speller.correct("motro") == "motor"  # two letters swapped
    assert speller.mend("whats the warrenty, refnd policy?") == "whats the warranty, refund policy?"


def test_known_short_and_far_words_are_left_as_typed():
    speller = Speller.from_texts([_SHOP])
    assert speller.correct("warranty") is None  # known
    assert speller.correct("pink") is None  # too short to guess
    assert speller.correct("paypal") is None  # nothing one edit away
    assert speller.correct("varranty") is None  # the first letter is kept
    assert speller.mend("寄到美国吗 paypal") == "寄到美国吗 paypal"


def test_a_word_the_caller_knows_is_not_touched():
    speller = Speller.from_texts(["Orders are dispatched within 48 hours."])
    assert speller.mend("order dispatchd", known=lambda w: w == "order") == "order dispatched"
    assert speller.mend("orders", known=lambda w: True) == "orders"


def test_an_empty_vocabulary_mends_nothing():
    speller = Speller.from_texts([])
    assert len(speller) == 0 and speller.mend("refnd policy") == "refnd policy"
