"""Keeps the BM25 and Chroma indexes of one knowledge base in step with its chunk list.

The bot and the evaluation both go through this class, so what is measured is
what runs: vectors are upserted only for new or changed chunks (by id, since
chunk ids are content-derived), removed ids are deleted, and BM25 is rebuilt
from the full list because bm25s cannot add incrementally.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from brain.retrieval.embedders import Embedder
from brain.retrieval.hybrid import FusionConfig, HybridRetriever
from brain.retrieval.lexical import BM25Index, chunk_index_text
from brain.retrieval.types import Chunk
from brain.retrieval.vector import VectorIndex

#: How `embed_chunks` makes a chunk's vector. Stamped on the Chroma collection: an index made by another recipe
#: is re-embedded whole on the next sync, so old and new vectors (whose cosines differ in scale) never mix.
VECTOR_RECIPE = "text+faq-question/1"


def faq_question(chunk: Chunk) -> str | None:
    """The question of an FAQ chunk (its title, as `brain.knowledge.chunking` makes it), else None."""
    if chunk.metadata.get("kind") != "faq":
        return None
    return chunk.title.strip() or None


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk]) -> np.ndarray:
    """One unit vector per chunk: its indexed text's, and for an FAQ entry the mean of that and its question's.

    Why the question counts on its own: viewers ask an FAQ's question in their own words, and an embedding of the
    whole entry is mostly its answer (on ret-covidfaq-en, MiniLM ranks the right entry first for 0.570 of the
    queries by the whole entry, 0.656 by the question alone, 0.676 by this mean; docs/retrieval.md). The mean
    keeps one row per chunk, so the retriever, the filters and the candidate read-back stay as they are.
    """
    if not chunks:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    questions = [(i, q) for i, c in enumerate(chunks) if (q := faq_question(c)) is not None]
    vecs = embedder.embed([chunk_index_text(c) for c in chunks] + [q for _, q in questions])
    out = np.array(vecs[: len(chunks)], dtype=np.float32)
    for row, (i, _) in enumerate(questions):
        out[i] += vecs[len(chunks) + row]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


class KnowledgeIndex:
    """Both indexes for one knowledge base, stored under ``directory`` (or in memory if None)."""

    def __init__(self, directory: str | os.PathLike[str] | None, embedder: Embedder | None,
                 collection: str = "liveroom-chunks", dense: bool = True,
                 config: FusionConfig | None = None, chroma_url: str | None = None) -> None:
        """``chroma_url``: vectors on that Chroma server (shared by workers) instead of under ``directory``."""
        self.directory = Path(directory) if directory is not None else None
        self.embedder = embedder
        self.lexical = BM25Index()
        if self.directory is not None and (self.directory / "bm25" / "meta.json").exists():
            self.lexical = BM25Index.load(self.directory / "bm25")
        self.vector: VectorIndex | None = None
        if dense and embedder is not None:
            self.vector = VectorIndex(None if self.directory is None else self.directory / "chroma", collection,
                                      server=chroma_url)
        self.retriever = HybridRetriever(embedder, self.lexical, self.vector, config)

    def vectors_stale(self) -> bool:
        """True when the vector index misses chunks or was made by another `VECTOR_RECIPE`: `sync` must run."""
        if self.vector is None:
            return False
        if self.vector.count() < len(self.lexical):
            return True
        return self.vector.count() > 0 and self.vector.recipe != VECTOR_RECIPE

    def sync(self, chunks: Sequence[Chunk], batch_size: int = 256,
             progress: Callable[[int], None] | None = None) -> dict[str, int]:
        """Make both indexes hold exactly ``chunks``; returns counts of added/removed vectors.

        ``progress`` is called with the number of chunks embedded by each batch.
        """
        added = removed = 0
        if self.vector is not None and self.embedder is not None:
            stored = self.vector.get_ids()
            # Rows made by another recipe are re-embedded (an upsert replaces them in place).
            existing = stored if self.vector.recipe == VECTOR_RECIPE else set()
            wanted = {c.id for c in chunks}
            stale = sorted(stored - wanted)
            if stale:
                self.vector.delete(stale)
                removed = len(stale)
            new = [c for c in {c.id: c for c in chunks}.values() if c.id not in existing]
            for start in range(0, len(new), batch_size):
                part = new[start : start + batch_size]
                self.vector.upsert(part, embed_chunks(self.embedder, part))
                if progress is not None:
                    progress(len(part))
            added = len(new)
            self.vector.set_recipe(VECTOR_RECIPE)
        self.lexical.build(chunks)
        if self.directory is not None:
            self.lexical.save(self.directory / "bm25")
        return {"added": added, "removed": removed, "chunks": len(self.lexical)}
