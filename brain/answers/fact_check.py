"""Checkable facts in an answer (prices, stock counts, dates, coupon codes) must be in its sources.

A bot that says the wrong price loses the host money and the viewer's trust.
Every answer, whoever wrote it (the extractive path or an LLM, which may have
been talked into it by a viewer or a poisoned document), passes through
`unsupported_facts`; any fact not found in the cited sources rejects the answer.

Facts are compared by value, not by spelling: "¥199" in an answer is supported
by "199元" or "RMB 199.00" in a source; "Nov 20" by "2026-11-20" or "11月20日".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Fact", "extract_facts", "unsupported_facts"]

_CURRENCY = r"(?:[$¥€£￥]|US\$|RMB|CNY|USD|EUR|GBP|HK\$)"
_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"
_MONEY = re.compile(
    rf"{_CURRENCY}\s?{_AMOUNT}|{_AMOUNT}\s?(?:元|块|{_CURRENCY}|dollars?|yuan|euros?)",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?(?:%|percent|折)")
_COUPON = re.compile(r"\b(?=[A-Z0-9-]*[A-Z])(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,19}\b")
_STOCK = re.compile(
    r"(?:(\d+)\s?(?:left|in stock|remaining|units?|pcs|件|个|台|份))|(?:(?:库存|还剩|剩|仅剩)\s?(\d+))",
    re.IGNORECASE,
)
_MONTHS = {m: i for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_ZH_DATE = re.compile(r"(\d{1,2})月(\d{1,2})[日号]")
_EN_DATE = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b"
    r"|\b(\d{1,2})(?:st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Fact:
    """A checkable statement: its kind, its value normalised for comparison, and how it read."""

    kind: str  # money | percent | coupon | stock | date
    value: str
    text: str


def _money_value(whole: str, cents: str | None = None) -> str:
    amount = int(whole.replace(",", ""))
    return f"{amount}.{(cents or '0').ljust(2, '0')}"


def extract_facts(text: str) -> set[Fact]:
    """Every checkable fact in ``text``."""
    facts: set[Fact] = set()
    for m in _MONEY.finditer(text):
        whole, cents = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        facts.add(Fact("money", _money_value(whole, cents), m.group(0)))
    for m in _PERCENT.finditer(text):
        facts.add(Fact("percent", str(float(m.group(1))), m.group(0)))
    for m in _COUPON.finditer(text):
        facts.add(Fact("coupon", m.group(0).upper(), m.group(0)))
    for m in _STOCK.finditer(text):
        facts.add(Fact("stock", m.group(1) or m.group(2), m.group(0)))
    for m in _ISO_DATE.finditer(text):
        facts.add(Fact("date", f"{int(m.group(2))}-{int(m.group(3))}", m.group(0)))
    for m in _ZH_DATE.finditer(text):
        facts.add(Fact("date", f"{int(m.group(1))}-{int(m.group(2))}", m.group(0)))
    for m in _EN_DATE.finditer(text):
        month = (m.group(1) or m.group(4)).lower()[:3]
        day = m.group(2) or m.group(3)
        facts.add(Fact("date", f"{_MONTHS[month]}-{int(day)}", m.group(0)))
    return facts


def _numbers(text: str) -> set[str]:
    """Every number in the text as a money-style value, the loosest support for amounts."""
    return {_money_value(m.group(1), m.group(2)) for m in re.finditer(_AMOUNT, text)}


def unsupported_facts(answer: str, sources: list[str]) -> list[Fact]:
    """Facts in ``answer`` that none of ``sources`` states; empty means the answer may be posted."""
    claimed = extract_facts(answer)
    if not claimed:
        return []
    joined = "\n".join(sources)
    supported = {(f.kind, f.value) for f in extract_facts(joined)}
    numbers = _numbers(joined)
    upper = joined.upper()
    missing = []
    for fact in sorted(claimed, key=lambda f: (f.kind, f.value)):
        if (fact.kind, fact.value) in supported:
            continue
        # A source may state an amount without a currency sign ("Price: 199"), or a code inline.
        if fact.kind in ("money", "stock") and _money_value(*fact.value.split(".")) in numbers:
            continue
        if fact.kind == "coupon" and fact.value in upper:
            continue
        missing.append(fact)
    return missing
