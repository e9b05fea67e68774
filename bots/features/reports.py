"""Stream sessions and the post-stream report in the room: ``/live start|end`` and ``/report``.

``/live`` only marks time: the router has already stored the command event,
and `brain.insights.sessions` reads those marks (falling back to activity gaps), so a
session survives a restart with nothing else to persist. ``/report`` builds
the same self-contained HTML file as ``liveroom report`` off the event loop,
writes it under the data directory and posts a short summary with where the
file is (and its dashboard link when the dashboard runs).
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from adapters.commands import CommandSpec, Param
from adapters.model import Role
from bots.runtime.in_flight import QuestionsInFlight, still_answering
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext
from brain.audience.graph import STORED_KINDS, audience_graph
from brain.insights.report import build_report, load_products
from brain.insights.report_html import summary_lines, write_report
from brain.insights.sessions import find_room_sessions

if TYPE_CHECKING:  # pragma: no cover
    from bots.runtime.config import Config
    from bots.runtime.router import Router
    from brain.store.event_store import Store

__all__ = ["LiveReports", "LIVE", "REPORT", "make_report", "report_name"]

log = logging.getLogger(__name__)

LIVE = CommandSpec("live", "Mark the start or the end of a stream (the report's session)",
                   params=(Param("action", choices=("start", "end"), description="start or end"),), role=Role.HOST)
REPORT = CommandSpec("report", "The post-stream report: a summary here and the full HTML file",
                     params=(Param("session", required=False, description="a session number, or latest"),),
                     role=Role.HOST)


def report_name(room: str, session_id: int) -> str:
    """A file name for a room's session report (room keys hold ':' and platform ids)."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', room)}-session-{session_id}.html"


def make_report(store: "Store", config: "Config", room: str, session: str | int | None, out: Path | None,
                reports_dir: Path) -> tuple[Path, list[str]]:
    """Build and write one report (blocking: run it in a thread); returns (path, summary lines)."""
    report = build_report(store, room, session, products=load_products(Path(config.knowledge.path)),
                          audience=audience_graph(room, config.audience, config.bot.name),
                          audience_kinds=STORED_KINDS, gap_minutes=config.audience.session_gap / 60.0)
    path = out or reports_dir / report_name(room, report.session.id)
    write_report(report, path, tz=config.schedule.zone_of(room))
    return path, summary_lines(report)


class LiveReports:
    """``/live`` and ``/report`` for every room."""

    def __init__(self, store: "Store", config: "Config", reports_dir: Path,
                 link: Callable[[str], str | None] | None = None, answering: QuestionsInFlight | None = None) -> None:
        self.store = store
        self.config = config
        self.reports_dir = reports_dir
        #: The dashboard's URL for a report file name, when the dashboard runs.
        self.link = link
        #: the room's question pipeline: /report waits for the answers in flight (`Answering.settle`)
        self.answering = answering

    def attach(self, router: "Router", registry: CommandRegistry) -> None:
        registry.add(LIVE, self._live_command)
        registry.add(REPORT, self._report_command)

    async def _live_command(self, context: CommandContext, action: str) -> str:
        if action == "start":
            return "Live session started: /live end when the stream ends, then /report for the summary."
        sessions = await asyncio.to_thread(find_room_sessions, self.store, context.event.room.key,
                                           gap_minutes=self.config.audience.session_gap / 60.0)
        done = next((s for s in reversed(sessions) if s.source == "command"), None)
        if done is None:
            return "Live session ended (no /live start was recorded; the report uses chat activity)."
        return f"Live session ended: {done.describe()}. /report {done.id} for the summary."

    async def _report_command(self, context: CommandContext, session: str | None = None) -> str:
        room = context.event.room.key
        still = await self.answering.settle(room) if self.answering is not None else 0
        try:
            path, lines = await asyncio.to_thread(make_report, self.store, self.config, room, session, None,
                                                  self.reports_dir)
        except ValueError as exc:
            return f"No report: {exc}"
        link = self.link(path.name) if self.link is not None else None
        return "\n".join(lines + [f"Full report: {link or path}"] + ([still_answering(still)] if still else []))
