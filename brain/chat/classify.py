"""What a chat line is: a question, a sale, a complaint, praise, a greeting, spam/abuse or chatter.

Two classifiers with one API (``classify`` → `Label`, ``classify_many``):

* `RuleClassifier`, the transparent baseline: per-class phrase lexicons
  (``brain/chat/lexicons/intent_{en,zh}.txt``), the project's question detector
  (`brain.text.questions.detect_question`), a flood test, and a fixed label priority.
* `MessageClassifier`, the default: a multinomial logistic regression over
  hashed character n-grams and words (which read Chinese without a segmenter
  or an embedder) plus the rule hits as features, so the model keeps what the
  lexicons know and learns where they are wrong. Its weights ship as
  ``brain/chat/lexicons/classifier.npz``, written by ``python -m brain.chat.classify train``.
  Given an embedder (the packaged MiniLM) it becomes a cascade: English lines it
  is unsure of are re-scored with their sentence vector (``classifier_en_minilm.npz``).

Why shipped weights rather than training at import: the labelled set lives in
``tests/data`` (not packaged), training with the cross-validated search takes
~20 s, and a file makes every process classify identically. Loading it takes
milliseconds.

Labels and their priority when a line is several things at once (see
docs/classify.md): spam > complaint > purchase_intent > question > praise >
greeting > other. Moderation uses `is_abuse`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from brain.text.questions import detect_question
from brain.text.tokens import detect_lang

__all__ = [
    "LABELS", "PRIORITY", "Label", "RuleClassifier", "MessageClassifier", "LinearModel",
    "is_abuse", "evaluate", "load_labelled", "split_of", "train", "default_classifier",
    "scores", "load_lexicon", "LEXICON_DIR", "MODEL_PATH", "DENSE_MODEL_PATH", "DEFAULT_DATA",
]

#: The classes, in the order of the model's outputs.
LABELS: tuple[str, ...] = ("question", "purchase_intent", "complaint", "praise", "greeting", "spam", "other")
#: When a line is several things, the first of these wins (the rules apply it; the set is labelled by it).
PRIORITY: tuple[str, ...] = ("spam", "complaint", "purchase_intent", "question", "praise", "greeting", "other")

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
MODEL_PATH = LEXICON_DIR / "classifier.npz"
DENSE_MODEL_PATH = LEXICON_DIR / "classifier_en_minilm.npz"
_REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = (_REPO / "tests" / "data" / "messages_en.jsonl", _REPO / "tests" / "data" / "messages_zh.jsonl")

#: Rules read this many characters, n-grams fewer: a 100k-character paste costs as much as a long line.
MAX_CHARS = 1000
NGRAM_CHARS = 300
#: Bump when the features change: weights trained on other features are refused.
FEATURE_VERSION = 3
DIM = 1 << 18
TEST_SHARE = 30  # percent of groups in the held-out split

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "＇": "'"})
_HAS_WORD = re.compile(r"[^\W_]")
_FLOOD = re.compile(r"(.)\1{9,}|(.{2,4}?)\2{7,}", re.DOTALL)
_REPEAT_WORD = re.compile(r"\b(\w+)\b(?:\W+\1\b){5,}")
_DIGIT = re.compile(r"\d")
_RUN = re.compile(r"(.)\1{3,}", re.DOTALL)
_SPACES = re.compile(r"\s+")
_LATIN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NON_CONTENT = re.compile(r"[\W_]+")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]")


@dataclass(frozen=True, slots=True)
class Label:
    """One line's class, a confidence in [0, 1] and the evidence (rule hits, strongest features)."""

    label: str
    score: float
    reasons: tuple[str, ...] = ()
    lang: str = "en"


def is_abuse(label: Label, threshold: float = 0.5) -> bool:
    """True when a line should be flagged for moderation (spam or abuse with enough confidence).

    The threshold trades false flags for misses: at 0.5 a line is flagged when spam is
    its top class and the model gives it at least even odds.
    """
    return label.label == "spam" and label.score >= threshold


# ---- shared preprocessing -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Prepared:
    text: str       # NFKC, truncated, stripped
    low: str        # casefolded, apostrophes unified
    lang: str
    wordless: bool  # no letter, digit or ideograph: emoji, punctuation or nothing
    flood: bool     # one character or a short unit repeated many times


def _prepare(text: str) -> _Prepared:
    text = unicodedata.normalize("NFKC", (text or "")[: MAX_CHARS * 2])[:MAX_CHARS].strip()
    low = text.casefold().translate(_APOSTROPHES)
    flood = bool(_FLOOD.search(low) or _REPEAT_WORD.search(low))
    return _Prepared(text, low, detect_lang(text) if text else "en", not _HAS_WORD.search(low), flood)


