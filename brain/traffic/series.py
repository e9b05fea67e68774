"""Traffic of a room: activity series, forecasts, live anomalies and stream-time suggestions (issue 7).

Everything here reads the event log (`brain.store.event_store.Store`) and nothing writes it.

* `activity_series` buckets one room's inbound events by minute (or hour, day,
  week) in SQL: ``GROUP BY`` on ``ts / step``, so a million stored events
  become a series in well under a second and nothing per event crosses into
  Python. Distinct chatters are counted by the database per bucket, so they
  are exact at every step (summing minute buckets could not give hourly
  uniques).
* `forecast` / `Forecaster` predict the next hours (or minutes) with an
  interval. The seasonal model is a robust seasonal-profile regression
  (``log1p`` counts, daily and weekly profiles shrunk by empirical Bayes,
  recency-weighted, median loss); series too short for a season get
  exponential smoothing tuned to the forecast horizon. docs/traffic.md has
  the comparison (MSTL + ETS, Holt-Winters, seasonal naive) that picked them.
* `AnomalyDetector` flags spikes (a raid, a viral clip) and drops (stream
  down, chat dead) on a live per-minute series in O(1) per minute.
* `suggest_slots` turns the forecast of the next week and the engagement of
  past streams into a few start times with reasons a host can check.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import sqlalchemy as sa
from scipy.signal import lfilter

from brain.text.questions import detect_question
from brain.store.schema import events, questions as questions_table

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from brain.store.event_store import Store, StoredEvent

log = logging.getLogger(__name__)

__all__ = [
    "MINUTE", "HOUR", "DAY", "WEEK", "METRICS",
    "ActivitySeries", "activity_series", "weekly_profile",
    "Forecast", "Forecaster", "forecast",
    "Anomaly", "AnomalyDetector",
    "Session", "find_sessions", "Slot", "Suggestions", "suggest_slots",
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


# ---- forecasting --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Forecast:
    """Point forecasts and a central prediction interval for the next ``len(mean)`` steps.

    ``mean`` is the point forecast. For the seasonal and smoothing models it
    is a conditional median rather than a mean: the models are fitted with an
    absolute-error loss on a transformed scale, and the median is what MAE
    (and MASE) rewards. ``method`` names the model actually used (after any
    fallback); ``note`` says why a fallback was taken.
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    method: str
    note: str = ""

    def __len__(self) -> int:
        return len(self.mean)


_METHODS = ("auto", "profile", "ses", "naive", "snaive", "ets", "mstl")


