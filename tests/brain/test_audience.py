"""The live audience graph: edge kinds, mentions, decay, identities, sessions, rebuild from the store."""

import threading
from datetime import datetime, timezone

import networkx as nx
import pytest

from adapters.model import MemberEvent, MessageEvent, Reply, Room, TranscriptEvent, User
from brain.audience.graph import DEFAULT_WEIGHTS, AudienceGraph, interactions
from brain.store.event_store import Store

DAY = 86400.0


def say(g: AudienceGraph, ts: float, who: str, text: str, mid: str, **kw) -> None:
    name = kw.pop("name", who.split(":", 1)[1].title())
    g.observe_message(ts=ts, user_key=who, user_name=name, text=text, message_id=mid, **kw)


def weight(g: AudienceGraph, a: str, b: str, now: float | None = None) -> float:
    snap = g.snapshot(now)
    return snap[a][b]["weight"] if snap.has_edge(a, b) else 0.0


@pytest.fixture
def room() -> AudienceGraph:
    g = AudienceGraph("tg:room", co_window_s=0)  # no co-activity unless a test wants it
    g.observe_join(0.0, "tg:1", "Alice Smith")
    g.observe_join(0.0, "tg:2", "Alice")
    g.observe_join(0.0, "tg:3", "Bob")
    g.observe_join(0.0, "tg:4", "小明")
    return g


# ---- mentions ------------------------------------------------------------------------

def test_mentions_match_the_longest_name_including_spaces_case_insensitively(room):
    say(room, 1, "tg:3", "@alice smith thanks!", "m1")
    assert weight(room, "tg:3", "tg:1") == pytest.approx(DEFAULT_WEIGHTS["mention"])
    assert weight(room, "tg:3", "tg:2") == 0.0
    say(room, 2, "tg:3", "hey @ALICE, and you?", "m2")
    assert weight(room, "tg:3", "tg:2") == pytest.approx(0.7)


def test_mentions_need_a_word_boundary_except_in_chinese(room):
    say(room, 1, "tg:1", "@Bobby hi, @Alic hi", "m1")   # neither is a known name
    say(room, 2, "tg:1", "@小明你好", "m2")            # CJK names end anywhere
    snap = room.snapshot()
    assert set(snap["tg:1"]) == {"tg:4"}


def test_platform_mentions_may_be_ids_keys_or_names(room):
    say(room, 1, "tg:1", "thanks all", "m1", mentions=("3", "tg:2", "@小明", "nobody"))
    assert set(room.snapshot()["tg:1"]) == {"tg:2", "tg:3", "tg:4"}


def test_unknown_names_self_mentions_and_duplicates_are_ignored(room):
    say(room, 1, "tg:3", "@Bob @Carol @bob", "m1")
    say(room, 2, "tg:3", "@Alice @Alice", "m2", mentions=("2",))
    snap = room.snapshot()
    assert set(snap["tg:3"]) == {"tg:2"}
    assert interactions(snap["tg:3"]["tg:2"], "tg:3", "tg:2")["mention"] == 1


def test_renamed_people_keep_their_key_and_their_old_name_resolves_for_a_while():
    g = AudienceGraph(co_window_s=0, old_name_ttl_s=100)
    g.observe_join(0, "tg:1", "Alice")
    g.observe_join(0, "tg:2", "Bob")
    g.observe_join(10, "tg:1", "Alicia")
    assert g.profile("tg:1").name == "Alicia" and g.profile("tg:1").former_names == ("Alice",)
    say(g, 20, "tg:2", "@alice hi", "m1")
    assert weight(g, "tg:2", "tg:1") == pytest.approx(0.7)
    assert g.find("alicia") == g.find("Alice") == "tg:1"
    say(g, 500, "tg:2", "@alice hi again", "m2")     # past the old name's 100 s
    snap = g.snapshot()
    assert interactions(snap["tg:2"]["tg:1"], "tg:2", "tg:1")["mention"] == 1
    assert g.find("alice") is None and g.find("@Alicia") == "tg:1"


def test_a_name_taken_by_someone_else_goes_back_to_whoever_used_it_last():
    g = AudienceGraph(co_window_s=0)
    g.observe_join(0, "tg:1", "Sam")
    g.observe_join(1, "dc:9", "Sam")
    assert g.find("sam") == "dc:9"
    say(g, 2, "tg:1", "hello", "m1", name="Sam")
    assert g.find("sam") == "tg:1"


# ---- replies, answers, co-activity ---------------------------------------------------

