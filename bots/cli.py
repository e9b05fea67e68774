"""The ``liveroom`` command line.

Global options pick the config file and the data directory; all state
(database, indexes, job store, logs) lives under the data directory, so two
runs with different ``--data-dir`` never share state by accident.

Heavy imports happen inside commands, so ``--help`` is instant, and the
package-conflict guard runs before any of liveroom's packages are imported.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bots.guard import PackageConflict, ensure_no_conflicts

if TYPE_CHECKING:  # pragma: no cover
    from bots.app import Runtime
    from bots.config import Config

__all__ = ["main", "cli"]

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


@dataclass
class Settings:
    config_path: Path | None
    data_dir: Path
    _config: "Config | None" = None

    def config(self) -> "Config":
        """The validated config; exits with every bad key listed if it is not valid."""
        if self._config is None:
            from bots.config import ConfigError, load_config
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                click.echo("liveroom: the configuration is not valid:", err=True)
                for problem in exc.problems:
                    click.echo(f"  {problem}", err=True)
                sys.exit(EXIT_CONFIG)
        return self._config

    def runtime(self) -> "Runtime":
        from bots.app import Runtime
        from brain.memory import StoreError
        config = self.config()
        _setup_logging(config, self.data_dir)
        try:
            return Runtime.build(config, self.data_dir)
        except (StoreError, OSError) as exc:
            raise click.ClickException(str(exc)) from None


def _setup_logging(config: "Config", data_dir: Path) -> None:
    root = logging.getLogger()
    if getattr(root, "_liveroom_configured", False):
        return
    root.setLevel(config.logging.level)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("liveroom: %(levelname)s: %(message)s"))
    root.addHandler(console)
    if config.logging.file:
        data_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(data_dir / config.logging.file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root._liveroom_configured = True  # type: ignore[attr-defined]


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


@cli.command()
@click.pass_obj
def run(settings: Settings) -> None:
    """Start the adapters the config enables (the shipped config: a console room).

    Ctrl-C (SIGINT) or SIGTERM stops it gracefully; everything said is kept.
    """
    from adapters.base import AdapterError
    from bots.app import NoAdapterError, configured_adapters
    config = settings.config()
    try:
        adapters = configured_adapters(config)
    except NoAdapterError as exc:
        raise click.ClickException(str(exc)) from None
    runtime = settings.runtime()
    try:
        asyncio.run(runtime.serve(adapters))
    except AdapterError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.close()


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fast", is_flag=True, help="Replay as fast as possible instead of the log's pacing.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Pacing multiplier (2 = twice as fast as recorded). Default from config.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures at the end.")
@click.option("--quiet", is_flag=True, help="Do not print the bot's replies.")
@click.pass_obj
def replay(settings: Settings, file: Path, fast: bool, speed: float | None, as_json: bool,
           quiet: bool) -> None:
    """Feed a chat log (JSON Lines) through the bot and record it.

    Each line: {"id", "ts", "user", "text", "room"} and optionally "reply_to",
    "kind" (chat, transcript, join, leave), "role", "mentions". Broken lines are
    skipped and counted with their line numbers.
    """
    from tqdm import tqdm

    from adapters.base import AdapterError
    from adapters.replay import ReplayAdapter
    config = settings.config()
    runtime = settings.runtime()
    bar = tqdm(total=file.stat().st_size, unit="B", unit_scale=True, desc="replay",
               disable=True if as_json else None, file=sys.stderr, leave=False)
    adapter = ReplayAdapter(file, fast=fast, speed=speed or config.replay.speed,
                            max_line_bytes=config.replay.max_line_bytes,
                            echo=None if (as_json or quiet) else sys.stdout, progress=bar.update)
    started = time.perf_counter()
    try:
        asyncio.run(runtime.serve([adapter]))  # returns after the store committed everything
        elapsed = time.perf_counter() - started
    except AdapterError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
        runtime.close()
    report = _replay_report(adapter, runtime, elapsed)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    click.echo(f"replayed {report['messages']} events in {report['seconds']:.2f} s "
               f"({report['msgs_per_s']:.0f}/s); {report['replies']} bot replies; "
               f"{report['bad_lines']} bad lines; {report['truncated']} truncated")
    click.echo(f"questions {report['questions']}: {report['answers']} answered, {report['abstained']} "
               f"passed to the host, {report['merged']} merged into bursts")
    for bad in adapter.stats.bad_line_samples[:10]:
        click.echo(f"  line {bad.lineno}: {bad.reason}", err=True)
    if adapter.stats.bad_lines > 10:
        click.echo(f"  ... and {adapter.stats.bad_lines - 10} more bad lines", err=True)


def _replay_report(adapter: Any, runtime: "Runtime", elapsed: float) -> dict[str, Any]:
    """The replay's figures. ``seconds`` covers reading, routing and the final commit."""
    stats, router = adapter.stats, runtime.router.stats
    return {
        "messages": stats.messages,
        "seconds": round(elapsed, 4),
        "msgs_per_s": round(stats.messages / max(elapsed, 1e-9), 1),
        "bad_lines": stats.bad_lines,
        "bad_line_numbers": [b.lineno for b in stats.bad_line_samples],
        "replies": router.replies,
        "commands": router.commands,
        "truncated": router.truncated,
        "committed": runtime.store.committed,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **(runtime.answering.stats.as_dict() if runtime.answering is not None
           else {"questions": 0, "answers": 0, "abstained": 0, "merged": 0}),
    }


@cli.command()
@click.pass_obj
def check(settings: Settings) -> None:
    """Validate the config and the environment, and say what would run."""
    from bots.app import NoAdapterError, configured_adapters, database_url
    from brain.memory import Store, StoreError
    config = settings.config()
    source = settings.config_path or ("config.yaml" if Path("config.yaml").exists() else "(defaults)")
    click.echo(f"ok  config {source} is valid")
    click.echo("ok  no other distribution provides adapters, brain or bots")
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise click.ClickException(f"data dir {settings.data_dir} is not writable: {exc}") from None
    click.echo(f"ok  data dir {settings.data_dir.resolve()} is writable")
    try:
        store = Store(database_url(config, settings.data_dir))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        click.echo(f"ok  database {store.engine.url.render_as_string(hide_password=True)} "
                   f"at schema version {store.schema_version}; {store.count()} events recorded")
    finally:
        store.close()
    try:
        names = [a.name for a in configured_adapters(config)]
    except NoAdapterError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok  adapters: {', '.join(names)}")


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
