"""Activity series of a room: its inbound events bucketed by minute (or hour, day, week), with no gaps.

The base of the traffic package (issue 7): forecasts (`brain.traffic.forecast`),
sessions (`brain.traffic.live_sessions`) and stream-time suggestions
(`brain.traffic.slots`) all read an `ActivitySeries`. It lives apart from them
because it is the only part that touches the event log
(`brain.store.event_store.Store`), and it only reads it.

`activity_series` buckets one room's inbound events in SQL: ``GROUP BY`` on
``ts / step``, so a million stored events become a series in well under a
second and nothing per event crosses into Python. Distinct chatters are counted
by the database per bucket, so they are exact at every step (summing minute
buckets could not give hourly uniques). `MAX_SERIES_BUCKETS` bounds how long a
series may get. `weekly_profile` is the weekday x local-hour roll-up a host reads.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import sqlalchemy as sa

from brain.store.schema import events
from brain.store.schema import questions as questions_table
from brain.text.questions import detect_question

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from brain.store.event_store import Store, StoredEvent

log = logging.getLogger(__name__)

__all__ = [
    "MINUTE", "HOUR", "DAY", "WEEK", "METRICS", "MAX_SERIES_BUCKETS",
    "ActivitySeries", "activity_series", "weekly_profile",
]

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 604800
#: 1970-01-01 was a Thursday: week buckets are shifted four days so that they start on Monday 00:00 UTC.
_WEEK_OFFSET = 4 * DAY
METRICS = ("messages", "chatters", "questions", "joins", "viewers")


# ---- activity series ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ActivitySeries:
    """One room's activity per bucket of ``step`` seconds, from ``start`` (UTC epoch), with no gaps.

    Counts are zero where nothing happened. ``viewers`` is the last count
    reported in the bucket, carried forward over at most ``viewers_ffill``
    buckets and NaN beyond (a stream that stopped reporting is not assumed
    to keep its audience).
    """

    room: str
    step: int
    start: float
    messages: np.ndarray    # inbound chat lines (kind "chat")
    chatters: np.ndarray    # distinct people who chatted in the bucket
    questions: np.ndarray   # questions: the questions table, or detected in chat text
    joins: np.ndarray       # join events
    viewers: np.ndarray     # float64, NaN where unknown
    questions_source: str = "table"  # table | detected

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def ts(self) -> np.ndarray:
        """Start of every bucket, UTC epoch seconds."""
        return self.start + self.step * np.arange(len(self), dtype=np.float64)

    @property
    def end(self) -> float:
        """End of the last bucket (exclusive)."""
        return self.start + self.step * len(self)

    def metric(self, name: str) -> np.ndarray:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r} (known: {', '.join(METRICS)})")
        return getattr(self, name)

    def index(self) -> "pd.DatetimeIndex":
        import pandas as pd

        return pd.to_datetime(self.ts, unit="s", utc=True)

    def to_frame(self) -> "pd.DataFrame":
        """The series as a DataFrame indexed by bucket start (tz-aware UTC)."""
        import pandas as pd

        return pd.DataFrame({m: self.metric(m) for m in METRICS}, index=self.index())


def _bucket_of(column: Any, dialect: str, step: int, offset: float) -> Any:
    """``floor((ts - offset) / step)`` in SQL. SQLite's CAST truncates, which is floor for ts >= offset."""
    x = (column - offset) / float(step)
    if dialect == "sqlite":
        return sa.cast(x, sa.Integer)
    return sa.cast(sa.func.floor(x), sa.BigInteger)


def _offset(step: int) -> float:
    return float(_WEEK_OFFSET) if step == WEEK else 0.0


def activity_series(source: "Store | Iterable[StoredEvent]", room: str | None = None, *, step: int = MINUTE,
                    since: float | None = None, until: float | None = None, questions: str = "auto",
                    viewers_ffill: int = 10) -> ActivitySeries:
    """Per-bucket activity of one room, from a `Store` (bucketed in SQL) or from stored events (numpy).

    ``since``/``until`` (UTC epoch) bound the series; by default it spans the
    room's first to last inbound event. ``questions``: ``"table"`` counts the
    questions the brain handled (``Store.record_question``), ``"detect"`` runs
    `brain.text.questions.detect_question` on every chat line (slower: Python per
    line), ``"auto"`` uses the table when it holds any row for the room and
    detection otherwise (and always for plain events, which have no table).
    Buckets are aligned to the epoch (days at 00:00 UTC, weeks on Monday).
    """
    if step <= 0 or int(step) != step:
        raise ValueError("step must be a positive whole number of seconds")
    if questions not in ("auto", "table", "detect"):
        raise ValueError("questions must be 'auto', 'table' or 'detect'")
    step = int(step)
    from brain.store.event_store import Store

    if isinstance(source, Store):
        if room is None:
            raise ValueError("activity_series(store, room): the room key is required")
        source.flush()
        return _series_from_store(source, room, step, since, until, questions, viewers_ffill)
    return _series_from_events(source, room, step, since, until, viewers_ffill)


