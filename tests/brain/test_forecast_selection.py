"""Issue 18: the forecaster picks its model by rolling-origin backtest and never loses to seasonal naive there."""

import warnings

import numpy as np
import pytest
from scipy.signal import lfilter

from brain.traffic.forecast import Forecaster
from brain.traffic.forecast_models import ETS, SARIMA
from brain.traffic.forecast_selection import Backtest, choose, origins
from brain.traffic.traffic_eval import KEYS, evaluate_forecast, synthetic_hourly, write_series_csv

MONDAY = 1767571200.0  # 2026-01-05 00:00 UTC


def test_a_holiday_week_is_forecast_no_worse_than_the_same_hour_yesterday(tmp_path):
    # Five weeks of evening audiences, then nine holiday days peaking at 14:00: the old seasonal
    # profile kept forecasting the evenings (MASE 3.9 against 1.1 for yesterday's hours, seed 0).
    for seed in (0, 1):
        y = synthetic_hourly(6, seed=seed, kind="holiday")
        path = write_series_csv(tmp_path / f"holiday{seed}.csv", MONDAY + 3600 * np.arange(len(y)), y)
        r = evaluate_forecast(path, horizon=24, season=24)
        assert tuple(r) == KEYS and r["mase"] <= r["mase_seasonal_naive"], r
        assert r["model"] != "profile", r


def test_the_choice_never_loses_to_seasonal_naive_in_its_own_backtest():
    for kind in ("smooth", "streams", "holiday"):
        y = synthetic_hourly(4, seed=2, kind=kind)
        f = Forecaster((24, 168)).fit(y, horizon=24)
        assert set(f.scores) == {"profile", "snaive:24", "snaive:168", "holt_winters", "sarima"}
        assert f.scores[f.method] <= min(f.scores["snaive:24"], f.scores["snaive:168"]), f.scores
        assert f.method in ("profile", "snaive:24", "snaive:168") or f.scores[f.method] == min(f.scores.values())
        assert f.note.startswith("chosen by backtest over 7 origins") and f.method in f.note
        fc = f.predict(24)
        assert fc.method == f.method and dict(fc.scores) == f.scores and np.all(fc.lower <= fc.upper)


def test_near_ties_keep_the_preferred_model_and_nothing_worse_than_seasonal_naive_is_chosen():
    points = np.full(4, 24.0)
    near = Backtest({"profile": np.array([1.00, 0.90, 1.10, 1.00]), "snaive:24": np.array([1.3, 1.2, 1.4, 1.3]),
                     "sarima": np.array([0.80, 1.05, 0.95, 1.08])}, points)  # sarima 2% better, noisily
    assert choose(near, prefer=["profile", "snaive:24"], bound=["snaive:24"]) == "profile"
    clear = Backtest({**near.errors, "sarima": np.array([0.70, 0.62, 0.75, 0.71])}, points)
    assert choose(clear, prefer=["profile", "snaive:24"], bound=["snaive:24"]) == "sarima"
    # the profile is within one standard error of sarima but worse than the same hour yesterday: not chosen
    bounded = Backtest({"profile": np.array([0.6, 1.6, 0.7, 1.5]), "snaive:24": np.array([1.05, 1.05, 1.06, 1.04]),
                        "sarima": np.array([1.0, 1.0, 1.0, 1.0])}, points)
    assert choose(bounded, prefer=["profile"], bound=[]) == "profile"
    assert choose(bounded, prefer=["profile", "snaive:24"], bound=["snaive:24"]) == "sarima"
    assert bounded.scores["snaive:24"] == pytest.approx(1.05)
    assert np.isinf(Backtest({"x": np.array([1.0, np.inf])}, points[:2]).scores["x"])


def test_origins_step_back_a_cycle_from_the_end_and_too_short_a_series_keeps_the_default():
    assert origins(500, spacing=24, count=7, min_train=48) == [332, 356, 380, 404, 428, 452, 476]
    assert origins(100, spacing=24, count=7, min_train=48) == [52, 76]
    y = synthetic_hourly(1, seed=0, kind="noweekly")[:84]  # 3.5 days: one origin after two days
    f = Forecaster((24, 168)).fit(y, horizon=24)
    assert f.method == "profile" and f.scores == {} and "too short for a backtest" in f.note
    minutes = np.random.default_rng(0).poisson(40, 200).astype(float)  # no usable season: ses against naive
    f = Forecaster(1).fit(minutes, horizon=30)
    assert set(f.scores) == {"ses", "naive"} and f.method in f.scores


def test_sarima_by_conditional_least_squares_matches_statsmodels_sarimax():
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    s = 4
    e = np.random.default_rng(3).normal(0, 1, 300)
    ma = np.convolve([1, 0.3], np.r_[1, np.zeros(s - 1), -0.6])
    ar = np.convolve([1, -0.5], np.r_[1, np.zeros(s - 1), -1])
    z = lfilter(ma, ar, e)[100:] + 50  # SARIMA(1,0,1)(0,1,1)_4, 200 points
    ours = SARIMA(counts=False, period=s).fit(z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SARIMAX(z, order=(1, 0, 1), seasonal_order=(0, 1, 1, s)).fit(disp=False)
    assert np.allclose(ours.params, ref.params[:3], atol=0.05), (ours.params, ref.params)
    mean, lower, upper = ours.predict(8, 0.8)
    theirs = ref.get_forecast(8)
    band = theirs.conf_int(alpha=0.2)
    assert np.allclose(mean, theirs.predicted_mean, atol=0.1)
    assert np.allclose(upper - lower, band[:, 1] - band[:, 0], rtol=0.05)
    assert np.allclose(ours.refit(z).predict(8, 0.8)[0], mean)  # same coefficients, same data: same forecast


def test_holt_winters_keeps_its_coefficients_and_never_forecasts_past_its_history():
    # A stream every evening: a damped trend fitted on the evening ramp extrapolated it over the week
    # (MASE up to 36) before forecasts were kept to the range of the history.
    for seed in (3, 4):
        y = synthetic_hourly(8, seed=seed, kind="daily")
        hw = ETS(counts=True, period=24).fit(y[:-168])
        later = hw.refit(y)
        assert np.array_equal(later.params, hw.params)
        for model, seen in ((hw, y[:-168]), (later, y)):
            mean, lower, upper = model.predict(168, 0.8)
            assert np.all(mean <= seen[hw.start:].max() + 1e-6) and np.all(np.isfinite(upper))
    # the backtest's one smoother run forecasts from each origin what a run stopped there forecasts
    at = [len(y) - 168, len(y) - 100, len(y) - 24]
    for got, o in zip(later.forecasts_from(at, 48), at):
        assert np.allclose(got, hw.refit(y[:o]).predict(48, 0.8)[0])
