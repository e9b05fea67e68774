"""Live sessions (streams, as chat shows them) in an activity series: `find_sessions`, `Session`.

A session is a run of buckets with messages broken by no silence longer than a
gap. Its own module because both the stream-time suggestions
(`brain.traffic.slots`, engagement of past streams) and the insights
(`brain.insights.sessions`, per-stream summaries) segment a series this way;
named ``live_sessions`` so as not to clash with `brain.insights.sessions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brain.traffic.series import ActivitySeries

__all__ = ["Session", "find_sessions"]


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