def _wordless_label(p: _Prepared) -> Label:
    """Emoji, punctuation or nothing: chatter, except a long punctuation flood."""
    if p.flood and not _EMOJI.search(p.low):
        return Label("spam", 0.9, ("flood",), p.lang)
    return Label("other", 1.0, ("no words",), p.lang)


# ---- rules ---------------------------------------------------------------------------------------------------

def load_lexicon(path: Path) -> dict[str, list[str]]:
    """A ``[class]``-sectioned phrase list (``#`` comments, ``re:`` entries are regexes)."""
    out: dict[str, list[str]] = {}
    section: str | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            out.setdefault(section, [])
            continue
        if section is None:
            raise ValueError(f"{path}: entry {line!r} before any [class] header")
        out[section].append(line)
    return out


def _trie_regex(phrases: Iterable[str]) -> str:
    """One regex for many literal phrases, as a character trie.

    Python's ``re`` tries every branch of a flat alternation at every position;
    a trie only follows the branches that share the next character, which makes
    the few hundred phrases of a class about ten times cheaper to search.
    """
    trie: dict = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = True

    def walk(node: dict) -> str:
        ends = "" in node
        branches = []
        for ch in sorted(k for k in node if k):
            sub = walk(node[ch])
            branches.append(re.escape(ch) + sub)
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return walk(trie)


def _class_regex(entries: Sequence[str]) -> str:
    """Literal entries as two tries (with/without a leading word boundary), ``re:`` entries as they are.

    Word boundaries only at ASCII letters/digits: CJK neighbours must not block "hi主播".
    """
    bounded, free, regexes = [], [], []
    for entry in entries:
        if entry.startswith("re:"):
            regexes.append(entry[3:])
            continue
        phrase = entry.casefold()
        # the end boundary is part of the phrase: "\x00" marks it and becomes a lookahead
        if phrase[-1].isascii() and phrase[-1].isalnum():
            phrase += "\x00"
        (bounded if phrase[0].isascii() and phrase[0].isalnum() else free).append(phrase)
    parts = []
    if bounded:
        parts.append(r"(?<![a-z0-9])" + _trie_regex(bounded))
    if free:
        parts.append(_trie_regex(free))
    parts.extend(regexes)
    return "|".join(f"(?:{p})" for p in parts).replace(re.escape("\x00"), r"(?![a-z0-9])")


