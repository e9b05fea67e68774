"""Natural times for the scheduler: "tomorrow 8pm Cooking basics", "周五晚上8点 新品发布", "every 30m".

A host types a time at the start of a command and a title after it; `parse_when`
reads the time and hands back the rest. It is a small hand-written grammar for
the forms hosts actually type, in English and Chinese, with `dateparser` as a
guarded fallback for longer English phrasings ("december the 5th at 7pm").
dateparser alone is too loose for a command line ("8 tips" is 1 August to it,
"the 5th at 7pm" is May), and its Chinese is weak, so it only gets a say when
the grammar finds nothing and its answer names a time of day.

Rules, so that a host can predict what the bot does:

* Every time is read in the room's time zone unless the text names one: an IANA
  name (``Europe/Berlin``), ``UTC``/``GMT`` with an optional whole-hour offset
  (``UTC+8``), or ``北京时间``. Abbreviations like EST or CST mean different
  things in different places (CST is Chicago, Shanghai and Havana), so they are
  refused with the IANA name to use instead.
* A time must be given; a date alone ("tomorrow") is refused rather than guessed.
* When a reading is open, the bot takes the **earliest matching moment after
  now** and says what it chose in `ParsedWhen.note`: a bare "8" or "8点" (or
  "8:30") with no am/pm, 晚上/下午 or "tonight" is 08:00 or 20:00, whichever comes
  first; a time with no date ("20:00") is today, or tomorrow once it has passed;
  "dec 5" with no year is this year, or next year once its day is behind today;
  "the 5th" is this month's or next month's; "fri" is the coming Friday (today
  if the time is still ahead). A leading zero or an hour from 13 ("08:00",
  "20:00") is a 24-hour clock and not ambiguous. 晚上/"tonight" with 12 is
  midnight, with 1-4 the small hours after it; "midnight" ends the day named.
* "next monday" is the first Monday after today (never today); when that falls
  in the current week the note says so. 下周一 is always Monday of next week.
* A date or weekday pinned to a moment that has passed ("today 8am" at noon,
  "2025-12-05 19:30") is an error, not silently moved.
* Local times that do not exist (the hour skipped when clocks spring forward)
  move forward by the gap; times that happen twice (clocks fall back) take the
  first occurrence (``fold=0``), or the second once the first has passed. Both
  are noted. Comparisons with now are in real time (UTC), not wall-clock time.
* Nothing more than 366 days ahead.

`parse_every` reads promo intervals ("30m", "every 2h", "每30分钟"), 5 minutes to
7 days. `format_when` renders a time for replies; `validate_tz` checks a zone name.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo, available_timezones

__all__ = [
    "parse_duration",
    "WhenError",
    "ParsedWhen",
    "ParsedEvery",
    "parse_when",
    "parse_every",
    "format_when",
    "zone_label",
    "validate_tz",
    "MIN_EVERY_SECONDS",
    "MAX_EVERY_SECONDS",
    "MAX_AHEAD",
]

#: Promo intervals: more often than this is spam, less often is not a timer.
MIN_EVERY_SECONDS = 5 * 60
MAX_EVERY_SECONDS = 7 * 24 * 3600
#: The furthest ahead a time may be.
MAX_AHEAD = timedelta(days=366)


class WhenError(ValueError):
    """A time or interval the bot could not accept; the message is shown to the host."""


@dataclass(frozen=True, slots=True)
class ParsedWhen:
    """A time read from the start of a command line."""

    at: datetime    # tz-aware, in ``zone``
    rest: str       # the text after the time (the title), separators stripped
    matched: str    # the text read as the time
    zone: str       # the zone the time was read in: the room's, or the one the text named
    note: str = ""  # how an open reading was resolved ("" when nothing was guessed)


@dataclass(frozen=True, slots=True)
class ParsedEvery:
    """A promo interval read from the start of a command line."""

    seconds: int
    rest: str
    matched: str = ""


# ---- time zones ------------------------------------------------------------------------

#: Abbreviations hosts type, with the IANA names they most often mean (refused, but helpfully).
_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "EST": ("America/New_York",), "EDT": ("America/New_York",), "ET": ("America/New_York",),
    "CST": ("America/Chicago", "Asia/Shanghai"), "CDT": ("America/Chicago",), "CT": ("America/Chicago",),
    "MST": ("America/Denver", "America/Phoenix"), "MDT": ("America/Denver",), "MT": ("America/Denver",),
    "PST": ("America/Los_Angeles",), "PDT": ("America/Los_Angeles",), "PT": ("America/Los_Angeles",),
    "AKST": ("America/Anchorage",), "HST": ("Pacific/Honolulu",),
    "BST": ("Europe/London",), "IST": ("Asia/Kolkata", "Europe/Dublin"), "WET": ("Europe/Lisbon",),
    "CET": ("Europe/Berlin", "Europe/Paris"), "CEST": ("Europe/Berlin", "Europe/Paris"),
    "EET": ("Europe/Athens",), "EEST": ("Europe/Athens",), "MSK": ("Europe/Moscow",),
    "JST": ("Asia/Tokyo",), "KST": ("Asia/Seoul",), "HKT": ("Asia/Hong_Kong",), "SGT": ("Asia/Singapore",),
    "AEST": ("Australia/Sydney",), "AEDT": ("Australia/Sydney",), "AWST": ("Australia/Perth",),
    "NZST": ("Pacific/Auckland",), "NZDT": ("Pacific/Auckland",), "BRT": ("America/Sao_Paulo",),
}

#: Zones shown as 北京时间 in Chinese replies (no zone suffix needed there).
_BEIJING = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"})


@functools.lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Lower-cased IANA name → its spelling; the whitelist that `validate_tz` checks against."""
    return {name.lower(): name for name in available_timezones()}


