"""Stable chunk ids: source path + ordinal + content hash.

Indexes upsert and delete by id, so an unchanged file must yield the same ids
on every run (no uuid4, no timestamps), and a chunk whose content changed must
get a new id (so stale vectors are never mistaken for current ones). The
readable prefix makes ids useful in logs and citations while debugging.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping

from brain.retrieval.types import MetaValue

__all__ = ["content_hash", "chunk_id"]


def content_hash(title: str, text: str, metadata: Mapping[str, MetaValue]) -> str:
    """sha256 over everything an index stores for a chunk (title, text, metadata)."""
    payload = json.dumps([title, text, sorted(metadata.items())], ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def chunk_id(source_path: str, ordinal: int, digest: str) -> str:
    """``"<path>#<ordinal>-<12 hex of content hash>"``, e.g. ``course.md#0003-9f2c1ab3e4d2``."""
    return f"{source_path}#{ordinal:04d}-{digest[:12]}"