@lru_cache(maxsize=4)
def _compiled_lexicons(paths: tuple[Path, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    merged: dict[str, list[str]] = {}
    for path in paths:
        for cls, entries in load_lexicon(path).items():
            if cls not in LABELS:
                raise ValueError(f"{path}: unknown class [{cls}]")
            merged.setdefault(cls, []).extend(entries)
    return tuple((cls, re.compile(_class_regex(merged[cls]))) for cls in PRIORITY if merged.get(cls))


DEFAULT_LEXICONS = (LEXICON_DIR / "intent_en.txt", LEXICON_DIR / "intent_zh.txt")


class RuleClassifier:
    """The baseline: lexicon hits + question detector + flood test, resolved by `PRIORITY`.

    Both languages' lexicons run on every line: chat mixes scripts ("refund还没到"),
    and an English phrase cannot match Chinese text by accident (word boundaries).
    """

    def __init__(self, lexicons: Sequence[Path] = DEFAULT_LEXICONS) -> None:
        self._patterns = _compiled_lexicons(tuple(Path(p) for p in lexicons))

    def hits(self, text: str) -> dict[str, str]:
        """Class → the evidence that fired for it (a phrase, "flood" or a question-detector reason)."""
        return self._hits(_prepare(text))

    def _hits(self, p: _Prepared) -> dict[str, str]:
        found: dict[str, str] = {}
        if p.flood:
            found["spam"] = "flood"
        for cls, pattern in self._patterns:
            if cls not in found:
                m = pattern.search(p.low)
                if m:
                    found[cls] = m.group(0).strip() or cls
        if "question" not in found:
            q = detect_question(p.text)
            if q is not None:
                found["question"] = q.reason
        return found

    def _label(self, p: _Prepared) -> Label:
        if p.wordless:
            return _wordless_label(p)
        found = self._hits(p)
        for cls in PRIORITY:
            if cls in found:
                reasons = tuple(f"rule:{c}({found[c]})" for c in PRIORITY if c in found)
                return Label(cls, 0.9 if len(found) == 1 else 0.6, reasons, p.lang)
        return Label("other", 0.5, ("no rule",), p.lang)

    def classify(self, text: str) -> Label:
        return self._label(_prepare(text))

    def classify_many(self, texts: Iterable[str]) -> list[Label]:
        return [self.classify(t) for t in texts]


# ---- features -------------------------------------------------------------------------------------------------

def _len_bucket(n: int) -> str:
    return "1" if n <= 1 else "2-3" if n <= 3 else "4-8" if n <= 8 else "9-20" if n <= 20 else "21-60" if n <= 60 else "61+"


def _feature_names(p: _Prepared, hits: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(text features, rule/shape features) of a prepared line, as strings to hash.

    Text: character 2-4-grams of the folded line (digits → 0, runs capped at
    three, spaces collapsed) and single non-ASCII characters (an ideograph or an
    emoji carries meaning, a single letter does not), Latin words ("w|") and word
    pairs ("b|"). Rule/shape: which rules fired and which won, the question
    detector's reason, length, language, "?", "!", flood, emoji, all caps.
    """
    folded = _SPACES.sub(" ", _RUN.sub(r"\1\1\1", _DIGIT.sub("0", p.low[:NGRAM_CHARS])))
    padded = f" {folded} "
    n = len(padded)
    text_feats = [ch for ch in folded if not ch.isascii()]
    text_feats += [padded[i : i + 2] for i in range(n - 1)]
    text_feats += [padded[i : i + 3] for i in range(n - 2)]
    text_feats += [padded[i : i + 4] for i in range(n - 3)]
    words = _LATIN.findall(folded)
    text_feats += ["w|" + w for w in words]
    text_feats += [f"b|{a} {b}" for a, b in zip(words, words[1:])]

    # Where a line starts and ends says a lot in chat: "do i ...", "hi ...", "...吗", "...了".
    if words:
        text_feats += ["F|" + words[0], "F|" + " ".join(words[:2]), "L|" + words[-1]]
    core = _NON_CONTENT.sub("", folded)
    if core and not core[-1].isascii():
        text_feats += ["L|" + core[-1], "F|" + core[:2]]

    units = len(words) + len(_CJK.findall(folded))
    shape = [f"R|{cls}" for cls in hits]
    shape.append("P|" + next((c for c in PRIORITY if c in hits), "none"))
    if "question" in hits and hits["question"] in ("question-mark", "interrogative", "particle", "mention"):
        shape.append(f"Q|{hits['question']}")
    shape.append(f"S|len:{_len_bucket(units)}")
    shape.append(f"S|lang:{p.lang}")
    if "?" in p.low:
        shape.append("S|qmark")
    if "!" in p.low:
        shape.append("S|excl")
    if p.flood:
        shape.append("S|flood")
    if _EMOJI.search(p.low):
        shape.append("S|emoji")
    letters = [c for c in p.text if c.isascii() and c.isalpha()]
    if len(letters) >= 4 and sum(c.isupper() for c in letters) >= 0.8 * len(letters):
        shape.append("S|caps")
    return text_feats, shape


#: feature string → bucket. Chat reuses the same n-grams endlessly; a dict hit is ~5x cheaper than crc32.
_HASHES: dict[str, int] = {}
_HASH_CACHE_MAX = 400_000
_TF = [0.0] + [1.0 + math.log(c) for c in range(1, 64)]  # sublinear term frequency


def _hash(feature: str) -> int:
    """Bucket of a feature: crc32 (stable across processes, unlike ``hash``), never 0 (0 means "not cached")."""
    h = _HASHES.get(feature)
    if h is None:
        if len(_HASHES) >= _HASH_CACHE_MAX:
            _HASHES.clear()
        h = _HASHES[feature] = (zlib.crc32(feature.encode("utf-8")) & (DIM - 1)) or 1
    return h


def _vectorise(text_feats: Sequence[str], shape: Sequence[str]) -> dict[int, float]:
    """Hashed, sublinear-tf, L2-normalised text block, plus one unit per rule/shape feature."""
    get = _HASHES.get
    counts = Counter([get(f) or _hash(f) for f in text_feats])
    out: dict[int, float] = {}
    if counts:
        tf = {h: _TF[c] if c < 64 else 1.0 + math.log(c) for h, c in counts.items()}
        inv = 1.0 / math.sqrt(sum(v * v for v in tf.values()))
        out = {h: v * inv for h, v in tf.items()}
    for f in shape:
        h = get(f) or _hash(f)
        out[h] = out.get(h, 0.0) + 1.0
    return out


def _readable(feature: str) -> str:
    kind, sep, value = feature.partition("|")
    if not sep or len(kind) != 1:
        return f"chars:{feature!r}"
    return {"R": f"rule:{value}", "P": f"rule-winner:{value}", "Q": f"question:{value}", "S": f"shape:{value}",
            "w": f"word:{value!r}", "b": f"words:{value!r}",
            "F": f"starts:{value!r}", "L": f"ends:{value!r}"}.get(kind, f"chars:{feature!r}")


# ---- the linear model -------------------------------------------------------------------------------------

@dataclass
class LinearModel:
    """Softmax regression weights: ``W`` (DIM, K) over hashed features, bias ``b`` (K).

    A model for the embedding path also has ``D`` (dim, K) over ``alpha`` × the
    line's sentence vector; ``meta["embedder"]`` names the model it was trained with.
    """

    W: np.ndarray
    b: np.ndarray
    labels: tuple[str, ...] = LABELS
    meta: dict | None = None
    D: np.ndarray | None = None
    alpha: float = 1.0

    def save(self, path: Path) -> None:
        rows = np.flatnonzero(np.any(self.W != 0, axis=1)).astype(np.int32)
        meta = dict(self.meta or {}, feature_version=FEATURE_VERSION, dim=DIM, alpha=self.alpha)
        extra = {} if self.D is None else {"dense": self.D.astype(np.float32)}
        np.savez_compressed(path, rows=rows, weights=self.W[rows].astype(np.float32), bias=self.b.astype(np.float32),
                            labels=np.array(self.labels), meta=np.array(json.dumps(meta, sort_keys=True)), **extra)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LinearModel:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("feature_version") != FEATURE_VERSION or meta.get("dim") != DIM:
                raise ValueError(f"{path} was trained on other features (version {meta.get('feature_version')}); "
                                 "retrain with `python -m brain.chat.classify train`")
            labels = tuple(str(x) for x in z["labels"])
            W = np.zeros((DIM, len(labels)), dtype=np.float32)
            W[z["rows"]] = z["weights"]
            D = z["dense"].astype(np.float32) if "dense" in z.files else None
            return cls(W=W, b=z["bias"].astype(np.float32), labels=labels, meta=meta, D=D,
                       alpha=float(meta.get("alpha", 1.0)))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class MessageClassifier:
    """The default classifier: rules as features + hashed n-grams, one softmax regression.

    The per-line cost is the Python feature extraction; scoring a batch is one
    gather and one segmented sum. ``explain`` (default on) adds the strongest
    features of the chosen class to ``reasons``.

    With an ``embedder`` (the packaged MiniLM: ``make_embedder("minilm")``) it
    becomes a cascade: English lines the cheap model is unsure of (top
    probability below ``dense_below``) are re-scored by a second model that also
    reads their sentence vector (``classifier_en_minilm.npz``). Embedding costs
    ~10-40 ms a line on this host, so only the uncertain lines pay it.
    """

    def __init__(self, model: LinearModel | Path | str | None = None, *, rules: RuleClassifier | None = None,
                 explain: bool = True, embedder: object | None = None,
                 dense_model: LinearModel | Path | str | None = None, dense_below: float = 0.9) -> None:
        if model is None or isinstance(model, (str, Path)):
            model = LinearModel.load(Path(model) if model is not None else MODEL_PATH)
        self.model = model
        self.rules = rules or RuleClassifier()
        self.explain = explain
        self._labels = model.labels
        self.embedder = embedder
        self.dense_below = dense_below
        self.dense_model: LinearModel | None = None
        self.dense_languages: frozenset[str] = frozenset()
        if embedder is not None:
            dm = dense_model if isinstance(dense_model, LinearModel) else LinearModel.load(
                Path(dense_model) if dense_model is not None else DENSE_MODEL_PATH)
            meta = dm.meta or {}
            if dm.D is None or meta.get("embedder") != getattr(embedder, "name", None) \
                    or dm.D.shape[0] != getattr(embedder, "dim", -1) or dm.labels != model.labels:
                raise ValueError(f"dense model was trained with {meta.get('embedder')!r}, not "
                                 f"{getattr(embedder, 'name', None)!r}; retrain with `python -m brain.chat.classify train --minilm`")
            self.dense_model = dm
            self.dense_languages = frozenset(meta.get("languages") or getattr(embedder, "languages", None) or ("en",))

    def _featurise(self, p: _Prepared) -> tuple[dict[int, float], dict[str, str], list[str]]:
        hits = self.rules._hits(p)
        text_feats, shape = _feature_names(p, hits)
        return _vectorise(text_feats, shape), hits, (shape + text_feats if self.explain else [])

    @staticmethod
    def _flatten(rows: Sequence[Mapping[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        total = int(sizes.sum())
        idx = np.fromiter((h for r in rows for h in r), dtype=np.int64, count=total)
        val = np.fromiter((v for r in rows for v in r.values()), dtype=np.float32, count=total)
        starts = np.zeros(len(rows), dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        return idx, val, starts

    @staticmethod
    def _proba(model: LinearModel, idx: np.ndarray, val: np.ndarray, starts: np.ndarray,
               E: np.ndarray | None = None) -> np.ndarray:
        """Softmax of ``x·W (+ alpha·e·D) + b`` for non-empty sparse rows.

        One gather and one segmented sum for the whole batch, in numpy only: no
        BLAS (its threads were 100x slower on a busy 2-core host), no scipy.
        """
        logits = np.add.reduceat(model.W[idx] * val[:, None], starts, axis=0) + model.b
        if E is not None and model.D is not None:
            logits = logits + model.alpha * np.einsum("nd,dk->nk", np.asarray(E, dtype=np.float32), model.D)
        return _softmax(logits.astype(np.float64))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(n, K) cheap-model class probabilities in ``model.labels`` order (wordless lines scored too)."""
        rows = [self._featurise(_prepare(t))[0] for t in texts]
        return self._proba(self.model, *self._flatten(rows)) if rows else np.zeros((0, len(self._labels)))

    def classify(self, text: str) -> Label:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Iterable[str]) -> list[Label]:
        prepared = [_prepare(t) for t in texts]
        result: list[Label | None] = [None] * len(prepared)
        todo, rows, extra = [], [], []
        for i, p in enumerate(prepared):
            if p.wordless:
                result[i] = _wordless_label(p)
                continue
            row, hits, feats = self._featurise(p)
            todo.append(i)
            rows.append(row)
            extra.append((hits, feats))
        if not todo:
            return result  # type: ignore[return-value]
        idx, val, starts = self._flatten(rows)
        proba = self._proba(self.model, idx, val, starts)
        dense: list[int] = []
        if self.dense_model is not None:
            dense = [j for j, i in enumerate(todo)
                     if proba[j].max() < self.dense_below and prepared[i].lang in self.dense_languages]
            if dense:
                E = self.embedder.embed([prepared[todo[j]].text for j in dense])  # type: ignore[union-attr]
                proba[dense] = self._proba(self.dense_model, *self._flatten([rows[j] for j in dense]), E=E)
        best = proba.argmax(axis=1)
        tops: list[tuple[int, ...]] = [()] * len(todo)
        if self.explain:
            tops = self._top_features(self.model.W, idx, val, starts, best)
            if dense:
                sub = self._flatten([rows[j] for j in dense])
                for j, t in zip(dense, self._top_features(self.dense_model.W, *sub, best[dense])):  # type: ignore[union-attr]
                    tops[j] = t
        dense_set = set(dense)
        for j, i in enumerate(todo):
            k = int(best[j])
            reasons: tuple[str, ...] = ()
            if self.explain:
                hits, feats = extra[j]
                reasons = tuple(f"rule:{c}({hits[c]})" for c in PRIORITY if c in hits) + _names(tops[j], feats)
                if j in dense_set:
                    reasons += (f"embedding:{getattr(self.embedder, 'name', '?')}",)
            result[i] = Label(self._labels[k], float(proba[j, k]), reasons, prepared[i].lang)
        return result  # type: ignore[return-value]

    @staticmethod
    def _top_features(W: np.ndarray, idx: np.ndarray, val: np.ndarray, starts: np.ndarray, best: np.ndarray,
                      top: int = 3) -> list[tuple[int, ...]]:
        """Per row, the buckets that pushed hardest towards the chosen class (rule buckets left out:
        the rule hits are listed by name anyway)."""
        sizes = np.diff(np.append(starts, len(idx)))
        contrib = W[idx, np.repeat(best, sizes)] * val
        contrib[_rule_mask()[idx]] = 0.0
        out = []
        for s, n in zip(starts.tolist(), sizes.tolist()):
            seg = contrib[s : s + n]
            order = np.argsort(-seg)[:top] if n <= top else np.argpartition(-seg, top)[:top]
            order = sorted(order.tolist(), key=lambda o: -seg[o])
            out.append(tuple(int(idx[s + o]) for o in order if seg[o] > 0))
        return out


@lru_cache(maxsize=1)
def _rule_mask() -> np.ndarray:
    mask = np.zeros(DIM, dtype=bool)
    mask[[_hash(f"{kind}|{c}") for kind in "RP" for c in LABELS + ("none",)]] = True
    return mask


def _names(buckets: Sequence[int], feats: Sequence[str]) -> tuple[str, ...]:
    """Readable names of hashed buckets: the first feature of the line that lands in each."""
    if not buckets:
        return ()
    wanted = set(buckets)
    named: dict[int, str] = {}
    get = _HASHES.get
    for f in feats:
        h = get(f) or _hash(f)
        if h in wanted and h not in named:
            named[h] = f
            if len(named) == len(wanted):
                break
    return tuple(_readable(named[b]) for b in buckets if b in named)


@lru_cache(maxsize=1)
def default_classifier() -> MessageClassifier:
    """The process-wide classifier with the shipped weights (loaded once)."""
    return MessageClassifier()


# ---- data, split, evaluation --------------------------------------------------------------------------------

def load_labelled(paths: Path | str | Iterable[Path | str]) -> list[dict]:
    """Records of labelled JSON Lines files (``text``, ``label``, ``lang``, optional ``group``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[dict] = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    rec = json.loads(line)
                    if rec.get("label") not in LABELS:
                        raise ValueError(f"{path}:{n}: unknown label {rec.get('label')!r}")
                    out.append(rec)
    return out


def split_of(record: Mapping[str, str]) -> str:
    """'test' for the held-out 30 %, else 'train': by a hash of the template group (or the text).

    Hashing the group keeps every phrasing of one template on the same side, so the
    test split measures unseen phrasings, not unseen slot fillers. A record may name
    its split itself: "fresh" marks the blind lines written after the lexicons and
    the model were frozen (never trained or tuned on).
    """
    if record.get("split"):
        return str(record["split"])
    key = record.get("group") or record["text"]
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "test" if bucket < TEST_SHARE else "train"


def _select(records: Iterable[dict], split: str) -> list[dict]:
    if split not in ("train", "test", "fresh", "all"):
        raise ValueError("split must be 'train', 'test', 'fresh' or 'all'")
    return [r for r in records if split == "all" or split_of(r) == split]


def scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = LABELS) -> dict:
    """Per-class precision/recall/F1/support, macro F1 and accuracy."""
    per: dict[str, dict[str, float]] = {}
    for c in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[c] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4), "support": tp + fn}
    present = [c for c in labels if per[c]["support"]]
    macro = sum(per[c]["f1"] for c in present) / len(present) if present else 0.0
    acc = sum(1 for g, p in zip(gold, pred) if g == p) / len(gold) if gold else 0.0
    return {"n": len(gold), "accuracy": round(acc, 4), "macro_f1": round(macro, 4), "per_class": per}


def evaluate(path: Path | str | Iterable[Path | str], classifier: MessageClassifier | RuleClassifier | None = None,
             *, split: str = "test") -> dict:
    """Score ``classifier`` (default: the shipped model) on a labelled file's ``split``.

    ``split``: 'test' (the held-out 30 %), 'fresh' (the blind set), 'train' or 'all'.
    Returns ``n``, ``accuracy``, ``macro_f1``, ``per_class`` {label: precision, recall,
    f1, support} and ``errors`` (text, gold, pred).
    """
    clf = classifier if classifier is not None else default_classifier()
    records = _select(load_labelled(path), split)
    pred = [lab.label for lab in clf.classify_many([r["text"] for r in records])]
    out = scores([r["label"] for r in records], pred)
    out["errors"] = [{"text": r["text"], "gold": r["label"], "pred": p}
                     for r, p in zip(records, pred) if r["label"] != p]
    return out


# ---- training -----------------------------------------------------------------------------------------------

_RULE_PREFIXES = ("R|", "P|", "Q|")


def _design(records: Sequence[dict], rules: RuleClassifier, *, with_rules: bool = True):
    """The (n, DIM) sparse feature matrix; ``with_rules=False`` leaves out the rule features."""
    from scipy import sparse

    indptr, indices, data = [0], [], []
    for r in records:
        p = _prepare(r["text"])
        text_feats, shape = _feature_names(p, rules._hits(p))
        if not with_rules:
            shape = [f for f in shape if not f.startswith(_RULE_PREFIXES)]
        row = _vectorise(text_feats, shape)
        indices.extend(row.keys())
        data.extend(row.values())
        indptr.append(len(indices))
    return sparse.csr_matrix((np.asarray(data, np.float64), np.asarray(indices, np.int64), np.asarray(indptr)),
                             shape=(len(records), DIM))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """A dot product that does not go through BLAS.

    Multi-threaded OpenBLAS on a busy 2-core host took 16 ms for one dot of 175k
    floats (0.09 ms single-threaded); einsum's own loop is immune to that.
    """
    return float(np.einsum("i,i->", a, b))


def _lbfgs(f, x: np.ndarray, max_iter: int = 300, memory: int = 10, tol: float = 1e-7) -> np.ndarray:
    """Minimise a smooth ``f(x) -> (value, gradient)``: L-BFGS two-loop recursion + Armijo backtracking.

    Written here because scipy's L-BFGS-B spent 160 ms per iteration on this
    problem (175k parameters) against ~2 ms for the objective itself (BLAS
    threads, see `_dot`).
    """
    fx, g = f(x)
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    for _ in range(max_iter):
        q = g.copy()
        hist = []
        for s, y in zip(reversed(S), reversed(Y)):
            rho = 1.0 / _dot(y, s)
            a = rho * _dot(s, q)
            q -= a * y
            hist.append((rho, a))
        q *= _dot(S[-1], Y[-1]) / _dot(Y[-1], Y[-1]) if S else 1.0 / max(1.0, float(np.abs(g).max()))
        for (s, y), (rho, a) in zip(zip(S, Y), reversed(hist)):
            q += s * (a - rho * _dot(y, q))
        d = -q
        slope = _dot(g, d)
        if slope >= 0:  # not a descent direction: restart from the gradient
            S.clear(), Y.clear()
            d, slope = -g, -_dot(g, g)
        step = 1.0
        while True:
            xn = x + step * d
            fn, gn = f(xn)
            if fn <= fx + 1e-4 * step * slope or step < 1e-8:
                break
            step *= 0.5
        s, y = xn - x, gn - g
        if _dot(s, y) > 1e-12:
            S.append(s), Y.append(y)
            if len(S) > memory:
                S.pop(0), Y.pop(0)
        done = abs(fx - fn) <= tol * max(1.0, abs(fx))
        x, fx, g = xn, fn, gn
        if done or float(np.abs(g).max()) < 1e-6:
            break
    return x


def _fit(X, y: np.ndarray, k: int, l2: float, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced softmax regression with L2 on the weights (not the bias), on the used columns only.

    Returns W with one row per column of ``X`` (DIM, or DIM + embedding dims).
    """
    cols = np.unique(X.indices)
    Xc = X[:, cols].tocsr()
    n, m = Xc.shape
    counts = np.bincount(y, minlength=k).astype(np.float64)
    sw = (n / (k * np.maximum(counts, 1)))[y]
    if sample_weight is not None:
        sw = sw * sample_weight
    sw /= sw.sum()
    Y = np.zeros((n, k))
    Y[np.arange(n), y] = 1.0
    XcT = Xc.T.tocsr()

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[: m * k].reshape(m, k)
        Z = Xc @ W + theta[m * k :]
        Z -= Z.max(axis=1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        loss = -float((sw * (logp * Y).sum(axis=1)).sum()) + 0.5 * l2 * float((W * W).sum())
        G = (np.exp(logp) - Y) * sw[:, None]
        return loss, np.concatenate([(XcT @ G + l2 * W).ravel(), G.sum(axis=0)])

    theta = _lbfgs(f, np.zeros(m * k + k))
    W = np.zeros((X.shape[1], k), dtype=np.float32)
    W[cols] = theta[: m * k].reshape(m, k)
    return W, theta[m * k :].astype(np.float32)


L2_GRID = (3e-4, 1e-3, 3e-3)
#: Weight of the rule-free copy of every training line (0 = no copy).
DROPOUT_GRID = (0.0, 0.5, 1.0)


def _fit_augmented(X, Xn, y: np.ndarray, l2: float, dropout: float) -> tuple[np.ndarray, np.ndarray]:
    """Fit on the lines with their rule features plus, weighted ``dropout``, the same lines without them.

    The lexicons were written with this chat in mind, so on the training lines the rules are
    nearly always right and a model trained on them alone learns "no rule fired → other".
    The rule-free copies make the n-grams carry the classes too, for the lines the lexicons miss.
    """
    from scipy import sparse

    if dropout <= 0:
        return _fit(X, y, len(LABELS), l2)
    Xa = sparse.vstack([X, Xn]).tocsr()
    weights = np.concatenate([np.ones(X.shape[0]), np.full(X.shape[0], dropout)])
    return _fit(Xa, np.concatenate([y, y]), len(LABELS), l2, sample_weight=weights)


#: Scale of the sentence vector next to the (unit-norm) n-gram block, for the embedding path.
ALPHA_GRID = (0.5, 1.0)


def _with_dense(X, E: np.ndarray | None, alpha: float):
    from scipy import sparse

    return X if E is None else sparse.hstack([X, sparse.csr_matrix(alpha * E)]).tocsr()


def train(records: Sequence[dict], *, l2: float | None = None, dropout: float | None = None,
          alpha: float | None = None, embedder: object | None = None, folds: int = 5,
          rules: RuleClassifier | None = None, progress: bool = False) -> LinearModel:
    """Fit the model on ``records``; ``l2``/``dropout`` (and ``alpha``) left None are chosen by grouped
    cross-validation (folds by template group, as the held-out split; criterion macro F1).

    With an ``embedder`` (e.g. MiniLM) the model also gets the sentence vector of each line, and is
    trained only on lines in the embedder's ``languages`` (the lines it will be used for).
    """
    rules = rules or RuleClassifier()
    # Wordless lines never reach the model (see `_wordless_label`).
    records = [r for r in records if not _prepare(r["text"]).wordless]
    langs = getattr(embedder, "languages", None) if embedder is not None else None
    if langs:
        records = [r for r in records if detect_lang(r["text"]) in langs]
    index = {c: i for i, c in enumerate(LABELS)}
    y = np.array([index[r["label"]] for r in records])
    X = _design(records, rules)
    Xn = _design(records, rules, with_rules=False)
    E = None
    if embedder is not None:
        E = np.asarray(embedder.embed([_prepare(r["text"]).text for r in records]), dtype=np.float64)
    grid = [(a, b_, c) for a in (L2_GRID if l2 is None else (l2,))
            for b_ in (DROPOUT_GRID if dropout is None else (dropout,))
            for c in ((ALPHA_GRID if alpha is None else (alpha,)) if E is not None else (0.0,))]
    cv: dict[str, float] = {}
    if len(grid) > 1:
        fold_of = np.array([int(hashlib.sha1((r.get("group") or r["text"]).encode()).hexdigest()[8:16], 16) % folds
                            for r in records])
        best = (-1.0, grid[0])
        for cand in grid:
            cand_l2, cand_drop, cand_alpha = cand
            gold, pred = [], []
            for f in range(folds):
                tr, te = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
                Etr, Ete = (None, None) if E is None else (E[tr], E[te])
                W, b = _fit_augmented(_with_dense(X[tr], Etr, cand_alpha), _with_dense(Xn[tr], Etr, cand_alpha),
                                      y[tr], cand_l2, cand_drop)
                pred.extend(np.asarray(_with_dense(X[te], Ete, cand_alpha) @ W + b).argmax(axis=1).tolist())
                gold.extend(y[te].tolist())
            macro = scores([LABELS[g] for g in gold], [LABELS[p] for p in pred])["macro_f1"]
            key = f"l2={cand_l2:g},dropout={cand_drop:g}" + (f",alpha={cand_alpha:g}" if E is not None else "")
            cv[key] = macro
            if progress:
                print(f"# cv {key}: macro F1 {macro:.4f}", file=sys.stderr)
            if macro > best[0]:
                best = (macro, cand)
        grid = [best[1]]
    l2, dropout, alpha = grid[0]
    W, b = _fit_augmented(_with_dense(X, E, alpha), _with_dense(Xn, E, alpha), y, l2, dropout)
    digest = hashlib.sha1("\n".join(f"{r['label']}\t{r['text']}" for r in records).encode("utf-8")).hexdigest()
    meta = {"l2": l2, "dropout": dropout, "cv_macro_f1": cv, "n_train": len(records), "data_sha1": digest}
    if E is None:
        return LinearModel(W=W, b=b, labels=LABELS, meta=meta)
    meta.update(embedder=getattr(embedder, "name", "?"), embedding_dim=int(E.shape[1]),
                languages=sorted(langs) if langs else None)
    return LinearModel(W=W[:DIM], b=b, labels=LABELS, meta=meta, D=W[DIM:], alpha=alpha)


# ---- command line -------------------------------------------------------------------------------------------

def _minilm():  # noqa: ANN202 - an Embedder
    from brain.retrieval.embedders import make_embedder

    return make_embedder("minilm")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m brain.chat.classify", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="fit the model on the train split and write the weights")
    t.add_argument("--data", nargs="+", type=Path, default=list(DEFAULT_DATA))
    t.add_argument("--out", type=Path, default=None, help=f"default {MODEL_PATH} ({DENSE_MODEL_PATH} with --minilm)")
    t.add_argument("--all", action="store_true", help="train on train + test (for production; no held-out figures)")
    t.add_argument("--minilm", action="store_true", help="train the English embedding-path model instead")
    t.add_argument("--l2", type=float, default=None)
    t.add_argument("--dropout", type=float, default=None)
    t.add_argument("--alpha", type=float, default=None)
    e = sub.add_parser("eval", help="per-class figures on a labelled file's split")
    e.add_argument("--data", nargs="+", type=Path, default=list(DEFAULT_DATA))
    e.add_argument("--split", default="test")
    e.add_argument("--rules", action="store_true", help="score the rule baseline instead")
    e.add_argument("--minilm", action="store_true", help="cascade uncertain English lines to the MiniLM model")
    c = sub.add_parser("classify", help="classify lines given as arguments (or stdin)")
    c.add_argument("text", nargs="*")
    args = ap.parse_args(argv)
    if args.cmd == "train":
        records = load_labelled(args.data)
        # --all: train and test together; the blind "fresh" lines are never trained on.
        records = [r for r in records if split_of(r) != "fresh"] if args.all else _select(records, "train")
        model = train(records, l2=args.l2, dropout=args.dropout, alpha=args.alpha,
                      embedder=_minilm() if args.minilm else None, progress=True)
        out = args.out or (DENSE_MODEL_PATH if args.minilm else MODEL_PATH)
        model.save(out)
        print(json.dumps({"out": str(out), **(model.meta or {})}))
    elif args.cmd == "eval":
        clf = RuleClassifier() if args.rules else MessageClassifier(embedder=_minilm() if args.minilm else None)
        res = evaluate(args.data, clf, split=args.split)
        res.pop("errors")
        print(json.dumps(res, indent=2))
    else:
        lines = args.text or [ln.rstrip("\n") for ln in sys.stdin]
        for text, lab in zip(lines, default_classifier().classify_many(lines)):
            print(json.dumps({"text": text, "label": lab.label, "score": round(lab.score, 3),
                              "reasons": list(lab.reasons)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
