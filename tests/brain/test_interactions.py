"""The interaction log: filters, keyset pages, feedback and reviews joined, exports, one viewer, unanswered topics.

Real SQLite stores; questions and feedback written through the store's own
writer, reviews, moderation actions and flags inserted as their owners write
them. The helpers at the top are shared with the retention and CLI tests.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.model import FeedbackEvent, MessageEvent, Room, User
from brain.insights import interaction_log as interactions
from brain.insights.interaction_log import (
    Cursor,
    LogFilter,
    count_matching,
    export,
    iter_rows,
    search,
    unanswered_topics,
    viewer_history,
)
from brain.store.event_store import Store
from brain.store.schema import flagged_viewers, moderation_actions, questions, reviews

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC


# ---- shared helpers ----------------------------------------------------------------------------------

def question(i: int, *, room: str = "console:demo", user: str = "alice", status: str = "answered",
             text: str | None = None, model: str | None = "extractive", ts: float | None = None,
             reply_id: str | None = None, merged_into: str | None = None) -> dict[str, Any]:
    """A questions row as answering records it (``event_id`` is ``e<i>``, ``ts`` T0 + i by default)."""
    answered = status == "answered"
    return {"room": room, "event_id": f"e{i}", "user_key": f"console:{user}", "user_name": user,
            "text": text or f"question number {i}?", "lang": "en", "status": status,
            "answer": f"answer {i}" if answered else ("I'll pass it to the host." if status == "abstained" else None),
            "sources": json.dumps([{"chunk_id": f"c{i}", "source": "faq.md", "title": "FAQ"}]) if answered else None,
            "confidence": 0.75 if answered else 0.2, "latency_ms": 12.5, "model": model, "merged_into": merged_into,
            "ts": T0 + i if ts is None else ts, "answered_at": (T0 + i if ts is None else ts) + 1, "reply_id": reply_id}


def feedback(store: Store, target: str, value: int, *, n: int, room: str = "console:demo") -> None:
    """A viewer's 👍/👎 on the bot message ``target``, recorded as the router records it."""
    platform, room_id = room.split(":", 1)
    store.record(FeedbackEvent(event_id=f"fb-{target}-{n}", room=Room(platform, room_id), target=target,
                               author=User(platform, f"voter{n}", f"voter {n}"), value=value,
                               ts=datetime.fromtimestamp(T0 + 500 + n, timezone.utc)))


def chat(store: Store, i: int, *, user: str = "alice", room: str = "console:demo", ts: float | None = None) -> None:
    platform, room_id = room.split(":", 1)
    store.record(MessageEvent(event_id=f"m{i}", room=Room(platform, room_id), author=User(platform, user, user),
                              text=f"hello {i}", ts=datetime.fromtimestamp(T0 + i if ts is None else ts, timezone.utc)))


def review_row(event_id: str, status: str, *, room: str = "console:demo", user: str = "alice",
               created_at: float = T0, decided_at: float | None = None) -> dict[str, Any]:
    """A reviews row as the approval queue writes it (decided ones carry who decided and when)."""
    decided = status != "pending"
    return {"room": room, "platform": room.split(":")[0], "room_id": room.split(":", 1)[1], "room_kind": "console",
            "room_name": room, "source": "console", "event_id": event_id, "user_key": f"console:{user}",
            "user_id": user, "user_name": user, "askers": "[]", "question": "q?", "lang": "en", "draft": "a",
            "sources": "[]", "confidence": 0.9, "model": "extractive", "reasons": "money", "status": status,
            "final": "a" if status in ("approved", "edited") else None,
            "decided_by": "console:mod" if decided else None, "decided_by_name": "mod" if decided else None,
            "note": None, "message_id": None, "created_at": created_at, "expires_at": created_at + 600,
            "decided_at": (decided_at if decided_at is not None else created_at + 60) if decided else None}


def action_row(action: str, target: str | None, *, ts: float = T0, actor: str = "console:mod",
               detail: str | None = None) -> dict[str, Any]:
    return {"room": "console:demo", "review_id": None, "action": action, "actor_key": actor, "actor_name": "mod",
            "target_user": target, "detail": detail, "ts": ts}


def flag_row(user: str, *, ts: float = T0) -> dict[str, Any]:
    return {"user_key": f"console:{user}", "user_name": user, "reason": "spam", "flagged_by": "console:mod", "ts": ts}


