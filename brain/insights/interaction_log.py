"""The interaction log: every question the bot handled, what it did, how viewers and moderators judged it.

One row per stored question (``brain.store.schema.questions``), with the 👍/👎
viewers gave its answer (feedback events whose ``reply_to`` is the question's
``reply_id``, in the same room) and the status of the moderator review of it
(``reviews`` on the same room and event id), where there is one.

Pages are read newest first by keyset, never by OFFSET: the cursor is the
``(ts, id)`` of a page's last row and the next page starts strictly after it,
so a page deep in a million rows costs what the first one does, and rows
arriving while someone pages neither repeat nor push rows out of view. Room,
viewer, question status and time have indexes of migration 4 that also yield
the order, so such a page reads about ``limit`` index entries. Text, model
and a common review status are checked row by row, in windows of the index
sized by how rare matches turn out to be, or in one pass over the table when
they are rarer than that is worth (`_fetch`). There is no ``COUNT(*)`` per
page (`count_matching` counts up to a cap when a caller wants a figure).
Feedback and review status are looked up for the page's rows only, in two
small queries.

`iter_rows` walks the same pages to stream an export, so an export of the
whole log never holds one read transaction open (SQLite's WAL could not be
checkpointed meanwhile). `unanswered_topics` is the grouping behind the
``/unanswered`` command, over the store's engine.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, NamedTuple, Sequence

import sqlalchemy as sa

from brain.moderation.review import DECIDED
from brain.store.schema import QUESTIONS_FTS, events, flagged_viewers, moderation_actions, questions, reviews
from brain.text.similarity import OverlapGroups

__all__ = ["LogFilter", "Cursor", "LogRow", "LogPage", "ViewerHistory", "UnansweredTopic",
           "QUESTION_STATUSES", "REVIEW_STATUSES", "EXPORT_FORMATS", "EXPORT_COLUMNS", "search", "count_matching", "iter_rows",
           "export", "viewer_history", "unanswered_topics"]

#: What the bot did with a question (``questions.status``).
QUESTION_STATUSES: tuple[str, ...] = ("answered", "abstained", "merged")
#: Where the moderator review of a question stands (``reviews.status``); a status filter with one of
#: these matches the questions whose review has it.
REVIEW_STATUSES: tuple[str, ...] = ("pending", *DECIDED)
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
#: Rows per page when streaming an export (one short read each).
_STREAM_PAGE = 1000


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which questions to show. Every field is optional; given ones must all match.

    ``since`` is inclusive and ``until`` exclusive (epoch seconds; a stream
    session is a since/until pair the caller resolves). ``text`` is a
    case-insensitive substring of the question (SQLite folds ASCII letters
    only). ``status`` is a question status or a review status.
    """

    room: str | None = None
    viewer: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in QUESTION_STATUSES + REVIEW_STATUSES:
            raise ValueError(f"unknown status {self.status!r}; use one of "
                             f"{', '.join(QUESTION_STATUSES + REVIEW_STATUSES)}")


class Cursor(NamedTuple):
    """Where a page ended: the ``(ts, id)`` of its last row. ``str()``/`parse` carry it through a URL or a shell."""

    ts: float
    id: int

    def __str__(self) -> str:
        return f"{self.ts!r}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        ts, sep, ident = text.strip().rpartition(":")
        try:
            if not sep:
                raise ValueError
            return cls(float(ts), int(ident))
        except ValueError:
            raise ValueError(f"{text!r} is not a log cursor (TS:ID, as a page's 'next' shows it)") from None