class Forecaster:
    """Fit once on a regular series (one value per step, oldest first), then predict any horizon.

    ``season``: the period(s) in steps, e.g. ``(24, 168)`` for hourly data
    with a daily and weekly rhythm; 1 means none. A season is used only when
    the series holds two full cycles of it.

    ``method="auto"`` (the default) takes the seasonal profile model when a
    season is usable, horizon-tuned exponential smoothing (``ses``) otherwise,
    and the naive forecast with an empirical interval for fewer than 8
    points. A constant series gets a flat forecast with a zero-width interval.
    ``naive``, ``snaive``, ``ets`` (statsmodels ETS, damped trend) and
    ``mstl`` (statsmodels MSTL + ETS) are there for comparisons (docs/traffic.md).

    Values may be NaN (missing); they are skipped by the profile model and
    interpolated for the others. If no value is negative the series is taken
    as counts: modelled on a ``log1p`` (profile) or square-root (smoothing)
    scale and clipped at zero.
    """

    def __init__(self, season: int | Sequence[int] = 1, *, level: float = 0.8, method: str = "auto",
                 half_life_cycles: float = 6.0, max_cycles: int = 12) -> None:
        if not 0 < level < 1:
            raise ValueError("level must be in (0, 1), e.g. 0.8")
        if method not in _METHODS:
            raise ValueError(f"unknown forecast method {method!r} (known: {', '.join(_METHODS)})")
        seasons = [season] if isinstance(season, (int, float, np.integer, np.floating)) else list(season)
        if any(not isinstance(p, (int, float, np.integer, np.floating)) or int(p) != p or p < 1 for p in seasons):
            raise ValueError(f"seasons must be positive whole numbers of steps, got {season!r}")
        self.seasons = tuple(sorted({int(p) for p in seasons if p > 1}))
        self.level = float(level)
        self.requested = method
        self.half_life_cycles = half_life_cycles
        self.max_cycles = max_cycles
        self.method = ""
        self.note = ""
        self._model: Any = None

    # -- fitting --

    def fit(self, series: Sequence[float] | np.ndarray, *, horizon: int | None = None) -> "Forecaster":
        """Fit the model. ``horizon`` (steps) tunes the smoothing model to the forecast it will make."""
        y = np.asarray(series, dtype=np.float64).ravel()
        if not len(y):
            raise ValueError("cannot forecast an empty series")
        if np.isinf(y).any():
            raise ValueError("the series contains infinite values")
        observed = ~np.isnan(y)
        if not observed.any():
            raise ValueError("the series has no observed (non-NaN) value")
        self.n = len(y)
        self.counts = bool(np.nanmin(y) >= 0)
        filled = _interpolate(y, observed)
        usable = tuple(p for p in self.seasons if int(observed.sum()) >= 2 * p and len(y) >= 2 * p)
        method, note = self.requested, ""
        lo_v, hi_v = np.nanmin(y), np.nanmax(y)
        if hi_v - lo_v <= 1e-12 * max(1.0, abs(hi_v)):
            method, note = "constant", "constant series: flat forecast, zero-width interval"
        elif method == "auto":
            if usable:
                method = "profile"
            elif len(y) >= 8:
                method = "ses"
                if self.seasons:
                    note = (f"{len(y)} points: too short for season {min(self.seasons)} (needs two cycles, "
                            f"{2 * min(self.seasons)} points); non-seasonal smoothing")
            else:
                method, note = "naive", f"only {len(y)} points: naive forecast with an empirical interval"
        elif method in ("profile", "snaive", "mstl") and not usable:
            fallback = "ses" if len(y) >= 8 else "naive"
            note = f"{method} needs two cycles of a season; fell back to {fallback}"
            method = fallback
        horizon = max(1, int(horizon)) if horizon else (max(usable) if usable else 1)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # statsmodels' ConvergenceWarning & co: we judge fits by backtests
            if method == "constant":
                self._model = _Constant(float(np.nanmean(y)))
            elif method == "profile":
                self._model = _Profile(usable, half_life_cycles=self.half_life_cycles,
                                       max_cycles=self.max_cycles, counts=self.counts).fit(y, observed)
            elif method == "ses":
                self._model = _SES(counts=self.counts).fit(filled, horizon, self.level)
            elif method == "naive":
                self._model = _Naive(1).fit(filled, self.level)
            elif method == "snaive":
                self._model = _Naive(max(usable)).fit(filled, self.level)
            elif method == "ets":
                self._model = _ETS(counts=self.counts).fit(filled)
            elif method == "mstl":
                self._model = _MSTL(usable, counts=self.counts).fit(filled)
        self.method, self.note = method, note
        return self

    def predict(self, horizon: int) -> Forecast:
        """Forecast the next ``horizon`` steps after the fitted series."""
        if self._model is None:
            raise RuntimeError("call fit() before predict()")
        if horizon < 1:
            raise ValueError("horizon must be at least 1")
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            mean, lower, upper = self._model.predict(int(horizon), self.level)
        mean, lower, upper = (np.asarray(a, dtype=np.float64) for a in (mean, lower, upper))
        if self.counts:
            mean, lower, upper = (np.maximum(a, 0.0) for a in (mean, lower, upper))
        lower, upper = np.minimum(lower, mean), np.maximum(upper, mean)
        return Forecast(mean=mean, lower=lower, upper=upper, level=self.level, method=self.method, note=self.note)


def forecast(series: Sequence[float] | np.ndarray, *, horizon: int, season: int | Sequence[int] = 1,
             level: float = 0.8, method: str = "auto") -> Forecast:
    """Fit a `Forecaster` to ``series`` and forecast ``horizon`` steps (see `Forecaster`)."""
    return Forecaster(season, level=level, method=method).fit(series, horizon=horizon).predict(horizon)


def _interpolate(y: np.ndarray, observed: np.ndarray) -> np.ndarray:
    if observed.all():
        return y.copy()
    idx = np.arange(len(y))
    return np.interp(idx, idx[observed], y[observed])


def _quantiles(level: float) -> tuple[float, float]:
    return (1.0 - level) / 2.0, (1.0 + level) / 2.0


class _Constant:
    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flat = np.full(h, self.value)
        return flat, flat.copy(), flat.copy()


