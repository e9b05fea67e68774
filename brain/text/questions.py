"""A cheap question detector, so the embedder and the answerer only see candidates.

A live room is mostly greetings, emoji and reactions; embedding every line would
waste the one CPU core the answerer has. This is a few string tests per line, in
English and Chinese: question marks, interrogative openings, Chinese question
particles and words, buying-intent phrases ("price?", "多少钱"), and an
@-mention of the bot. False positives cost one retrieval; false negatives lose a
viewer, so the rules lean towards "yes" for anything with a question mark.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from brain.text.tokens import detect_lang

__all__ = ["Question", "detect_question", "normalise_question", "language_of"]

_MENTION = re.compile(r"@([\w.\-]+)")
_EN_OPENERS = frozenset(
    "how what when where why who whom whose which is are can could does did "
    "will would should shall anyone anybody "
    # as chat types them: no apostrophe, no vowels
    "whats wheres whens hows whos whys wat wht hw till until do r".split()
)
_EN_PHRASES = re.compile(
    r"\b(how much|how many|how long|how do|price of|cost of|where can i|can i|do you|is it|is there|"
    r"any (discount|coupon|code)|what about|tell me|wondering|anyone know|what (do|should|can) i)\b"
)
_ZH_MARKERS = re.compile(
    r"(吗|嘛|么|呢|谁|什么|啥|怎么|怎样|如何|为什么|为啥|多少|几[\u4e00-\u9fff]|多[久大长重高远]|哪|是否|能不能|可不可以|"
    r"有没有|会不会|要不要|是不是|行不行|请问|求问|咋|[^\s]不$|没$)"
)
#: "starter bundle price", "mini size": a short line ending in what a buyer asks about.
_EN_ASKED_NOUN = re.compile(r"^(?!.*\b(?:i|love|like|great|nice|good)\b).*\b(price|cost|link|size)$")
_PUNCT_OR_SPACE = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Question:
    """A line that looks like a question, with the evidence for it."""

    text: str
    lang: str
    reason: str  # question-mark | interrogative | particle | mention | command


def language_of(text: str) -> str:
    """'zh' or 'en': the one language detector of the project (`brain.text.tokens.detect_lang`)."""
    return detect_lang(text)


def normalise_question(text: str) -> str:
    """Case-, width- and punctuation-folded text: the key of the exact-repeat cache."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _MENTION.sub(" ", folded)
    return _PUNCT_OR_SPACE.sub(" ", folded).strip()


def detect_question(text: str, *, bot_names: tuple[str, ...] = ("liveroom",)) -> Question | None:
    """A `Question` if ``text`` looks like one, else None."""
    stripped = unicodedata.normalize("NFKC", text).strip()
    core = normalise_question(stripped)
    if len(core.replace(" ", "")) < 2:
        return None
    lang = language_of(stripped)
    mentioned = {m.lower() for m in _MENTION.findall(stripped)}
    if mentioned & {n.lower() for n in bot_names}:
        return Question(stripped, lang, "mention")
    if "?" in stripped:
        return Question(stripped, lang, "question-mark")
    if lang == "zh":
        return Question(stripped, lang, "particle") if _ZH_MARKERS.search(stripped) else None
    words = core.split()
    if words and words[0] in _EN_OPENERS and len(words) >= 3:
        return Question(stripped, lang, "interrogative")
    if _EN_PHRASES.search(core) or (len(words) <= 4 and _EN_ASKED_NOUN.search(core)):
        return Question(stripped, lang, "interrogative")
    return None
