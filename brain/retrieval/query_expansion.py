"""Live-commerce query expansion: what viewers say → the words the knowledge base uses.

Viewers ask "how much?", "多少钱", "ship to Canada?"; hosts write "Price:",
"价格", "Shipping costs". BM25 cannot bridge "how much" to "price", and the
English embedding model cannot read Chinese at all, so the answerer appends the
catalog words of a few commerce intents to the query before searching. The
expansion stays in the question's language: mixing scripts would change how the
retriever weighs its dense half (it trusts the embedder only for its languages).
"""

from __future__ import annotations

import re
from typing import Callable

from brain.text.tokens import tokenize

__all__ = ["expand_query", "intent_words", "INTENTS"]

#: intent → (pattern on the question, English expansion, Chinese expansion)
INTENTS: dict[str, tuple[re.Pattern[str], str, str]] = {
    "price": (re.compile(r"\bhow much\b|\bcosts?\b|\bprice\b|\bpricing\b|多少钱|价格|价钱|几块|怎么卖|多少米", re.I),
              "price", "价格 价"),
    "shipping": (re.compile(r"\bship(s|ping|ped)?\b|\bshiping\b|\bdeliver(y|ed)?\b|\bpostage\b|\bdispatch(ed)?\b|"
                            r"\bsend (it )?out\b|包邮|发货|快递|运费|寄到|寄|发到", re.I),
                 "shipping", "发货 运费 包邮"),
    "refund": (re.compile(r"\brefunds?\b|\brefnd\b|\bmoney back\b|\breturns?\b|\bsend (it )?back\b|"
                          r"退款|退货|退钱|退不|能退|到账|售后", re.I),
               "refund returns", "退款 退货"),
    "coupon": (re.compile(r"\bcoupons?\b|\bcoupn\b|\bdiscounts?\b|\bpromo\b|\bvoucher\b|优惠券|优惠码|折扣|打折|便宜|"
                          r"(?<![二条])码|券", re.I),
               "coupon code", "优惠码 优惠"),
    "schedule": (re.compile(r"\bwhen\b|\bwhat time\b|\bstarts?\b|什么时候|几点|开课|开始|时间", re.I),
                 "schedule date", "时间 开课"),
    "stock": (re.compile(r"\bin stock\b|\bsold out\b|\bavailable\b|\bavailability\b|\brestock|\bback in stock\b|"
                         r"有货|现货|库存|卖完|补货|缺货", re.I),
              "stock available back in stock", "库存 现货 补货"),
    "warranty": (re.compile(r"\bwarrant(y|ee|ies)\b|\bwarrenty\b|\bguarantee\b|\bbroken?\b|\bbroke\b|\bdamaged?\b|"
                            r"\bcracked\b|\bdefect(ive)?\b|\bstops? working\b|\brepairs?\b|\bfaulty\b|"
                            r"坏了|坏掉|损坏|质量问题|保修|维修|故障|裂了|摔坏", re.I),
                 "warranty damaged replace", "质量问题 保修 换新"),
    "courier": (re.compile(r"\bcouriers?\b|\bcarriers?\b|\bpost(al)? service\b|\bwhich (delivery|shipping) company\b|"
                           r"快递|物流|顺丰", re.I),
                "SF Express", "快递 顺丰"),
    "arrival": (re.compile(r"\barrive\b|\bget it\b|\breceive (it|my)\b|\bdelivery time\b|"
                           r"收到|到货|送达|几天到", re.I),
                "delivery time days", "送达 天"),
    "contact": (re.compile(r"\bcontact\b|\breach (you|u)\b|\bemail\b|\bwechat\b|\bcustomer service\b|"
                           r"联系|微信|邮箱|客服", re.I),
                "email WeChat contact", "联系 微信 邮件"),
    "language": (re.compile(r"\bmandarin\b|\bchinese\b|\benglish\b|\bsubtitles?\b|\blanguages?\b|"
                            r"普通话|中文|英文|英语|字幕|语言", re.I),
                 "Mandarin English Chinese subtitles", "普通话 中文 英文 字幕"),
    "replay": (re.compile(r"\breplays?\b|\brecord(ed|ing)?\b|\bmiss(ed)?\b.{0,20}\b(live|session|stream|class)\b|"
                          r"回放|补看|重播|错过|没赶上", re.I),
               "replay recorded", "回放"),
    "enrol": (re.compile(r"\bsign up\b|\benrol+(ment)?\b|\bregist(er|ration)\b|报名|截止", re.I),
              "enrolment closes", "报名 截止"),
    "address": (re.compile(r"\baddress\b|地址", re.I), "address", "地址"),
    "fits": (re.compile(r"\bworks? (on|with)\b|\bfits?\b|\bcompatible\b|兼容|适用|能配|配得上|通用|都能用", re.I),
             "fits", "适用"),
}


def expand_query(question: str, lang: str, known: Callable[[str], bool] | None = None) -> str:
    """``question`` with the catalog's words for each commerce phrase it contains.

    A phrase the knowledge base itself uses (``known`` says so for all its
    words, e.g. a Chinese FAQ written as "多少钱？") is kept and the catalog
    words are added; a phrase it never uses ("how much") is replaced, because
    an unmatched query word lowers the BM25 match ratio the retriever's
    confidence is built on. Without ``known`` every phrase is replaced.
    """
    for pattern, en, zh in INTENTS.values():
        words = zh if lang == "zh" else en

        def rewrite(m: re.Match[str]) -> str:
            tokens = tokenize(m.group(0))
            if known is not None and tokens and all(known(t) for t in tokens):
                return f" {m.group(0)} {words} "
            return f" {words} "

        question = pattern.sub(rewrite, question, count=1)
    return " ".join(question.split())


def intent_words(question: str) -> str:
    """The catalog's words, in English *and* Chinese, for every commerce phrase ``question`` contains.

    Not for searching (`expand_query` keeps to the question's language, see the
    module docstring) but for choosing what to quote: a Chinese question about a
    fact only the English page states ("刀头什么时候补货" → "Back in stock in
    March") shares these words with it.
    """
    words = [f"{en} {zh}" for pattern, en, zh in INTENTS.values() if pattern.search(question)]
    return " ".join(words)
