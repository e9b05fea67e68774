"""``liveroom log ...``, ``liveroom privacy ...`` and ``liveroom retention apply``: the interaction log offline.

They read and prune the bot's store (``--config``/``--data-dir`` as for every
command), beside a running bot or after it: reads never block the bot's
writer, deletions are short transactions.

Times (``--since``/``--until``) are ISO dates or times (``2026-11-20``,
``2026-11-20T20:00``, with an offset or read in ``schedule.timezone``) or a
span back from now (``2h``, ``3d``, ``1h30m``, read by `brain.traffic.time_phrases`'s
duration grammar, the one ``/schedule`` uses). Listed times are shown in the
same zone.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from zoneinfo import ZoneInfo

import click

from bots.cli.rooms import echo_figures, open_store, resolve_room
from bots.cli.settings import Settings
from brain.text.plural import counted

if TYPE_CHECKING:  # pragma: no cover
    from brain.insights.interaction_log import LogFilter, LogRow

__all__ = ["log_group", "privacy_group", "retention_group", "parse_moment"]


# ---- options shared by search and export -------------------------------------------------------------

def parse_moment(text: str, *, now: float, zone: str) -> float:
    """Epoch seconds for an ISO date/time (naive ones in ``zone``) or a span back from ``now`` ("2h", "3d")."""
    from brain.traffic.time_phrases import (
        parse_duration,  # the duration grammar of /schedule and promos; one reader of "2h"
    )

    said = text.strip()
    span = parse_duration(said)
    if span is not None:
        return now - span
    try:
        moment = datetime.fromisoformat(said)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO date or time (2026-11-20, 2026-11-20T20:00) nor a "
                         "span back from now (2h, 3d, 1h30m)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.timestamp()


_FILTER_OPTIONS = (
    click.option("--room", default=None, help="Room key (platform:room_id), or a name one recorded room has."),
    click.option("--viewer", default=None, help="A viewer's key (platform:user_id)."),
    click.option("--status", default=None,
                 help="What the bot did (answered, abstained, merged) or where the question's review stands "
                      "(pending, approved, edited, rejected, expired)."),
    click.option("--since", default=None, help="From this time on: ISO (2026-11-20, 2026-11-20T20:00) or 2h, 3d ago."),
    click.option("--until", default=None, help="Before this time: ISO or 2h, 3d ago."),
    click.option("--session", default=None,
                 help="One stream of --room: its number (see `liveroom report --list`) or 'latest'."),
    click.option("--text", default=None, help="Questions containing this text (case-insensitive)."),
    click.option("--model", default=None, help="Answered by this model (extractive, cache, llm:<name>, moderator)."),
)


def _filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The log's filters as options (``search`` and ``export`` take the same ones)."""
    for option in reversed(_FILTER_OPTIONS):
        command = option(command)
    return command


def _zone(settings: Settings, room: str | None) -> str:
    schedule = settings.config().schedule
    return schedule.zone_of(room) if room else schedule.timezone


def _session_bounds(settings: Settings, room: str | None, session: str) -> dict[str, float | None]:
    """--session as since/until: the span of that stream of the room (sessions as the report finds them)."""
    import math

    from brain.insights.report import report_sessions
    from brain.insights.sessions import pick_session

    if room is None:
        raise click.BadParameter("a session belongs to a room: add --room", param_hint="--session")
    with open_store(settings) as store:
        try:
            chosen = pick_session(report_sessions(store, room, gap_minutes=settings.config().audience.session_gap / 60),
                                  session)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--session") from None
    return {"since": chosen.start, "until": math.nextafter(chosen.end, math.inf)}  # until is exclusive


