"""How long the store keeps what it recorded, and a viewer's right to see and erase their data.

`apply_retention` deletes rows older than the policy's days, table by table.
It never holds a long write lock: matching ids are read first (a WAL reader
blocks nobody), then deleted by primary key a chunk at a time, each chunk its
own short transaction, so the store's writer and the moderators' decisions
interleave with a purge of millions of rows. Reviews still pending are never
deleted, whatever their age: a moderator has yet to decide them.

`export_viewer` gathers every row about one viewer as plain JSON data;
`delete_viewer` removes those rows in one transaction and records the
deletion in the moderation log with nothing but the viewer's key, so the
log proves the erasure without keeping what was erased.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import sqlalchemy as sa

from brain.store.schema import events, flagged_viewers, moderation_actions, pins, questions, reviews

__all__ = ["RetentionPolicy", "apply_retention", "export_viewer", "delete_viewer", "RETENTION_TABLES",
           "VIEWER_TABLES"]

DAY = 86400.0
#: Tables the policy covers, in the order they are purged.
RETENTION_TABLES: tuple[str, ...] = ("events", "questions", "reviews", "moderation_actions")
#: Tables holding a viewer's own rows (what `delete_viewer` removes), in the order of its result.
VIEWER_TABLES: tuple[str, ...] = ("events", "questions", "reviews", "flagged_viewers", "pins")
#: Rows per delete transaction: a few milliseconds of write lock each on SQLite.
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days to keep each table's rows; None keeps them forever (the default for every table)."""

    events_days: int | None = None
    questions_days: int | None = None
    reviews_days: int | None = None
    actions_days: int | None = None

    def __post_init__(self) -> None:
        for name in ("events_days", "questions_days", "reviews_days", "actions_days"):
            days = getattr(self, name)
            if days is not None and days < 1:
                raise ValueError(f"{name} must be at least 1 day, or None to keep forever")

    @classmethod
    def of(cls, section: Any) -> "RetentionPolicy":
        """From the config's ``retention`` section (anything with these four attributes)."""
        return cls(section.events_days, section.questions_days, section.reviews_days, section.actions_days)

    @property
    def keeps_everything(self) -> bool:
        return all(d is None for d in (self.events_days, self.questions_days, self.reviews_days,
                                       self.actions_days))

    def days_for(self, table: str) -> int | None:
        return {"events": self.events_days, "questions": self.questions_days, "reviews": self.reviews_days,
                "moderation_actions": self.actions_days}[table]


def _expired(table: str, cutoff: float) -> tuple[sa.Table, sa.ColumnElement[bool]]:
    """The table and its rows older than ``cutoff``; a review ages from its decision, and only once decided."""
    if table == "events":
        return events, events.c.ts < cutoff
    if table == "questions":
        return questions, questions.c.ts < cutoff
    if table == "reviews":
        decided_at = sa.func.coalesce(reviews.c.decided_at, reviews.c.created_at)
        return reviews, sa.and_(reviews.c.status != "pending", decided_at < cutoff)
    if table == "moderation_actions":
        return moderation_actions, moderation_actions.c.ts < cutoff
    raise ValueError(f"no retention for table {table!r}")


def _id_chunks(engine: sa.Engine, table: sa.Table, where: sa.ColumnElement[bool], size: int) -> Iterator[list[int]]:
    """Ids of matching rows in id order, ``size`` at a time, each read resuming after the last id."""
    last = 0
    while True:
        with engine.connect() as conn:
            ids = list(conn.execute(sa.select(table.c.id).where(where, table.c.id > last)
                                    .order_by(table.c.id).limit(size)).scalars())
        if not ids:
            return
        yield ids
        last = ids[-1]


def _purge(engine: sa.Engine, table: sa.Table, where: sa.ColumnElement[bool], size: int) -> int:
    deleted = 0
    for ids in _id_chunks(engine, table, where, size):
        with engine.begin() as conn:  # the condition again: a row changed since it was read stays
            deleted += conn.execute(table.delete().where(table.c.id.in_(ids), where)).rowcount
    return deleted


