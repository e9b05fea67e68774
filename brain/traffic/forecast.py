"""Forecasts of a regular series, with a prediction interval: `Forecaster`, `forecast`, `Forecast`.

Separate from the series builder because it works on any plain array (one value
per step, oldest first), not only on an `ActivitySeries`: the evaluation harness
(`brain.traffic.traffic_eval`) feeds it CSV files, stream-time suggestions
(`brain.traffic.slots`) hourly rates. By default the model is chosen per series
by a rolling-origin backtest on its own history (`brain.traffic.forecast_selection`)
among the robust seasonal profile, seasonal naive (same hour yesterday, last
week), Holt-Winters and SARIMA; without a season among horizon-tuned exponential
smoothing, naive, ETS and ARIMA. The models are in `brain.traffic.forecast_models`;
docs/traffic.md has the comparisons that picked the candidates and the rule.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from brain.traffic.forecast_models import ETS, MSTL, SARIMA, SES, Constant, Naive, Profile, interpolate
from brain.traffic.forecast_selection import Candidate, Model, backtest, choose, mase_scale, origins

__all__ = ["Forecast", "Forecaster", "forecast"]


@dataclass(frozen=True, eq=False)
class Forecast:
    """Point forecasts and a central prediction interval for the next ``len(mean)`` steps.

    ``mean`` is the point forecast. For the seasonal and smoothing models it
    is a conditional median rather than a mean: the models are fitted with an
    absolute-error loss on a transformed scale, and the median is what MAE
    (and MASE) rewards. ``method`` names the model actually used (after the
    selection or a fallback); ``note`` says why; ``scores`` holds each
    candidate's backtest MASE when the model was chosen by backtest.
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    method: str
    note: str = ""
    scores: Mapping[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.mean)


_METHODS = ("auto", "profile", "ses", "naive", "snaive", "ets", "mstl", "holt_winters", "sarima", "arima")
_SNAIVE_LAG = re.compile(r"snaive:([1-9][0-9]*)")

#: Longest season Holt-Winters and SARIMA are offered: their state (or MA polynomial) has one slot per step of it.
MAX_STATE_SEASON = 168
#: Backtest origins at most (each candidate is fitted once per origin): a week of days for hourly data.
ORIGINS = 7
#: Points before the first origin, at least, without a season (with one: two cycles of the shortest).
MIN_TRAIN = 48