def validate_tz(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name (case-insensitive), ``UTC``/``GMT``, or ``UTC+8``.

    Names are looked up in the installed zone list rather than handed to
    `ZoneInfo` directly, so a typo gets suggestions and a path never reaches the
    file system. Offsets must be whole hours (they map to ``Etc/GMT-8`` and so on).
    """
    raw = (name or "").strip()
    if not raw:
        raise WhenError("no time zone given; use an IANA name such as 'Europe/Berlin' or 'Asia/Shanghai'")
    if raw in ("北京时间", "北京時間"):
        return ZoneInfo("Asia/Shanghai")
    offset = re.fullmatch(r"(?i)(?:utc|gmt)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", raw)
    if offset:
        return _offset_zone(offset.group(1), int(offset.group(2)), int(offset.group(3) or 0), raw)
    if raw.upper() in ("UTC", "GMT", "Z", "ZULU"):
        return ZoneInfo("UTC")
    if raw.upper() in _ABBREVIATIONS:
        raise WhenError(_abbreviation_message(raw.upper()))
    key = _zone_names().get(raw.lower().replace(" ", "_"))
    if key is None:
        close = difflib.get_close_matches(raw.lower(), _zone_names(), n=2, cutoff=0.75)
        hint = (" (did you mean " + " or ".join(repr(_zone_names()[c]) for c in close) + "?)") if close else ""
        raise WhenError(f"unknown time zone {raw!r}{hint}; use an IANA name such as "
                        "'Europe/Berlin', 'America/New_York' or 'Asia/Shanghai'")
    return ZoneInfo(key)


def _offset_zone(sign: str, hours: int, minutes: int, raw: str) -> ZoneInfo:
    if minutes or hours > (14 if sign == "+" else 12):
        raise WhenError(f"time zone {raw!r}: only whole-hour UTC offsets (UTC-12 to UTC+14) are accepted; "
                        "for others use an IANA name such as 'Asia/Kolkata'")
    if hours == 0:
        return ZoneInfo("UTC")
    # POSIX sign convention: Etc/GMT-8 is eight hours *ahead* of UTC.
    return ZoneInfo(f"Etc/GMT{'-' if sign == '+' else '+'}{hours}")


def _abbreviation_message(abbr: str) -> str:
    options = " or ".join(repr(z) for z in _ABBREVIATIONS[abbr])
    return (f"time zone abbreviations like {abbr!r} are ambiguous; use an IANA name such as {options} "
            "(or UTC)")


def zone_label(tz: object) -> str:
    """How replies name a zone: its IANA key, "UTC", or "UTC+8" for Etc/GMT-8."""
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        m = re.fullmatch(r"Etc/GMT([+-])(\d+)", key)
        if m:  # show Etc/GMT-8 the way people say it
            return f"UTC{'+' if m.group(1) == '-' else '-'}{m.group(2)}"
        return "UTC" if key in ("Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Zulu") else key
    return str(tz) if tz is not None else "UTC"


# ---- numbers and durations ---------------------------------------------------------------

_FULLWIDTH = str.maketrans("０１２３４５６７８９：", "0123456789:")
_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4,
             "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN_WORD = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
            "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "ninety": 90}
_CN_NUM = r"(?:\d{1,3}(?:\.\d+)?|[零〇一二两兩三四五六七八九十]{1,4})"


def _number(text: str) -> float | None:
    """Digits, "1.5", English words or Chinese numerals up to 99 (十五, 二十三, 两)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if text in _EN_WORD:
        return float(_EN_WORD[text])
    if text and all(c in _CN_DIGIT or c == "十" for c in text):
        if "十" not in text:
            return float(int("".join(str(_CN_DIGIT[c]) for c in text))) if len(text) <= 2 else None
        tens, _, ones = text.partition("十")
        if "十" in ones or len(tens) > 1 or len(ones) > 1:
            return None
        return float((_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0))
    return None


_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
_EN_NUM = r"(?:\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|" \
          r"twenty|thirty|forty-five|forty|fifty|ninety)"
_EN_UNIT = r"(?P<unit>weeks?|wks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m)"
_EN_TERM = re.compile(rf"(?i)(?P<num>{_EN_NUM})\s*{_EN_UNIT}(?![A-Za-z])(?P<half>\s+and\s+a\s+half)?")
_EN_HALF = re.compile(r"(?i)half\s+(?:an?\s+)?(?P<unit>hour|day)(?![A-Za-z])")
_CN_TERM = re.compile(rf"(?P<num>{_CN_NUM})\s*(?P<ge>个|個)?(?P<half>半)?\s*"
                      r"(?P<unit>小时|小時|钟头|鐘頭|分钟|分鐘|分|天|日|周|週|星期|礼拜|禮拜|刻钟|刻鐘)")
_CN_HALF = re.compile(r"半\s*(?:个|個)?\s*(?P<unit>小时|小時|钟头|鐘頭|天)")
_AND = re.compile(r"(?i)\s*(?:,|and\b|零)?\s*")


def _en_unit(unit: str) -> str:
    u = unit.lower()
    return "m" if u.startswith("m") else u[0]


def _cn_unit(unit: str) -> tuple[str, float]:
    if unit in ("刻钟", "刻鐘"):
        return "m", 15.0
    if unit[0] in "小钟鐘":
        return "h", 1.0
    if unit[0] == "分":
        return "m", 1.0
    if unit in ("天", "日"):
        return "d", 1.0
    return "w", 1.0


def parse_duration(text: str) -> float | None:
    """Seconds of ``text`` when all of it is a duration ("2h", "1h30m", "3 days", "半小时"); else None."""
    said = text.strip()
    span = _duration(said, 0)
    return span[0] if span is not None and span[1] == len(said) else None


def _duration(text: str, pos: int) -> tuple[float, int] | None:
    """A duration starting at ``pos`` ("1h30m", "90 minutes", "an hour and a half", "1小时30分钟", "半小时")."""
    total, end, terms = 0.0, pos, 0
    cursor = pos
    while True:
        m = None
        value = 0.0
        for regex in (_EN_HALF, _CN_HALF):
            m = regex.match(text, cursor)
            if m:
                unit = m.group("unit")
                value = 0.5 * (_UNIT_SECONDS["h"] if unit[0] in "h小钟鐘" else _UNIT_SECONDS["d"])
                break
        if m is None:
            m = _EN_TERM.match(text, cursor)
            if m:
                n = _number(m.group("num"))
                if n is None:
                    break
                n += 0.5 if m.group("half") else 0.0
                value = n * _UNIT_SECONDS[_en_unit(m.group("unit"))]
        if m is None:
            m = _CN_TERM.match(text, cursor)
            if m:
                n = _number(m.group("num"))
                if n is None:
                    break
                unit, scale = _cn_unit(m.group("unit"))
                n = (n + (0.5 if m.group("half") else 0.0)) * scale
                value = n * _UNIT_SECONDS[unit]
        if m is None:
            break
        total += value
        terms += 1
        end = m.end()
        sep = _AND.match(text, end)
        cursor = sep.end() if sep else end
    return (total, end) if terms else None


# ---- parse_every ---------------------------------------------------------------------------

_EVERY_PREFIX = re.compile(r"(?i)(?:every|each)\s+|每\s*(?:隔\s*)?|(?:every|each)(?=\d)")
_EVERY_UNIT_ONLY = re.compile(r"(?i)(?:(?P<en>hour|day|week|minute|min)(?![A-Za-z])|"
                              r"(?P<zh>小时|小時|钟头|天|日|周|週|星期|分钟))")
_EVERY_ADVERB = re.compile(r"(?i)(?P<w>hourly|daily|weekly)(?![A-Za-z])")
_EVERY_TAIL = re.compile(r"\s*(?:一次|发一次|發一次|once)?")
_SEPARATORS = " \t\r\n,，:：;；-–—|/、"


def _strip_rest(text: str) -> str:
    return text.lstrip(_SEPARATORS).strip()


def _lang_of(text: str) -> str:
    return "zh" if re.search(r"[\u3400-\u9fff]", text) else "en"


def parse_every(text: str) -> ParsedEvery:
    """A promo interval at the start of ``text``: "30m", "1h30m", "every 20 min", "每2小时", "每小时".

    A bare number ("30") is refused: minutes or hours would both be a guess.
    Intervals must be between 5 minutes and 7 days.
    """
    source = (text or "").translate(_FULLWIDTH)
    start = len(source) - len(source.lstrip())
    pos = start
    prefix = _EVERY_PREFIX.match(source, pos)
    if prefix:
        pos = prefix.end()
    seconds: float | None = None
    end = pos
    found = _duration(source, pos)
    if found:
        seconds, end = found
    elif prefix:
        unit = _EVERY_UNIT_ONLY.match(source, pos)
        if unit:
            word = (unit.group("en") or unit.group("zh")).lower()
            key = {"hour": "h", "day": "d", "week": "w", "minute": "m", "min": "m",
                   "小时": "h", "小時": "h", "钟头": "h", "天": "d", "日": "d", "周": "w", "週": "w",
                   "星期": "w", "分钟": "m"}[word]
            seconds, end = float(_UNIT_SECONDS[key]), unit.end()
    else:
        adverb = _EVERY_ADVERB.match(source, pos)
        if adverb:
            seconds = float(_UNIT_SECONDS[adverb.group("w").lower()[0]])
            end = adverb.end()
    lang = _lang_of(source)
    if seconds is None:
        said = source.strip()
        if re.match(r"\s*\d+(?![\d.])", source[pos:]) or (prefix and re.match(r"\s*\d", source[pos:])):
            raise WhenError(_say(lang, f"{said!r}: give the interval a unit, e.g. '30m', '2h' or '每30分钟'",
                                 f"“{said}”缺少单位，比如“每30分钟”或“每2小时”"))
        raise WhenError(_say(lang, f"I could not read an interval in {said!r}; try '30m', 'every 2h', "
                             "'1h30m' or '每30分钟'", f"没看懂“{said}”里的间隔；可以写“每30分钟”或“每2小时”"))
    tail = _EVERY_TAIL.match(source, end)
    end = tail.end() if tail else end
    whole = int(round(seconds))
    if whole < MIN_EVERY_SECONDS:
        raise WhenError(_say(lang, f"every {_say_seconds(whole)} is too often: promos can repeat at most "
                             "every 5 minutes", "间隔太短：推广最多每5分钟一次"))
    if whole > MAX_EVERY_SECONDS:
        raise WhenError(_say(lang, f"every {_say_seconds(whole)} is too long: the longest promo interval "
                             "is 7 days", "间隔太长：最长7天一次"))
    return ParsedEvery(seconds=whole, rest=_strip_rest(source[end:]), matched=source[start:end].strip())


def _say_seconds(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0m"


# ---- the grammar of parse_when ---------------------------------------------------------------

_B = r"(?![A-Za-z0-9'])"  # an English token ends here (CJK may follow directly)
_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
           "sep": 9, "oct": 10, "nov": 11, "dec": 12}
_MONTH_RE = (r"(?P<mon>january|february|march|april|may|june|july|august|september|october|november|"
             r"december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)")
_WEEKDAY_RE = (r"(?P<wd>monday|mon|tuesday|tues|tue|wednesday|weds|wed|thursday|thurs|thur|thu|friday|fri|"
               r"saturday|sat|sunday|sun)")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CN_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6,
               "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}

# periods: how an hour without am/pm is read
#   am: as said; pm: +12 below 12; noon: 1-5 are afternoon; early: small hours (12 is 0);
#   night (evening, 晚上): +12, but 12 is midnight and 1-4 are the small hours after it.
_AM, _PM, _NOON, _EARLY, _NIGHT = "am", "pm", "noon", "early", "night"

_EN_DAY = re.compile(rf"(?i)(?P<w>(?:the\s+)?day\s+after\s+tomorrow|today|tonight|tomorrow|tomorow|tmrw|tmr){_B}")
_EN_WEEKDAY = re.compile(rf"(?i)(?:(?P<mod>this|next|coming)\s+)?{_WEEKDAY_RE}\.?{_B}")
_EN_MD = re.compile(rf"(?i){_MONTH_RE}\.?\s+(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{_B}"
                    rf"(?:,?\s+(?P<y>20\d\d){_B})?")
_EN_DM = re.compile(rf"(?i)(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}\.?{_B}"
                    rf"(?:,?\s+(?P<y>20\d\d){_B})?")
_EN_DOM = re.compile(rf"(?i)the\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th){_B}")
_ISO = re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:T(?=\d)|(?![\d]))")
_CN_DAY = re.compile(r"(?P<w>大后天|大後天|后天|後天|明天|明日|明儿|明兒|今天|今日|今儿|今兒|今晚|明晚|今夜|明夜|今早|明早)")
_CN_WEEKDAY_RE = re.compile(r"(?:(?P<mod>下下|下|这|這|本)\s*(?:个|個)?\s*)?(?:周|週|星期|礼拜|禮拜)"
                            r"(?P<wd>[一二三四五六日天1-7])")
