"""Traffic: activity series from the store, forecasts, live anomalies, stream-time suggestions, charts."""

import math
import time
import warnings
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from adapters.model import MemberEvent, MessageEvent, Room, User, ViewerCountEvent
from brain.store.event_store import Store
from brain.traffic.anomalies import AnomalyDetector
from brain.traffic.forecast import Forecaster, forecast
from brain.traffic.live_sessions import Session, find_sessions
from brain.traffic.plots import plot_forecast
from brain.traffic.series import DAY, HOUR, WEEK, ActivitySeries, activity_series, weekly_profile
from brain.traffic.slots import suggest_slots
from brain.traffic.traffic_eval import synthetic_hourly

ROOM = Room("replay", "r1")
OTHER = Room("replay", "r2")
T0 = datetime(2026, 1, 5, 20, 0, tzinfo=timezone.utc)  # a Monday


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def chat(i: int, seconds: float, user: str, text: str = "hi", room: Room = ROOM) -> MessageEvent:
    return MessageEvent(event_id=f"m{i}", room=room, author=User("replay", user, user), text=text, ts=at(seconds))


@pytest.fixture
def store(database_url):
    s = Store(database_url, flush_interval=0.2)
    yield s
    s.close()


def fill_room(store: Store) -> None:
    rows = [
        chat(1, 5, "ann", "how much is the blender?"),
        chat(2, 20, "ann"),
        chat(3, 50, "bob", "hello"),
        chat(4, 65, "bob"),            # minute 1
        chat(5, 250, "cy", "where can i buy it"),  # minute 4; minutes 2 and 3 are empty
        chat(6, 30, "zed", room=OTHER),  # another room: never counted
    ]
    for ev in rows:
        store.record(ev)
    store.record(MemberEvent(event_id="j1", room=ROOM, author=User("replay", "dan", "dan"), joined=True, ts=at(70)))
    store.record(MemberEvent(event_id="j2", room=ROOM, author=User("replay", "eve", "eve"), joined=False, ts=at(75)))
    sys_user = User("replay", "obs", "obs")
    store.record(ViewerCountEvent(event_id="v1", room=ROOM, author=sys_user, count=40, ts=at(10)))
    store.record(ViewerCountEvent(event_id="v2", room=ROOM, author=sys_user, count=55, ts=at(40)))  # last of minute 0
    assert store.flush()


# ---- activity series ---------------------------------------------------------------------------

def test_store_series_buckets_by_minute_with_zero_filled_gaps(store):
    fill_room(store)
    s = activity_series(store, "replay:r1", viewers_ffill=2)
    assert s.step == 60 and s.start == T0.timestamp() and len(s) == 5
    assert s.messages.tolist() == [3, 1, 0, 0, 1]
    assert s.chatters.tolist() == [2, 1, 0, 0, 1]
    assert s.joins.tolist() == [0, 1, 0, 0, 0]  # a leave is not a join
    # the last count of minute 0, carried over two minutes, then unknown
    assert s.viewers[:3].tolist() == [55.0, 55.0, 55.0] and np.isnan(s.viewers[3:]).all()
    # no questions table rows for the room: detected in the chat text
    assert s.questions_source == "detected" and s.questions.tolist() == [1, 0, 0, 0, 1]
    assert s.ts[1] - s.ts[0] == 60 and s.end == s.start + 300
    frame = s.to_frame()
    assert list(frame.columns) == ["messages", "chatters", "questions", "joins", "viewers"]
    assert str(frame.index.tz) == "UTC"


def test_questions_come_from_the_questions_table_when_it_has_rows(store):
    fill_room(store)
    store.record_question({"room": "replay:r1", "event_id": "m2", "user_key": "replay:ann", "user_name": "ann",
                           "text": "is it loud", "lang": "en", "status": "answered", "ts": at(20).timestamp(),
                           "answered_at": at(21).timestamp()})
    store.flush()
    s = activity_series(store, "replay:r1")
    assert s.questions_source == "table" and s.questions.tolist() == [1, 0, 0, 0, 0]
    assert activity_series(store, "replay:r1", questions="detect").questions.tolist() == [1, 0, 0, 0, 1]


