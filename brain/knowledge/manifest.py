"""Change detection between ingests: what to embed, what to skip, what to delete.

Re-embedding a whole knowledge base on every start costs minutes on a 2-core
box; the manifest remembers, per file, the content hash, size, mtime and the
chunk ids it produced, so a restart only touches what changed. Size+mtime let
us skip even hashing an unchanged file; we hash whenever they differ, and also
when the file was modified within ``RACY_WINDOW_NS`` of the last check (a
write in the same timestamp tick would otherwise go unnoticed).

The manifest is a plain JSON file written atomically. Save it only after the
indexes applied the changes, so a crash in between re-does work instead of
leaving the index and the manifest disagreeing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping

from brain.knowledge.discover import relative_key

__all__ = ["FileRecord", "PlannedFile", "IngestPlan", "KnowledgeManifest", "sha256_file", "RACY_WINDOW_NS"]

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
RACY_WINDOW_NS = 2_000_000_000


def sha256_file(path: Path, block_size: int = 1 << 20) -> str:
    """Streaming sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the indexes hold for one file, as of the last successful ingest.

    ``skipped`` is the reason the file produced no chunks (kept so an
    unchanged bad file is not re-read and re-reported as new every run).
    """

    key: str
    sha256: str
    size: int
    mtime_ns: int
    chunk_ids: tuple[str, ...] = ()
    checked_ns: int = 0
    skipped: str | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "sha256": self.sha256, "size": self.size, "mtime_ns": self.mtime_ns,
            "checked_ns": self.checked_ns, "chunk_ids": list(self.chunk_ids),
        }
        if self.skipped:
            data["skipped"] = self.skipped
        return data

    @classmethod
    def from_json(cls, key: str, data: Mapping[str, object]) -> "FileRecord":
        ids = data.get("chunk_ids", [])
        skipped = data.get("skipped")
        return cls(
            key=key,
            sha256=str(data["sha256"]),
            size=int(data["size"]),  # type: ignore[call-overload]
            mtime_ns=int(data["mtime_ns"]),  # type: ignore[call-overload]
            chunk_ids=tuple(str(i) for i in ids) if isinstance(ids, list) else (),
            checked_ns=int(data.get("checked_ns", 0)),  # type: ignore[call-overload]
            skipped=str(skipped) if skipped else None,
        )


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file present on disk, with its stat and (when computed) its hash.

    ``sha256`` is None when it was not needed (unchanged by stat) or not
    possible (unreadable, or larger than the hash limit).
    """

    key: str
    path: Path
    size: int
    mtime_ns: int
    sha256: str | None
    previous: FileRecord | None


@dataclass(frozen=True, slots=True)
class IngestPlan:
    """The difference between the folder now and the manifest."""

    new: tuple[PlannedFile, ...] = ()
    changed: tuple[PlannedFile, ...] = ()
    unchanged: tuple[PlannedFile, ...] = ()
    deleted: tuple[FileRecord, ...] = ()

    @property
    def to_load(self) -> tuple[PlannedFile, ...]:
        """New and changed files, in path order: the ones to read, chunk and embed."""
        return tuple(sorted(self.new + self.changed, key=lambda f: f.key))

    @property
    def deleted_ids(self) -> tuple[str, ...]:
        """Chunk ids of files that disappeared: remove these from every index."""
        return tuple(i for rec in self.deleted for i in rec.chunk_ids)

    @property
    def is_empty(self) -> bool:
        return not (self.new or self.changed or self.deleted)