_CN_MD = re.compile(rf"(?:(?P<y>\d{{4}})\s*年\s*)?(?P<m>{_CN_NUM})\s*月\s*(?P<d>{_CN_NUM})\s*(?:日|号|號)?")
_EN_PERIOD = re.compile(rf"(?i)(?:in\s+the\s+|this\s+|at\s+)?(?P<p>morning|afternoon|evening|night){_B}")
_CN_PERIOD = re.compile(r"(?P<p>凌晨|清晨|早上|早晨|上午|中午|午后|午後|下午|傍晚|晚上|夜里|夜裡|夜间|夜間|半夜|晚间|晚間|早|晚)")
_EN_AMPM = re.compile(r"(?i)(?P<h>\d{1,2})(?:[:.](?P<mi>\d{2}))?\s*(?P<ap>a\.?m\.?|p\.?m\.?)(?![A-Za-z0-9])")
_CLOCK = re.compile(r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?![\d:])")
_EN_WORD_TIME = re.compile(rf"(?i)(?P<w>noon|midday|midnight){_B}")
# minutes directly after 点: two digits ("8点05"), or with 分 ("8点5分"); one Chinese numeral needs 分 too,
# so "8点3款新品" keeps its title
_CN_TIME = re.compile(r"(?P<h>\d{1,2}|[零〇一二两兩三四五六七八九十]{1,3})\s*(?:点|點|时|時)"
                      r"(?:(?P<half>半)|(?P<q>[一三1-3])\s*刻"
                      r"|(?P<mi>\d{2}|[零〇一二三四五六七八九十]{2,3})(?:分(?!钟|鐘))?"
                      r"|(?P<mi1>\d|[一二三四五六七八九十])分(?!钟|鐘))?(?:钟|鐘|整)?")
