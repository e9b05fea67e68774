"""The store: batching, durability, migrations, reads."""

import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from adapters.model import MemberEvent, MessageEvent, Reply, Room, User
from brain.store import schema
from brain.store.event_store import Store, StoreError

ROOM = Room("replay", "r1")


def message(i: int, text: str = "hi") -> MessageEvent:
    return MessageEvent(event_id=str(i), room=ROOM, author=User("replay", f"u{i % 3}", f"user {i % 3}"),
                        text=text, ts=datetime(2026, 11, 20, 12, 0, i % 60, tzinfo=timezone.utc),
                        mentions=("ann",) if i == 0 else ())


@pytest.fixture
def store(database_url):
    s = Store(database_url, flush_interval=0.2)
    yield s
    s.close()


def test_round_trip_keeps_every_field(store):
    store.record(message(0, "这个能用冷冻水果吗?"))
    store.record(MemberEvent(event_id="j", room=ROOM, author=User("replay", "new", "New"), joined=True))
    store.record_reply(Reply(room=ROOM, text="yes", reply_to="0", ephemeral=True), message_id="out1",
                       source="replay", bot=User("replay", "bot", "liveroom"))
    assert store.flush()
    rows = list(store.iter_events(room="replay:r1"))
    first = rows[0]
    assert (first.text, first.mentions, first.user_name, first.role) == ("这个能用冷冻水果吗?", ("ann",), "user 0", "viewer")
    assert first.ts == datetime(2026, 11, 20, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    assert {r.kind for r in rows} == {"chat", "join", "reply"}
    reply = next(r for r in rows if r.kind == "reply")
    assert reply.direction == "out" and reply.flags == {"ephemeral"} and reply.reply_to == "0"


def test_rows_are_committed_within_a_second_without_flush(store):
    for i in range(10):
        store.record(message(i))
    reader = sa.create_engine(store.url)
    deadline = time.monotonic() + 1.0
    count = 0
    while time.monotonic() < deadline and count < 10:
        with reader.connect() as conn:
            count = conn.execute(sa.text("select count(*) from events")).scalar()
        time.sleep(0.02)
    reader.dispose()
    assert count == 10


def test_large_batches_and_filters(store):
    for i in range(2500):
        store.record(message(i))
    store.flush()
    assert store.count() == 2500 and store.committed == 2500
    assert store.count(room="replay:r1", kind="chat") == 2500
    newest = list(store.iter_events(newest_first=True, limit=2))
    assert len(newest) == 2 and newest[0].ts >= newest[1].ts
    assert len(list(store.iter_events(user_key="replay:u1"))) == 833
    summary = store.room_summary("replay:r1")
    assert summary["people"] == 3 and summary["by_kind"] == {"chat": 2500}
    store.record(MessageEvent(event_id="x", room=Room("console", "quiet"), author=User("console", "a", "a"),
                              text="hello"))
    assert store.rooms() == [("replay:r1", 2500), ("console:quiet", 1)]


def test_sqlite_uses_wal(store):
    if store.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migrations_are_recorded_and_idempotent(database_url):
    url = database_url
    first = Store(url)
    assert (first.schema_before, first.schema_version) == (0, len(schema.MIGRATIONS))
    first.record(message(1))
    first.close()
    again = Store(url)
    assert again.schema_before == again.schema_version and again.count() == 1
    again.close()


def test_migrated_schema_matches_the_declared_tables(store):
    inspector = sa.inspect(store.engine)
    # The text search's index is the engine's own: SQLite's is a separate FTS5 table, PostgreSQL's a GIN index.
    engine_only = {schema.QUESTIONS_TRGM} if store.engine.dialect.name == "postgresql" else set()
    for table in schema.metadata.sorted_tables:
        in_db = {c["name"] for c in inspector.get_columns(table.name)}
        assert in_db == {c.name for c in table.columns}
        assert {i["name"] for i in inspector.get_indexes(table.name)} - engine_only == {i.name for i in table.indexes}


def test_a_newer_database_is_refused(database_url):
    url = database_url
    Store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(schema.schema_version.insert().values(version=999, description="future", applied_at=0))
    engine.dispose()
    with pytest.raises(schema.SchemaTooNew, match="version 999"):
        Store(url)


def test_unopenable_database_names_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(StoreError, match="cannot open database"):
        Store(f"sqlite:///{blocker / 'db.sqlite'}")
    with pytest.raises(StoreError, match="cannot open database"):
        Store("nosuchdialect://x")


def test_commit_failures_are_retried_not_dropped(tmp_path):
    path = tmp_path / "locked.sqlite"
    store = Store(f"sqlite:///{path}", flush_interval=0.05, busy_timeout=0.01)
    locker = sa.create_engine(f"sqlite:///{path}")
    try:
        conn = locker.connect()
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
        for i in range(5):
            store.record(message(i))
        time.sleep(0.3)
        assert store.committed == 0
        conn.exec_driver_sql("COMMIT")
        conn.close()
        assert store.flush(timeout=10)
        assert store.count() == 5
    finally:
        locker.dispose()
        store.close()


def test_writes_after_close_are_refused(database_url):
    store = Store(database_url)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.record(message(1))


# ---- nothing lost: rows the database refuses, duplicates, a stopped writer ---------------------

def test_a_row_the_driver_cannot_encode_is_set_aside_and_the_rest_of_its_batch_is_written(store):
    """Fault 1: a lone surrogate (valid JSON "\\ud800") once killed the writer and every later row."""
    for i in range(10):
        # record() itself does not repair: the adapters do (adapters.text.scrub_event); the writer must
        # survive a row that slipped past them anyway.
        store.record(message(i, "bad \ud800 text" if i == 4 else f"good {i}"))
    assert store.flush()
    assert sorted(int(e.event_id) for e in store.iter_events(room="replay:r1")) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert store.set_aside == 1 and store.health().writing and store.problems() == []
    with store.engine.connect() as conn:
        [letter] = conn.execute(sa.select(schema.dead_letters)).all()
    assert letter.table_name == "events" and "UnicodeEncodeError" in letter.error
    assert letter.payload.isascii() and '"event_id": "4"' in letter.payload and "\\ud800" in letter.payload
    store.record(message(10, "after"))  # and the writer goes on
    assert store.flush() and store.count() == 10


def test_an_event_is_stored_once_whoever_writes_it(database_url):
    """Fault 3: (room, event_id) identifies an event; a second copy is skipped and counted."""
    url = database_url
    first, second = Store(url), Store(url)
    try:
        for s in (first, second):  # two processes writing the same events
            for i in range(5):
                s.record(message(i))
            assert s.flush()
        assert first.count() == 5 and first.committed + second.committed == 5
        assert second.duplicates == 5
        other_room = MessageEvent(event_id="0", room=Room("replay", "r2"), author=User("replay", "u", "u"), text="x")
        second.record(other_room)  # the same id in another room is another event
        assert second.flush() and first.count() == 6
    finally:
        first.close()
        second.close()


def test_claim_refuses_what_is_taken_or_stored_with_one_look_at_each_room(database_url):
    url = database_url
    first = Store(url)
    try:
        assert first.claim(message(1)) and not first.claim(message(1))  # taken by this process
        first.record(message(1))
        assert first.flush()
    finally:
        first.close()
    later = Store(url)  # a restart, or another process
    try:
        queries = []
        sa.event.listen(later.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
        assert not later.claim(message(1))  # stored by the first
        assert later.claim(message(2)) and not later.claim(message(2))
        assert all(later.claim(message(i)) for i in range(3, 100))
        assert len(queries) == 2  # the room's count and its ids, once; then every check is in memory
        fresh = MessageEvent(event_id="1", room=Room("replay", "new"), author=User("replay", "u", "u"), text="x")
        queries.clear()
        assert later.claim(fresh) and later.claim(fresh.__class__(**{**_fields(fresh), "event_id": "2"}))
        assert len(queries) == 1  # an empty room: one look
    finally:
        later.close()


def test_a_room_too_big_to_load_is_checked_event_by_event(database_url, monkeypatch):
    from brain.store import event_store as memory

    url = database_url
    first = Store(url)
    for i in range(5):
        first.record(message(i))
    first.close()
    monkeypatch.setattr(memory, "_PRELOAD_IDS", 3)
    later = Store(url)
    try:
        assert not later.claim(message(4)) and later.claim(message(5)) and not later.claim(message(5))
    finally:
        later.close()


def _fields(event: MessageEvent) -> dict:
    return {name: getattr(event, name) for name in ("event_id", "room", "author", "text", "ts")}


def database_at(url: str, version: int) -> sa.engine.Engine:
    """A database migrated up to ``version`` only, as an older liveroom left it: to test the next migration."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        schema.schema_version.create(conn)
        for number, description, step in schema.MIGRATIONS[:version]:
            step(conn)
            conn.execute(schema.schema_version.insert().values(version=number, description=description,
                                                               applied_at=0))
    return engine


def test_migration_6_removes_copies_a_replay_stored_twice(database_url):
    url = database_url
    engine = database_at(url, 5)
    with engine.begin() as conn:
        row = dict(event_id="1", room="replay:r1", platform="replay", source="replay", kind="chat",
                   direction="in", user_key="replay:u", user_name="u", role="viewer", text="hi", ts=1.0,
                   recorded_at=1.0)
        conn.execute(sa.text("INSERT INTO events (event_id, room, platform, source, kind, direction, user_key, "
                             "user_name, role, text, ts, recorded_at) VALUES (:event_id, :room, :platform, "
                             ":source, :kind, :direction, :user_key, :user_name, :role, :text, :ts, "
                             ":recorded_at)"), [row, row, {**row, "event_id": "2"}, row])
    engine.dispose()
    store = Store(url)
    try:
        assert (store.schema_before, store.schema_version) == (5, len(schema.MIGRATIONS))
        assert sorted((e.id, e.event_id) for e in store.iter_events()) == [(1, "1"), (3, "2")]
    finally:
        store.close()


def question(event_id: str, status: str) -> dict:
    return dict(room="replay:r1", event_id=event_id, user_key="replay:u", user_name="u", text="how much?",
                lang="en", status=status, ts=1.0, answered_at=1.0)


def test_a_question_keeps_its_first_outcome_whoever_records_another(database_url):
    """Two workers at once (one stalled past its lease) may both answer a question: one outcome is kept."""
    first, second = Store(database_url), Store(database_url)
    try:
        first.record_question(question("q1", "answered"))
        assert first.flush()
        second.record_question(question("q1", "abstained"))  # the copy, in a batch with a new question
        second.record_question(question("q2", "answered"))
        assert second.flush()
        rows = sorted((r["event_id"], r["status"]) for r in first.iter_questions(room="replay:r1"))
        assert rows == [("q1", "answered"), ("q2", "answered")]
    finally:
        first.close()
        second.close()


def test_migration_8_keeps_the_first_outcome_of_a_question_recorded_twice(database_url):
    engine = database_at(database_url, 7)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO questions (room, event_id, user_key, user_name, text, lang, status, ts, answered_at) "
            "VALUES (:room, :event_id, :user_key, :user_name, :text, :lang, :status, :ts, :answered_at)"),
            [question("q1", "answered"), question("q1", "abstained"), question("q2", "merged")])
    engine.dispose()
    store = Store(database_url)
    try:
        assert (store.schema_before, store.schema_version) == (7, len(schema.MIGRATIONS))
        rows = sorted((r["event_id"], r["status"]) for r in store.iter_questions(room="replay:r1"))
        assert rows == [("q1", "answered"), ("q2", "merged")]
    finally:
        store.close()


def test_a_stopped_writer_is_reported_and_refuses_new_rows(store):
    """If the writer ever stops, nothing may pretend to record: record() raises, problems() says why."""
    store._queue.put(object())  # what a bug in the writer would meet: an item it cannot even set aside
    store._writer.join(5)
    assert not store._writer.is_alive()
    assert not store.health().writing
    [problem] = store.problems()
    assert "writer has stopped" in problem
    with pytest.raises(StoreError, match="writer has stopped"):
        store.record(message(1))


def test_processes_starting_together_migrate_one_at_a_time(database_url):
    """Workers of a deployment start at once on one fresh database: one migrates, the others wait."""
    from concurrent.futures import ThreadPoolExecutor

    def open_store(_: int) -> tuple[int, int]:
        store = Store(database_url)
        try:
            return store.schema_before, store.schema_version
        finally:
            store.close()

    with ThreadPoolExecutor(4) as pool:
        opened = list(pool.map(open_store, range(4)))
    latest = len(schema.MIGRATIONS)
    assert sorted(opened) == [(0, latest)] + [(latest, latest)] * 3
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        versions = [r[0] for r in conn.execute(sa.select(schema.schema_version.c.version))]
    engine.dispose()
    assert versions == list(range(1, latest + 1))
