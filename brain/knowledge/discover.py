"""Finding the knowledge files under a folder.

Everything a streamer drops into the knowledge folder is a candidate, except
what is clearly not knowledge: hidden files and folders (editor state, the
index's own state dir), editor backups, the top-level ``samples/`` folder and
``*.jsonl`` chat logs (recorded rooms for replay, not facts to cite), and
symlinks that lead outside the folder (never ingest /etc/passwd by accident).
Unsupported formats are returned too, so the report can say why they were
ignored instead of silently dropping them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["discover", "relative_key", "IGNORED_DIRS", "IGNORED_SUFFIXES"]

IGNORED_DIRS = frozenset({"samples", "__pycache__", "node_modules"})
IGNORED_SUFFIXES = frozenset({".jsonl", ".tmp", ".swp", ".bak", ".part"})


def relative_key(path: Path, root: Path) -> str:
    """The file's POSIX path relative to ``root``: the manifest key, chunk source and id prefix."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _ignored_name(name: str) -> bool:
    return name.startswith((".", "~$")) or name.endswith("~") or (name.startswith("#") and name.endswith("#"))


def discover(root: Path) -> list[Path]:
    """All candidate knowledge files under ``root``, sorted by relative path."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"knowledge folder not found: {root}")
    real_root = root.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        top = here == root
        dirnames[:] = sorted(
            d for d in dirnames
            if not _ignored_name(d) and d not in ("__pycache__", "node_modules") and not (top and d == "samples")
        )
        for name in filenames:
            if _ignored_name(name) or Path(name).suffix.lower() in IGNORED_SUFFIXES:
                continue
            path = here / name
            if path.is_symlink():
                try:
                    path.resolve(strict=True).relative_to(real_root)
                except (ValueError, OSError):
                    continue
            if path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: relative_key(p, root))
