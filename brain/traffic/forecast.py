"""Forecasts of a regular series, with a prediction interval: `Forecaster`, `forecast`, `Forecast`.

Separate from the series builder because it works on any plain array (one value
per step, oldest first), not only on an `ActivitySeries`: the evaluation harness
(`brain.traffic.traffic_eval`) feeds it CSV files, stream-time suggestions
(`brain.traffic.slots`) hourly rates. The seasonal model is a robust
seasonal-profile regression (``log1p`` counts, daily and weekly profiles shrunk
by empirical Bayes, recency-weighted, median loss); series too short for a
season get exponential smoothing tuned to the forecast horizon. docs/traffic.md
has the comparison (MSTL + ETS, Holt-Winters, seasonal naive) that picked them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.signal import lfilter

__all__ = ["Forecast", "Forecaster", "forecast"]


@dataclass(frozen=True, eq=False)
class Forecast:
    """Point forecasts and a central prediction interval for the next ``len(mean)`` steps.

    ``mean`` is the point forecast. For the seasonal and smoothing models it
    is a conditional median rather than a mean: the models are fitted with an
    absolute-error loss on a transformed scale, and the median is what MAE
    (and MASE) rewards. ``method`` names the model actually used (after any
    fallback); ``note`` says why a fallback was taken.
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    method: str
    note: str = ""

    def __len__(self) -> int:
        return len(self.mean)


_METHODS = ("auto", "profile", "ses", "naive", "snaive", "ets", "mstl")


class Forecaster:
    """Fit once on a regular series (one value per step, oldest first), then predict any horizon.

    ``season``: the period(s) in steps, e.g. ``(24, 168)`` for hourly data
    with a daily and weekly rhythm; 1 means none. A season is used only when
    the series holds two full cycles of it.

    ``method="auto"`` (the default) takes the seasonal profile model when a
    season is usable, horizon-tuned exponential smoothing (``ses``) otherwise,
    and the naive forecast with an empirical interval for fewer than 8
    points. A constant series gets a flat forecast with a zero-width interval.
    ``naive``, ``snaive``, ``ets`` (statsmodels ETS, damped trend) and
    ``mstl`` (statsmodels MSTL + ETS) are there for comparisons (docs/traffic.md).

    Values may be NaN (missing); they are skipped by the profile model and
    interpolated for the others. If no value is negative the series is taken
    as counts: modelled on a ``log1p`` (profile) or square-root (smoothing)
    scale and clipped at zero.
    """

    def __init__(self, season: int | Sequence[int] = 1, *, level: float = 0.8, method: str = "auto",
                 half_life_cycles: float = 6.0, max_cycles: int = 12) -> None:
        if not 0 < level < 1:
            raise ValueError("level must be in (0, 1), e.g. 0.8")
        if method not in _METHODS:
            raise ValueError(f"unknown forecast method {method!r} (known: {', '.join(_METHODS)})")
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
        self._model: Any = None

    # -- fitting --

    def fit(self, series: Sequence[float] | np.ndarray, *, horizon: int | None = None) -> "Forecaster":
        """Fit the model. ``horizon`` (steps) tunes the smoothing model to the forecast it will make."""
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
        filled = _interpolate(y, observed)
        usable = tuple(p for p in self.seasons if int(observed.sum()) >= 2 * p and len(y) >= 2 * p)
        method, note = self.requested, ""
        lo_v, hi_v = np.nanmin(y), np.nanmax(y)
        if hi_v - lo_v <= 1e-12 * max(1.0, abs(hi_v)):
            method, note = "constant", "constant series: flat forecast, zero-width interval"
        elif method == "auto":
            if usable:
                method = "profile"
            elif len(y) >= 8:
                method = "ses"
                if self.seasons:
                    note = (f"{len(y)} points: too short for season {min(self.seasons)} (needs two cycles, "
                            f"{2 * min(self.seasons)} points); non-seasonal smoothing")
            else:
                method, note = "naive", f"only {len(y)} points: naive forecast with an empirical interval"
        elif method in ("profile", "snaive", "mstl") and not usable:
            fallback = "ses" if len(y) >= 8 else "naive"
            note = f"{method} needs two cycles of a season; fell back to {fallback}"
            method = fallback
        horizon = max(1, int(horizon)) if horizon else (max(usable) if usable else 1)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # statsmodels' ConvergenceWarning & co: we judge fits by backtests
            if method == "constant":
                self._model = _Constant(float(np.nanmean(y)))
            elif method == "profile":
                self._model = _Profile(usable, half_life_cycles=self.half_life_cycles,
                                       max_cycles=self.max_cycles, counts=self.counts).fit(y, observed)
            elif method == "ses":
                self._model = _SES(counts=self.counts).fit(filled, horizon, self.level)
            elif method == "naive":
                self._model = _Naive(1).fit(filled, self.level)
            elif method == "snaive":
                self._model = _Naive(max(usable)).fit(filled, self.level)
            elif method == "ets":
                self._model = _ETS(counts=self.counts).fit(filled)
            elif method == "mstl":
                self._model = _MSTL(usable, counts=self.counts).fit(filled)
        self.method, self.note = method, note
        return self

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
        return Forecast(mean=mean, lower=lower, upper=upper, level=self.level, method=self.method, note=self.note)


