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

__all__ = ["expand_query", "INTENTS"]

#: intent → (pattern on the question, English expansion, Chinese expansion)
INTENTS: dict[str, tuple[re.Pattern[str], str, str]] = {
    "price": (re.compile(r"\bhow much\b|\bcosts?\b|\bprice\b|\bpricing\b|多少钱|价格|价钱|几块|怎么卖|多少米", re.I),
              "price", "价格 价"),
    "shipping": (re.compile(r"\bship(s|ping|ped)?\b|\bdeliver(y|ed)?\b|\bpostage\b|包邮|发货|快递|运费|寄到", re.I),
                 "shipping", "发货 运费 包邮"),
    "refund": (re.compile(r"\brefunds?\b|\bmoney back\b|\breturns?\b|退款|退货|退钱|售后", re.I),
               "refund returns", "退款 退货"),
    "coupon": (re.compile(r"\bcoupons?\b|\bdiscounts?\b|\bpromo\b|\bvoucher\b|优惠券|优惠码|折扣|打折|便宜", re.I),
               "coupon code", "优惠码 优惠"),
    "schedule": (re.compile(r"\bwhen\b|\bwhat time\b|\bstarts?\b|什么时候|几点|开课|开始|时间", re.I),
                 "schedule date", "时间 开课"),
    "stock": (re.compile(r"\bin stock\b|\bsold out\b|\bavailable\b|\bavailability\b|有货|现货|库存|卖完", re.I),
              "stock available", "库存 现货"),
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
