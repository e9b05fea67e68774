"""The store: batching, durability, migrations, reads."""

import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from adapters.model import MemberEvent, MessageEvent, Reply, Role, Room, User
from brain import schema
from brain.memory import Store, StoreError

ROOM = Room("replay", "r1")


def message(i: int, text: str = "hi") -> MessageEvent:
    return MessageEvent(event_id=str(i), room=ROOM, author=User("replay", f"u{i % 3}", f"user {i % 3}"),
                        text=text, ts=datetime(2026, 11, 20, 12, 0, i % 60, tzinfo=timezone.utc),
                        mentions=("ann",) if i == 0 else ())


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'db.sqlite'}", flush_interval=0.2)
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


def test_rows_are_committed_within_a_second_without_flush(store, tmp_path):
    for i in range(10):
        store.record(message(i))
    reader = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
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
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migrations_are_recorded_and_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    first = Store(url)
    assert (first.schema_before, first.schema_version) == (0, len(schema.MIGRATIONS))
    first.record(message(1))
    first.close()
    again = Store(url)
    assert again.schema_before == again.schema_version and again.count() == 1
    again.close()


def test_migrated_schema_matches_the_declared_tables(store):
    inspector = sa.inspect(store.engine)
    for table in schema.metadata.sorted_tables:
        in_db = {c["name"] for c in inspector.get_columns(table.name)}
        assert in_db == {c.name for c in table.columns}
        assert {i["name"] for i in inspector.get_indexes(table.name)} == {i.name for i in table.indexes}


def test_a_newer_database_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
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


def test_writes_after_close_are_refused(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.record(message(1))
