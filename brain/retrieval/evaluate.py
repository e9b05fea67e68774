"""Retrieval evaluation on BEIR-layout folders, through the same classes the bot uses.

``evaluate`` is what ``liveroom eval retrieval DIR`` calls: it turns each corpus
document into a Chunk (title + text; an FAQ chunk when the title is a question,
as the knowledge chunker decides), indexes it with KnowledgeIndex, searches
with HybridRetriever and scores the ranking with brain.retrieval.metrics.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from brain.knowledge.faq import is_question_heading
from brain.retrieval.embedders import Embedder, make_embedder
from brain.retrieval.indexer import KnowledgeIndex
from brain.retrieval.metrics import Qrels, mean_metrics
from brain.retrieval.types import Chunk
from brain.text.tokens import detect_lang

Mode = Literal["bm25", "dense", "hybrid"]


@dataclass(frozen=True, slots=True)
class BeirSet:
    corpus: list[Chunk]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(directory: str | os.PathLike[str]) -> BeirSet:
    """Read corpus.jsonl, queries.jsonl and qrels.tsv (header query-id, corpus-id, score)."""
    d = Path(directory)
    corpus: list[Chunk] = []
    with open(d / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            doc = json.loads(line)
            text = doc.get("text") or ""
            title = doc.get("title") or ""
            # A document titled by a question is an FAQ entry, as the knowledge chunker would make it.
            kind = "faq" if title and is_question_heading(title) else "doc"
            corpus.append(Chunk(id=str(doc["_id"]), text=text, source=str(doc["_id"]), title=title,
                                lang=detect_lang(title + " " + text), metadata={"kind": kind}))
    queries: dict[str, str] = {}
    with open(d / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                q = json.loads(line)
                queries[str(q["_id"])] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(d / "qrels.tsv", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise ValueError(f"{d / 'qrels.tsv'}: expected header query-id<TAB>corpus-id<TAB>score")
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    return BeirSet(corpus, queries, qrels)


def evaluate(directory: str | os.PathLike[str], mode: Mode = "hybrid", embedder: Embedder | None = None,
             workdir: str | os.PathLike[str] | None = None, k: int = 10) -> dict[str, float | int]:
    """Index the set and return recall@1, recall@5, mrr@10, ndcg@10, queries, docs, seconds.

    ``queries`` counts queries with at least one relevant (grade > 0) document,
    the ones the metrics average over. ``seconds`` covers indexing and search.
    ``embedder`` defaults to the packaged MiniLM (unused for ``bm25``).
    ``workdir`` holds the indexes (a temporary directory if None).
    """
    if mode not in ("bm25", "dense", "hybrid"):
        raise ValueError(f"mode must be bm25, dense or hybrid, not {mode!r}")
    data = load_beir(directory)
    if embedder is None and mode != "bm25":
        embedder = make_embedder("minilm")
    with tempfile.TemporaryDirectory(prefix="lr-eval-", dir=workdir) as tmp:
        t0 = time.perf_counter()
        index = KnowledgeIndex(Path(tmp), embedder if mode != "bm25" else None,
                               collection="eval-corpus", dense=mode != "bm25")
        index.sync(data.corpus)
        runs: dict[str, list[str]] = {}
        judged: Qrels = {q: g for q, g in data.qrels.items() if q in data.queries}
        for qid in judged:
            hits = index.retriever.search(data.queries[qid], k=k, mode=mode)
            runs[qid] = [h.chunk.id for h in hits]
        seconds = time.perf_counter() - t0
        del index
    metrics = mean_metrics(runs, judged)
    n_queries = sum(1 for g in judged.values() if any(v > 0 for v in g.values()))
    return {**{m: round(v, 4) for m, v in metrics.items()}, "queries": n_queries,
            "docs": len(data.corpus), "seconds": round(seconds, 2)}
