"""Prometheus metrics: the runtime's own counters read at scrape time, plus the few O(1) observations."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_config  # noqa: E402

from bots.features.answering import AnsweringStats  # noqa: E402
from bots.features.moderation import ModerationStats  # noqa: E402
from bots.runtime.metrics import METRIC_NAMES, Metrics  # noqa: E402
from bots.runtime.router import RouterStats  # noqa: E402
from brain.moderation.review import Asker, Decision, ReviewQueue  # noqa: E402
from brain.store.schema import migrate  # noqa: E402


class Part:
    def __init__(self, stats, queue=None) -> None:
        self.stats = stats
        self.queue = queue


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def queue(tmp_path: Path) -> ReviewQueue:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'q.db'}")
    migrate(engine)
    return ReviewQueue(engine)


def _queue_one(queue: ReviewQueue, room: str) -> int:
    platform, room_id = room.split(":", 1)
    return queue.add(room=room, platform=platform, room_id=room_id, room_kind="group", room_name=room_id,
                     source=platform, event_id=f"e-{room}-{queue.depth()}", asker=Asker(platform, "1", "ann"),
                     others=[], question="how much?", lang="en", draft="199 CNY", sources=[], confidence=0.9,
                     model="extractive", reasons=["money"], timeout=60).id


def test_a_scrape_reads_the_runtime_counters_and_the_observations(queue):
    router, answering, moderation = RouterStats(), AnsweringStats(), ModerationStats()
    metrics = Metrics(router=Part(router), answering=Part(answering), moderation=Part(moderation, queue))
    for room in ("discord:1", "discord:1", "telegram:2"):
        metrics.observe_in(room)
    metrics.observe_out("discord:1")
    metrics.observe_answer(0.03, "answered")
    metrics.observe_answer(2.0, "answered")
    metrics.observe_answer(0.2, "abstained")
    router.events, router.replies, router.send_errors = 7, 3, 1
    answering.questions, answering.answers, answering.abstained, answering.llm_fallbacks = 5, 3, 2, 1
    moderation.queued, moderation.approved, moderation.rejected = 4, 2, 1
    moderation.feedback_up, moderation.feedback_down = 6, 2
    first = _queue_one(queue, "discord:1")
    _queue_one(queue, "discord:1")
    _queue_one(queue, "telegram:2")
    queue.decide(first, Decision("approved", "discord:9", "mo"))

    got = samples(metrics)
    assert got[("liveroom_messages_in_total", (("room", "discord:1"),))] == 2
    assert got[("liveroom_messages_in_total", (("room", "telegram:2"),))] == 1
    assert got[("liveroom_messages_out_total", (("room", "discord:1"),))] == 1
    assert got[("liveroom_answer_latency_seconds_count", (("status", "answered"),))] == 2
    assert got[("liveroom_answer_latency_seconds_sum", (("status", "answered"),))] == pytest.approx(2.03)
    assert got[("liveroom_answer_latency_seconds_bucket", (("le", "0.05"), ("status", "answered")))] == 1
    assert got[("liveroom_answer_latency_seconds_bucket", (("le", "+Inf"), ("status", "answered")))] == 2
    assert got[("liveroom_review_queue_depth", (("room", "discord:1"),))] == 1
    assert got[("liveroom_review_queue_depth", (("room", "telegram:2"),))] == 1
    assert got[("liveroom_abstentions_total", ())] == 2
    assert got[("liveroom_llm_fallbacks_total", ())] == 1
    assert got[("liveroom_llm_errors_total", ())] == 0
    assert got[("liveroom_reviews_total", (("decision", "approved"),))] == 2
    assert got[("liveroom_reviews_total", (("decision", "queued"),))] == 4
    assert got[("liveroom_feedback_total", (("value", "down"),))] == 2
    assert got[("liveroom_events_total", ())] == 7 and got[("liveroom_send_errors_total", ())] == 1

    answering.abstained = 3  # read live at the next scrape, never cached
    assert samples(metrics)[("liveroom_abstentions_total", ())] == 3


def test_every_family_is_present_before_anything_is_wired():
    body, _ = Metrics().render()
    text = body.decode()
    for name in METRIC_NAMES:
        assert re.search(rf"^# TYPE {name}(_total)? (counter|gauge|histogram)$", text, re.M), name
    assert "liveroom_abstentions_total 0.0" in text


def test_many_metrics_objects_live_side_by_side_and_late_wiring_works():
    a, b = Metrics(), Metrics()  # each has its own registry: no "duplicated timeseries" error
    a.observe_in("x:1")
    stats = AnsweringStats(abstained=4)
    b.track(answering=Part(stats))
    assert ("liveroom_messages_in_total", (("room", "x:1"),)) in samples(a)
    assert ("liveroom_messages_in_total", (("room", "x:1"),)) not in samples(b)
    assert samples(b)[("liveroom_abstentions_total", ())] == 4


def test_a_failing_queue_does_not_fail_the_scrape(caplog):
    class Broken:
        def depth_by_room(self):
            raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))

    metrics = Metrics(moderation=Part(ModerationStats(approved=1), Broken()))
    got = samples(metrics)
    assert got[("liveroom_reviews_total", (("decision", "approved"),))] == 1
    assert "could not read the review queue depth" in caplog.text


async def test_a_real_runtimes_counters(runtime):
    metrics = Metrics(router=runtime.router, answering=runtime.answering, moderation=runtime.moderation)
    from conftest import ConsoleRoom

    room = ConsoleRoom(runtime)
    await room.say("/help")
    got = samples(metrics)
    assert got[("liveroom_events_total", ())] == 1 and got[("liveroom_replies_total", ())] == 1
    assert make_config().moderation.enabled == (runtime.moderation is not None)
