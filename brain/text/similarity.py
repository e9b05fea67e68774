"""How alike two short texts are, without vectors: comparable term sets for any language.

Words for Latin text, character bigrams for CJK runs, compared by Jaccard overlap. Bursts of
the same question (`brain.answers.bursts`), curated answers for languages the embedder does not
read (`brain.moderation.curated`), disputed answers and the offline grouping of questions all
use this one measure, so "the same question" means the same thing everywhere.
"""

from __future__ import annotations

import re
from typing import Callable, Generic, TypeVar

from brain.text.questions import normalise_question

__all__ = ["similarity_terms", "text_overlap", "OverlapGroups"]

_CJK = re.compile(r"[\u3400-\u9fff]")
T = TypeVar("T")


def similarity_terms(text: str) -> frozenset[str]:
    """Words for Latin text, character bigrams for CJK runs: comparable sets for any language."""
    norm = normalise_question(text)
    terms: set[str] = set()
    for word in norm.split():
        if _CJK.search(word):
            chars = [c for c in word]
            terms.update(a + b for a, b in zip(chars, chars[1:]))
            if len(chars) == 1:
                terms.add(chars[0])
        else:
            terms.add(word)
    return frozenset(terms)


def text_overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two term sets (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


class OverlapGroups(Generic[T]):
    """Texts grouped greedily: a text joins the first group whose first text shares ``overlap`` of its words.

    The grouping of questions offline (``/unanswered``, the dashboard, the
    report), where there are no vectors and a topic is named by its first question.
    """

    def __init__(self, overlap: float = 0.5) -> None:
        self.overlap = overlap
        self._groups: list[tuple[frozenset[str], T]] = []

    def get(self, text: str, new: Callable[[str], T]) -> T:
        """The group ``text`` belongs to, made by ``new(text)`` when none fits."""
        terms = similarity_terms(text)
        for group_terms, group in self._groups:
            if text_overlap(terms, group_terms) >= self.overlap:
                return group
        group = new(text)
        self._groups.append((terms, group))
        return group

    def groups(self) -> list[T]:
        return [g for _, g in self._groups]
