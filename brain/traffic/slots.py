"""Stream-time suggestions: `suggest_slots`, the `Slot`s it proposes and the `Suggestions` list holding them.

`suggest_slots` turns the forecast of the next week and the engagement of past
streams into a few start times with reasons a host can check.

The top of the traffic package: it combines an activity series
(`brain.traffic.series`), its sessions (`brain.traffic.live_sessions`) and an
hourly forecast (`brain.traffic.forecast`), and nothing below imports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

import numpy as np

from brain.text.plural import counted, plural
from brain.traffic.forecast import forecast
from brain.traffic.live_sessions import Session, find_sessions
from brain.traffic.series import HOUR, ActivitySeries, _zone

__all__ = ["Slot", "Suggestions", "suggest_slots"]


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
        confidence, caveat = "low", (f"; low confidence: only {counted(span_days, 'day')} and "
                                     f"{counted(len(sessions), 'stream')} of history")
    elif span_days < 42:
        confidence, caveat = "medium", f"; medium confidence: {counted(span_days / 7, 'week')} of history"
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
            why = (f"{day} {clock} averaged {_fmt(past_mean)} {unit} over {counted(k, 'stream')}; "
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
        extra = f"only {counted(len(chosen), 'start time')} {plural(len(chosen), 'stands', 'stand')} out"
        note = f"{extra}; {note}" if note else extra
    return Suggestions(chosen, note=note)
