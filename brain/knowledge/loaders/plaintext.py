"""Plain text -> paragraph blocks.

Plain text has no markup, so the only structure we trust is blank lines
(paragraphs) and line-start markers (list items, Q:/A:, 问：/答：). A line that
does not end a sentence is treated as hard-wrapped and joined to the next, so
the chunker never sees half a sentence as a unit.
"""

from __future__ import annotations

import re

from brain.knowledge.content import Block, DocumentContent
from brain.knowledge.faq import match_answer, match_question
from brain.knowledge.textutil import clean_text, decode_text, ends_sentence, join_wrapped

__all__ = ["load_text", "parse_text"]

_LIST = re.compile(r"^\s*(?:[-*•·]|\d{1,3}[.)、])\s+")


def _starts_line(stripped: str) -> bool:
    return bool(_LIST.match(stripped)) or match_question(stripped) is not None or match_answer(stripped) is not None


def parse_text(text: str) -> DocumentContent:
    """Split decoded text into paragraphs of logical lines."""
    blocks: list[Block] = []
    for para in re.split(r"\n\s*\n", clean_text(text)):
        lines: list[str] = []
        for raw in para.split("\n"):
            stripped = " ".join(raw.split())
            if not stripped:
                continue
            if lines and not _starts_line(stripped) and not ends_sentence(lines[-1]):
                lines[-1] = join_wrapped(lines[-1], stripped)
            else:
                lines.append(stripped)
        if lines:
            blocks.append(Block("text", "\n".join(lines)))
    return DocumentContent(blocks=tuple(blocks))


def load_text(data: bytes, source: str) -> DocumentContent:
    """Loader entry point for .txt files."""
    return parse_text(decode_text(data))
