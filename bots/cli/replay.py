"""``liveroom replay`` and ``liveroom feed captions``: run the bot over a file and report the figures."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click

from bots.cli.settings import EXIT_CONFIG, Settings
from brain.text.plural import counted

if TYPE_CHECKING:  # pragma: no cover
    from bots.app import Runtime

__all__ = ["replay", "feed_group"]


@click.command()
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
    _echo_report(report, as_json=as_json,
                 headline=(f"replayed {counted(report['messages'], 'event')} in {report['seconds']:.2f} s "
                           f"({report['msgs_per_s']:.0f}/s); {counted(report['replies'], 'bot reply', 'bot replies')}; "
                           f"{counted(report['bad_lines'], 'bad line')}; {report['truncated']} truncated"),
                 details=[f"questions {report['questions']}: {report['answers']} answered, {report['abstained']} "
                          f"passed to the host, {report['merged']} merged into bursts"],
                 bad=adapter.stats.bad_line_samples, bad_total=adapter.stats.bad_lines, what="bad line")


def _echo_report(report: dict[str, Any], *, as_json: bool, headline: str, bad: Sequence[Any], bad_total: int,
                 what: str, details: Sequence[str] = ()) -> None:
    """A replay's or a captions feed's summary: one JSON object, or the headline, what was kept or
    refused, the details and the first bad lines (on stderr); ``what`` names one bad item ("bad line")."""
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    click.echo(headline)
    kept = _kept_summary(report)
    if kept:
        click.echo(kept)
    for line in details:
        click.echo(line)
    for sample in bad[:10]:
        click.echo(f"  line {sample.lineno}: {sample.reason}", err=True)
    if bad_total > 10:
        click.echo(f"  ... and {counted(bad_total - 10, 'more ' + what)}", err=True)


def _kept_summary(report: dict[str, Any]) -> str:
    """What happened to events beyond answering them (`bots.runtime.router.kept_phrases`), or ''."""
    from bots.runtime.router import kept_phrases
    parts = kept_phrases(already_stored=report["already_stored"], repaired=report["repaired"],
                         set_aside=report["set_aside"], refused=report["refused"])
    return ("events: " + "; ".join(parts)) if parts else ""


def _recorded_room(settings: Settings, room: str) -> str | None:
    """The recorded room a bare ``--room`` name stands for (`resolve_room`), or None: a room of its own."""
    nothing_recorded = not settings.data_dir.is_dir() and not settings.config().database.url
    if ":" in room or nothing_recorded:
        return None
    from bots.cli.rooms import open_store, resolve_room
    with open_store(settings) as store:
        return resolve_room(store, room, new_ok=True)


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


@click.group(name="feed")
def feed_group() -> None:
    """Feed the stream's content (the host's speech) into a room.

    For live speech-to-text, enable the HTTP endpoint instead (adapters.feed in
    the config; see the README, "Feeding the host's speech").
    """


@feed_group.command(name="captions")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--room", required=True,
              help="Room key platform:room_id the speech belongs to (e.g. replay:smoothie-lab, "
                   "console:demo); a bare name is the recorded room of that name, else captions:<name>.")
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
    room = _recorded_room(settings, room) or room
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
    _echo_report(report, as_json=as_json,
                 headline=(f"fed {counted(report['cues'], 'cue')} ({stats.format}, {stats.encoding}) into "
                           f"{report['room']} in {report['seconds']:.2f} s; "
                           f"{counted(report['replies'], 'bot reply', 'bot replies')}; "
                           f"{counted(report['bad_cues'], 'bad cue')}; {report['truncated']} truncated"),
                 bad=stats.bad_cue_samples, bad_total=stats.bad_cues, what="bad cue")