def test_events_path_matches_the_sql_path(store):
    fill_room(store)
    from_sql = activity_series(store, "replay:r1")
    from_events = activity_series(list(store.iter_events()), "replay:r1")
    assert from_events.start == from_sql.start
    for name in ("messages", "chatters", "questions", "joins"):
        assert from_events.metric(name).tolist() == from_sql.metric(name).tolist()
    np.testing.assert_array_equal(from_events.viewers, from_sql.viewers)


def test_hour_day_week_roll_ups_count_distinct_chatters_per_bucket(store):
    fill_room(store)
    hourly = activity_series(store, "replay:r1", step=HOUR)
    assert hourly.messages.tolist() == [5] and hourly.chatters.tolist() == [3]  # not 2+1+1 (minute sums)
    weekly = activity_series(store, "replay:r1", step=WEEK)
    start = datetime.fromtimestamp(weekly.start, tz=timezone.utc)
    assert start == datetime(2026, 1, 5, tzinfo=timezone.utc) and start.weekday() == 0
    daily = activity_series(store, "replay:r1", step=DAY)
    assert daily.start == datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()


def test_since_and_until_bound_the_series(store):
    fill_room(store)
    s = activity_series(store, "replay:r1", since=T0.timestamp() - 120, until=T0.timestamp() + 600)
    assert len(s) == 12 and s.messages.tolist()[:3] == [0, 0, 3] and s.messages.sum() == 5


def test_an_empty_room_gives_an_empty_series(store):
    fill_room(store)
    s = activity_series(store, "replay:nobody")
    assert len(s) == 0 and s.messages.dtype == np.int64
    with pytest.raises(ValueError, match="room key"):
        activity_series(store)
    with pytest.raises(ValueError, match="step"):
        activity_series(store, "replay:r1", step=0)


def test_weekly_profile_is_in_local_time(store):
    fill_room(store)
    s = activity_series(store, "replay:r1", step=HOUR)
    berlin = weekly_profile(s, tz="Europe/Berlin")
    assert berlin.shape == (7, 24) and berlin.loc["Mon", 21] == 5  # 20:00 UTC is 21:00 in Berlin in January
    with pytest.raises(ValueError, match="Mars/Olympus"):
        weekly_profile(s, tz="Mars/Olympus")


def test_many_stored_events_become_a_series_quickly(tmp_path):
    """The bucketing runs in SQL: 100k events here (bench/traffic.py does 1M) in well under a second or two."""
    import sqlite3

    path = tmp_path / "big.sqlite"
    Store(f"sqlite:///{path}").close()
    rng = np.random.default_rng(0)
    n = 100_000
    ts = T0.timestamp() + np.sort(rng.uniform(0, 14 * 86400, n))
    users = rng.integers(0, 5000, n)
    con = sqlite3.connect(path)
    con.executemany("INSERT INTO events (event_id, room, platform, source, kind, direction, user_key, user_name, "
                    "role, text, ts, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    ((str(i), "replay:big", "replay", "replay", "chat", "in", f"replay:u{u}", "u", "viewer", "hi",
                      float(t), float(t)) for i, (t, u) in enumerate(zip(ts, users))))
    con.commit()
    con.close()
    s = Store(f"sqlite:///{path}")
    t = time.perf_counter()
    series = activity_series(s, "replay:big", questions="table")
    elapsed = time.perf_counter() - t
    s.close()
    assert series.messages.sum() == n and len(series) == 14 * 1440
    assert series.chatters.max() <= series.messages.max()
    assert elapsed < 3.0


# ---- forecasting -------------------------------------------------------------------------------

def no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    assert not caught, [str(w.message) for w in caught]
    return out


