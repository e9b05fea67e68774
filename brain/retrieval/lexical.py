"""BM25 over chunks (bm25s), persisted to a directory and rebuilt wholesale.

bm25s has no incremental add, so the index is rebuilt from the full chunk list
whenever the knowledge base changes; that is cheap (measured in
docs/retrieval.md). Besides raw scores the index exposes a per-query upper
bound so the hybrid retriever can turn BM25 scores into a [0, 1] match ratio
that is comparable across queries.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from brain.retrieval.types import Chunk
from brain.text.spelling import Speller
from brain.text.tokens import tokenize

_FORMAT = 1
logging.getLogger("bm25s").setLevel(logging.WARNING)


def chunk_index_text(chunk: Chunk) -> str:
    """The text both indexes see for a chunk: title (heading/question/product name) + body."""
    if chunk.title and not chunk.text.startswith(chunk.title):
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text


def chunk_to_json(chunk: Chunk) -> dict:
    d = asdict(chunk)
    d["metadata"] = dict(chunk.metadata)
    return d


def chunk_from_json(d: dict) -> Chunk:
    return Chunk(id=d["id"], text=d["text"], source=d["source"], title=d.get("title", ""),
                 lang=d.get("lang", "en"), metadata=d.get("metadata") or {})


class BM25Index:
    """BM25 (Lucene variant, k1=1.2, b=0.75) over chunk title + text."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, stem: bool = True, zh_search_mode: bool = True) -> None:
        self.k1 = k1
        self.b = b
        self.stem = stem
        self.zh_search_mode = zh_search_mode
        self._chunks: list[Chunk] = []
        self._pos: dict[str, int] = {}
        self._df: dict[str, int] = {}
        self._bm25 = None  # bm25s.BM25, None while empty
        self._speller: Speller | None = None  # built on first use from the chunks

    # -- building --------------------------------------------------------
    def _tok(self, text: str) -> list[str]:
        return tokenize(text, stem=self.stem, zh_search_mode=self.zh_search_mode)

    def build(self, chunks: Sequence[Chunk]) -> None:
        """(Re)build the index from the complete chunk list; later duplicates of an id win."""
        import bm25s

        by_id: dict[str, Chunk] = {}
        for c in chunks:
            by_id[c.id] = c
        self._chunks = list(by_id.values())
        self._pos = {c.id: i for i, c in enumerate(self._chunks)}
        corpus_tokens = [self._tok(chunk_index_text(c)) for c in self._chunks]
        df: Counter[str] = Counter()
        for toks in corpus_tokens:
            df.update(set(toks))
        self._df = dict(df)
        self._speller = None
        if not self._chunks:
            self._bm25 = None
            return
        bm = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        bm.index(corpus_tokens, show_progress=False)
        self._bm25 = bm

    # -- querying --------------------------------------------------------
    def __len__(self) -> int:
        return len(self._chunks)

    @property
    def chunks(self) -> list[Chunk]:
        return list(self._chunks)

    def get(self, chunk_id: str) -> Chunk | None:
        i = self._pos.get(chunk_id)
        return None if i is None else self._chunks[i]

    def chunks_at(self, position: int) -> Chunk:
        """The chunk at a score-array position (the order of ``scores``)."""
        return self._chunks[position]

    def position(self, chunk_id: str) -> int | None:
        return self._pos.get(chunk_id)

    def knows(self, token: str) -> bool:
        """True when some chunk contains ``token``."""
        return self._df.get(token, 0) > 0

    @property
    def speller(self) -> Speller:
        """The chunks' English words, for mending a question's typos (`brain.text.spelling`)."""
        if self._speller is None:
            self._speller = Speller.from_texts(chunk_index_text(c) for c in self._chunks)
        return self._speller

    def idf(self, token: str) -> float:
        """Lucene idf; a token absent from the corpus gets the idf of df=0."""
        n = len(self._chunks)
        df = self._df.get(token, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def query_tokens(self, query: str) -> list[str]:
        return self._tok(query)

    def max_score(self, tokens: Sequence[str]) -> float:
        """Score of an ideal average-length passage containing every query token once.

        Dividing a BM25 score by this gives a match ratio (about 1 = all query
        terms matched, weighted by rarity) that does not grow with query length
        or corpus statistics, so it can feed a cross-query confidence.
        """
        return float(sum(self.idf(t) for t in tokens))

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """Raw BM25 score of every chunk (position order), zeros if nothing matches."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in tokens if t in vocab and t != ""]
        if not ids:
            return np.zeros(len(self._chunks), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int = 10) -> list[tuple[Chunk, float]]:
        """Top-k chunks with raw BM25 scores; chunks with score 0 are not returned."""
        scores = self.scores(self.query_tokens(query))
        if scores.size == 0:
            return []
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._chunks[i], float(scores[i])) for i in top if scores[i] > 0]

    # -- persistence -----------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write the index atomically-ish: build in a sibling temp dir, then swap."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=target.parent))
        try:
            if self._bm25 is not None:
                self._bm25.save(str(tmp / "bm25s"), show_progress=False)
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for c in self._chunks:
                    fh.write(json.dumps(chunk_to_json(c), ensure_ascii=False) + "\n")
            meta = {"format": _FORMAT, "k1": self.k1, "b": self.b, "stem": self.stem,
                    "zh_search_mode": self.zh_search_mode, "df": self._df}
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> "BM25Index":
        import bm25s

        d = Path(directory)
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"unsupported BM25 index format in {d}: {meta.get('format')}")
        idx = cls(k1=meta["k1"], b=meta["b"], stem=meta["stem"], zh_search_mode=meta["zh_search_mode"])
        with open(d / "chunks.jsonl", encoding="utf-8") as fh:
            idx._chunks = [chunk_from_json(json.loads(line)) for line in fh if line.strip()]
        idx._pos = {c.id: i for i, c in enumerate(idx._chunks)}
        idx._df = meta["df"]
        if (d / "bm25s").exists():
            idx._bm25 = bm25s.BM25.load(str(d / "bm25s"), show_progress=False, verbosity=0)
        return idx