@dataclass(frozen=True, slots=True)
class LogRow:
    """One question of the log, with its feedback and review status."""

    id: int
    ts: float
    room: str
    event_id: str
    user_key: str
    user_name: str
    text: str
    lang: str
    status: str
    answer: str | None
    sources: tuple[dict[str, Any], ...]
    confidence: float | None
    latency_ms: float | None
    model: str | None
    merged_into: str | None
    reply_id: str | None
    answered_at: float
    feedback_up: int
    feedback_down: int
    review_status: str | None
    review_id: int | None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.ts, self.id)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (sources as a list)."""
        out = asdict(self)
        out["sources"] = list(self.sources)
        return out


#: Column order of exports (the fields of `LogRow`, with a readable UTC time first).
EXPORT_COLUMNS: tuple[str, ...] = ("time", *(f.name for f in fields(LogRow)))


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page, newest first; ``next`` continues after its last row, None when nothing is left."""

    rows: list[LogRow]
    next: Cursor | None


# ---- queries ---------------------------------------------------------------------------------------

def _contains(column: sa.ColumnElement[str], needle: str, dialect: str) -> sa.ColumnElement[bool]:
    """Case-insensitive substring. SQLite's LIKE already folds ASCII case, and ``lower()`` per row would
    cost a function call on every row a rare word makes the page scan."""
    if dialect == "sqlite":
        return column.contains(needle, autoescape=True)
    return column.icontains(needle, autoescape=True)


def _latest_review() -> sa.ColumnElement[bool]:
    """The review row is its question's latest (a question reviewed twice shows and filters by the last)."""
    later = reviews.alias("later")
    return reviews.c.id == (sa.select(sa.func.max(later.c.id))
                            .where(later.c.event_id == reviews.c.event_id, later.c.room == reviews.c.room)
                            .scalar_subquery())


def _review_match(status: str) -> sa.Exists:
    """Row by row: this question's latest review has ``status``."""
    return sa.exists().where(reviews.c.event_id == questions.c.event_id, reviews.c.room == questions.c.room,
                             reviews.c.status == status, _latest_review())


def _reviewed(status: str) -> sa.ColumnElement[bool]:
    """Questions whose latest review has ``status``, as the set of their ids (the reviews' index drives it)."""
    ids = (sa.select(questions.c.id)
           .join(reviews, sa.and_(reviews.c.event_id == questions.c.event_id, reviews.c.room == questions.c.room))
           .where(reviews.c.status == status, _latest_review()))
    return questions.c.id.in_(ids.scalar_subquery())


def _size(conn: sa.Connection) -> int:
    """About how many questions there are: the highest id, one index step instead of a count."""
    return int(conn.execute(sa.select(sa.func.max(questions.c.id))).scalar() or 0)


def _few_reviews(conn: sa.Connection, status: str, limit: int) -> bool:
    """Whether collecting every question reviewed with ``status`` beats walking the log and probing each row.

    Collecting costs about the number of such reviews, n; walking costs about
    limit x questions / n probes (a page needs ``limit`` hits at density
    n / questions). They break even at n = sqrt(limit x questions): about
    7,000 for a page of 50 in a million questions. Reviews are counted only
    up to that threshold.
    """
    threshold = int((max(limit, 1) * _size(conn)) ** 0.5)
    capped = sa.select(reviews.c.id).where(reviews.c.status == status).limit(threshold + 1).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(capped)).scalar_one()) <= threshold


@dataclass(frozen=True, slots=True)
class _Plan:
    """A filter as SQL: ``seek`` conditions an index of migration 4 serves in (ts, id) order, ``scan`` ones
    checked row by row (text, model, a common review status), and ``until`` as the cursor it is."""

    seek: list[sa.ColumnElement[bool]]
    scan: list[sa.ColumnElement[bool]]
    ceiling: "Cursor | None"
    #: The text filter as an id set from the full-text index (SQLite, migration 5), when it is rare enough.
    indexed: "sa.ColumnElement[bool] | None" = None

    def start(self, before: "Cursor | None") -> "Cursor | None":
        """Where the walk starts: the older of the page cursor and ``until``, so the index gets one upper bound
        (given two, SQLite seeks on one and filters the other, entry by entry)."""
        return min((c for c in (before, self.ceiling) if c is not None), default=None)


