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

from brain.retrieval.embedders import Embedder
from brain.retrieval.hybrid import FusionConfig, HybridRetriever
from brain.retrieval.lexical import BM25Index, chunk_index_text
from brain.retrieval.types import Chunk
from brain.retrieval.vector import VectorIndex


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

    def sync(self, chunks: Sequence[Chunk], batch_size: int = 256,
             progress: Callable[[int], None] | None = None) -> dict[str, int]:
        """Make both indexes hold exactly ``chunks``; returns counts of added/removed vectors.

        ``progress`` is called with the number of chunks embedded by each batch.
        """
        added = removed = 0
        if self.vector is not None and self.embedder is not None:
            existing = self.vector.get_ids()
            wanted = {c.id for c in chunks}
            stale = sorted(existing - wanted)
            if stale:
                self.vector.delete(stale)
                removed = len(stale)
            new = [c for c in {c.id: c for c in chunks}.values() if c.id not in existing]
            for start in range(0, len(new), batch_size):
                part = new[start : start + batch_size]
                self.vector.upsert(part, self.embedder.embed([chunk_index_text(c) for c in part]))
                if progress is not None:
                    progress(len(part))
            added = len(new)
        self.lexical.build(chunks)
        if self.directory is not None:
            self.lexical.save(self.directory / "bm25")
        return {"added": added, "removed": removed, "chunks": len(self.lexical)}
