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

import time
from typing import Callable

import sqlalchemy as sa

__all__ = ["metadata", "events", "questions", "pins", "schema_version", "MIGRATIONS", "migrate", "current_version",
           "SchemaTooNew"]

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
_event_indexes_v1(events)


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


questions = sa.Table("questions", metadata, *_question_columns_v2())
_question_indexes_v2(questions)


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


Migration = tuple[int, str, Callable[[sa.Connection], None]]

MIGRATIONS: tuple[Migration, ...] = (
    (1, "event log", _v1_events),
    (2, "questions", _v2_questions),
    (3, "pins", _v3_pins),
)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer liveroom; opening it could corrupt it."""


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0


def migrate(engine: sa.Engine) -> tuple[int, int]:
    """Apply missing migrations; returns (version before, version after)."""
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
