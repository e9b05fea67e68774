"""Content quality on scripted sessions in a real store: every part, the score, and what cannot be computed."""

import sys
from pathlib import Path

import pytest

from brain.insights.quality import WEIGHTS, answer_rate, content_quality, unanswered_part, unanswered_topics
from brain.products.matching import ProductDoc
from brain.store.event_store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scripted_room import HOST, KEY  # noqa: E402
from scripted_room import ScriptedRoom as Script  # noqa: E402

CATALOG = [
    ProductDoc(id="PRO", name="BlendGo Pro", price=259.0, currency="CNY", tags=("blender", "USB-C"),
               text="Portable blender with a 500 ml Tritan jar, six stainless steel blades and a 4000 mAh battery."),
    ProductDoc(id="LID", name="Glass Lid", price=39.0, currency="CNY", tags=("accessory",),
               text="Heat-resistant borosilicate glass lid with a silicone seal, dishwasher safe."),
    ProductDoc(id="COURSE", name="Smoothie Course", price=349.0, currency="CNY", tags=("online",),
               text="Thirty daily video lessons, live Q&A twice a week and lifetime access to replays."),
    ProductDoc(id="BAG", name="Carry Bag", price=59.0, currency="CNY", tags=("travel",),
               text="Insulated bag that keeps a smoothie cold for four hours."),
    ProductDoc(id="CABLE", name="Charging Cable", price=19.0, currency="CNY", tags=("cable",),
               text="Braided one metre cable."),
]


@pytest.fixture
def script(database_url):
    s = Store(database_url, flush_interval=0.2)
    yield Script(s)
    s.close()


def pitch(script: Script) -> None:
    """Four products pitched: three described (by their features or their price), the pinned lid only named."""
    script.live(0, "start")
    script.say(0, "Here is the BlendGo Pro.")
    script.say(10, "It has a Tritan jar, six stainless steel blades and a big battery.")
    script.say(200, "The Smoothie Course starts next week.")
    script.say(210, "You get daily video lessons and lifetime access.")
    script.pin(400, CATALOG[1])
    script.say(405, "And this lid fits too, grab it.")
    script.say(600, "The Carry Bag is only 59 yuan today.")
    script.live(900, "end")


def test_coverage_names_the_pitched_product_that_was_not_described(script):
    pitch(script)
    part = content_quality(script.session(), products=CATALOG).part("coverage")
    assert part.value == 0.75 and part.weight == WEIGHTS["coverage"]
    assert part.explanation == "Covered 3 of 4 pitched products: missing Glass Lid"
    assert part.details["pitched"] == ["BlendGo Pro", "Smoothie Course", "Glass Lid", "Carry Bag"]
    assert part.details["evidence"]["BlendGo Pro"] == ["battery", "blade", "jar", "six", "stainless", "steel", "tritan"]
    assert part.details["evidence"]["Carry Bag"] == ["price"]
    assert part.details["evidence"]["Glass Lid"] == []


def test_coverage_is_not_computable_without_catalog_or_pitch(script):
    script.live(0, "start")
    script.say(5, "Good evening everyone, welcome back.")
    script.live(300, "end")
    data = script.session()
    assert content_quality(data).part("coverage").explanation == "Not computed: no product catalog was given"
    part = content_quality(data, products=CATALOG).part("coverage")
    assert part.value is None
    assert part.explanation == "Not computed: no catalog product was pinned or named on stream"


def test_information_density_counts_distinct_facts_per_minute(script):
    script.live(0, "start")
    for minute in range(3):
        script.say(minute * 60 + 1, "The BlendGo Pro is 259 yuan with a 500 ml jar and a 4000 mAh battery.")
        script.say(minute * 60 + 20, "The BlendGo Pro is 259 yuan with a 500 ml jar and a 4000 mAh battery.")
    script.live(180, "end")
    part = content_quality(script.session(), products=CATALOG).part("density")
    # per minute: 259 yuan (a price), 500 and 4000 (numbers), the product: said twice, counted once
    assert part.details["by_kind"]["number"] == 3 * 3 and part.details["by_kind"]["product"] == 3
    assert part.details["minutes"] == 3 and part.details["facts_per_minute"] >= 5
    assert part.value == 1.0 and part.explanation.startswith(f"{part.details['facts_per_minute']:.1f} facts a minute")


def test_rambling_has_no_information_and_poor_clarity(script):
    ramble = ["So yeah, this is really nice, you guys are gonna love it.", "Um, I mean, it's just so good, honestly.",
              "Like, you know, everyone should have one, right?", "It's great, it's great, really great."]
    script.live(0, "start")
    for i in range(24):
        script.say(i * 10, ramble[i % 4])
    script.live(240, "end")
    report = content_quality(script.session(), products=CATALOG)
    density, clarity = report.part("density"), report.part("clarity")
    assert density.value == 0.0 and density.details["facts_per_minute"] == 0.0
    assert clarity.details["fillers"] == {"um": 6, "like": 6, "you know": 6}
    assert clarity.details["repeated_share"] == round(20 / 24, 4)  # every line after the first four repeats
    assert clarity.details["subscores"]["repetition"] == 0.0 and clarity.value < 0.5


def test_clarity_fillers_in_both_languages_and_sentence_length(script):
    script.live(0, "start")
    script.say(0, "Um, so this is, like, the best one.")
    script.say(10, "Uh, you know, it is fast.")
    script.say(20, "然后那个就是很好用。")
    script.say(30, "嗯 it works.")
    script.live(120, "end")
    part = content_quality(script.session()).part("clarity")
    assert part.details["fillers"] == {"um": 1, "like": 1, "uh": 1, "you know": 1, "然后": 1, "那个": 1, "就是": 1,
                                       "嗯": 1}
    assert part.details["repeated_share"] == 0.0 and part.details["subscores"]["sentence_length"] == 1.0
    assert part.details["mean_sentence_words"] == 5.75  # 8 + 6 + 6 (jieba words) + 3 words in 4 sentences
    assert part.explanation.startswith("Sentences average 6 words; ")