#: The most buckets one series holds (about two years of minutes, ~50 MB for its six arrays). Events are
#: checked against a window around now when they arrive; this bounds what an old or hand-edited
#: database can ask for (a year-0001 row once made a report allocate 39 GiB).
MAX_SERIES_BUCKETS = 1_000_000


def _span(first: int | None, last: int | None, step: int, offset: float, since: float | None,
          until: float | None) -> tuple[int, int]:
    """The buckets [lo, hi] a series covers: the asked span, else the data's, at most the latest
    `MAX_SERIES_BUCKETS`."""
    lo = math.floor((since - offset) / step) if since is not None else first
    hi = math.ceil((until - offset) / step) - 1 if until is not None else last
    if lo is None or hi is None or hi < lo:
        base = lo if lo is not None else (hi if hi is not None else 0)
        return int(base), int(base) - 1
    if hi - lo + 1 > MAX_SERIES_BUCKETS:
        # Too long to be real: end it by tomorrow (a year-9999 typo says nothing) and keep what precedes.
        asked = hi - lo + 1
        hi = max(lo, min(hi, math.floor((time.time() + DAY - offset) / step)))
        lo = max(lo, hi - MAX_SERIES_BUCKETS + 1)
        log.warning("traffic: a series of %d buckets of %d s asked for; keeping %d up to %s", asked, step,
                    hi - lo + 1, datetime.fromtimestamp(hi * step + offset, timezone.utc).isoformat())
    return int(lo), int(hi)


def _scatter(n: int, lo: int, buckets: np.ndarray, values: np.ndarray, dtype: Any = np.int64) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    if n and len(buckets):
        idx = np.asarray(buckets, dtype=np.int64) - lo
        ok = (idx >= 0) & (idx < n)
        np.add.at(out, idx[ok], np.asarray(values)[ok])
    return out


def _viewers(n: int, lo: int, buckets: np.ndarray, counts: np.ndarray, ffill: int) -> np.ndarray:
    """Last value per bucket (rows come in time order), carried forward over at most ``ffill`` buckets."""
    out = np.full(n, np.nan)
    if not n or not len(buckets):
        return out
    idx = np.asarray(buckets, dtype=np.int64) - lo
    ok = (idx >= 0) & (idx < n)
    out[idx[ok]] = np.asarray(counts, dtype=np.float64)[ok]  # later rows overwrite earlier: the last wins
    if ffill > 0:
        have = ~np.isnan(out)
        last = np.where(have, np.arange(n), -1)
        last = np.maximum.accumulate(last)
        fill = (~have) & (last >= 0) & (np.arange(n) - last <= ffill)
        out[fill] = out[last[fill]]
    return out


def _parse_count(text: str | None) -> float:
    try:
        return float(int(str(text).strip()))
    except (TypeError, ValueError):
        return math.nan


def _series_from_store(store: "Store", room: str, step: int, since: float | None, until: float | None,
                       questions: str, viewers_ffill: int) -> ActivitySeries:
    dialect = store.engine.dialect.name
    offset = _offset(step)
    b = _bucket_of(events.c.ts, dialect, step, offset).label("b")
    where = [events.c.room == room, events.c.direction == "in"]
    if since is not None:
        where.append(events.c.ts >= since)
    if until is not None:
        where.append(events.c.ts < until)
    with store.engine.connect() as conn:
        # Two scans of the room's rows: chat grouped by bucket in SQL (the bulk of the rows), and the
        # rarer kinds fetched raw (joins, viewer counts in time order, commands for the span).
        chat = conn.execute(sa.select(b, sa.func.count(), sa.func.count(sa.distinct(events.c.user_key)))
                            .where(*where, events.c.kind == "chat").group_by(b)).all()
        rare = conn.execute(sa.select(b, events.c.kind, events.c.text)
                            .where(*where, events.c.kind.in_(("join", "viewers", "command")))
                            .order_by(events.c.ts, events.c.id)).all()
        use_table = questions == "table"
        if questions == "auto":
            use_table = conn.execute(sa.select(questions_table.c.id).where(questions_table.c.room == room)
                                     .limit(1)).first() is not None
        if use_table:
            qb = _bucket_of(questions_table.c.ts, dialect, step, offset).label("b")
            qwhere = [questions_table.c.room == room]
            if since is not None:
                qwhere.append(questions_table.c.ts >= since)
            if until is not None:
                qwhere.append(questions_table.c.ts < until)
            qrows = conn.execute(sa.select(qb, sa.func.count()).where(*qwhere).group_by(qb)).all()
        else:
            qrows = []
            for bucket, text in conn.execute(sa.select(b, events.c.text).where(*where, events.c.kind == "chat")):
                if text and detect_question(text) is not None:
                    qrows.append((bucket, 1))
    joins = [(r[0], 1) for r in rare if r[1] == "join"]
    viewers = [(r[0], r[2]) for r in rare if r[1] == "viewers"]
    every = [r[0] for r in chat] + [r[0] for r in rare]
    first, last = (min(every), max(every)) if every else (None, None)
    lo, hi = _span(first, last, step, offset, since, until)
    n = hi - lo + 1
    cb = np.array([r[0] for r in chat], dtype=np.int64)
    vb = np.array([r[0] for r in viewers], dtype=np.int64)
    return ActivitySeries(
        room=room, step=step, start=lo * step + offset,
        messages=_scatter(n, lo, cb, np.array([r[1] for r in chat], dtype=np.int64)),
        chatters=_scatter(n, lo, cb, np.array([r[2] for r in chat], dtype=np.int64)),
        questions=_scatter(n, lo, np.array([r[0] for r in qrows], dtype=np.int64),
                           np.array([r[1] for r in qrows], dtype=np.int64)),
        joins=_scatter(n, lo, np.array([r[0] for r in joins], dtype=np.int64),
                       np.array([r[1] for r in joins], dtype=np.int64)),
        viewers=_viewers(n, lo, vb, np.array([_parse_count(r[1]) for r in viewers]), viewers_ffill),
        questions_source="table" if use_table else "detected",
    )


