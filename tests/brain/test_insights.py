"""The host profile on scripted rooms in a real store: topics, style, expertise, viewer response, bad input."""

import sys
from pathlib import Path

import pytest

from brain.insights import host_profile as insights
from brain.insights.host_profile import SAMPLE_LIMIT, host_profile, is_rare_word, speaking_style, spoken_lines, words
from brain.insights.quality import content_quality
from brain.store.event_store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scripted_room import ScriptedRoom as Script  # noqa: E402

BLENDER = ["The blender has six steel blades and a strong motor.",
           "This blender crushes ice and frozen fruit in seconds.",
           "Clean the blender jar with warm water and soap.",
           "The blender battery charges over USB in two hours."]
COURSE = ["The course has thirty video lessons to watch anytime.",
          "Every course lesson ends with a recipe card to print.",
          "Join the course community and meet other students.",
          "The course includes lifetime access to all lessons."]


@pytest.fixture
def script(database_url):
    s = Store(database_url, flush_interval=0.2)
    yield Script(s)
    s.close()


def topic_with(profile, word):
    (topic,) = [t for t in profile.topics if word in [k for k, _ in t.keywords]]
    return topic


def blender_then_course(script) -> None:
    """One /live session: ten minutes about the blender, then ten about the course."""
    script.live(0, "start")
    script.talk(0, 10, BLENDER)
    script.talk(600, 10, COURSE)
    script.live(1200, "end")


def test_two_scripted_topics_are_found_and_named(script):
    blender_then_course(script)
    (data,) = script.sessions()
    profile = host_profile(data)
    assert len(profile.topics) == 2
    blender, course = topic_with(profile, "blender"), topic_with(profile, "course")
    assert blender.keywords[0][0] == "blender" and course.keywords[0][0] == "course"
    assert "course" not in dict(blender.keywords) and "blender" not in dict(course.keywords)
    assert (blender.windows, course.windows) == (10, 10) and blender.minutes == 10.0 and blender.share == 0.5
    assert blender.sessions == (1,) and blender.example in BLENDER and course.example in COURSE
    assert {k for k, _ in profile.keywords[:2]} == {"blender", "course"}


def test_viewers_respond_to_each_topic(script):
    blender_then_course(script)
    buying = ["how much is the blender?", "i want to buy the blender", "take my money", "where is the link?"]
    for i, text in enumerate(buying * 3):
        script.chat(60 + i * 40, text, user=f"b{i % 5}")           # during the blender talk (60..540 s)
    for i, text in enumerate(["love this course", "this is amazing, thank you"] * 4):
        script.chat(700 + i * 60, text, user=f"c{i % 3}")           # during the course talk
    (data,) = script.sessions()
    profile = host_profile(data, after_s=120)
    blender, course = topic_with(profile, "blender"), topic_with(profile, "course")
    rb = next(r for r in profile.responses if r.topic_id == blender.id)
    rc = next(r for r in profile.responses if r.topic_id == course.id)
    assert (rb.messages, rb.viewers, rc.messages, rc.viewers) == (12, 5, 8, 3)
    assert rb.purchase_intent == 9 and rb.questions == 3 and rc.purchase_intent == 0 and rc.questions == 0
    assert rb.example_questions == ("how much is the blender?",)
    assert rc.mean_sentiment > 0.3 > rb.mean_sentiment
    assert not rb.estimated and rb.sampled == 12
    # rates per minute of response time: each topic's 10 minutes (the next topic's words end the first)
    assert rb.response_minutes == 10.0 and rb.purchase_per_minute == 0.9
    assert profile.baseline.messages == 20 and profile.baseline.purchase_intent == 9
    assert profile.baseline.messages_per_minute == 1.0  # 20 messages over the 20-minute session
    assert profile.notes == ["expertise across sessions needs two or more sessions: the longest topics of this "
                             "one are shown"]


