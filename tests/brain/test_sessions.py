"""Stream sessions of a room: /live commands, activity gaps, both, picking one, reading one."""

import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.model import Role, User
from brain.insights.sessions import StreamSession, find_room_sessions, load_session, parse_live_command, pick_session
from brain.store.event_store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scripted_room import HOST, KEY, T0  # noqa: E402
from scripted_room import ScriptedRoom as Script  # noqa: E402

MOD = User("replay", "mo", "mo", Role.MOD)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ts(minutes: float) -> float:
    return at(minutes).timestamp()


@pytest.fixture
def room(database_url):
    s = Store(database_url, flush_interval=0.2)
    yield Script(s, unit=60)  # times in minutes
    s.close()


def test_parse_live_command():
    assert parse_live_command("/live start") == "start"
    assert parse_live_command("/live END tonight") == "end"
    assert parse_live_command("/live") is None and parse_live_command("/live pause") is None
    assert parse_live_command(None) is None


def test_explicit_sessions_pair_start_and_end_by_host_or_mod(room):
    room.live(0, "start")
    room.chat(5)
    room.live(1, "start")            # a retry while open: ignored
    room.live(60, "end")
    room.live(70, "end")             # nothing open: ignored
    room.live(100, "start", User("replay", "v", "v"))  # a viewer cannot start a stream
    room.live(120, "start", MOD)
    room.chat(130)
    room.live(150, "end", MOD)
    sessions = find_room_sessions(room.done(), KEY)
    assert [(s.id, s.start, s.end, s.source, s.open) for s in sessions] == [
        (1, ts(0), ts(60), "command", False), (2, ts(120), ts(150), "command", False)]
    assert sessions[0].minutes == 60.0
    assert "#1 2026-01-05 20:00–21:00 UTC, 60 min (/live)" == sessions[0].describe()


def test_open_session_ends_at_the_last_event_and_keeps_it(room):
    room.live(0, "start")
    room.say(3, "welcome to the stream")
    room.chat(42, "last words")
    store = room.done()
    (s,) = find_room_sessions(store, KEY)
    assert s.open and s.start == ts(0) and s.end == ts(42) and s.source == "command"
    data = load_session(store, KEY, s)
    assert [m.text for m in data.viewers] == ["last words"]  # the closed span includes the last event
    assert "not ended" in s.describe()


def test_gap_sessions_from_chat_activity(room):
    room.chatter(0, 30)
    room.chatter(120, 170)           # 89 minutes of silence in between
    room.chat(300)                   # a stray message is not a stream (shorter than min_minutes)
    sessions = find_room_sessions(room.done(), KEY, gap_minutes=30)
    assert [(s.start, s.end, s.source) for s in sessions] == [(ts(0), ts(31), "gaps"), (ts(120), ts(171), "gaps")]
    assert [s.id for s in sessions] == [1, 2]


def test_explicit_sessions_win_over_gaps_in_the_span_they_cover(room):
    room.chatter(0, 40)              # first stream: no /live, found from the gaps
    room.chatter(115, 200)           # pre-show chat from 115, /live start at 120, chat goes on until 200
    room.live(120, "start")
    room.live(180, "end")
    sessions = find_room_sessions(room.done(), KEY, gap_minutes=30, min_minutes=10)
    assert [(s.id, s.source, s.start, s.end) for s in sessions] == [
        (1, "gaps", ts(0), ts(41)),
        (2, "command", ts(120), ts(180)),
        (3, "gaps", ts(180), ts(201)),   # 21 minutes of chat after /live end stay a session of their own
    ]  # the 5 pre-show minutes before /live start are too short to be one


def test_no_events_no_sessions(room):
    assert find_room_sessions(room.done(), KEY) == []


def test_pick_session_by_spec_with_clear_errors():
    sessions = [StreamSession(i, ts(i * 100), ts(i * 100 + 60), "gaps") for i in (1, 2, 3)]
    assert pick_session(sessions).id == 3
    assert pick_session(sessions, "latest").id == 3
    assert pick_session(sessions, "2").id == 2 and pick_session(sessions, 1).id == 1
    assert pick_session(sessions, "#3").id == 3
    with pytest.raises(ValueError, match=r"no session 7: this room has 3 sessions \(1–3\)"):
        pick_session(sessions, "7")
    with pytest.raises(ValueError, match=r"session must be a number \(1–3\) or 'latest', not 'first'"):
        pick_session(sessions, "first")
    with pytest.raises(ValueError, match="no stream sessions yet"):
        pick_session([], None)
    with pytest.raises(ValueError, match=r"no session 2: this room has 1 session \(1\)"):
        pick_session(sessions[:1], "2")


def test_load_session_splits_host_speech_viewers_and_reads_questions_and_pins(room):
    room.live(0, "start")
    room.say(1, "today: the blender")
    room.chat(2, "link is pinned", user="lin", role=Role.HOST)   # the host's own chat is speech
    room.chat(3, "welcome all", user="mo", role=Role.MOD)          # staff, not audience
    room.chat(4, "how much?", user="ann")
    room.chat(70, "after the end", user="ann")
    room.live(60, "end")
    store = room.store
    for i, (minute, status) in enumerate([(4, "answered"), (5, "abstained"), (80, "answered")]):
        store.record_question({"room": KEY, "event_id": f"q{i}", "user_key": "replay:ann", "user_name": "ann",
                               "text": f"q{i}", "lang": "en", "status": status, "ts": ts(minute),
                               "answered_at": ts(minute)})
    store.record_pin(room=KEY, product_id="P1", product_name="Pro", user_key=HOST.key, event_id=None, ts=ts(10))
    store.record_pin(room=KEY, product_id="P2", product_name="Lid", user_key=HOST.key, event_id=None, ts=ts(90))
    (s,) = find_room_sessions(room.done(), KEY)
    data = load_session(store, KEY, s)
    assert [(x.kind, x.text) for x in data.host] == [("transcript", "today: the blender"), ("chat", "link is pinned")]
    assert [x.text for x in data.viewers] == ["how much?"] and data.viewer_count == 1
    assert [q["text"] for q in data.questions] == ["q0", "q1"]   # oldest first, inside the span only
    assert [p["product_id"] for p in data.pins] == ["P1"]