_BARE_HOUR = re.compile(rf"(?i)(?P<h>\d{{1,2}})(?:\s*o'?clock)?{_B}(?![:.]\d)")
_CONNECTOR = re.compile(r"(?i)(?:at|on|@|,|，)(?![A-Za-z])\s*|的\s*")
_ZONE_CN = re.compile(r"北京时间|北京時間")
_ZONE_UTC = re.compile(rf"(?i)(?:utc|gmt)(?:\s*[+-]\s*\d{{1,2}}(?::?\d{{2}})?)?{_B}")
_ZONE_IANA = re.compile(r"[A-Za-z]+(?:/[A-Za-z0-9_+\-]+)+")
_ZONE_ABBR = re.compile(rf"(?P<a>[A-Z]{{2,4}}){_B}")
_EN_RELATIVE = re.compile(r"(?i)in\s+")
_EN_FROM_NOW = re.compile(r"(?i)\s*(?:from\s+now|later)" + _B)
_CN_AFTER = re.compile(r"\s*(?:以后|以後|之后|之後|后|後)")

_EN_PERIODS = {"morning": _AM, "afternoon": _PM, "evening": _NIGHT, "night": _NIGHT}
_CN_PERIODS = {"凌晨": _EARLY, "清晨": _AM, "早上": _AM, "早晨": _AM, "上午": _AM, "早": _AM,
               "中午": _NOON, "午后": _PM, "午後": _PM, "下午": _PM, "傍晚": _PM, "晚上": _NIGHT,
               "晚间": _NIGHT, "晚間": _NIGHT, "晚": _NIGHT, "夜里": _NIGHT, "夜裡": _NIGHT, "夜间": _NIGHT,
               "夜間": _NIGHT, "半夜": _NIGHT}
_CN_DAY_WORDS = {"今天": (0, None), "今日": (0, None), "今儿": (0, None), "今兒": (0, None),
                 "明天": (1, None), "明日": (1, None), "明儿": (1, None), "明兒": (1, None),
                 "后天": (2, None), "後天": (2, None), "大后天": (3, None), "大後天": (3, None),
                 "今晚": (0, _NIGHT), "今夜": (0, _NIGHT), "明晚": (1, _NIGHT), "明夜": (1, _NIGHT),
                 "今早": (0, _AM), "明早": (1, _AM)}


@dataclass(slots=True)
class _Day:
    """What the text said about the day; resolved against now later."""

    kind: str                 # offset | weekday | next_weekday | week | ymd | dom (day of month)
    offset: int = 0           # days from today (offset), weeks from this one (week)
    weekday: int = 0          # 0 = Monday
    year: int | None = None
    month: int = 0
    day: int = 0
    said: str = ""