def _plan(conn: sa.Connection, flt: LogFilter, *, limit: int, dialect: str) -> _Plan:
    seek: list[sa.ColumnElement[bool]] = []
    scan: list[sa.ColumnElement[bool]] = []
    if flt.room is not None:
        seek.append(questions.c.room == flt.room)
    if flt.viewer is not None:
        seek.append(questions.c.user_key == flt.viewer)
    if flt.status in QUESTION_STATUSES:
        seek.append(questions.c.status == flt.status)
    elif flt.status is not None:
        if _few_reviews(conn, flt.status, limit):
            seek.append(_reviewed(flt.status))
        else:
            scan.append(_review_match(flt.status))
    if flt.since is not None:
        seek.append(questions.c.ts >= flt.since)
    if flt.text:
        scan.append(_contains(questions.c.text, flt.text, dialect))
    if flt.model is not None:
        scan.append(questions.c.model == flt.model)
    indexed = _rare_text(conn, flt.text) if flt.text and dialect == "sqlite" else None
    # ts < until is "older than (until, 0)": ids are positive.
    return _Plan(seek, scan, Cursor(flt.until, 0) if flt.until is not None else None, indexed)


#: Text matching at most this many questions is fetched through the full-text index, not by walking the log.
_RARE_TEXT = 5000


def _rare_text(conn: sa.Connection, needle: str) -> sa.ColumnElement[bool] | None:
    """``id IN (full-text matches)`` when the trigram index has the table and ``needle`` is rare in it.

    The trigram index finds substrings of 3+ characters case-insensitively,
    as LIKE does; the LIKE stays in the scan conditions, so the result is
    exactly LIKE's. A common word is left to the walk, which finds a page of
    it in the newest rows at once.
    """
    if len(needle) < 3 or not _has_fts(conn):
        return None
    phrase = '"' + needle.replace('"', '""') + '"'
    matches = sa.select(sa.column("rowid")).select_from(sa.table(QUESTIONS_FTS)).where(
        sa.text(f"{QUESTIONS_FTS} MATCH :phrase").bindparams(phrase=phrase))
    try:
        n = conn.execute(sa.select(sa.func.count()).select_from(matches.limit(_RARE_TEXT + 1).subquery())).scalar_one()
    except sa.exc.OperationalError:  # a needle FTS cannot parse: scan as before
        return None
    return questions.c.id.in_(matches) if n <= _RARE_TEXT else None


def _has_fts(conn: sa.Connection) -> bool:
    return conn.execute(sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"),
                        {"n": QUESTIONS_FTS}).first() is not None


def _older(cursor: Cursor | None, ts: sa.ColumnElement[float] = questions.c.ts) -> list[sa.ColumnElement[bool]]:
    """Strictly older than the cursor in (ts, id) order; ``ts <= c.ts`` on its own lets an index seek."""
    if cursor is None:
        return []
    return [ts <= cursor.ts, sa.or_(ts < cursor.ts, questions.c.id < cursor.id)]


def _not_older(cursor: Cursor) -> sa.ColumnElement[bool]:
    return sa.and_(questions.c.ts >= cursor.ts, sa.or_(questions.c.ts > cursor.ts, questions.c.id >= cursor.id))


#: Rows a page walks in index order before it judges how rare its matches are (see `_fetch`).
_PROBE = 20_000
#: Walking the index costs this many times a straight pass over the table, per row (0.31 vs 0.14 µs).
_WALK_COST = 2.2
_NEWEST = (questions.c.ts.desc(), questions.c.id.desc())


def _edge(conn: sa.Connection, seek: list[sa.ColumnElement[bool]], rows: int) -> Cursor | None:
    """The (ts, id) ``rows`` entries down the index from the top of ``seek``; None when fewer remain.

    Reads index entries only (ts and id are in every index of the log), no rows.
    """
    found = conn.execute(sa.select(questions.c.ts, questions.c.id).where(*seek).order_by(*_NEWEST)
                         .offset(rows - 1).limit(1)).first()
    return Cursor(*found) if found is not None else None


