"""How the room feels: a polarity per chat line, a per-minute mood series, and the minutes it moved.

The host wants to know "when did they love it, when did it go sour, and what
did they say". A lexicon is enough for that and it is transparent: every
score can be traced to the words that made it. The lexicons are ours
(``brain/chat/lexicons/sentiment_{en,zh,emoji}.txt``), packaged, no downloads.

Scoring, per line (English, Chinese, emoji, mixed):

* tokens in reading order: Latin words, CJK runs segmented by forward maximum
  matching against the Chinese lexicon (so "不错" is one positive word before
  "不" could negate "错"), emoji, emoticons, platform emotes ("[赞]"), "!" runs;
* a sentiment word is scaled by intensifiers ("very", "太", "超级") within two
  tokens before it and flipped (dampened) by a negator ("not", "不", "没")
  within three (two for Chinese); emoji are neither negated nor intensified;
* ALL-CAPS words and elongations ("sooo gooood") count a bit more; a token
  counts at most twice per line (emoji three times), so floods do not saturate;
* after a contrast word ("but", "但是") the clause counts 1.5x, before it 0.5x;
* "!" adds emphasis in the direction already taken;
* the sum s is squashed to ``s / sqrt(s² + 15)`` in (-1, 1).

Sarcasm ("great, stream froze again") is not detected: it reads positive.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

__all__ = ["Sentiment", "SentimentAnalyzer", "polarity", "analyse", "MoodSeries", "Moment", "mood_series",
           "moving_moments", "default_analyzer"]

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
#: A line is read up to this many characters: a 100k-character paste costs as much as a long line.
MAX_CHARS = 2000
_ALPHA = 15.0
_NEGATION_WINDOW = {"latin": 3, "cjk": 2}
_INTENSIFIER_WINDOW = 2
_EXCLAMATION_BOOST = 0.25
_CAPS_BOOST = 1.25
_ELONGATION_BOOST = 1.2
_MAX_REPEAT = {"emoji": 3}
_DEFAULT_REPEAT = 2

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MODIFIERS = re.compile("[\ufe0f\ufe0e\U0001F3FB-\U0001F3FF]")
_CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(
    r"(?P<emote>\[[^\[\]\s]{1,4}\])"
    r"|(?P<emoticon>[:;]-?(?:'\(|[()dDpP/|])|<3)"
    r"|(?P<latin>[A-Za-z0-9]+(?:['’][A-Za-z]+)?)"
    rf"|(?P<cjk>[{_CJK_CLASS}]+)"
    r"|(?P<excl>[!！]+)"
    r"|(?P<stop>[.,;:?。，；：？、\n]+)"
    r"|(?P<other>[^\s\w])"
)
_LAUGH = re.compile(r"^(?:ha){2,}h?$|^(?:he){2,}$|^(?:lo)+l$|^l+o+l+$")
_RUN3 = re.compile(r"(.)\1{2,}")
_LOWER = re.compile("[a-z]")
_SPECIAL = re.compile(r"(.)\1\1|^(?:ha|he|lo|l+o)|['’]")  # elongated, laughing or with an apostrophe


@dataclass(frozen=True, slots=True)
class Sentiment:
    """A line's polarity in [-1, 1] and the tokens that made it, with their contributions."""

    score: float
    hits: tuple[tuple[str, float], ...] = ()

    @property
    def label(self) -> str:
        return "positive" if self.score >= 0.05 else "negative" if self.score <= -0.05 else "neutral"


def _read_lexicon(path: Path) -> dict[str, dict[str, float]]:
    """``[section]`` → {entry: value}; entries without a value (contrast words) get 1.0."""
    out: dict[str, dict[str, float]] = {}
    section = "words"
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]") and " " not in line:
            section = line[1:-1]
            out.setdefault(section, {})
            continue
        entry, _, value = line.rpartition(" ")
        if not entry:  # a bare word: "but"
            entry, value = value, "1"
        key = _MODIFIERS.sub("", unicodedata.normalize("NFKC", entry).casefold())
        out.setdefault(section, {})[key] = float(value)
    return out


# A token: (text, kind, caps, elongated); kind is latin | cjk | emoji | excl | stop. Plain tuples:
# a frozen dataclass per token cost a third of the scoring time.
_Token = tuple


