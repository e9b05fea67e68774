"""Shared helpers of the brain benchmarks: real eval text as a knowledge folder, the bot's objects, reporting.

The eval sets (/work/shared/data, BEIR layout) are written out as the files a
host would drop into the knowledge folder, so they go through the real
ingestion path (discover → loaders → chunking → ids → KnowledgeBase indexes):

* ret-covidfaq-en, ret-cmrc-trial-zh: one Markdown file per corpus document,
  ``<set>/<doc id>.md``, with the document title as its ``#`` heading (a title
  ending in "?" makes the document an FAQ chunk, as on a real FAQ page) and the
  text as paragraphs. A chunk's ``path`` metadata therefore names its document.
* prod-chorus-dev: one ``chorus/products.csv`` catalog (id, name, description).
* the shipped ``knowledge/`` folder, copied as is (without ``samples/``).

Those give about 3,300 chunks, fewer than the 5,000 the latency benchmark
needs, so `build_big_folder` adds more real, public English Markdown: the
project's own ``docs/*.md`` and the Markdown long descriptions (READMEs) of the
packages installed in the venv (``*.dist-info/METADATA``; liveroom's own
excluded), one file per package under ``pkg-readmes/``. Nothing here invents or duplicates text: every
chunk comes from those files, chunked with the default options.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import platform
import random
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DATA = Path(os.environ.get("LIVEROOM_DATA", "/work/shared/data"))
DOC_SETS = ("ret-covidfaq-en", "ret-cmrc-trial-zh")
PRODUCT_SET = "prod-chorus-dev"
SHIPPED_KNOWLEDGE = REPO / "knowledge"


@dataclass(frozen=True)
class EvalSet:
    """One BEIR folder as plain data: documents, queries and relevance judgements."""

    name: str
    docs: dict[str, tuple[str, str]]          # doc id -> (title, text)
    queries: dict[str, str]                   # query id -> text
    qrels: dict[str, dict[str, int]]          # query id -> {doc id: grade}


def load_set(name: str, data: Path = DATA) -> EvalSet:
    from brain.retrieval.evaluate import load_beir  # the bot's own reader: one BEIR parser in the project

    beir = load_beir(data / name)
    docs = {c.id: (c.title, c.text) for c in beir.corpus}
    queries, qrels = beir.queries, beir.qrels
    return EvalSet(name, docs, queries, qrels)


def _safe_name(doc_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in doc_id)


def write_docs(root: Path, es: EvalSet, doc_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Write documents as Markdown files the way ``liveroom eval answers`` does; returns relative path -> doc id."""
    from bots.runtime.answer_eval import CorpusDoc, write_knowledge_folder

    ids = es.docs if doc_ids is None else doc_ids
    written = write_knowledge_folder([CorpusDoc(i, *es.docs[i]) for i in ids], root / es.name)
    return {f"{es.name}/{name}": doc_id for name, doc_id in written.items()}


def write_catalog(root: Path, es: EvalSet) -> Path:
    """Write a product set as a CSV catalog (id, name, description)."""
    path = root / "chorus" / "products.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "description"])
        for doc_id, (title, text) in es.docs.items():
            name = " ".join(title.split()) or doc_id
            desc = " ".join(text.split())
            w.writerow([doc_id, name, "" if desc == name else desc])
    return path


def write_package_readmes(root: Path, min_chars: int = 200) -> int:
    """Write the Markdown long description of every installed distribution as ``pkg-readmes/<name>.md``."""
    import importlib.metadata as md

    out = root / "pkg-readmes"
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for dist in sorted(md.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        meta = dist.metadata
        name = (meta["Name"] or "").lower()
        body = meta.get_payload() or meta.get("Description") or ""
        markdown = "markdown" in (meta.get("Description-Content-Type") or "")
        if not name or name == "liveroom" or not markdown or len(body) < min_chars:
            continue
        path = out / f"{_safe_name(name)}.md"
        if not path.exists():
            path.write_text(body, encoding="utf-8")
            written += 1
    return written


def build_big_folder(root: Path, data: Path = DATA) -> dict[str, int]:
    """The benchmark knowledge folder (eval corpora, shipped knowledge/, project docs, package READMEs).

    Returns the number of files per part.
    """
    counts: dict[str, int] = {}
    for name in DOC_SETS:
        counts[name] = len(write_docs(root, load_set(name, data)))
    write_catalog(root, load_set(PRODUCT_SET, data))
    counts[PRODUCT_SET] = 1
    shipped = root / "shop"
    shutil.copytree(SHIPPED_KNOWLEDGE, shipped, ignore=shutil.ignore_patterns("samples", ".*"))
    counts["knowledge/"] = sum(1 for p in shipped.rglob("*") if p.is_file())
    shutil.copytree(REPO / "docs", root / "project-docs", ignore=shutil.ignore_patterns(".*"))
    counts["docs/"] = sum(1 for p in (root / "project-docs").rglob("*.md"))
    counts["package READMEs"] = write_package_readmes(root)
    return counts


def chunk_parts(chunks: Iterable) -> dict[str, int]:
    """Chunks per top-level folder of the benchmark knowledge folder."""
    out: dict[str, int] = {}
    for c in chunks:
        part = str(c.metadata.get("path", c.source)).split("/", 1)[0]
        out[part] = out.get(part, 0) + 1
    return dict(sorted(out.items()))


def split_docs(es: EvalSet, seed: int) -> tuple[list[str], list[str]]:
    """Seeded random halves (A, B) of a set's document ids."""
    ids = sorted(es.docs)
    random.Random(seed).shuffle(ids)
    half = len(ids) // 2
    return sorted(ids[:half]), sorted(ids[half:])


# ---- the bot's objects --------------------------------------------------------------

def minilm():
    """The packaged all-MiniLM-L6-v2, as the bot builds it (``retrieval.embedder: minilm``)."""
    from brain.retrieval.embedders import make_embedder

    return make_embedder("minilm")


def answerer_for(kb, min_confidence: float = 0.0, top_k: int = 5):
    """An extractive Answerer over a KnowledgeBase, wired as the bot wires it (the packaged multilingual reader)."""
    from brain.answers.compose import Answerer
    from brain.retrieval.embedders import make_embedder

    return Answerer.for_knowledge_base(kb, reader=make_embedder("use-multilingual"), min_confidence=min_confidence,
                                       top_k=top_k)


# ---- reporting ----------------------------------------------------------------------

def machine_line() -> str:
    import importlib.metadata as md

    def ver(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "?"

    return (f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.python_implementation()} {platform.python_version()}, torch {ver('torch')} "
            f"(threads {_torch_threads()}), sentence-transformers {ver('sentence-transformers')}, "
            f"chromadb {ver('chromadb')}, bm25s {ver('bm25s')}")


def _torch_threads() -> str:
    try:
        import torch

        return str(torch.get_num_threads())
    except Exception:  # pragma: no cover - torch always there in the venv
        return "?"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal and pasteable into RESULTS.md)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


class MemoEmbedder:
    """The same embedder, remembering each text's vector (for re-indexing the same texts in several runs).

    Vectors are the wrapped model's own; only the batches differ (texts seen
    before are not re-encoded), which changes results by float rounding at most.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.languages = getattr(inner, "languages", None)
        self._memo: dict[str, object] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]):
        import numpy as np

        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if todo:
            for t, v in zip(todo, self.inner.embed(todo)):
                self._memo[t] = v
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])