class Forecaster:
    """Fit once on a regular series (one value per step, oldest first), then predict any horizon.

    ``season``: the period(s) in steps, e.g. ``(24, 168)`` for hourly data
    with a daily and weekly rhythm; 1 means none. A season is used only when
    the series holds two full cycles of it.

    ``method="auto"`` (the default) chooses by rolling-origin backtest
    (`brain.traffic.forecast_selection`): from `ORIGINS` origins one
    shortest season apart (a day, for hourly data: the last week), each
    candidate, fitted on the history before the origin, forecasts
    ``horizon`` steps; the lowest mean absolute error over the points that
    followed is each one's score (``scores``, as MASE). The choice follows
    the one-standard-error rule: the default (first below), else a seasonal
    naive forecast, else the best, whichever first scores within one
    standard error (of the per-origin differences) of the best, and never a
    model that scores worse than every seasonal naive forecast. With a
    season the candidates are the seasonal profile (``profile``), seasonal
    naive at every usable season (``snaive:24``: the same hour yesterday;
    ``snaive:168``), Holt-Winters (``holt_winters``) and SARIMA
    (``sarima``) on the shortest season (up to `MAX_STATE_SEASON` steps);
    without one, horizon-tuned exponential smoothing (``ses``) and
    ``naive``, from origins half a horizon apart.
    Too short for two origins: the profile model with a season, ``ses``
    without, ``naive`` under 8 points (``note`` says so). A constant series
    gets a flat forecast with a zero-width interval. Any candidate name is
    also a ``method``, as are ``snaive`` (the longest usable season),
    ``ets`` (damped trend, no season), ``arima`` (ARIMA(1,1,1)) and
    ``mstl`` (statsmodels MSTL + ETS), kept for comparisons (docs/traffic.md).

    Values may be NaN (missing); they are skipped by the profile model and
    interpolated for the others. If no value is negative the series is taken
    as counts: modelled on a ``log1p`` or square-root scale and clipped at zero.
    """

    def __init__(self, season: int | Sequence[int] = 1, *, level: float = 0.8, method: str = "auto",
                 half_life_cycles: float = 6.0, max_cycles: int = 12) -> None:
        if not 0 < level < 1:
            raise ValueError("level must be in (0, 1), e.g. 0.8")
        if method not in _METHODS and not _SNAIVE_LAG.fullmatch(method):
            raise ValueError(f"unknown forecast method {method!r} (known: {', '.join(_METHODS)}, snaive:LAG)")
        seasons = [season] if isinstance(season, (int, float, np.integer, np.floating)) else list(season)
        if any(not isinstance(p, (int, float, np.integer, np.floating)) or int(p) != p or p < 1 for p in seasons):
            raise ValueError(f"seasons must be positive whole numbers of steps, got {season!r}")
        self.seasons = tuple(sorted({int(p) for p in seasons if p > 1}))
        self.level = float(level)
        self.requested = method
        self.half_life_cycles = half_life_cycles
        self.max_cycles = max_cycles
        self.method = ""
        self.note = ""
        self.scores: dict[str, float] = {}
        self._model: Any = None

    # -- fitting --

    def fit(self, series: Sequence[float] | np.ndarray, *, horizon: int | None = None) -> "Forecaster":
        """Fit the model. ``horizon`` (steps) is the forecast the backtest scores and the smoothing is tuned to."""
        y = np.asarray(series, dtype=np.float64).ravel()
        if not len(y):
            raise ValueError("cannot forecast an empty series")
        if np.isinf(y).any():
            raise ValueError("the series contains infinite values")
        observed = ~np.isnan(y)
        if not observed.any():
            raise ValueError("the series has no observed (non-NaN) value")
        self.n = len(y)
        self.counts = bool(np.nanmin(y) >= 0)
        usable = self._usable(observed)
        horizon = max(1, int(horizon)) if horizon else (max(usable) if usable else 1)
        method, note, scores = self.requested, "", {}
        lo_v, hi_v = np.nanmin(y), np.nanmax(y)
        # One BLAS thread: the fits are many small matrix operations, where threads only contend (on
        # 2 cores a fit took twice as long with the default pool, and it competes with the bot's work).
        with warnings.catch_warnings(), np.errstate(all="ignore"), threadpool_limits(limits=1):
            warnings.simplefilter("ignore")  # statsmodels' ConvergenceWarning & co: we judge fits by backtests
            if hi_v - lo_v <= 1e-12 * max(1.0, abs(hi_v)):
                method, note = "constant", "constant series: flat forecast, zero-width interval"
                model: Model = Constant(float(np.nanmean(y)))
            elif method == "auto":
                method, note, scores, model = self._select(y, observed, usable, horizon)
            else:
                method, note = self._resolve(method, usable, len(y))
                model = self._candidate(method, usable, horizon).build(y, observed)
        self.method, self.note, self.scores, self._model = method, note, scores, model
        return self

    def _usable(self, observed: np.ndarray) -> tuple[int, ...]:
        """The seasons with two full cycles in a history."""
        seen, n = int(observed.sum()), len(observed)
        return tuple(p for p in self.seasons if seen >= 2 * p and n >= 2 * p)

    def _default(self, usable: tuple[int, ...], n: int) -> tuple[str, str]:
        """The model for a series too short to backtest, and the note saying so."""
        if usable:
            return "profile", "too short for a backtest of two origins: seasonal profile"
        if n >= 8:
            note = "non-seasonal smoothing"
            if self.seasons:
                note = (f"{n} points: too short for season {min(self.seasons)} (needs two cycles, "
                        f"{2 * min(self.seasons)} points); {note}")
            return "ses", note
        return "naive", f"only {n} points: naive forecast with an empirical interval"

    @staticmethod
    def _lag(name: str) -> int:
        """The lag of ``snaive:LAG``; 0 for any other name."""
        lag = _SNAIVE_LAG.fullmatch(name)
        return int(lag.group(1)) if lag else 0

    def _resolve(self, method: str, usable: tuple[int, ...], n: int) -> tuple[str, str]:
        """An explicitly requested method, or the fallback when the series cannot carry it."""
        lag = self._lag(method)
        seasonal = method in ("profile", "snaive", "mstl", "holt_winters", "sarima") or lag > 0
        if lag:
            ok = 2 * lag <= n
        elif method in ("holt_winters", "sarima"):
            ok = bool(usable) and min(usable) <= MAX_STATE_SEASON
        else:
            ok = bool(usable) or not seasonal
        if ok:
            return method, ""
        fallback = "ses" if n >= 8 else "naive"
        return fallback, f"{method} needs two cycles of a season; fell back to {fallback}"

    def _candidate(self, name: str, usable: tuple[int, ...], horizon: int, *, holdout: bool = True) -> Candidate:
        """How candidate ``name`` is fitted on a history (values, observed).

        ``holdout=False`` skips the profile model's extra fit without the last
        cycle: it only widens the interval, which a backtest does not score.
        """
        counts, level = self.counts, self.level

        def filled(fit: Callable[[np.ndarray], Model]) -> Callable[[np.ndarray, np.ndarray], Model]:
            return lambda y, observed: fit(interpolate(y, observed))

        if name.startswith("snaive"):
            period = self._lag(name) or max(usable)
            return Candidate(name, filled(lambda z: Naive(period).fit(z, level)))
        if name == "naive":
            return Candidate(name, filled(lambda z: Naive(1).fit(z, level)))
        if name == "ses":
            return Candidate(name, filled(lambda z: SES(counts=counts).fit(z, horizon, level)))
        if name == "profile":
            def profile(y: np.ndarray, observed: np.ndarray) -> Model:
                return Profile(self._usable(observed), half_life_cycles=self.half_life_cycles,
                               max_cycles=self.max_cycles, counts=counts, backtest=holdout).fit(y, observed)
            return Candidate(name, profile)
        if name == "mstl":
            return Candidate(name, filled(lambda z: MSTL(usable, counts=counts).fit(z)))
        period = min(usable) if name in ("holt_winters", "sarima") else 1
        make: Callable[[], ETS | SARIMA] = {
            "holt_winters": lambda: ETS(counts, period), "ets": lambda: ETS(counts),
            "sarima": lambda: SARIMA(counts, period), "arima": lambda: SARIMA(counts),
        }[name]
        fitted: list[ETS | SARIMA] = []

        def estimated(z: np.ndarray) -> ETS | SARIMA:
            # Estimated once, on the first (oldest) history it is given; later histories only
            # move the states: the coefficients the backtest scored are the ones that forecast.
            if not fitted:
                fitted.append(make().fit(z))
                return fitted[0]
            return fitted[0].refit(z)

        def one_run(y: np.ndarray, observed: np.ndarray, at: Sequence[int], h: int) -> list[np.ndarray] | None:
            # Holt-Winters' forecasts from every origin off one smoother run over the series. Only on a
            # complete series: interpolating a gap across an origin would look past it.
            if not observed.all():
                return None
            model = estimated(y[:at[0]])
            assert isinstance(model, ETS)
            return model.refit(y).forecasts_from(at, h)
        return Candidate(name, filled(estimated), one_run if name == "holt_winters" else None)

    def _select(self, y: np.ndarray, observed: np.ndarray, usable: tuple[int, ...],
                horizon: int) -> tuple[str, str, dict[str, float], Model]:
        """Choose by rolling-origin backtest (or the default when too short); fit the winner on all of ``y``."""
        n = len(y)
        if usable:
            # Origins a cycle apart start at the hour of day the real forecast starts at.
            s = min(usable)
            names = ["profile", *(f"snaive:{p}" for p in usable)]
            if s <= MAX_STATE_SEASON:
                names += ["holt_winters", "sarima"]
            at = origins(n, spacing=s, count=ORIGINS, min_train=2 * s)
        else:
            s = 1
            names = ["ses", "naive"]
            at = origins(n, spacing=max(1, horizon // 2), count=ORIGINS, min_train=max(MIN_TRAIN, 2 * horizon))
        if len(at) < 2:
            method, note = self._default(usable, n)
            return method, note, {}, self._candidate(method, usable, horizon).build(y, observed)
        names = [name for name in names if not name.startswith("snaive:") or self._lag(name) <= at[0]]
        candidates = [self._candidate(name, usable, horizon, holdout=False) for name in names]
        result = backtest(y, observed, candidates, horizon=horizon, at=at, scale=mase_scale(y, s),
                          level=self.level, clip=self.counts)
        scores = result.scores
        baselines = [name for name in names if name.startswith("snaive:")] or ["naive"]
        method = choose(result, prefer=[names[0], *baselines], bound=baselines)
        ranked = ", ".join(f"{k} {v:.3g}" for k, v in sorted(scores.items(), key=lambda kv: kv[1]))
        note = f"chosen by backtest over {len(at)} origins, horizon {horizon}, one-SE rule (MASE: {ranked})"
        if not usable and self.seasons:
            note = f"too short for season {min(self.seasons)} (needs two cycles); {note}"
        # The winner keeps what it estimated at the first origin (statsmodels fits), except the profile
        # model, which is refitted anyway and now also gets its holdout interval.
        winner = self._candidate(method, usable, horizon) if method == "profile" else candidates[names.index(method)]
        return method, note, scores, winner.build(y, observed)

    def predict(self, horizon: int) -> Forecast:
        """Forecast the next ``horizon`` steps after the fitted series."""
        if self._model is None:
            raise RuntimeError("call fit() before predict()")
        if horizon < 1:
            raise ValueError("horizon must be at least 1")
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            mean, lower, upper = self._model.predict(int(horizon), self.level)
        mean, lower, upper = (np.asarray(a, dtype=np.float64) for a in (mean, lower, upper))
        if self.counts:
            mean, lower, upper = (np.maximum(a, 0.0) for a in (mean, lower, upper))
        lower, upper = np.minimum(lower, mean), np.maximum(upper, mean)
        return Forecast(mean=mean, lower=lower, upper=upper, level=self.level, method=self.method, note=self.note,
                        scores=dict(self.scores))


def forecast(series: Sequence[float] | np.ndarray, *, horizon: int, season: int | Sequence[int] = 1,
             level: float = 0.8, method: str = "auto") -> Forecast:
    """Fit a `Forecaster` to ``series`` and forecast ``horizon`` steps (see `Forecaster`)."""
    return Forecaster(season, level=level, method=method).fit(series, horizon=horizon).predict(horizon)
