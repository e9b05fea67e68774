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
