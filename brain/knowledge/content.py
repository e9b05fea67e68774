"""What loaders return: format-neutral blocks for documents, products for catalogs.

Loaders only extract; they never decide chunk sizes or ids. Keeping this
intermediate shape small (heading / text / question blocks) is what lets one
chunker serve Markdown, HTML, PDF and plain text alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

__all__ = ["Block", "BlockKind", "DocumentContent", "Product", "RowIssue", "CatalogContent", "Content"]

BlockKind = Literal["heading", "text", "question", "break"]


@dataclass(frozen=True, slots=True)
class Block:
    """One structural piece of a document.

    ``heading``: ``text`` is the heading, ``level`` 1-6. ``text``: a paragraph,
    where "\\n" separates logical lines (list items, table rows, Q:/A: lines)
    and never a soft wrap. ``question``: a line the format marks as a question
    (HTML <dt>/<summary>, a bold "**...?**" line in Markdown); the answer is
    whatever follows. ``break`` ends an open question's answer (end of an
    HTML <dl>/<details>, a Markdown "---"): later text is ordinary text again.
    ``page`` is the 1-based PDF page, when known.
    """

    kind: BlockKind
    text: str
    level: int = 0
    page: int | None = None


@dataclass(frozen=True, slots=True)
class DocumentContent:
    """A prose document: its blocks in reading order and an optional document title."""

    blocks: tuple[Block, ...]
    title: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Product:
    """One validated catalog entry; prices are numbers, tags a tuple, extras strings."""

    id: str
    name: str
    price: float | None = None
    currency: str | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()
    stock: int | None = None
    description: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    row: int = 0


@dataclass(frozen=True, slots=True)
class RowIssue:
    """A catalog row that was skipped (or loaded with a field dropped), for the report.

    ``row`` is the line number for CSV and the 1-based position in the product
    list for JSON/YAML.
    """

    row: int
    reason: str
    skipped: bool = True

    def __str__(self) -> str:
        what = "skipped" if self.skipped else "warning"
        return f"row {self.row} {what}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CatalogContent:
    """A product catalog: the rows that validated and the issues with the others."""

    products: tuple[Product, ...]
    issues: tuple[RowIssue, ...] = field(default_factory=tuple)


Content = Union[DocumentContent, CatalogContent]
