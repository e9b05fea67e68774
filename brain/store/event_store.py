"""The store: every event in and every reply out, durably, in one SQL database.

This is the single source of truth later components read from (the audience
graph, traffic series, moderation, reports). SQLite through SQLAlchemy by
default; PostgreSQL (or anything SQLAlchemy speaks) by ``database.url``.

Writes never block the event loop and never cost a transaction each: callers
enqueue rows (a lock-free ``queue.Queue.put``), and one writer thread commits
them in batches, at the latest ``flush_interval`` seconds after the first row
of a batch arrived (at most one second by configuration). SQLite runs in WAL
mode, so readers never wait for the writer and a ``kill -9`` loses at most the
uncommitted tail, never the database. A failed commit is retried with the same
rows, so a locked or briefly unavailable database delays rows, never drops them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import sqlalchemy as sa

from adapters.model import CommandEvent, Event, FeedbackEvent, MessageEvent, Reply, User, ViewerCountEvent
from brain.store.schema import dead_letters, events, migrate, pins, questions

__all__ = ["Store", "StoredEvent", "StoreError", "StoreHealth"]

log = logging.getLogger(__name__)

_STOP = object()
#: Errors that say the database is unavailable (locked, gone, disconnected), not that a row is bad:
#: the batch waits and is retried whole.
_TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError)
#: Event keys the store remembers to refuse a second copy without asking the database.
_SEEN_KEYS = 1_000_000
#: A room holding at most this many inbound events has its ids loaded when first seen (one query).
_PRELOAD_IDS = 200_000
_QUESTION_NULLS = {c.name: None for c in questions.columns if c.name != "id"}


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message names the database and the cause."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of the event log, as readers get it back."""

    id: int
    event_id: str
    room: str
    platform: str
    kind: str
    direction: str
    user_key: str
    user_name: str
    role: str
    text: str | None
    command: str | None
    reply_to: str | None
    mentions: tuple[str, ...]
    flags: frozenset[str]
    ts: float


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the store is recording, for /healthz and /status.

    ``writing`` is False once the writer thread stopped or the database has
    refused every commit for ``failing_for`` seconds; ``backlog`` rows wait in
    the queue. (Counts of what was written are `Store`'s own properties.)
    """

    writing: bool
    backlog: int
    failing_for: float | None
    error: str | None


class _Flush:
    """A marker in the write queue; set once every row queued before it is committed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process kills in WAL mode
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
    return on_connect


#: Bind parameters per statement: under SQLite's oldest limit (999).
_SQLITE_MAX_PARAMS = 900


@functools.lru_cache(maxsize=64)
def _sqlite_insert_sql(columns: tuple[str, ...], rows: int) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    one = "(" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT INTO events ({names}) VALUES {', '.join([one] * rows)} ON CONFLICT DO NOTHING"


def _sqlite_multi_row(rows: list[dict[str, Any]]) -> Iterator[tuple[str, tuple[Any, ...], int]]:
    """Events as multi-row VALUES statements for SQLite: (sql, parameters, rows), rows grouped by columns.

    Why not ``executemany``: the sqlite3 driver releases the GIL around every row's step, and
    while the event loop is busy (a fast replay) each re-acquisition waits out the switch interval
    (5 ms), so a 1,000-row batch took seconds and commits lagged the replay by thousands of rows.
    One statement per few dozen rows needs one hand-off for all of them. The SQL is written here
    rather than by SQLAlchemy because compiling a multi-row insert costs more than executing it;
    the events table's columns are plain strings and numbers, which need no bind processing.
    """
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(row), []).append(row)
    for columns, group in by_columns.items():
        step = max(1, _SQLITE_MAX_PARAMS // max(1, len(columns)))
        for start in range(0, len(group), step):
            chunk = group[start:start + step]
            params = tuple(value for row in chunk for value in row.values())
            yield _sqlite_insert_sql(columns, len(chunk)), params, len(chunk)


def _insert_ignoring_duplicates(dialect: str, table: sa.Table = events) -> sa.Insert:
    """INSERT into ``table`` that skips a row whose unique key is stored already: an event's (room,
    event_id, direction), a question's (room, event_id).

    SQLite and PostgreSQL say ON CONFLICT DO NOTHING; elsewhere a duplicate
    fails its batch and `Store._commit` isolates and counts it. PostgreSQL's
    insert returns the ids it wrote: a many-row insert's ``rowcount`` through
    psycopg does not count the rows written (a duplicate would count as stored).
    """
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
        return insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(table).on_conflict_do_nothing().returning(table.c.id)
    return table.insert()


def _sqlite_file(engine: sa.Engine) -> tuple[str | None, tuple[int, int] | None]:
    """The SQLite database file and its (device, inode) now; (None, None) for other databases or memory."""
    name = engine.url.database if engine.dialect.name == "sqlite" else None
    if not name or name == ":memory:" or name.startswith("file:"):
        return None, None
    path = os.path.abspath(name)
    try:
        stat = os.stat(path)
    except OSError:
        return None, None
    return path, (stat.st_dev, stat.st_ino)


def _redacted(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown as its scheme only
        return url.split(":", 1)[0] + ":…"


class Store:
    """Batched, durable event log. Thread-safe for writers; readers use their own connections."""

    def __init__(self, url: str, *, flush_interval: float = 0.5, batch_size: int = 1000,
                 busy_timeout: float = 5.0) -> None:
        if not 0 < flush_interval <= 1.0:
            raise ValueError("flush_interval must be in (0, 1] seconds")
        self.url = url
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        try:
            self.engine = sa.create_engine(url, future=True)
        except Exception as exc:  # noqa: BLE001 - bad URL or missing driver
            raise StoreError(f"cannot open database {_redacted(url)}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas(int(busy_timeout * 1000)))
        try:
            self.schema_before, self.schema_version = migrate(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot open database {_redacted(url)}: {exc.__class__.__name__}: "
                             f"{getattr(exc, 'orig', exc)}") from exc
        self._queue: queue.Queue[Any] = queue.Queue()
        self._committed = 0
        self._duplicates = 0
        self._set_aside_count = 0
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._writer_error: str | None = None
        self._closed = False
        self._insert_events = _insert_ignoring_duplicates(self.engine.dialect.name)
        self._insert_questions = _insert_ignoring_duplicates(self.engine.dialect.name, questions)
        self._file, self._file_identity = _sqlite_file(self.engine)
        # (room, event_id) of inbound events this process took: a second copy is refused without a query.
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Rooms whose stored ids were all in ``_seen`` when this process first saw them: their duplicates
        # can only be in ``_seen``, so no query is needed (False once a key of the room is forgotten).
        self._fresh_rooms: dict[str, bool] = {}
        self._seen_lock = threading.Lock()
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()

    # ---- writing ---------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Queue an inbound event for the next batch."""
        author = event.author
        text = command = reply_to = None
        mentions: Sequence[str] = ()
        if isinstance(event, MessageEvent):
            text, reply_to, mentions = event.text, event.reply_to, event.mentions
            if isinstance(event, CommandEvent):
                command = event.command
        elif isinstance(event, FeedbackEvent):
            text, reply_to = f"{event.value:+d}", event.target
        elif isinstance(event, ViewerCountEvent):
            text = str(event.count)  # kind "viewers"; the count, as feedback keeps its value in text
        self._put(events, {
            "event_id": event.event_id,
            "room": event.room.key,
            "platform": event.room.platform,
            "source": event.source,
            "kind": event.kind,
            "direction": "in",
            "user_key": author.key,
            "user_name": author.name,
            "role": author.role.label,
            "text": text,
            "command": command,
            "reply_to": reply_to,
            "mentions": json.dumps(list(mentions), ensure_ascii=False) if mentions else None,
            "flags": ",".join(sorted(event.flags)) if event.flags else None,
            "ts": event.ts.timestamp(),
            "recorded_at": time.time(),
        })

    def record_reply(self, reply: Reply, *, message_id: str, source: str, bot: User) -> None:
        """Queue a reply the bot sent (``message_id`` is the platform's id for it)."""
        now = time.time()
        self._put(events, {
            "event_id": message_id,
            "room": reply.room.key,
            "platform": reply.room.platform,
            "source": source,
            "kind": "reply",
            "direction": "out",
            "user_key": bot.key,
            "user_name": bot.name,
            "role": bot.role.label,
            "text": reply.text,
            "command": None,
            "reply_to": reply.reply_to,
            "mentions": None,
            "flags": "ephemeral" if reply.ephemeral else None,
            "ts": now,
            "recorded_at": now,
        })

    def record_question(self, row: dict[str, Any]) -> None:
        """Queue one handled question (columns of ``brain.store.schema.questions``).

        Columns a caller leaves out are NULL: one batch's rows must share their
        keys, or the batch could never commit.
        """
        self._put(questions, {**_QUESTION_NULLS, **row})

    def record_pin(self, *, room: str, product_id: str, product_name: str, user_key: str,
                   event_id: str | None, ts: float) -> None:
        """Queue one product pin (the host announced it in the room)."""
        self._put(pins, {"room": room, "product_id": product_id, "product_name": product_name,
                         "user_key": user_key, "event_id": event_id, "ts": ts})

    def _put(self, table: sa.Table, row: dict[str, Any]) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        if not self._writer.is_alive():
            raise StoreError(f"the store's writer has stopped ({self._writer_error or 'unknown cause'}); "
                             "nothing can be recorded")
        self._queue.put((table, row))

    def claim(self, event: Event) -> bool:
        """True if ``event`` is new: neither stored nor taken before by this process.

        An event's id identifies it within its room. A replayed file played
        again, or a platform redelivering after a reconnect, must neither be
        stored twice nor answered twice: the router drops events this refuses.
        (The database's unique index is the backstop across processes.) May
        query the database: `claim_in_memory` first, from an event loop.
        """
        decided = self.claim_in_memory(event)
        if decided is not None:
            return decided
        room, event_id = event.room.key, event.event_id
        fresh = self._fresh_rooms.get(room)
        if fresh is None:
            fresh = self._learn_room(room)
        if not fresh and self._is_stored(room, event_id):
            return False
        return self._take((room, event_id), fresh)

    def claim_in_memory(self, event: Event) -> bool | None:
        """`claim`'s answer when it needs no query (nearly always); None when the database must be asked."""
        key = (event.room.key, event.event_id)
        with self._seen_lock:
            if key in self._seen:
                return False
            fresh = self._fresh_rooms.get(key[0])
        return self._take(key, True) if fresh else None

    def _take(self, key: tuple[str, str], fresh: bool) -> bool:
        with self._seen_lock:
            if key in self._seen:
                return False
            self._fresh_rooms.setdefault(key[0], fresh)
            self._seen[key] = None
            self._forget_oldest()
        return True

    def _learn_room(self, room: str) -> bool:
        """First sight of ``room``: remember the ids it holds; True when all are now in memory.

        An empty room (a fresh replay) costs one query; a room with history up
        to `_PRELOAD_IDS` events (a replay run again or resumed) one query that
        loads its ids, instead of one query per event; a bigger room is checked
        event by event.
        """
        inbound = sa.and_(events.c.room == room, events.c.direction == "in")
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(events).where(inbound)).scalar_one()
            known = stored <= _PRELOAD_IDS
            ids = conn.execute(sa.select(events.c.event_id).where(inbound)).scalars().all() if stored and known else []
        with self._seen_lock:
            for event_id in ids:
                self._seen[(room, event_id)] = None
            self._fresh_rooms.setdefault(room, known)
            self._forget_oldest()
        return known

    def _forget_oldest(self) -> None:
        while len(self._seen) > _SEEN_KEYS:
            (old_room, _), _ = self._seen.popitem(last=False)
            self._fresh_rooms[old_room] = False  # its forgotten keys must be looked up from now on

    def _is_stored(self, room: str, event_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(events.c.id).where(
                events.c.room == room, events.c.event_id == event_id, events.c.direction == "in")
                .limit(1)).first() is not None

    def problems(self) -> list[str]:
        """What keeps the store from recording, in words; empty when all is well.

        Runs one query, and for a SQLite file checks that the file on disk is
        still the one being written: a database deleted or replaced while the
        bot runs keeps accepting writes into an unlinked file, lost at exit.
        """
        found: list[str] = []
        health = self.health()
        if not self._writer.is_alive() and not self._closed:
            found.append(f"the store's writer has stopped ({health.error or 'unknown cause'}); "
                         "nothing is being recorded")
        elif health.failing_for is not None:
            found.append(f"the database has refused commits for {health.failing_for:.0f} s ({health.error}); "
                         f"{health.backlog} rows wait")
        if self._file is not None:
            try:
                stat = os.stat(self._file)
            except OSError:
                found.append(f"the database file {self._file} is gone (deleted while the bot runs); "
                             "what is recorded now is lost at exit")
            else:
                if (stat.st_dev, stat.st_ino) != self._file_identity:
                    found.append(f"the database file {self._file} was replaced while the bot runs; "
                                 "the bot still writes the old one")
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
            found.append(f"the database is unreachable ({type(exc).__name__})")
        return found

    def health(self, *, failing_after: float = 30.0) -> StoreHealth:
        """The writer's state: alive, committing, what it set aside (cheap: no query)."""
        failing_for = None if self._failing_since is None else time.time() - self._failing_since
        alive = self._writer.is_alive() and not self._closed
        return StoreHealth(
            writing=alive and (failing_for is None or failing_for < failing_after),
            backlog=self._queue.qsize(), failing_for=failing_for, error=self._writer_error or self._last_error)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Block until every row queued so far is committed; False on timeout or when the writer has stopped."""
        if self._closed:
            return True
        if not self._writer.is_alive():
            return False  # nothing will ever commit them: do not make readers wait for a timeout
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, stop the writer and release the database."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join(timeout)
        self.engine.dispose()

    @property
    def committed(self) -> int:
        """Rows committed by this process (for progress and benchmarks)."""
        return self._committed

    @property
    def duplicates(self) -> int:
        """Events not written because the database already held them (another process's copy)."""
        return self._duplicates

    @property
    def set_aside(self) -> int:
        """Rows the database refused for their content, kept in ``dead_letters``."""
        return self._set_aside_count

    def _write_loop(self) -> None:
        """Run the writer until `close`; no exception ends it (a row it cannot write is set aside)."""
        try:
            self._write_batches()
        except BaseException as exc:  # noqa: BLE001 - recorded so health checks tell, never silent
            self._writer_error = f"{type(exc).__name__}: {exc}"
            log.critical("store: the writer stopped (%s); nothing more is recorded", self._writer_error,
                         exc_info=True)

    def _write_batches(self) -> None:
        pending: list[tuple[sa.Table, dict[str, Any]]] = []
        waiters: list[_Flush] = []
        deadline: float | None = None
        stopping = False
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                stopping = True
            elif isinstance(item, _Flush):
                waiters.append(item)
            elif item is not None:
                pending.append(item)
                if deadline is None:
                    deadline = time.monotonic() + self.flush_interval
                # Drain what is already queued without waiting, up to a batch.
                while len(pending) < self.batch_size:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        break
                    if isinstance(nxt, _Flush):
                        waiters.append(nxt)
                        break
                    pending.append(nxt)
            due = deadline is not None and time.monotonic() >= deadline
            if pending and (due or waiters or stopping or len(pending) >= self.batch_size):
                try:
                    pending = self._commit(pending)
                except Exception as exc:  # noqa: BLE001 - a bug here must cost a batch, not the writer
                    log.exception("store: unexpected error committing %d rows; setting them aside", len(pending))
                    self._set_aside(pending, exc)
                    pending = []
                if not pending:
                    deadline = None
                    self._failing_since = None
                elif not stopping:
                    deadline = time.monotonic() + min(1.0, self.flush_interval)
                    continue
            if not pending:
                for waiter in waiters:
                    waiter.done.set()
                waiters = []
            if stopping:
                return

    def _commit(self, rows: list[tuple[sa.Table, dict[str, Any]]]) -> list[tuple[sa.Table, dict[str, Any]]]:
        """Commit ``rows``; returns those still to write (all of them while the database is unavailable).

        One transaction per batch. When a batch fails because of its content (a
        value the driver cannot encode, a constraint), the batch is split in
        halves until the rows at fault are found: those are set aside
        (`_set_aside`), every other row is written.
        """
        try:
            self._insert(rows)
        except _TRANSIENT as exc:
            if self._failing_since is None:
                self._failing_since = time.time()
            self._last_error = f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}"
            log.error("store: could not commit %d rows to %s (%s); will retry",
                      len(rows), _redacted(self.url), getattr(exc, "orig", exc))
            return rows
        except Exception as exc:  # noqa: BLE001 - the rows' content: find the bad ones
            if len(rows) == 1:
                self._set_aside(rows, exc)
                return []
            half = len(rows) // 2
            rest = self._commit(rows[:half])
            if rest:  # the database went away meanwhile: keep everything not yet written
                return rest + rows[half:]
            return self._commit(rows[half:])
        return []

    def _insert(self, rows: list[tuple[sa.Table, dict[str, Any]]]) -> None:
        by_table: dict[sa.Table, list[dict[str, Any]]] = {}
        for table, row in rows:
            by_table.setdefault(table, []).append(row)
        skipped = 0
        with self.engine.begin() as conn:
            for table, table_rows in by_table.items():
                if table is events:
                    if self.engine.dialect.name == "sqlite":
                        for sql, params, count in _sqlite_multi_row(table_rows):
                            skipped += count - conn.exec_driver_sql(sql, params).rowcount
                    elif self.engine.dialect.name == "postgresql":
                        skipped += len(table_rows) - len(conn.execute(self._insert_events, table_rows).all())
                    else:
                        result = conn.execute(self._insert_events, table_rows)
                        if result.rowcount is not None and result.rowcount >= 0:
                            skipped += len(table_rows) - result.rowcount
                elif table is questions:  # a second outcome for a question (two workers at once) is dropped
                    conn.execute(self._insert_questions, table_rows)
                else:
                    conn.execute(table.insert(), table_rows)
        self._committed += len(rows) - skipped
        self._duplicates += skipped

    def _set_aside(self, rows: list[tuple[sa.Table, dict[str, Any]]], exc: BaseException) -> None:
        """Keep rows the database refused in ``dead_letters`` (as ASCII JSON, which any database stores).

        A duplicate event is not a fault: the store already holds it (a replayed
        file, a platform's redelivery), so it is only counted.
        """
        if isinstance(exc, sa.exc.IntegrityError) and all(table is events for table, _ in rows):
            self._duplicates += len(rows)
            return
        reason = f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}"[:1000]
        self._set_aside_count += len(rows)
        self._last_error = reason
        letters = [{"table_name": table.name, "payload": json.dumps(row, ensure_ascii=True, default=str),
                    "error": reason, "ts": time.time()} for table, row in rows]
        log.error("store: set aside %d row(s) the database refused (%s); kept in table dead_letters",
                  len(rows), reason)
        try:
            with self.engine.begin() as conn:
                conn.execute(dead_letters.insert(), letters)
        except Exception:  # noqa: BLE001 - last resort: the log keeps them
            for letter in letters:
                log.error("store: could not keep a refused row either: %s", letter["payload"])

    # ---- reading ---------------------------------------------------------------------

    def count(self, *, room: str | None = None, kind: str | None = None) -> int:
        """Committed rows, optionally for one room key and/or kind."""
        query = sa.select(sa.func.count()).select_from(events)
        if room is not None:
            query = query.where(events.c.room == room)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def rooms(self) -> list[tuple[str, int]]:
        """Every room key with inbound events, busiest first, with its event count."""
        self.flush()
        query = (sa.select(events.c.room, sa.func.count()).where(events.c.direction == "in")
                 .group_by(events.c.room).order_by(sa.func.count().desc(), events.c.room))
        with self.engine.connect() as conn:
            return [(room, int(n)) for room, n in conn.execute(query)]

    def room_summary(self, room: str) -> dict[str, Any]:
        """Counts for one room key: events by kind, distinct people, first and last time."""
        self.flush()
        inbound = events.c.direction == "in"
        with self.engine.connect() as conn:
            by_kind = dict(conn.execute(
                sa.select(events.c.kind, sa.func.count()).where(events.c.room == room)
                .group_by(events.c.kind)).all())
            people, first, last = conn.execute(
                sa.select(sa.func.count(sa.distinct(events.c.user_key)), sa.func.min(events.c.ts),
                          sa.func.max(events.c.ts)).where(events.c.room == room, inbound)).one()
        return {"by_kind": {k: int(v) for k, v in by_kind.items()}, "people": int(people),
                "first_ts": first, "last_ts": last}

    def iter_questions(self, *, room: str | None = None, statuses: Sequence[str] | None = None,
                       since: float | None = None, limit: int | None = None,
                       user_key: str | None = None) -> list[dict[str, Any]]:
        """Handled questions, newest first, as plain dicts (columns of ``brain.store.schema.questions``)."""
        self.flush()
        query = sa.select(questions)
        if room is not None:
            query = query.where(questions.c.room == room)
        if user_key is not None:
            query = query.where(questions.c.user_key == user_key)
        if statuses:
            query = query.where(questions.c.status.in_(list(statuses)))
        if since is not None:
            query = query.where(questions.c.ts >= since)
        query = query.order_by(questions.c.ts.desc(), questions.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def find_person(self, room: str, who: str) -> tuple[str, str] | None:
        """(user_key, user_name) of the person ``who`` (a name, ``@name`` or user key) seen in ``room``.

        Names are matched case-insensitively, the most recently active person
        first (two viewers may share a display name; the one in the room now
        is the one a moderator means).
        """
        self.flush()
        who = who.strip().lstrip("@")
        if not who:
            return None
        inbound = sa.and_(events.c.room == room, events.c.direction == "in")
        with self.engine.connect() as conn:
            for condition in (events.c.user_key == who, sa.func.lower(events.c.user_name) == who.lower()):
                row = conn.execute(sa.select(events.c.user_key, events.c.user_name).where(inbound, condition)
                                   .order_by(events.c.ts.desc()).limit(1)).first()
                if row is not None:
                    return row.user_key, row.user_name
        return None

    def question_for_reply(self, reply_id: str) -> dict[str, Any] | None:
        """The question whose posted answer has platform id ``reply_id`` (what a 👍/👎 judges)."""
        self.flush()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(questions).where(questions.c.reply_id == reply_id)
                               .order_by(questions.c.id).limit(1)).first()
        return dict(row._mapping) if row is not None else None

    def iter_pins(self, *, room: str, since: float | None = None) -> list[dict[str, Any]]:
        """Pins in a room, oldest first (to rebuild the ranking's pin memory after a restart)."""
        self.flush()
        query = sa.select(pins).where(pins.c.room == room)
        if since is not None:
            query = query.where(pins.c.ts >= since)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query.order_by(pins.c.ts, pins.c.id))]

    def iter_events(self, *, room: str | None = None, since: float | None = None,
                    until: float | None = None, kinds: Sequence[str] | None = None,
                    user_key: str | None = None, newest_first: bool = False,
                    limit: int | None = None) -> Iterator[StoredEvent]:
        """Committed events matching the filters, in time order (or newest first)."""
        query = sa.select(events)
        if room is not None:
            query = query.where(events.c.room == room)
        if since is not None:
            query = query.where(events.c.ts >= since)
        if until is not None:
            query = query.where(events.c.ts < until)
        if kinds:
            query = query.where(events.c.kind.in_(list(kinds)))
        if user_key is not None:
            query = query.where(events.c.user_key == user_key)
        order = (events.c.ts.desc(), events.c.id.desc()) if newest_first else (events.c.ts, events.c.id)
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield StoredEvent(
                    id=row.id, event_id=row.event_id, room=row.room, platform=row.platform,
                    kind=row.kind, direction=row.direction, user_key=row.user_key,
                    user_name=row.user_name, role=row.role, text=row.text, command=row.command,
                    reply_to=row.reply_to,
                    mentions=tuple(json.loads(row.mentions)) if row.mentions else (),
                    flags=frozenset(row.flags.split(",")) if row.flags else frozenset(),
                    ts=row.ts,
                )
