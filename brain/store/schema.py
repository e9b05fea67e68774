"""The store's schema and its numbered migrations.

Tables are declared once, here, for queries. Each migration is a numbered
function that brings the database from version N-1 to N using SQLAlchemy Core,
so the same steps run on SQLite and PostgreSQL. ``schema_version`` records
what has been applied; `migrate` applies what is missing, each step in its own
transaction, and refuses to open a database newer than this code.

Why not Alembic: the project needs forward-only, in-process upgrades at
start-up, on two dialects, with no migration environment for users to carry.
Numbered Core functions give that in one file (docs/decisions.md).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import sqlalchemy as sa

__all__ = ["metadata", "events", "questions", "pins", "reviews", "moderation_actions", "flagged_viewers",
           "dead_letters", "schema_version", "MIGRATIONS", "migrate", "current_version", "SchemaTooNew", "QUESTIONS_FTS",
           "QUESTIONS_TRGM"]

log = logging.getLogger(__name__)

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)

def _event_columns_v1() -> list[sa.Column]:
    """The event log's columns as version 1 created them.

    Migrations call this, never the live ``events`` table below, so a column
    added by a later migration never leaks into what step 1 creates.
    ``ts`` is the event's own time in UTC epoch seconds (comparable across
    dialects and cheap to bucket into per-minute series); ``recorded_at`` is
    when the store got it.
    """
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("room", sa.String(256), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),  # in | out
        sa.Column("user_key", sa.String(256), nullable=False),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("command", sa.String(32), nullable=True),
        sa.Column("reply_to", sa.String(128), nullable=True),
        sa.Column("mentions", sa.Text, nullable=True),  # JSON list
        sa.Column("flags", sa.String(256), nullable=True),  # comma-separated
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
    ]


def _event_indexes_v1(table: sa.Table) -> None:
    sa.Index("ix_events_room_ts", table.c.room, table.c.ts)
    sa.Index("ix_events_user", table.c.user_key, table.c.ts)
    sa.Index("ix_events_room_event", table.c.room, table.c.event_id)


#: Every inbound event and every bot reply, in arrival order (the latest shape, for queries).
events = sa.Table("events", metadata, *_event_columns_v1())
sa.Index("ix_events_room_ts", events.c.room, events.c.ts)
sa.Index("ix_events_user", events.c.user_key, events.c.ts)
#: Version 6: an event's id identifies it within its room (and direction): never stored twice.
sa.Index("ux_events_room_event", events.c.room, events.c.event_id, events.c.direction, unique=True)


def _v1_events(conn: sa.Connection) -> None:
    """Version 1: the event log."""
    md = sa.MetaData()
    _event_indexes_v1(sa.Table("events", md, *_event_columns_v1()))
    md.create_all(conn)


def _question_columns_v2() -> list[sa.Column]:
    """Every viewer question the brain handled, and what it did: answered, abstained or merged.

    Insert-only: a row is written once its outcome is known. ``sources`` is a
    JSON list of the cited chunks; ``merged_into`` points at the question of the
    same burst that carried the answer; ``model`` is ``extractive``,
    ``llm:<name>`` or ``cache``.
    """
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("room", sa.String(256), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("user_key", sa.String(256), nullable=False),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # answered | abstained | merged
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("sources", sa.Text, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("merged_into", sa.String(128), nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("answered_at", sa.Float, nullable=False),
    ]


def _question_indexes_v2(table: sa.Table) -> None:
    sa.Index("ix_questions_room_status", table.c.room, table.c.status, table.c.ts)


questions = sa.Table("questions", metadata, *_question_columns_v2(),
                     sa.Column("reply_id", sa.String(128), nullable=True))  # added by version 4
_question_indexes_v2(questions)
#: The unique index of migration 8: one outcome per question.
QUESTIONS_UNIQUE = "ux_questions_room_event"
sa.Index(QUESTIONS_UNIQUE, questions.c.room, questions.c.event_id, unique=True)


def _v2_questions(conn: sa.Connection) -> None:
    """Version 2: the questions the brain handled."""
    md = sa.MetaData()
    _question_indexes_v2(sa.Table("questions", md, *_question_columns_v2()))
    md.create_all(conn)


def _pin_columns_v3() -> list[sa.Column]:
    """Version 3: products the host pinned (announced) in a room: the ranking's "already on screen"."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("room", sa.String(256), nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("product_name", sa.String(512), nullable=False),
        sa.Column("user_key", sa.String(256), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
    ]


