"""The stream sessions of a room, and the stored data of one session, for post-stream reports.

A report is about one stream, so the first question is where a stream starts
and ends. The host's word is the best evidence: ``/live start`` and ``/live end``
(stored command events, ``command == "live"``, from a host or a mod). Rooms that
never use them still have streams, visible as stretches of chat broken by long
silences: those come from `brain.traffic.live_sessions.find_sessions` over the room's
per-minute activity. When a room has both, an explicit session wins over the
gap-detected ones in the span it covers (what remains of a gap session outside
every explicit span is kept when it is still ``min_minutes`` long: the pre-show
chatter before a ``/live start`` is not a stream of its own).

Spans are closed, ``[start, end]``: an open session (``/live start`` without an
end) ends at the room's last event, and that event belongs to it.

`load_session` reads what the analyses need in one pass (the host's speech,
viewers' chat, handled questions, pins), so `brain.insights.host_profile` and
`brain.insights.quality` are pure functions over plain data and a report reads the
store once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

from brain.text.plural import counted
from brain.traffic.live_sessions import find_sessions
from brain.traffic.series import activity_series

if TYPE_CHECKING:  # pragma: no cover - typing only
    from brain.store.event_store import Store

__all__ = ["StreamSession", "Line", "SessionData", "find_room_sessions", "pick_session", "load_session",
           "parse_live_command"]

_STAFF = frozenset({"host", "mod"})


@dataclass(frozen=True, slots=True)
class StreamSession:
    """One stream of a room: ``[start, end]`` in UTC epoch seconds, numbered 1..n in time order."""

    id: int
    start: float
    end: float
    source: str          # command | gaps
    open: bool = False   # /live start without /live end: ended at the room's last event

    @property
    def minutes(self) -> float:
        return max(0.0, self.end - self.start) / 60.0

    def contains(self, ts: float) -> bool:
        return self.start <= ts <= self.end

    def describe(self) -> str:
        """"#2 2026-01-05 20:00–21:30 UTC, 90 min (/live)": how a host recognises a stream."""
        def hm(ts: float, fmt: str) -> str:
            return datetime.fromtimestamp(ts, timezone.utc).strftime(fmt)

        how = "/live, not ended" if self.open else "/live" if self.source == "command" else "from chat activity"
        return (f"#{self.id} {hm(self.start, '%Y-%m-%d %H:%M')}–{hm(self.end, '%H:%M')} UTC, "
                f"{self.minutes:.0f} min ({how})")


def parse_live_command(text: str | None) -> str | None:
    """"start" or "end" from a stored ``/live …`` line (the text is the whole line), else None."""
    parts = (text or "").split()
    if len(parts) < 2:
        return None
    action = parts[1].lower()
    return action if action in ("start", "end") else None


def _explicit_spans(store: "Store", room: str, last_ts: float | None) -> list[tuple[float, float, bool]]:
    """(start, end, open) from the room's ``/live start|end`` commands by a host or mod.

    A second start while a session is open is a retry and is ignored; an end
    without an open session is ignored too (there is nothing it could close).
    """
    spans: list[tuple[float, float, bool]] = []
    opened: float | None = None
    for ev in store.iter_events(room=room, kinds=("command",)):
        if ev.command != "live" or ev.role not in _STAFF:
            continue
        action = parse_live_command(ev.text)
        if action == "start" and opened is None:
            opened = ev.ts
        elif action == "end" and opened is not None:
            spans.append((opened, ev.ts, False))
            opened = None
    if opened is not None:
        spans.append((opened, max(opened, last_ts if last_ts is not None else opened), True))
    return spans


def _subtract(span: tuple[float, float], cuts: Sequence[tuple[float, float, bool]]) -> list[tuple[float, float]]:
    """The parts of ``span`` outside every cut (cuts need not be sorted)."""
    pieces = [span]
    for a, b, _ in cuts:
        nxt: list[tuple[float, float]] = []
        for s, e in pieces:
            if b <= s or a >= e:
                nxt.append((s, e))
                continue
            if a > s:
                nxt.append((s, a))
            if b < e:
                nxt.append((b, e))
        pieces = nxt
    return pieces


def find_room_sessions(store: "Store", room: str, *, gap_minutes: float = 30.0,
                       min_minutes: float = 10.0) -> list[StreamSession]:
    """The room's streams, oldest first, numbered from 1.

    Explicit ``/live`` sessions, plus the gap-detected sessions
    (`brain.traffic.live_sessions.find_sessions`, chat broken by more than ``gap_minutes``
    of silence, at least ``min_minutes`` long) outside them. Gap detection
    sees chat only (that is what `activity_series` counts): a stream where
    nobody typed needs ``/live``.
    """
    last_ts = store.room_summary(room)["last_ts"]
    explicit = _explicit_spans(store, room, last_ts)
    spans: list[tuple[float, float, str, bool]] = [(s, e, "command", o) for s, e, o in explicit]
    if last_ts is not None:
        series = activity_series(store, room)
        for gap in find_sessions(series, gap_minutes=gap_minutes, min_minutes=min_minutes):
            for s, e in _subtract((gap.start, gap.end), explicit):
                if (e - s) / 60.0 >= min_minutes:
                    spans.append((s, e, "gaps", False))
    spans.sort(key=lambda x: (x[0], x[1]))
    return [StreamSession(i, s, e, src, o) for i, (s, e, src, o) in enumerate(spans, 1)]


def pick_session(sessions: Sequence[StreamSession], spec: str | int | None = None) -> StreamSession:
    """The session a host named: None or "latest" → the last one, "3" (or 3) → session #3.

    Raises ValueError with a message fit to show the host (what exists, what to type).
    """
    if not sessions:
        raise ValueError("this room has no stream sessions yet: use /live start … /live end, "
                         "or chat activity with a pause of at least the session gap")
    known = f"1–{len(sessions)}" if len(sessions) > 1 else "1"
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "latest", "last")):
        return sessions[-1]
    text = str(spec).strip().lstrip("#")
    try:
        wanted = int(text)
    except ValueError:
        raise ValueError(f"session must be a number ({known}) or 'latest', not {str(spec)!r}") from None
    for s in sessions:
        if s.id == wanted:
            return s
    raise ValueError(f"no session {wanted}: this room has {counted(len(sessions), 'session')} ({known})")


# ---- the data of one session ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Line:
    """One stored line, reduced to what the analyses read."""

    ts: float
    text: str
    user_key: str
    role: str = "viewer"
    kind: str = "chat"


@dataclass(frozen=True)
class SessionData:
    """What one session holds: the host's speech, viewers' chat, handled questions and pins, in time order.

    ``host`` is every transcript line plus the chat lines of the host (their own
    typed words count as speech to the room); ``viewers`` is chat by role viewer
    (mods are staff, not audience). ``questions`` and ``pins`` are rows of the
    store's tables (dicts).
    """

    session: StreamSession
    host: tuple[Line, ...] = ()
    viewers: tuple[Line, ...] = ()
    questions: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    pins: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @property
    def viewer_count(self) -> int:
        return len({m.user_key for m in self.viewers})


def load_session(store: "Store", room: str, session: StreamSession) -> SessionData:
    """Read one session's lines, questions and pins from the store (one scan of its events)."""
    store.flush()
    until = math.nextafter(session.end, math.inf)  # spans are closed; iter_events' until is exclusive
    host: list[Line] = []
    viewers: list[Line] = []
    for ev in store.iter_events(room=room, since=session.start, until=until, kinds=("chat", "transcript")):
        if ev.direction != "in" or not ev.text:
            continue
        if ev.kind == "transcript" or ev.role == "host":
            host.append(Line(ev.ts, ev.text, ev.user_key, ev.role, ev.kind))
        elif ev.role == "viewer":
            viewers.append(Line(ev.ts, ev.text, ev.user_key, ev.role, ev.kind))
    questions = [q for q in store.iter_questions(room=room, since=session.start) if q["ts"] <= session.end]
    questions.reverse()  # iter_questions is newest first
    pins = [p for p in store.iter_pins(room=room, since=session.start) if p["ts"] <= session.end]
    return SessionData(session, tuple(host), tuple(viewers), tuple(questions), tuple(pins))
