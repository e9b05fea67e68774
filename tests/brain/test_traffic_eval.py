"""Forecast evaluation on series.csv files: the scores, the baselines and what a malformed file does."""

import json
import math

import numpy as np
import pytest

from brain.traffic.traffic_eval import (
    KEYS,
    calendar_seasons,
    evaluate_forecast,
    main,
    read_series_csv,
    synthetic_hourly,
    write_series_csv,
)

MONDAY = 1767571200.0  # 2026-01-05 00:00 UTC


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def hourly_csv(tmp_path, kind, weeks, seed):
    y = synthetic_hourly(weeks, seed=seed, kind=kind)
    return write_series_csv(tmp_path / f"{kind}-{weeks}-{seed}.csv", MONDAY + 3600 * np.arange(len(y)), y)


def chat_minutes(n: int, seed: int) -> np.ndarray:
    """Chat per minute in a stream: a slowly wandering level, overdispersed counts around it."""
    rng = np.random.default_rng(seed)
    log_level = np.log(rng.uniform(20, 200)) + np.cumsum(rng.normal(0, 0.05, n))
    return rng.poisson(np.exp(log_level) * rng.gamma(3, 1 / 3, n)).astype(float)


def test_scores_have_exactly_the_keys_and_beat_the_baselines_on_hourly_traffic(tmp_path):
    ratios = []
    for kind in ("smooth", "streams", "daily"):
        for seed in range(3):
            path = hourly_csv(tmp_path, kind, 6, seed)
            for season, horizon in ((24, 24), (168, 168)):
                r = evaluate_forecast(path, horizon=horizon, season=season)
                assert tuple(r) == KEYS and r["points"] == 6 * 168
                assert r["mase"] < r["mase_naive"] or kind == "streams"  # naive is strong on an off-air night
                assert 0.4 <= r["coverage80"] <= 1.0 and r["seconds"] < 1.0
                ratios.append(r["mase"] / r["mase_seasonal_naive"])
    assert np.mean(np.array(ratios) < 1.0) >= 0.8, ratios
    assert float(np.mean(ratios)) < 0.85, ratios


def test_minute_series_with_season_one_beats_the_naive_forecast(tmp_path):
    model, naive = [], []
    for seed in range(10):
        y = chat_minutes(254, seed)  # the shape of the real bilibili series: 254 minutes, horizon 30
        path = write_series_csv(tmp_path / f"m{seed}.csv", MONDAY + 60 * np.arange(len(y)), y)
        r = evaluate_forecast(path, horizon=30, season=1)
        assert r["mase_naive"] == r["mase_seasonal_naive"]  # M = 1: the same forecast
        model.append(r["mase"])
        naive.append(r["mase_naive"])
    model, naive = np.array(model), np.array(naive)
    # where the backtest found the naive forecast best, the model is the naive forecast: a tie
    assert np.mean(model <= naive) >= 0.6 and model.mean() < 0.8 * naive.mean(), (model, naive)


