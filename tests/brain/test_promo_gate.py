"""The promo gate on a controllable clock: quiet holds, floods delay (boundedly), the cap queues fairly."""

from __future__ import annotations

import heapq
import time
import tracemalloc

import pytest

from brain.traffic.promo_gate import GateDecision, PromoGate


def chat(gate: PromoGate, start: float, seconds: float, per_minute: float) -> float:
    """Evenly spaced chat lines from ``start`` for ``seconds``; returns the end time."""
    if per_minute > 0:
        step = 60.0 / per_minute
        t = start
        while t < start + seconds:
            gate.observe(t)
            t += step
    return start + seconds


def test_a_quiet_room_holds_the_promo_until_enough_lines_pass():
    gate = PromoGate()
    gate.observe(100.0)
    gate.observe(110.0)
    d = gate.decide(1000.0, last_post_ts=50.0, min_lines=5, max_per_hour=None)
    assert d == GateDecision(False, "held: only 2 of 5 chat lines since it last posted", None, "quiet")
    for t in (1001.0, 1002.0, 1003.0):
        gate.observe(t)
    assert gate.decide(1004.0, last_post_ts=50.0, min_lines=5, max_per_hour=None).post


def test_only_lines_after_the_last_post_count():
    gate = PromoGate()
    chat(gate, 0.0, 60.0, per_minute=30)  # 30 lines before the post
    gate.observe(70.0)
    d = gate.decide(80.0, last_post_ts=65.0, min_lines=5, max_per_hour=None)
    assert not d.post and d.rule == "quiet" and "only 1 of 5" in d.reason
    assert gate.decide(80.0, last_post_ts=None, min_lines=5, max_per_hour=None).post  # never posted: all lines
    assert gate.decide(80.0, last_post_ts=65.0, min_lines=0, max_per_hour=None).post  # no quiet rule


def test_a_normal_room_posts_with_a_reason():
    gate = PromoGate()
    end = chat(gate, 0.0, 300.0, per_minute=20)
    d = gate.decide(end, last_post_ts=0.0, min_lines=5, max_per_hour=4)
    assert d.post and d.rule == "ok" and d.retry_after is None
    assert d.reason.startswith("posted: ") and "lines/min" in d.reason


def test_a_flood_delays_the_promo_until_it_subsides():
    gate = PromoGate(flood_per_minute=120, flood_retry=30, max_flood_delay=600)
    end = chat(gate, 0.0, 120.0, per_minute=300)
    d = gate.decide(end, last_post_ts=0.0, min_lines=5, max_per_hour=None, due_ts=end)
    assert not d.post and d.rule == "flood" and d.retry_after == 30
    assert "chat is flooding (" in d.reason and gate.rate_per_minute(end) > 290
    # the flood ends; a minute later the rate is back to normal and the promo posts
    calm = chat(gate, end, 90.0, per_minute=10)
    d = gate.decide(calm, last_post_ts=0.0, min_lines=5, max_per_hour=None, due_ts=end)
    assert d.post and d.rule == "ok"


def test_a_flood_never_holds_a_promo_past_the_max_delay():
    gate = PromoGate(flood_per_minute=120, flood_retry=30, max_flood_delay=600)
    due = 60.0
    t = due
    decisions = []
    chat(gate, 0.0, 2000.0, per_minute=600)  # a flood that never ends
    while True:
        d = gate.decide(t, last_post_ts=0.0, min_lines=5, max_per_hour=None, due_ts=due)
        decisions.append(d)
        if d.post:
            break
        assert d.retry_after is not None and d.retry_after > 0
        t += d.retry_after
        assert t - due <= 600 + 1e-9
    assert t - due == pytest.approx(600)
    assert decisions[-1].rule == "flood_timeout" and "not holding it longer" in decisions[-1].reason
    assert len(decisions) == 21  # 20 retries of 30 s, then the post


def test_max_per_hour_is_a_rolling_window_across_the_rooms_promos():
    gate = PromoGate()
    chat(gate, 0.0, 7200.0, per_minute=20)
    for i, t in enumerate((100.0, 200.0, 300.0)):
        d = gate.decide(t, last_post_ts=0.0, min_lines=1, max_per_hour=3, key=f"p{i}")
        assert d.post
        gate.record_post(t, key=f"p{i}")
    d = gate.decide(400.0, last_post_ts=0.0, min_lines=1, max_per_hour=3, key="p3")
    assert not d.post and d.rule == "cap" and d.retry_after == pytest.approx(100.0 + 3600 - 400)
    assert "3 promos posted in the last hour (limit 3)" in d.reason
    assert gate.posts_last_hour(3699.0) == 3 and gate.posts_last_hour(3700.0) == 2
    assert gate.decide(3700.0, last_post_ts=0.0, min_lines=1, max_per_hour=3, key="p3").post


def test_many_promos_never_exceed_the_cap_and_each_gets_a_turn():
    """20 promos every 10 minutes against a cap of 6 an hour: the cap holds and nobody starves."""
    gate = PromoGate()
    promos = {f"promo{i}": {"last": None, "due": 0.0, "posts": 0} for i in range(20)}
    # retries land on one heap of (time, name); ties resolve by name, the same every run
    pending = [(0.0, name) for name in promos]
    posts: list[float] = []
    chat_until = chat(gate, -600.0, 600.0, per_minute=30)
    heapq.heapify(pending)
    while pending:
        t, name = heapq.heappop(pending)
        if t > 6 * 3600:
            break
        if t > chat_until:
            chat_until = chat(gate, chat_until, t - chat_until + 60.0, per_minute=30)
        p = promos[name]
        d = gate.decide(t, last_post_ts=p["last"], min_lines=3, max_per_hour=6, due_ts=p["due"], key=name)
        if d.post:
            gate.record_post(t, key=name)
            posts.append(t)
            p["last"], p["posts"] = t, p["posts"] + 1
            p["due"] = t + 600.0
            heapq.heappush(pending, (p["due"], name))
        else:
            assert d.retry_after is not None
            heapq.heappush(pending, (t + d.retry_after, name))
    for i, t in enumerate(posts):  # never more than 6 in any rolling hour
        assert sum(1 for u in posts[i:] if u < t + 3600) <= 6
    counts = sorted(p["posts"] for p in promos.values())
    assert sum(counts) >= 6 * 6 - 1
    assert counts[0] >= 1 and counts[-1] - counts[0] <= 1  # round robin, not the same winner every time