def _log_filter(settings: Settings, *, room: str | None, viewer: str | None, status: str | None,
                since: str | None, until: str | None, session: str | None, text: str | None,
                model: str | None) -> "LogFilter":
    """The options as a `LogFilter`; a bad time, session or status is a usage error naming the option."""
    from brain.insights.interaction_log import LogFilter

    if room is not None:
        with open_store(settings) as store:
            room = resolve_room(store, room, new_ok=True) or room  # a room with no events: an empty search
    zone, now = _zone(settings, room), time.time()
    bounds: dict[str, float | None] = {}
    if session is not None:
        if since is not None or until is not None:
            raise click.BadParameter("use --session or --since/--until, not both", param_hint="--session")
        bounds = _session_bounds(settings, room, session)
    for name, value in (("since", since), ("until", until)):
        if session is not None:
            break
        try:
            bounds[name] = None if value is None else parse_moment(value, now=now, zone=zone)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=f"--{name}") from None
    try:
        return LogFilter(room=room, viewer=viewer, status=status, text=text or None, model=model, **bounds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--status") from None


def _shown(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def _clip(text: str | None, width: int = 100) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def _echo_row(row: "LogRow", zone: str) -> None:
    review = f" · review {row.review_status} #{row.review_id}" if row.review_status else ""
    votes = f" · +{row.feedback_up}/-{row.feedback_down}" if row.feedback_up or row.feedback_down else ""
    click.echo(f"{_shown(row.ts, zone)}  {row.room}  {row.user_name} ({row.user_key})  {row.status}"
               f"{' · ' + row.model if row.model else ''}{votes}{review}")
    click.echo(f"  Q: {_clip(row.text)}")
    if row.answer and row.status != "merged":
        click.echo(f"  A: {_clip(row.answer)}")


# ---- liveroom log ------------------------------------------------------------------------------------

@click.group(name="log")
def log_group() -> None:
    """The interaction log: every question the bot handled, what it did, and how it was judged."""


@log_group.command(name="search")
@_filter_options
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=20, show_default=True,
              help="Questions per page.")
@click.option("--before", default=None, help="Continue after this cursor (the 'next page' a search printed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: rows and the next cursor.")
@click.pass_obj
def log_search(settings: Settings, limit: int, before: str | None, as_json: bool, **filters: Any) -> None:
    """Show matching questions, newest first, a page at a time.

    Each question shows the room, the viewer, what the bot did and with which
    model, viewers' votes on the answer and the moderator review, if any.
    """
    from brain.insights.interaction_log import Cursor, search

    flt = _log_filter(settings, **filters)
    try:
        cursor = Cursor.parse(before) if before else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--before") from None
    with open_store(settings) as store:
        page = search(store.engine, flt, limit=limit, before=cursor)
    if as_json:
        click.echo(json.dumps({"rows": [r.as_dict() for r in page.rows],
                               "next": str(page.next) if page.next else None}, ensure_ascii=False))
        return
    if not page.rows:
        click.echo("no questions match" + (" before that cursor" if cursor else ""))
        return
    zone = _zone(settings, flt.room)
    for row in page.rows:
        _echo_row(row, zone)
    if page.next is not None:
        click.echo(f"next page: --before {page.next}")


@log_group.command(name="export")
@_filter_options
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (replaced once complete).")
@click.pass_obj
def log_export(settings: Settings, fmt: str, out: Path, **filters: Any) -> None:
    """Write the matching questions, newest first, as CSV or JSON Lines.

    Columns: time (UTC), the question's fields, feedback_up/feedback_down and
    review_status/review_id. Sources are a JSON list.
    """
    from tqdm import tqdm

    from brain.insights.interaction_log import count_matching, export

    flt = _log_filter(settings, **filters)
    with open_store(settings) as store:
        total, _ = count_matching(store.engine, flt, cap=None)
        with tqdm(total=total, unit="question", desc="exporting", file=sys.stderr, leave=False,
                  disable=None) as bar:
            written = export(store.engine, flt, out, fmt, progress=bar.update)  # type: ignore[arg-type]
    click.echo(f"wrote {counted(written, 'question')} to {out}")


# ---- liveroom privacy ---------------------------------------------------------------------------------

def _actor() -> tuple[str, str]:
    """Who runs the command, for the moderation log: the operating-system user."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container): still say it was the CLI
        name = "unknown"
    return f"cli:{name}", name


@click.group(name="privacy")
def privacy_group() -> None:
    """A viewer's data: everything stored about them, or erase it."""


@privacy_group.command(name="export")
@click.option("--viewer", required=True, help="The viewer's key (platform:user_id).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON here instead of printing it.")
@click.pass_obj
def privacy_export(settings: Settings, viewer: str, out: Path | None) -> None:
    """Everything stored about one viewer, as JSON.

    Their events, questions, the reviews of their questions, their flag,
    their pins and the moderation actions about them. The export is recorded
    in the moderation log (who exported whose data).
    """
    from brain.store.retention import VIEWER_TABLES, export_viewer

    actor_key, actor_name = _actor()
    with open_store(settings) as store:
        data = export_viewer(store.engine, viewer, actor_key=actor_key, actor_name=actor_name)
    text = json.dumps(data, ensure_ascii=False, indent=1)
    counts = ", ".join(counted(len(data[t]), t.removesuffix("s"), t) for t in (*VIEWER_TABLES, "moderation_actions"))
    if out is None:
        click.echo(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    click.echo(f"wrote {out}: {counts}")


@privacy_group.command(name="delete")
@click.option("--viewer", required=True, help="The viewer's key (platform:user_id).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def privacy_delete(settings: Settings, viewer: str, yes: bool) -> None:
    """Erase everything stored about one viewer.

    Removes their events, questions, the reviews of their questions, their
    flag and their pins, in one transaction, and records the deletion (their
    key and the counts only) in the moderation log. A running bot forgets a
    flag on its next restart.
    """
    from brain.store.retention import delete_viewer

    if not yes:
        click.confirm(f"Delete everything stored about {viewer}? This cannot be undone.", abort=True)
    actor_key, actor_name = _actor()
    with open_store(settings) as store:
        counts = delete_viewer(store.engine, viewer, actor_key=actor_key, actor_name=actor_name)
    if not any(counts.values()):
        click.echo(f"nothing is stored about {viewer}; nothing deleted")
        return
    click.echo(f"deleted {viewer}: " + ", ".join(counted(n, table.removesuffix("s"), table)
                                                 for table, n in counts.items()))


# ---- liveroom retention --------------------------------------------------------------------------------

@click.group(name="retention")
def retention_group() -> None:
    """How long the store keeps rows (the retention section of the config)."""


@retention_group.command(name="apply")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: rows per table.")
@click.pass_obj
def retention_apply(settings: Settings, dry_run: bool, as_json: bool) -> None:
    """Delete rows older than the config's retention days, table by table, in short transactions.

    Reviews waiting for a moderator are never deleted. Tables without a
    number of days are kept forever.
    """
    from brain.store.retention import RetentionPolicy, apply_retention

    policy = RetentionPolicy.of(settings.config().retention)
    if policy.keeps_everything and not as_json:
        click.echo("retention: every table is kept forever; set retention.events_days, questions_days, "
                   "reviews_days or actions_days in the config")
        return
    with open_store(settings) as store:
        result = apply_retention(store.engine, policy, dry_run=dry_run)
    if as_json:
        echo_figures({"dry_run": dry_run, **result}, True)
        return
    verb = "would delete" if dry_run else "deleted"
    for table, n in result.items():
        click.echo(f"{table}: {verb} {counted(n, 'row')} older than {counted(policy.days_for(table), 'day')}")
