"""The loader registry: one loader per file suffix.

A loader is a plain function ``(data: bytes, source: str) -> Content``: bytes
in (the pipeline reads and hashes each file exactly once), a format-neutral
`DocumentContent` or `CatalogContent` out, `SkipFile` to refuse. New formats
register here without touching the pipeline.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Callable, Iterable, Mapping

from brain.knowledge.content import Content
from brain.knowledge.loaders.catalog import load_csv, load_json, load_yaml
from brain.knowledge.loaders.html import load_html
from brain.knowledge.loaders.markdown import load_markdown
from brain.knowledge.loaders.pdf import load_pdf
from brain.knowledge.loaders.plaintext import load_text

__all__ = ["Loader", "LoaderRegistry", "default_registry"]

Loader = Callable[[bytes, str], Content]


class LoaderRegistry:
    """Maps lower-case file suffixes (".md") to loaders."""

    def __init__(self, loaders: Mapping[str, Loader] | None = None) -> None:
        self._loaders: dict[str, Loader] = {}
        for suffix, loader in (loaders or {}).items():
            self.register([suffix], loader)

    def register(self, suffixes: Iterable[str], loader: Loader) -> None:
        """Use ``loader`` for these suffixes (with or without the dot; case-insensitive)."""
        for suffix in suffixes:
            s = suffix.lower()
            self._loaders[s if s.startswith(".") else "." + s] = loader

    def for_path(self, path: str | PurePath) -> Loader | None:
        """The loader for this file name's suffix, or None if the format is unsupported."""
        return self._loaders.get(PurePath(path).suffix.lower())

    @property
    def suffixes(self) -> tuple[str, ...]:
        return tuple(sorted(self._loaders))

    def describe(self) -> str:
        """A stable description (suffix=function) for the manifest fingerprint."""
        return ",".join(f"{s}={getattr(fn, '__qualname__', repr(fn))}" for s, fn in sorted(self._loaders.items()))


def default_registry() -> LoaderRegistry:
    """Markdown, text, HTML, PDF and CSV/JSON/YAML catalogs."""
    registry = LoaderRegistry()
    registry.register([".md", ".markdown"], load_markdown)
    registry.register([".txt"], load_text)
    registry.register([".html", ".htm"], load_html)
    registry.register([".pdf"], load_pdf)
    registry.register([".csv"], load_csv)
    registry.register([".json"], load_json)
    registry.register([".yaml", ".yml"], load_yaml)
    return registry