class SentimentAnalyzer:
    """Lexicon-based polarity for English, Chinese, emoji and their mixtures."""

    def __init__(self, lexicon_dir: Path = LEXICON_DIR) -> None:
        en = _read_lexicon(lexicon_dir / "sentiment_en.txt")
        zh = _read_lexicon(lexicon_dir / "sentiment_zh.txt")
        emoji = _read_lexicon(lexicon_dir / "sentiment_emoji.txt")
        self.words: dict[str, float] = {**en.get("words", {}), **zh.get("words", {})}
        self.emoji: dict[str, float] = dict(emoji.get("words", {}))
        self.negators: dict[str, float] = {**en.get("negators", {}), **zh.get("negators", {})}
        self.intensifiers: dict[str, float] = {**en.get("intensifiers", {}), **zh.get("intensifiers", {})}
        self.contrast: frozenset[str] = frozenset({**en.get("contrast", {}), **zh.get("contrast", {})})
        zh_entries = set(zh.get("words", {})) | set(zh.get("negators", {})) | set(zh.get("intensifiers", {})) \
            | set(zh.get("contrast", {}))
        self._zh_entries = frozenset(zh_entries)
        self._known = frozenset(self.words) | frozenset(self.negators) | frozenset(self.intensifiers) | self.contrast
        starts: dict[str, set[int]] = {}
        for e in zh_entries:
            starts.setdefault(e[0], set()).add(len(e))
        # first character → entry lengths, longest first: most characters start no entry at all
        self._zh_starts = {ch: tuple(sorted(ls, reverse=True)) for ch, ls in starts.items()}
        self._cache = lru_cache(maxsize=65536)(self._analyse)

    # ---- tokens ---------------------------------------------------------------------------------------------

    def _segment(self, run: str) -> list[str]:
        """Forward maximum matching of a CJK run against the Chinese entries; unknown characters alone."""
        out, i, n = [], 0, len(run)
        entries, starts = self._zh_entries, self._zh_starts
        while i < n:
            step = 1
            for length in starts.get(run[i], ()):
                if length > 1 and i + length <= n and run[i : i + length] in entries:
                    step = length
                    break
            out.append(run[i : i + step])
            i += step
        return out

    def _latin(self, word: str) -> tuple[str, bool]:
        """The lexicon form of a Latin token and whether it was elongated ("sooo" → "so")."""
        low = word.lower().replace("’", "'")
        if low in self._known:
            return low, False
        if low[0] in "hl" and _LAUGH.match(low):
            return ("haha" if low.startswith("h") else "lol"), False
        if len(low) > 2 and _RUN3.search(low):
            for cand in (_RUN3.sub(r"\1\1", low), _RUN3.sub(r"\1", low)):
                if cand in self.words or cand in self.intensifiers or cand in self.negators:
                    return cand, True
        return low, False

    def tokens(self, text: str) -> list[_Token]:
        """(text, kind, caps, elongated) tuples in reading order."""
        text = _MODIFIERS.sub("", unicodedata.normalize("NFKC", _URL.sub(" ", text[:MAX_CHARS])))
        shouting = _LOWER.search(text) is None
        known = self._known
        out: list[_Token] = []
        append = out.append
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            tok = m.group()
            if kind == "latin":
                caps = not shouting and len(tok) > 1 and tok.isupper() and tok.isalpha()
                low = tok.lower()
                if low in known or not _SPECIAL.search(low):
                    append((low, "latin", caps, False))
                else:
                    form, elongated = self._latin(tok)
                    append((form, "latin", caps, elongated))
            elif kind == "cjk":
                out.extend((piece, "cjk", False, False) for piece in self._segment(tok))
            elif kind in ("emote", "emoticon", "other"):
                append((tok.casefold(), "emoji", False, False))
            else:
                append((tok, kind, False, False))
        return out

    # ---- scoring --------------------------------------------------------------------------------------------

    def analyse(self, text: str) -> Sentiment:
        """The polarity of one line with its evidence (cached: chat repeats itself)."""
        return self._cache(text or "")

    def score(self, text: str) -> float:
        return self.analyse(text).score

    def _analyse(self, text: str) -> Sentiment:
        toks = self.tokens(text)
        words, emoji, intensifiers, contrast = self.words, self.emoji, self.intensifiers, self.contrast
        scored: list[tuple[int, float]] = []  # (token index, lexicon value)
        contrast_at = -1
        excl = 0
        n = len(toks)
        for i, (text_, kind, _, _) in enumerate(toks):
            if kind == "emoji":
                v = emoji.get(text_)
                if v:
                    scored.append((i, v))
            elif kind == "excl":
                excl += len(text_)
            elif text_ in words:
                # A word that is also an intensifier ("好", "so", "pretty") intensifies a sentiment word after it.
                if text_ in intensifiers and any(toks[j][0] in words for j in range(i + 1, min(n, i + 1 + _INTENSIFIER_WINDOW))):
                    continue
                v = words[text_]
                if v:
                    scored.append((i, v))
            elif text_ in contrast:
                contrast_at = i
        if not scored:
            return Sentiment(0.0)
        seen: dict[str, int] = {}
        hits: list[tuple[str, float]] = []
        total = 0.0
        for i, v in scored:
            text_, kind, caps, elongated = toks[i]
            times = seen[text_] = seen.get(text_, 0) + 1
            if times > _MAX_REPEAT.get(kind, _DEFAULT_REPEAT):
                continue
            if kind != "emoji":
                if i:
                    v *= self._modifier(toks, i)
                if caps:
                    v *= _CAPS_BOOST
                if elongated:
                    v *= _ELONGATION_BOOST
            if contrast_at >= 0:
                v *= 1.5 if i > contrast_at else 0.5
            hits.append((text_, v))
            total += v
        if total:
            total += math.copysign(min(excl, 4) * _EXCLAMATION_BOOST, total)
        return Sentiment(round(total / math.sqrt(total * total + _ALPHA), 4), tuple(hits))

    def _modifier(self, toks: Sequence[_Token], i: int) -> float:
        """Product of the intensifiers and the nearest negator before token ``i``: within their windows,
        in the same script, not across punctuation or a contrast word."""
        factor = 1.0
        negated = False
        kind = toks[i][1]
        for back in range(1, _NEGATION_WINDOW.get(kind, 3) + 1):
            j = i - back
            if j < 0:
                break
            text_, kind_j, _, _ = toks[j]
            if kind_j != kind or text_ in self.contrast:
                break
            if back <= _INTENSIFIER_WINDOW and not negated and text_ in self.intensifiers:
                factor *= self.intensifiers[text_]
            if not negated and text_ in self.negators:
                factor *= self.negators[text_]
                negated = True
        return factor


