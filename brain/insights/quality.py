"""Content quality of one stream: a 0-100 score a host can take apart, part by part.

No opaque number: the score is the weighted mean of the parts that could be
computed, each part is a value in 0..1 with a one-line explanation in the
host's terms, and a part that cannot be computed (no transcript, no catalog,
no questions) has value None, the reason as its explanation, and does not
count. The parts (docs/insights.md has the reasoning):

* **coverage**: of the catalog products the host pitched (pinned, or named in
  the transcript), the share they actually described: said at least two of
  the product's own description words (or its price) from a minute before to
  three minutes after a mention or pin. Pinning the travel lid and moving on
  is "missing Travel Lid".
* **density**: distinct facts per minute of speech: numbers, prices,
  percentages, dates and codes (`brain.answers.fact_check`), product names, and domain
  terms (catalog words and jargon), each counted once per minute. Five a
  minute scores full marks.
* **clarity**: sentence length, filler words ("um", "uh", "you know", "like,";
  "那个", "就是", "然后", "嗯") and lines that repeat a recent line.
* **answer rate**: answered / (answered + abstained) questions of the
  session (`Store.iter_questions`; merged ones share their burst's answer).
* **unanswered**: abstained questions grouped by a shared word; the part is
  the share of handled questions that are *not* in a group asked twice or more
  and never answered (a recurring gap in the knowledge base costs more than a
  one-off).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from brain.answers.fact_check import extract_facts
from brain.insights.host_profile import SpokenLine, content_words, is_rare_word, spoken_lines, stem, words
from brain.insights.sessions import SessionData
from brain.products.matching import ProductDoc, ProductMatcher
from brain.products.ranking import ProductRanker
from brain.text.plural import counted, plural
from brain.text.questions import normalise_question

__all__ = ["QualityPart", "UnansweredTopic", "QualityReport", "content_quality", "product_coverage",
           "information_density", "clarity", "answer_rate", "unanswered_topics", "unanswered_part", "WEIGHTS"]

#: How much each part counts in the score (the weights of the parts that can be computed are renormalised).
WEIGHTS: dict[str, float] = {"coverage": 0.25, "density": 0.2, "clarity": 0.2, "answer_rate": 0.25,
                             "unanswered": 0.1}
#: Distinct facts per minute of speech that score full marks for density.
FULL_MARKS_FACTS_PER_MIN = 5.0
#: A mention covers the host's words from this long before to this long after it.
DESCRIBE_BEFORE_S, DESCRIBE_AFTER_S = 60.0, 180.0
#: Clarity: sentences up to GOOD words are fine, from LONG on they score 0; fillers per 100 words that score 0;
#: the share of repeated lines that scores 0; how far back a repeat is looked for.
GOOD_SENTENCE, LONG_SENTENCE = 18.0, 40.0
FILLERS_FOR_ZERO = 10.0
REPEATS_FOR_ZERO = 0.3
REPEAT_LOOKBACK = 20

_FILLERS = re.compile(r"\b(?:u+m+|u+h+|e+r+m+|you know)\b|(?:^|,)\s*like\s*,|那个|就是|然后|嗯+", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: Words of question phrasing that are not a topic ("how much", "anyone know", "please tell").
_QUESTION_WORDS = frozenset("much many long please anyone know tell wonder wondering guys question ask".split())


@dataclass(frozen=True)
class QualityPart:
    """One part of the score: ``value`` in 0..1 (None: not computable, ``explanation`` says why)."""

    name: str
    value: float | None
    weight: float
    explanation: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UnansweredTopic:
    """Abstained questions that share a word: what viewers kept asking and the bot could not answer."""

    terms: tuple[str, ...]
    questions: int
    askers: int
    examples: tuple[str, ...]


@dataclass
class QualityReport:
    """The score (None when no part is computable), its parts, the unanswered topics and what is missing."""

    session: int
    score: float | None
    parts: list[QualityPart]
    unanswered: list[UnansweredTopic]
    notes: list[str] = field(default_factory=list)

    def part(self, name: str) -> QualityPart:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(f"no quality part {name!r} (parts: {', '.join(p.name for p in self.parts)})")


def _share(x: float) -> str:
    return f"{100 * x:.0f}%"


def _names(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(words(text))}


# ---- coverage -------------------------------------------------------------------------------------

def _description_terms(products: Sequence[ProductDoc]) -> dict[str, set[str]]:
    """Per product id, the words that describe it: description and tags, minus its name's words and
    (with four or more products) words that more than half the catalog shares ("blender" in a blender shop)."""
    own = {p.id: (_stems(p.text + " " + " ".join(p.tags)) - _stems(p.name)) for p in products}
    if len(products) >= 4:
        df = Counter(t for terms in own.values() for t in terms)
        common = {t for t, c in df.items() if c > len(products) / 2}
        own = {pid: terms - common for pid, terms in own.items()}
    return own


def _said_price(text: str, price: float) -> bool:
    values = {float(f.value) for f in extract_facts(text) if f.kind == "money"}
    values |= {float(n) for n in _NUMBER.findall(text)}
    return price in values


def product_coverage(lines: Sequence[SpokenLine], pins: Sequence[Mapping[str, Any]],
                     products: Sequence[ProductDoc], named: Sequence[Sequence[ProductDoc]] | None = None,
                     weight: float = WEIGHTS["coverage"]) -> QualityPart:
    """Share of the pitched products (pinned or named on stream) that the host described.

    ``named`` (per line, the products it names) can be passed when already
    computed; otherwise `ProductRanker.products_named_in` finds them.
    """
    if not products:
        return QualityPart("coverage", None, weight, "Not computed: no product catalog was given")
    by_id = {p.id: p for p in products}
    if named is None:
        named = _named_products(lines, products)
    times: dict[str, list[float]] = defaultdict(list)
    mentioned: set[str] = set()
    for line, found in zip(lines, named):
        for p in found:
            times[p.id].append(line.ts)
            mentioned.add(p.id)
    unknown = sorted({str(pin.get("product_name") or pin.get("product_id")) for pin in pins
                      if pin.get("product_id") not in by_id})
    for pin in pins:
        if pin.get("product_id") in by_id:
            times[pin["product_id"]].append(float(pin["ts"]))
    if not times:
        why = "no transcript" if not lines else "no catalog product was pinned or named on stream"
        return QualityPart("coverage", None, weight, f"Not computed: {why}",
                           {"unknown_pins": unknown} if unknown else {})
    if not lines:
        return QualityPart("coverage", None, weight,
                           f"Not computed: {counted(len(times), 'product')} pinned but no transcript to check "
                           "what was said")
    desc = _description_terms(products)
    line_ts = [x.ts for x in lines]
    described: list[str] = []
    missing: list[str] = []
    evidence: dict[str, list[str]] = {}
    pitched = sorted(times, key=lambda pid: min(times[pid]))
    for pid in pitched:
        p = by_id[pid]
        near: set[int] = set()
        for t in times[pid]:
            near.update(range(bisect_left(line_ts, t - DESCRIBE_BEFORE_S), bisect_right(line_ts, t + DESCRIBE_AFTER_S)))
        spoken = {stem(w) for i in near for w in lines[i].content}
        hits = sorted(desc[pid] & spoken)
        price = p.price is not None and any(_said_price(lines[i].text, p.price) for i in near)
        if desc[pid]:  # described: two of its own words (one if it has one), or its price
            ok = price or len(hits) >= min(2, len(desc[pid]))
        else:          # nothing in the catalog to describe it with: naming it (or its price) is all there is
            ok = price or pid in mentioned
        (described if ok else missing).append(p.name)
        evidence[p.name] = hits + (["price"] if price else [])
    value = len(described) / len(pitched)
    if missing:
        text = (f"Covered {len(described)} of {len(pitched)} pitched {plural(len(pitched), 'product')}: "
                f"missing {_names(missing)}")
    else:
        text = ("Covered the one pitched product" if len(pitched) == 1
                else f"Covered all {len(pitched)} pitched products")
    details: dict[str, Any] = {"pitched": [by_id[pid].name for pid in pitched], "described": described,
                               "missing": missing, "evidence": evidence}
    if unknown:
        details["unknown_pins"] = unknown
    return QualityPart("coverage", round(value, 4), weight, text, details)


def _named_products(lines: Sequence[SpokenLine], products: Sequence[ProductDoc]) -> list[list[ProductDoc]]:
    """Per line, the catalog products it names (the ranker's name matching, as for viewers' messages)."""
    if not products or not lines:
        return [[] for _ in lines]
    ranker = ProductRanker(ProductMatcher(products))
    cache: dict[str, list[ProductDoc]] = {}
    out = []
    for line in lines:
        found = cache.get(line.text)
        if found is None:
            found = cache[line.text] = ranker.products_named_in(line.text)
        out.append(found)
    return out


# ---- information density ------------------------------------------------------------------------------

def _facts_of(line: SpokenLine, named: Sequence[ProductDoc], vocabulary: set[str]) -> set[tuple[str, str]]:
    """The distinct fact items of a line: checkable facts, other numbers, products, domain terms."""
    items: set[tuple[str, str]] = set()
    fact_values = set()
    for f in extract_facts(line.text):
        items.add((f.kind, f.value))
        try:
            fact_values.add(float(f.value))
        except ValueError:
            pass
    for n in _NUMBER.findall(line.text):
        if float(n) not in fact_values:
            items.add(("number", n))
    for p in named:
        items.add(("product", p.id))
    for w in line.content:
        s = stem(w)
        if s in vocabulary or is_rare_word(w):
            items.add(("term", s))
    return items


def information_density(lines: Sequence[SpokenLine], products: Sequence[ProductDoc] = (),
                        named: Sequence[Sequence[ProductDoc]] | None = None,
                        weight: float = WEIGHTS["density"]) -> QualityPart:
    """Distinct facts per minute of speech (each item once per minute: repeating a price is not news)."""
    if not lines:
        return QualityPart("density", None, weight, "Not computed: no transcript")
    if named is None:
        named = _named_products(lines, products)
    vocabulary = set().union(*(_stems(f"{p.name} {' '.join(p.tags)}") for p in products)) if products else set()
    per_minute: dict[tuple[int, int], set[tuple[str, str]]] = defaultdict(set)
    for line, found in zip(lines, named):
        per_minute[(line.session, int(line.ts // 60))].update(_facts_of(line, found, vocabulary))
    kinds: Counter[str] = Counter()
    for items in per_minute.values():
        kinds.update("term" if k == "term" else "product" if k == "product" else "number" for k, _ in items)
    fpm = sum(len(v) for v in per_minute.values()) / len(per_minute)
    value = min(1.0, fpm / FULL_MARKS_FACTS_PER_MIN)
    text = (f"{fpm:.1f} facts a minute of speech ({counted(kinds['number'], 'number or price', 'numbers and prices')}, "
            f"{counted(kinds['product'], 'product name')}, {counted(kinds['term'], 'domain term')} "
            f"over {len(per_minute)} min); "
            f"{FULL_MARKS_FACTS_PER_MIN:g} a minute scores full marks")
    return QualityPart("density", round(value, 4), weight, text,
                       {"facts_per_minute": round(fpm, 3), "minutes": len(per_minute), "by_kind": dict(kinds)})


# ---- clarity -------------------------------------------------------------------------------------

def _linear(x: float, good: float, bad: float) -> float:
    """1 at or below ``good``, 0 at or above ``bad``, linear between."""
    return max(0.0, min(1.0, (bad - x) / (bad - good)))


def clarity(lines: Sequence[SpokenLine], weight: float = WEIGHTS["clarity"]) -> QualityPart:
    """Short sentences, few fillers, few repeated lines: the mean of the three sub-scores."""
    sentences = [n for x in lines for n, _ in x.sentences]
    n_words = sum(x.words for x in lines)
    if not sentences or not n_words:
        return QualityPart("clarity", None, weight, "Not computed: no transcript" if not lines
                           else "Not computed: the transcript has no words")
    mean_len = n_words / len(sentences)
    fillers: Counter[str] = Counter()
    for x in lines:
        fillers.update(m.group().strip(" ,").lower() for m in _FILLERS.finditer(x.text))
    per_100 = 100.0 * sum(fillers.values()) / n_words
    repeated = 0
    recent: dict[int, list[str]] = defaultdict(list)
    for x in lines:
        key = normalise_question(x.text)
        seen = recent[x.session]
        if x.words >= 3 and key in seen:
            repeated += 1
        seen.append(key)
        if len(seen) > REPEAT_LOOKBACK:
            seen.pop(0)
    rep = repeated / len(lines)
    subs = {"sentence_length": _linear(mean_len, GOOD_SENTENCE, LONG_SENTENCE),
            "fillers": _linear(per_100, 0.0, FILLERS_FOR_ZERO), "repetition": _linear(rep, 0.0, REPEATS_FOR_ZERO)}
    value = sum(subs.values()) / len(subs)
    top = ", ".join(f"'{w}' ×{c}" for w, c in fillers.most_common(3))
    text = (f"Sentences average {counted(mean_len, 'word')}; {per_100:.1f} fillers per 100 words"
            f"{f' ({top})' if top else ''}; {_share(rep)} of lines repeated a recent one")
    return QualityPart("clarity", round(value, 4), weight, text,
                       {"mean_sentence_words": round(mean_len, 2), "fillers_per_100_words": round(per_100, 3),
                        "fillers": dict(fillers), "repeated_share": round(rep, 4),
                        "subscores": {k: round(v, 4) for k, v in subs.items()}})


# ---- questions -------------------------------------------------------------------------------------

def answer_rate(questions: Sequence[Mapping[str, Any]], weight: float = WEIGHTS["answer_rate"]) -> QualityPart:
    """answered / (answered + abstained); merged questions got their burst's answer and are not counted twice."""
    status = Counter(q.get("status") for q in questions)
    answered, abstained = status["answered"], status["abstained"]
    if not answered + abstained:
        return QualityPart("answer_rate", None, weight, "Not computed: no viewer question was handled this session")
    value = answered / (answered + abstained)
    text = (f"Answered {answered} of {counted(answered + abstained, 'viewer question')} ({_share(value)})"
            + (f"; {abstained} passed to you" if abstained else ""))
    return QualityPart("answer_rate", round(value, 4), weight, text,
                       {"answered": answered, "abstained": abstained, "merged": status["merged"]})


