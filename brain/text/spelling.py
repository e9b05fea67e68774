"""Chat typos mended against the knowledge base's own words ("warrenty" → "warranty").

Viewers type fast: "refnd policy?", "how much does the coupn take off". A word
the knowledge base never uses matches nothing in BM25, counts as "unknown" when
the answer's confidence is judged, and so turns an answerable question into one
passed to the host. A `Speller` knows the English words of the knowledge base
and mends a question's word that the knowledge base does not hold into the one
word it does hold at one edit (a letter added, dropped, changed, or two letters
swapped), the commonest when several are.

Deliberately narrow, because a wrong mend changes the question: only Latin
words of at least `MIN_LENGTH` letters are mended, only to a word with the same
first letter, and a word the knowledge base already holds is never touched.
Chinese is left alone (a wrong character is a different word, not a typo the
edit distance can see). Lookup is SymSpell's: every word is filed under its
one-letter deletions, so a query costs a few dict lookups, not a scan of the
vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Callable, Iterable

__all__ = ["Speller", "MIN_LENGTH"]

#: Shorter words are left as typed: at four letters one edit reaches too many real words ("pink" → "pint").
MIN_LENGTH = 5

_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])")


def _deletions(word: str) -> set[str]:
    """``word`` and every string one letter shorter."""
    return {word} | {word[:i] + word[i + 1:] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


class Speller:
    """The English words of some texts, and the mend of a word one edit away from one of them."""

    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts
        self._by_deletion: dict[str, list[str]] = defaultdict(list)
        for word in counts:
            if len(word) >= MIN_LENGTH - 1:
                for key in _deletions(word):
                    self._by_deletion[key].append(word)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Speller":
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.lower() for w in _WORD.findall(text))
        return cls(counts)

    def __len__(self) -> int:
        return len(self.counts)

    def correct(self, word: str) -> str | None:
        """The knowledge base's word ``word`` is a typo of, or None (a known word, too short, or no mend)."""
        low = word.lower()
        if len(low) < MIN_LENGTH or not low.isascii() or not low.isalpha() or low in self.counts:
            return None
        found = {w for key in _deletions(low) for w in self._by_deletion.get(key, ())
                 if w[0] == low[0] and _one_edit(low, w)}
        if not found:
            return None
        return max(sorted(found), key=lambda w: self.counts[w])

    def mend(self, text: str, known: Callable[[str], bool] | None = None) -> str:
        """``text`` with each unknown word replaced by its mend; ``known`` may vouch for a word (its stem)."""

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            if known is not None and known(word):
                return word
            return self.correct(word) or word

        return _WORD.sub(fix, text)
