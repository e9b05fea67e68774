"""What every ``liveroom`` command shares: the global settings, the exit codes, logging.

`Settings` is the root group's context object (``--config``, ``--data-dir``);
commands receive it with ``@click.pass_obj``. Nothing here imports another
command module, so every command module can import it.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # pragma: no cover
    from bots.app import Runtime
    from bots.runtime.config import Config

__all__ = ["EXIT_CONFIG", "EXIT_RUNTIME", "Settings", "setup_logging"]

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


@dataclass
class Settings:
    config_path: Path | None
    data_dir: Path
    _config: "Config | None" = None
    #: a command's options laid over the config file's sections (`override`)
    _overrides: dict[str, Any] = field(default_factory=dict)

    def override(self, **sections: dict[str, Any]) -> None:
        """Lay a command's options over the config file (``liveroom dashboard --port``); validated with it."""
        self._overrides.update(sections)
        self._config = None

    def config(self) -> "Config":
        """The validated config; exits with every bad key listed if it is not valid."""
        if self._config is None:
            from bots.runtime.config import ConfigError, load_config
            try:
                self._config = load_config(self.config_path, overrides=self._overrides)
            except ConfigError as exc:
                click.echo("liveroom: the configuration is not valid:", err=True)
                for problem in exc.problems:
                    click.echo(f"  {problem}", err=True)
                sys.exit(EXIT_CONFIG)
        return self._config

    def runtime(self) -> "Runtime":
        from bots.app import Runtime
        from brain.store.event_store import StoreError
        from brain.store.schema import SchemaTooNew
        config = self.config()
        setup_logging(config, self.data_dir)
        try:
            return Runtime.build(config, self.data_dir)
        except SchemaTooNew as exc:  # another process (a newer worker) migrated the shared database
            raise click.ClickException(f"database.url: {exc}") from None
        except (StoreError, OSError) as exc:
            raise click.ClickException(str(exc)) from None


def setup_logging(config: "Config", data_dir: Path) -> None:
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
    from bots.runtime.redaction import install, secrets_of
    install(secrets_of(config))  # after the handlers exist: it covers the handlers present now
    root._liveroom_configured = True  # type: ignore[attr-defined]
