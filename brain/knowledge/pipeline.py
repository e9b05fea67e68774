"""The ingest pipeline: folder -> plan -> load -> chunks, plus the report.

One bad file never stops an ingest: every failure becomes a line in the
`IngestReport`, and the rest of the folder loads. The result carries exactly
what the indexes need to change (chunks to upsert, ids to delete) and the
updated manifest, which the caller saves only after applying those changes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from brain.knowledge.chunking import ChunkDraft, ChunkingOptions, chunk_document
from brain.knowledge.content import CatalogContent, DocumentContent
from brain.knowledge.discover import discover, relative_key
from brain.knowledge.errors import SkipFile
from brain.knowledge.ids import chunk_id, content_hash
from brain.knowledge.loaders import LoaderRegistry, default_registry
from brain.knowledge.manifest import FileRecord, IngestPlan, KnowledgeManifest
from brain.knowledge.product_records import product_draft
from brain.retrieval.types import Chunk

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PIPELINE_VERSION",
    "IngestOptions",
    "FileOutcome",
    "SkippedFile",
    "LoadedFile",
    "IngestReport",
    "IngestResult",
    "load_file",
    "load_bytes",
    "load_folder",
    "ingest",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: Bump when loaders or chunking change output for the same input, so
#: manifests written by older code re-chunk everything.
PIPELINE_VERSION = 1


@dataclass(frozen=True)
class IngestOptions:
    """Everything that changes what chunks a file yields (hence the manifest fingerprint)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    chunking: ChunkingOptions = field(default_factory=ChunkingOptions)
    registry: LoaderRegistry = field(default_factory=default_registry)

    def fingerprint(self) -> str:
        c = self.chunking
        spec = (f"v{PIPELINE_VERSION}|max_bytes={self.max_bytes}|target={c.target_chars}|max={c.max_chars}"
                f"|min={c.min_chars}|cjk={c.cjk_weight}|{self.registry.describe()}")
        return hashlib.sha256(spec.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What loading one file produced: chunks, or the reason there are none."""

    key: str
    sha256: str
    size: int
    mtime_ns: int
    chunks: tuple[Chunk, ...] = ()
    skipped: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class LoadedFile:
    path: str
    chunks: int
    kinds: dict[str, int]
    warnings: tuple[str, ...] = ()


@dataclass
class IngestReport:
    """Human-facing summary of one ingest; `summary()` is what the CLI and logs print."""

    loaded: list[LoadedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    manifest_reset: bool = False

    @property
    def chunk_count(self) -> int:
        return sum(f.chunks for f in self.loaded)

    def summary(self) -> str:
        lines = [
            f"knowledge: {len(self.loaded)} file(s) loaded ({self.chunk_count} chunks), "
            f"{len(self.unchanged)} unchanged, {len(self.deleted)} deleted, {len(self.skipped)} skipped"
        ]
        if self.manifest_reset:
            lines.append("  ! manifest was unreadable: rebuild the indexes to drop orphaned chunks")
        for f in self.loaded:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(f.kinds.items()))
            lines.append(f"  + {f.path}: {kinds}")
            lines.extend(f"      {w}" for w in f.warnings)
        for s in self.skipped:
            lines.append(f"  - {s.path}: {s.reason}")
        for d in self.deleted:
            lines.append(f"  x {d}")
        return "\n".join(lines)


@dataclass
class IngestResult:
    """Changes for the indexes, the report, and the manifest to save once they are applied.

    ``chunks``: every chunk of the new/changed files. ``upserts``: the subset
    whose ids the indexes do not hold yet (an edit to one section of a file
    re-embeds only that section). ``deletes``: ids to remove (deleted files,
    and chunks of changed files that no longer exist).
    """

    chunks: list[Chunk]
    upserts: list[Chunk]
    deletes: list[str]
    report: IngestReport
    manifest: KnowledgeManifest

    def commit(self) -> Path:
        """Persist the manifest; call after the indexes applied upserts and deletes."""
        return self.manifest.save()


def _drafts(content: DocumentContent | CatalogContent, options: IngestOptions) -> list[ChunkDraft]:
    if isinstance(content, CatalogContent):
        return [product_draft(p) for p in content.products]
    return chunk_document(content, options.chunking)


def _to_chunks(key: str, fmt: str, drafts: list[ChunkDraft]) -> tuple[Chunk, ...]:
    chunks = []
    for ordinal, d in enumerate(drafts):
        meta = {**d.metadata, "path": key, "format": fmt}
        cid = chunk_id(key, ordinal, content_hash(d.title, d.text, meta))
        source = str(d.metadata["id"]) if d.kind == "product" else key
        chunks.append(Chunk(id=cid, text=d.text, source=source, title=d.title, lang=d.lang, metadata=meta))
    return tuple(chunks)


def load_bytes(data: bytes, key: str, options: IngestOptions | None = None) -> tuple[tuple[Chunk, ...], tuple[str, ...]]:
    """Load already-read bytes named ``key`` (a relative path); raises `SkipFile` to refuse.

    Returns the chunks and warnings (row issues, broken PDF pages).
    """
    opts = options or IngestOptions()
    loader = opts.registry.for_path(key)
    suffix = Path(key).suffix.lower()
    if loader is None:
        raise SkipFile(f"unsupported file type {suffix or '(no suffix)'!r}")
    if not data.strip():
        raise SkipFile("empty file")
    content = loader(data, key)
    warnings: tuple[str, ...]
    if isinstance(content, CatalogContent):
        warnings = tuple(str(i) for i in content.issues)
    else:
        warnings = content.warnings
    chunks = _to_chunks(key, suffix.lstrip("."), _drafts(content, opts))
    if not chunks:
        if isinstance(content, CatalogContent):
            bad = [i for i in content.issues if i.skipped]
            raise SkipFile(f"no valid products ({len(bad)} bad row(s): {'; '.join(map(str, bad[:3]))})")
        raise SkipFile("no text extracted")
    return chunks, warnings


def load_file(path: Path, root: Path | None = None, options: IngestOptions | None = None) -> FileOutcome:
    """Read, check and load one file; never raises for bad content, only reports it."""
    opts = options or IngestOptions()
    path = Path(path)
    key = relative_key(path, root) if root is not None else path.name
    try:
        st = path.stat()
    except OSError as exc:
        return FileOutcome(key, "", 0, 0, skipped=f"unreadable: {exc.strerror or exc}")
    size, mtime = st.st_size, st.st_mtime_ns
    if opts.registry.for_path(path) is None:
        return FileOutcome(key, "", size, mtime,
                           skipped=f"unsupported file type {path.suffix.lower() or '(no suffix)'!r}")
    if size == 0:
        return FileOutcome(key, hashlib.sha256(b"").hexdigest(), size, mtime, skipped="empty file")
    if size > opts.max_bytes:
        return FileOutcome(key, "", size, mtime,
                           skipped=f"too large ({size} bytes; limit is {opts.max_bytes})")
    try:
        with open(path, "rb") as fh:
            data = fh.read(opts.max_bytes + 1)
    except OSError as exc:
        return FileOutcome(key, "", size, mtime, skipped=f"unreadable: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > opts.max_bytes:  # grew between stat and read
        return FileOutcome(key, "", len(data), mtime, skipped=f"too large (limit is {opts.max_bytes} bytes)")
    try:
        chunks, warnings = load_bytes(data, key, opts)
    except SkipFile as exc:
        return FileOutcome(key, digest, len(data), mtime, skipped=exc.reason)
    except Exception as exc:  # noqa: BLE001 - a hostile or odd file must not stop the ingest
        log.warning("failed to load %s", key, exc_info=True)
        return FileOutcome(key, digest, len(data), mtime, skipped=f"failed to parse: {type(exc).__name__}: {exc}"[:300])
    return FileOutcome(key, digest, len(data), mtime, chunks=chunks, warnings=warnings)


def _loaded_entry(outcome: FileOutcome) -> LoadedFile:
    kinds: dict[str, int] = {}
    for c in outcome.chunks:
        kind = str(c.metadata.get("kind", "doc"))
        kinds[kind] = kinds.get(kind, 0) + 1
    return LoadedFile(outcome.key, len(outcome.chunks), kinds, outcome.warnings)


def load_folder(root: Path, options: IngestOptions | None = None) -> tuple[list[Chunk], IngestReport]:
    """Load every knowledge file under ``root`` without a manifest (tests, demos, full rebuilds)."""
    report = IngestReport()
    chunks: list[Chunk] = []
    for path in discover(root):
        outcome = load_file(path, root, options)
        if outcome.skipped:
            report.skipped.append(SkippedFile(outcome.key, outcome.skipped))
        else:
            chunks.extend(outcome.chunks)
            report.loaded.append(_loaded_entry(outcome))
    return chunks, report


def ingest(
    root: Path,
    state_dir: Path,
    options: IngestOptions | None = None,
    paths: Iterable[Path] | None = None,
) -> IngestResult:
    """Incremental ingest of ``root`` against the manifest in ``state_dir``.

    ``paths`` defaults to `discover(root)`; pass it only with the complete
    file set (anything missing is treated as deleted). The returned manifest
    is updated in memory; call `IngestResult.commit()` after the indexes
    applied ``upserts`` and ``deletes``.
    """
    opts = options or IngestOptions()
    root = Path(root)
    manifest = KnowledgeManifest.load(state_dir, root, opts.fingerprint())
    files = list(paths) if paths is not None else discover(root)
    plan: IngestPlan = manifest.plan(files, hash_limit=opts.max_bytes)
    report = IngestReport(manifest_reset=manifest.reset)

    for planned in plan.unchanged:
        manifest.refresh(planned)
        prev = planned.previous
        if prev is not None and prev.skipped:
            report.skipped.append(SkippedFile(planned.key, f"{prev.skipped} (unchanged since last ingest)"))
        else:
            report.unchanged.append(planned.key)

    deletes: list[str] = list(plan.deleted_ids)
    for rec in plan.deleted:
        manifest.forget(rec.key)
        report.deleted.append(rec.key)

    all_chunks: list[Chunk] = []
    upserts: list[Chunk] = []
    for planned in plan.to_load:
        outcome = load_file(planned.path, root, opts)
        old_ids = set(planned.previous.chunk_ids) if planned.previous and not manifest.stale else set()
        new_ids = [c.id for c in outcome.chunks]
        deletes.extend(i for i in (planned.previous.chunk_ids if planned.previous else ()) if i not in set(new_ids))
        if outcome.skipped:
            report.skipped.append(SkippedFile(outcome.key, outcome.skipped))
        else:
            report.loaded.append(_loaded_entry(outcome))
            all_chunks.extend(outcome.chunks)
            upserts.extend(c for c in outcome.chunks if c.id not in old_ids)
        if outcome.skipped and outcome.skipped.startswith("unreadable"):
            manifest.forget(planned.key)  # a permission fix does not touch mtime: retry next time
            continue
        manifest.record(FileRecord(
            key=planned.key,
            sha256=outcome.sha256 or (planned.sha256 or ""),
            size=outcome.size if outcome.size else max(planned.size, 0),
            mtime_ns=outcome.mtime_ns or planned.mtime_ns,
            chunk_ids=tuple(new_ids),
            checked_ns=time.time_ns(),
            skipped=outcome.skipped,
        ))
    manifest.fingerprint = opts.fingerprint()
    return IngestResult(chunks=all_chunks, upserts=upserts, deletes=deletes, report=report, manifest=manifest)
