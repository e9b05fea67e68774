"""The audience graph in the room: who talks to whom, the communities, the people who carry it.

Every inbound chat line and join goes into its room's `brain.audience.graph.AudienceGraph`;
hosts get ``/audience`` and ``/reach``, mods ``/who``.

Threading: one worker thread owns every room's graph. The event loop only
appends events to a list and hands the list to the worker when it is not
already busy, so neither a rebuild from a large store, nor a snapshot of a
500,000-edge graph, nor a ten-second community analysis ever holds the loop;
while the worker is busy, events queue up and are applied in one batch after.
Python's GIL still interleaves the two threads every few milliseconds, which is
what keeps the room responsive during the long steps.

A room's graph is rebuilt from the store the first time the room is seen after
a start, from the events before the first live one, so a restart loses nothing.
Analyses run on ``audience.analyse_interval`` for rooms that changed, and on
demand when a command finds the last one stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from adapters.commands import CommandSpec, Param
from adapters.model import Event, MessageEvent, Role
from bots.runtime.config import AudienceSection
from bots.runtime.counters import Counters
from bots.runtime.listeners import Wants
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext
from brain.audience.communities import AudienceReport, analyse
from brain.audience.graph import STORED_KINDS, AudienceGraph, ViewerProfile, audience_graph
from brain.audience.reach import best_seeds
from brain.text.plural import counted, plural
from brain.text.questions import detect_question

if TYPE_CHECKING:  # pragma: no cover
    from bots.runtime.router import Router
    from brain.store.event_store import Store

__all__ = ["LiveAudience", "AUDIENCE", "WHO", "REACH"]

log = logging.getLogger(__name__)
T = TypeVar("T")

AUDIENCE = CommandSpec("audience", "Who is in the room: size, newcomers, communities, helpers",
                       role=Role.HOST)
WHO = CommandSpec("who", "A viewer's activity, community and recent messages",
                  params=(Param("viewer", description="@name, name or platform:id", rest=True),), role=Role.MOD)
REACH = CommandSpec("reach", "The best viewers to seed a promotion with, and how far it would spread",
                    params=(Param("k", type="int", required=False, default=3, description="how many viewers"),),
                    role=Role.HOST)

_DAY = 86400.0
#: Seconds a scheduled hand-over waits to gather events into one batch for the worker.
_GATHER = 0.05
#: /reach takes at most this many seeds (the answer has to fit in a chat message).
_MAX_SEEDS = 20


@dataclass(slots=True)
class _Room:
    graph: AudienceGraph
    loaded: bool = False
    changes: int = 0                      # events applied since the last analysis
    report: AudienceReport | None = None
    analysed_at: float = 0.0              # monotonic time of the last analysis


@dataclass(slots=True)
class AudienceStats(Counters):
    events: int = 0
    analyses: int = 0
    rebuilt_rooms: int = 0
    rebuilt_events: int = 0


@dataclass(slots=True)
class _Pending:
    events: list[Event] = field(default_factory=list)
    task: asyncio.Future[None] | None = None


class LiveAudience:
    """The room-facing audience graph: the listener, the worker thread and the commands."""

    def __init__(self, store: "Store", settings: AudienceSection, *, bot_name: str = "liveroom") -> None:
        self.store = store
        self.settings = settings
        self.bot_name = bot_name
        self.stats = AudienceStats()
        self._rooms: dict[str, _Room] = {}   # touched only by the worker thread
        self._pending = _Pending()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audience")
        self._ticker: asyncio.Task[None] | None = None

    # ---- wiring ----------------------------------------------------------------------

    def attach(self, router: "Router", registry: CommandRegistry) -> None:
        router.add_listener(self.on_event, Wants.of(kinds=STORED_KINDS))
        registry.add(AUDIENCE, self._audience_command)
        registry.add(WHO, self._who_command)
        registry.add(REACH, self._reach_command)

    def _new_graph(self, room_key: str) -> AudienceGraph:
        return audience_graph(room_key, self.settings, self.bot_name)

    async def run_in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the audience thread, after every event queued so far."""
        await self._flush()
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    # ---- inbound ---------------------------------------------------------------------

    async def on_event(self, event: Event, router: "Router") -> None:
        if not self.settings.enabled:
            return None
        self._queue(event)  # a chat line or a join (`STORED_KINDS`)
        if self._ticker is None and self.settings.analyse_interval > 0:
            self._ticker = asyncio.create_task(self._tick(), name="audience-analyses")
        return None

    def _queue(self, event: Event) -> None:
        pending = self._pending
        pending.events.append(event)
        self.stats.events += 1
        if pending.task is None or pending.task.done():
            pending.task = asyncio.ensure_future(self._flush(delay=_GATHER))

    async def _flush(self, delay: float = 0.0) -> None:
        """Hand everything queued to the worker, repeatedly, until the queue is empty.

        The scheduled flush first waits ``delay`` so a busy room hands over one batch per
        ``_GATHER`` seconds, not one thread round trip per line (which cost ~1 ms a line).
        """
        if delay:
            await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        while self._pending.events:
            batch, self._pending.events = self._pending.events, []
            await loop.run_in_executor(self._worker, self._apply, batch)

    def _apply(self, batch: list[Event]) -> None:
        """Worker thread: the events into their rooms' graphs (rebuilding a room on first sight)."""
        for event in batch:
            room = self._room(event.room.key, before=event.ts.timestamp())
            if isinstance(event, MessageEvent):
                room.graph.observe_event(event, is_question=detect_question(
                    event.text, bot_names=(self.bot_name,)) is not None)
            else:
                room.graph.observe_event(event)
            room.changes += 1

    async def forget(self, user_key: str) -> int:
        """A viewer's data was deleted: rebuild, from the store, every room graph that held them."""
        def drop() -> int:
            stale = [key for key, room in self._rooms.items() if user_key in room.graph]
            for key in stale:
                self._rooms[key] = _Room(self._new_graph(key))  # not loaded: the next use rebuilds it
            return len(stale)

        return await self.run_in_worker(drop)

    def _room(self, key: str, *, before: float | None = None) -> _Room:
        """Worker thread: the room's state, rebuilt from the store's events before ``before``."""
        room = self._rooms.get(key)
        if room is None:
            room = self._rooms[key] = _Room(self._new_graph(key))
        if not room.loaded:
            room.loaded = True
            self.store.flush()
            count = 0
            for stored in self.store.iter_events(room=key, until=before, kinds=STORED_KINDS):
                room.graph.observe_stored(stored)
                count += 1
            if count:
                self.stats.rebuilt_rooms += 1
                self.stats.rebuilt_events += count
                log.info("audience of %s rebuilt from %d stored events", key, count)
        return room

    # ---- analyses --------------------------------------------------------------------

    async def _tick(self) -> None:
        interval = self.settings.analyse_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_in_worker(self._analyse_changed)
            except Exception:  # noqa: BLE001 - a failed analysis is logged; the next tick retries
                log.exception("scheduled audience analysis failed")

    def _analyse_changed(self) -> None:
        for key, room in list(self._rooms.items()):
            if room.changes:
                self._analyse(key)

    def _analyse(self, key: str) -> AudienceReport:
        """Worker thread: a fresh analysis of the room's graph."""
        room = self._room(key)
        started = time.perf_counter()
        report = analyse(room.graph.snapshot())
        room.report, room.analysed_at, room.changes = report, time.monotonic(), 0
        self.stats.analyses += 1
        log.info("audience of %s analysed in %.2f s: %d people, %d communities", key,
                 time.perf_counter() - started, report.nodes, len(report.communities))
        return report

    def report(self, key: str, *, max_age: float | None = None) -> AudienceReport:
        """Worker thread: the last analysis if fresh enough and nothing changed, else a new one."""
        room = self._room(key)
        age = time.monotonic() - room.analysed_at
        limit = self.settings.analyse_interval if max_age is None else max_age
        if room.report is not None and (room.changes == 0 or age <= limit):
            return room.report
        return self._analyse(key)

    def summary(self) -> dict[str, int]:
        """Worker thread: people, ties and communities over all rooms (replays report these)."""
        nodes = edges = communities = 0
        for key in list(self._rooms):
            report = self.report(key, max_age=0)
            nodes += report.nodes
            edges += report.edges
            communities += len(report.communities)
        return {"graph_nodes": nodes, "graph_edges": edges, "communities": communities}

    async def drain(self) -> dict[str, int]:
        """Apply everything queued, stop the ticker, and return the final `summary`."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        return await self.run_in_worker(self.summary)

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    # ---- commands --------------------------------------------------------------------

    async def _audience_command(self, context: CommandContext) -> str:
        key = context.event.room.key
        report, stats = await self.run_in_worker(lambda: (self.report(key), self._room(key).graph.stats()))
        return render_audience(report, stats)

    async def _who_command(self, context: CommandContext, viewer: str) -> str:
        key = context.event.room.key

        def look() -> tuple[ViewerProfile | None, AudienceReport | None]:
            room = self._room(key)
            found = room.graph.find(viewer)
            return (room.graph.profile(found) if found else None), room.report

        profile, report = await self.run_in_worker(look)
        if profile is None:
            return f"I have not seen {viewer!r} in this room."
        return render_profile(profile, report)

    async def _reach_command(self, context: CommandContext, k: int = 3) -> str:
        if not 1 <= k <= _MAX_SEEDS:
            return f"/reach: k must be between 1 and {_MAX_SEEDS}."
        key = context.event.room.key

        def pick() -> Any:
            graph = self._room(key).graph.snapshot()
            if graph.number_of_nodes() == 0:
                return None
            return graph, best_seeds(graph, k, runs=self.settings.reach_runs)

        picked = await self.run_in_worker(pick)
        if picked is None:
            return "Nobody has chatted in this room yet, so there is no one to seed."
        graph, result = picked
        return render_reach(graph, result, k)


# ---- rendering (plain text for every platform) -----------------------------------------


def render_audience(report: AudienceReport, stats: dict[str, Any]) -> str:
    if not stats["nodes"]:
        return "Nobody has chatted in this room yet."
    lines = [f"Audience: {counted(stats['nodes'], 'person', 'people')}, {counted(stats['edges'], 'tie')}; "
             f"{stats['active_now']} active now, "
             f"{len(report.newcomers)} new and {len(report.returning)} returning this session."]
    for i, community in enumerate(report.communities[:3], 1):
        members = ", ".join(m.name for m in community.top[:3])
        topics = f"; talks about {', '.join(w for w, _ in community.keywords[:4])}" if community.keywords else ""
        lines.append(f"  {i}. {counted(community.size, 'person', 'people')}: {members}{topics}")
    if len(report.communities) > 3:
        lines.append(f"  … and {counted(len(report.communities) - 3, 'smaller group')}")
    if report.helpers:
        lines.append("Helpers: " + ", ".join(
            f"{h.name} ({counted(h.answers, 'answer')} to {counted(h.helped, 'person', 'people')})"
            for h in report.helpers[:3]))
    if report.bridges:
        lines.append("Bridges between groups: " + ", ".join(b.name for b in report.bridges[:3]))
    if report.newcomers:
        lines.append("New this session: " + ", ".join(report.name(k) for k in report.newcomers[:5]))
    return "\n".join(lines)


def render_profile(profile: ViewerProfile, report: AudienceReport | None) -> str:
    days = max((profile.last_seen - profile.first_seen) / _DAY, 0)
    lines = [f"{profile.name} ({profile.key}): {counted(profile.messages, 'message')}, "
             f"{counted(profile.questions, 'question')}, {counted(profile.answers, 'answer')} to others; "
             f"{counted(profile.sessions, 'session')} over {counted(days, 'day')}."]
    if report is not None and profile.key in report.membership:
        cid = report.membership[profile.key]
        community = next((c for c in report.communities if c.id == cid), None)
        if community is not None:
            others = [m.name for m in community.top if m.key != profile.key][:4]
            lines.append(f"Community of {community.size}" + (f" with {', '.join(others)}" if others else "")
                         + (f"; talks about {', '.join(w for w, _ in community.keywords[:3])}"
                            if community.keywords else ""))
        ranked = sorted(report.influence, key=lambda k: -report.influence[k])
        if profile.key in report.influence:
            lines.append(f"Influence: #{ranked.index(profile.key) + 1} of {len(ranked)}")
    if profile.ties:
        lines.append("Talks most with: " + ", ".join(name or key for key, name, _ in profile.ties[:3]))
    if profile.former_names:
        lines.append("Also known as: " + ", ".join(profile.former_names[:3]))
    if profile.recent:
        lines.append("Recent: " + " | ".join(t[:80] for t in list(profile.recent)[-3:]))
    return "\n".join(lines)


def render_reach(graph: Any, result: Any, k: int) -> str:
    def name(key: str) -> str:
        return str(graph.nodes[key].get("name") or key) if key in graph else key

    seeds = [name(key) for key, _gain in result.seeds]
    estimate = result.reach
    lines = [f"Seed a promotion with {', '.join(seeds)}: it would reach about "
             f"{counted(estimate.mean, 'person', 'people')} ({estimate.low:.0f}–{estimate.high:.0f}) "
             f"of {graph.number_of_nodes()}."]
    if len(seeds) < k:
        lines.append(f"(Only {counted(len(seeds), 'person', 'people')} {plural(len(seeds), 'is', 'are')} "
                     "connected enough to be worth seeding.)")
    return "\n".join(lines)