def _series_from_events(items: "Iterable[StoredEvent]", room: str | None, step: int, since: float | None,
                        until: float | None, viewers_ffill: int) -> ActivitySeries:
    offset = _offset(step)
    chat_ts: list[float] = []
    chat_users: list[str] = []
    q_ts: list[float] = []
    join_ts: list[float] = []
    view_ts: list[float] = []
    view_n: list[float] = []
    other_ts: list[float] = []
    seen_room = room
    for ev in items:
        if ev.direction != "in" or (room is not None and ev.room != room):
            continue
        if (since is not None and ev.ts < since) or (until is not None and ev.ts >= until):
            continue
        seen_room = seen_room or ev.room
        if ev.kind == "chat":
            chat_ts.append(ev.ts)
            chat_users.append(ev.user_key)
            if ev.text and detect_question(ev.text) is not None:
                q_ts.append(ev.ts)
        elif ev.kind == "join":
            join_ts.append(ev.ts)
        elif ev.kind == "viewers":
            view_ts.append(ev.ts)
            view_n.append(_parse_count(ev.text))
        elif ev.kind == "command":
            other_ts.append(ev.ts)

    def bucket(ts: list[float]) -> np.ndarray:
        return np.floor((np.asarray(ts, dtype=np.float64) - offset) / step).astype(np.int64)

    cb, qb, jb, vb, ob = bucket(chat_ts), bucket(q_ts), bucket(join_ts), bucket(view_ts), bucket(other_ts)
    every = np.concatenate([cb, jb, vb, ob])
    first = int(every.min()) if len(every) else None
    last = int(every.max()) if len(every) else None
    lo, hi = _span(first, last, step, offset, since, until)
    n = hi - lo + 1
    chatters = np.zeros(max(n, 0), dtype=np.int64)
    if len(cb) and n > 0:
        _, user_codes = np.unique(np.asarray(chat_users, dtype=object).astype(str), return_inverse=True)
        pairs = np.unique(np.stack([cb, user_codes.astype(np.int64)]), axis=1)
        chatters = _scatter(n, lo, pairs[0], np.ones(pairs.shape[1], dtype=np.int64))
    order = np.argsort(np.asarray(view_ts), kind="stable")
    ones = np.ones  # noqa: N806 - short for the four count arrays below
    return ActivitySeries(
        room=seen_room or "", step=step, start=lo * step + offset,
        messages=_scatter(n, lo, cb, ones(len(cb), dtype=np.int64)),
        chatters=chatters,
        questions=_scatter(n, lo, qb, ones(len(qb), dtype=np.int64)),
        joins=_scatter(n, lo, jb, ones(len(jb), dtype=np.int64)),
        viewers=_viewers(n, lo, vb[order] if len(vb) else vb, np.asarray(view_n)[order] if len(vb) else vb,
                         viewers_ffill),
        questions_source="detected",
    )


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {tz!r} (use an IANA name such as 'Europe/Berlin')") from exc


def weekly_profile(series: ActivitySeries, *, tz: str = "UTC", metric: str = "messages") -> "pd.DataFrame":
    """Mean ``metric`` per bucket for each weekday × local hour (7 rows Mon..Sun, 24 columns).

    The weekly roll-up a host reads ("Friday evenings are busy"); local time
    follows ``tz`` through daylight-saving changes. Cells never observed are NaN.
    """
    import pandas as pd

    zone = _zone(tz)
    values = series.metric(metric).astype(np.float64)
    local = series.index().tz_convert(zone)
    frame = pd.DataFrame({"weekday": local.day_of_week, "hour": local.hour, "value": values})
    table = frame.groupby(["weekday", "hour"])["value"].mean().unstack("hour")
    table = table.reindex(index=range(7), columns=range(24))
    table.index = pd.Index(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], name="weekday")
    return table
