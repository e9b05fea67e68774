"""Recognising question/answer markup in text: "Q:/A:", "问：/答：", "### ...?".

FAQ pairs are the most valuable chunks in a live-stream room (viewers ask the
same questions again and again), and they retrieve best as one unit: the
question carries the viewer's wording, the answer the facts. This module only
recognises the markers; `chunking` decides what becomes a chunk.
"""

from __future__ import annotations

import re

__all__ = ["match_question", "match_answer", "is_question_heading", "strip_question_marker", "split_inline_answer"]

# "Q:", "Q.", "Q1:", "Question:", "问：", "问:", "提问：" at line start (bold markers already removed).
_Q = re.compile(r"^\s*(?:(?:Q|Question)\s*\d*\s*[:：.、]|(?:问|提问|问题)\s*\d*\s*[:：、])\s*", re.IGNORECASE)
_A = re.compile(r"^\s*(?:(?:A|Answer)\s*\d*\s*[:：.、]|(?:答|回答|解答)\s*\d*\s*[:：、])\s*", re.IGNORECASE)
# An answer marker inside a question line: "Q: Is it free? A: Yes."
_INLINE_A = re.compile(r"(?<=[?？])\s*(?:A|Answer|答)\s*[:：]\s*", re.IGNORECASE)


def match_question(line: str) -> str | None:
    """The question text if ``line`` starts with a question marker, else None."""
    m = _Q.match(line)
    if not m:
        return None
    rest = line[m.end() :].strip()
    return rest or None


def match_answer(line: str) -> str | None:
    """The answer text (possibly empty) if ``line`` starts with an answer marker, else None."""
    m = _A.match(line)
    return line[m.end() :].strip() if m else None


def split_inline_answer(question: str) -> tuple[str, str | None]:
    """Split "Is it free? A: Yes." into ("Is it free?", "Yes.")."""
    m = _INLINE_A.search(question)
    if not m:
        return question, None
    return question[: m.start()].strip(), question[m.end() :].strip()


def strip_question_marker(text: str) -> str:
    """Remove a leading "Q:"/"问：" from a heading used as a question."""
    q = match_question(text)
    return q if q is not None else text.strip()


def is_question_heading(heading: str) -> bool:
    """A heading is a question if it ends with ?/？ or starts with a question marker."""
    h = heading.strip()
    return h.endswith(("?", "？")) or match_question(h) is not None