@dataclass(slots=True)
class _Clock:
    hour: int
    minute: int = 0
    meridiem: str | None = None  # am | pm
    fixed: bool = False          # a 24-hour reading that needs no guessing ("08:00", "20:00", noon)
    midnight: bool = False       # 24:00: the end of the day named
    said: str = ""


@dataclass(slots=True)
class _Reading:
    day: _Day | None = None
    clock: _Clock | None = None
    period: str | None = None
    zone: ZoneInfo | None = None
    bare_hour_ok: bool = False   # "at", a day or a period came first, so "8" is a time, not a title
    lang: str = "en"


def _month(word: str) -> int:
    return _MONTHS[word.lower()[:3]]


def _int(text: str | None, default: int = 0) -> int:
    if text is None:
        return default
    value = _number(text)
    if value is None or value != int(value):
        raise WhenError(f"I could not read the number {text!r}")
    return int(value)


def _match_day(text: str, pos: int, r: _Reading) -> int | None:
    if r.day is not None:
        return None
    if m := _EN_DAY.match(text, pos):
        word = re.sub(r"\s+", " ", m.group("w").lower())
        if word.endswith("day after tomorrow"):
            r.day = _Day("offset", offset=2, said=m.group(0))
        elif word == "today":
            r.day = _Day("offset", offset=0, said=m.group(0))
        elif word == "tonight":
            r.day = _Day("offset", offset=0, said=m.group(0))
            r.period = r.period or _NIGHT
        else:
            r.day = _Day("offset", offset=1, said=m.group(0))
        return m.end()
    if m := _CN_DAY.match(text, pos):
        offset, period = _CN_DAY_WORDS[m.group("w")]
        r.day = _Day("offset", offset=offset, said=m.group(0))
        r.period = r.period or period
        r.lang = "zh"
        return m.end()
    if m := _EN_WEEKDAY.match(text, pos):
        wd = _WEEKDAYS.index(m.group("wd").lower()[:3])
        kind = "next_weekday" if (m.group("mod") or "").lower() == "next" else "weekday"
        r.day = _Day(kind, weekday=wd, said=m.group(0))
        return m.end()
    if m := _CN_WEEKDAY_RE.match(text, pos):
        wd = _CN_WEEKDAY[m.group("wd")]
        mod = m.group("mod")
        if mod is None:
            r.day = _Day("weekday", weekday=wd, said=m.group(0))
        else:
            r.day = _Day("week", offset={"下下": 2, "下": 1}.get(mod, 0), weekday=wd, said=m.group(0))
        r.lang = "zh"
        return m.end()
    if m := _ISO.match(text, pos):
        r.day = _Day("ymd", year=int(m.group("y")), month=int(m.group("m")), day=int(m.group("d")),
                     said=m.group(0))
        return m.end()
    for regex in (_EN_MD, _EN_DM):
        if m := regex.match(text, pos):
            r.day = _Day("ymd", year=int(m.group("y")) if m.group("y") else None, month=_month(m.group("mon")),
                         day=int(m.group("d")), said=m.group(0))
            return m.end()
    if m := _EN_DOM.match(text, pos):
        r.day = _Day("dom", day=int(m.group("d")), said=m.group(0))
        return m.end()
    if m := _CN_MD.match(text, pos):
        r.day = _Day("ymd", year=int(m.group("y")) if m.group("y") else None, month=_int(m.group("m")),
                     day=_int(m.group("d")), said=m.group(0))
        r.lang = "zh"
        return m.end()
    return None


def _match_period(text: str, pos: int, r: _Reading) -> int | None:
    if r.clock is not None or r.period is not None:
        return None  # "8pm tomorrow evening": the clock already decided
    if m := _CN_PERIOD.match(text, pos):
        r.period = _CN_PERIODS[m.group("p")]
        r.lang = "zh"
        return m.end()
    if m := _EN_PERIOD.match(text, pos):
        r.period = _EN_PERIODS[m.group("p").lower()]
        return m.end()
    return None


def _match_clock(text: str, pos: int, r: _Reading) -> int | None:
    if r.clock is not None:
        return None
    if m := _EN_AMPM.match(text, pos):
        hour, minute = int(m.group("h")), int(m.group("mi") or 0)
        if not 1 <= hour <= 12:
            raise WhenError(f"{m.group(0).strip()!r}: with am/pm the hour must be 1 to 12")
        r.clock = _Clock(hour, minute, meridiem=m.group("ap").lower()[0] + "m", said=m.group(0))
        return m.end()
    if m := _CN_TIME.match(text, pos):
        hour = _int(m.group("h"))
        minute = 30 if m.group("half") else 15 * _int(m.group("q")) if m.group("q") \
            else _int(m.group("mi") or m.group("mi1"))
        r.clock = _Clock(hour, minute, fixed=_fixed_hour(m.group("h"), hour), said=m.group(0))
        r.lang = "zh"
        return m.end()
    if m := _CLOCK.match(text, pos):
        hour, minute = int(m.group("h")), int(m.group("mi"))
        r.clock = _Clock(hour, minute, fixed=_fixed_hour(m.group("h"), hour), said=m.group(0))
        return m.end()
    if m := _EN_WORD_TIME.match(text, pos):
        word = m.group("w").lower()
        r.clock = _Clock(0, 0, fixed=True, midnight=True, said=m.group(0)) if word == "midnight" \
            else _Clock(12, 0, fixed=True, said=m.group(0))
        return m.end()
    if r.bare_hour_ok or r.day is not None or r.period is not None:
        if m := _BARE_HOUR.match(text, pos):
            hour = int(m.group("h"))
            if hour > 24:
                return None
            r.clock = _Clock(hour, 0, fixed=_fixed_hour(m.group("h"), hour), said=m.group(0))
            return m.end()
    return None


