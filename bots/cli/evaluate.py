"""``liveroom eval``: measure the bot's parts on labelled data.

This module holds the group and the knowledge-side evaluations (retrieval,
products); ``eval communities`` and ``eval forecast`` live with their features
(`bots.cli.audience`, `bots.cli.traffic`) and `bots.cli.main` attaches them here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bots.cli.rooms import echo_figures
from bots.cli.settings import EXIT_CONFIG, Settings

__all__ = ["eval_group"]


@click.group(name="eval")
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


@eval_group.command(name="answers")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Ask only the first N queries.")
@click.option("--details", "details_file", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Also write one JSON line per query (answer, gold, hit, f1, reason) to this file.")
@click.pass_obj
def eval_answers(settings: Settings, directory: Path, as_json: bool, limit: int | None,
                 details_file: Path | None) -> None:
    """Ask the bot every question of an answer set and score what it says.

    DIRECTORY holds corpus.jsonl ({"_id", "title", "text"}) and queries.jsonl
    ({"_id", "text", "answers": [...]}; an empty list means the corpus does not
    hold the answer). The corpus is written as a temporary knowledge folder and
    loaded by the bot as configured (embedder, answers.min_confidence,
    max_chars, llm); each question is asked alone, as /ask does. Figures:

    \b
    answer_hit         answerable questions whose answer contains a gold answer
                       (NFKC, case and whitespace folded)
    answer_f1          mean token F1 against the best gold answer (words for
                       English, characters for Chinese); passing scores 0
    passed_answerable  answerable questions passed to the host (abstained)
    false_answer_rate  unanswerable questions answered anyway
    answerable, unanswerable, questions, docs   the counts
    index_seconds      model load and ingest; seconds: the whole run
    latency_p50_ms, latency_p95_ms   per question (answer_batch + finish)
    by_reason          answers by reason (answered, low-confidence, ...)

    Exit code 2 if DIRECTORY is not such a set.
    """
    from tqdm import tqdm

    from bots.runtime.answer_eval import SetError, evaluate_answers
    from bots.runtime.brain_worker import BrainUnavailable
    config = settings.config()
    bar = tqdm(file=sys.stderr, disable=True if as_json else None, leave=False)
    stages: list[str] = []

    def progress(stage: str, done: int, total: int | None) -> None:
        if stages[-1:] != [stage]:  # indexing (chunks), then answering (questions)
            stages.append(stage)
            bar.reset(total=total)
            bar.set_description(stage)
            bar.unit = "chunk" if stage == "indexing" else "question"
        bar.update(done)

    try:
        result = evaluate_answers(directory, config, limit=limit, progress=progress, details=details_file is not None)
    except SetError as exc:
        click.echo(f"liveroom: cannot evaluate answers: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except BrainUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    if details_file is not None:
        with open(details_file, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in result.pop("details"))
    if not as_json:
        result["by_reason"] = ", ".join(f"{reason} {n}" for reason, n in result["by_reason"].items())
    echo_figures(result, as_json)