def test_speaking_style_pace_questions_and_sentence_length(script):
    script.live(0, "start")
    lines = ["We blend mango with milk and ice for breakfast today."] * 10 + \
            ["Do you like mango smoothies with just a little ice?", "Who wants the recipe card for this one right now?"]
    for i, text in enumerate(lines):
        script.say(i * 10, text)
    script.live(600, "end")
    (data,) = script.sessions()
    style = host_profile(data).style
    # 12 lines of 10 words, 10 s each (the last one the median gap): 120 words in 2 minutes
    assert (style.words, style.speaking_minutes, style.words_per_minute) == (120, 2.0, 60.0)
    assert style.question_rate == round(2 / 12, 4) and style.questions_per_minute == 1.0
    assert style.mean_sentence_words == 10.0 and style.cjk_chars_per_minute is None


def test_chinese_pace_counts_words_and_characters(script):
    script.live(0, "start")
    for i in range(6):
        script.say(i * 10, "我们今天做芒果思慕雪。")      # 10 characters, jieba words fewer
    script.live(600, "end")
    (data,) = script.sessions()
    style = host_profile(data).style
    n_words = len(words("我们今天做芒果思慕雪。"))
    assert 4 <= n_words < 10
    assert style.cjk_chars_per_minute == 60.0                    # 60 characters in one minute
    assert style.words_per_minute == 6 * n_words


def test_jargon_density_counts_rare_words(script):
    assert is_rare_word("blender") and is_rare_word("tritan") and not is_rare_word("jar")
    assert not is_rare_word("replays") and is_rare_word("500ml") is None
    script.live(0, "start")
    script.say(5, "The tritan jar and the blender blades")
    script.live(60, "end")
    (data,) = script.sessions()
    style = speaking_style(spoken_lines([data]))
    assert style.jargon_density == 0.5 and set(style.jargon_terms) == {"tritan", "blender"}


def test_expertise_is_the_topic_of_every_session(script):
    for k, start in enumerate((0, 7200, 14400)):
        script.live(start, "start")
        script.talk(start, 6, BLENDER)
        if k == 0:
            script.talk(start + 360, 6, COURSE)
        script.live(start + 800, "end")
    data = script.sessions()
    assert [d.session.id for d in data] == [1, 2, 3]
    profile = host_profile(data)
    blender, course = topic_with(profile, "blender"), topic_with(profile, "course")
    assert blender.sessions == (1, 2, 3) and course.sessions == (1,)
    assert blender.minutes_by_session == {1: 6.0, 2: 6.0, 3: 6.0}
    assert [(e.topic_id, e.sessions, e.of_sessions, e.consistency) for e in profile.expertise] == [
        (blender.id, 3, 3, 1.0)]
    assert profile.expertise[0].jargon_density > 0


def test_too_many_windows_are_lengthened(script, monkeypatch):
    monkeypatch.setattr(insights, "MAX_WINDOWS", 5)
    blender_then_course(script)
    (data,) = script.sessions()
    profile = host_profile(data)
    assert profile.window_seconds == 240.0  # 20 one-minute windows, four times too many
    assert "speech windows lengthened to 240 s to keep topic clustering fast" in profile.notes
    assert profile.topics[0].keywords[0][0] in ("blender", "course")


# ---- bad input -------------------------------------------------------------------------------------

def test_no_transcript_only_chat(script):
    script.live(0, "start")
    for i in range(5):
        script.chat(i * 30, "hello!", user=f"v{i}")
    script.live(600, "end")
    (data,) = script.sessions()
    profile = host_profile(data)
    assert profile.topics == [] and profile.expertise == [] and profile.responses == []
    assert profile.style.words_per_minute is None and profile.style.jargon_density is None
    assert profile.baseline.messages == 5 and profile.baseline.viewers == 5
    assert any("no transcript" in n for n in profile.notes)
    report = content_quality(data)
    assert report.score is None and report.part("clarity").value is None
    assert "no part of the score could be computed" in report.notes


