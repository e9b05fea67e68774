"""Value types shared by knowledge loading, indexing and retrieval.

They live in one small module so that the loaders (``brain.knowledge``) and the
indexes (``brain.retrieval``) agree on one shape without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union

MetaValue = Union[str, int, float, bool]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable passage of the knowledge base.

    ``id`` is stable across re-ingestion of an unchanged file (derived from the
    source path and the chunk's position and content), so indexes can upsert and
    delete by id. ``source`` is what a citation shows (a path relative to the
    knowledge folder, or a product id). ``title`` is the heading path, the FAQ
    question or the product name. ``metadata`` holds flat scalar fields only,
    because Chroma accepts nothing else (products keep id, name, price, url,
    tags here; every chunk has ``kind`` = doc | faq | product).
    """

    id: str
    text: str
    source: str
    title: str = ""
    lang: str = "en"
    metadata: Mapping[str, MetaValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A chunk with the fused score and the per-retriever evidence behind it."""

    chunk: Chunk
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)
