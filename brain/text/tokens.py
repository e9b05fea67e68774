"""Language detection and BM25 tokenisation for English, Chinese and mixed chat.

Why here and not in the loaders: the same function must tokenise documents at
index time and viewer questions at query time, otherwise BM25 silently matches
nothing. Chat is mixed ("这个iPhone包邮吗"), so tokenisation works per script run:
CJK runs go through jieba, everything else through a small English tokenizer.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from typing import Iterable, Literal

Lang = Literal["en", "zh"]

# CJK Unified Ideographs (+ extension A and compatibility ideographs). Kana and
# Hangul are deliberately excluded: jieba would not segment them sensibly.
_CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?", re.IGNORECASE)
_TOKEN_RE = re.compile(r"[a-z0-9]+", re.IGNORECASE)

#: Live-commerce words jieba's stock dictionary splits or does not know. Added
#: once per process with a high frequency so they stay whole.
LIVE_COMMERCE_WORDS: tuple[str, ...] = (
    "主播", "直播间", "直播", "下单", "优惠券", "优惠码", "包邮", "秒杀", "福利", "链接",
    "上车", "拍下", "库存", "退款", "退货", "发货", "售后", "运费险", "满减", "领券",
    "小黄车", "购物车", "预售", "尾款", "定金", "现货", "补货", "到手价", "赠品", "正品",
    "七天无理由", "保价", "开播", "下播", "连麦", "点赞", "关注", "粉丝团", "抽奖", "红包",
    "库存告急", "已售罄", "加购", "付款", "物流", "快递", "顺丰", "改地址", "尺码", "色号",
)

# Small, conservative stopword lists: function and question words. Their effect
# on the eval sets is within noise (covidfaq recall@1 0.471 with vs 0.492
# without English stopwords, chorus mrr@10 0.587 vs 0.589; cmrc 0.967 vs 0.966);
# they are kept so chat filler ("请问", "what is") does not count towards the
# match-ratio denominator that feeds the confidence.
ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """a an the and or but if then else of to in on at by for with about as into
    from up down over under is are was were be been being am do does did doing
    have has had having i me my we our you your he him his she her it its they
    them their this that these those there here what which who whom whose when
    where why how can could should would will shall may might must s t
    just so than too very not no nor only own same such both each few more most
    other some any all again further once also get got""".split()
)
CHINESE_STOPWORDS: frozenset[str] = frozenset(
    """的 了 是 在 和 与 及 或 也 都 就 而 着 把 被 让 给 对 从 向 于 以 之 其 这 那 这个 那个
    这些 那些 我 你 他 她 它 我们 你们 他们 她们 它们 吗 呢 吧 啊 呀 哦 嗯 么 什么 哪 哪个
    哪些 哪里 怎么 怎样 如何 为什么 多少 几 谁 有 没有 个 一个 上 下 中 为 则 即 所 等 能
    会 要 可以 还 又 很 请问""".split()
)

_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba():  # noqa: ANN202 - jieba ships no type information
    """Import and initialise jieba exactly once per process, quietly.

    jieba prints "Building prefix dict..." through its own logger on first use
    and builds the dictionary lazily; we do both up front under a lock so the
    first viewer question does not pay for it at an arbitrary moment twice.
    """
    global _jieba_ready
    import jieba

    if _jieba_ready:
        return jieba
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            logging.getLogger("jieba").setLevel(logging.WARNING)
            jieba.initialize()
            for word in LIVE_COMMERCE_WORDS:
                jieba.add_word(word, freq=100_000)
            _jieba_ready = True
    return jieba


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among "content units" (CJK chars + Latin words).

    A Chinese character and an English word carry roughly the same amount of
    meaning, so counting words (not letters) on the Latin side keeps
    "这个iPhone 15包邮吗" Chinese and "is 包邮 available" English.
    """
    cjk = len(_CJK_CHAR.findall(text))
    latin = len(_LATIN_WORD.findall(_CJK_RUN.sub(" ", text)))
    total = cjk + latin
    return cjk / total if total else 0.0


def detect_lang(text: str, threshold: float = 0.5) -> Lang:
    """Return "zh" when at least ``threshold`` of the content units are CJK."""
    return "zh" if cjk_ratio(text) >= threshold else "en"