def test_the_longest_waiting_promo_gets_the_freed_slot():
    gate = PromoGate(queue_retry=30)
    chat(gate, 0.0, 7200.0, per_minute=20)
    gate.record_post(0.0, key="x")
    assert gate.decide(10.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=10.0, key="old").rule == "cap"
    assert gate.decide(20.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=20.0, key="new").rule == "cap"
    # the slot frees at 3600; "new" asks first but "old" has waited longer
    d = gate.decide(3600.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=20.0, key="new")
    assert not d.post and d.rule == "queue" and d.retry_after == 30
    assert gate.decide(3601.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=10.0, key="old").post


def test_a_queued_promo_that_stops_asking_does_not_block_the_queue():
    gate = PromoGate(queue_retry=30, waiter_grace=120)
    chat(gate, 0.0, 7200.0, per_minute=20)
    gate.record_post(0.0)
    gate.decide(10.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=10.0, key="deleted")
    gate.decide(20.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=20.0, key="alive")
    # "deleted" was told to retry at 3600 and never came back; after the grace it loses its place
    assert gate.decide(3650.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=20.0,
                       key="alive").rule == "queue"
    assert gate.decide(3730.0, last_post_ts=None, min_lines=0, max_per_hour=1, due_ts=20.0, key="alive").post
    gate.forget("alive")  # and forget drops a place at once
    assert gate.footprint[2] <= 2


def test_decisions_are_deterministic():
    def run() -> list[GateDecision]:
        gate = PromoGate()
        out = []
        chat(gate, 0.0, 600.0, per_minute=200)
        for k in range(30):
            t = 600.0 + 20 * k
            d = gate.decide(t, last_post_ts=0.0, min_lines=5, max_per_hour=2, due_ts=600.0, key=k % 3)
            if d.post:
                gate.record_post(t, key=k % 3)
            out.append(d)
        return out
    assert run() == run()


def test_bad_arguments_are_refused():
    gate = PromoGate()
    with pytest.raises(ValueError, match="max_per_hour"):
        gate.decide(0.0, last_post_ts=None, min_lines=0, max_per_hour=0)
    with pytest.raises(ValueError, match="min_lines"):
        gate.decide(0.0, last_post_ts=None, min_lines=-1, max_per_hour=None)
    with pytest.raises(ValueError):
        PromoGate(flood_per_minute=0)


def test_late_lines_and_rate_counting():
    gate = PromoGate(flood_window=60)
    chat(gate, 0.0, 60.0, per_minute=60)
    assert gate.rate_per_minute(60.0) == pytest.approx(59, abs=1)
    gate.observe(10.0)  # arrives late: counted in the newest second, never lost
    assert gate.line_count == 61 and gate.lines_since(-1.0) == 61
    assert gate.rate_per_minute(1000.0) == 0


def _busy_host(gate: PromoGate, minutes: int) -> int:
    """A busy room (100 lines/min) whose 1,000 promos all ask every minute; returns the decisions made."""
    t, decisions = 0.0, 0
    for _ in range(minutes):
        chat(gate, t, 60.0, per_minute=100)
        t += 60.0
        for k in range(1000):
            d = gate.decide(t, last_post_ts=t - 600.0, min_lines=5, max_per_hour=12, due_ts=t - 30.0, key=k)
            decisions += 1
            if d.post:
                gate.record_post(t, key=k)
    return decisions


def test_a_thousand_promos_of_one_host_stay_cheap_in_time():
    gate = PromoGate()
    started = time.perf_counter()
    decisions = _busy_host(gate, 30)
    elapsed = time.perf_counter() - started
    assert decisions == 30_000
    assert elapsed / decisions < 2e-4  # a few microseconds each in practice; generous for slow CI


def test_a_thousand_promos_of_one_host_stay_small_in_memory():
    gate = PromoGate(retention=600.0)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        _busy_host(gate, 15)  # past the retention, so old buckets expire
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    buckets, posts, queued = gate.footprint
    assert buckets <= 600 + 1100  # per-second buckets over the retention, not one entry per line
    assert posts <= 12 + 300 and queued <= 2 * 1000 + 16
    assert grown < 4_000_000


def test_old_activity_expires_and_counts_stay_exact_within_the_retention():
    gate = PromoGate(retention=600.0)
    for s in range(5000):
        gate.observe(float(s) + 0.5)
    assert gate.footprint[0] <= 600 + 1100  # expired and compacted, not 5,000 buckets
    assert gate.lines_since(4500.0, until=4999.0) == 499  # seconds 4501..4999
    assert gate.lines_since(0.0) >= 600  # beyond the retention: a lower bound
    assert gate.line_count == 5000
    # a promo last posted long ago in a room that is active now still posts
    assert gate.decide(5000.0, last_post_ts=0.0, min_lines=50, max_per_hour=None).post
