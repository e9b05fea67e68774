"""Whether a timed promo posts now: hold it in a quiet room, delay it in a flood, cap the room's rate.

Nightbot holds a timer back until enough chat lines have passed since it last
posted; that is the quiet rule here too (a promo in an empty room reaches
nobody, and a room of promos reads like spam when someone arrives). Two more
rules cover what a line count misses:

* **Flood.** Above ``flood_per_minute`` chat lines a minute a promo scrolls away
  before anyone reads it, so it is delayed (``retry_after``) until the flood
  subsides, but never by more than ``max_flood_delay`` from when it came due:
  after that it posts anyway. Delaying rather than skipping keeps the promo's
  cadence; the bound is the no-starvation guarantee.
* **Rate cap.** At most ``max_per_hour`` promos per room in any rolling hour,
  across all of the room's promos. When the cap binds, held promos queue by
  the time they came due, so each one gets its turn: a promo that keeps losing
  the race to a freed slot would otherwise never post.

The quiet rule holds without a bound on purpose: a dead room never gets promos.

All times are passed in (seconds, any epoch): nothing reads the wall clock, so
a test drives the gate with a fake one. Chat activity is kept as per-second
buckets with running totals over ``retention`` seconds, so `observe` is O(1)
amortised and `decide` O(log n): a host with 1,000 promos costs no more per
decision than a host with one.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right, insort
from dataclasses import dataclass
from typing import Hashable

from brain.text.plural import counted

__all__ = ["GateDecision", "PromoGate"]

_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What to do with a promo that is due.

    ``retry_after`` is in seconds: ask again then with the same ``due_ts``. None
    means skip this run and wait for the promo's next regular one (quiet rooms).
    """

    post: bool
    reason: str
    retry_after: float | None = None
    rule: str = "ok"  # ok | quiet | flood | flood_timeout | cap | queue


@dataclass(slots=True)
class _Waiter:
    due_ts: float
    seq: int
    expires: float


