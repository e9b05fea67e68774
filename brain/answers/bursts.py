"""Bursts of the same question, and a cache of recent answers.

When the host says a price out loud, twenty viewers ask "how much?" within
seconds. Answering each floods the room and buries the answer; `BurstTracker`
groups questions that mean the same thing within a window so the room gets one
answer that mentions everyone who asked. `AnswerCache` serves a repeat of a
recently answered question without retrieving again.

"The same thing" is decided on two signals, because neither suffices alone:
the embedding cosine (paraphrases in English) and the overlap of word or
character-bigram sets (Chinese, where the default English model is blind, and
near-identical strings in any language). Time is passed in explicitly, so the
logic is deterministic and testable, and the caller decides which clock it uses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from brain.text.questions import normalise_question
from brain.text.similarity import text_overlap

__all__ = ["same_question", "Burst", "BurstTracker", "AnswerCache"]

T = TypeVar("T")


def same_question(vec_a: np.ndarray | None, terms_a: frozenset[str], vec_b: np.ndarray | None,
                  terms_b: frozenset[str], *, cosine: float, overlap: float) -> bool:
    """True when either signal says the two questions ask the same thing."""
    if terms_a == terms_b and terms_a:
        return True
    if text_overlap(terms_a, terms_b) >= overlap:
        return True
    if vec_a is not None and vec_b is not None:
        return float(np.dot(vec_a, vec_b)) >= cosine
    return False


@dataclass
class Burst(Generic[T]):
    """One question asked by several people in a short time, and what the room was told."""

    room: str
    first_ts: float
    last_ts: float
    vector: np.ndarray | None
    terms: frozenset[str]
    lead_event_id: str
    askers: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    payload: T | None = None  # the caller's answer for this burst
    posted: bool = False

    @property
    def size(self) -> int:
        return len(self.event_ids)


class BurstTracker(Generic[T]):
    """Open bursts per room; a question joins the most recent matching burst within ``window`` seconds."""

    def __init__(self, *, window: float = 30.0, cosine: float = 0.86, overlap: float = 0.6,
                 max_open: int = 64) -> None:
        self.window = window
        self.cosine = cosine
        self.overlap = overlap
        self.max_open = max_open
        self._rooms: dict[str, list[Burst[T]]] = {}

    def match(self, room: str, vector: np.ndarray | None, terms: frozenset[str], now: float) -> Burst[T] | None:
        """The most recent open burst in ``room`` that asks the same thing, if any.

        Call it first without a vector: most repeats match on their words, and
        then the question never needs embedding.
        """
        open_bursts = [b for b in self._rooms.get(room, []) if now - b.last_ts <= self.window]
        self._rooms[room] = open_bursts
        for burst in reversed(open_bursts):
            if same_question(vector, terms, burst.vector, burst.terms, cosine=self.cosine, overlap=self.overlap):
                return burst
        return None

    @staticmethod
    def join(burst: Burst[T], event_id: str, asker: str, now: float) -> None:
        burst.last_ts = max(burst.last_ts, now)
        burst.askers.append(asker)
        burst.event_ids.append(event_id)

    def open(self, room: str, event_id: str, asker: str, vector: np.ndarray | None,
             terms: frozenset[str], now: float) -> Burst[T]:
        burst: Burst[T] = Burst(room=room, first_ts=now, last_ts=now, vector=vector, terms=terms,
                                lead_event_id=event_id, askers=[asker], event_ids=[event_id])
        bursts = self._rooms.setdefault(room, [])
        bursts.append(burst)
        del bursts[:-self.max_open]
        return burst

    def observe(self, room: str, event_id: str, asker: str, vector: np.ndarray | None,
                terms: frozenset[str], now: float) -> tuple[Burst[T], bool]:
        """Add one question; returns its burst and whether the burst is new."""
        burst = self.match(room, vector, terms, now)
        if burst is not None:
            self.join(burst, event_id, asker, now)
            return burst, False
        return self.open(room, event_id, asker, vector, terms, now), True


class AnswerCache(Generic[T]):
    """Recent answers by question, exact (normalised text) or semantic (cosine), with a TTL.

    Bounded (LRU) so a long stream cannot grow it without limit. ``clear`` is
    called when the knowledge base changes, since every cached answer may be stale.
    Thread-safe.
    """

    def __init__(self, *, ttl: float = 600.0, cosine: float = 0.95, capacity: int = 2048) -> None:
        self.ttl = ttl
        self.cosine = cosine
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[float, np.ndarray | None, T]] = OrderedDict()
        #: The answer pipeline reads and writes on the brain thread; moderation clears on the event loop.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str, vector: np.ndarray | None, now: float) -> T | None:
        key = normalise_question(text)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] <= self.ttl:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[2]
            if vector is not None:
                for k, (at, vec, value) in reversed(self._entries.items()):
                    if now - at <= self.ttl and vec is not None and float(np.dot(vec, vector)) >= self.cosine:
                        self.hits += 1
                        return value
            self.misses += 1
            return None

    def put(self, text: str, vector: np.ndarray | None, value: T, now: float) -> None:
        key = normalise_question(text)
        with self._lock:
            self._entries[key] = (now, vector, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self), "hits": self.hits, "misses": self.misses}