def _fetch(conn: sa.Connection, plan: _Plan, limit: int, before: Cursor | None) -> list[Any]:
    """Up to ``limit`` matching rows older than ``before``, newest first.

    Walking an index newest first finds a page at once when matches are
    common, but a word that matches nothing walks the whole index and looks
    up every row (0.3 s on a million rows), twice what one pass over the
    table costs. So a filter with row-by-row conditions walks windows of the
    index: `_PROBE` rows first, then as many as the density seen so far says
    the rest of the page needs, while that is cheaper than a pass over the
    table. Otherwise (nothing matched, or matches too rare) one pass over the
    older rows finishes the page, sorted (``ts + 0`` keeps SQLite off the
    index), a small sort since matches are rare by then.
    """
    start = plan.start(before)
    rows = sa.select(questions).order_by(*_NEWEST)
    if plan.indexed is not None:  # few matches: take them by id, sort those (``ts + 0``: off the ts index)
        shifted = questions.c.ts + 0
        return conn.execute(sa.select(questions).where(plan.indexed, *plan.seek, *plan.scan, *_older(start, shifted))
                            .order_by(shifted.desc(), questions.c.id.desc()).limit(limit)).all()
    if not plan.scan:
        return conn.execute(rows.where(*plan.seek, *_older(start)).limit(limit)).all()
    found: list[Any] = []
    walked, window, size = 0, _PROBE, None
    while True:
        seek = [*plan.seek, *_older(start)]
        edge = _edge(conn, seek, window)
        inside = [] if edge is None else [_not_older(edge)]
        found += conn.execute(rows.where(*seek, *plan.scan, *inside).limit(limit - len(found))).all()
        if edge is None or len(found) >= limit:
            return found
        start, walked = edge, walked + window
        size = _size(conn) if size is None else size
        needed = 2 * (limit - len(found)) * walked // len(found) if found else size
        if needed * _WALK_COST >= size:
            break
        window = max(needed, _PROBE)
    shifted = questions.c.ts + 0
    tail = conn.execute(sa.select(questions).where(*plan.seek, *plan.scan, *_older(start, shifted))
                        .order_by(shifted.desc(), questions.c.id.desc()).limit(limit - len(found))).all()
    return found + tail


def _feedback(conn: sa.Connection, rows: Sequence[Any]) -> dict[tuple[str, str], tuple[int, int]]:
    """(room, reply id) -> (👍, 👎) for the rows' posted answers."""
    reply_ids = sorted({r.reply_id for r in rows if r.reply_id})
    if not reply_ids:
        return {}
    query = (sa.select(events.c.room, events.c.reply_to, events.c.text, sa.func.count())
             .where(events.c.reply_to.in_(reply_ids), events.c.kind == "feedback")
             .group_by(events.c.room, events.c.reply_to, events.c.text))
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for room, reply_to, value, n in conn.execute(query):
        up, down = out.get((room, reply_to), (0, 0))
        sign = _sign(value)
        out[(room, reply_to)] = (up + n, down) if sign > 0 else (up, down + n) if sign < 0 else (up, down)
    return out


def _sign(value: str | None) -> int:
    """+1 / -1 as `Store.record` writes a FeedbackEvent's value; anything else counts for neither."""
    try:
        number = int(value or "")
    except ValueError:
        return 0
    return (number > 0) - (number < 0)


def _reviews(conn: sa.Connection, rows: Sequence[Any]) -> dict[tuple[str, str], tuple[str, int]]:
    """(room, event id) -> (status, id) of the latest review of each row's question."""
    event_ids = sorted({r.event_id for r in rows})
    if not event_ids:
        return {}
    query = (sa.select(reviews.c.room, reviews.c.event_id, reviews.c.status, reviews.c.id)
             .where(reviews.c.event_id.in_(event_ids)).order_by(reviews.c.id))
    return {(room, event_id): (status, rid) for room, event_id, status, rid in conn.execute(query)}