def test_a_reply_ties_the_replier_to_the_author_with_its_direction(room):
    say(room, 1, "tg:1", "nice stream", "m1")
    say(room, 2, "tg:3", "agreed", "m2", reply_to="m1")
    data = room.snapshot()["tg:3"]["tg:1"]
    assert data["weight"] == pytest.approx(DEFAULT_WEIGHTS["reply"])
    assert interactions(data, "tg:3", "tg:1")["reply"] == 1
    assert interactions(data, "tg:1", "tg:3")["reply"] == 0


def test_a_reply_to_a_question_is_an_answer_unless_it_is_a_question_too(room):
    say(room, 1, "tg:1", "how much is the blue one?", "q1")
    say(room, 2, "tg:3", "twenty dollars", "a1", reply_to="q1")
    say(room, 3, "tg:2", "which blue one?", "a2", reply_to="q1")
    snap = room.snapshot()
    assert snap["tg:3"]["tg:1"]["weight"] == pytest.approx(DEFAULT_WEIGHTS["answer"], rel=1e-4)  # 1 s of decay
    assert interactions(snap["tg:3"]["tg:1"], "tg:3", "tg:1") == {"answer": 1, "reply": 0, "mention": 0, "co": 0}
    assert interactions(snap["tg:2"]["tg:1"], "tg:2", "tg:1")["reply"] == 1
    assert snap.nodes["tg:3"]["answers"] == 1 and snap.nodes["tg:1"]["questions"] == 1
    assert snap.nodes["tg:2"]["answers"] == 0 and snap.nodes["tg:2"]["questions"] == 1


def test_is_question_can_be_given_and_answers_can_be_reported(room):
    say(room, 1, "tg:1", "price", "q1", is_question=True)
    say(room, 2, "tg:3", "it is 20", "a1", reply_to="q1", is_question=False)
    room.observe_answer("tg:2", "tg:3", 3)
    snap = room.snapshot()
    assert snap.nodes["tg:3"]["answers"] == 2
    assert interactions(snap["tg:3"]["tg:2"], "tg:3", "tg:2")["answer"] == 1


def test_the_person_replied_to_is_not_counted_again_as_a_mention(room):
    say(room, 1, "tg:1", "anyone here", "m1")
    say(room, 2, "tg:3", "@Alice Smith yes", "m2", reply_to="m1")
    counts = interactions(room.snapshot()["tg:3"]["tg:1"], "tg:3", "tg:1")
    assert counts["reply"] == 1 and counts["mention"] == 0


def test_replies_to_forgotten_or_unknown_messages_make_no_tie():
    g = AudienceGraph(co_window_s=0, message_memory=2)
    say(g, 1, "tg:1", "one", "m1")
    say(g, 2, "tg:2", "two", "m2")
    say(g, 3, "tg:2", "three", "m3")            # m1 leaves the LRU
    say(g, 4, "tg:3", "re one", "m4", reply_to="m1")
    say(g, 5, "tg:3", "re ?", "m5", reply_to="never-seen")
    assert g.snapshot().number_of_edges() == 0


def test_co_activity_is_a_weak_capped_fallback():
    g = AudienceGraph(co_window_s=60, co_limit=5)
    for i in range(8):
        say(g, float(i), f"tg:{i}", "hello", f"m{i}")
    snap = g.snapshot()
    assert set(snap["tg:7"]) == {"tg:6", "tg:5", "tg:4", "tg:3", "tg:2"}  # the last five, not tg:1 or tg:0
    assert snap["tg:7"]["tg:6"]["weight"] == pytest.approx(DEFAULT_WEIGHTS["co"])
    say(g, 100.0, "tg:9", "late", "m9")          # everyone else spoke more than 60 s ago
    assert "tg:9" not in g.snapshot()["tg:7"] and g.snapshot().degree("tg:9") == 0


def test_co_activity_counts_once_per_window_and_not_for_addressed_messages():
    g = AudienceGraph(co_window_s=60)
    say(g, 0, "tg:1", "hi", "m1")
    say(g, 1, "tg:2", "hi", "m2")
    say(g, 2, "tg:2", "so hyped", "m3")             # same pair, same minute: no second tie
    say(g, 3, "tg:3", "yes", "m4", reply_to="m1")   # addressed: a reply, no co-activity with tg:2
    snap = g.snapshot()
    assert interactions(snap["tg:2"]["tg:1"], "tg:2", "tg:1")["co"] == 1
    assert not snap.has_edge("tg:3", "tg:2")
    say(g, 70, "tg:2", "still here", "m5")
    say(g, 71, "tg:1", "me too", "m6")
    counts = g.snapshot()["tg:1"]["tg:2"]
    assert interactions(counts, "tg:1", "tg:2")["co"] + interactions(counts, "tg:2", "tg:1")["co"] == 2


# ---- what is ignored -----------------------------------------------------------------