def _fixed_hour(said: str, hour: int) -> bool:
    """A 24-hour reading: a leading zero ("08"), 0, or 13 and up; 1 to 12 could be am or pm."""
    said = said.strip()
    return hour == 0 or hour >= 13 or (said.isdigit() and len(said) == 2 and said.startswith("0"))


def _match_zone(text: str, pos: int, r: _Reading) -> int | None:
    if r.zone is not None:
        return None
    for regex in (_ZONE_CN, _ZONE_UTC):
        if m := regex.match(text, pos):
            r.zone = validate_tz(m.group(0))
            return m.end()
    if m := _ZONE_IANA.match(text, pos):
        zone = _iana_or_none(m.group(0))
        if zone is not None:
            r.zone = zone
            return m.end()
    if (m := _ZONE_ABBR.match(text, pos)) and m.group("a") in _ABBREVIATIONS:
        raise WhenError(_abbreviation_message(m.group("a")))
    return None


#: Areas of IANA names: "Europa/Berlin" is a typo worth an error, "AC/DC" is a title.
_AREAS = frozenset({"africa", "america", "antarctica", "arctic", "asia", "atlantic", "australia", "europe",
                    "indian", "pacific", "etc", "us", "canada", "brazil", "mexico", "chile"})


def _iana_or_none(name: str) -> ZoneInfo | None:
    try:
        return validate_tz(name)
    except WhenError:
        area = name.split("/", 1)[0].lower()
        if area in _AREAS or difflib.get_close_matches(area, _AREAS, n=1, cutoff=0.8):
            raise
        return None


_MATCHERS: tuple[Callable[[str, int, _Reading], int | None], ...] = (
    _match_zone, _match_day, _match_clock, _match_period)


def _scan(text: str, pos: int) -> tuple[_Reading, int]:
    """Read date, clock, period and zone in any order; stop at the first word that is none of them."""
    r = _Reading()
    end = pos
    cursor = pos
    while cursor < len(text):
        advanced = None
        for matcher in _MATCHERS:
            advanced = matcher(text, cursor, r)
            if advanced is not None:
                break
        if advanced is None:
            connector = _CONNECTOR.match(text, cursor)
            if connector and connector.end() > cursor:
                if connector.group(0).strip().lower() == "at":
                    r.bare_hour_ok = True
                cursor = connector.end()
                continue  # tentative: only kept if something follows
            break
        end = advanced
        ws = re.match(r"\s*", text[advanced:])
        cursor = advanced + (ws.end() if ws else 0)
    return r, end


# ---- resolving a reading against now -----------------------------------------------------------

def _hours(clock: _Clock, period: str | None) -> list[tuple[int, int]]:
    """Candidate (hour, extra days) for a clock reading; more than one when it is open."""
    h = clock.hour
    if clock.midnight:
        return [(0, 1)]
    if clock.meridiem is not None:
        return [(h % 12 + (12 if clock.meridiem == "pm" else 0), 0)]
    if h == 24:
        return [(0, 1)]
    if h > 24:
        raise WhenError(f"{clock.said.strip()!r} is not a time of day")
    if clock.fixed and period is None:
        return [(h, 0)]
    if period == _NIGHT:
        if h == 12:  # 晚上12点, "tonight 12": midnight at the end of the day
            return [(0, 1)]
        if h <= 4:   # "tonight 2", 夜里2点: the small hours after it
            return [(h, 1)]
        return [(h + 12, 0) if h < 12 else (h, 0)]
    if period == _PM:
        return [(h + 12, 0) if h < 12 else (h, 0)]
    if period == _NOON:
        return [(h + 12, 0) if 1 <= h <= 5 else (h, 0)]
    if period == _EARLY:
        return [(0 if h == 12 else h, 0)]
    if period == _AM:
        return [(h, 0)]
    if h == 12:
        return [(12, 0), (0, 0)]
    return [(h, 0), (h + 12, 0)]


def _days(day: _Day | None, today: date) -> list[date]:
    if day is None:
        return [today, today + timedelta(days=1), today + timedelta(days=2)]
    if day.kind == "offset":
        return [today + timedelta(days=day.offset)]
    if day.kind == "weekday":
        first = today + timedelta(days=(day.weekday - today.weekday()) % 7)
        return [first, first + timedelta(days=7)]
    if day.kind == "next_weekday":
        return [today + timedelta(days=(day.weekday - today.weekday() - 1) % 7 + 1)]
    if day.kind == "week":
        monday = today - timedelta(days=today.weekday())
        return [monday + timedelta(days=7 * day.offset + day.weekday)]
    if day.kind == "dom":
        year, month = today.year, today.month
        for _ in range(3):  # this month, or the next that has the day (the 31st)
            try:
                candidate = date(year, month, day.day)
            except ValueError:
                candidate = None
            if candidate is not None and candidate >= today:
                return [candidate]
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise WhenError(f"there is no such date: {day.said.strip()!r}")
    if day.year is not None:
        try:
            return [date(day.year, day.month, day.day)]
        except ValueError:
            raise WhenError(f"there is no such date: {day.said.strip()!r}") from None
    # No year: this year's date unless it is already behind today (then the next year that has it,
    # for 29 Feb); today's date with a time that has passed is an error, not next year.
    for year in range(today.year, today.year + 5):
        try:
            candidate = date(year, day.month, day.day)
        except ValueError:
            continue
        if candidate >= today:
            return [candidate]
    raise WhenError(f"there is no such date: {day.said.strip()!r}")


def _localize(d: date, hour: int, minute: int, zone: ZoneInfo) -> tuple[datetime, str]:
    """``d hour:minute`` in ``zone``: skipped times move forward by the gap, repeated ones take the first."""
    return _localizations(d, hour, minute, zone)[0]