@lru_cache(maxsize=1)
def default_analyzer() -> SentimentAnalyzer:
    """The process-wide analyzer with the packaged lexicons (built once, ~10 ms)."""
    return SentimentAnalyzer()


def polarity(text: str) -> float:
    """Polarity of one line in [-1, 1] (negative … positive; 0 for no sentiment words)."""
    return default_analyzer().analyse(text).score


def analyse(text: str) -> Sentiment:
    """`Sentiment` of one line: the score and the tokens that made it."""
    return default_analyzer().analyse(text)


# ---- mood over time --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MoodSeries:
    """Per-bucket mood of a chat: contiguous buckets from the first to the last message.

    ``mean`` is NaN where a bucket has no messages; ``smoothed`` is the
    count-weighted mean of the trailing ``smooth`` buckets (carried over empty
    stretches), i.e. the mood "so far" a live dashboard can show.
    ``top_positive``/``top_negative`` keep each bucket's strongest distinct lines.
    """

    bucket_s: float
    smooth: int
    start: np.ndarray           # (n,) bucket start, seconds since the epoch
    mean: np.ndarray            # (n,) mean polarity of the bucket's lines
    count: np.ndarray           # (n,) lines
    positive: np.ndarray        # (n,) lines with polarity >= 0.05
    negative: np.ndarray        # (n,) lines with polarity <= -0.05
    smoothed: np.ndarray        # (n,)
    top_positive: tuple[tuple[tuple[str, float], ...], ...] = field(repr=False)
    top_negative: tuple[tuple[tuple[str, float], ...], ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.start)

    def rows(self) -> list[dict]:
        """One dict per bucket (JSON-friendly: NaN → None)."""
        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(float(x), 4)

        return [{"start": float(self.start[i]), "count": int(self.count[i]), "mean": num(self.mean[i]),
                 "smoothed": num(self.smoothed[i]), "positive": int(self.positive[i]),
                 "negative": int(self.negative[i])} for i in range(len(self))]


@dataclass(frozen=True, slots=True)
class Moment:
    """A bucket where the mood moved: from the trailing mood ``before`` to the bucket's ``after``."""

    start: float
    end: float
    before: float
    after: float
    delta: float
    strength: float  # delta shrunk towards 0 for thin buckets: delta · n / (n + prior)
    count: int
    direction: str   # up | down
    samples: tuple[tuple[str, float], ...]  # the lines that moved it, strongest first


def _seconds(ts: float | int | datetime) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else float(ts)


class _Bucket:
    __slots__ = ("total", "count", "pos", "neg", "top_pos", "top_neg", "texts", "seq")

    def __init__(self) -> None:
        self.total = 0.0
        self.count = self.pos = self.neg = self.seq = 0
        self.top_pos: list[tuple[float, int, str]] = []
        self.top_neg: list[tuple[float, int, str]] = []
        self.texts: set[str] = set()

    def keep(self, heap: list[tuple[float, int, str]], key: float, text: str, k: int) -> None:
        if text in self.texts:
            return
        self.seq += 1
        if len(heap) < k:
            heapq.heappush(heap, (key, self.seq, text))
            self.texts.add(text)
        elif key > heap[0][0]:
            _, _, dropped = heapq.heapreplace(heap, (key, self.seq, text))
            self.texts.discard(dropped)
            self.texts.add(text)


