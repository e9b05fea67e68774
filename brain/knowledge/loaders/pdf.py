"""PDF -> one text block per page, page numbers kept (via pypdf).

PDFs carry no reliable headings, so a page is the structure we keep: chunks
record the page(s) they came from, which is what a citation of a PDF needs.
Lines are re-joined into sentences (PDF text is hard-wrapped, often with
hyphenation) so the chunker can cut between sentences.
"""

from __future__ import annotations

import io
import logging

from brain.knowledge.content import Block, DocumentContent
from brain.knowledge.errors import SkipFile
from brain.knowledge.textutil import clean_text, ends_sentence, join_wrapped

__all__ = ["load_pdf", "pdf_page_lines"]

log = logging.getLogger(__name__)


def pdf_page_lines(text: str) -> list[str]:
    """Re-join a page's hard-wrapped lines; a line ending a sentence ends a logical line."""
    lines: list[str] = []
    continue_previous = False
    for raw in clean_text(text).split("\n"):
        line = " ".join(raw.split())
        if not line:
            continue_previous = False
            continue
        if lines and continue_previous:
            lines[-1] = join_wrapped(lines[-1], line)
        else:
            lines.append(line)
        continue_previous = not ends_sentence(lines[-1])
    return lines


def load_pdf(data: bytes, source: str) -> DocumentContent:
    """Extract text page by page; encrypted or text-less PDFs are skipped with a reason."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise SkipFile("not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise SkipFile("encrypted PDF (password required)")
            except SkipFile:
                raise
            except Exception:  # noqa: BLE001 - unsupported encryption algorithms raise various errors
                raise SkipFile("encrypted PDF (cannot decrypt)") from None
        pages = list(reader.pages)
    except PdfReadError as exc:
        raise SkipFile(f"unreadable PDF: {exc}") from None

    blocks: list[Block] = []
    warnings: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
            warnings.append(f"page {number}: text extraction failed ({type(exc).__name__})")
            continue
        lines = pdf_page_lines(text)
        if lines:
            blocks.append(Block("text", "\n".join(lines), page=number))
    if not blocks:
        raise SkipFile("PDF has no extractable text (scanned images need OCR, which is not supported)")
    title = ""
    try:
        meta = reader.metadata
        if meta is not None and isinstance(meta.title, str):
            title = " ".join(clean_text(meta.title).split())
    except Exception:  # noqa: BLE001 - metadata is optional and often broken
        log.debug("ignoring unreadable PDF metadata in %s", source)
    return DocumentContent(blocks=tuple(blocks), title=title, warnings=tuple(warnings))