def _localizations(d: date, hour: int, minute: int, zone: ZoneInfo) -> list[tuple[datetime, str]]:
    """Every real moment ``d hour:minute`` names in ``zone``, first first, each with a note on DST.

    A skipped time (spring forward) moves forward by the gap; a repeated one
    (fall back) is both occurrences, so "1:30am" said between them gets the second.
    """
    naive = datetime.combine(d, time(hour, minute))
    local = naive.replace(tzinfo=zone, fold=0)
    settled = local.astimezone(timezone.utc).astimezone(zone)
    if settled.replace(tzinfo=None) != naive:
        return [(settled, f"{naive:%H:%M} does not exist on {_dm(naive)} in {zone_label(zone)} (clocks "
                          f"spring forward), so {settled:%H:%M}")]
    second = local.replace(fold=1)
    if second.utcoffset() != local.utcoffset():
        where = f"{naive:%H:%M} happens twice on {_dm(naive)} in {zone_label(zone)} (clocks fall back)"
        return [(local, f"{where}; using the first ({local.tzname()})"),
                (second, f"{where}; using the second ({second.tzname()})")]
    return [(local, "")]


def _dm(d: date) -> str:
    return f"{d.day} {d:%b}"


def _utc(dt: datetime) -> datetime:
    """Compare and subtract in UTC: Python does wall-clock arithmetic between times of one zone."""
    return dt.astimezone(timezone.utc)


def _check_range(at: datetime, now: datetime, lang: str) -> None:
    if _utc(at) <= _utc(now):
        shown = f"{at:%a} {_dm(at)} {at:%H:%M} {zone_label(at.tzinfo)}"
        raise WhenError(_say(lang, f"that time ({shown}) has already passed",
                             f"这个时间（{shown}）已经过去了"))
    if _utc(at) - _utc(now) > MAX_AHEAD:
        raise WhenError(_say(lang, f"{_dm(at)} {at.year} is more than a year ahead; schedule it nearer the time",
                             f"{at.year}年{at.month}月{at.day}日超过一年了，请临近再安排"))


