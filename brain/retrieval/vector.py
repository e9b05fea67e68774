"""A Chroma collection of chunk vectors, with the pitfalls handled in one place.

Measured pitfalls (DESIGN.md): reopening a collection without an embedding
function silently falls back to Chroma's default one (which downloads a model),
so we always pass ``embedding_function=None`` and always give embeddings
explicitly; names need >= 3 characters; one upsert takes at most ~5,400 rows;
telemetry is off. Metadata is flattened to Chroma's scalar types.

Per-query reads are kept out of Chroma where they cost most (bench/RESULTS.md,
answer latency): the row count is cached between writes, and the vectors that
`get_embeddings` returns (the hybrid retriever's BM25-only candidates) are
kept in memory: filled from each upsert (Chroma stores float32, so the values
are the ones it would return) and, for rows written by an earlier process,
read once on first use. This assumes one writer per collection (the
KnowledgeBase contract); ~1.5 KB of memory per chunk.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import numpy as np

from brain.retrieval.types import Chunk

#: Chunk fields stored next to the user metadata; prefixed so they never clash
#: with catalog fields such as "title" or "url".
_RESERVED = ("lr_source", "lr_title", "lr_lang")
MAX_BATCH = 5000
#: Collection metadata key naming how the rows' vectors were made (`KnowledgeIndex.sync` re-embeds on a change).
_RECIPE_KEY = "lr_vectors"


def flatten_metadata(chunk: Chunk) -> dict[str, str | int | float | bool]:
    """Chroma accepts str/int/float/bool values only: drop None, join sequences, stringify the rest."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in chunk.metadata.items():
        k = str(key)
        if value is None or k in _RESERVED:
            continue
        if isinstance(value, (bool, int, float, str)):
            if isinstance(value, float) and not np.isfinite(value):
                continue
            out[k] = value
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[k] = ", ".join(str(v) for v in value)
        else:
            out[k] = str(value)
    out["lr_source"] = chunk.source
    out["lr_title"] = chunk.title
    out["lr_lang"] = chunk.lang
    return out


def chunk_from_record(chunk_id: str, document: str | None, metadata: Mapping[str, Any] | None) -> Chunk:
    meta = dict(metadata or {})
    source = str(meta.pop("lr_source", ""))
    title = str(meta.pop("lr_title", ""))
    lang = str(meta.pop("lr_lang", "en"))
    return Chunk(id=chunk_id, text=document or "", source=source, title=title, lang=lang, metadata=meta)


def _valid_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", name) or ".." in name:
        raise ValueError(f"invalid Chroma collection name {name!r}: 3-512 chars of [A-Za-z0-9._-], "
                         "starting and ending alphanumeric")
    return name


class ChromaServerError(RuntimeError):
    """The configured Chroma server cannot be reached or refused the request."""


def server_client(url: str, settings: Any) -> Any:
    """An HTTP client of the Chroma server at ``url``, checked with a heartbeat so a wrong URL fails here."""
    import chromadb

    parts = urlsplit(url)
    ssl = parts.scheme == "https"
    port = parts.port or (443 if ssl else 8000)
    try:
        client = chromadb.HttpClient(host=parts.hostname or "localhost", port=port, ssl=ssl, settings=settings)
        client.heartbeat()
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS, TLS, a server that is not Chroma
        raise ChromaServerError(f"Chroma server {url} (retrieval.chroma_url) cannot be reached: "
                                f"{exc.__class__.__name__}: {exc}") from exc
    return client