def _pin_indexes_v3(table: sa.Table) -> None:
    sa.Index("ix_pins_room_ts", table.c.room, table.c.ts)


pins = sa.Table("pins", metadata, *_pin_columns_v3())
_pin_indexes_v3(pins)


def _v3_pins(conn: sa.Connection) -> None:
    md = sa.MetaData()
    _pin_indexes_v3(sa.Table("pins", md, *_pin_columns_v3()))
    md.create_all(conn)


def _review_columns_v4() -> list[sa.Column]:
    """Version 4: answers waiting for (or decided by) a moderator: the approval queue.

    A row holds everything needed to post the answer after a restart: the
    reply route (``source``: the adapter's name; the room and the asker's
    platform ids) and the people merged into the burst (``askers``, JSON
    ``[[platform, id, name], ...]``). ``status`` moves once, from ``pending``
    to ``approved``, ``edited``, ``rejected`` or ``expired``, by a conditional
    UPDATE, so two moderators deciding at once post one answer.
    """
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("room", sa.String(256), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(128), nullable=False),
        sa.Column("room_kind", sa.String(16), nullable=False),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("user_key", sa.String(256), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("askers", sa.Text, nullable=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("draft", sa.Text, nullable=True),  # the bot's answer as it would post it; None: it abstained
        sa.Column("sources", sa.Text, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("reasons", sa.String(256), nullable=False),  # comma-separated: money,low-confidence,...
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("final", sa.Text, nullable=True),  # what was posted
        sa.Column("decided_by", sa.String(256), nullable=True),
        sa.Column("decided_by_name", sa.String(256), nullable=True),
        sa.Column("note", sa.Text, nullable=True),  # a rejection's reason
        sa.Column("message_id", sa.String(128), nullable=True),  # the posted answer's platform id
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float, nullable=True),
    ]


def _moderation_action_columns_v4() -> list[sa.Column]:
    """Every moderator action (approve, edit, reject, expire, flag, unflag, export, delete), append-only."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("room", sa.String(256), nullable=True),
        sa.Column("review_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor_key", sa.String(256), nullable=False),
        sa.Column("actor_name", sa.String(256), nullable=False),
        sa.Column("target_user", sa.String(256), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
    ]


def _flagged_viewer_columns_v4() -> list[sa.Column]:
    """Viewers whose answers always wait for a moderator (``/flag``, or the spam classifier)."""
    return [
        sa.Column("user_key", sa.String(256), primary_key=True),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("flagged_by", sa.String(256), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
    ]


def _moderation_indexes_v4(review_table: sa.Table, action_table: sa.Table) -> None:
    sa.Index("ix_reviews_status", review_table.c.status, review_table.c.created_at)
    sa.Index("ix_reviews_room_status", review_table.c.room, review_table.c.status, review_table.c.created_at)
    sa.Index("ix_reviews_event", review_table.c.event_id)
    sa.Index("ix_actions_room_ts", action_table.c.room, action_table.c.ts)
    sa.Index("ix_actions_target", action_table.c.target_user, action_table.c.ts)


reviews = sa.Table("reviews", metadata, *_review_columns_v4())
moderation_actions = sa.Table("moderation_actions", metadata, *_moderation_action_columns_v4())
flagged_viewers = sa.Table("flagged_viewers", metadata, *_flagged_viewer_columns_v4())
_moderation_indexes_v4(reviews, moderation_actions)
#: Version 4 indexes the interaction log's filters (the dashboard pages a million questions).
sa.Index("ix_questions_room_ts", questions.c.room, questions.c.ts)
sa.Index("ix_questions_user_ts", questions.c.user_key, questions.c.ts)
sa.Index("ix_questions_ts", questions.c.ts)
sa.Index("ix_questions_status_ts", questions.c.status, questions.c.ts)
sa.Index("ix_questions_event", questions.c.event_id)
sa.Index("ix_questions_reply", questions.c.reply_id)
sa.Index("ix_events_reply_to", events.c.reply_to)


def _v4_moderation(conn: sa.Connection) -> None:
    """Version 4: the approval queue, moderator actions, flagged viewers; the log's indexes.

    ``questions.reply_id`` (the posted answer's platform message id) links
    viewers' 👍/👎, which target that message, to the question they judge.
    """
    md = sa.MetaData()
    review_table = sa.Table("reviews", md, *_review_columns_v4())
    action_table = sa.Table("moderation_actions", md, *_moderation_action_columns_v4())
    sa.Table("flagged_viewers", md, *_flagged_viewer_columns_v4())
    _moderation_indexes_v4(review_table, action_table)
    md.create_all(conn)
    conn.execute(sa.text("ALTER TABLE questions ADD COLUMN reply_id VARCHAR(128)"))
    for name, table, columns in (
            ("ix_questions_room_ts", "questions", "room, ts"),
            ("ix_questions_user_ts", "questions", "user_key, ts"),
            ("ix_questions_ts", "questions", "ts"),
            ("ix_questions_status_ts", "questions", "status, ts"),
            ("ix_questions_event", "questions", "event_id"),
            ("ix_questions_reply", "questions", "reply_id"),
            ("ix_events_reply_to", "events", "reply_to")):
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"))


#: The SQLite full-text index of questions' text (migration 5); absent on other databases.
QUESTIONS_FTS = "questions_fts"
_FTS_DDL = (
    f"CREATE VIRTUAL TABLE {QUESTIONS_FTS} USING fts5(text, content='questions', content_rowid='id', "
    "tokenize='trigram')",
    f"CREATE TRIGGER {QUESTIONS_FTS}_ai AFTER INSERT ON questions BEGIN "
    f"INSERT INTO {QUESTIONS_FTS}(rowid, text) VALUES (new.id, new.text); END",
    f"CREATE TRIGGER {QUESTIONS_FTS}_ad AFTER DELETE ON questions BEGIN "
    f"INSERT INTO {QUESTIONS_FTS}({QUESTIONS_FTS}, rowid, text) VALUES ('delete', old.id, old.text); END",
    f"CREATE TRIGGER {QUESTIONS_FTS}_au AFTER UPDATE OF text ON questions BEGIN "
    f"INSERT INTO {QUESTIONS_FTS}({QUESTIONS_FTS}, rowid, text) VALUES ('delete', old.id, old.text); "
    f"INSERT INTO {QUESTIONS_FTS}(rowid, text) VALUES (new.id, new.text); END",
    f"INSERT INTO {QUESTIONS_FTS}({QUESTIONS_FTS}) VALUES ('rebuild')",
)


def _v5_questions_fts(conn: sa.Connection) -> None:
    """Version 5: on SQLite, a trigram full-text index of questions' text, kept in step by triggers.

    A substring that matches few or no questions otherwise reads the whole
    log (0.2-0.3 s on a million rows); the trigram index answers it in well
    under a millisecond. A SQLite built without FTS5 skips it: the log's
    search falls back to scanning. PostgreSQL gets its trigram index in version 7.
    """
    if conn.dialect.name != "sqlite":
        return
    try:
        with conn.begin_nested():
            for statement in _FTS_DDL:
                conn.execute(sa.text(statement))
    except sa.exc.OperationalError:  # no FTS5 or no trigram tokenizer (SQLite < 3.34)
        return


def _dead_letter_columns_v6() -> list[sa.Column]:
    """Rows the database refused for their content (``payload``: the row as ASCII JSON), kept, not lost."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
    ]


dead_letters = sa.Table("dead_letters", metadata, *_dead_letter_columns_v6())


def _v6_unique_events(conn: sa.Connection) -> None:
    """Version 6: (room, event_id, direction) unique in the event log; the dead-letter table.

    Copies stored before (a log replayed twice) are removed first, keeping the
    first one recorded; the old non-unique index on (room, event_id) is
    replaced by the unique one, which serves the same lookups.
    """
    conn.execute(sa.text(
        "DELETE FROM events WHERE id NOT IN (SELECT MIN(id) FROM events GROUP BY room, event_id, direction)"))
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_events_room_event"))
    conn.execute(sa.text("CREATE UNIQUE INDEX ux_events_room_event ON events (room, event_id, direction)"))
    md = sa.MetaData()
    sa.Table("dead_letters", md, *_dead_letter_columns_v6())
    md.create_all(conn)


#: PostgreSQL's trigram index of questions' text (migration 7); absent on other databases.
QUESTIONS_TRGM = "ix_questions_text_trgm"


def _v7_questions_trigram(conn: sa.Connection) -> None:
    """Version 7: on PostgreSQL, a pg_trgm GIN index of questions' text, what version 5 is on SQLite.

    The log's text search is ``ILIKE '%needle%'``, which a trigram GIN index
    serves; without it a rare word reads the whole log. ``pg_trgm`` ships with
    PostgreSQL (Debian's postgresql-contrib) and is a trusted extension, so the
    database's owner may create it. Where it is missing or not allowed the
    index is skipped, with a warning, and the search scans as before.
    """
    if conn.dialect.name != "postgresql":
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {QUESTIONS_TRGM} ON questions "
                                 "USING gin (text gin_trgm_ops)"))
    except sa.exc.DBAPIError as exc:
        log.warning("store: no trigram index for the log's text search (%s); searching scans instead",
                    getattr(exc, "orig", exc))