def test_constant_series_gets_a_flat_forecast_with_zero_width():
    fc = no_warnings(forecast, np.full(500, 7.0), horizon=24, season=(24, 168))
    assert fc.method == "constant" and "constant" in fc.note
    assert np.all(fc.mean == 7.0) and np.all(fc.lower == fc.upper)
    assert no_warnings(forecast, np.zeros(10), horizon=3).mean.tolist() == [0.0, 0.0, 0.0]


def test_too_short_for_a_season_falls_back_and_says_so():
    rng = np.random.default_rng(1)
    fc = no_warnings(forecast, rng.poisson(20, 30).astype(float), horizon=5, season=24)
    assert fc.method == "ses" and "too short for season 24" in fc.note and len(fc) == 5
    tiny = no_warnings(forecast, [3.0, 5.0, 4.0], horizon=2)
    assert tiny.method == "naive" and tiny.mean.tolist() == [4.0, 4.0] and "only 3 points" in tiny.note
    one = no_warnings(forecast, [3.0], horizon=2)
    assert one.mean.tolist() == [3.0, 3.0]


def test_seasonal_forecast_beats_seasonal_naive_on_synthetic_hourly_traffic():
    wins, ratios = 0, []
    for kind in ("smooth", "streams", "daily"):
        for seed in range(3):
            y = synthetic_hourly(8, seed=seed, kind=kind)
            train, test = y[:-168], y[-168:]
            fc = no_warnings(forecast, train, horizon=168, season=(24, 168))
            assert fc.method in fc.scores  # chosen by backtest (tests/brain/test_forecast_selection.py)
            assert np.all(fc.lower <= fc.mean) and np.all(fc.mean <= fc.upper) and np.all(fc.lower >= 0)
            model = np.mean(np.abs(test - fc.mean))
            snaive = np.mean(np.abs(test - train[-168:]))
            wins += model <= snaive  # a tie: the backtest found last week repeated best, and took it
            ratios.append(model / snaive)
    # per seed the seasonal naive can get lucky (a daily streamer's last week happens to match the next)
    assert wins >= 7 and float(np.mean(ratios)) < 0.9, ratios


def test_interval_coverage_is_near_the_level():
    inside = []
    for seed in range(6):
        y = synthetic_hourly(6, seed=seed, kind="smooth")
        fc = forecast(y[:-168], horizon=168, season=(24, 168), level=0.8)
        inside.append(np.mean((y[-168:] >= fc.lower) & (y[-168:] <= fc.upper)))
    assert 0.65 <= float(np.mean(inside)) <= 0.95


def test_missing_values_are_handled():
    y = synthetic_hourly(4, seed=3, kind="smooth")
    holes = y.copy()
    holes[[0, 1, 50, 51, 52, 400]] = np.nan
    fc = no_warnings(forecast, holes[:-24], horizon=24, season=(24, 168))
    assert np.isfinite(fc.mean).all() and fc.method == "profile"
    smooth = no_warnings(forecast, holes[:40], horizon=5)  # too short: smoothing, over interpolated values
    assert np.isfinite(smooth.mean).all()
    with pytest.raises(ValueError, match="no observed"):
        forecast([np.nan, np.nan], horizon=2)
    with pytest.raises(ValueError, match="empty"):
        forecast([], horizon=2)
    with pytest.raises(ValueError, match="infinite"):
        forecast([1.0, math.inf], horizon=2)


def test_counts_are_clipped_and_signed_series_are_not():
    falling = np.maximum(0, 50 - np.arange(60)).astype(float)
    assert (forecast(falling, horizon=30).lower >= 0).all()
    signed = np.sin(np.arange(200) / 5) * 10 - 5
    assert forecast(signed, horizon=10).lower.min() < 0


def test_options_are_validated():
    with pytest.raises(ValueError, match="level"):
        Forecaster(24, level=1.5)
    with pytest.raises(ValueError, match="method"):
        Forecaster(24, method="prophet")
    with pytest.raises(ValueError, match="season"):
        Forecaster(2.5)
    with pytest.raises(RuntimeError, match="fit"):
        Forecaster(24).predict(3)