def unanswered_topics(questions: Sequence[Mapping[str, Any]], top: int = 5) -> list[UnansweredTopic]:
    """Abstained questions grouped by a shared word, biggest group first (groups of two or more).

    Greedy: the word shared by most ungrouped abstained questions makes a
    group, until no word is shared by two. Words in more than half of all
    handled questions (with six or more) say nothing about the topic and are
    left out, as is question phrasing ("how much", "anyone know").
    """
    handled = [q for q in questions if q.get("status") in ("answered", "abstained")]
    abstained = [q for q in handled if q["status"] == "abstained"]
    if len(abstained) < 2:
        return []
    forms: dict[str, Counter[str]] = defaultdict(Counter)

    def terms(text: str) -> set[str]:
        out = set()
        for w in content_words(words(text or "")):
            s = stem(w)
            if s not in _QUESTION_WORDS:
                forms[s][w] += 1
                out.add(s)
        return out

    bags = [terms(q.get("text", "")) for q in abstained]
    if len(handled) >= 6:
        df = Counter(t for q in handled for t in (terms(q.get("text", "")) if q["status"] == "answered" else ()))
        df.update(t for b in bags for t in b)
        generic = {t for t, c in df.items() if c > len(handled) / 2}
        bags = [b - generic for b in bags]
    left = set(range(len(bags)))
    groups: list[UnansweredTopic] = []
    while left:
        counts = Counter(t for i in left for t in bags[i])
        if not counts:
            break
        best, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if n < 2:
            break
        members = sorted(i for i in left if best in bags[i])
        shared = Counter(t for i in members for t in bags[i])
        label = [best] + [t for t, c in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))
                          if t != best and c * 2 > len(members)][:2]
        texts = Counter(abstained[i].get("text", "") for i in members)
        groups.append(UnansweredTopic(
            terms=tuple(forms[t].most_common(1)[0][0] for t in label), questions=len(members),
            askers=len({abstained[i].get("user_key") for i in members}),
            examples=tuple(t for t, _ in texts.most_common(3))))
        left -= set(members)
    return groups[:top]