class _Naive:
    """Last value (``lag`` 1) or last cycle (``lag`` = season), with empirical quantiles of lagged changes."""

    def __init__(self, lag: int) -> None:
        self.lag = lag

    def fit(self, y: np.ndarray, level: float) -> "_Naive":
        self.y = y
        self.q = (0.0, 0.0)
        if len(y) > self.lag + 1:
            self.q = tuple(np.quantile(y[self.lag:] - y[:-self.lag], _quantiles(level)))
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.lag == 1:
            mean = np.full(h, self.y[-1])
            widen = np.sqrt(np.arange(1, h + 1))  # a random walk's spread grows with the horizon
        else:
            mean = np.resize(self.y[-self.lag:], h)
            widen = np.sqrt(1 + np.arange(h) // self.lag)
        return mean, mean + self.q[0] * widen, mean + self.q[1] * widen


def _fwd(y: np.ndarray, kind: str) -> np.ndarray:
    if kind == "log1p":
        return np.log1p(np.maximum(y, 0.0))
    if kind == "sqrt":
        return np.sqrt(np.maximum(y, 0.0))
    return y


def _inv(z: np.ndarray, kind: str) -> np.ndarray:
    if kind == "log1p":
        return np.expm1(np.minimum(z, 700.0))
    if kind == "sqrt":
        return np.maximum(z, 0.0) ** 2
    return z


class _Profile:
    """Robust seasonal-profile regression on ``log1p`` counts.

    z_t = a + b·u_t + Σ_p s_p[t mod p] + e_t, with u the time in cycles of the
    longest season, fitted on the last ``max_cycles`` cycles with recency
    weights (half-life ``half_life_cycles`` cycles) and an absolute loss
    (iteratively reweighted least squares, so skipped streams and raids do not
    drag the profile). The blocks are fitted by backfitting: each update is a
    per-phase weighted mean (``np.bincount``), O(n) for any period.

    Each phase of a seasonal block is shrunk towards zero (that is, towards
    the shorter seasons and the level) by the larger of two factors: the
    block's empirical-Bayes factor τ²/(τ² + v) (v: the sampling variance of a
    phase's estimate, τ²: the spread of the block's effects beyond it) and
    the phase's own non-negative garrote max(0, 1 - v/effect²). The first
    keeps a broad weekly rhythm (weekends busier), the second a few large,
    sparse effects (the Saturday stream that runs two hours longer) that a
    normal prior would flatten; a weekly block that is mostly noise (few
    weeks, no weekday effect) fades to the daily profile. The factors are
    estimated once, from the unshrunk first pass. ``shrink`` selects "eb",
    "garrote" or "max" (the default), or a fixed ridge weight (comparisons).

    The interval comes from empirical quantiles of the recent residuals,
    widened for the parameters fitted (√(n / (n - p))), or from the errors of
    the same model fitted without the last cycle and scored on it, whichever
    is wider: in-sample residuals alone miss skipped streams and shifted starts.
    """

    def __init__(self, seasons: Sequence[int], *, half_life_cycles: float, max_cycles: int, counts: bool,
                 iterations: int = 8, shrink: str | float = "max", min_trend_cycles: float = 2.0,
                 trend_weight: str = "traffic", backtest: bool = True) -> None:
        self.seasons = tuple(sorted(seasons))
        self.backtest = backtest
        self.holdout: np.ndarray | None = None
        self.trend_weight = trend_weight
        self.shrink = shrink
        self.min_trend_cycles = min_trend_cycles
        self.half_life = half_life_cycles
        self.max_cycles = max_cycles
        self.kind = "log1p" if counts else "none"
        self.iterations = iterations

    def fit(self, y: np.ndarray, observed: np.ndarray) -> "_Profile":
        n = len(y)
        P = self.seasons[-1]
        keep = min(n, self.max_cycles * P)
        t = np.arange(n - keep, n)
        obs = observed[-keep:]
        z = _fwd(np.where(obs, y[-keep:], 0.0), self.kind)
        u = (t - (n - 1)) / P
        w0 = 0.5 ** (-u / self.half_life) * obs
        cycles = obs.sum() / P
        self.use_trend = cycles >= self.min_trend_cycles
        phases = [t % p for p in self.seasons]
        blocks = [np.zeros(p) for p in self.seasons]
        a = float(np.sum(w0 * z) / np.sum(w0))
        b = 0.0
        w = w0.copy()
        seasonal = np.zeros(keep)
        fitted = np.full(keep, a)
        factors: list[np.ndarray | None] = [None] * len(self.seasons)
        for iteration in range(self.iterations):
            for _sweep in range(2):
                # level and trend, given the seasonal blocks
                r = z - seasonal
                if self.use_trend:
                    # The slope is weighted by the traffic each hour carries (exp of its fitted log-level):
                    # on a streamer's series most hours are near zero, and their flat medians would
                    # otherwise hide the growth of the hours that matter.
                    omega = w * np.exp(np.minimum(seasonal + a, 50.0)) if self.trend_weight == "traffic" else w
                    so = omega.sum()
                    uc = u - (omega * u).sum() / so
                    den = (omega * uc * uc).sum()
                    b = float((omega * uc * r).sum() / den) if den > 1e-12 else 0.0
                a = float((w * (r - b * u)).sum() / w.sum())
                level = a + b * u
                for i, p in enumerate(self.seasons):
                    own = blocks[i][phases[i]]
                    partial = z - level - (seasonal - own)
                    sw_p = np.bincount(phases[i], weights=w, minlength=p)
                    est = np.bincount(phases[i], weights=w * partial, minlength=p) / np.maximum(sw_p, 1e-300)
                    est[sw_p <= 0] = 0.0
                    if factors[i] is None and iteration == 1:
                        # Shrinkage is estimated once, from the unshrunk first pass, then held: re-estimating
                        # it from shrunk fits feeds on itself (IRLS down-weights what the shrinkage left out).
                        factors[i] = self._shrink(i, phases[i], w0, partial - est[phases[i]], est, sw_p > 0)
                    if factors[i] is not None:
                        est = est * factors[i]
                    est -= est[sw_p > 0].mean() if (sw_p > 0).any() else 0.0
                    seasonal = seasonal - own + est[phases[i]]
                    blocks[i] = est
            fitted = a + b * u + seasonal
            resid = z - fitted
            scale = np.median(np.abs(resid[obs])) if obs.any() else 0.0
            w = w0 / np.maximum(np.abs(resid), max(1e-3, 0.05 * scale))
        self.a, self.b, self.blocks, self.n = a, b, blocks, n
        resid = (z - fitted)[obs]
        recent = resid[-min(len(resid), 4 * P):]
        params = 2 + sum(self.seasons)
        m = len(resid)
        self.inflate = float(min(2.0, math.sqrt(m / max(m - params, m / 4.0))))
        self.resid = recent
        # a fitted trend may not more than double (or halve) the level per cycle ahead
        self.b = float(np.clip(self.b, -math.log(2.0), math.log(2.0)))
        if self.backtest and n >= 3 * P and observed[-P:].any():
            # The interval also answers to honest errors: the same model fitted without the last
            # cycle, scored on it. In-sample residuals alone miss skipped streams and shifted starts.
            past = _Profile(self.seasons, half_life_cycles=self.half_life, max_cycles=self.max_cycles,
                            counts=self.kind == "log1p", iterations=self.iterations, shrink=self.shrink,
                            min_trend_cycles=self.min_trend_cycles, trend_weight=self.trend_weight,
                            backtest=False).fit(y[:-P], observed[:-P])
            last = observed[-P:]
            self.holdout = (_fwd(y[-P:], self.kind) - past._z(P))[last]
        return self

    def _shrink(self, i: int, phase: np.ndarray, w0: np.ndarray, resid: np.ndarray, est: np.ndarray,
                seen: np.ndarray) -> np.ndarray:
        """Empirical-Bayes factor τ²/(τ² + v) per phase of block ``i``."""
        p = self.seasons[i]
        sw = np.bincount(phase, weights=w0, minlength=p)
        if not isinstance(self.shrink, str):
            unit = sw[seen].mean() if seen.any() else 1.0
            return np.where(seen, sw / (sw + float(self.shrink) * unit), 0.0)
        sw2 = np.bincount(phase, weights=w0 * w0, minlength=p)
        ok = seen & (sw > 0)
        if ok.sum() < 2:
            return np.zeros(p)
        sigma2 = (1.4826 * np.median(np.abs(resid[w0 > 0]))) ** 2 if (w0 > 0).any() else 0.0
        v = np.where(ok, sigma2 * sw2 / np.maximum(sw, 1e-300) ** 2, np.inf)
        tau2 = max(float(np.var(est[ok]) - np.mean(v[ok])), 0.0)
        eb = np.where(ok, tau2 / (tau2 + v), 0.0) if tau2 > 0.0 else np.zeros(p)
        if self.shrink == "eb":
            return eb
        garrote = np.where(ok, np.maximum(0.0, 1.0 - v / np.maximum(est * est, 1e-300)), 0.0)
        if self.shrink == "garrote":
            return garrote
        return np.maximum(eb, garrote)

    def _z(self, h: int) -> np.ndarray:
        """The point forecast on the model's scale."""
        t = np.arange(self.n, self.n + h)
        u = (t - (self.n - 1)) / self.seasons[-1]
        z = self.a + (self.b * u if self.use_trend else 0.0)
        return z + sum(block[t % p] for p, block in zip(self.seasons, self.blocks))

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = self._z(h)
        q_lo, q_hi = np.quantile(self.resid, _quantiles(level)) if len(self.resid) else (0.0, 0.0)
        q_lo, q_hi = q_lo * self.inflate, q_hi * self.inflate
        if self.holdout is not None:  # out-of-sample errors of the last cycle, when they are wider
            b_lo, b_hi = np.quantile(self.holdout, _quantiles(level))
            q_lo, q_hi = min(q_lo, b_lo), max(q_hi, b_hi)
        return _inv(z, self.kind), _inv(z + q_lo, self.kind), _inv(z + q_hi, self.kind)


#: Smoothing constants tried by `_SES` (per step).
_ALPHAS = np.array([0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.25, 0.35, 0.5, 0.7, 1.0])


class _SES:
    """Simple exponential smoothing on √counts, its constant chosen for the forecast it will make.

    The usual fit minimises one-step errors, which on chat data picks a
    constant near 1: the level chases every burst and the model becomes the
    naive forecast. Here α minimises the absolute error of the forecasts at
    every horizon 1..H over the history (each level compared with the values
    1..H steps later), which is the error the forecast will be judged by.
    The interval: empirical quantiles of those h-step errors, per horizon.
    """

    def __init__(self, counts: bool) -> None:
        self.kind = "sqrt" if counts else "none"

    @staticmethod
    def _levels(z: np.ndarray, alpha: float) -> np.ndarray:
        init = float(np.mean(z[:max(1, min(len(z), int(round(1.0 / alpha))))]))
        levels, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], z, zi=[(1.0 - alpha) * init])
        return levels

    def fit(self, y: np.ndarray, horizon: int, level: float) -> "_SES":
        z = _fwd(y, self.kind)
        n = len(z)
        burn = min(n // 4, 10)
        H = max(1, min(horizon, (n - burn) // 2))
        best: tuple[float, float, np.ndarray] | None = None
        for alpha in _ALPHAS:
            lv = self._levels(z, float(alpha))
            pred = _inv(lv, self.kind)
            err = 0.0
            count = 0
            for h in range(1, H + 1):
                e = np.abs(y[burn + h:] - pred[burn:n - h])
                err += float(e.sum())
                count += len(e)
            score = err / max(count, 1)
            if best is None or score < best[0] - 1e-12:
                best = (score, float(alpha), lv)
        assert best is not None
        _, self.alpha, lv = best
        self.last = float(lv[-1])
        self.q = np.zeros((H, 2))
        for h in range(1, H + 1):
            r = z[burn + h:] - lv[burn:n - h]
            self.q[h - 1] = np.quantile(r, _quantiles(level)) if len(r) else (0.0, 0.0)
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = np.full(h, self.last)
        rows = np.minimum(np.arange(h), len(self.q) - 1)
        extra = np.sqrt(np.maximum(1.0, (np.arange(h) + 1) / len(self.q)))  # beyond the measured horizons
        q = self.q[rows] * extra[:, None]
        return _inv(z, self.kind), _inv(z + q[:, 0], self.kind), _inv(z + q[:, 1], self.kind)


class _ETS:
    """statsmodels ETS (additive error, damped additive trend) on √counts: a comparison baseline."""

    def __init__(self, counts: bool) -> None:
        self.kind = "sqrt" if counts else "none"

    def fit(self, y: np.ndarray) -> "_ETS":
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        z = pd.Series(_fwd(y, self.kind))  # statsmodels' prediction frame wants an index
        self.n = len(z)
        self.result = ETSModel(z, error="add", trend="add", damped_trend=True).fit(disp=False)
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frame = self.result.get_prediction(self.n, self.n + h - 1).summary_frame(alpha=1.0 - level)
        return tuple(_inv(frame[c].to_numpy(), self.kind) for c in ("mean", "pi_lower", "pi_upper"))  # type: ignore[return-value]


class _MSTL:
    """statsmodels MSTL (on the last 8 cycles, log1p) + ETS on the seasonally adjusted rest: a comparison."""

    def __init__(self, seasons: Sequence[int], counts: bool) -> None:
        self.seasons = tuple(sorted(seasons))
        self.kind = "log1p" if counts else "none"

    def fit(self, y: np.ndarray) -> "_MSTL":
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
        from statsmodels.tsa.seasonal import MSTL, STL

        P = self.seasons[-1]
        z = _fwd(y[-min(len(y), 8 * P):], self.kind)
        if len(self.seasons) > 1:
            seasonal = np.asarray(MSTL(z, periods=self.seasons).fit().seasonal).reshape(len(z), -1)
        else:
            seasonal = np.asarray(STL(z, period=P).fit().seasonal).reshape(len(z), 1)
        kept = self.seasons[:seasonal.shape[1]]  # MSTL drops periods of half the series or more
        self.last = [seasonal[-p:, i] for i, p in enumerate(kept)]
        self.n = len(z)
        self.result = ETSModel(pd.Series(z - seasonal.sum(axis=1)), error="add", trend="add",
                               damped_trend=True).fit(disp=False)
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frame = self.result.get_prediction(self.n, self.n + h - 1).summary_frame(alpha=1.0 - level)
        s = sum(np.resize(last, h) for last in self.last)
        return tuple(_inv(frame[c].to_numpy() + s, self.kind) for c in ("mean", "pi_lower", "pi_upper"))  # type: ignore[return-value]


# ---- live anomalies -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Anomaly:
    """A minute that does not look like the room: a ``spike`` or a ``drop``, with the evidence."""

    kind: str          # spike | drop
    index: int         # how many values the detector had seen (0-based position of this one)
    ts: float | None   # the minute's time, when given
    value: float
    expected: float
    score: float       # robust z-score: (value - expected) / scale
    reason: str


class AnomalyDetector:
    """Spikes and drops on a live per-minute count, fed one minute at a time, O(1) per update.

    The baseline is a robust EWMA: the level follows normal minutes with
    weight ``alpha`` and the scale is an EWMA of their absolute deviation
    (×1.25, the normal ratio of σ to the mean absolute deviation); for counts
    the scale is at least √level (Poisson noise), so a quiet room never
    raises a "drop" for a minute of silence. Anomalous minutes do not feed the
    scale and move the level at a quarter of the rate, winsorised to level ±
    ``clip`` scales: a raid cannot teach the baseline that raids are normal.

    * spike: z ≥ ``threshold`` on one minute (a raid shows at once);
    * drop: ``drop_minutes`` minutes in a row with z ≤ -``drop_threshold`` or
      below ``drop_ratio`` × level (in a room of at least ``drop_min_level``):
      one empty minute in a busy room is chance, three are a dead stream.

    One episode gives one notice: after a notice the detector stays in the
    episode until ``recover_minutes`` normal minutes in a row, and gives no
    notice of the same kind for ``cooldown`` minutes. An episode that lasts
    ``rebase_after`` minutes is the new normal: the baseline then learns at
    full rate. The first ``warmup`` minutes never alarm (the baseline is a
    running mean). A forecast can stand in for the baseline:
    ``update(value, expected=..., lower=..., upper=...)`` judges the minute
    against the forecast interval instead, so a seasonal room's evening peak
    is no spike.
    """

    def __init__(self, *, warmup: int = 30, alpha: float = 0.05, threshold: float = 6.0,
                 drop_threshold: float = 3.5, drop_ratio: float = 0.2, drop_min_level: float = 3.0,
                 drop_minutes: int = 3, cooldown: int = 20, recover_minutes: int = 3, rebase_after: int = 60,
                 clip: float = 3.0, counts: bool = True, min_scale: float = 1.0,
                 unit: str = "messages/min") -> None:
        if warmup < 1 or not 0 < alpha <= 1 or threshold <= 0 or drop_threshold <= 0 or drop_minutes < 1:
            raise ValueError("warmup, alpha, thresholds and drop_minutes must be positive (alpha <= 1)")
        self.warmup, self.alpha, self.threshold = warmup, alpha, threshold
        self.drop_threshold, self.drop_ratio, self.drop_min_level = drop_threshold, drop_ratio, drop_min_level
        self.drop_minutes, self.cooldown, self.recover_minutes = drop_minutes, cooldown, recover_minutes
        self.rebase_after, self.clip, self.counts = rebase_after, clip, counts
        self.min_scale, self.unit = min_scale, unit
        self.seen = 0          # values fed (NaN included)
        self.updates = 0       # values that updated the baseline
        self.level = 0.0
        self._mad = 0.0
        self._low_run = 0
        self._normal_run = 0
        self._episode: str | None = None  # spike | drop while one is going on
        self._episode_len = 0
        self._quiet_until = {"spike": -1, "drop": -1}
        self.last: Anomaly | None = None

    @property
    def scale(self) -> float:
        """The current noise scale (≈ σ) the z-scores divide by."""
        floor = math.sqrt(max(self.level, 0.0)) if self.counts else 0.0
        return max(1.25 * self._mad, floor, self.min_scale)

    @property
    def episode(self) -> str | None:
        """"spike" or "drop" while an anomaly that was noticed is still going on."""
        return self._episode

    def update(self, value: float, ts: float | None = None, *, expected: float | None = None,
               lower: float | None = None, upper: float | None = None, level: float = 0.8) -> Anomaly | None:
        """Feed one minute; returns an `Anomaly` when this minute raises a notice, else None."""
        index = self.seen
        self.seen += 1
        x = float(value)
        if math.isnan(x):
            return None  # a missing minute neither updates the baseline nor alarms
        if self.updates < self.warmup:
            self._learn_warm(x)
            return None
        if expected is not None:
            centre = float(expected)
            if upper is not None and lower is not None and upper > lower:
                scale = max((float(upper) - float(lower)) / (2 * _normal_quantile((1 + level) / 2)),
                            self.min_scale)
            else:
                scale = max(math.sqrt(max(centre, 0.0)) if self.counts else 0.0, self.min_scale)
        else:
            centre, scale = self.level, self.scale
        z = (x - centre) / scale
        high = z >= self.threshold
        low = z <= -self.drop_threshold or (centre >= self.drop_min_level and x <= self.drop_ratio * centre)
        self._low_run = self._low_run + 1 if low else 0
        notice: Anomaly | None = None
        if self._episode is None:
            if high and index > self._quiet_until["spike"]:
                notice = Anomaly("spike", index, ts, x, centre, z,
                                 f"spike: {x:.0f} {self.unit} vs usual {centre:.1f} ± {scale:.1f} (z={z:+.1f})")
            elif self._low_run >= self.drop_minutes and index > self._quiet_until["drop"]:
                notice = Anomaly("drop", index, ts, x, centre, z,
                                 f"drop: {x:.0f} {self.unit} for {self._low_run} min vs usual {centre:.1f} "
                                 f"± {scale:.1f} (z={z:+.1f})")
            if notice is not None:
                self._episode, self._episode_len, self._normal_run = notice.kind, 0, 0
                self._quiet_until[notice.kind] = index + self.cooldown
                self.last = notice
        else:
            self._episode_len += 1
            still = (z >= self.threshold / 2) if self._episode == "spike" else low
            self._normal_run = 0 if still else self._normal_run + 1
            if self._normal_run >= self.recover_minutes:
                self._episode = None
        anomalous = abs(z) >= self.clip or low
        rebased = self._episode is not None and self._episode_len >= self.rebase_after
        self._learn(x, anomalous=anomalous and not rebased)
        return notice

    def _learn_warm(self, x: float) -> None:
        self.updates += 1
        if self.updates == 1:
            self.level = x
            return
        a = max(self.alpha, 1.0 / self.updates)  # a running mean until 1/n falls below alpha
        self._mad += max(self.alpha, 1.0 / (self.updates - 1)) * (abs(x - self.level) - self._mad)
        self.level += a * (x - self.level)

    def _learn(self, x: float, *, anomalous: bool) -> None:
        self.updates += 1
        s = self.scale
        xw = min(max(x, self.level - self.clip * s), self.level + self.clip * s)
        if anomalous:
            self.level += 0.25 * self.alpha * (xw - self.level)
            return
        self._mad += self.alpha * (abs(x - self.level) - self._mad)
        self.level += self.alpha * (x - self.level)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


# ---- sessions and stream-time suggestions -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Session:
    """One stretch of activity (a stream, as chat shows it): no gap longer than the session gap."""

    start: float   # UTC epoch of the first active bucket
    end: float     # end of the last active bucket
    messages: int
    chatter_minutes: int  # sum of per-bucket distinct chatters

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / 60.0

    @property
    def messages_per_min(self) -> float:
        return self.messages / max(self.minutes, 1.0)

    @property
    def chatters_per_min(self) -> float:
        """Mean distinct chatters per minute over the session (at a minute step: people chatting at once)."""
        return self.chatter_minutes / max(self.minutes, 1.0)

    def engagement(self, metric: str) -> float:
        return self.chatters_per_min if metric == "chatters" else self.messages_per_min


def find_sessions(series: ActivitySeries, *, gap_minutes: float = 30.0, min_minutes: float = 10.0) -> list[Session]:
    """Split a series into sessions: runs of buckets with messages, broken by more than ``gap_minutes`` silence.

    Runs shorter than ``min_minutes`` (a stray message at night) are dropped.
    """
    active = np.flatnonzero(series.messages > 0)
    if not len(active):
        return []
    gap_buckets = gap_minutes * 60.0 / series.step
    breaks = np.flatnonzero(np.diff(active) - 1 > gap_buckets)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(active) - 1]])
    msg_cum = np.concatenate([[0], np.cumsum(series.messages)])
    cht_cum = np.concatenate([[0], np.cumsum(series.chatters)])
    out: list[Session] = []
    for s, e in zip(starts, ends):
        first, last = int(active[s]), int(active[e])
        start = series.start + first * series.step
        end = series.start + (last + 1) * series.step
        if (end - start) / 60.0 < min_minutes:
            continue
        out.append(Session(start=start, end=end, messages=int(msg_cum[last + 1] - msg_cum[first]),
                           chatter_minutes=int(cht_cum[last + 1] - cht_cum[first])))
    return out