def test_comparison_methods_run_and_fall_back():
    y = synthetic_hourly(3, seed=0, kind="smooth")
    for method in ("naive", "snaive", "ets", "profile", "ses"):
        fc = no_warnings(forecast, y[:-24], horizon=24, season=(24, 168), method=method)
        assert len(fc) == 24 and fc.method == method
    short = forecast(y[:30], horizon=4, season=24, method="snaive")
    assert short.method == "ses" and "fell back" in short.note


def test_a_year_of_hourly_data_fits_within_two_seconds():
    y = synthetic_hourly(52, seed=0, kind="streams")[:8760]
    f = Forecaster((24, 168))
    t = time.perf_counter()
    fc = f.fit(y, horizon=168).predict(168)
    assert time.perf_counter() - t < 2.0 and f.method in f.scores and len(fc) == 168


# ---- anomalies ---------------------------------------------------------------------------------

def minute_traffic(seed: int, n: int = 1440, base: float = 30.0):
    """Overdispersed per-minute chat with injected raids (×3-6) and dead stretches (×0.02)."""
    rng = np.random.default_rng(seed)
    lam = base * (1 + 0.5 * np.sin(2 * np.pi * np.arange(n) / n))
    truth = []
    pos = 120
    while pos < n - 60:
        kind = "spike" if rng.random() < 0.5 else "drop"
        length = int(rng.integers(5, 20)) if kind == "spike" else int(rng.integers(8, 30))
        lam[pos:pos + length] *= rng.uniform(3, 6) if kind == "spike" else 0.02
        truth.append((kind, pos, pos + length))
        pos += length + int(rng.integers(60, 180))
    lam = lam * rng.gamma(20, 1 / 20, n)
    return rng.poisson(lam).astype(float), truth


def test_spikes_and_drops_are_found_with_high_precision_and_recall():
    tp = fp = fn = 0
    for seed in range(10):
        y, truth = minute_traffic(seed)
        det = AnomalyDetector()
        alarms = [a for v in y if (a := det.update(v)) is not None]
        matched = set()
        for a in alarms:
            hits = [k for k, (kind, s, _) in enumerate(truth) if kind == a.kind and s <= a.index <= s + 5]
            inside = any(s <= a.index <= e + 10 for _, s, e in truth)
            if hits and hits[0] not in matched:
                matched.add(hits[0])
                tp += 1
            elif not inside:
                fp += 1
        fn += len(truth) - len(matched)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert tp > 80
    assert precision >= 0.95, (precision, tp, fp)
    assert recall >= 0.95, (recall, tp, fn)


def test_one_raid_gives_one_notice_and_the_reason_says_why():
    rng = np.random.default_rng(0)
    y = rng.poisson(20, 200).astype(float)
    y[100:130] = rng.poisson(150, 30)  # a 30-minute raid
    det = AnomalyDetector()
    notices = [(i, a) for i, v in enumerate(y) if (a := det.update(v, ts=1000.0 + 60 * i)) is not None]
    assert len(notices) == 1
    i, a = notices[0]
    assert i == 100 and a.kind == "spike" and a.score > 6 and a.ts == 1000.0 + 6000
    assert a.reason.startswith("spike: ") and "messages/min vs usual" in a.reason


def test_warm_up_never_alarms_and_a_quiet_room_never_drops():
    det = AnomalyDetector(warmup=30)
    assert all(det.update(v) is None for v in [5, 5, 500, 0, 0, 0] + [5] * 24)
    quiet = AnomalyDetector()
    rng = np.random.default_rng(2)
    assert all(quiet.update(v) is None for v in rng.poisson(1.0, 2000))