@lru_cache(maxsize=65536)
def light_stem(word: str) -> str:
    """A light English suffix stripper (plurals, -ing, -ed, -ly).

    Chosen over no stemming by the eval (BM25 alone): prod-chorus-dev mrr@10
    0.521 → 0.587 and ndcg@10 0.459 → 0.489 (product titles are plural,
    queries singular), at a cost within noise on covidfaq (recall@1 0.488 →
    0.471, 4 of 244 queries). A full Porter stemmer was not evaluated (it
    would need another package). Words of 4 letters or less and digits are
    left alone.
    """
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, repl, min_stem in (
        ("ies", "y", 3), ("sses", "ss", 3), ("ness", "", 4), ("ing", "", 4),
        ("edly", "", 4), ("ed", "", 4), ("ly", "", 4), ("es", "", 4), ("s", "", 4),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= min_stem:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "sses", "zes")):
                continue
            stem = word[: len(word) - len(suffix)] + repl
            # "running" -> "runn" -> "run": undo a doubled final consonant.
            if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]
            return stem
    return word


def tokenize_en(text: str, stem: bool = True, stopwords: frozenset[str] = ENGLISH_STOPWORDS) -> list[str]:
    """Lowercase alphanumeric tokens, stopwords removed, lightly stemmed."""
    out: list[str] = []
    for tok in _TOKEN_RE.findall(text.lower()):
        if tok in stopwords:
            continue
        out.append(light_stem(tok) if stem else tok)
    return out


def tokenize_zh(text: str, search_mode: bool = True, stopwords: frozenset[str] = CHINESE_STOPWORDS) -> list[str]:
    """Segment a CJK run with jieba (+ character bigrams).

    Search mode (which also emits the sub-words of long words) is the default:
    on cmrc it was marginally better than precise mode (0.967 vs 0.965 recall@1
    before bigrams were added).
    """
    jieba = _jieba()
    words = jieba.lcut_for_search(text) if search_mode else jieba.lcut(text)
    out = [w for w in words if w.strip() and w not in stopwords and _CJK_CHAR.search(w)]
    # Overlapping character bigrams make matching robust to segmentation
    # differences between a question and its passage (cmrc recall@1 0.967 →
    # 0.975 measured); the jieba words keep user-dictionary terms whole.
    for run in _CJK_RUN.findall(text):
        out.extend(bg for bg in (run[i : i + 2] for i in range(len(run) - 1)) if bg not in stopwords)
    return out


def tokenize(text: str, *, stem: bool = True, zh_search_mode: bool = True) -> list[str]:
    """Tokenise mixed text for BM25: jieba on CJK runs, the English tokenizer elsewhere.

    Used identically at index and at query time.
    """
    tokens: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        if m.start() > pos:
            tokens.extend(tokenize_en(text[pos : m.start()], stem=stem))
        tokens.extend(tokenize_zh(m.group(), search_mode=zh_search_mode))
        pos = m.end()
    if pos < len(text):
        tokens.extend(tokenize_en(text[pos:], stem=stem))
    return tokens


def content_words(text: str) -> list[str]:
    """The words of ``text`` as a reader sees them: English tokens and jieba's words, no character bigrams.

    `tokenize` adds overlapping bigrams for matching; a bigram across a word
    boundary ("有什", "么特") is no word at all, so asking whether the
    knowledge base *knows* a question's words needs this instead.
    """
    words: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        if m.start() > pos:
            words.extend(tokenize_en(text[pos : m.start()]))
        words.extend(w for w in _jieba().lcut(m.group()) if len(w) > 1 and w not in CHINESE_STOPWORDS
                     and _CJK_CHAR.search(w))
        pos = m.end()
    if pos < len(text):
        words.extend(tokenize_en(text[pos:]))
    return words


def tokenize_many(texts: Iterable[str], *, stem: bool = True, zh_search_mode: bool = True) -> list[list[str]]:
    """Tokenise a corpus (a thin loop; kept so callers share one set of options)."""
    return [tokenize(t, stem=stem, zh_search_mode=zh_search_mode) for t in texts]