def unanswered_part(questions: Sequence[Mapping[str, Any]], groups: Sequence[UnansweredTopic],
                    weight: float = WEIGHTS["unanswered"]) -> QualityPart:
    """1 − the share of handled questions that sit in a recurring unanswered topic."""
    handled = sum(1 for q in questions if q.get("status") in ("answered", "abstained"))
    if not handled:
        return QualityPart("unanswered", None, weight, "Not computed: no viewer question was handled this session")
    in_groups = sum(g.questions for g in groups)
    value = 1.0 - in_groups / handled
    if not groups:
        text = "No topic was asked about twice and left unanswered"
    else:
        listed = ", ".join(f"'{' '.join(g.terms[:2])}' ({g.questions}×)" for g in groups[:3])
        text = (f"{counted(len(groups), 'topic')} asked about repeatedly without an answer: "
                f"{listed}")
    return QualityPart("unanswered", round(value, 4), weight, text,
                       {"questions_in_topics": in_groups, "handled": handled})


# ---- the report ------------------------------------------------------------------------------------

def content_quality(data: SessionData, *, products: Sequence[ProductDoc] = (),
                    weights: Mapping[str, float] | None = None) -> QualityReport:
    """The quality report of one session; ``products`` is the catalog (for coverage and domain terms)."""
    w = {**WEIGHTS, **(weights or {})}
    lines = spoken_lines([data])
    named = _named_products(lines, products)
    questions = list(data.questions)
    groups = unanswered_topics(questions)
    parts = [
        product_coverage(lines, data.pins, products, named, weight=w["coverage"]),
        information_density(lines, products, named, weight=w["density"]),
        clarity(lines, weight=w["clarity"]),
        answer_rate(questions, weight=w["answer_rate"]),
        unanswered_part(questions, groups, weight=w["unanswered"]),
    ]
    notes = [f"{p.name}: {p.explanation[len('Not computed: '):]}" for p in parts if p.value is None]
    counted = [p for p in parts if p.value is not None and p.weight > 0]
    score = None
    if counted:
        score = round(100.0 * sum(p.value * p.weight for p in counted) / sum(p.weight for p in counted), 1)
    else:
        notes.append("no part of the score could be computed")
    return QualityReport(data.session.id, score, parts, groups, notes)