def test_a_dead_stream_is_a_drop_after_three_minutes_and_nan_is_skipped():
    det = AnomalyDetector()
    rng = np.random.default_rng(4)
    for v in rng.poisson(40, 60):
        assert det.update(v) is None
    assert det.update(float("nan")) is None
    assert det.update(0) is None and det.update(0) is None
    drop = det.update(0)
    assert drop is not None and drop.kind == "drop" and "for 3 min" in drop.reason
    assert all(det.update(0) is None for _ in range(100))  # one outage, one notice
    assert det.episode == "drop"


def test_a_forecast_can_be_the_baseline():
    det = AnomalyDetector(warmup=1)
    det.update(10)
    assert det.update(200, expected=190, lower=150, upper=230) is None  # the evening peak the forecast expects
    assert det.update(600, expected=190, lower=150, upper=230).kind == "spike"


# ---- sessions and slots ------------------------------------------------------------------------

def minute_series(start: datetime, days: int, streams, *, rate: float = 12.0, seed: int = 0) -> ActivitySeries:
    """A minute ActivitySeries with streams at local (weekday, hour, minutes, chatters/min) in ``streams``."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    messages = np.zeros(n, dtype=np.int64)
    chatters = np.zeros(n, dtype=np.int64)
    zone = start.tzinfo
    for d in range(days):
        day = start + timedelta(days=d)
        for weekday, hour, minutes, people in streams:
            if day.weekday() != weekday:
                continue
            begin = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
            i = int((begin - start).total_seconds() // 60)
            c = rng.poisson(people, minutes)
            chatters[i:i + minutes] = c
            messages[i:i + minutes] = c + rng.poisson(rate, minutes)
    zeros = np.zeros(n, dtype=np.int64)
    return ActivitySeries(room="replay:r1", step=60, start=start.timestamp(), messages=messages, chatters=chatters,
                          questions=zeros, joins=zeros, viewers=np.full(n, np.nan))


BERLIN = ZoneInfo("Europe/Berlin")


def test_sessions_split_on_gaps_of_more_than_thirty_minutes():
    zeros = np.zeros(300, dtype=np.int64)
    msgs = zeros.copy()
    msgs[10:40] = 2
    msgs[60:90] = 3   # a 20-minute gap: same session
    msgs[150:200] = 1  # a 60-minute gap: a new one
    msgs[280] = 5     # a lone message: too short
    s = ActivitySeries("r", 60, 0.0, msgs, msgs.copy(), zeros, zeros, np.full(300, np.nan))
    sessions = find_sessions(s)
    assert [(x.start, x.end) for x in sessions] == [(600.0, 5400.0), (9000.0, 12000.0)]
    assert sessions[0].messages == 150 and sessions[0].messages_per_min == pytest.approx(150 / 80)


def test_slots_follow_the_rooms_best_streams_in_its_time_zone():
    start = datetime(2026, 1, 5, tzinfo=BERLIN)  # Monday
    streams = [(4, 20, 150, 40), (1, 19, 120, 15), (6, 15, 120, 8)]  # Fri 20:00 is the room's best
    history = minute_series(start, 42, streams)
    now = start + timedelta(days=42, hours=9)  # Monday morning after six weeks
    slots = suggest_slots(history, now=now, tz="Europe/Berlin", top=3)
    assert len(slots) == 3
    best = slots[0]
    assert best.start.tzinfo == BERLIN and best.start.utcoffset() == timedelta(hours=1)
    assert (best.start.weekday(), best.start.hour) == (4, 20) and best.end - best.start == timedelta(minutes=120)
    assert best.past_streams == 6 and best.reason.startswith("Fridays 20:00 averaged")
    assert "over 6 streams; forecast" in best.reason and best.lower <= best.expected <= best.upper
    assert best.unit == "chatters/min" and best.confidence in ("medium", "high")
    assert {(s.start.weekday(), s.start.hour) for s in slots[1:]} == {(1, 19), (6, 15)} or len(slots) == 3
    for a in slots:
        for b in slots:
            assert a is b or a.end <= b.start or b.end <= a.start  # no overlap
    assert all(s.start > now for s in slots)


def test_short_history_says_confidence_is_low():
    start = datetime(2026, 1, 5, tzinfo=BERLIN)
    history = minute_series(start, 16, [(4, 20, 120, 30)])  # two Fridays
    slots = suggest_slots(history, now=start + timedelta(days=16, hours=8), tz="Europe/Berlin", metric="messages")
    assert slots and all(s.confidence == "low" for s in slots)
    assert (slots[0].start.weekday(), slots[0].start.hour) == (4, 20)
    assert "low confidence: only 16 days and 2 streams" in slots[0].reason and "low confidence" in slots.note
    assert slots[0].unit == "messages/min"


def test_empty_history_unknown_zone_and_naive_now():
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    empty = minute_series(start, 2, [])
    out = suggest_slots(empty, now=start + timedelta(days=3), tz="UTC")
    assert out == [] and "no chat recorded" in out.note
    with pytest.raises(ValueError, match="Atlantis/Nowhere"):
        suggest_slots(empty, now=start, tz="Atlantis/Nowhere")
    with pytest.raises(ValueError, match="timezone-aware"):
        suggest_slots(empty, now=datetime(2026, 1, 9), tz="UTC")


def test_given_sessions_are_used_instead_of_detected_ones():
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    history = minute_series(start, 21, [(2, 18, 120, 10)])
    fake = [Session(start=(start + timedelta(days=d, hours=18)).timestamp(),
                    end=(start + timedelta(days=d, hours=20)).timestamp(), messages=100, chatter_minutes=6000)
            for d in (2, 9, 16)]
    slots = suggest_slots(history, now=start + timedelta(days=21), tz="UTC", sessions=fake, top=1)
    assert slots[0].past_streams == 3 and slots[0].past_mean == pytest.approx(50.0)


# ---- charts ------------------------------------------------------------------------------------

def test_forecast_chart_is_a_png(tmp_path):
    y = synthetic_hourly(3, seed=0, kind="smooth")
    ts = 1767571200.0 + 3600 * np.arange(len(y))
    fc = forecast(y, horizon=48, season=(24, 168))
    det = AnomalyDetector(warmup=5)
    marks = [a for t, v in zip(ts, y * np.where(np.arange(len(y)) == 300, 20, 1)) if (a := det.update(v, ts=t))]
    out = plot_forecast(ts, y, fc, tmp_path / "charts" / "fc.png", title="r1", anomalies=marks, tz="Asia/Shanghai")
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    with pytest.raises(ValueError, match="values"):
        plot_forecast(ts[:-1], y, fc, tmp_path / "x.png")


def test_a_far_off_timestamp_in_an_old_database_cannot_blow_up_a_series(tmp_path):
    """Issue 17, fault 2: a year-0001 row once made report --list allocate 39 GiB. Edges now refuse such
    times; a database written before still holds them, so a series too long to be real ends by tomorrow
    and keeps at most MAX_SERIES_BUCKETS before that."""
    from brain.traffic import series as traffic

    store = Store(f"sqlite:///{tmp_path / 'old.sqlite'}")
    room = Room("replay", "r")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for i, ts in enumerate((datetime(1, 1, 1, tzinfo=timezone.utc), now - timedelta(minutes=5), now,
                            datetime(9999, 12, 31, 9, 59, tzinfo=timezone.utc))):
        store.record(MessageEvent(event_id=str(i), room=room, author=User("replay", "u", "u"), text="hi", ts=ts))
    try:
        started = time.perf_counter()
        from_store = activity_series(store, room.key)
        from_events = activity_series(list(store.iter_events(room=room.key)), room.key)
        assert time.perf_counter() - started < 5
        for series in (from_store, from_events):
            assert len(series) == traffic.MAX_SERIES_BUCKETS
            assert series.messages.sum() == 2  # the two recent rows; neither typo
    finally:
        store.close()