class VectorIndex:
    """Cosine-space Chroma collection holding one row per chunk."""

    def __init__(self, path: str | os.PathLike[str] | None = None, collection: str = "liveroom-chunks",
                 *, server: str | None = None) -> None:
        """``server`` (``http://host:port``) → a Chroma server that several workers share;
        else ``path`` → PersistentClient there; ``None`` → an in-memory client (evaluation, tests)."""
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        if server is not None:
            self._client = server_client(server, settings)
        elif path is None:
            self._client = chromadb.EphemeralClient(settings=settings)
            # Ephemeral clients share one in-process store; a unique suffix
            # keeps two evaluations in one process apart.
            collection = f"{collection}-{uuid.uuid4().hex[:8]}"
        else:
            os.makedirs(path, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(path), settings=settings)
        self.name = _valid_name(collection)
        self._col = self._client.get_or_create_collection(
            name=self.name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )
        self._count: int | None = None
        self._vectors: dict[str, np.ndarray] = {}

    def _metadata(self) -> dict[str, Any]:
        """The collection's metadata as Chroma holds it now (another worker on a shared server may have changed it)."""
        return dict(self._client.get_collection(name=self.name, embedding_function=None).metadata or {})

    @property
    def recipe(self) -> str | None:
        """How the stored vectors were made (``KnowledgeIndex`` stamps it); None for a collection never stamped."""
        value = self._metadata().get(_RECIPE_KEY)
        return None if value is None else str(value)

    def set_recipe(self, recipe: str) -> None:
        """Stamp the collection with the recipe its vectors now follow (kept in Chroma, so it survives restarts)."""
        meta = self._metadata()
        if meta.get(_RECIPE_KEY) != recipe:
            self._col.modify(metadata={**meta, _RECIPE_KEY: recipe})

    def count(self) -> int:
        if self._count is None:
            self._count = int(self._col.count())
        return self._count

    def __len__(self) -> int:
        return self.count()

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        """Insert or replace chunks with their (already normalised) vectors, in batches."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(chunks):
            raise ValueError(f"need one embedding row per chunk, got {emb.shape} for {len(chunks)} chunks")
        self._count = None
        for start in range(0, len(chunks), MAX_BATCH):
            part = chunks[start : start + MAX_BATCH]
            for c in part:
                self._vectors.pop(c.id, None)
            self._col.upsert(
                ids=[c.id for c in part],
                embeddings=emb[start : start + len(part)],
                documents=[c.text for c in part],
                metadatas=[flatten_metadata(c) for c in part],
            )
            for c, row in zip(part, emb[start : start + len(part)]):
                self._vectors[c.id] = row.copy()

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        self._count = None
        for cid in ids:
            self._vectors.pop(cid, None)
        for start in range(0, len(ids), MAX_BATCH):
            self._col.delete(ids=ids[start : start + MAX_BATCH])

    def get_ids(self) -> set[str]:
        """All chunk ids (paged, so large collections do not hit SQLite variable limits)."""
        out: set[str] = set()
        offset = 0
        while True:
            res = self._col.get(include=[], limit=MAX_BATCH, offset=offset)
            out.update(res["ids"])
            if len(res["ids"]) < MAX_BATCH:
                return out
            offset += MAX_BATCH

    def get_embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by id (missing ids are absent from the result); served from memory when known."""
        if not ids:
            return {}
        unknown = [i for i in dict.fromkeys(ids) if i not in self._vectors]
        for start in range(0, len(unknown), MAX_BATCH):
            res = self._col.get(ids=unknown[start : start + MAX_BATCH], include=["embeddings"])
            for i, e in zip(res["ids"], res["embeddings"]):
                self._vectors[i] = np.asarray(e, dtype=np.float32)
        return {i: self._vectors[i] for i in ids if i in self._vectors}

    def query(self, embedding: np.ndarray, k: int = 10,
              where: Mapping[str, Any] | None = None) -> list[tuple[Chunk, float]]:
        """Nearest chunks with cosine similarity (1 - Chroma's cosine distance)."""
        n = self.count()
        if n == 0 or k <= 0:
            return []
        vec = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        res = self._col.query(query_embeddings=vec, n_results=min(k, n), where=dict(where) if where else None,
                              include=["documents", "metadatas", "distances"])
        out: list[tuple[Chunk, float]] = []
        for cid, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0]):
            out.append((chunk_from_record(cid, doc, meta), 1.0 - float(dist)))
        return out