def test_answer_rate_and_unanswered_topics(script):
    script.live(0, "start")
    script.say(5, "Ask me anything about the blender.")
    for i, (text, status) in enumerate([
            ("how much is the blender?", "answered"), ("how much is the blender??", "merged"),
            ("is it loud?", "answered"), ("what colours are there?", "answered"), ("is it loud", "merged"),
            ("how long is the warranty?", "abstained"), ("is the warranty international?", "abstained"),
            ("warranty in europe?", "abstained"), ("does it ship to canada?", "abstained"),
            ("can you ship to canada please", "abstained"), ("什么时候发货？", "abstained"), ("发货要几天", "abstained"),
            ("who won the match?", "abstained")]):
        script.question(10 + i, text, status, user=f"u{i}")
    script.live(300, "end")
    report = content_quality(script.session())
    rate = report.part("answer_rate")
    assert rate.value == round(3 / 11, 4)
    assert rate.explanation == "Answered 3 of 11 viewer questions (27%); 8 passed to you"
    assert rate.details == {"answered": 3, "abstained": 8, "merged": 2}
    assert [(u.terms, u.questions, u.askers) for u in report.unanswered] == [
        (("warranty",), 3, 3), (("canada", "ship"), 2, 2), (("发货",), 2, 2)]
    assert report.unanswered[0].examples[0] == "how long is the warranty?"
    part = report.part("unanswered")
    assert part.value == round(4 / 11, 4)  # 7 of 11 handled questions sit in a recurring unanswered topic
    assert part.explanation == ("3 topics asked about repeatedly without an answer: 'warranty' (3×), "
                                "'canada ship' (2×), '发货' (2×)")


def test_unanswered_topics_ignore_one_offs_and_generic_words():
    qs = [{"text": t, "status": s, "user_key": t} for t, s in [
        ("how much is the price of the lid?", "abstained"), ("price of the blender", "answered"),
        ("price for the bag", "answered"), ("what is the price of shipping", "answered"),
        ("price of the cable?", "abstained"), ("price of the jar", "answered"), ("who won?", "abstained")]]
    # "price" is in most questions: it says nothing about what went unanswered
    assert unanswered_topics(qs) == []
    assert unanswered_topics(qs[:1]) == []


def test_score_is_the_weighted_mean_of_the_computable_parts(script):
    pitch(script)
    script.question(30, "is it loud?", "answered")
    script.question(40, "does it ship to canada?", "abstained")
    script.chat(45, "does it ship to canada?")
    data = script.session()
    report = content_quality(data)   # no catalog: coverage is left out
    parts = {p.name: p for p in report.parts}
    assert parts["coverage"].value is None and [n.split(":")[0] for n in report.notes] == ["coverage"]
    counted = [p for p in report.parts if p.value is not None]
    expected = 100 * sum(p.value * p.weight for p in counted) / sum(p.weight for p in counted)
    assert report.score == round(expected, 1) and 0 < report.score <= 100
    assert parts["answer_rate"].value == 0.5 and parts["unanswered"].value == 1.0
    with_catalog = content_quality(data, products=CATALOG, weights={"clarity": 0.0})
    counted = [p for p in with_catalog.parts if p.value is not None and p.weight > 0]
    assert [p.name for p in counted] == ["coverage", "density", "answer_rate", "unanswered"]
    assert with_catalog.score == round(100 * sum(p.value * p.weight for p in counted)
                                       / sum(p.weight for p in counted), 1)


def test_no_transcript_no_questions_nothing_to_score(script):
    script.live(0, "start")
    script.chat(10, "hello?")
    script.live(60, "end")
    report = content_quality(script.session(), products=CATALOG)
    assert report.score is None
    assert {p.name: p.explanation for p in report.parts} == {
        "coverage": "Not computed: no transcript", "density": "Not computed: no transcript",
        "clarity": "Not computed: no transcript",
        "answer_rate": "Not computed: no viewer question was handled this session",
        "unanswered": "Not computed: no viewer question was handled this session"}
    assert report.notes[-1] == "no part of the score could be computed"
    with pytest.raises(KeyError, match="no quality part 'tone'"):
        report.part("tone")


def test_one_question_and_one_topic_read_in_the_singular():
    """A small stream's explanations: "1 viewer question", "1 topic", never "1 viewer questions"."""
    questions = [{"text": "how long is the warranty?", "status": "abstained", "user_key": "a"},
                 {"text": "is the warranty international?", "status": "abstained", "user_key": "b"}]
    assert answer_rate(questions[:1]).explanation == "Answered 0 of 1 viewer question (0%); 1 passed to you"
    assert unanswered_part(questions, unanswered_topics(questions)).explanation == (
        "1 topic asked about repeatedly without an answer: 'warranty' (2×)")

def test_pins_without_transcript_and_unknown_pins(script):
    script.live(0, "start")
    script.pin(10, CATALOG[0])
    script.store.record_pin(room=KEY, product_id="GONE", product_name="Old Mixer", user_key=HOST.key,
                            event_id=None, ts=script.at(20).timestamp())
    script.chat(30, "nice")
    script.live(60, "end")
    part = content_quality(script.session(), products=CATALOG).part("coverage")
    assert part.value is None
    assert part.explanation == "Not computed: 1 product pinned but no transcript to check what was said"
