"""The ``liveroom`` command line.

Global options pick the config file and the data directory; all state
(database, indexes, job store, logs) lives under the data directory, so two
runs with different ``--data-dir`` never share state by accident.

Heavy imports happen inside commands, so ``--help`` is instant, and the
package-conflict guard runs before any of liveroom's packages are imported.

This module only composes: the root group with its global options, and every
command (one module per command group, beside this one) attached with
``add_command``. No command module imports this one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from bots.cli.audience import audience_group, eval_communities
from bots.cli.check import check
from bots.cli.dashboard import dashboard_group
from bots.cli.evaluate import eval_group
from bots.cli.knowledge import ask, ingest
from bots.cli.log import log_group, privacy_group, retention_group
from bots.cli.replay import feed_group, replay
from bots.cli.report import report_command
from bots.cli.serve import run
from bots.cli.settings import EXIT_CONFIG, Settings
from bots.cli.traffic import eval_forecast, traffic_group
from bots.runtime.package_guard import PackageConflict, ensure_no_conflicts

__all__ = ["main", "cli"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("liveroom")
    except PackageNotFoundError:
        return "0+unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Config file (default: ./config.yaml; defaults if absent).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="LIVEROOM_DATA_DIR", default=Path("data"), show_default=True,
              help="Where all state lives: database, indexes, job store, logs. Env: LIVEROOM_DATA_DIR.")
@click.version_option(version=_version(), prog_name="liveroom", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, data_dir: Path) -> None:
    """liveroom: a bot for live rooms that answers viewers and helps the host."""
    ctx.obj = Settings(config_path, data_dir)


cli.add_command(run)
cli.add_command(replay)
cli.add_command(feed_group)
cli.add_command(ingest)
cli.add_command(ask)
cli.add_command(check)
cli.add_command(eval_group)
cli.add_command(audience_group)
cli.add_command(traffic_group)
cli.add_command(log_group)
cli.add_command(privacy_group)
cli.add_command(retention_group)
cli.add_command(report_command)
cli.add_command(dashboard_group)
# The evaluations of the audience graph and of traffic live with their features.
eval_group.add_command(eval_communities)
eval_group.add_command(eval_forecast)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        ensure_no_conflicts()
    except PackageConflict as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG)
    # Offline by default (weights come from packages), and quiet: the room is the UI.
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                        ("TRANSFORMERS_VERBOSITY", "error"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)
    cli.main(args=argv, prog_name="liveroom")


if __name__ == "__main__":  # pragma: no cover
    main()