def test_malformed_files_name_the_file_and_line(tmp_path):
    cases = {
        "header.csv": ("time,count\n2026-01-01 00:00,1\n", r"header.csv:1: expected the header 'ts,value'"),
        "value.csv": ("ts,value\n2026-01-01 00:00,1\n2026-01-01 00:01,lots\n", r"value.csv:3: value 'lots' is not a number"),
        "stamp.csv": ("ts,value\n2026-01-01 00:00,1\nyesterday-ish,2\n", r"stamp.csv:3: timestamp 'yesterday-ish'"),
        "fields.csv": ("ts,value\n2026-01-01 00:00,1,9\n", r"fields.csv:2: expected 2 fields"),
        "inf.csv": ("ts,value\n2026-01-01 00:00,inf\n2026-01-01 00:01,1\n", r"inf.csv:2: value 'inf' is infinite"),
        "empty.csv": ("", r"empty.csv: empty file"),
        "rows.csv": ("ts,value\n", r"rows.csv: no data rows"),
        "one.csv": ("ts,value\n2026-01-01 00:00,1\n2026-01-01 00:00,2\n", r"one.csv: needs at least two distinct"),
    }
    for name, (text, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            evaluate_forecast(write(tmp_path, name, text), horizon=1, season=1)
    with pytest.raises(ValueError, match="cannot read"):
        read_series_csv(tmp_path / "missing.csv")


def test_gaps_duplicates_order_and_off_grid_rows_are_repaired_and_counted(tmp_path):
    rows = [f"2026-01-01 00:{m:02d}:00,{m}" for m in range(20) if m not in (7, 8)]  # minutes 7 and 8 missing
    rows[3], rows[4] = rows[4], rows[3]            # out of order
    rows.append("2026-01-01 00:05:00,100")         # a duplicate: summed
    rows.append("")                                # blank: skipped
    rows.append("2026-01-01 00:20:10,20")          # 10 s off the grid: snapped to 00:20
    rows.append("2026-01-01 00:21:00,")            # empty value: missing
    rows.append("2026-01-01 01:22:00+01:00,22")    # an offset: converted (00:22 UTC)
    text = "ts,value\n" + "\n".join(rows) + "\n"
    ts, values, info = read_series_csv(write(tmp_path, "messy.csv", text))
    assert info.step == 60.0 and info.reordered and info.duplicates == 1 and info.off_grid == 1
    assert info.rows == 22 and info.missing == 3 and len(values) == 23
    assert ts[0] == 1767225600.0 and values[5] == 105.0 and values[20] == 20.0 and values[22] == 22.0
    assert np.isnan(values[[7, 8, 21]]).all()
    _, zero, info0 = read_series_csv(write(tmp_path, "messy2.csv", text), fill="zero")
    assert info0.missing == 3 and zero[[7, 8, 21]].tolist() == [0.0, 0.0, 0.0]


def test_a_series_with_gaps_is_scored_on_the_points_it_has(tmp_path):
    y = synthetic_hourly(4, seed=1, kind="smooth")
    keep = np.ones(len(y), dtype=bool)
    keep[[100, 101, 102, 500, len(y) - 5]] = False  # a gap in training and one in the holdout
    path = write_series_csv(tmp_path / "gaps.csv", (MONDAY + 3600 * np.arange(len(y)))[keep], y[keep])
    r = evaluate_forecast(path, horizon=24, season=24)
    assert r["points"] == len(y) and all(math.isfinite(r[k]) for k in KEYS if k != "model")
    assert r["mase"] < r["mase_seasonal_naive"]


def test_constant_series_does_not_crash(tmp_path):
    path = write_series_csv(tmp_path / "flat.csv", MONDAY + 3600 * np.arange(100), np.full(100, 3.0))
    r = evaluate_forecast(path, horizon=10, season=24)
    assert r["mase"] == 0.0 and r["mase_naive"] == 0.0 and r["coverage80"] == 1.0
    bump = np.full(100, 3.0)
    bump[-1] = 4.0  # the holdout differs from a constant training part: infinitely worse than no error
    r = evaluate_forecast(write_series_csv(tmp_path / "bump.csv", MONDAY + 3600 * np.arange(100), bump),
                          horizon=10, season=24)
    assert r["mase"] == math.inf


def test_too_short_for_the_split_is_a_clear_error(tmp_path):
    path = write_series_csv(tmp_path / "short.csv", MONDAY + 3600 * np.arange(30), np.arange(30.0))
    with pytest.raises(ValueError, match="need more than season 24"):
        evaluate_forecast(path, horizon=10, season=24)
    with pytest.raises(ValueError, match="horizon"):
        evaluate_forecast(path, horizon=0, season=1)


def test_calendar_seasons_follow_the_step():
    assert calendar_seasons(3600, 24) == (24, 168)
    assert calendar_seasons(3600, 1) == (24, 168)
    assert calendar_seasons(60, 1) == (1440, 10080)
    assert calendar_seasons(86400, 1) == (7,)
    assert calendar_seasons(7 * 60, 5) == (5, 1440)  # a 7-minute step divides a week, not a day


def test_command_line_prints_json_and_fails_cleanly(tmp_path, capsys):
    path = hourly_csv(tmp_path, "smooth", 3, 0)
    assert main([str(path), "--horizon", "24", "--season", "24", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert tuple(out) == KEYS
    bad = write(tmp_path, "bad.csv", "ts,value\n2026-01-01 00:00,x\n")
    assert main([str(bad), "--horizon", "1", "--season", "1"]) == 2
    assert "bad.csv:2" in capsys.readouterr().err
