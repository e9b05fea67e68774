"""The post-stream report's content: one session of one room, every analysis, and what was missing.

`build_report` reads the store once per kind of data and runs the analyses
the host reads after a stream: activity against what the room's history
predicted, the mood of viewers and host, the top and the unanswered
questions, products mentioned vs pinned vs asked about, the audience's
communities and newcomers, the content-quality parts and the host profile.

Every section is computed on its own; a section that cannot be computed (no
transcript, no history, one viewer) leaves a line in ``notes`` and the rest
of the report still renders. Rendering is `brain.insights.report_html`'s job.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from brain.insights.sessions import SessionData, StreamSession, find_room_sessions, load_session, pick_session
from brain.text.plural import counted
from brain.text.similarity import OverlapGroups

if TYPE_CHECKING:  # pragma: no cover
    from brain.audience.communities import AudienceReport
    from brain.audience.graph import AudienceGraph
    from brain.chat.sentiment import Moment, MoodSeries
    from brain.insights.host_profile import HostProfile
    from brain.insights.quality import QualityReport
    from brain.products.matching import ProductDoc
    from brain.store.event_store import Store
    from brain.traffic.forecast import Forecast
    from brain.traffic.series import ActivitySeries

__all__ = ["StreamReport", "QuestionGroup", "ProductActivity", "build_report", "load_products", "report_sessions"]

log = logging.getLogger(__name__)

#: History the forecast of the session's activity may read, before the session starts.
_HISTORY_DAYS = 28
#: Questions sharing this share of their words are one "top question".
_SAME_QUESTION = 0.5


@dataclass(frozen=True)
class QuestionGroup:
    """Viewers asking the same thing: how often, by how many, and what became of it."""

    text: str
    asked: int
    askers: int
    answered: int
    abstained: int
    answer: str | None


@dataclass(frozen=True)
class ProductActivity:
    """One product in the session: how often the host named it, pinned it, and viewers asked about it."""

    id: str
    name: str
    mentioned: int
    pinned: int
    asked: int


@dataclass
class StreamReport:
    """Everything the post-stream report shows; each section is None when it could not be computed."""

    room: str
    session: StreamSession
    sessions: int
    generated_at: float
    figures: dict[str, Any]
    activity: "ActivitySeries | None" = None
    expected: "Forecast | None" = None            # what the history predicted for the session's minutes
    viewer_mood: "MoodSeries | None" = None
    host_mood: "MoodSeries | None" = None
    moments: list["Moment"] = field(default_factory=list)
    top_questions: list[QuestionGroup] = field(default_factory=list)
    unanswered: list[QuestionGroup] = field(default_factory=list)
    products: list[ProductActivity] = field(default_factory=list)
    audience: "AudienceReport | None" = None
    newcomers: list[str] = field(default_factory=list)
    quality: "QualityReport | None" = None
    profile: "HostProfile | None" = None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def load_products(knowledge_root: Path | None) -> list["ProductDoc"]:
    """The catalog products of a knowledge folder (no embedding: the report only names them)."""
    from brain.knowledge import load_folder
    from brain.products.matching import product_docs_from_chunks

    if knowledge_root is None or not Path(knowledge_root).is_dir():
        return []
    chunks, _ = load_folder(Path(knowledge_root))
    return product_docs_from_chunks(chunks)


def report_sessions(store: "Store", room: str, *, gap_minutes: float = 30.0) -> list[StreamSession]:
    """The sessions a report can be about; a room that only held short bursts of chat still has one."""
    return (find_room_sessions(store, room, gap_minutes=gap_minutes)
            or find_room_sessions(store, room, gap_minutes=gap_minutes, min_minutes=0.0))


def _timed(report: StreamReport, name: str, fn: Callable[[], Any]) -> Any:
    """Run one section; a failure becomes a note, never a missing report."""
    started = time.perf_counter()
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one broken analysis must not cost the host the whole report
        log.exception("report section %s failed", name)
        report.notes.append(f"{name}: could not be computed ({exc.__class__.__name__}: {exc})")
        return None
    finally:
        report.seconds[name] = round(time.perf_counter() - started, 3)


def build_report(store: "Store", room: str, session: str | int | None = None, *,
                 products: Sequence["ProductDoc"] = (), audience: "AudienceGraph | None" = None,
                 audience_kinds: Sequence[str] = ("chat", "join"), gap_minutes: float = 30.0,
                 clock: Callable[[], float] = time.time) -> StreamReport:
    """The report of one session (None/"latest": the last one) of ``room``.

    ``audience`` is an empty `AudienceGraph` configured for the room (the
    bot's settings); it is filled from the store's ``audience_kinds`` events
    up to the session's end.
    Raises ValueError (with a message for the host) when the session does not exist.
    """
    started = time.perf_counter()
    sessions = report_sessions(store, room, gap_minutes=gap_minutes)
    chosen = pick_session(sessions, session)
    data = load_session(store, room, chosen)
    report = StreamReport(room=room, session=chosen, sessions=len(sessions), generated_at=clock(),
                          figures=_figures(data))
    _timed(report, "activity", lambda: _activity(report, store, room, chosen))
    _timed(report, "mood", lambda: _mood(report, data))
    _timed(report, "questions", lambda: _questions(report, data))
    _timed(report, "products", lambda: _products(report, data, products))
    if audience is not None:
        _timed(report, "audience", lambda: _audience(report, store, room, chosen, audience, audience_kinds))
    report.quality = _timed(report, "quality", lambda: _quality(data, products))
    report.profile = _timed(report, "profile", lambda: _profile(data))
    for part in (report.quality, report.profile):
        if part is not None:
            report.notes.extend(n for n in part.notes if n not in report.notes)
    if not data.host:
        report.notes.append("no transcript or host chat in this session: the host profile, clarity and "
                            "information density need the host's words (send captions or a transcript feed)")
    if data.viewer_count <= 1:
        report.notes.append(f"{counted(data.viewer_count, 'viewer')} chatted: audience figures describe one person "
                            "at most")
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    return report


def _figures(data: SessionData) -> dict[str, Any]:
    statuses = Counter(q["status"] for q in data.questions)
    return {"minutes": round(data.session.minutes, 1), "viewer_messages": len(data.viewers),
            "viewers": data.viewer_count, "host_lines": len(data.host), "questions": len(data.questions),
            "answered": statuses.get("answered", 0), "abstained": statuses.get("abstained", 0),
            "merged": statuses.get("merged", 0), "pins": len(data.pins)}


def _activity(report: StreamReport, store: "Store", room: str, session: StreamSession) -> None:
    """The session per minute, and what the room's earlier history predicted for those minutes."""
    from brain.traffic.forecast import forecast
    from brain.traffic.series import MINUTE, activity_series

    series = activity_series(store, room, step=MINUTE, since=session.start, until=session.end + 1)
    report.activity = series
    if len(series) == 0:
        report.notes.append("activity: no chat in this session")
        return
    history = activity_series(store, room, step=MINUTE, since=session.start - _HISTORY_DAYS * 86400,
                              until=session.start)
    if int(history.messages.sum()) == 0 or len(history) < 60:
        report.notes.append("activity: no history before this session, so no expected activity to compare with")
        return
    season = 1440 if len(history) >= 2 * 1440 else 1
    report.expected = forecast(history.messages.astype(np.float64), horizon=len(series), season=season)


def _mood(report: StreamReport, data: SessionData) -> None:
    from brain.chat.sentiment import mood_series, moving_moments

    if data.viewers:
        report.viewer_mood = mood_series([(m.ts, m.text) for m in data.viewers], bucket_s=60.0)
        report.moments = moving_moments(report.viewer_mood, top=5)
    else:
        report.notes.append("mood: no viewer chat in this session")
    if data.host:
        report.host_mood = mood_series([(m.ts, m.text) for m in data.host], bucket_s=60.0)


def _questions(report: StreamReport, data: SessionData) -> None:
    """Group the session's questions by shared words: the most asked, and those never answered."""
    if not data.questions:
        report.notes.append("questions: viewers asked no questions the bot saw in this session")
        return
    same: OverlapGroups[dict[str, Any]] = OverlapGroups(_SAME_QUESTION)
    leads = {q["event_id"]: q for q in data.questions if q["status"] != "merged"}
    for q in data.questions:
        lead = leads.get(q.get("merged_into") or "") if q["status"] == "merged" else q
        group = same.get((lead or q)["text"], lambda text: {"text": text, "asked": 0, "askers": set(), "answered": 0,
                                                            "abstained": 0, "answer": None})
        group["asked"] += 1
        group["askers"].add(q["user_key"])
        status = (lead or q)["status"]
        if status in ("answered", "abstained"):
            group[status] += 1
        if status == "answered" and group["answer"] is None:
            group["answer"] = (lead or q)["answer"]
    made = [QuestionGroup(g["text"], g["asked"], len(g["askers"]), g["answered"], g["abstained"], g["answer"])
            for g in same.groups()]
    made.sort(key=lambda g: (-g.asked, -g.askers, g.text))
    report.top_questions = made[:10]
    report.unanswered = [g for g in made if g.answered == 0][:10]


def _products(report: StreamReport, data: SessionData, products: Sequence["ProductDoc"]) -> None:
    """Per product: named by the host, pinned, asked about by viewers (the ranker's name matching)."""
    if not products:
        report.notes.append("products: no catalog in the knowledge folder")
        return
    from brain.products.matching import ProductMatcher
    from brain.products.ranking import ProductRanker

    ranker = ProductRanker(ProductMatcher(list(products)))
    cache: dict[str, list[str]] = {}

    def named(text: str) -> list[str]:
        found = cache.get(text)
        if found is None:
            found = cache[text] = [p.id for p in ranker.products_named_in(text)]
        return found

    mentioned = Counter(pid for line in data.host for pid in named(line.text))
    asked = Counter(pid for q in data.questions for pid in set(named(q["text"])))
    pinned = Counter(p["product_id"] for p in data.pins)
    rows = [ProductActivity(p.id, p.name, mentioned[p.id], pinned[p.id], asked[p.id]) for p in products
            if mentioned[p.id] or pinned[p.id] or asked[p.id]]
    rows.sort(key=lambda r: (-(r.mentioned + r.pinned + r.asked), r.id))
    report.products = rows
    if not rows:
        report.notes.append("products: no catalog product was named, pinned or asked about")


def _audience(report: StreamReport, store: "Store", room: str, session: StreamSession,
              graph: "AudienceGraph", kinds: Sequence[str]) -> None:
    """The audience graph as it stood at the session's end: communities, and who was new in it."""
    from brain.audience.communities import analyse

    for event in store.iter_events(room=room, until=session.end + 1, kinds=kinds):
        graph.observe_stored(event)
    if len(graph) == 0:
        report.notes.append("audience: nobody chatted, so there is no audience graph")
        return
    report.audience = analyse(graph.snapshot(now=session.end), session_start=session.start)
    names = {key: data.get("name", key) for key, data in report.audience.graph.nodes(data=True)}
    report.newcomers = [names.get(k, k) for k in report.audience.newcomers]


def _quality(data: SessionData, products: Sequence["ProductDoc"]) -> "QualityReport":
    from brain.insights.quality import content_quality

    return content_quality(data, products=products)


def _profile(data: SessionData) -> "HostProfile":
    from brain.insights.host_profile import host_profile

    return host_profile(data)