def apply_retention(engine: sa.Engine, policy: RetentionPolicy, now: float | None = None, *,
                    dry_run: bool = False, chunk: int = CHUNK) -> dict[str, int]:
    """Delete what the policy no longer keeps; rows deleted (or, with ``dry_run``, that would be) per table.

    Tables the policy keeps forever are left out of the result.
    """
    now = time.time() if now is None else now
    result: dict[str, int] = {}
    for name in RETENTION_TABLES:
        days = policy.days_for(name)
        if days is None:
            continue
        table, where = _expired(name, now - days * DAY)
        if dry_run:
            with engine.connect() as conn:
                result[name] = int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where))
                                   .scalar_one())
        else:
            result[name] = _purge(engine, table, where, chunk)
    return result


# ---- one viewer ------------------------------------------------------------------------------------

def _viewer_rows(user_key: str) -> dict[str, tuple[sa.Table, sa.ColumnElement[bool]]]:
    """Where a viewer's own rows are, by table (events they sent, their questions, reviews of them, ...)."""
    return {
        "events": (events, events.c.user_key == user_key),
        "questions": (questions, questions.c.user_key == user_key),
        "reviews": (reviews, reviews.c.user_key == user_key),
        "flagged_viewers": (flagged_viewers, flagged_viewers.c.user_key == user_key),
        "pins": (pins, pins.c.user_key == user_key),
    }


def _plain(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in rows]


def _log_action(conn: sa.Connection, action: str, user_key: str, *, actor_key: str, actor_name: str,
                detail: str | None, now: float | None) -> None:
    """One moderation-log row about a viewer's data, naming them by key only."""
    conn.execute(moderation_actions.insert().values(
        room=None, review_id=None, action=action, actor_key=actor_key, actor_name=actor_name,
        target_user=user_key, detail=detail, ts=time.time() if now is None else now))


def export_viewer(engine: sa.Engine, user_key: str, *, actor_key: str | None = None, actor_name: str = "",
                  now: float | None = None) -> dict[str, Any]:
    """Everything stored about one viewer, as JSON-serialisable data (empty lists for an unknown viewer).

    Keys: ``user_key``, ``exported_at``, one list per table of `VIEWER_TABLES`
    (oldest first), and ``moderation_actions``: the actions that targeted
    them or that they took. With an ``actor_key``, the export itself is
    recorded in the moderation log (``action="export"``) when there was
    anything to export.
    """
    out: dict[str, Any] = {"user_key": user_key, "exported_at": time.time() if now is None else now}
    with engine.connect() as conn:
        for name, (table, where) in _viewer_rows(user_key).items():
            order = [table.c.ts if "ts" in table.c else table.c.created_at] + ([table.c.id] if "id" in table.c else [])
            out[name] = _plain(conn.execute(sa.select(table).where(where).order_by(*order)).all())
        out["moderation_actions"] = _plain(conn.execute(
            sa.select(moderation_actions)
            .where(sa.or_(moderation_actions.c.target_user == user_key, moderation_actions.c.actor_key == user_key))
            .order_by(moderation_actions.c.ts, moderation_actions.c.id)).all())
    if actor_key is not None and any(out[name] for name in (*VIEWER_TABLES, "moderation_actions")):
        with engine.begin() as conn:
            _log_action(conn, "export", user_key, actor_key=actor_key, actor_name=actor_name, detail=None, now=now)
    return out


def delete_viewer(engine: sa.Engine, user_key: str, *, actor_key: str, actor_name: str,
                  now: float | None = None) -> dict[str, int]:
    """Erase one viewer's rows (`VIEWER_TABLES`); rows deleted per table, all zero for an unknown viewer.

    One transaction: the erasure happens entirely or not at all. When
    anything was deleted, one ``moderation_actions`` row records it
    (``action="delete"``, ``target_user`` the key, ``detail`` the counts),
    with no name or text of the viewer. An unknown viewer leaves no trace:
    recording their key would store data about someone the store never had.
    The moderation log itself is append-only and stays as it was. A running
    bot's flag cache needs `brain.moderation.review.FlagList.forget` for the key.
    """
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for name, (table, where) in _viewer_rows(user_key).items():
            counts[name] = int(conn.execute(table.delete().where(where)).rowcount)
        if any(counts.values()):
            _log_action(conn, "delete", user_key, actor_key=actor_key, actor_name=actor_name,
                        detail=json.dumps(counts, sort_keys=True), now=now)
    return counts