def test_transcript_without_viewers_or_questions(script):
    script.live(0, "start")
    script.talk(0, 5, BLENDER)
    script.live(300, "end")
    (data,) = script.sessions()
    profile = host_profile(data)
    assert profile.responses == [] and profile.baseline is None
    assert "no viewer messages: how viewers respond cannot be measured" in profile.notes
    assert len(profile.topics) == 1 and profile.style.words_per_minute is not None
    report = content_quality(data)
    assert report.part("answer_rate").value is None and report.part("unanswered").value is None
    assert report.score is not None  # density and clarity can still be scored


def test_one_viewer_is_said(script):
    script.live(0, "start")
    script.talk(0, 5, BLENDER)
    for i in range(4):
        script.chat(30 + i * 60, "how much is the blender?", user="solo")
    script.live(300, "end")
    (data,) = script.sessions()
    profile = host_profile(data)
    assert profile.viewers == 1 and profile.baseline.viewers == 1
    assert "one viewer: the responses are one person's, not an audience's" in profile.notes


def test_emoji_only_speech_and_chat(script):
    script.live(0, "start")
    for i in range(6):
        script.say(i * 10, "😀😀🎉")
        script.chat(i * 10 + 5, "👍👍", user=f"v{i}")
        script.chat(i * 10 + 6, "❤️", user=f"w{i}")
    script.live(120, "end")
    (data,) = script.sessions()
    profile = host_profile(data)
    assert profile.topics == [] and profile.style.words == 0 and profile.style.words_per_minute is None
    assert any("no content words" in n for n in profile.notes)
    assert profile.baseline.messages == 12 and profile.baseline.mean_sentiment > 0  # emoji carry sentiment
    assert profile.baseline.questions == 0 and profile.baseline.purchase_intent == 0
    report = content_quality(data)
    assert report.part("clarity").value is None and "no words" in report.part("clarity").explanation


def test_a_pasted_flood_is_not_a_word(script):
    script.live(0, "start")
    script.say(5, "x" * 100_000)
    script.say(15, "The blender " + "ha" * 50_000)
    script.live(60, "end")
    (data,) = script.sessions()
    profile = host_profile(data)
    assert [k for k, _ in profile.keywords] == ["blender"] and profile.style.jargon_terms == ("blender",)


def test_mixed_language_message_is_read(script):
    script.live(0, "start")
    script.talk(0, 5, COURSE)
    script.chat(40, "这个 course 多少钱?", user="wang")
    script.chat(80, "这个 course 多少钱?", user="li")
    script.chat(100, "course 好棒", user="zhao")
    script.live(300, "end")
    (data,) = script.sessions()
    profile = host_profile(data)
    (response,) = profile.responses
    assert response.messages == 3 and response.questions == 2
    assert response.example_questions == ("这个 course 多少钱?",)
    assert words("这个 course 多少钱?") == ("这个", "course", "多少钱")


def test_forty_thousand_messages_in_one_minute(script):
    if script.store.engine.dialect.name != "sqlite":
        pytest.skip("a volume test of the report's own work: its SQL is the same as above, on both engines")
    script.live(0, "start")
    for i in range(6):
        script.say(i * 10, BLENDER[i % 4])
    texts = ["how much is the blender?", "wow", "i want to buy the blender", "😂😂", "这个 course 多少钱?", "love it"]
    for i in range(40_000):
        script.chat(i * 60 / 40_000, texts[i % len(texts)] + ("" if i % 2 else f" {i}"), user=f"v{i % 3000}")
    script.live(60, "end")
    (data,) = script.sessions()
    assert len(data.viewers) == 40_000
    profile = host_profile(data)
    assert profile.baseline.messages == 40_000 and profile.baseline.estimated
    assert SAMPLE_LIMIT <= profile.baseline.sampled <= SAMPLE_LIMIT + 400
    # one message in three is a question or a purchase: the sample's estimate is close to the truth
    assert abs(profile.baseline.purchase_intent - 40_000 / 6) < 400
    assert any("estimated from" in n for n in profile.notes)
    report = content_quality(data)
    assert report.part("density").value is not None
