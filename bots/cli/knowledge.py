"""``liveroom ingest`` and ``liveroom ask``: the knowledge base from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from bots.cli.settings import Settings, setup_logging

__all__ = ["ingest", "ask"]


def _brain(settings: Settings, folder: Path | None = None) -> Any:
    from bots.runtime.brain_worker import BrainWorker
    config = settings.config()
    setup_logging(config, settings.data_dir)
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


@click.command()
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


@click.command()
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