@dataclass(frozen=True, slots=True)
class Slot:
    """A suggested stream start, in the room's time zone, with the audience to expect and why."""

    start: datetime
    end: datetime
    expected: float      # per minute, in ``unit``
    lower: float
    upper: float
    unit: str            # chatters/min | messages/min
    past_streams: int    # past sessions that started on this weekday within the hour
    past_mean: float | None
    forecast: float
    confidence: str      # low | medium | high
    reason: str


class Suggestions(list):  # list[Slot] with the reason when it is short or empty
    """The slots (best first) and a ``note``: why there are none, or how far to trust them."""

    def __init__(self, slots: Iterable[Slot] = (), note: str = "") -> None:
        super().__init__(slots)
        self.note = note


_DAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


def _as_aware(now: datetime | float) -> datetime:
    if isinstance(now, datetime):
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
        return now
    return datetime.fromtimestamp(float(now), tz=timezone.utc)


def _hourly_rate(series: ActivitySeries, metric: str, until: float) -> tuple[float, np.ndarray]:
    """Per-minute rate of ``metric`` in every UTC hour from the series' first hour to the hour before ``until``."""
    if HOUR % series.step:
        raise ValueError(f"history step must divide an hour, got {series.step} s")
    values = series.metric("chatters" if metric == "chatters" else "messages").astype(np.float64)
    first_hour = math.floor(series.start / HOUR)
    last_hour = math.floor(until / HOUR) - 1
    n = max(0, last_hour - first_hour + 1)
    out = np.zeros(n)
    if n:
        hours = np.floor(series.ts / HOUR).astype(np.int64) - first_hour
        ok = (hours >= 0) & (hours < n)
        np.add.at(out, hours[ok], values[ok])
    return float(first_hour * HOUR), out / 60.0


