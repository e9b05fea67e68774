"""Counts in what hosts, mods and viewers read: one reads singular ("1 person", "1 tie", "1 stream").

A new host's first rooms are small, so "Audience: 1 people" is the first thing many of
them would see. The texts are built from real components on tiny rooms: an audience
graph of one or two people, a day of chat with one stream, one promo gate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from bots.features.audience import render_audience, render_profile, render_reach
from brain.audience.communities import analyse
from brain.audience.export import plot_graph
from brain.audience.graph import AudienceGraph
from brain.audience.reach import best_seeds
from brain.text.plural import counted, plural
from brain.traffic.promo_gate import PromoGate
from brain.traffic.series import ActivitySeries
from brain.traffic.slots import suggest_slots


def test_one_is_singular_and_everything_else_plural():
    assert [counted(n, "person", "people") for n in (0, 1, 2)] == ["0 people", "1 person", "2 people"]
    assert counted(1, "message") == "1 message" and counted(12400, "tie", grouped=True) == "12,400 ties"
    assert counted(1.4, "day") == "1 day" and counted(0.6, "day") == "1 day" and counted(2.2, "day") == "2 days"
    assert plural(1, "stands", "stand") == "stands" and plural(3, "stands", "stand") == "stand"


def two_people() -> AudienceGraph:
    """Ann asks, Bo answers her: two people, one tie, one helper with one answer."""
    g = AudienceGraph("console:test", co_window_s=0)
    g.observe_message(ts=100.0, user_key="console:ann", user_name="ann", text="how much is the blue mug?",
                      message_id="m1")
    g.observe_message(ts=160.0, user_key="console:bo", user_name="bo", text="it was 12 dollars yesterday",
                      message_id="m2", reply_to="m1")
    return g


def test_audience_who_and_reach_in_a_tiny_room():
    g = two_people()
    report = analyse(g.snapshot(now=200.0), session_start=0.0)
    audience = render_audience(report, g.stats(now=200.0))
    assert audience.startswith("Audience: 2 people, 1 tie; "), audience
    assert "2 people: " in audience
    assert "\nHelpers: bo (1 answer to 1 person)\n" in audience
    who = render_profile(g.profile("console:bo"), report)
    assert "1 message, 0 questions, 1 answer to others; 1 session over 0 days." in who, who

    alone = AudienceGraph("console:test", co_window_s=0)
    alone.observe_message(ts=1.0, user_key="console:solo", user_name="solo", text="hello?", message_id="m1")
    assert render_audience(analyse(alone.snapshot(now=2.0)), alone.stats(now=2.0)).startswith(
        "Audience: 1 person, 0 ties; ")
    graph = alone.snapshot(now=2.0)
    reach = render_reach(graph, best_seeds(graph, 2, runs=20), 2)
    assert "reach about 1 person (1–1) of 1." in reach, reach
    assert "(Only 1 person is connected enough to be worth seeding.)" in reach


def test_the_audience_page_counts_in_the_singular(tmp_path):
    page = plot_graph(analyse(two_people().snapshot(now=200.0)), tmp_path / "audience.html").read_text()
    assert "<p>2 people, 1 tie, 1 community, " in page


def test_stream_time_notes_count_one_day_one_stream_and_one_start_time():
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 1, 9, tzinfo=zone)  # a Friday: 30 hours of history, one stream 20:00-22:00
    n = 30 * 60
    chatters = np.zeros(n, dtype=np.int64)
    chatters[20 * 60:22 * 60] = 10
    zeros = np.zeros(n, dtype=np.int64)
    history = ActivitySeries(room="console:test", step=60, start=start.timestamp(), messages=chatters * 2,
                             chatters=chatters, questions=zeros, joins=zeros, viewers=np.full(n, np.nan))
    slots = suggest_slots(history, now=start + timedelta(hours=30), tz="Europe/Berlin", top=3)
    assert slots.note == "only 1 start time stands out; low confidence: only 1 day and 1 stream of history"
    [slot] = slots
    assert slot.reason.startswith("Fridays 20:00 averaged 10 chatters/min over 1 stream; "), slot.reason

def test_a_promo_gate_reason_counts_one_promo():
    gate = PromoGate()
    for ts in range(10):
        gate.observe(float(ts))
    assert gate.decide(10.0, last_post_ts=None, min_lines=1, max_per_hour=1).post
    gate.record_post(10.0)
    gate.observe(20.0)
    held = gate.decide(30.0, last_post_ts=10.0, min_lines=1, max_per_hour=1)
    assert not held.post and held.reason.startswith("held: 1 promo posted in the last hour (limit 1)"), held