def _say(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _resolve(r: _Reading, zone: ZoneInfo, now: datetime) -> tuple[datetime, str]:
    assert r.clock is not None
    local_now = now.astimezone(zone)
    today = local_now.date()
    hours = _hours(r.clock, r.period)
    if not 0 <= r.clock.minute <= 59:
        raise WhenError(f"{r.clock.said.strip()!r}: minutes must be 0 to 59")
    for hour, _ in hours:
        if not 0 <= hour <= 23:
            raise WhenError(f"{r.clock.said.strip()!r} is not a time of day")
    candidates: list[tuple[datetime, str, date, int]] = []
    for d in _days(r.day, today):
        for hour, extra in hours:
            for at, dst_note in _localizations(d + timedelta(days=extra), hour, r.clock.minute, zone):
                candidates.append((at, dst_note, d, hour))
    candidates.sort(key=lambda c: _utc(c[0]))
    ahead = [c for c in candidates if _utc(c[0]) > _utc(now)]
    if not ahead:
        _check_range(candidates[-1][0], now, r.lang)
    at, dst_note, d, hour = ahead[0]
    _check_range(at, now, r.lang)
    notes = []
    if len(hours) > 1:
        said = r.clock.said.strip()
        notes.append(_say(r.lang, f"read {said!r} as {hour:02d}:{r.clock.minute:02d}; say am or pm to be sure",
                          f"“{said}”按{hour:02d}:{r.clock.minute:02d}理解；可以说“早上”或“晚上”"))
    if r.day is None and d != today:
        notes.append(_say(r.lang, f"{at:%H:%M} has passed today, so tomorrow",
                          f"今天的{at:%H:%M}已过，按明天"))
    elif r.day is not None and r.day.kind == "ymd" and r.day.year is None and d.year != today.year:
        notes.append(_say(r.lang, f"{r.day.said.strip()} has passed this year, so {d.year}",
                          f"今年的{r.day.said.strip()}已过，按{d.year}年"))
    elif r.day is not None and r.day.kind == "next_weekday":
        if d - timedelta(days=d.weekday()) == today - timedelta(days=today.weekday()):
            week_after = d + timedelta(days=7)
            notes.append(f"read {r.day.said.strip()!r} as {at:%a} {_dm(at)}, this week; for the week after "
                         f"say '{week_after:%b} {week_after.day}'")
    if dst_note:
        notes.append(dst_note)
    return at, "; ".join(notes)


# ---- the dateparser fallback ------------------------------------------------------------------

_FALLBACK_NEEDS = re.compile(r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|"
                             r"sat|sun|today|tomorrow|tonight|days?|weeks?)")


@functools.lru_cache(maxsize=1)
def _dateparser():  # imported late: it is slow to load and only the fallback needs it
    from dateparser.date import DateDataParser
    return DateDataParser


def _fallback(text: str, pos: int, zone: ZoneInfo, now: datetime) -> tuple[datetime, int, str] | None:
    """Longer English phrasings via dateparser, only when it names a time of day and a day word."""
    head = text[pos:pos + 120]
    if not head.isascii():
        head = re.split(r"[^\x00-\x7f]", head, maxsplit=1)[0]
    words = list(re.finditer(r"\S+", head))[:8]
    if len(words) < 2:
        return None
    local_now = now.astimezone(zone).replace(tzinfo=None)
    parser = _dateparser()(languages=["en"], settings={
        "RELATIVE_BASE": local_now, "PREFER_DATES_FROM": "future", "RETURN_TIME_AS_PERIOD": True,
        "RETURN_AS_TIMEZONE_AWARE": False})
    for n in range(len(words), 1, -1):
        phrase = head[:words[n - 1].end()]
        if not _FALLBACK_NEEDS.search(phrase) or re.search(r"\d+/\d+", phrase):
            continue  # "12/05" is December or May depending on who typed it
        try:
            data = parser.get_date_data(phrase)
        except Exception:  # dateparser raises a variety of errors on odd input
            continue
        if data.date_obj is None or data.period != "time":
            continue
        naive = data.date_obj
        at, note = _localize(naive.date(), naive.hour, naive.minute, zone)
        return at, pos + words[n - 1].end(), note
    return None


# ---- parse_when --------------------------------------------------------------------------------

def parse_when(text: str, *, now: datetime, tz: str) -> ParsedWhen:
    """The time at the start of ``text`` in zone ``tz`` (or the zone the text names), and the rest.

    ``now`` must be timezone-aware. Raises `WhenError` with a message a host can act on.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse_when needs a timezone-aware now")
    room_zone = validate_tz(tz)
    source = (text or "").translate(_FULLWIDTH)  # same length: indices stay valid for the original
    start = len(source) - len(source.lstrip())
    lang = _lang_of(source[start:start + 24])
    example = _say(lang, f"I could not read a time in {source.strip()!r}; try 'tomorrow 8pm' or '周五晚上8点'",
                   f"没看懂“{source.strip()}”里的时间；可以写“明天晚上8点”或“周五20:00”")
    if not source.strip():
        raise WhenError(example)

    relative = _relative(source, start)
    if relative is not None:
        seconds, end, zone_name = relative
        zone = validate_tz(zone_name) if zone_name else room_zone
        if seconds <= 0:
            raise WhenError(_say(lang, "give a time in the future, e.g. 'in 2 hours'", "请给一个将来的时间，比如“2小时后”"))
        at = (now.astimezone(timezone.utc) + timedelta(seconds=seconds)).astimezone(zone)
        _check_range(at, now, lang)
        return ParsedWhen(at=at, rest=_strip_rest(text[end:]), matched=text[start:end].strip(),
                          zone=zone_label(zone))

    reading, end = _scan(source, start)
    zone = reading.zone or room_zone
    if reading.clock is None:
        fallback = _fallback(source, start, zone, now) if reading.day is None or lang == "en" else None
        if fallback is not None:
            at, end, note = fallback
            _check_range(at, now, lang)
            return ParsedWhen(at=at, rest=_strip_rest(text[end:]), matched=text[start:end].strip(),
                              zone=zone_label(zone), note=note)
        if reading.day is not None or reading.period is not None:
            said = source[start:end].strip()
            raise WhenError(_say(reading.lang, f"{said!r} needs a time of day too, e.g. '{said} 8pm'",
                                 f"“{said}”还需要具体几点，比如“{said}晚上8点”"))
        if reading.zone is not None:
            raise WhenError(_say(lang, f"{source[start:end].strip()!r} names a time zone but no time; "
                                 "try '8pm Europe/Berlin'", "只写了时区，没有时间；比如“北京时间晚上8点”"))
        raise WhenError(example)
    at, note = _resolve(reading, zone, now)
    return ParsedWhen(at=at, rest=_strip_rest(text[end:]), matched=text[start:end].strip(),
                      zone=zone_label(zone), note=note)


def _relative(text: str, pos: int) -> tuple[float, int, str | None] | None:
    """"in 2 hours", "90 minutes from now", "3小时后": seconds, end, and a zone named after it."""
    en = _EN_RELATIVE.match(text, pos)
    found = _duration(text, en.end() if en else pos)
    if found is None:
        return None
    seconds, end = found
    if en is None:
        after = _CN_AFTER.match(text, end) or _EN_FROM_NOW.match(text, end)
        if after is None:
            return None  # "30 minutes of cooking" is a title, not a time
        end = after.end()
    elif seconds % 86400 == 0 and re.match(r"(?i)\s+(?:at\s+)?\d", text[end:]):
        return None  # "in 3 days at 8pm": a day and a clock, for the fallback
    zone_name = None
    ws = re.match(r"\s*", text[end:])
    cursor = end + (ws.end() if ws else 0)
    for regex in (_ZONE_CN, _ZONE_UTC, _ZONE_IANA):
        if (m := regex.match(text, cursor)) and (regex is not _ZONE_IANA or _iana_or_none(m.group(0))):
            zone_name, end = m.group(0), m.end()
            break
    return seconds, end, zone_name


# ---- format_when ---------------------------------------------------------------------------------

_ZH_WEEKDAYS = "一二三四五六日"


def format_when(dt: datetime, *, now: datetime, lang: str = "en", show_tz: bool | None = None) -> str:
    """A short rendering for bot replies: "tomorrow 20:00 (Asia/Shanghai)", "明天 20:00".

    Read in ``dt``'s own zone. ``show_tz`` None: English always names the zone,
    Chinese only when it is not Beijing time (the default a Chinese room assumes).
    """
    if dt.tzinfo is None or now.tzinfo is None:
        raise ValueError("format_when needs timezone-aware datetimes")
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', not {lang!r}")
    zone = dt.tzinfo
    label = zone_label(zone)
    days = (dt.date() - now.astimezone(zone).date()).days
    clock = f"{dt:%H:%M}"
    if lang == "zh":
        names = {-1: "昨天", 0: "今天", 1: "明天", 2: "后天"}
        if days in names:
            head = names[days]
        else:
            year = f"{dt.year}年" if dt.year != now.astimezone(zone).year else ""
            head = f"{year}{dt.month}月{dt.day}日 周{_ZH_WEEKDAYS[dt.weekday()]}"
        show = show_tz if show_tz is not None else getattr(zone, "key", None) not in _BEIJING
        return f"{head} {clock}" + (f"（{label}）" if show else "")
    names = {-1: "yesterday", 0: "today", 1: "tomorrow"}
    if days in names:
        head = names[days]
    else:
        head = f"{dt:%a} {dt.day} {dt:%b}" + (f" {dt.year}" if dt.year != now.astimezone(zone).year else "")
    show = True if show_tz is None else show_tz
    return f"{head} {clock}" + (f" ({label})" if show else "")

