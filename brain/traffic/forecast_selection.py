"""Rolling-origin model selection: score candidate forecasts on the series' own past, keep the best.

Why: no one model wins on every room. The seasonal profile wins on a room
whose week repeats, but a holiday week (a changed day, a shifted evening) is
forecast better by "the same hour yesterday" until the profile has seen
weeks of it (issue 18: MASE 1.69 against 1.50 for that seasonal naive).
So `brain.traffic.forecast.Forecaster` forecasts, from several past origins,
the ``horizon`` points that followed each one, with each candidate fitted on
the history before it (`backtest`), and keeps a candidate by the
one-standard-error rule (`choose`). The seasonal-naive forecasts are
candidates and bound the choice, so the model chosen never does worse than
them in that backtest.

This module is the generic part (origins, errors, the choice); which
candidates run and how each is fitted is the `Forecaster`'s business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

__all__ = ["Model", "Candidate", "Backtest", "origins", "naive_mae", "mase_scale", "backtest", "choose"]


class Model(Protocol):
    """A fitted forecast model (`brain.traffic.forecast_models`)."""

    def predict(self, h: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Candidate:
    """A named way to fit a model on a history: ``build(values, observed)`` -> a fitted `Model`.

    ``build`` is called on successively longer histories (the origins, oldest
    first), then on the whole series if the candidate wins; it may keep what it
    estimated on the first call (statsmodels fits) and only update on later ones.
    ``batch(values, observed, origins, horizon)``, when given, returns the
    point forecasts from all origins at once (one filter run instead of one
    per origin); it must use nothing after each origin for that origin's
    forecast, or return None to fall back to ``build``.
    """

    name: str
    build: Callable[[np.ndarray, np.ndarray], Model]
    batch: Callable[[np.ndarray, np.ndarray, Sequence[int], int], list[np.ndarray] | None] | None = None


@dataclass(frozen=True)
class Backtest:
    """Per-origin errors of each candidate: mean absolute error over the points scored from that origin, scaled.

    ``points`` is how many points each origin scored (the latest origins reach
    the end of the series before their horizon does). A candidate that could
    not be fitted at some origin has ``inf`` errors.
    """

    errors: dict[str, np.ndarray]
    points: np.ndarray

    @property
    def scores(self) -> dict[str, float]:
        """Each candidate's mean absolute error over every point scored (a MASE, on the backtest's scale)."""
        w = self.points / self.points.sum() if self.points.sum() else self.points
        out = {}
        for name, e in self.errors.items():
            score = float(np.dot(w, e)) if np.all(np.isfinite(e)) else math.inf
            out[name] = score if math.isfinite(score) else math.inf
        return out


def origins(n: int, *, spacing: int, count: int, min_train: int) -> list[int]:
    """Forecast origins, oldest first: ``n - k·spacing`` for k = 1..``count``, those after ``min_train`` points.

    They step back from the end of the series, so the backtest judges the
    candidates on the most recent stretch, where the forecast starts: a
    change of rhythm a few days old (a holiday) is in it.
    """
    step = max(1, spacing)
    return sorted(o for o in (n - k * step for k in range(1, count + 1)) if o >= min_train)


def naive_mae(y: np.ndarray, lag: int) -> float:
    """In-sample MAE of the ``lag``-step naive forecast (the MASE denominator); NaN when no pair is observed."""
    d = np.abs(y[lag:] - y[:-lag]) if len(y) > lag else np.empty(0)
    d = d[~np.isnan(d)]
    return float(d.mean()) if len(d) else math.nan


def mase_scale(y: np.ndarray, lag: int) -> float:
    """`naive_mae`, or 1 when it is zero or unknown: a backtest still ranks candidates by their raw errors."""
    scale = naive_mae(y, lag)
    return scale if scale > 0 else 1.0


def backtest(y: np.ndarray, observed: np.ndarray, candidates: Sequence[Candidate], *, horizon: int,
             at: Sequence[int], scale: float, level: float, clip: bool) -> Backtest:
    """Each candidate, fitted on ``y[:o]`` for every origin ``o`` in ``at``, forecasts ``horizon`` steps; its errors.

    A forecast is scored on the points the series holds after ``o`` (up to its
    end), missing values skipped, over ``scale``. A candidate that cannot be
    fitted at some origin (statsmodels gives up on a flat stretch, say) gets
    ``inf`` errors: it is out of the running, not an error.
    """
    points = np.array([int(observed[o:o + min(horizon, len(y) - o)].sum()) for o in at], dtype=np.float64)
    errors: dict[str, np.ndarray] = {}
    for cand in candidates:
        e = np.full(len(at), math.inf)
        try:
            batch = cand.batch(y, observed, at, horizon) if cand.batch is not None else None
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            errors[cand.name] = e
            continue
        for i, o in enumerate(at):
            h = min(horizon, len(y) - o)
            try:
                mean = batch[i] if batch is not None else cand.build(y[:o], observed[:o]).predict(horizon, level)[0]
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                break
            mean = np.asarray(mean, dtype=np.float64)[:h]
            if clip:
                mean = np.maximum(mean, 0.0)
            seen = observed[o:o + h]
            e[i] = float(np.mean(np.abs(y[o:o + h][seen] - mean[seen]))) / scale if seen.any() else 0.0
        errors[cand.name] = np.where(np.isnan(e), math.inf, e)
    return Backtest(errors, points)


def choose(result: Backtest, *, prefer: Sequence[str], bound: Sequence[str]) -> str:
    """The first candidate of ``prefer`` (then the rest, best first) within one standard error of the best.

    The one-standard-error rule: a handful of origins cannot tell apart
    candidates a few per cent apart, and the lowest score among near-equals
    is noise; the preferred (the default model, then the baselines) is kept
    unless another beats it by more than the standard error of their
    per-origin differences. No candidate scoring worse than every one of
    ``bound`` (the seasonal-naive forecasts) is chosen, so the choice never
    loses to them in the backtest.
    """
    scores = result.scores
    best = min(scores, key=lambda name: scores[name])
    ceiling = min((scores[b] for b in bound if b in scores), default=math.inf)
    order = [p for p in prefer if p in scores] + sorted((n for n in scores if n not in prefer), key=scores.get)
    for name in order:
        if scores[name] > ceiling or not math.isfinite(scores[name]):
            continue
        d = result.errors[name] - result.errors[best]
        se = float(np.std(d, ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
        if scores[name] - scores[best] <= se:
            return name
    return best