def forecast(series: Sequence[float] | np.ndarray, *, horizon: int, season: int | Sequence[int] = 1,
             level: float = 0.8, method: str = "auto") -> Forecast:
    """Fit a `Forecaster` to ``series`` and forecast ``horizon`` steps (see `Forecaster`)."""
    return Forecaster(season, level=level, method=method).fit(series, horizon=horizon).predict(horizon)


def _interpolate(y: np.ndarray, observed: np.ndarray) -> np.ndarray:
    if observed.all():
        return y.copy()
    idx = np.arange(len(y))
    return np.interp(idx, idx[observed], y[observed])


def _quantiles(level: float) -> tuple[float, float]:
    return (1.0 - level) / 2.0, (1.0 + level) / 2.0


class _Constant:
    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flat = np.full(h, self.value)
        return flat, flat.copy(), flat.copy()


class _Naive:
    """Last value (``lag`` 1) or last cycle (``lag`` = season), with empirical quantiles of lagged changes."""

    def __init__(self, lag: int) -> None:
        self.lag = lag

    def fit(self, y: np.ndarray, level: float) -> "_Naive":
        self.y = y
        self.q = (0.0, 0.0)
        if len(y) > self.lag + 1:
            self.q = tuple(np.quantile(y[self.lag:] - y[:-self.lag], _quantiles(level)))
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.lag == 1:
            mean = np.full(h, self.y[-1])
            widen = np.sqrt(np.arange(1, h + 1))  # a random walk's spread grows with the horizon
        else:
            mean = np.resize(self.y[-self.lag:], h)
            widen = np.sqrt(1 + np.arange(h) // self.lag)
        return mean, mean + self.q[0] * widen, mean + self.q[1] * widen


def _fwd(y: np.ndarray, kind: str) -> np.ndarray:
    if kind == "log1p":
        return np.log1p(np.maximum(y, 0.0))
    if kind == "sqrt":
        return np.sqrt(np.maximum(y, 0.0))
    return y


def _inv(z: np.ndarray, kind: str) -> np.ndarray:
    if kind == "log1p":
        return np.expm1(np.minimum(z, 700.0))
    if kind == "sqrt":
        return np.maximum(z, 0.0) ** 2
    return z


class _Profile:
    """Robust seasonal-profile regression on ``log1p`` counts.

    z_t = a + b·u_t + Σ_p s_p[t mod p] + e_t, with u the time in cycles of the
    longest season, fitted on the last ``max_cycles`` cycles with recency
    weights (half-life ``half_life_cycles`` cycles) and an absolute loss
    (iteratively reweighted least squares, so skipped streams and raids do not
    drag the profile). The blocks are fitted by backfitting: each update is a
    per-phase weighted mean (``np.bincount``), O(n) for any period.

    Each phase of a seasonal block is shrunk towards zero (that is, towards
    the shorter seasons and the level) by the larger of two factors: the
    block's empirical-Bayes factor τ²/(τ² + v) (v: the sampling variance of a
    phase's estimate, τ²: the spread of the block's effects beyond it) and
    the phase's own non-negative garrote max(0, 1 - v/effect²). The first
    keeps a broad weekly rhythm (weekends busier), the second a few large,
    sparse effects (the Saturday stream that runs two hours longer) that a
    normal prior would flatten; a weekly block that is mostly noise (few
    weeks, no weekday effect) fades to the daily profile. The factors are
    estimated once, from the unshrunk first pass. ``shrink`` selects "eb",
    "garrote" or "max" (the default), or a fixed ridge weight (comparisons).

    The interval comes from empirical quantiles of the recent residuals,
    widened for the parameters fitted (√(n / (n - p))), or from the errors of
    the same model fitted without the last cycle and scored on it, whichever
    is wider: in-sample residuals alone miss skipped streams and shifted starts.
    """

    def __init__(self, seasons: Sequence[int], *, half_life_cycles: float, max_cycles: int, counts: bool,
                 iterations: int = 8, shrink: str | float = "max", min_trend_cycles: float = 2.0,
                 trend_weight: str = "traffic", backtest: bool = True) -> None:
        self.seasons = tuple(sorted(seasons))
        self.backtest = backtest
        self.holdout: np.ndarray | None = None
        self.trend_weight = trend_weight
        self.shrink = shrink
        self.min_trend_cycles = min_trend_cycles
        self.half_life = half_life_cycles
        self.max_cycles = max_cycles
        self.kind = "log1p" if counts else "none"
        self.iterations = iterations

    def fit(self, y: np.ndarray, observed: np.ndarray) -> "_Profile":
        n = len(y)
        P = self.seasons[-1]
        keep = min(n, self.max_cycles * P)
        t = np.arange(n - keep, n)
        obs = observed[-keep:]
        z = _fwd(np.where(obs, y[-keep:], 0.0), self.kind)
        u = (t - (n - 1)) / P
        w0 = 0.5 ** (-u / self.half_life) * obs
        cycles = obs.sum() / P
        self.use_trend = cycles >= self.min_trend_cycles
        phases = [t % p for p in self.seasons]
        blocks = [np.zeros(p) for p in self.seasons]
        a = float(np.sum(w0 * z) / np.sum(w0))
        b = 0.0
        w = w0.copy()
        seasonal = np.zeros(keep)
        fitted = np.full(keep, a)
        factors: list[np.ndarray | None] = [None] * len(self.seasons)
        for iteration in range(self.iterations):
            for _sweep in range(2):
                # level and trend, given the seasonal blocks
                r = z - seasonal
                if self.use_trend:
                    # The slope is weighted by the traffic each hour carries (exp of its fitted log-level):
                    # on a streamer's series most hours are near zero, and their flat medians would
                    # otherwise hide the growth of the hours that matter.
                    omega = w * np.exp(np.minimum(seasonal + a, 50.0)) if self.trend_weight == "traffic" else w
                    so = omega.sum()
                    uc = u - (omega * u).sum() / so
                    den = (omega * uc * uc).sum()
                    b = float((omega * uc * r).sum() / den) if den > 1e-12 else 0.0
                a = float((w * (r - b * u)).sum() / w.sum())
                level = a + b * u
                for i, p in enumerate(self.seasons):
                    own = blocks[i][phases[i]]
                    partial = z - level - (seasonal - own)
                    sw_p = np.bincount(phases[i], weights=w, minlength=p)
                    est = np.bincount(phases[i], weights=w * partial, minlength=p) / np.maximum(sw_p, 1e-300)
                    est[sw_p <= 0] = 0.0
                    if factors[i] is None and iteration == 1:
                        # Shrinkage is estimated once, from the unshrunk first pass, then held: re-estimating
                        # it from shrunk fits feeds on itself (IRLS down-weights what the shrinkage left out).
                        factors[i] = self._shrink(i, phases[i], w0, partial - est[phases[i]], est, sw_p > 0)
                    if factors[i] is not None:
                        est = est * factors[i]
                    est -= est[sw_p > 0].mean() if (sw_p > 0).any() else 0.0
                    seasonal = seasonal - own + est[phases[i]]
                    blocks[i] = est
            fitted = a + b * u + seasonal
            resid = z - fitted
            scale = np.median(np.abs(resid[obs])) if obs.any() else 0.0
            w = w0 / np.maximum(np.abs(resid), max(1e-3, 0.05 * scale))
        self.a, self.b, self.blocks, self.n = a, b, blocks, n
        resid = (z - fitted)[obs]
        recent = resid[-min(len(resid), 4 * P):]
        params = 2 + sum(self.seasons)
        m = len(resid)
        self.inflate = float(min(2.0, math.sqrt(m / max(m - params, m / 4.0))))
        self.resid = recent
        # a fitted trend may not more than double (or halve) the level per cycle ahead
        self.b = float(np.clip(self.b, -math.log(2.0), math.log(2.0)))
        if self.backtest and n >= 3 * P and observed[-P:].any():
            # The interval also answers to honest errors: the same model fitted without the last
            # cycle, scored on it. In-sample residuals alone miss skipped streams and shifted starts.
            past = _Profile(self.seasons, half_life_cycles=self.half_life, max_cycles=self.max_cycles,
                            counts=self.kind == "log1p", iterations=self.iterations, shrink=self.shrink,
                            min_trend_cycles=self.min_trend_cycles, trend_weight=self.trend_weight,
                            backtest=False).fit(y[:-P], observed[:-P])
            last = observed[-P:]
            self.holdout = (_fwd(y[-P:], self.kind) - past._z(P))[last]
        return self

    def _shrink(self, i: int, phase: np.ndarray, w0: np.ndarray, resid: np.ndarray, est: np.ndarray,
                seen: np.ndarray) -> np.ndarray:
        """Empirical-Bayes factor τ²/(τ² + v) per phase of block ``i``."""
        p = self.seasons[i]
        sw = np.bincount(phase, weights=w0, minlength=p)
        if not isinstance(self.shrink, str):
            unit = sw[seen].mean() if seen.any() else 1.0
            return np.where(seen, sw / (sw + float(self.shrink) * unit), 0.0)
        sw2 = np.bincount(phase, weights=w0 * w0, minlength=p)
        ok = seen & (sw > 0)
        if ok.sum() < 2:
            return np.zeros(p)
        sigma2 = (1.4826 * np.median(np.abs(resid[w0 > 0]))) ** 2 if (w0 > 0).any() else 0.0
        v = np.where(ok, sigma2 * sw2 / np.maximum(sw, 1e-300) ** 2, np.inf)
        tau2 = max(float(np.var(est[ok]) - np.mean(v[ok])), 0.0)
        eb = np.where(ok, tau2 / (tau2 + v), 0.0) if tau2 > 0.0 else np.zeros(p)
        if self.shrink == "eb":
            return eb
        garrote = np.where(ok, np.maximum(0.0, 1.0 - v / np.maximum(est * est, 1e-300)), 0.0)
        if self.shrink == "garrote":
            return garrote
        return np.maximum(eb, garrote)

    def _z(self, h: int) -> np.ndarray:
        """The point forecast on the model's scale."""
        t = np.arange(self.n, self.n + h)
        u = (t - (self.n - 1)) / self.seasons[-1]
        z = self.a + (self.b * u if self.use_trend else 0.0)
        return z + sum(block[t % p] for p, block in zip(self.seasons, self.blocks))

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = self._z(h)
        q_lo, q_hi = np.quantile(self.resid, _quantiles(level)) if len(self.resid) else (0.0, 0.0)
        q_lo, q_hi = q_lo * self.inflate, q_hi * self.inflate
        if self.holdout is not None:  # out-of-sample errors of the last cycle, when they are wider
            b_lo, b_hi = np.quantile(self.holdout, _quantiles(level))
            q_lo, q_hi = min(q_lo, b_lo), max(q_hi, b_hi)
        return _inv(z, self.kind), _inv(z + q_lo, self.kind), _inv(z + q_hi, self.kind)


#: Smoothing constants tried by `_SES` (per step).
_ALPHAS = np.array([0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.25, 0.35, 0.5, 0.7, 1.0])


class _SES:
    """Simple exponential smoothing on √counts, its constant chosen for the forecast it will make.

    The usual fit minimises one-step errors, which on chat data picks a
    constant near 1: the level chases every burst and the model becomes the
    naive forecast. Here α minimises the absolute error of the forecasts at
    every horizon 1..H over the history (each level compared with the values
    1..H steps later), which is the error the forecast will be judged by.
    The interval: empirical quantiles of those h-step errors, per horizon.
    """

    def __init__(self, counts: bool) -> None:
        self.kind = "sqrt" if counts else "none"

    @staticmethod
    def _levels(z: np.ndarray, alpha: float) -> np.ndarray:
        init = float(np.mean(z[:max(1, min(len(z), int(round(1.0 / alpha))))]))
        levels, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], z, zi=[(1.0 - alpha) * init])
        return levels

    def fit(self, y: np.ndarray, horizon: int, level: float) -> "_SES":
        z = _fwd(y, self.kind)
        n = len(z)
        burn = min(n // 4, 10)
        H = max(1, min(horizon, (n - burn) // 2))
        best: tuple[float, float, np.ndarray] | None = None
        for alpha in _ALPHAS:
            lv = self._levels(z, float(alpha))
            pred = _inv(lv, self.kind)
            err = 0.0
            count = 0
            for h in range(1, H + 1):
                e = np.abs(y[burn + h:] - pred[burn:n - h])
                err += float(e.sum())
                count += len(e)
            score = err / max(count, 1)
            if best is None or score < best[0] - 1e-12:
                best = (score, float(alpha), lv)
        assert best is not None
        _, self.alpha, lv = best
        self.last = float(lv[-1])
        self.q = np.zeros((H, 2))
        for h in range(1, H + 1):
            r = z[burn + h:] - lv[burn:n - h]
            self.q[h - 1] = np.quantile(r, _quantiles(level)) if len(r) else (0.0, 0.0)
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = np.full(h, self.last)
        rows = np.minimum(np.arange(h), len(self.q) - 1)
        extra = np.sqrt(np.maximum(1.0, (np.arange(h) + 1) / len(self.q)))  # beyond the measured horizons
        q = self.q[rows] * extra[:, None]
        return _inv(z, self.kind), _inv(z + q[:, 0], self.kind), _inv(z + q[:, 1], self.kind)


class _ETS:
    """statsmodels ETS (additive error, damped additive trend) on √counts: a comparison baseline."""

    def __init__(self, counts: bool) -> None:
        self.kind = "sqrt" if counts else "none"

    def fit(self, y: np.ndarray) -> "_ETS":
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        z = pd.Series(_fwd(y, self.kind))  # statsmodels' prediction frame wants an index
        self.n = len(z)
        self.result = ETSModel(z, error="add", trend="add", damped_trend=True).fit(disp=False)
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frame = self.result.get_prediction(self.n, self.n + h - 1).summary_frame(alpha=1.0 - level)
        return tuple(_inv(frame[c].to_numpy(), self.kind) for c in ("mean", "pi_lower", "pi_upper"))  # type: ignore[return-value]


class _MSTL:
    """statsmodels MSTL (on the last 8 cycles, log1p) + ETS on the seasonally adjusted rest: a comparison."""

    def __init__(self, seasons: Sequence[int], counts: bool) -> None:
        self.seasons = tuple(sorted(seasons))
        self.kind = "log1p" if counts else "none"

    def fit(self, y: np.ndarray) -> "_MSTL":
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
        from statsmodels.tsa.seasonal import MSTL, STL

        P = self.seasons[-1]
        z = _fwd(y[-min(len(y), 8 * P):], self.kind)
        if len(self.seasons) > 1:
            seasonal = np.asarray(MSTL(z, periods=self.seasons).fit().seasonal).reshape(len(z), -1)
        else:
            seasonal = np.asarray(STL(z, period=P).fit().seasonal).reshape(len(z), 1)
        kept = self.seasons[:seasonal.shape[1]]  # MSTL drops periods of half the series or more
        self.last = [seasonal[-p:, i] for i, p in enumerate(kept)]
        self.n = len(z)
        self.result = ETSModel(pd.Series(z - seasonal.sum(axis=1)), error="add", trend="add",
                               damped_trend=True).fit(disp=False)
        return self

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frame = self.result.get_prediction(self.n, self.n + h - 1).summary_frame(alpha=1.0 - level)
        s = sum(np.resize(last, h) for last in self.last)
        return tuple(_inv(frame[c].to_numpy() + s, self.kind) for c in ("mean", "pi_lower", "pi_upper"))  # type: ignore[return-value]