def test_self_loops_and_bots_are_ignored():
    g = AudienceGraph(co_window_s=60, bot_keys=("tg:bot",), identities={"dc:bot": "tg:bot"})
    say(g, 0, "tg:1", "question?", "m1")
    say(g, 1, "tg:1", "answering myself", "m2", reply_to="m1")
    say(g, 2, "tg:1", "@Alice hi me", "m3", name="Alice")
    say(g, 3, "tg:bot", "I am the bot", "b1", name="liveroom")
    say(g, 4, "dc:bot", "bot alias talks to itself", "b2", reply_to="b1", name="liveroom")
    say(g, 5, "tg:2", "thanks bot", "m4", reply_to="b1")
    say(g, 6, "tg:2", "@liveroom hi", "m5")
    snap = g.snapshot()
    assert set(snap) == {"tg:1", "tg:2"}
    assert nx.number_of_selfloops(snap) == 0
    assert "tg:bot" not in g and g.profile("tg:bot") is None


# ---- decay ---------------------------------------------------------------------------

def test_weights_halve_every_half_life_and_updates_decay_lazily():
    g = AudienceGraph(co_window_s=0, half_life_s=DAY)
    say(g, 0, "tg:1", "hi", "m1")
    say(g, 0, "tg:2", "hi", "m2", reply_to="m1")
    assert weight(g, "tg:2", "tg:1", now=DAY) == pytest.approx(0.5)
    assert weight(g, "tg:2", "tg:1", now=3 * DAY) == pytest.approx(0.125)
    say(g, DAY, "tg:2", "again", "m3", reply_to="m1")        # 0.5 + 1
    assert weight(g, "tg:2", "tg:1", now=DAY) == pytest.approx(1.5)
    assert weight(g, "tg:2", "tg:1", now=2 * DAY) == pytest.approx(0.75)
    say(g, 0.0, "tg:2", "late event", "m4", reply_to="m1")   # out of order: decayed to the edge's time
    assert weight(g, "tg:2", "tg:1", now=DAY) == pytest.approx(2.0)
    assert g.snapshot(now=DAY)["tg:1"]["tg:2"]["ts"] == DAY


def test_prune_drops_ties_that_decayed_away():
    g = AudienceGraph(co_window_s=0, half_life_s=DAY)
    say(g, 0, "tg:1", "hi", "m1")
    say(g, 0, "tg:2", "hi", "m2", reply_to="m1")
    say(g, 20 * DAY, "tg:3", "hi", "m3", reply_to="m1")
    assert g.prune(now=20 * DAY, min_weight=0.01) == 1
    assert set(g.snapshot()["tg:1"]) == {"tg:3"}


# ---- identities, profiles, sessions --------------------------------------------------

def test_identities_merge_accounts_into_one_person():
    g = AudienceGraph(co_window_s=0, identities={"tg:42": "dc:7"})
    say(g, 0, "dc:7", "hi from discord", "d1", name="Alice")
    say(g, 5, "tg:42", "hi from telegram", "t1", name="alice_tg")
    say(g, 6, "tg:9", "welcome", "t2", reply_to="t1", name="Bob")
    say(g, 7, "tg:9", "@alice hi", "t3", name="Bob")
    snap = g.snapshot()
    assert set(snap) == {"dc:7", "tg:9"}
    assert snap.nodes["dc:7"]["messages"] == 2
    prof = g.profile("tg:42")
    assert prof.key == "dc:7" and prof.aliases == ("tg:42",) and prof.messages == 2
    assert g.find("tg:42") == g.find("@alice_tg") == g.find("ALICE") == "dc:7"
    assert "tg:42" in g
    with pytest.raises(ValueError, match="itself an alias"):
        AudienceGraph(identities={"a:1": "b:1", "b:1": "c:1"})


def test_profile_find_and_stats():
    g = AudienceGraph("tg:room", co_window_s=0, active_window_s=600, recent_messages=2)
    say(g, 0, "tg:1", "one", "m1", name="Alice Smith")
    say(g, 10, "tg:1", "two?", "m2", name="Alice Smith")
    say(g, 20, "tg:1", "three", "m3", name="Alice Smith")
    say(g, 1000, "tg:2", "thanks", "m4", reply_to="m3", name="Bob")
    prof = g.profile("tg:1")
    assert (prof.messages, prof.questions, prof.recent) == (3, 1, ("two?", "three"))
    assert prof.first_seen == 0 and prof.last_seen == 20 and prof.ties[0][:2] == ("tg:2", "Bob")
    assert g.find("@Alice Smith") == g.find("alice  smith") == g.find("tg:1") == "tg:1"
    assert g.find("nobody") is None and g.find("@") is None and g.profile("tg:404") is None
    stats = g.stats()
    assert stats["nodes"] == 2 and stats["edges"] == 1 and stats["messages"] == 4
    assert stats["active_now"] == 1 and stats["last_ts"] == 1000 and stats["room"] == "tg:room"


