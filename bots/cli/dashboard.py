"""``liveroom dashboard``: run the bot with the moderators' web dashboard, and make its password hash.

The dashboard lives inside the bot's process (an approval posts through the
live adapter at once), so ``liveroom dashboard`` is ``liveroom run`` with the
dashboard switched on and its address taken from the options.
"""

from __future__ import annotations

import click

from bots.cli.serve import serve
from bots.cli.settings import Settings

__all__ = ["dashboard_group"]


@click.group(name="dashboard", invoke_without_command=True)
@click.option("--host", default=None, help="Listen address (default: dashboard.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (default: dashboard.port, 8700; 0 picks a free one).")
@click.pass_context
def dashboard_group(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Start the bot with the web dashboard: the review queue, the log, viewers, unanswered questions,
    the curated answers, /healthz and /metrics.

    With no adapter enabled it serves the recorded database alone (review yesterday's log) until
    Ctrl-C or SIGTERM; with the console enabled, the end of its input closes the console room and
    the dashboard keeps serving.

    Needs a password: dashboard.password_hash (see `liveroom dashboard hash-password`) or
    dashboard.password: ${LIVEROOM_DASHBOARD_PASSWORD}. Keep it on 127.0.0.1 behind a TLS proxy
    (docs/dashboard.md).
    """
    if ctx.invoked_subcommand is not None:
        return
    settings: Settings = ctx.obj
    settings.override(dashboard={"enabled": True, **({"host": host} if host else {}),
                                 **({"port": port} if port is not None else {})})
    serve(settings)


@dashboard_group.command(name="hash-password")
def hash_password_command() -> None:
    """Ask for a password (twice, hidden) and print its hash for dashboard.password_hash."""
    from bots.dashboard.auth import hash_password

    plain = click.prompt("Dashboard password", hide_input=True, confirmation_prompt=True)
    if len(plain) < 8:
        raise click.ClickException("use at least 8 characters")
    click.echo(hash_password(plain))