def _fmt(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"


def suggest_slots(history: ActivitySeries, *, now: datetime | float, tz: str, top: int = 3,
                  duration_minutes: int = 120, sessions: Sequence[Session] | None = None,
                  metric: str = "chatters", days: int = 7, gap_minutes: float = 30.0) -> Suggestions:
    """The ``top`` stream starts of the next ``days`` days, best first, at most one per local day.

    Each candidate start (every hour, local time) is scored by the audience
    expected over ``duration_minutes``: the hourly forecast of the next week
    (seasonal profile of the room's history, `forecast`), blended with the
    engagement of past streams that started on the same weekday within the
    hour (a session: activity with no gap over ``gap_minutes``), weighted by
    how many there were: ``(k·past + 2·forecast) / (k + 2)``. ``metric`` is
    ``"chatters"`` (distinct chatters per minute) or ``"messages"`` (per
    minute). ``history`` must be a minute (or finer-than-hourly) series;
    values after ``now`` are ignored.

    Hours expected below a tenth of the best are never suggested (fewer than
    ``top`` slots then, and the ``note`` says so). An unknown ``tz`` raises
    ValueError; an empty history returns no slots
    and a ``note`` saying so; a short one (under two weeks or three sessions)
    marks its slots "low" confidence and says why.
    """
    zone = _zone(tz)
    if metric not in ("chatters", "messages"):
        raise ValueError("metric must be 'chatters' or 'messages'")
    if top < 1 or duration_minutes < 1 or days < 1:
        raise ValueError("top, duration_minutes and days must be positive")
    moment = _as_aware(now)
    now_ts = moment.timestamp()
    unit = f"{metric}/min"
    if len(history) == 0 or not (history.messages[history.ts < now_ts] > 0).any():
        return Suggestions([], note=f"no chat recorded for {history.room or 'this room'} before {moment:%Y-%m-%d}: "
                                    f"stream a few times, then ask again")
    if sessions is None:
        sessions = find_sessions(history, gap_minutes=gap_minutes)
    sessions = [s for s in sessions if s.start < now_ts]
    start_hour, rate = _hourly_rate(history, metric, now_ts)
    span_days = len(rate) / 24.0
    horizon = days * 24 + math.ceil(duration_minutes / 60) + 1
    fc = forecast(rate, horizon=horizon, season=(24, 168))
    next_hour = math.floor(now_ts / HOUR) + (0 if now_ts % HOUR == 0 else 1)
    offset = next_hour - (math.floor(start_hour / HOUR) + len(rate))  # forecast index of next_hour
    # past sessions by (local weekday, local hour) of their start
    by_slot: dict[tuple[int, int], list[float]] = {}
    for s in sessions:
        local = datetime.fromtimestamp(s.start, tz=zone)
        by_slot.setdefault((local.weekday(), local.hour), []).append(s.engagement(metric))
    if span_days < 14 or len(sessions) < 3:
        confidence, caveat = "low", (f"; low confidence: only {span_days:.0f} days and {len(sessions)} "
                                     f"stream{'s' if len(sessions) != 1 else ''} of history")
    elif span_days < 42:
        confidence, caveat = "medium", f"; medium confidence: {span_days / 7:.0f} weeks of history"
    else:
        confidence, caveat = "high", ""
    hours = max(1, math.ceil(duration_minutes / 60))
    k_prior = 2.0
    candidates = []
    for i in range(days * 24):
        j = offset + i
        if j < 0 or j + hours > len(fc):
            continue
        f_mean = float(fc.mean[j:j + hours].mean())
        f_lo, f_hi = float(fc.lower[j:j + hours].mean()), float(fc.upper[j:j + hours].mean())
        begin = datetime.fromtimestamp((next_hour + i) * HOUR, tz=zone)
        past = by_slot.get((begin.weekday(), begin.hour), [])
        k = len(past)
        past_mean = float(np.mean(past)) if past else None
        expected = (k * past_mean + k_prior * f_mean) / (k + k_prior) if past_mean is not None else f_mean
        shift = expected - f_mean
        lo, hi = max(0.0, f_lo + shift), max(0.0, f_hi + shift)
        day, clock = _DAYS[begin.weekday()], f"{begin:%H:%M}"
        if past_mean is not None:
            why = (f"{day} {clock} averaged {_fmt(past_mean)} {unit} over {k} stream{'s' if k != 1 else ''}; "
                   f"forecast {_fmt(f_mean)} ({_fmt(f_lo)}–{_fmt(f_hi)})")
        else:
            why = (f"no past stream started {day} {clock}; forecast {_fmt(f_mean)} ({_fmt(f_lo)}–{_fmt(f_hi)}) "
                   f"{unit} from the room's weekly pattern")
        slot_conf = confidence if (confidence != "high" or k >= 2) else "medium"
        candidates.append(Slot(start=begin, end=begin + timedelta(minutes=duration_minutes), expected=expected,
                               lower=min(lo, expected), upper=max(hi, expected), unit=unit, past_streams=k,
                               past_mean=past_mean, forecast=f_mean, confidence=slot_conf, reason=why + caveat))
    candidates.sort(key=lambda s: (-s.expected, s.start))
    chosen: list[Slot] = []
    best = candidates[0].expected if candidates else 0.0
    for slot in candidates:
        if slot.expected <= max(0.1 * best, 1e-9):
            break  # the rest are hours the room is empty: not worth suggesting
        if all(slot.start.date() != c.start.date() for c in chosen):  # one start per local day
            chosen.append(slot)
        if len(chosen) == top:
            break
    note = caveat.lstrip("; ") if caveat else ""
    if not chosen:
        note = "no hour of the next week is expected to have any audience" + (f" ({note})" if note else "")
    elif len(chosen) < top:
        extra = f"only {len(chosen)} start time{'s' if len(chosen) != 1 else ''} stand{'s' if len(chosen) == 1 else ''} out"
        note = f"{extra}; {note}" if note else extra
    return Suggestions(chosen, note=note)
