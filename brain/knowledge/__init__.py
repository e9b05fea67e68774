"""Knowledge ingestion: files in a folder -> `Chunk`s for the retrieval indexes.

Public API (everything else is an implementation detail):

* `ingest(root, state_dir)` - incremental: what to upsert/delete since last time.
* `load_folder(root)` / `load_file(path, root)` / `load_bytes(data, key)` - no manifest.
* `discover(root)` - the candidate files of a knowledge folder.
* `KnowledgeManifest`, `IngestPlan` - change detection on its own.
* `LoaderRegistry`, `default_registry()` - loaders keyed by file suffix.
* `ChunkingOptions`, `chunk_document`, `IngestOptions` - tuning.

Knowledge text is untrusted: this package extracts text and never interprets it.
See docs/knowledge.md for formats and the catalog schema.
"""

from brain.knowledge.chunking import ChunkDraft, ChunkingOptions, chunk_document
from brain.knowledge.content import Block, CatalogContent, DocumentContent, Product, RowIssue
from brain.knowledge.discover import discover, relative_key
from brain.knowledge.errors import SkipFile
from brain.knowledge.loaders import Loader, LoaderRegistry, default_registry
from brain.knowledge.manifest import FileRecord, IngestPlan, KnowledgeManifest, PlannedFile
from brain.knowledge.pipeline import (
    DEFAULT_MAX_BYTES,
    FileOutcome,
    IngestOptions,
    IngestReport,
    IngestResult,
    LoadedFile,
    SkippedFile,
    ingest,
    load_bytes,
    load_file,
    load_folder,
)
from brain.knowledge.product_records import format_price, parse_products, product_draft
from brain.knowledge.textutil import detect_lang

__all__ = [
    "Block", "CatalogContent", "ChunkDraft", "ChunkingOptions", "DEFAULT_MAX_BYTES", "DocumentContent",
    "FileOutcome", "FileRecord", "IngestOptions", "IngestPlan", "IngestReport", "IngestResult",
    "KnowledgeManifest", "LoadedFile", "Loader", "LoaderRegistry", "PlannedFile", "Product", "RowIssue",
    "SkipFile", "SkippedFile", "chunk_document", "default_registry", "detect_lang", "discover",
    "format_price", "ingest", "load_bytes", "load_file", "load_folder", "parse_products", "product_draft",
    "relative_key",
]