def _annotate(conn: sa.Connection, rows: Sequence[Any]) -> list[LogRow]:
    feedback = _feedback(conn, rows)
    review = _reviews(conn, rows)
    out = []
    for r in rows:
        up, down = feedback.get((r.room, r.reply_id), (0, 0)) if r.reply_id else (0, 0)
        status, review_id = review.get((r.room, r.event_id), (None, None))
        out.append(LogRow(
            id=r.id, ts=r.ts, room=r.room, event_id=r.event_id, user_key=r.user_key, user_name=r.user_name,
            text=r.text, lang=r.lang, status=r.status, answer=r.answer,
            sources=tuple(json.loads(r.sources)) if r.sources else (), confidence=r.confidence,
            latency_ms=r.latency_ms, model=r.model, merged_into=r.merged_into, reply_id=r.reply_id,
            answered_at=r.answered_at, feedback_up=up, feedback_down=down, review_status=status,
            review_id=review_id))
    return out


def search(engine: sa.Engine, flt: LogFilter, *, limit: int = 50, before: Cursor | tuple[float, int] | None = None
           ) -> LogPage:
    """One page of matching questions, newest first, starting after ``before`` (a previous page's ``next``)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    cursor = Cursor(*before) if before is not None else None
    with engine.connect() as conn:
        plan = _plan(conn, flt, limit=limit, dialect=engine.dialect.name)
        found = _fetch(conn, plan, limit + 1, cursor)  # one more than asked says whether a next page exists
        rows = _annotate(conn, found[:limit])
    return LogPage(rows, rows[-1].cursor if len(found) > limit else None)


def count_matching(engine: sa.Engine, flt: LogFilter, *, cap: int | None = 10_000) -> tuple[int, bool]:
    """How many questions match, counting at most ``cap`` (None: all); True when there are more than that.

    For "10,000+ questions" on a dashboard without a full count of a
    million-row table on every view; an export's progress bar passes None.
    """
    with engine.connect() as conn:
        plan = _plan(conn, flt, limit=cap or 1 << 40, dialect=engine.dialect.name)
        inner = sa.select(questions.c.id).where(*plan.seek, *plan.scan, *_older(plan.ceiling))
        if cap is not None:
            inner = inner.limit(cap + 1)
        n = int(conn.execute(sa.select(sa.func.count()).select_from(inner.subquery())).scalar_one())
    if cap is not None and n > cap:
        return cap, True
    return n, False


def iter_rows(engine: sa.Engine, flt: LogFilter, *, page: int = _STREAM_PAGE) -> Iterator[LogRow]:
    """Every matching question, newest first, read a page at a time (each page its own short read)."""
    before: Cursor | None = None
    while True:
        result = search(engine, flt, limit=page, before=before)
        yield from result.rows
        if result.next is None:
            return
        before = result.next


# ---- export --------------------------------------------------------------------------------------------

def _export_record(row: LogRow) -> dict[str, Any]:
    return {"time": datetime.fromtimestamp(row.ts, timezone.utc).isoformat(timespec="seconds"), **row.as_dict()}


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def export(engine: sa.Engine, flt: LogFilter, out_path: str | Path, fmt: Literal["csv", "jsonl"] = "csv",
           progress: Callable[[int], None] | None = None) -> int:
    """Write the matching questions to ``out_path`` (CSV with a header, or JSON Lines); returns the rows written.

    The file appears complete or not at all: rows go to ``<out>.part``,
    renamed over ``out_path`` at the end, so an interrupted export never
    leaves a truncated file that looks finished. ``progress`` gets the number
    of rows written after each page.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".part")
    written = 0
    try:
        with open(partial, "w", encoding="utf-8", newline="") as fh:
            write = _writer(fh, fmt)
            for chunk in _chunks(iter_rows(engine, flt), _STREAM_PAGE):
                for row in chunk:
                    write(_export_record(row))
                written += len(chunk)
                if progress is not None:
                    progress(len(chunk))
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _writer(fh: Any, fmt: str) -> Callable[[dict[str, Any]], None]:
    """One record at a time in ``fmt``; the CSV header goes out first."""
    if fmt == "jsonl":
        return lambda record: fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    return lambda record: writer.writerow({k: _csv_cell(v) for k, v in record.items()})


