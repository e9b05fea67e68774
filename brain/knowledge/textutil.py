"""Decoding and small text helpers shared by every loader and the chunker.

Knowledge files are untrusted bytes. This module turns them into clean text
(or refuses them) in one place, so every format applies the same rules for
binary detection, encodings, invisible characters and language detection.
"""

from __future__ import annotations

import re
import unicodedata

from brain.knowledge.errors import SkipFile
from brain.text.tokens import Lang, cjk_ratio, detect_lang

__all__ = [
    "Lang",
    "decode_text",
    "clean_text",
    "cjk_ratio",
    "detect_lang",
    "is_cjk",
    "join_wrapped",
    "weighted_len",
    "ends_sentence",
]

# Languages are detected by brain.text.tokens (one detector for chunks and queries,
# so a chunk's lang and a question's lang always agree); this is the same CJK class.
_CJK_CHAR = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# CJK punctuation that, like ideographs, is written without spaces around it.
_CJK_PUNCT = "。，、；：？！「」『』（）《》【】“”‘’…—～·"

# C0/C1 control characters except tab and newline, plus zero-width and BOM
# characters: invisible in every viewer, so never meaningful knowledge (and a
# classic way to hide text from the human who reviews the file).
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
_CONTROL_SAMPLE = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_SENTENCE_END = tuple(".?!…。！？；")
_CLOSERS = "\"'”’」』）)]"


def decode_text(data: bytes) -> str:
    """Decode a text file as UTF-8 (BOM tolerated) or BOM-marked UTF-16.

    Raises `SkipFile` for binary content (NUL bytes or many control bytes) and
    for bytes that are not valid UTF-8. We deliberately do not guess legacy
    encodings (GBK, Latin-1): a wrong guess silently produces mojibake that the
    bot would then quote to viewers; a clear "save as UTF-8" is better.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SkipFile(f"invalid UTF-16 text (byte {exc.start})") from None
    if b"\x00" in data:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipFile(
            f"not valid UTF-8 (bad byte at offset {exc.start}); save the file as UTF-8"
        ) from None
    sample = text[:65536]
    if sample and len(_CONTROL_SAMPLE.findall(sample)) > max(8, len(sample) // 100):
        raise SkipFile("binary file (too many control characters)")
    return text


def clean_text(text: str) -> str:
    """Normalise newlines, compose Unicode (NFC) and drop invisible characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    return _INVISIBLE.sub("", text)


def is_cjk(ch: str) -> bool:
    """True for one CJK ideograph or CJK punctuation character."""
    return bool(ch) and (bool(_CJK_CHAR.match(ch)) or ch in _CJK_PUNCT)


def join_wrapped(left: str, right: str) -> str:
    """Join two pieces of one hard-wrapped line: no space between CJK, one space otherwise."""
    left, right = left.rstrip(), right.lstrip()
    if not left:
        return right
    if not right:
        return left
    if left.endswith("-") and len(left) > 1 and left[-2].isalpha() and right[:1].islower():
        return left[:-1] + right  # "exam-" + "ple" from a PDF line break
    if is_cjk(left[-1]) and is_cjk(right[0]):
        return left + right
    return left + " " + right


def weighted_len(text: str, cjk_weight: float = 1.0) -> int:
    """Length in characters where each CJK ideograph counts ``cjk_weight`` times.

    One Chinese character carries about as much as a short English word and
    costs about one model token, so a size budget in plain characters would
    make Chinese chunks two to three times "bigger" than English ones.
    """
    if cjk_weight == 1.0:
        return len(text)
    cjk = len(_CJK_CHAR.findall(text))
    return int(round(len(text) + (cjk_weight - 1.0) * cjk))


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends with sentence-final punctuation (closing quotes allowed)."""
    stripped = text.rstrip().rstrip(_CLOSERS)
    return stripped.endswith(_SENTENCE_END)
