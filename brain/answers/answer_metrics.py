"""How an answer a viewer reads is scored against the facts it had to carry.

Used by ``liveroom eval answers`` (gold answer spans from public QA sets) and by
the sample-shop questions in the tests (the fact each answer must carry), so
both judge an answer the same way:

- `carries`: the answer contains one of the gold strings after NFKC, case and
  whitespace folding (what a viewer needs: the fact is there);
- `answer_f1`: SQuAD-style token F1 against the best gold string, words for
  English and characters for Chinese (what a viewer must read: short is better).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Iterable

__all__ = ["fold", "carries", "answer_f1", "f1_tokens"]

_SPACE = re.compile(r"\s+")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
#: ASCII and CJK punctuation, ignored by F1 as SQuAD's scorer ignores punctuation.
_PUNCT = frozenset(string.punctuation) | frozenset("，。！？；：、“”‘’（）《》【】「」『』…—·")


def fold(text: str) -> str:
    """NFKC, lower case, whitespace collapsed to one space and trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def carries(answer: str | None, gold: Iterable[str]) -> bool:
    """Whether ``answer`` contains any of the ``gold`` strings (folded); an abstention carries nothing."""
    if not answer:
        return False
    text = fold(answer)
    return any(g and fold(g) in text for g in (fold(x) for x in gold))


def f1_tokens(text: str) -> list[str]:
    """SQuAD's tokens: characters for CJK text, words for the rest; no punctuation, no English articles."""
    folded = fold(text)
    if _CJK.search(folded):
        return [ch for ch in folded if not ch.isspace() and ch not in _PUNCT]
    folded = "".join(ch for ch in folded if ch not in _PUNCT)
    return _ARTICLES.sub(" ", folded).split()


def _f1(pred: list[str], gold: list[str]) -> float:
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_f1(answer: str | None, gold: Iterable[str]) -> float:
    """The best F1 of ``answer`` against any gold string; 0 for an abstention."""
    if not answer:
        return 0.0
    pred = f1_tokens(answer)
    scores = [_f1(pred, f1_tokens(g)) for g in gold if g]
    return max(scores, default=0.0)
