"""Natural times for the scheduler: English and Chinese, explicit zones, DST, clear errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from brain.traffic.time_phrases import ParsedEvery, WhenError, format_when, parse_every, parse_when, validate_tz

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
#: Tuesday 1 Dec 2026, 08:00 in Shanghai; every test passes its own now.
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=SH)


def at(*args: int, tz: ZoneInfo = SH) -> datetime:
    return datetime(*args, tzinfo=tz)


def when(text: str, now: datetime = NOW, tz: str = "Asia/Shanghai"):
    return parse_when(text, now=now, tz=tz)


@pytest.mark.parametrize("text, expected, rest", [
    ("tomorrow 8pm Cooking basics", at(2026, 12, 2, 20, 0), "Cooking basics"),
    ("fri 20:00 Q&A", at(2026, 12, 4, 20, 0), "Q&A"),
    ("2026-12-05 19:30 launch", at(2026, 12, 5, 19, 30), "launch"),
    ("in 2 hours", at(2026, 12, 1, 10, 0), ""),
    ("in 90 minutes Ask me anything", at(2026, 12, 1, 9, 30), "Ask me anything"),
    ("in an hour and a half x", at(2026, 12, 1, 9, 30), "x"),
    ("in 1h30m x", at(2026, 12, 1, 9, 30), "x"),
    ("next monday 9am standup", at(2026, 12, 7, 9, 0), "standup"),
    ("tonight 8 unboxing", at(2026, 12, 1, 20, 0), "unboxing"),
    ("dec 5 7pm", at(2026, 12, 5, 19, 0), ""),
    ("December 5th, 2026 at 7:30pm gala", at(2026, 12, 5, 19, 30), "gala"),
    ("5th of december at 7pm x", at(2026, 12, 5, 19, 0), "x"),
    ("8pm tomorrow: Cooking", at(2026, 12, 2, 20, 0), "Cooking"),
    ("tomorrow, 8pm - Cooking", at(2026, 12, 2, 20, 0), "Cooking"),
    ("tomorrow at noon lunch", at(2026, 12, 2, 12, 0), "lunch"),
    ("the day after tomorrow at 8pm x", at(2026, 12, 3, 20, 0), "x"),
    ("midnight release", at(2026, 12, 2, 0, 0), "release"),
    ("tonight 12", at(2026, 12, 2, 0, 0), ""),
    ("in 3 days at 8pm party", at(2026, 12, 4, 20, 0), "party"),  # the dateparser fallback
    ("7pm on the 5th x", at(2026, 12, 5, 19, 0), "x"),
    ("the 1st at 9am x", at(2026, 12, 1, 9, 0), "x"),  # today is the 1st and 09:00 is still ahead
    ("the 30th 8pm x", at(2026, 12, 30, 20, 0), "x"),
    ("8pm 2nd round", at(2026, 12, 1, 20, 0), "2nd round"),  # an ordinal needs "the" to be a date

    ("20:00", at(2026, 12, 1, 20, 0), ""),
    ("tomorrow 8pm AC/DC tribute", at(2026, 12, 2, 20, 0), "AC/DC tribute"),
    ("tomorrow 8pm today's deals", at(2026, 12, 2, 20, 0), "today's deals"),
])
def test_english_forms(text, expected, rest):
    parsed = when(text)
    assert parsed.at == expected and parsed.at.tzinfo == SH
    assert parsed.rest == rest
    assert parsed.zone == "Asia/Shanghai"
    assert text.startswith(parsed.matched)


@pytest.mark.parametrize("text, expected, rest", [
    ("明天晚上8点 新品发布", at(2026, 12, 2, 20, 0), "新品发布"),
    ("明天晚上8点新品发布", at(2026, 12, 2, 20, 0), "新品发布"),
    ("周五晚上8点", at(2026, 12, 4, 20, 0), ""),
    ("星期六下午3点半 茶话会", at(2026, 12, 5, 15, 30), "茶话会"),
    ("今晚8点", at(2026, 12, 1, 20, 0), ""),
    ("后天上午10点", at(2026, 12, 3, 10, 0), ""),
    ("12月5日19:30", at(2026, 12, 5, 19, 30), ""),
    ("12月5号 晚上7点半 直播", at(2026, 12, 5, 19, 30), "直播"),
    ("3小时后 开播", at(2026, 12, 1, 11, 0), "开播"),
    ("30分钟后", at(2026, 12, 1, 8, 30), ""),
    ("半小时后 开播", at(2026, 12, 1, 8, 30), "开播"),
    ("一个半小时后", at(2026, 12, 1, 9, 30), ""),
    ("下周一早上9点", at(2026, 12, 7, 9, 0), ""),
    ("下周二早上9点", at(2026, 12, 8, 9, 0), ""),  # next week's Tuesday, not today
    ("明早9点 早市", at(2026, 12, 2, 9, 0), "早市"),
    ("明天八点三十分 直播", at(2026, 12, 2, 8, 30), "直播"),
    ("明天晚上八点一刻", at(2026, 12, 2, 20, 15), ""),
    ("晚上12点", at(2026, 12, 2, 0, 0), ""),
    ("明天中午1点", at(2026, 12, 2, 13, 0), ""),
    ("明天20点 抽奖", at(2026, 12, 2, 20, 0), "抽奖"),
    ("明天８点半", at(2026, 12, 2, 8, 30), ""),  # full-width digits
    ("北京时间明天晚上8点 发布", at(2026, 12, 2, 20, 0), "发布"),
])
def test_chinese_forms(text, expected, rest):
    parsed = when(text)
    assert parsed.at == expected
    assert parsed.rest == rest


def test_a_single_digit_after_dian_is_the_title_not_minutes():
    parsed = when("明天晚上8点3款新品")
    assert parsed.at == at(2026, 12, 2, 20, 0) and parsed.rest == "3款新品"


def test_an_explicit_zone_overrides_the_rooms():
    berlin = when("8pm Europe/Berlin Cooking")
    assert berlin.at == datetime(2026, 12, 1, 20, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert berlin.zone == "Europe/Berlin" and berlin.rest == "Cooking"
    utc = when("20:00 UTC")
    assert utc.at == datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc) and utc.zone == "UTC"
    plus2 = when("tomorrow 8pm UTC+2 x")
    assert plus2.at.utcoffset() == timedelta(hours=2) and plus2.zone == "UTC+2"
    assert plus2.at == datetime(2026, 12, 2, 18, 0, tzinfo=timezone.utc)


def test_today_follows_the_named_zone_not_the_rooms():
    now = at(2026, 12, 1, 7, 0)  # 30 Nov 18:00 in New York
    parsed = when("today 9pm America/New_York", now=now)
    assert parsed.at == datetime(2026, 11, 30, 21, 0, tzinfo=NY)


@pytest.mark.parametrize("text", ["8pm EST", "tomorrow 20:00 CST show", "8pm PST"])
def test_zone_abbreviations_are_refused_with_an_iana_suggestion(text):
    with pytest.raises(WhenError, match=r"ambiguous.*America/"):
        when(text)


def test_unknown_zones_are_named_with_a_suggestion():
    with pytest.raises(WhenError, match=r"unknown time zone 'Europa/Berlin'.*Europe/Berlin"):
        when("tomorrow 8pm Europa/Berlin x")
    with pytest.raises(WhenError, match=r"unknown time zone 'Mars/Olympus'"):
        when("tomorrow 8pm", tz="Mars/Olympus")


def test_validate_tz():
    assert validate_tz("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert validate_tz("europe/berlin") == ZoneInfo("Europe/Berlin")
    assert validate_tz("UTC") == ZoneInfo("UTC") and validate_tz("gmt") == ZoneInfo("UTC")
    assert validate_tz("UTC+8") == ZoneInfo("Etc/GMT-8")
    assert validate_tz("北京时间") == ZoneInfo("Asia/Shanghai")
    for bad, message in [("", "no time zone"), ("EST", "ambiguous"), ("../../etc/passwd", "unknown"),
                         ("UTC+5:30", "whole-hour"), ("Nowhere/City", "unknown")]:
        with pytest.raises(WhenError, match=message):
            validate_tz(bad)


# ---- open readings: the earliest moment after now, and a note that says so --------------------

def test_a_bare_time_that_has_passed_today_means_tomorrow_and_says_so():
    parsed = when("07:00 early show")
    assert parsed.at == at(2026, 12, 2, 7, 0)
    assert "tomorrow" in parsed.note
    assert when("20:00").note == ""


def test_an_hour_without_am_or_pm_takes_the_next_occurrence_and_says_so():
    morning = when("tomorrow 8 cooking")
    assert morning.at == at(2026, 12, 2, 8, 0) and "08:00" in morning.note and morning.rest == "cooking"
    evening = when("at 8 show")  # 08:00 today has just passed (now is 08:00)
    assert evening.at == at(2026, 12, 1, 20, 0) and "20:00" in evening.note
    assert when("明天8点").note.startswith("“8点”按08:00")
    assert when("8:30 show", now=at(2026, 12, 1, 9, 0)).at == at(2026, 12, 1, 20, 30)
    # a leading zero or an hour from 13 is a 24-hour clock: nothing to guess
    assert when("08:30 show", now=at(2026, 12, 1, 9, 0)).at == at(2026, 12, 2, 8, 30)


def test_a_bare_number_alone_is_a_title_not_a_time():
    with pytest.raises(WhenError, match="could not read a time"):
        when("8 tips for cooking")


def test_weekdays_take_the_coming_one_and_next_says_when_it_is_this_week():
    assert when("tue 9am", now=at(2026, 12, 1, 8, 0)).at == at(2026, 12, 1, 9, 0)  # today, still ahead
    assert when("tue 7am", now=at(2026, 12, 1, 8, 0)).at == at(2026, 12, 8, 7, 0)  # passed: next week
    assert when("next tue 9am").at == at(2026, 12, 8, 9, 0)  # never today
    thu = when("next thu 8pm")
    assert thu.at == at(2026, 12, 3, 20, 0) and "this week" in thu.note and "Dec 10" in thu.note


def test_a_date_without_a_year_rolls_to_next_year_only_once_it_is_behind_today():
    nov = when("nov 20 7pm")
    assert nov.at == at(2027, 11, 20, 19, 0) and "2027" in nov.note
    with pytest.raises(WhenError, match=r"has already passed"):
        when("dec 1 7am")  # today's date with a passed time is a mistake, not next year


# ---- errors -----------------------------------------------------------------------------------

def test_unparseable_text_gets_examples_in_both_languages():
    with pytest.raises(WhenError) as e:
        when("blah")
    assert "I could not read a time in 'blah'" in str(e.value) and "周五晚上8点" in str(e.value)
    with pytest.raises(WhenError, match="明天晚上8点"):
        when("随便什么")


def test_a_pinned_time_in_the_past_is_an_error_naming_it():
    with pytest.raises(WhenError, match=r"that time \(Tue 1 Dec 07:00 Asia/Shanghai\) has already passed"):
        when("today 7am")
    with pytest.raises(WhenError, match=r"already passed"):
        when("2026-11-30 19:30 launch")
    with pytest.raises(WhenError, match="已经过去"):
        when("今天早上7点")
    with pytest.raises(WhenError, match="already passed"):
        when("today 7", now=at(2026, 12, 1, 21, 0))  # both 07:00 and 19:00 have passed


def test_a_date_without_a_time_is_refused():
    with pytest.raises(WhenError, match=r"'tomorrow' needs a time of day too"):
        when("tomorrow Cooking basics")
    with pytest.raises(WhenError, match="具体几点"):
        when("明天 新品")


def test_more_than_a_year_ahead_is_refused():
    with pytest.raises(WhenError, match="more than a year ahead"):
        when("2027-12-05 10:00")
    with pytest.raises(WhenError, match="more than a year ahead"):
        when("in 400 days")
    assert when("2027-11-30 10:00").at == at(2027, 11, 30, 10, 0)


def test_impossible_dates_and_times_are_refused():
    with pytest.raises(WhenError, match="no such date"):
        when("2027-02-30 10:00")
    with pytest.raises(WhenError, match="not a time of day|minutes must be"):
        when("tomorrow 25:00")
    with pytest.raises(WhenError, match="1 to 12"):
        when("tomorrow 13pm")


def test_now_must_be_aware_and_the_room_zone_valid():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_when("tomorrow 8pm", now=datetime(2026, 12, 1, 8, 0), tz="UTC")
    with pytest.raises(WhenError, match="ambiguous"):
        parse_when("tomorrow 8pm", now=NOW, tz="CST")


# ---- DST ---------------------------------------------------------------------------------------

def test_a_time_skipped_by_spring_forward_moves_forward_by_the_gap():
    now = datetime(2026, 3, 7, 12, 0, tzinfo=NY)  # the day before clocks jump from 02:00 to 03:00
    parsed = parse_when("tomorrow 2:30am", now=now, tz="America/New_York")
    assert parsed.at == datetime(2026, 3, 8, 3, 30, tzinfo=NY)
    assert parsed.at.utcoffset() == timedelta(hours=-4)
    assert "does not exist" in parsed.note
    after = parse_when("tomorrow 8pm", now=now, tz="America/New_York")
    assert after.at.utcoffset() == timedelta(hours=-4) and after.note == ""


def test_a_time_repeated_by_fall_back_takes_the_first_occurrence():
    now = datetime(2026, 10, 31, 12, 0, tzinfo=NY)
    parsed = parse_when("tomorrow 1:30am", now=now, tz="America/New_York")
    assert parsed.at.fold == 0 and parsed.at.utcoffset() == timedelta(hours=-4)  # EDT, the first 01:30
    assert "happens twice" in parsed.note


def test_relative_times_count_real_elapsed_time_across_dst():
    now = datetime(2026, 3, 8, 1, 30, tzinfo=NY)  # EST
    parsed = parse_when("in 2 hours", now=now, tz="America/New_York")
    # (same-zone subtraction in Python is wall-clock arithmetic; compare in UTC)
    assert parsed.at.astimezone(timezone.utc) - now.astimezone(timezone.utc) == timedelta(hours=2)
    assert parsed.at.replace(tzinfo=None) == datetime(2026, 3, 8, 4, 30)  # wall clock skipped an hour


def test_results_do_not_depend_on_the_machine_zone(monkeypatch):
    import time
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    if hasattr(time, "tzset"):
        time.tzset()
    try:
        assert when("tomorrow 8pm").at == at(2026, 12, 2, 20, 0)
    finally:
        monkeypatch.delenv("TZ")
        if hasattr(time, "tzset"):
            time.tzset()


# ---- parse_every ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds, rest", [
    ("30m", 1800, ""), ("2h", 7200, ""), ("1h30m Follow us!", 5400, "Follow us!"),
    ("90 minutes", 5400, ""), ("every 20 min Sale on", 1200, "Sale on"), ("每30分钟", 1800, ""),
    ("每2小时 关注主播", 7200, "关注主播"), ("每小时", 3600, ""), ("每半小时 抽奖", 1800, "抽奖"),
    ("每隔30分钟一次 关注", 1800, "关注"), ("every hour promo", 3600, "promo"), ("hourly x", 3600, "x"),
    ("1.5h x", 5400, "x"), ("every day", 86400, ""), ("every 7 days", 604800, ""), ("5m", 300, ""),
    ("every 1 hour and 30 minutes: hi", 5400, "hi"),
])
def test_parse_every(text, seconds, rest):
    assert parse_every(text) == ParsedEvery(seconds=seconds, rest=rest, matched=parse_every(text).matched)
    assert text.startswith(parse_every(text).matched)


@pytest.mark.parametrize("text, message", [
    ("2m", "too often"), ("every 4 minutes", "too often"), ("8d", "too long"), ("every 2 weeks", "too long"),
    ("30", "give the interval a unit"), ("every 30", "give the interval a unit"),
    ("blah", "could not read an interval"), ("每3分钟", "太短"), ("每十天", "太长"), ("", "could not read"),
])
def test_parse_every_errors(text, message):
    with pytest.raises(WhenError, match=message):
        parse_every(text)


# ---- format_when ---------------------------------------------------------------------------------

def test_format_when():
    assert format_when(at(2026, 12, 1, 20, 0), now=NOW) == "today 20:00 (Asia/Shanghai)"
    assert format_when(at(2026, 12, 2, 20, 0), now=NOW) == "tomorrow 20:00 (Asia/Shanghai)"
    berlin = datetime(2026, 12, 5, 19, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert format_when(berlin, now=NOW) == "Sat 5 Dec 19:30 (Europe/Berlin)"
    assert format_when(at(2027, 1, 8, 9, 5), now=NOW) == "Fri 8 Jan 2027 09:05 (Asia/Shanghai)"
    assert format_when(at(2026, 12, 2, 20, 0), now=NOW, lang="zh") == "明天 20:00"
    assert format_when(at(2026, 12, 3, 20, 0), now=NOW, lang="zh") == "后天 20:00"
    assert format_when(berlin, now=NOW, lang="zh") == "12月5日 周六 19:30（Europe/Berlin）"
    assert format_when(when("8pm UTC+2").at, now=NOW) == "today 20:00 (UTC+2)"
    assert format_when(at(2026, 12, 2, 20, 0), now=NOW, show_tz=False) == "tomorrow 20:00"
    with pytest.raises(ValueError):
        format_when(datetime(2026, 12, 2, 20, 0), now=NOW)


def test_format_when_reads_days_in_the_times_own_zone():
    # 23:30 on 1 Dec in New York is already 2 Dec in Shanghai, but "today" is about the time's zone
    ny = datetime(2026, 12, 1, 23, 30, tzinfo=NY)
    assert format_when(ny, now=datetime(2026, 12, 1, 13, 0, tzinfo=NY)) == "today 23:30 (America/New_York)"


def test_round_trip_through_format_and_parse_is_stable():
    for text in ["tomorrow 8pm", "fri 20:00", "明天晚上8点", "下周一早上9点"]:
        parsed = when(text)
        shown = format_when(parsed.at, now=NOW)
        assert shown.endswith("(Asia/Shanghai)")


def test_between_two_repeated_times_the_second_is_the_next_one():
    # 01:10 EST on 1 Nov 2026 is the second 01:10 of the day: the first 01:30 (EDT) passed 40 minutes
    # ago, the second (EST) is 20 minutes ahead. Comparisons are in real time, not wall-clock time.
    now = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=NY)
    parsed = parse_when("1:30am", now=now, tz="America/New_York")
    assert parsed.at.fold == 1 and parsed.at.utcoffset() == timedelta(hours=-5)
    assert parsed.at.astimezone(timezone.utc) - now.astimezone(timezone.utc) == timedelta(minutes=20)
    assert "using the second (EST)" in parsed.note
