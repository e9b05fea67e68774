"""The approval queue's rules and its durable, race-free storage (real SQLite)."""

import threading

import pytest

from brain.moderation.review import Asker, Decision, FlagList, ReviewError, ReviewQueue, review_reasons, touches_money
from brain.store.event_store import Store


@pytest.fixture
def store(database_url):
    s = Store(database_url)
    yield s
    s.close()


def add(queue, question="how much is the course?", draft="349 USD", timeout=60.0, **kw):
    fields = dict(room="console:test", platform="console", room_id="test", room_kind="console", room_name="",
                  source="console", event_id="e1", asker=Asker("console", "tom", "tom", "e1"), others=(),
                  question=question, lang="en", draft=draft, sources=[{"chunk_id": "c1", "source": "course.md"}],
                  confidence=0.8, model="extractive", reasons=("money",), timeout=timeout)
    fields.update(kw)
    return queue.add(**fields)


@pytest.mark.parametrize("text", ["how much is the course?", "Is there a refund?", "any coupon codes?",
                                  "can I pay with PayPal", "这个多少钱", "可以退款吗", "有优惠券吗", "It's $49 today",
                                  "支持花呗分期吗"])
def test_money_talk_is_recognised_in_both_languages(text):
    assert touches_money(text)


@pytest.mark.parametrize("text", ["can I use frozen fruit?", "what time is the next stream?", "这个能用冷冻水果吗",
                                  "how do I clean the lid", "I'm paying attention"])
def test_other_questions_are_not_money(text):
    assert not touches_money(text)


def test_the_mode_decides_what_waits():
    common = dict(question="how much is it?", answer="349 USD", confidence=0.9, min_confidence=0.65, flagged=False)
    assert review_reasons("auto", **common) == ()
    assert review_reasons("review-risky", **common) == ("money",)
    assert review_reasons("review-all", **common) == ("review-all", "money")
    harmless = {**common, "question": "can I use frozen fruit?", "answer": "Yes, frozen fruit works."}
    assert review_reasons("review-risky", **harmless) == ()
    assert review_reasons("review-risky", **{**harmless, "confidence": 0.6}) == ("low-confidence",)
    assert review_reasons("review-risky", **{**harmless, "flagged": True}) == ("flagged-viewer",)
    assert review_reasons("review-risky", **{**harmless, "disputed": True}) == ("disputed",)
    assert review_reasons("review-all", **{**common, "answer": None}) == ()  # an abstention never waits


def test_a_decision_happens_once_and_is_logged(store):
    queue = ReviewQueue(store.engine)
    item = add(queue)
    assert item.pending and queue.depth() == 1 and queue.depth_by_room() == {"console:test": 1}
    won = queue.decide(item.id, Decision("approved", "console:mo", "mo"))
    assert won is not None and won.status == "approved" and won.final == "349 USD" and won.decided_by_name == "mo"
    assert queue.decide(item.id, Decision("rejected", "console:al", "al")) is None
    assert queue.depth() == 0 and [r.id for r in queue.recent()] == [item.id]
    with store.engine.connect() as conn:
        actions = conn.exec_driver_sql("select action, actor_name, target_user from moderation_actions").all()
    assert actions == [("approve", "mo", "console:tom")]


def test_bad_decisions_say_why(store):
    queue = ReviewQueue(store.engine)
    item = add(queue)
    with pytest.raises(ReviewError, match="no review #42"):
        queue.decide(42, Decision("approved", "k", "n"))
    with pytest.raises(ReviewError, match="needs the answer text"):
        queue.decide(item.id, Decision("edited", "k", "n", text="   "))
    with pytest.raises(ReviewError, match="in this room"):
        queue.decide(item.id, Decision("approved", "k", "n"), room="discord:other")
    assert queue.get(item.id).pending


def test_concurrent_decisions_from_threads_have_one_winner(store):
    queue = ReviewQueue(store.engine)
    item = add(queue)
    winners, barrier = [], threading.Barrier(8)

    def decide(i):
        barrier.wait()
        if queue.decide(item.id, Decision("edited", f"k{i}", f"m{i}", text=f"answer {i}")) is not None:
            winners.append(i)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert queue.get(item.id).final == f"answer {winners[0]}"


def test_askers_join_while_pending_only_and_timeouts_come_due(store):
    now = [1000.0]
    queue = ReviewQueue(store.engine, clock=lambda: now[0])
    item = add(queue, timeout=30)
    ana = Asker("console", "ana", "ana", "e2")
    assert queue.add_asker(item.id, ana).askers == (ana,)
    assert queue.add_asker(item.id, ana).askers == (ana,)  # once
    assert queue.add_asker(item.id, Asker("console", "tom", "tom", "e3")).askers == (ana,)  # the lead is not an asker
    assert queue.due() == []
    now[0] += 31
    assert [r.id for r in queue.due()] == [item.id]
    queue.decide(item.id, Decision("expired", "liveroom", "timeout"))
    assert queue.add_asker(item.id, Asker("console", "z", "z")).askers == (ana,)
    assert queue.add_asker(999, ana) is None


def test_flags_persist_and_are_logged(store):
    flags = FlagList(store.engine)
    assert flags.flag("console:tom", "tom", actor_key="console:mo", actor_name="mo", reason="spam")
    assert not flags.flag("console:tom", "tom", actor_key="console:mo", actor_name="mo")
    assert "console:tom" in FlagList(store.engine)  # read back from the database
    assert flags.unflag("console:tom", actor_key="console:mo", actor_name="mo")
    assert not flags.unflag("console:tom", actor_key="console:mo", actor_name="mo")
    assert "console:tom" not in FlagList(store.engine)
