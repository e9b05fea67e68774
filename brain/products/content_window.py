"""What the host is talking about now: a rolling, recency-weighted window of their speech.

Each line of host speech (a transcript line, a caption, the host's own chat, a
``/topic``) adds its tokens and, when the embedder reads its language, its
vector. A line's weight halves every ``half_life`` seconds and the line leaves
the window after ``seconds``. Both the term weights and the vector sum are kept
as running totals, so adding a line, expiring one or reading the window costs
O(its tokens), not O(lines): a caption flood of 100 lines a second stays cheap.

The trick that keeps the totals exact under continuous decay: every line is
stored with weight ``2 ** ((ts - origin) / half_life)`` (growing with time),
and a read multiplies by ``2 ** (-(now - origin) / half_life)``. The origin is
moved forward before the exponents grow large (`_rebase`).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from brain.text.tokens import tokenize

__all__ = ["WindowLine", "ContentWindow"]

#: Exponent (in half-lives) after which the origin is moved, well inside float range.
_REBASE_AFTER = 200.0


@dataclass(frozen=True, slots=True)
class WindowLine:
    """One line of host speech as the window keeps it."""

    ts: float
    text: str
    terms: Mapping[str, float]  # token (or word pair) → count in the line
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    weight: float = 1.0  # a /topic line counts more than a passing remark
    scale: float = 1.0   # 2 ** ((ts - origin) / half_life) at the time it was added

    @property
    def tokens(self) -> frozenset[str]:
        return frozenset(self.terms)


class ContentWindow:
    """The recent host speech of one room, as weighted terms and a mean vector."""

    def __init__(self, seconds: float = 120.0, half_life: float = 45.0, max_lines: int = 2000,
                 tokenizer: Callable[[str], list[str]] = tokenize) -> None:
        if seconds <= 0 or half_life <= 0 or max_lines < 1:
            raise ValueError("window seconds, half_life and max_lines must be positive")
        self.seconds = seconds
        self.half_life = half_life
        self.max_lines = max_lines
        self._tokenize = tokenizer
        self._lines: deque[WindowLine] = deque()
        self._origin: float | None = None
        self._terms: Counter[str] = Counter()
        self._vector: np.ndarray | None = None
        self._vector_mass = 0.0
        self._mass = 0.0  # of all lines, with or without a vector
        self.version = 0  # bumped on every change; callers cache rankings by it

    # ---- writing ---------------------------------------------------------------------

    def add(self, ts: float, text: str, vector: np.ndarray | None = None, *, weight: float = 1.0,
            tokens: Sequence[str] | Mapping[str, float] | None = None) -> WindowLine | None:
        """Add one line (None if it has no content words). Lines may arrive slightly out of order.

        ``tokens`` overrides the tokenizer: a sequence of tokens, or weighted terms
        (the product matcher's tokens plus word pairs).
        """
        if tokens is None:
            tokens = self._tokenize(text)
        terms = dict(tokens) if isinstance(tokens, Mapping) else dict(Counter(tokens))
        if not terms and vector is None:
            return None
        if self._origin is None:
            self._origin = ts
        if (ts - self._origin) / self.half_life > _REBASE_AFTER:
            self._rebase(ts)
        scale = weight * 2.0 ** ((ts - self._origin) / self.half_life)
        line = WindowLine(ts=ts, text=text, terms=terms, vector=vector, weight=weight, scale=scale)
        self._apply(line, +1.0)
        self._lines.append(line)
        self.expire(ts)
        self.version += 1
        return line

    def expire(self, now: float) -> int:
        """Drop lines older than the window (and beyond ``max_lines``); returns how many."""
        dropped = 0
        while self._lines and (len(self._lines) > self.max_lines or self._lines[0].ts < now - self.seconds):
            self._apply(self._lines.popleft(), -1.0)
            dropped += 1
        if not self._lines:
            self._terms.clear()
            self._vector, self._vector_mass, self._mass, self._origin = None, 0.0, 0.0, None
        if dropped:
            self.version += 1
        return dropped

    def _apply(self, line: WindowLine, sign: float) -> None:
        for token, count in line.terms.items():
            value = self._terms[token] + sign * count * line.scale
            if value <= 1e-12 * line.scale:
                del self._terms[token]
            else:
                self._terms[token] = value
        self._mass += sign * line.scale
        if line.vector is not None:
            contribution = sign * line.scale * np.asarray(line.vector, dtype=np.float32)
            self._vector = contribution if self._vector is None else self._vector + contribution
            self._vector_mass += sign * line.scale

    def _rebase(self, ts: float) -> None:
        """Move the origin to ``ts`` and rescale every stored weight (rare: every ~200 half-lives)."""
        assert self._origin is not None
        factor = 2.0 ** (-(ts - self._origin) / self.half_life)
        self._origin = ts
        self._lines = deque(WindowLine(ts=l.ts, text=l.text, terms=l.terms, vector=l.vector,
                                       weight=l.weight, scale=l.scale * factor) for l in self._lines)
        self._terms = Counter({t: w * factor for t, w in self._terms.items() if w * factor > 0})
        if self._vector is not None:
            self._vector = self._vector * factor
        self._vector_mass *= factor
        self._mass *= factor

    # ---- reading ---------------------------------------------------------------------

    def _decay(self, now: float) -> float:
        if self._origin is None:
            return 0.0
        return 2.0 ** (-(now - self._origin) / self.half_life)

    def terms(self, now: float) -> dict[str, float]:
        """Token → recency-weighted count (a line said just now counts 1 per occurrence)."""
        factor = self._decay(now)
        return {t: w * factor for t, w in self._terms.items()}

    def vector(self, now: float) -> np.ndarray | None:
        """The recency-weighted mean of the lines' vectors, unit length (None if no line has one)."""
        del now  # a common factor: the direction of the mean does not depend on it
        if self._vector is None or self._vector_mass <= 0:
            return None
        norm = float(np.linalg.norm(self._vector))
        return None if norm == 0 or not math.isfinite(norm) else (self._vector / norm).astype(np.float32)

    def vector_share(self) -> float:
        """The recency-weighted share of the window that has a vector (1 when every line was embedded)."""
        if self._mass <= 0:
            return 0.0
        return min(1.0, max(0.0, self._vector_mass / self._mass))

    def keywords(self, now: float, k: int = 8, idf: Callable[[str], float] | None = None) -> list[tuple[str, float]]:
        """The window's top ``k`` keywords by TF-IDF (recency-weighted tf × ``idf``; tf alone without one)."""
        scored = ((t, w * (idf(t) if idf else 1.0)) for t, w in self.terms(now).items())
        return sorted((x for x in scored if x[1] > 0), key=lambda x: (-x[1], x[0]))[:k]

    def line_with(self, tokens: Iterable[str]) -> WindowLine | None:
        """The newest line that says the most of ``tokens`` (the line that triggered a match)."""
        wanted = set(tokens)
        best: WindowLine | None = None
        best_hits = 0
        for line in reversed(self._lines):
            hits = len(wanted.intersection(line.tokens))
            if hits > best_hits:
                best, best_hits = line, hits
        return best

    @property
    def lines(self) -> list[WindowLine]:
        return list(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def summary(self, now: float) -> Mapping[str, object]:
        return {"lines": len(self._lines), "terms": len(self._terms),
                "keywords": [t for t, _ in self.keywords(now, 5)]}
