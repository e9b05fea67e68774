"""What kind of fact a question asks for, and whether a sentence holds one.

A viewer asking "when?" needs a date or a time, "how much?" a price, "how
long?" a duration, "how many?" a number with its unit, "ship to Canada?" a
place, "do I need …?" the sentence that settles yes or no. Retrieval finds the
right passage; this is what lets the answerer pick, inside it, the sentence
that *answers*: a sentence of the kind asked for is preferred, and a sentence
without one is a weaker answer (`brain.answers.selection`).

Plain patterns in English and Chinese, no model: a question's kind is decided
by its interrogative words, a sentence's facts by numbers with units, dates,
times, prices and place words.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["Kind", "kind_of", "holds", "asking_phrases"]

Kind = Literal["price", "time", "duration", "weight", "power", "colour", "count", "place", "person", "yesno", "other"]

# ---- the question side ---------------------------------------------------------------
# Order matters: the first kind whose pattern matches wins ("how much does shipping
# cost" is a price, "how long does delivery take" a duration, not a yes/no).
_ASKS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    ("price", re.compile(
        r"\bhow much\b(?!\s+(?:time|longer|space|room|water|fruit|ice|liquid))|\bprice[sd]?\b|\bcosts?\b|\bpricing\b|"
        r"\bfee\b|\bfree\b|\bcheap(?:er|est)?\b|\bexpensive\b|多少钱|价格|价钱|几块|怎么卖|多少米|运费|费用|收费|"
        r"贵不贵|贵吗|便宜|免费|包邮",
        re.I)),
    ("duration", re.compile(
        r"\bhow long\b|\bhow many (?:days|hours|minutes|weeks|months|years)\b|\bhow (?:fast|quickly|soon)\b|"
        r"多久|多长时间|几天|几个小时|几小时|几分钟|几周|几个月|多少天|多少分钟|多少小时|多长", re.I)),
    ("time", re.compile(
        r"\bwhen\b|\bwhat time\b|\bwhat date\b|\bwhich days?\b|\bwhat days?\b|\bdeadline\b|\buntil when\b|\bby when\b|"
        r"\bwhat year\b|\bwhich year\b|什么时候|几点|哪天|几号|何时|哪一天|截止|哪年|哪一年|什么时间|几月", re.I)),
    ("weight", re.compile(r"\bhow heavy\b|\bweigh(?:s|t)?\b|多重|重量|几斤|几克|几公斤|多少克|多少斤", re.I)),
    ("power", re.compile(r"\bwattage\b|\bwatts?\b|\bhow powerful\b|\bmotor power\b|功率|几瓦|多少瓦", re.I)),
    ("colour", re.compile(
        r"\bcolou?rs?\b|\bcome in (?:black|white|pink|red|blue|green|grey|gray|yellow|purple)\b|颜色|什么色|[a-z]+色",
        re.I)),
    ("count", re.compile(
        r"\bhow many\b|\bhow big\b|\bhow large\b|\bhow small\b|\bwhat size\b|\bcapacity\b|"
        r"\bhow much (?:time|space|room|water|fruit|ice|liquid)\b|\bnumber of\b|"
        r"多少|几个|几杯|几次|几节|几[种位名条项家座部本片块张]|多大|多高|多长|多少个|尺寸|容量|几毫升|几升", re.I)),
    ("place", re.compile(
        r"\bwhere\b|\bship(?:s|ping)? to\b|\bdeliver(?:y)? to\b|\bwhich (?:country|countries|city|region)\b|"
        r"\bfrom where\b|哪里|哪儿|哪个国家|哪些地区|哪些国家|寄到|发到|送到|在哪|什么地方|哪些地方|位于", re.I)),
    ("person", re.compile(r"\bwho\b|\bwhose\b|\bwhom\b|谁|哪位|什么人", re.I)),
    ("yesno", re.compile(
        r"^\s*(?:is|are|can|could|do|does|did|will|would|should|shall|has|have|may|must)\b|"
        r"\b(?:can|could) (?:i|we|you)\b|\bdo (?:i|we|you) need\b|\bis (?:it|there)\b|\bany\b.*\?\s*$|"
        r"吗[？?]?\s*$|能不能|可不可以|是不是|有没有|会不会|要不要|行不行|是否|支持.{0,12}[吗么]|[^\s]不[？?]?\s*$", re.I)),
)


def kind_of(question: str) -> Kind:
    """The kind of fact ``question`` asks for ("other" for what/why/how-to questions)."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return "other"


def asking_phrases(question: str) -> list[str]:
    """The words that say *what kind* of fact is asked ("how much", "多少钱", "什么时候"), not about what.

    The answerer weighs them less than the question's topic ("bundle", "刀头"):
    the kind is checked on its own (`holds`), and an FAQ that shares only
    "多少钱" with the question is about the price of something else.
    """
    return [m.group(0) for _, pattern in _ASKS for m in pattern.finditer(question) if m.group(0).strip()]


