"""``liveroom report``: the post-stream report of one session, as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from bots.cli.rooms import open_store, pick_room
from bots.cli.settings import Settings

__all__ = ["report_command"]


@click.command(name="report")
@click.option("--room", default=None,
              help="Room key (platform:room_id), or a name one recorded room has; optional when only one is recorded.")
@click.option("--session", "session", default=None,
              help="Session number (1 = the first), or 'latest' (default). `liveroom report --list` shows them.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The HTML file to write (default: <data-dir>/reports/<room>-session-<n>.html).")
@click.option("--list", "list_only", is_flag=True, help="List the room's sessions and exit.")
@click.pass_obj
def report_command(settings: Settings, room: str | None, session: str | None, out: Path | None,
                   list_only: bool) -> None:
    """Write the post-stream report of a session: activity and forecast, mood, questions, products,
    audience, content quality and the host profile, with what could not be computed.

    Sessions start and end with /live start and /live end in the room, or are
    found from pauses in the chat.
    """
    from bots.features.reports import make_report
    from brain.insights.report import report_sessions

    config = settings.config()
    if out is not None and out.suffix.lower() not in (".html", ".htm"):
        raise click.ClickException(f"--out must be an .html file, got {out.name!r}")
    with open_store(settings) as store:
        key = pick_room(store, room)
        if list_only:
            sessions = report_sessions(store, key, gap_minutes=config.audience.session_gap / 60.0)
            for s in sessions:
                click.echo(s.describe())
            if not sessions:
                click.echo(f"{key} has no sessions yet (/live start … /live end, or a pause-separated stream)")
            return
        click.echo(f"building the report of {key} …", err=True)
        try:
            path, lines = make_report(store, config, key, session, out, settings.data_dir / "reports")
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    for line in lines:
        click.echo(line)
    click.echo(f"wrote {path}")