def insert(store: Store, table: sa.Table, *rows: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        conn.execute(table.insert(), list(rows))


def record(store: Store, *rows: dict[str, Any]) -> None:
    for row in rows:
        store.record_question(row)
    assert store.flush()


@pytest.fixture
def store(database_url: str):
    s = Store(database_url, flush_interval=0.2)
    yield s
    s.close()


def ids(page_or_rows: Any) -> list[str]:
    rows = page_or_rows.rows if hasattr(page_or_rows, "rows") else page_or_rows
    return [r.event_id for r in rows]


# ---- filters -----------------------------------------------------------------------------------------

@pytest.fixture
def mixed(store: Store) -> Store:
    record(store,
           question(1, user="alice", text="How much is the COURSE?"),
           question(2, user="bob", status="abstained", text="who won the league match yesterday?"),
           question(3, user="alice", status="merged", merged_into="e2", model=None),
           question(4, room="telegram:-100", user="carol", text="Is shipping free?", model="llm:gpt"),
           question(5, room="telegram:-100", user="alice", text="50% off today?", model="cache"),
           question(6, user="bob", text="price_list please", model="llm:gpt"))
    return store


@pytest.mark.parametrize("flt, expected", [
    (LogFilter(), ["e6", "e5", "e4", "e3", "e2", "e1"]),
    (LogFilter(room="telegram:-100"), ["e5", "e4"]),
    (LogFilter(viewer="console:alice"), ["e5", "e3", "e1"]),
    (LogFilter(status="abstained"), ["e2"]),
    (LogFilter(status="merged"), ["e3"]),
    (LogFilter(since=T0 + 2, until=T0 + 5), ["e4", "e3", "e2"]),  # since inclusive, until exclusive
    (LogFilter(text="course"), ["e1"]),                          # case-insensitive
    (LogFilter(text="50%"), ["e5"]),                             # % and _ are literal, not wildcards
    (LogFilter(text="e_l"), ["e6"]),
    (LogFilter(text="%"), ["e5"]),
    (LogFilter(model="llm:gpt"), ["e6", "e4"]),
    (LogFilter(room="console:demo", viewer="console:alice", status="answered"), ["e1"]),
    (LogFilter(room="nowhere:0"), []),
])
def test_each_filter_matches_exactly(mixed: Store, flt: LogFilter, expected: list[str]):
    page = search(mixed.engine, flt)
    assert ids(page) == expected and page.next is None
    assert count_matching(mixed.engine, flt) == (len(expected), False)


def test_a_row_carries_every_column(mixed: Store):
    [row] = search(mixed.engine, LogFilter(text="shipping")).rows
    assert (row.room, row.user_key, row.user_name, row.status, row.model, row.ts) == \
        ("telegram:-100", "console:carol", "carol", "answered", "llm:gpt", T0 + 4)
    assert row.sources == ({"chunk_id": "c4", "source": "faq.md", "title": "FAQ"},)
    assert (row.answer, row.confidence, row.latency_ms, row.feedback_up, row.review_status) == \
        ("answer 4", 0.75, 12.5, 0, None)
    assert row.cursor == Cursor(T0 + 4, row.id)
    assert json.loads(json.dumps(row.as_dict()))["sources"] == [{"chunk_id": "c4", "source": "faq.md", "title": "FAQ"}]


def test_unknown_status_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown status 'done'; use one of answered, abstained, merged, pending"):
        LogFilter(status="done")


# ---- feedback and reviews ----------------------------------------------------------------------------

def test_feedback_is_summed_per_answer_in_its_own_room(store: Store):
    record(store, question(1, reply_id="bot-1"), question(2, reply_id="bot-2"), question(3))
    for n, value in enumerate((+1, +1, -1)):
        feedback(store, "bot-1", value, n=n)
    feedback(store, "bot-2", -1, n=9)
    feedback(store, "bot-1", +1, n=7, room="telegram:-100")  # the same message id in another chat
    assert store.flush()
    rows = {r.event_id: (r.feedback_up, r.feedback_down) for r in search(store.engine, LogFilter()).rows}
    assert rows == {"e1": (2, 1), "e2": (0, 1), "e3": (0, 0)}


def test_review_status_is_joined_and_filterable(store: Store):
    record(store, *(question(i) for i in range(1, 7)), question(7, room="telegram:-100"))
    insert(store, reviews, review_row("e1", "expired"), review_row("e1", "approved"),  # the latest review counts
           review_row("e2", "pending"), review_row("e3", "rejected"), review_row("e5", "pending"),
           review_row("e7", "approved", room="console:demo"))  # same event id, other room: not e7's review
    by_event = {r.event_id: r.review_status for r in search(store.engine, LogFilter()).rows}
    assert by_event == {"e7": None, "e6": None, "e5": "pending", "e4": None, "e3": "rejected", "e2": "pending",
                        "e1": "approved"}
    assert ids(search(store.engine, LogFilter(status="pending"))) == ["e5", "e2"]
    assert ids(search(store.engine, LogFilter(status="rejected"))) == ["e3"]
    assert ids(search(store.engine, LogFilter(status="edited"))) == []
    assert ids(search(store.engine, LogFilter(status="expired"))) == []  # e1's latest review is the approval


@pytest.mark.parametrize("few", [True, False])
def test_both_review_plans_give_the_same_pages(store: Store, monkeypatch, few: bool):
    """Few reviews of a status: collect them; many: walk the log and probe. Same answer either way."""
    record(store, *(question(i) for i in range(40)))
    insert(store, reviews, *(review_row(f"e{i}", "approved") for i in range(0, 40, 3)))
    monkeypatch.setattr(interactions, "_few_reviews", lambda conn, status, limit: few)
    seen = list(iter_rows(store.engine, LogFilter(status="approved"), page=4))
    assert ids(seen) == [f"e{i}" for i in range(39, -1, -1) if i % 3 == 0]


# ---- pages ------------------------------------------------------------------------------------------

def walk(store: Store, flt: LogFilter, limit: int) -> list[list[str]]:
    pages, before = [], None
    while True:
        page = search(store.engine, flt, limit=limit, before=before)
        pages.append(ids(page))
        if page.next is None:
            return pages
        assert page.next == page.rows[-1].cursor
        before = page.next


def test_pages_have_no_duplicates_or_gaps_even_with_equal_times(store: Store):
    record(store, *(question(i, ts=T0 + i // 7, user=f"v{i % 3}") for i in range(100)))  # 7 questions a second
    pages = walk(store, LogFilter(), limit=10)
    assert [len(p) for p in pages] == [10] * 10  # 100 rows: the tenth page is full and says there is no more
    flat = [e for p in pages for e in p]
    with store.engine.connect() as conn:
        expected = [r.event_id for r in conn.execute(
            sa.select(questions.c.event_id).order_by(questions.c.ts.desc(), questions.c.id.desc()))]
    assert flat == expected and len(set(flat)) == 100
    viewer_pages = walk(store, LogFilter(viewer="console:v1"), limit=7)
    assert [e for p in viewer_pages for e in p] == [f"e{i}" for i in range(99, -1, -1) if i % 3 == 1]


def test_rows_arriving_while_paging_do_not_shift_later_pages(store: Store):
    record(store, *(question(i) for i in range(20)))
    first = search(store.engine, LogFilter(), limit=8)
    record(store, *(question(i) for i in range(20, 25)))  # newer questions arrive
    second = search(store.engine, LogFilter(), limit=8, before=first.next)
    assert ids(first) == [f"e{i}" for i in range(19, 11, -1)]
    assert ids(second) == [f"e{i}" for i in range(11, 3, -1)]
    assert search(store.engine, LogFilter(), limit=8, before=tuple(second.next)).rows[-1].event_id == "e0"


@pytest.mark.parametrize("flt", [LogFilter(text="needle"), LogFilter(model="cache"),
                                 LogFilter(room="console:demo", text="needle")])
def test_scanned_filters_beyond_the_probe_window_are_complete(store: Store, monkeypatch, flt: LogFilter):
    """A rare match far back in the log is found by the pass over the older rows, in order, with the rest."""
    monkeypatch.setattr(interactions, "_PROBE", 6)
    matches = {3, 4, 11, 12, 13, 30, 47}
    record(store, *(question(i, text="a needle here" if i in matches else None, model="cache" if i in matches else "x")
                    for i in range(50)))
    expected = [f"e{i}" for i in sorted(matches, reverse=True)]
    for limit in (1, 2, 3, 50):
        assert [e for p in walk(store, flt, limit) for e in p] == expected


def test_a_cursor_round_trips_as_text():
    cursor = Cursor(1_800_000_000.123456789, 42)
    assert Cursor.parse(str(cursor)) == cursor
    with pytest.raises(ValueError, match="not a log cursor"):
        Cursor.parse("yesterday")


def test_count_matching_stops_at_the_cap(store: Store):
    record(store, *(question(i) for i in range(30)))
    assert count_matching(store.engine, LogFilter(), cap=10) == (10, True)
    assert count_matching(store.engine, LogFilter(), cap=None) == (30, False)
    assert count_matching(store.engine, LogFilter(), cap=30) == (30, False)


# ---- export -----------------------------------------------------------------------------------------

def test_export_writes_csv_and_jsonl_with_every_row(mixed: Store, tmp_path: Path):
    feedback(mixed, "bot-x", +1, n=1)  # on a message no question was answered with
    assert mixed.flush()
    got: list[int] = []
    out = tmp_path / "out" / "log.csv"
    assert export(mixed.engine, LogFilter(room="console:demo"), out, "csv", progress=got.append) == 4
    assert sum(got) == 4 and not list(out.parent.glob("*.part"))
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(interactions.EXPORT_COLUMNS)
    assert [r["event_id"] for r in rows] == ["e6", "e3", "e2", "e1"]
    first = rows[-1]
    assert (first["time"], first["text"], first["status"], first["model"], first["merged_into"]) == \
        ("2027-01-15T08:00:01+00:00", "How much is the COURSE?", "answered", "extractive", "")
    assert json.loads(first["sources"]) == [{"chunk_id": "c1", "source": "faq.md", "title": "FAQ"}]
    assert (first["feedback_up"], first["review_status"], rows[1]["model"]) == ("0", "", "")

    out_jsonl = tmp_path / "log.jsonl"
    assert export(mixed.engine, LogFilter(viewer="console:alice"), out_jsonl, "jsonl") == 3
    lines = [json.loads(line) for line in out_jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["event_id"] for r in lines] == ["e5", "e3", "e1"]
    [fifth] = search(mixed.engine, LogFilter(text="50%")).rows
    assert lines[0] == {"time": "2027-01-15T08:00:05+00:00", **fifth.as_dict()}


def test_export_streams_many_pages_and_an_empty_result(store: Store, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(interactions, "_STREAM_PAGE", 7)
    record(store, *(question(i) for i in range(30)))
    got: list[int] = []
    assert export(store.engine, LogFilter(), tmp_path / "all.jsonl", "jsonl", progress=got.append) == 30
    assert got == [7, 7, 7, 7, 2]
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["event_id"] for x in lines] == [f"e{i}" for i in range(29, -1, -1)]
    assert export(store.engine, LogFilter(room="none:0"), tmp_path / "none.csv") == 0
    assert (tmp_path / "none.csv").read_text(encoding="utf-8").splitlines() == [",".join(interactions.EXPORT_COLUMNS)]


def test_export_refuses_an_unknown_format(store: Store, tmp_path: Path):
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        export(store.engine, LogFilter(), tmp_path / "x.xml", "xml")  # type: ignore[arg-type]
    assert not (tmp_path / "x.xml").exists()


# ---- one viewer and unanswered topics ---------------------------------------------------------------------

def test_viewer_history_has_their_questions_actions_and_flag(mixed: Store):
    insert(mixed, moderation_actions, action_row("flag", "console:bob", ts=T0 + 10, detail="spam"),
           action_row("approve", "console:bob", ts=T0 + 20), action_row("flag", "console:alice", ts=T0 + 30))
    insert(mixed, flagged_viewers, flag_row("bob"))
    bob = viewer_history(mixed.engine, "console:bob")
    assert ids(bob.questions) == ["e6", "e2"]
    assert [(a["action"], a["ts"]) for a in bob.actions] == [("approve", T0 + 20), ("flag", T0 + 10)]
    assert bob.flag is not None and bob.flag["reason"] == "spam"
    assert viewer_history(mixed.engine, "console:bob", limit=1).questions[0].event_id == "e6"
    nobody = viewer_history(mixed.engine, "console:nobody")
    assert (nobody.questions, nobody.actions, nobody.flag) == ([], [], None)


def test_unanswered_topics_group_by_shared_words_with_merged_askers(store: Store):
    record(store,
           question(1, user="ann", status="abstained", text="who won the match yesterday?"),
           question(2, user="ben", status="merged", merged_into="e1", text="who won the match yesterday"),
           question(3, user="cat", status="abstained", text="Who won the match yesterday??"),
           question(4, user="dan", status="abstained", text="is there a recording of today?"),
           question(5, user="ann", status="answered", text="how much is the course?"),
           question(6, user="eve", status="abstained", room="telegram:-100", text="who won the match yesterday?"),
           question(7, user="fay", status="merged", merged_into="e1", room="telegram:-100",
                    text="who won the match"))  # merged into a lead of another room: not this group's
    topics = unanswered_topics(store.engine)
    assert [(t.text, t.asks, t.people, t.rooms, t.last_ts) for t in topics] == [
        ("who won the match yesterday?", 4, ("ann", "cat", "eve", "ben"), ("console:demo", "telegram:-100"), T0 + 6),
        ("is there a recording of today?", 1, ("dan",), ("console:demo",), T0 + 4)]
    in_room = unanswered_topics(store.engine, room="console:demo")
    assert [(t.asks, t.people) for t in in_room] == [(3, ("ann", "cat", "ben")), (1, ("dan",))]
    assert [t.text for t in unanswered_topics(store.engine, since=T0 + 4)] == \
        ["who won the match yesterday?", "is there a recording of today?"]
    assert len(unanswered_topics(store.engine, limit=1)) == 1
    assert unanswered_topics(store.engine, room="nowhere:0") == []


def test_rare_text_goes_through_the_full_text_index_and_matches_exactly_what_like_matches(tmp_path):
    """Migration 5's trigram index: a rare or missing word must not read the whole log, nor change results."""
    import sqlalchemy as sa

    from brain.insights import interaction_log as interactions
    from brain.store.schema import QUESTIONS_FTS, questions

    store = Store(f"sqlite:///{tmp_path / 'fts.db'}")
    rows = [{"room": "r", "event_id": f"e{i}", "user_key": "u", "user_name": "u", "lang": "en",
             "status": "answered", "answer": None, "sources": None, "confidence": None, "latency_ms": None,
             "model": None, "merged_into": None, "ts": float(i), "answered_at": float(i), "reply_id": None,
             "text": ("Is the COUPON still valid?" if i % 500 == 7 else f"how long is shipping {i}")}
            for i in range(6000)]
    with store.engine.begin() as conn:
        conn.execute(questions.insert(), rows)
        conn.execute(questions.delete().where(questions.c.event_id == "e507"))  # the delete trigger keeps step
    with store.engine.connect() as conn:
        assert interactions._rare_text(conn, "coupon") is not None       # 11 matches: by the index
        assert interactions._rare_text(conn, "shipping") is None         # 5,989: walk the newest rows
        assert interactions._rare_text(conn, "co") is None                # under 3 characters: LIKE only
        fts_ids = {r[0] for r in conn.execute(sa.text(f"SELECT rowid FROM {QUESTIONS_FTS} "
                                                      f"WHERE {QUESTIONS_FTS} MATCH '\"coupon\"'"))}
    page = interactions.search(store.engine, LogFilter(text="coupon"), limit=50)
    assert [r.event_id for r in page.rows] == [f"e{i}" for i in range(5507, 0, -500) if i != 507]
    assert len(fts_ids) == len(page.rows) == 11 and page.next is None
    assert interactions.search(store.engine, LogFilter(text="nowhere to be found")).rows == []
    assert len(interactions.search(store.engine, LogFilter(text='say "hi"')).rows) == 0  # quotes are escaped
    store.close()


def test_on_postgresql_text_search_goes_through_the_trigram_index(postgres_cluster):
    """Migration 7: PostgreSQL's pg_trgm GIN index serves the log's ILIKE search, with LIKE's results."""
    import sqlalchemy as sa

    from brain.insights import interaction_log as interactions
    from brain.store.schema import QUESTIONS_TRGM, questions

    store = Store(postgres_cluster.new_database())
    rows = [{"room": "r", "event_id": f"e{i}", "user_key": "u", "user_name": "u", "lang": "en",
             "status": "answered", "answer": None, "sources": None, "confidence": None, "latency_ms": None,
             "model": None, "merged_into": None, "ts": float(i), "answered_at": float(i), "reply_id": None,
             "text": ("Is the COUPON still valid?" if i % 500 == 7 else f"how long is shipping {i}")}
            for i in range(6000)]
    try:
        with store.engine.begin() as conn:
            conn.execute(questions.insert(), rows)
            conn.execute(sa.text("ANALYZE questions"))
        with store.engine.connect() as conn:
            # A table this small is cheaper to read whole; the question is whether the index serves ILIKE.
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(
                sa.text("EXPLAIN SELECT id FROM questions WHERE text ILIKE :needle"), {"needle": "%coupon%"}))
        assert QUESTIONS_TRGM in plan, plan
        page = interactions.search(store.engine, LogFilter(text="coupon"), limit=50)
        assert [r.event_id for r in page.rows] == [f"e{i}" for i in range(5507, 0, -500)]
        assert interactions.search(store.engine, LogFilter(text="50%_off")).rows == []  # LIKE's wildcards escaped
    finally:
        store.close()
