"""The knowledge base: a folder of documents and catalogs, kept in step with its indexes.

This joins the two halves: `brain.knowledge` turns files into chunks and knows
what changed since the last run (content hashes in a manifest), and
`brain.retrieval` keeps the Chroma and BM25 indexes. An unchanged folder costs
a stat of each file and nothing else; a changed file re-embeds only its new
chunks; a deleted file's chunks leave both indexes. The manifest is committed
only after the indexes applied the change, so a crash mid-ingest re-does the
work instead of losing it.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from brain.knowledge import IngestOptions, IngestReport, ingest
from brain.retrieval.embedders import Embedder
from brain.retrieval.indexer import KnowledgeIndex
from brain.retrieval.types import Chunk, SearchHit
from brain.text.safety import looks_like_instruction
from brain.text.tokens import tokenize

__all__ = ["KnowledgeBase", "IngestSummary"]


@dataclass
class IngestSummary:
    """What an ingest did, for the CLI, ``/kb reload`` and benchmarks."""

    report: IngestReport
    embedded: int = 0
    removed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    flagged: list[str] = field(default_factory=list)  # chunk sources holding instruction-like text

    @property
    def changed(self) -> bool:
        return bool(self.embedded or self.removed or self.report.loaded or self.report.deleted)

    def lines(self) -> list[str]:
        out = [self.report.summary(),
               f"index: {self.chunks} chunks; {self.embedded} embedded, {self.removed} removed "
               f"in {self.seconds:.2f} s"]
        if self.flagged:
            out.append("instruction-like text (never quoted in answers): " + ", ".join(sorted(set(self.flagged))))
        return out


class KnowledgeBase:
    """One knowledge folder and its indexes under ``state_dir``. Thread-safe for one writer."""

    def __init__(self, root: Path, state_dir: Path, embedder: Embedder,
                 options: IngestOptions | None = None, *, chroma_url: str | None = None,
                 collection: str = "liveroom-chunks") -> None:
        """``chroma_url``: keep the vectors on a Chroma server that several workers share (one ingests,
        the others find every chunk there already and embed nothing); else under ``state_dir``."""
        self.root = Path(root)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.options = options or IngestOptions()
        self.embedder = embedder
        self.index = KnowledgeIndex(self.state_dir / "index", embedder, collection, chroma_url=chroma_url)
        self.version = 0  # bumped whenever the indexed content changes (caches key on it)
        self._lock = threading.Lock()

    @property
    def retriever(self):  # noqa: ANN201 - HybridRetriever, re-exported for callers
        return self.index.retriever

    def __len__(self) -> int:
        return len(self.index.lexical)

    def ingest(self, paths: Iterable[Path] | None = None,
               progress: Callable[[int], None] | None = None) -> IngestSummary:
        """Bring the indexes in line with the folder; only changed files cost anything.

        ``progress`` is called with the number of chunks embedded so far.
        """
        started = time.perf_counter()
        if not self.root.is_dir():
            raise FileNotFoundError(f"knowledge folder {self.root} does not exist")
        manifest_dir = self.state_dir / "manifest"
        with self._lock:
            if len(self.index.lexical) == 0 and manifest_dir.exists():
                # The index is gone but the manifest remembers the files: start over.
                shutil.rmtree(manifest_dir)
            result = ingest(self.root, manifest_dir, self.options, paths)
            summary = IngestSummary(report=result.report)
            vectors_stale = self.index.vectors_stale()  # rows missing, or made by an older recipe
            if result.chunks or result.deletes or result.report.manifest_reset or vectors_stale:
                current = {} if result.report.manifest_reset else {c.id: c for c in self.index.lexical.chunks}
                for chunk_id in result.deletes:
                    current.pop(chunk_id, None)
                for chunk in result.chunks:
                    current[chunk.id] = chunk
                counts = self.index.sync(list(current.values()), progress=progress)
                summary.embedded, summary.removed = counts["added"], counts["removed"]
                self.version += 1
            result.commit()
            summary.chunks = len(self.index.lexical)
            summary.flagged = [str(c.metadata.get("path", c.source)) for c in result.chunks
                               if looks_like_instruction(c.text) or looks_like_instruction(c.title)]
        summary.seconds = time.perf_counter() - started
        return summary

    def search(self, query: str, k: int = 5, query_vector: np.ndarray | None = None) -> list[SearchHit]:
        return self.index.retriever.search(query, k=k, query_vector=query_vector)

    def chunks(self) -> list[Chunk]:
        """Every indexed chunk, in index order (what the answerer warms its candidate vectors from)."""
        return list(self.index.lexical.chunks)

    def chunk(self, chunk_id: str) -> Chunk | None:
        return self.index.lexical.get(chunk_id)

    def idf(self, token: str) -> float:
        """How rare ``token`` is in the knowledge base (BM25's idf): what an answer's confidence weighs."""
        return self.index.lexical.idf(token)

    def knows(self, token: str) -> bool:
        """Whether any chunk holds ``token``: query expansion adds only words the knowledge base knows."""
        return self.index.lexical.knows(token)

    def mend_typos(self, text: str) -> str:
        """``text`` with each word the knowledge base never uses mended to the one it does at one edit.

        "whats the warrenty" → "whats the warranty" (`brain.text.spelling`): a
        viewer's typo should not turn a question the knowledge answers into one
        passed to the host.
        """
        return self.index.lexical.speller.mend(text, known=lambda word: all(map(self.knows, tokenize(word))))

    def product_chunks(self) -> tuple[list[Chunk], dict[str, np.ndarray] | None]:
        """The catalog as indexed: the product chunks and the vectors ingest stored for them.

        The chunks are those with ``metadata["kind"] == "product"``, in index
        order. The vectors are keyed by chunk id (a chunk without a stored
        vector is absent); they are None when this knowledge base keeps no
        vectors. What `brain.products` builds its ranking from, so it never
        re-embeds a catalog the index already holds.
        """
        chunks = [c for c in self.index.lexical.chunks if c.metadata.get("kind") == "product"]
        if self.index.vector is None:
            return chunks, None
        return chunks, self.index.vector.get_embeddings([c.id for c in chunks])