def test_sessions_start_after_a_gap():
    g = AudienceGraph(co_window_s=0, session_gap_s=1800)
    for ts in (0, 100, 2000, 2100, 9000):
        say(g, ts, "tg:1", "hi", f"m{ts}")
    say(g, 9001, "tg:2", "new here", "n1")
    assert g.profile("tg:1").sessions == 3 and g.profile("tg:2").sessions == 1
    snap = g.snapshot()
    assert snap.graph["session_start"] == 9000


def test_empty_graph_reads():
    g = AudienceGraph()
    assert g.snapshot().number_of_nodes() == 0
    assert g.stats()["nodes"] == 0 and g.stats()["last_ts"] is None
    assert g.find("x") is None and len(g) == 0


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="unknown interaction kind"):
        AudienceGraph(weights={"like": 1.0})
    with pytest.raises(ValueError):
        AudienceGraph(half_life_s=0)


# ---- snapshots and threads -----------------------------------------------------------

def test_a_snapshot_is_a_copy_and_can_be_taken_while_the_graph_updates():
    g = AudienceGraph(co_window_s=60)
    say(g, 0, "tg:1", "hi", "m0")
    snap = g.snapshot()
    say(g, 1, "tg:2", "hi", "m1", reply_to="m0")
    assert snap.number_of_edges() == 0

    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(30):
                g.snapshot()
                g.stats()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(3000):
        say(g, 2 + i, f"tg:{i % 50}", "chat", f"x{i}", reply_to=f"x{i - 1}" if i % 3 else None)
    thread.join()
    assert not errors and g.snapshot().number_of_nodes() == 50


# ---- rebuild from the store ----------------------------------------------------------

ROOM = Room("telegram", "-100")


def _events() -> list:
    def at(s: int) -> datetime:
        return datetime(2026, 11, 20, 12, 0, 0, tzinfo=timezone.utc).replace(minute=s // 60, second=s % 60)

    alice, bob, carol = User("telegram", "1", "Alice Smith"), User("telegram", "2", "Bob"), User("telegram", "3", "Carol")
    return [
        MemberEvent(event_id="j1", room=ROOM, author=carol, joined=True, ts=at(0)),
        MessageEvent(event_id="1", room=ROOM, author=alice, text="how much is the blender?", ts=at(1)),
        MessageEvent(event_id="2", room=ROOM, author=bob, text="it is 49 dollars", reply_to="1", ts=at(2)),
        MessageEvent(event_id="3", room=ROOM, author=carol, text="@Alice Smith it ships free too", ts=at(3)),
        TranscriptEvent(event_id="t1", room=ROOM, author=User("telegram", "host", "Host"), text="@Bob thanks", ts=at(4)),
        MessageEvent(event_id="4", room=ROOM, author=bob, text="love this stream", ts=at(5), mentions=("3",)),
        MessageEvent(event_id="5", room=ROOM, author=carol, text="same here", ts=at(30)),
        MessageEvent(event_id="6", room=ROOM, author=alice, text="thanks everyone", reply_to="2", ts=at(40)),
    ]


def test_rebuilding_from_the_store_equals_the_incremental_graph(database_url):
    store = Store(database_url, flush_interval=0.2)
    live = AudienceGraph(ROOM.key, bot_keys=("telegram:bot",))
    try:
        for event in _events():
            store.record(event)
            live.observe_event(event)
        store.record_reply(Reply(room=ROOM, text="the blender is 49", reply_to="1"), message_id="b1",
                           source="telegram", bot=User("telegram", "bot", "liveroom"))
        assert store.flush()
        rebuilt = AudienceGraph.from_events(store.iter_events(room=ROOM.key), ROOM.key, bot_keys=("telegram:bot",))
    finally:
        store.close()
    a, b = live.snapshot(), rebuilt.snapshot()
    assert dict(a.nodes(data=True)) == dict(b.nodes(data=True))
    assert {frozenset(e) for e in a.edges} == {frozenset(e) for e in b.edges}
    for u, v, data in a.edges(data=True):
        assert b[u][v] == pytest.approx(data)
    assert "telegram:host" not in a and "telegram:bot" not in a and a.number_of_edges() == 3
    assert interactions(a["telegram:2"]["telegram:1"], "telegram:2", "telegram:1")["answer"] == 1
    assert a.nodes["telegram:3"]["sessions"] == 1 and a.nodes["telegram:1"]["messages"] == 2