@dataclass
class KnowledgeManifest:
    """Per-file state of the last ingest, persisted as ``<directory>/knowledge_manifest.json``.

    ``root`` is the knowledge folder; keys are paths relative to it, so the
    folder can move without invalidating the manifest. ``fingerprint``
    identifies the loader/chunker settings: when it differs from the stored
    one, every file counts as changed (chunks would come out differently).
    """

    directory: Path
    root: Path
    fingerprint: str = ""
    records: dict[str, FileRecord] = field(default_factory=dict)
    stale: bool = False
    #: True when a manifest file existed but could not be read: the indexes
    #: may hold chunks nobody knows the ids of any more, so rebuild them.
    reset: bool = False

    FILENAME = "knowledge_manifest.json"

    @property
    def path(self) -> Path:
        return Path(self.directory) / self.FILENAME

    @classmethod
    def load(cls, directory: Path, root: Path, fingerprint: str = "") -> "KnowledgeManifest":
        """Read the manifest; a missing or unreadable one means "nothing indexed yet"."""
        manifest = cls(directory=Path(directory), root=Path(root), fingerprint=fingerprint)
        try:
            raw = json.loads(manifest.path.read_text(encoding="utf-8"))
            if raw.get("version") != MANIFEST_VERSION:
                raise ValueError(f"unsupported manifest version {raw.get('version')!r}")
            manifest.records = {k: FileRecord.from_json(k, v) for k, v in raw["files"].items()}
            manifest.stale = raw.get("fingerprint", "") != fingerprint
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Chunk ids of files indexed before are lost with it; the caller
            # should rebuild the indexes (ingest() reports this as `manifest_reset`).
            log.warning("ignoring unreadable knowledge manifest %s: %s", manifest.path, exc)
            manifest.records = {}
            manifest.stale = True
            manifest.reset = True
        return manifest

    def key_for(self, path: Path) -> str:
        return relative_key(Path(path), self.root)

    def get(self, key: str) -> FileRecord | None:
        return self.records.get(key)

    def plan(self, paths: Iterable[Path], *, hash_limit: int | None = None) -> IngestPlan:
        """Compare ``paths`` (the complete current file set) with the manifest.

        Files not in ``paths`` but in the manifest are reported as deleted, so
        pass everything `discover` found, not a subset. Files larger than
        ``hash_limit`` are never hashed; they are new/changed by stat alone.
        """
        new: list[PlannedFile] = []
        changed: list[PlannedFile] = []
        unchanged: list[PlannedFile] = []
        seen: set[str] = set()
        for path in paths:
            path = Path(path)
            key = self.key_for(path)
            if key in seen:
                continue
            seen.add(key)
            try:
                st = path.stat()
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                size, mtime = -1, 0
            prev = self.records.get(key)
            if prev is not None and not self.stale and self._stat_unchanged(prev, size, mtime):
                unchanged.append(PlannedFile(key, path, size, mtime, None, prev))
                continue
            digest = self._hash(path, size, hash_limit)
            planned = PlannedFile(key, path, size, mtime, digest, prev)
            if prev is None:
                new.append(planned)
            elif not self.stale and digest is not None and digest == prev.sha256:
                unchanged.append(planned)  # touched but identical: only the stat is refreshed
            else:
                changed.append(planned)
        deleted = tuple(rec for key, rec in sorted(self.records.items()) if key not in seen)
        return IngestPlan(tuple(new), tuple(changed), tuple(unchanged), deleted)

    @staticmethod
    def _stat_unchanged(prev: FileRecord, size: int, mtime_ns: int) -> bool:
        if size < 0 or size != prev.size or mtime_ns != prev.mtime_ns:
            return False
        return prev.checked_ns - prev.mtime_ns >= RACY_WINDOW_NS

    @staticmethod
    def _hash(path: Path, size: int, hash_limit: int | None) -> str | None:
        if size < 0 or (hash_limit is not None and size > hash_limit):
            return None
        try:
            return sha256_file(path)
        except OSError:
            return None

    def refresh(self, planned: PlannedFile) -> None:
        """Record the new stat of an unchanged file (after a touch) so it skips hashing next time."""
        prev = planned.previous
        if prev is None or planned.sha256 is None:
            return
        self.records[prev.key] = replace(prev, size=planned.size, mtime_ns=planned.mtime_ns,
                                         checked_ns=time.time_ns())

    def record(self, rec: FileRecord) -> None:
        self.records[rec.key] = rec

    def forget(self, key: str) -> None:
        self.records.pop(key, None)

    def save(self) -> Path:
        """Write atomically (temp file + rename); returns the manifest path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": MANIFEST_VERSION,
            "fingerprint": self.fingerprint,
            "files": {k: r.to_json() for k, r in sorted(self.records.items())},
        }
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, ensure_ascii=False, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stale = False
        return self.path
