"""Curated answers: moderators' corrections, kept as a file people read and version, and matched first.

When a moderator edits the bot's answer, the corrected answer is what the
room should hear next time, before anything retrieval finds. Each correction
becomes an entry, question variants plus the answer plus who approved it,
appended to a Markdown file inside the knowledge folder::

    ## How much is the course?
    <!-- liveroom:curated id=3 review=12 by="discord:42" name="Alice" at=2026-12-02T01:00:00Z -->
    Q: How much is the course?
    Q: what does the course cost
    A: The course is 199 USD, lifetime access.

Why Markdown in ``knowledge/``: a host reads it, fixes a typo, commits it,
and the knowledge base ingests it like any FAQ (the HTML comment is dropped
by the Markdown loader, so provenance never leaks into answers). The entry's
metadata lives in that comment, so the file stays the one source of truth.

`CuratedAnswers.match` is the precedence rule: a question close enough to a
curated variant (cosine on the bot's embedder where it reads the language,
word overlap otherwise) takes the curated answer, whatever retrieval would
rank. A file a human broke is read as far as it parses; the bad entries are
reported by line, never fatal.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from brain.text.questions import language_of
from brain.text.similarity import similarity_terms, text_overlap

__all__ = ["CuratedEntry", "CuratedAnswers", "CuratedMatch", "CURATED_FILE"]

log = logging.getLogger(__name__)

#: The file name inside the knowledge folder.
CURATED_FILE = "curated-answers.md"

_HEADER = ("# Curated answers\n\n"
           "<!-- Answers moderators corrected in the room. liveroom appends to this file; edit it freely, "
           "but keep each entry's liveroom:curated comment: it records who approved it. -->\n")
_META = re.compile(r"<!--\s*liveroom:curated\s+(?P<attrs>.*?)\s*-->")
_ATTR = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))')
_Q = re.compile(r"^\s*(?:Q|问)\s*[:：]\s*(?P<text>.+)$")
_A = re.compile(r"^\s*(?:A|答)\s*[:：]\s*(?P<text>.*)$")

#: Embedding cosine at or above which a question is "the same question" as a curated variant.
_COSINE = 0.86
#: Word overlap (`brain.text.similarity.text_overlap`) for languages the embedder does not read.
_OVERLAP = 0.75

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CuratedEntry:
    """One correction: the questions it answers, the answer, and who approved it."""

    id: int
    variants: tuple[str, ...]
    answer: str
    approved_by: str
    approved_by_name: str
    approved_at: str
    review_id: int | None = None

    @property
    def lang(self) -> str:
        return language_of(self.answer)

    def render(self) -> str:
        def quoted(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("-->", "--&gt;") + '"'

        review = f" review={self.review_id}" if self.review_id is not None else ""
        lines = [f"## {_one_line(self.variants[0])}",
                 f"<!-- liveroom:curated id={self.id}{review} by={quoted(self.approved_by)} "
                 f"name={quoted(self.approved_by_name)} at={self.approved_at} -->"]
        lines += [f"Q: {_one_line(v)}" for v in self.variants]
        lines.append(f"A: {_one_line(self.answer)}")
        return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """Entries are line-based: newlines in a viewer's question or a moderator's edit become spaces.

    An HTML comment opener is defused: viewer text must not hide the entries after it from the
    knowledge base's Markdown loader, which drops comments.
    """
    return " ".join(text.split()).replace("<!--", "<!-").replace("-->", "->")


@dataclass(frozen=True, slots=True)
class CuratedMatch:
    entry: CuratedEntry
    score: float
    variant: str


@dataclass
class _Indexed:
    entry: CuratedEntry
    terms: list[frozenset[str]] = field(default_factory=list)
    vectors: np.ndarray | None = None


class CuratedAnswers:
    """The curated-answers file and its in-memory index. Thread-safe."""

    def __init__(self, path: Path, *, embed: Embed | None = None,
                 dense_languages: frozenset[str] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.embed = embed
        self.dense_languages = dense_languages
        self.clock = clock
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._entries: list[_Indexed] = []
        self.load()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[CuratedEntry]:
        return [i.entry for i in self._entries]

    # ---- the file --------------------------------------------------------------------

    def load(self) -> list[str]:
        """(Re)read the file; returns the problems found (also kept in ``problems``)."""
        entries, problems = parse(self.path.read_text(encoding="utf-8")) if self.path.exists() else ([], [])
        for problem in problems:
            log.warning("%s: %s", self.path, problem)
        indexed = [self._index(e) for e in entries]
        with self._lock:
            self._entries = indexed
            self.problems = problems
        return problems

    def add(self, variants: Sequence[str], answer: str, *, approved_by: str, approved_by_name: str,
            review_id: int | None = None) -> CuratedEntry:
        """Append one entry to the file (atomically: a crash leaves the old file) and index it at once."""
        clean = [v for v in dict.fromkeys(_one_line(v) for v in variants) if v]
        if not clean or not answer.strip():
            raise ValueError("a curated answer needs at least one question and a non-empty answer")
        with self._lock:
            next_id = max((i.entry.id for i in self._entries), default=0) + 1
            entry = CuratedEntry(
                id=next_id, variants=tuple(clean), answer=_one_line(answer), approved_by=approved_by,
                approved_by_name=approved_by_name,
                approved_at=datetime.fromtimestamp(self.clock(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                review_id=review_id)
            existing = self.path.read_text(encoding="utf-8") if self.path.exists() else _HEADER
            _atomic_write(self.path, existing.rstrip("\n") + "\n\n" + entry.render())
        indexed = self._index(entry)
        with self._lock:
            self._entries.append(indexed)
        return entry

    # ---- matching --------------------------------------------------------------------

    def match(self, question: str, vector: np.ndarray | None = None) -> CuratedMatch | None:
        """The curated entry this question asks again, if any (the most similar variant wins)."""
        with self._lock:
            entries = list(self._entries)
        if not entries:
            return None
        terms = similarity_terms(question)
        best: CuratedMatch | None = None
        for item in entries:
            for i, variant_terms in enumerate(item.terms):
                score = text_overlap(terms, variant_terms) if terms and variant_terms else 0.0
                if score >= _OVERLAP and (best is None or score > best.score):
                    best = CuratedMatch(item.entry, score, item.entry.variants[i])
            if vector is not None and item.vectors is not None and len(item.vectors):
                cosines = item.vectors @ vector
                i = int(np.argmax(cosines))
                score = float(cosines[i])
                if score >= _COSINE and (best is None or score > best.score):
                    best = CuratedMatch(item.entry, score, item.entry.variants[i])
        return best

    def _index(self, entry: CuratedEntry) -> _Indexed:
        indexed = _Indexed(entry, [similarity_terms(v) for v in entry.variants])
        readable = [v for v in entry.variants
                    if self.dense_languages is None or language_of(v) in self.dense_languages]
        if self.embed is not None and readable:
            try:
                indexed.vectors = np.asarray(self.embed(readable), dtype=np.float32)
            except Exception as exc:  # noqa: BLE001 - lexical matching still works without vectors
                log.warning("curated answer #%d: could not embed its questions (%s)", entry.id, exc)
        return indexed


def parse(text: str) -> tuple[list[CuratedEntry], list[str]]:
    """Entries of a curated-answers file, and one line per problem (entries that do not parse are skipped)."""
    entries: list[CuratedEntry] = []
    problems: list[str] = []
    current: dict | None = None
    seen: set[int] = set()

    def close() -> None:
        if current is None:
            return
        where = f"line {current['line']}"
        if not current["variants"]:
            problems.append(f"{where}: curated answer #{current['id']} has no 'Q:' line; skipped")
        elif not current["answer"]:
            problems.append(f"{where}: curated answer #{current['id']} has no 'A:' line; skipped")
        elif current["id"] in seen:
            problems.append(f"{where}: curated answer id {current['id']} is used twice; the second is skipped")
        else:
            seen.add(current["id"])
            entries.append(CuratedEntry(
                id=current["id"], variants=tuple(current["variants"]), answer=" ".join(current["answer"]),
                approved_by=current["attrs"].get("by", ""), approved_by_name=current["attrs"].get("name", ""),
                approved_at=current["attrs"].get("at", ""), review_id=current["review"]))

    for number, line in enumerate(text.splitlines(), start=1):
        meta = _META.search(line)
        if meta:
            close()
            attrs = {k: (q.replace('\\"', '"').replace("\\\\", "\\") if q else b)
                     for k, q, b in _ATTR.findall(meta.group("attrs"))}
            try:
                entry_id = int(attrs["id"])
                review = int(attrs["review"]) if "review" in attrs else None
            except (KeyError, ValueError):
                problems.append(f"line {number}: a liveroom:curated comment without a numeric id; skipped")
                current = None
                continue
            current = {"id": entry_id, "review": review, "attrs": attrs, "variants": [], "answer": [],
                       "line": number}
            continue
        if current is None:
            continue
        if line.startswith("#"):
            continue
        q, a = _Q.match(line), _A.match(line)
        if q and not current["answer"]:
            current["variants"].append(q.group("text").strip())
        elif a:
            current["answer"].append(a.group("text").strip())
        elif line.strip() and current["answer"]:
            current["answer"].append(line.strip())  # a human wrapped the answer over lines
    close()
    return entries, problems


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