def mood_series(messages: Iterable[tuple[float | int | datetime, str]], *, bucket_s: float = 60.0,
                smooth: int = 3, samples: int = 5, analyzer: SentimentAnalyzer | None = None) -> MoodSeries:
    """Bucket ``(ts, text)`` pairs (epoch seconds or datetimes, any order) into a `MoodSeries`.

    Buckets are aligned to multiples of ``bucket_s`` (wall-clock minutes by
    default). One pass, O(1) memory per bucket besides ``samples`` lines of each sign.
    """
    if bucket_s <= 0 or smooth < 1 or samples < 0:
        raise ValueError("bucket_s and smooth must be positive, samples >= 0")
    score = (analyzer or default_analyzer()).score
    buckets: dict[int, _Bucket] = {}
    for ts, text in messages:
        s = score(text or "")
        key = math.floor(_seconds(ts) / bucket_s)
        b = buckets.get(key)
        if b is None:
            b = buckets[key] = _Bucket()
        b.total += s
        b.count += 1
        if s >= 0.05:
            b.pos += 1
            if samples:
                b.keep(b.top_pos, s, text, samples)
        elif s <= -0.05:
            b.neg += 1
            if samples:
                b.keep(b.top_neg, -s, text, samples)
    if not buckets:
        empty = np.zeros(0)
        return MoodSeries(bucket_s, smooth, empty, empty, empty.astype(int), empty.astype(int), empty.astype(int),
                          empty, (), ())
    lo, hi = min(buckets), max(buckets)
    n = hi - lo + 1
    total = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    pos = np.zeros(n, dtype=np.int64)
    neg = np.zeros(n, dtype=np.int64)
    top_p: list[tuple[tuple[str, float], ...]] = [()] * n
    top_n: list[tuple[tuple[str, float], ...]] = [()] * n
    for key, b in buckets.items():
        i = key - lo
        total[i], count[i], pos[i], neg[i] = b.total, b.count, b.pos, b.neg
        top_p[i] = tuple((t, round(s, 4)) for s, _, t in sorted(b.top_pos, reverse=True))
        top_n[i] = tuple((t, round(-s, 4)) for s, _, t in sorted(b.top_neg, reverse=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    csum_t = np.concatenate([[0.0], np.cumsum(total)])
    csum_c = np.concatenate([[0], np.cumsum(count)])
    idx = np.arange(n)
    lo_idx = np.maximum(idx - smooth + 1, 0)
    win_t = csum_t[idx + 1] - csum_t[lo_idx]
    win_c = csum_c[idx + 1] - csum_c[lo_idx]
    smoothed = np.full(n, np.nan)
    last = np.nan
    for i in range(n):  # carry the last known mood across empty stretches
        if win_c[i] > 0:
            last = win_t[i] / win_c[i]
        smoothed[i] = last
    start = (lo + idx) * bucket_s
    return MoodSeries(bucket_s, smooth, start.astype(float), mean, count, pos, neg, smoothed, tuple(top_p), tuple(top_n))


def moving_moments(series: MoodSeries, top: int = 5, *, min_count: int = 3, prior: float = 5.0) -> list[Moment]:
    """The ``top`` buckets where the mood moved most against the trailing mood before them.

    A bucket's move is its mean minus the previous bucket's smoothed mood,
    shrunk by ``n / (n + prior)`` so that a minute of three lines cannot outrank
    a minute of three hundred; buckets with fewer than ``min_count`` lines are
    skipped. Each moment carries the lines that pushed in its direction.
    """
    out: list[Moment] = []
    for i in range(1, len(series)):
        n = int(series.count[i])
        before = float(series.smoothed[i - 1])
        if n < min_count or math.isnan(before):
            continue
        after = float(series.mean[i])
        delta = after - before
        if delta == 0:
            continue
        strength = delta * n / (n + prior)
        up = delta > 0
        out.append(Moment(start=float(series.start[i]), end=float(series.start[i] + series.bucket_s),
                          before=round(before, 4), after=round(after, 4), delta=round(delta, 4),
                          strength=round(strength, 4), count=n, direction="up" if up else "down",
                          samples=series.top_positive[i] if up else series.top_negative[i]))
    out.sort(key=lambda m: (-abs(m.strength), m.start))
    return out[:top]