def _chunks(rows: Iterable[LogRow], size: int) -> Iterator[list[LogRow]]:
    chunk: list[LogRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---- one viewer ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ViewerHistory:
    """A viewer's questions (newest first), the moderator actions about them, and their flag if any."""

    user_key: str
    questions: list[LogRow]
    actions: list[dict[str, Any]]
    flag: dict[str, Any] | None


def viewer_history(engine: sa.Engine, user_key: str, limit: int = 50) -> ViewerHistory:
    """What a moderator looks at before flagging someone: their last questions and what was done about them."""
    asked = search(engine, LogFilter(viewer=user_key), limit=limit).rows
    with engine.connect() as conn:
        actions = conn.execute(
            sa.select(moderation_actions).where(moderation_actions.c.target_user == user_key)
            .order_by(moderation_actions.c.ts.desc(), moderation_actions.c.id.desc()).limit(limit)).all()
        flag = conn.execute(sa.select(flagged_viewers).where(flagged_viewers.c.user_key == user_key)).first()
    return ViewerHistory(user_key, asked, [dict(a._mapping) for a in actions],
                         dict(flag._mapping) if flag is not None else None)


# ---- unanswered topics -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class UnansweredTopic:
    """Questions the bot passed to the host that share their words, with everyone who asked."""

    text: str                    # the earliest question of the group
    asks: int                    # questions in the group, merged repeats included
    people: tuple[str, ...]      # distinct askers' names, in the order they asked
    rooms: tuple[str, ...]
    last_ts: float


#: Word overlap (Jaccard of `similarity_terms`) for two abstained questions to be one topic.
TOPIC_OVERLAP = 0.5


def unanswered_topics(engine: sa.Engine, room: str | None = None, since: float | None = None, limit: int = 20,
                      *, scan: int = 2000) -> list[UnansweredTopic]:
    """Abstained questions grouped by shared words, most asked first (then most recent).

    Reads the newest ``scan`` abstained and merged questions. A merged
    question counts for the group of the question it was merged into (the
    burst's lead, same room). Grouping is greedy in time order: a question
    joins the first group whose first question's words overlap by at least
    `TOPIC_OVERLAP`, as ``/unanswered`` has always grouped.
    """
    query = sa.select(questions.c.room, questions.c.event_id, questions.c.user_name, questions.c.text,
                      questions.c.status, questions.c.merged_into, questions.c.ts)
    query = query.where(questions.c.status.in_(("abstained", "merged")))
    if room is not None:
        query = query.where(questions.c.room == room)
    if since is not None:
        query = query.where(questions.c.ts >= since)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(questions.c.ts.desc(), questions.c.id.desc()).limit(scan)).all()
    topics: OverlapGroups[dict[str, Any]] = OverlapGroups(TOPIC_OVERLAP)
    group_of: dict[tuple[str, str], dict[str, Any]] = {}
    for row in sorted((r for r in rows if r.status == "abstained"), key=lambda r: r.ts):
        group = topics.get(row.text, lambda text: {"text": text, "askers": [], "rooms": [], "last": 0.0})
        group["askers"].append(row.user_name)
        group["rooms"].append(row.room)
        group["last"] = max(group["last"], row.ts)
        group_of[(row.room, row.event_id)] = group
    for row in rows:
        lead = group_of.get((row.room, row.merged_into)) if row.status == "merged" else None
        if lead is not None:
            lead["askers"].append(row.user_name)
    groups = sorted(topics.groups(), key=lambda g: (-len(g["askers"]), -g["last"]))
    return [UnansweredTopic(text=g["text"], asks=len(g["askers"]), people=tuple(dict.fromkeys(g["askers"])),
                            rooms=tuple(dict.fromkeys(g["rooms"])), last_ts=g["last"])
            for g in groups[:max(0, limit)]]