def _v8_unique_questions(conn: sa.Connection) -> None:
    """Version 8: one outcome per question, (room, event_id) unique in ``questions``.

    A question has one outcome; a second row for it can only come from two processes working on it at
    once (a worker that stalled past its lease while its successor answered too). The store inserts
    outcomes ignoring a copy, as it does events. Copies recorded before are removed, keeping the first.
    """
    conn.execute(sa.text(
        "DELETE FROM questions WHERE id NOT IN (SELECT MIN(id) FROM questions GROUP BY room, event_id)"))
    conn.execute(sa.text(f"CREATE UNIQUE INDEX {QUESTIONS_UNIQUE} ON questions (room, event_id)"))

Migration = tuple[int, str, Callable[[sa.Connection], None]]

MIGRATIONS: tuple[Migration, ...] = (
    (1, "event log", _v1_events),
    (2, "questions", _v2_questions),
    (3, "pins", _v3_pins),
    (4, "moderation", _v4_moderation),
    (5, "questions full-text index", _v5_questions_fts),
    (6, "unique events, dead letters", _v6_unique_events),
    (7, "questions trigram index (PostgreSQL)", _v7_questions_trigram),
    (8, "one outcome per question", _v8_unique_questions),
)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer liveroom; opening it could corrupt it."""


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0


#: The PostgreSQL advisory lock key under which one process at a time migrates (any constant; "lroom").
_MIGRATION_LOCK = 0x6C726F6F6D


@contextmanager
def _one_migrator(engine: sa.Engine) -> Iterator[None]:
    """Let one process at a time migrate a database that several share (workers starting together).

    PostgreSQL: a session advisory lock. SQLite (processes on one machine): an exclusive lock on a file
    beside the database. Without it, two processes both read version 0 and the second fails on the
    first one's tables ("duplicate key value violates unique constraint schema_version_pkey").
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    import fcntl

    try:
        lock = open(f"{database}.migrate-lock", "a+b")  # noqa: SIM115 - held for the whole block
    except OSError:  # a folder we cannot write to: the store's own open reports it
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def migrate(engine: sa.Engine) -> tuple[int, int]:
    """Apply missing migrations; returns (version before, version after)."""
    with _one_migrator(engine):
        return _migrate(engine)


def _migrate(engine: sa.Engine) -> tuple[int, int]:
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        before = current_version(conn)
    latest = MIGRATIONS[-1][0]
    if before > latest:
        raise SchemaTooNew(f"database schema is version {before}, this liveroom knows up to "
                           f"{latest}: upgrade liveroom or point database.url elsewhere")
    for version, description, step in MIGRATIONS:
        if version <= before:
            continue
        with engine.begin() as conn:
            step(conn)
            conn.execute(schema_version.insert().values(
                version=version, description=description, applied_at=time.time()))
    return before, latest