class PromoGate:
    """The promo rules of one room, fed with its chat lines and its promo posts."""

    def __init__(self, *, flood_per_minute: float = 120.0, flood_window: float = 60.0,
                 max_flood_delay: float = 600.0, flood_retry: float = 30.0, queue_retry: float = 30.0,
                 retention: float = 7200.0, waiter_grace: float = 120.0) -> None:
        if min(flood_per_minute, flood_window, flood_retry, queue_retry, retention) <= 0:
            raise ValueError("flood_per_minute, flood_window, flood_retry, queue_retry and retention must be positive")
        if max_flood_delay < 0 or waiter_grace < 0:
            raise ValueError("max_flood_delay and waiter_grace must not be negative")
        if retention < flood_window:
            raise ValueError("retention must cover at least the flood window")
        self.flood_per_minute = flood_per_minute
        self.flood_window = flood_window
        self.max_flood_delay = max_flood_delay
        self.flood_retry = flood_retry
        self.queue_retry = queue_retry
        self.retention = retention
        self.waiter_grace = waiter_grace
        # chat lines: per-second buckets, oldest first; _cums[i] = lines up to and including _secs[i]
        self._secs: list[int] = []
        self._cums: list[int] = []
        self._head = 0
        self._dropped = 0      # lines in buckets that left the retention window
        self._total = 0
        # promo posts of the room, sorted, and the promos queued for a slot under the cap
        self._posts: list[float] = []
        self._posts_head = 0
        self._waiters: dict[Hashable, _Waiter] = {}
        self._queue: list[tuple[float, int, Hashable]] = []
        self._seq = 0

    # ---- chat activity --------------------------------------------------------------------

    def observe(self, ts: float, lines: int = 1) -> None:
        """Count inbound chat lines at ``ts``. A line that arrives late counts in the newest second."""
        if lines <= 0:
            return
        sec = math.floor(ts)
        if self._head < len(self._secs) and sec <= self._secs[-1]:
            self._cums[-1] += lines
        else:
            self._secs.append(sec)
            self._cums.append(self._total + lines)
        self._total += lines
        self._expire(sec)

    @property
    def line_count(self) -> int:
        """All chat lines observed so far (monotonic)."""
        return self._total

    def lines_since(self, ts: float, until: float | None = None) -> int:
        """Chat lines after the whole second of ``ts`` (up to ``until``, when given).

        A lower bound once ``ts`` is older than the retention: the lines before it are only a total.
        """
        upto = self._total if until is None else self._count_upto(math.floor(until))
        before = 0 if ts == -math.inf else self._count_upto(math.floor(ts))
        return max(0, upto - before)

    def rate_per_minute(self, ts: float) -> float:
        """Chat lines a minute over the ``flood_window`` seconds up to ``ts``."""
        return self.lines_since(ts - self.flood_window, until=ts) * 60.0 / self.flood_window

    def _count_upto(self, sec: int) -> int:
        """Lines in buckets up to and including second ``sec`` (dropped buckets count as before)."""
        i = bisect_right(self._secs, sec, self._head) - 1
        return self._cums[i] if i >= self._head else self._dropped

    def _expire(self, sec: int) -> None:
        horizon = sec - self.retention
        while self._head < len(self._secs) and self._secs[self._head] < horizon:
            self._dropped = self._cums[self._head]
            self._head += 1
        if self._head > 1024 and self._head * 2 > len(self._secs):
            del self._secs[:self._head], self._cums[:self._head]
            self._head = 0

    # ---- promo posts ----------------------------------------------------------------------

    def record_post(self, ts: float, key: Hashable | None = None) -> None:
        """A promo of the room was posted at ``ts`` (call it after a ``post=True`` decision is acted on)."""
        if self._posts_head < len(self._posts) and ts < self._posts[-1]:
            insort(self._posts, ts, lo=self._posts_head)
        else:
            self._posts.append(ts)
        if key is not None:
            self._waiters.pop(key, None)
        self._expire_posts(ts)

    def posts_last_hour(self, ts: float) -> int:
        """Promo posts of the room in the rolling hour up to ``ts``."""
        self._expire_posts(ts)
        return len(self._posts) - self._posts_head

    def forget(self, key: Hashable) -> None:
        """A promo was deleted or paused: it gives up its place in the queue."""
        self._waiters.pop(key, None)

    def _expire_posts(self, ts: float) -> None:
        while self._posts_head < len(self._posts) and self._posts[self._posts_head] <= ts - _HOUR:
            self._posts_head += 1
        if self._posts_head > 256 and self._posts_head * 2 > len(self._posts):
            del self._posts[:self._posts_head]
            self._posts_head = 0

    # ---- the queue under the cap -------------------------------------------------------------

    def _wait(self, key: Hashable | None, due_ts: float, ts: float, retry_after: float) -> None:
        if key is None:
            return
        expires = ts + retry_after + self.waiter_grace
        waiter = self._waiters.get(key)
        if waiter is not None and waiter.due_ts <= due_ts:  # keeps its place, even if a newer run is asking
            waiter.expires = max(waiter.expires, expires)
            return
        self._seq += 1
        self._waiters[key] = _Waiter(due_ts, self._seq, expires)
        heapq.heappush(self._queue, (due_ts, self._seq, key))

    def _first_in_line(self, ts: float) -> tuple[Hashable, _Waiter] | None:
        """The longest-waiting promo still asking; gone and lapsed ones are dropped on the way."""
        while self._queue:
            due_ts, seq, key = self._queue[0]
            waiter = self._waiters.get(key)
            if waiter is not None and waiter.seq == seq:
                if waiter.expires >= ts:
                    return key, waiter
                del self._waiters[key]  # it stopped asking (deleted without forget, or the bot restarted)
            heapq.heappop(self._queue)
        return None

    # ---- the decision -------------------------------------------------------------------------

    def decide(self, ts: float, *, last_post_ts: float | None, min_lines: int, max_per_hour: int | None,
               due_ts: float | None = None, key: Hashable | None = None) -> GateDecision:
        """Whether the promo ``key``, due since ``due_ts``, posts at ``ts``.

        ``last_post_ts``: when this promo last posted (None: never). ``min_lines``:
        chat lines needed since then (0: no quiet rule). ``max_per_hour``: the room's
        cap over all promos (None: no cap). Pass the same ``due_ts`` on every retry of
        one due run, or the flood bound and the queue order restart each time; None
        means due now. Without a ``key`` a promo does not queue under the cap.
        """
        if min_lines < 0:
            raise ValueError("min_lines must not be negative")
        if max_per_hour is not None and max_per_hour < 1:
            raise ValueError("max_per_hour must be at least 1 (or None for no cap)")
        due = ts if due_ts is None else min(due_ts, ts)

        since = self.lines_since(-math.inf if last_post_ts is None else last_post_ts, until=ts)
        window = "so far" if last_post_ts is None else "since it last posted"
        if since < min_lines:
            if key is not None:
                self._waiters.pop(key, None)
            return GateDecision(False, f"held: only {since} of {counted(min_lines, 'chat line')} {window}",
                                None, "quiet")

        rate = self.rate_per_minute(ts)
        rule = "ok"
        if rate > self.flood_per_minute:
            waited = ts - due
            if waited < self.max_flood_delay:
                retry = min(self.flood_retry, self.max_flood_delay - waited)
                self._refresh(key, ts, retry)
                return GateDecision(False, f"held: chat is flooding ({rate:.0f} lines/min), it would scroll "
                                    f"away; retrying in {_say(retry)}, posting anyway after "
                                    f"{_say(self.max_flood_delay)}", retry, "flood")
            rule = "flood_timeout"

        if max_per_hour is not None:
            posted = self.posts_last_hour(ts)
            if posted >= max_per_hour:
                oldest = self._posts[self._posts_head + posted - max_per_hour]
                retry = max(1.0, oldest + _HOUR - ts)
                self._wait(key, due, ts, retry)
                return GateDecision(False, f"held: {counted(posted, 'promo')} posted in the last hour (limit "
                                    f"{max_per_hour}); next slot in {_say(retry)}", retry, "cap")
            first = self._first_in_line(ts)
            if first is not None and first[0] != key and (first[1].due_ts, first[1].seq) < self._place(key, due):
                self._wait(key, due, ts, self.queue_retry)
                return GateDecision(False, "held: a promo that has waited longer is first in line for the "
                                    "next slot", self.queue_retry, "queue")

        if rule == "flood_timeout":
            return GateDecision(True, f"posted: chat has been flooding ({rate:.0f} lines/min) for "
                                f"{_say(ts - due)}; not holding it longer", None, rule)
        return GateDecision(True, f"posted: {counted(since, 'chat line')} {window}, {rate:.0f} lines/min",
                            None, "ok")

    def _place(self, key: Hashable | None, due: float) -> tuple[float, float]:
        waiter = self._waiters.get(key) if key is not None else None
        return (waiter.due_ts, waiter.seq) if waiter is not None else (due, math.inf)

    def _refresh(self, key: Hashable | None, ts: float, retry: float) -> None:
        """A queued promo held by something else keeps its place while it keeps asking."""
        waiter = self._waiters.get(key) if key is not None else None
        if waiter is not None:
            waiter.expires = max(waiter.expires, ts + retry + self.waiter_grace)

    @property
    def footprint(self) -> tuple[int, int, int]:
        """(activity buckets, posts in the hour, queued promos) held: what memory grows with."""
        return len(self._secs), len(self._posts), len(self._queue)


def _say(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
