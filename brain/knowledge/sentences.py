"""Sentence splitting for English and Chinese, and a last-resort splitter.

The chunker only ever cuts between sentences; this module defines where those
are. English sentences end at . ? ! followed by a space (not after "e.g." or a
single initial); Chinese ones end at 。！？； with no space needed. A sentence
longer than the hard limit (a table dump, a run-on list) is the only thing cut
elsewhere: at clause punctuation or whitespace, and only as a last resort
mid-word.
"""

from __future__ import annotations

import re

from brain.knowledge.textutil import is_cjk, weighted_len

__all__ = ["split_sentences", "split_oversized"]

_CLOSERS = "\"'”’」』）)\\]"
_TERMINATOR = re.compile(f"(?:[。！？；]|[.?!…]+)[{_CLOSERS}]*")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs mr mrs ms dr prof st no nos approx est fig inc ltd co jr sr u.s a.m p.m".split()
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_CLAUSE = re.compile(r"[,，、:：;]\s*")
_SPACE = re.compile(r"\s+")


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    """Decide whether a terminator match really ends a sentence."""
    term = match.group()
    end = match.end()
    nxt = text[end : end + 1]
    if term[0] in "。！？；":
        return True
    # ASCII terminators need a following space, end of text, or CJK text.
    if nxt and not (nxt.isspace() or is_cjk(nxt)):
        return False
    if term[0] == "." and len(term.rstrip(_CLOSERS)) == 1:
        word = _WORD_BEFORE.search(text[: match.start()])
        if word:
            token = word.group(1).lower()
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                return False
    return True


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences, keeping their punctuation; never returns blanks."""
    out: list[str] = []
    start = 0
    for match in _TERMINATOR.finditer(text):
        if _is_boundary(text, match):
            piece = text[start : match.end()].strip()
            if piece:
                out.append(piece)
            start = match.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def split_oversized(sentence: str, max_len: int, cjk_weight: float = 1.0) -> list[str]:
    """Cut one too-long sentence into pieces of at most ``max_len`` (weighted).

    Cuts prefer clause punctuation (, ， 、 : ： ;), then whitespace; a piece
    with neither (a 2 000-character URL, a CJK run without commas) is cut by
    length.
    """
    if weighted_len(sentence, cjk_weight) <= max_len:
        return [sentence]
    tokens: list[str] = []
    for clause in _split_keep(sentence, _CLAUSE):
        if weighted_len(clause, cjk_weight) <= max_len:
            tokens.append(clause)
            continue
        for word in _split_keep(clause, _SPACE):
            while weighted_len(word, cjk_weight) > max_len:
                cut = _hard_cut(word, max_len, cjk_weight)
                tokens.append(word[:cut])
                word = word[cut:]
            tokens.append(word)
    pieces: list[str] = []
    current = ""
    for token in tokens:
        if current and weighted_len((current + token).strip(), cjk_weight) > max_len:
            pieces.append(current)
            current = token
        else:
            current += token
    if current:
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def _split_keep(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Split after each match of ``pattern``, keeping the separators on the left piece."""
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.end() > pos:
            out.append(text[pos : m.end()])
            pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _hard_cut(text: str, max_len: int, cjk_weight: float) -> int:
    """Largest prefix length of ``text`` whose weighted length fits in ``max_len``."""
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if weighted_len(text[:mid], cjk_weight) <= max_len:
            lo = mid
        else:
            hi = mid - 1
    return lo