# ---- the sentence side ---------------------------------------------------------------
_NUMBER = r"\d+(?:[.,]\d+)?"
_HOLDS: dict[Kind, re.Pattern[str]] = {
    "weight": re.compile(rf"{_NUMBER}\s*(?:g|kg|grams?|kilograms?|kilos?|lbs?|pounds?|oz|ounces?)\b|"
                         rf"{_NUMBER}\s*(?:克|公斤|千克|斤)", re.I),
    "power": re.compile(rf"{_NUMBER}\s*(?:w|watts?|kw)\b|{_NUMBER}\s*(?:瓦|千瓦)", re.I),
    "colour": re.compile(r"\b(?:black|white|pink|red|blue|green|grey|gray|yellow|purple|orange|silver|gold|beige|"
                         r"colou?rs?)\b|[黑白粉红蓝绿灰黄紫橙金银]色|颜色", re.I),
    "price": re.compile(
        rf"{_NUMBER}\s*(?:元|块|rmb|cny|usd|eur|yuan|dollars?|\$|€|£)|(?:¥|\$|€|£|cny|rmb|usd)\s*{_NUMBER}|"
        r"\bfree\b|免费|包邮|\bprice\b|价", re.I),
    "duration": re.compile(
        rf"{_NUMBER}\s*(?:-|to|–|到|至)?\s*(?:{_NUMBER}\s*)?(?:working\s+|business\s+)?"
        r"(?:days?|hours?|h\b|minutes?|mins?|weeks?|months?|years?|seconds?|天|小时|分钟|周|星期|个月|年|秒)|"
        r"\b(?:one|two|three|four|five|six|seven|ten|a|an)\s+(?:days?|hours?|minutes?|weeks?|months?|years?)\b|"
        r"[一二三四五六七八九十两半]+\s*(?:天|小时|分钟|周|个月|年)", re.I),
    "time": re.compile(
        r"\b\d{1,2}:\d{2}\b|\b(?:19|20)\d{2}\b|\d{1,4}\s*年|\d{1,2}\s*月\s*\d{0,2}|\d{1,2}\s*[日号]|"
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b|"
        r"\b(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?s?\b|\b(?:morning|evening|noon|midnight|tonight|"
        r"tomorrow|today|yesterday|weekly|daily|every)\b|\b\d{1,2}\s*(?:am|pm)\b|周[一二三四五六日天]|星期[一二三四五六日天]|"
        r"[上下中]午|晚上|早上|凌晨|每天|每周|世纪|年代|朝|期间|时期|"
        r"\bwithin\s+\d+\s*(?:hours?|days?|minutes?|weeks?)\b|\d+\s*(?:小时|天|分钟)[之以]?内", re.I),
    # A number with what it counts or measures; a bare price or stock figure does not say how big or how many.
    "count": re.compile(
        rf"{_NUMBER}\s*(?:-|to|到|至)?\s*(?:{_NUMBER}\s*)?(?:ml|l|mah|w|v|kg|g|cm|mm|m|km|%|percent|"
        r"blends?|cups?|smoothies?|servings?|lessons?|videos?|sessions?|recipes?|blades?|pieces?|people|times|"
        r"minutes?|hours?|days?|weeks?|months?|years?|nucleotides?|nt|cases?|patients?)\b|"
        rf"{_NUMBER}\s*(?:-|到|至)?\s*(?:{_NUMBER}\s*)?(?:杯|次|节|个|道|毫升|升|克|公斤|千克|厘米|毫米|米|平方|公里|"
        r"分钟|小时|天|周|个月|年|件|人|种|位|名|条|项|家|座|部|本|只|台|岁|届|倍|万|亿|片|张)|"
        r"[一二三四五六七八九十百千万两]+\s*[个杯次节种位名条项家座部本件只台毫升升克斤倍岁届人片块张]|"
        r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|dozens?|hundreds?|thousands?)\b", re.I),
    "place": re.compile(
        r"\b(?:in|to|from|at|near)\s+[A-Z][a-z]+|\b[A-Z][a-z]+(?:,\s*[A-Z][a-z]+)+|\bcountr(?:y|ies)\b|\bworldwide\b|"
        r"\b(?:city|region|province|island|warehouse|abroad|overseas|mainland)\b|"
        r"[省市县区州国岛洲]|地区|国家|大陆|港澳台|海外|境外|位于|在.{1,8}[省市县区州国]", re.I),
    "person": re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b|\b(?:coach|host|teacher|founder|team|we)\b|"
                         r"[由是].{1,10}(?:创|建|发明|主持|担任|所)|先生|女士|老师|教授|主播", re.I),
    "yesno": re.compile(
        r"^\s*(?:yes|no|yep|nope|sure|of course|not)\b|\b(?:cannot|can't|don't|doesn't|isn't|aren't|won't|not|no|only|"
        r"any|works?|can|yes)\b|^\s*(?:可以|不可以|能|不能|是的|不是|支持|不支持|没有|有的|会|不会|不用|需要|不需要)|"
        r"可以|不能|不支持|不发货|暂时不|不适合|适合|支持|不用|无需|任何", re.I),
}


def holds(kind: Kind, sentence: str) -> bool:
    """Whether ``sentence`` holds a fact of ``kind`` ("other" is held by any sentence)."""
    pattern = _HOLDS.get(kind)
    return True if pattern is None else bool(pattern.search(sentence))
