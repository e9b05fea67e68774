"""Forecast evaluation on a ``series.csv`` (``ts,value``): MASE against the naive baselines, coverage, time.

`evaluate_forecast` holds out the last ``horizon`` points, fits the bot's own
`brain.traffic.forecast.Forecaster` on the rest and scores the holdout:

* ``mase``: MAE of the model on the holdout divided by the in-sample
  seasonal-naive MAE of the training part, mean |y_t - y_{t-M}| with
  M = ``season`` (M = 1: the naive, last-value scale);
* ``mase_naive``, ``mase_seasonal_naive``: the same scaling for the naive
  forecast (last training value, repeated) and the seasonal-naive forecast
  (the last M training values, repeated);
* ``coverage80``: share of held-out points inside the model's 80% interval;
* ``points``: length of the (regularised) series; ``seconds``: wall time of
  fit + predict (with ``method="auto"`` that includes the backtest that
  chooses the model);
* ``model``: the model that forecast: with ``method="auto"`` the winner of
  the `Forecaster`'s rolling-origin backtest on the training part (e.g.
  ``profile``, ``snaive:24``, ``holt_winters``, ``sarima``, ``ses``).

Reading the file (`read_series_csv`), what is fatal and what is repaired:

* fatal (ValueError naming the file and line): no ``ts,value`` header, a
  row without two fields, a timestamp that does not parse, a value that is
  not a number (or is infinite), fewer than two distinct timestamps;
* repaired, and counted in the returned `SeriesInfo`: blank lines (skipped),
  an empty value (missing: NaN), rows out of order (sorted), duplicate
  timestamps (summed: the rows of a count series split over two lines are
  one bucket's count; a duplicate whose values are all missing stays NaN),
  gaps: the series is regularised to its median step, a timestamp off the
  grid goes to the nearest grid point, and grid points without a row are
  NaN (``fill="nan"``, the default: unknown is not zero; the model skips
  them and the scores ignore them) or 0 (``fill="zero"``, for count logs
  that only write non-empty buckets).

Timestamps without an offset are taken as UTC; with one, they are converted.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from brain.traffic.forecast import Forecaster
from brain.traffic.forecast_selection import naive_mae

__all__ = ["KEYS", "SeriesInfo", "read_series_csv", "write_series_csv", "evaluate_forecast",
           "calendar_seasons", "synthetic_hourly", "main"]

KEYS = ("mase", "mase_naive", "mase_seasonal_naive", "coverage80", "points", "seconds", "model")


@dataclass(frozen=True)
class SeriesInfo:
    """What reading a series file repaired."""

    rows: int            # data rows read
    step: float          # seconds between grid points (the median step)
    duplicates: int      # rows merged into an earlier row's timestamp
    missing: int         # grid points without a value (NaN, or 0 with fill="zero")
    off_grid: int        # rows moved to the nearest grid point
    reordered: bool      # rows were not in time order


def read_series_csv(path: str | Path, *, fill: str = "nan") -> tuple[np.ndarray, np.ndarray, SeriesInfo]:
    """A regular series from ``ts,value`` rows: (grid times as UTC epoch seconds, values, what was repaired)."""
    import pandas as pd

    if fill not in ("nan", "zero"):
        raise ValueError("fill must be 'nan' or 'zero'")
    path = Path(path)
    stamps: list[str] = []
    values: list[float] = []
    lines: list[int] = []
    try:
        fh = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                if header[:2] != ["ts", "value"] or len([c for c in header if c]) != 2:
                    raise ValueError(f"{path}:{line}: expected the header 'ts,value', got {','.join(row)!r}")
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{line}: expected 2 fields (ts,value), got {len(row)}: {','.join(row)!r}")
            raw_ts, raw_value = row[0].strip(), row[1].strip()
            if not raw_ts:
                raise ValueError(f"{path}:{line}: empty timestamp")
            if raw_value == "" or raw_value.lower() in ("nan", "na", "null"):
                value = math.nan
            else:
                try:
                    value = float(raw_value)
                except ValueError:
                    raise ValueError(f"{path}:{line}: value {raw_value!r} is not a number") from None
                if math.isinf(value):
                    raise ValueError(f"{path}:{line}: value {raw_value!r} is infinite")
            stamps.append(raw_ts)
            values.append(value)
            lines.append(line)
    if header is None:
        raise ValueError(f"{path}: empty file (expected a 'ts,value' header and rows)")
    if not stamps:
        raise ValueError(f"{path}: no data rows after the header")
    parsed = pd.to_datetime(pd.Series(stamps), errors="coerce", utc=True, format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{path}:{lines[i]}: timestamp {stamps[i]!r} does not parse as a date-time"
                         + (f" ({len(bad)} such rows)" if len(bad) > 1 else ""))
    ts = (parsed.dt.as_unit("ns").astype("int64").to_numpy() / 1e9).astype(np.float64)  # pandas 3 parses to µs
    vals = np.asarray(values, dtype=np.float64)
    reordered = bool(np.any(np.diff(ts) < 0))
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    uniq = np.unique(ts)
    if len(uniq) < 2:
        raise ValueError(f"{path}: needs at least two distinct timestamps, got {len(uniq)}")
    step = float(np.median(np.diff(uniq)))
    pos = np.rint((ts - ts[0]) / step).astype(np.int64)
    off_grid = int(np.sum(np.abs(ts - (ts[0] + pos * step)) > 1e-6 * step))
    n = int(pos[-1]) + 1
    total = np.zeros(n)
    seen = np.zeros(n, dtype=np.int64)
    known = ~np.isnan(vals)
    np.add.at(total, pos[known], vals[known])
    np.add.at(seen, pos[known], 1)
    rows_at = np.bincount(pos, minlength=n)
    duplicates = int(np.sum(np.maximum(rows_at - 1, 0)))
    out = np.where(seen > 0, total, np.nan)
    missing = int(np.sum(seen == 0))
    if fill == "zero":
        out = np.where(seen > 0, out, 0.0)
    grid = ts[0] + step * np.arange(n)
    return grid, out, SeriesInfo(rows=len(stamps), step=step, duplicates=duplicates, missing=missing,
                                 off_grid=off_grid, reordered=reordered)


def write_series_csv(path: str | Path, ts: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> Path:
    """Write ``ts,value`` rows (ts: UTC epoch seconds, written as ``YYYY-MM-DD HH:MM:SS``)."""
    from datetime import datetime, timezone

    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "value"])
        for t, v in zip(ts, values):
            stamp = datetime.fromtimestamp(float(t), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            w.writerow([stamp, "" if v is None or (isinstance(v, float) and math.isnan(v)) else
                        (int(v) if float(v).is_integer() else float(v))])
    return path


def calendar_seasons(step: float, season: int) -> tuple[int, ...]:
    """``season`` plus the daily and weekly periods of the grid step (hourly: 24, 168; minute: 1440, 10080).

    A room's traffic follows the clock whatever season the MASE scaling
    names, so the model is offered both; `Forecaster` uses only those with
    two full cycles in the training part.
    """
    out = {int(season)} if season > 1 else set()
    for period in (86400.0, 604800.0):
        k = period / step
        if step < period and abs(k - round(k)) < 1e-9 and round(k) >= 2:
            out.add(int(round(k)))
    return tuple(sorted(out))


def _mae(actual: np.ndarray, pred: np.ndarray) -> float:
    ok = ~np.isnan(actual)
    return float(np.mean(np.abs(actual[ok] - pred[ok]))) if ok.any() else math.nan


def _last_valid(x: np.ndarray) -> float:
    ok = np.flatnonzero(~np.isnan(x))
    return float(x[ok[-1]])


def _ratio(mae: float, scale: float) -> float:
    if math.isnan(mae) or math.isnan(scale):
        return math.nan
    if scale > 0:
        return mae / scale
    return 0.0 if mae == 0 else math.inf  # a constant training part: any error is infinitely worse


def evaluate_forecast(path: str | Path, *, horizon: int, season: int, method: str = "auto",
                      fill: str = "nan", calendar: bool = True) -> dict[str, float | int | str]:
    """Hold out the last ``horizon`` points of ``path``, forecast them, score; returns exactly `KEYS`.

    ``season`` (M) is the period of the MASE scale and of the seasonal-naive
    baseline. With ``calendar`` (the default) the model is also offered the
    daily and weekly periods of the series' step (`calendar_seasons`).
    """
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    if season < 1:
        raise ValueError("season must be at least 1")
    _, y, info = read_series_csv(path, fill=fill)
    n = len(y)
    if n - horizon < max(season + 1, 2):
        raise ValueError(f"{path}: {n} points leave {n - horizon} for training, need more than season "
                         f"{season} (and at least 2)")
    train, test = y[:-horizon], y[-horizon:]
    if np.isnan(train).all():
        raise ValueError(f"{path}: the training part has no values")
    seasons = calendar_seasons(info.step, season) if calendar else ((season,) if season > 1 else ())
    if seasons and len(train) >= 2 * min(seasons):
        # Holt-Winters runs on statsmodels: its import (~1 s) is paid once per process, as by the bot,
        # not by each fit; ``seconds`` times the fit.
        import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401
    t0 = time.perf_counter()
    fc = Forecaster(seasons or 1, level=0.8, method=method).fit(train, horizon=horizon).predict(horizon)
    seconds = time.perf_counter() - t0
    filled = train.copy()
    if np.isnan(filled).any():  # baselines repeat what was last seen
        idx = np.arange(len(filled))
        ok = ~np.isnan(filled)
        filled = np.interp(idx, idx[ok], filled[ok])
    naive = np.full(horizon, _last_valid(train))
    snaive = np.resize(filled[-season:], horizon) if season > 1 else naive
    scale = naive_mae(train, season)
    ok = ~np.isnan(test)
    coverage = float(np.mean((test[ok] >= fc.lower[ok]) & (test[ok] <= fc.upper[ok]))) if ok.any() else math.nan
    return {
        "mase": round(_ratio(_mae(test, fc.mean), scale), 4),
        "mase_naive": round(_ratio(_mae(test, naive), scale), 4),
        "mase_seasonal_naive": round(_ratio(_mae(test, snaive), scale), 4),
        "coverage80": round(coverage, 4),
        "points": n,
        "seconds": round(seconds, 4),
        "model": fc.method,
    }


# ---- synthetic hourly traffic (tests, bench, docs) ----------------------------------------------

#: Weekly stream schedule of the "streams" kind: (weekday, start hour, hours).
_SCHEDULE = ((0, 20, 3), (2, 20, 3), (4, 20, 4), (5, 14, 4), (6, 19, 3))


def synthetic_hourly(weeks: int, *, seed: int = 0, kind: str = "smooth", base: float = 30.0,
                     growth: float = 0.5, holiday_days: int = 9) -> np.ndarray:
    """Poisson hourly counts with a daily and weekly rhythm and a trend; hour 0 is a Monday 00:00.

    Kinds: ``smooth`` (sinusoidal day, busier weekends), ``noweekly`` (the
    day only), ``streams`` (five streams a week on a schedule, 10% skipped,
    starts jittered by an hour, intensity varying per stream), ``daily`` (a
    stream every evening, longer and busier at weekends, 10% skipped), ``ar``
    (smooth, with a persistent AR(1) deviation of the level), ``holiday``
    (smooth, but the last ``holiday_days`` days are a holiday: the audience
    peaks at 14:00 instead of 20:00, half again as large, no weekend effect;
    issue 18's case). ``growth``: the level at the end relative to the start,
    minus one.
    """
    rng = np.random.default_rng(seed)
    n = weeks * 168
    t = np.arange(n)
    hour, dow = t % 24, (t // 24) % 7
    g = 1.0 + growth * t / max(n, 1)
    if kind in ("smooth", "noweekly", "ar", "holiday"):
        daily = 1 + 0.7 * np.sin(2 * np.pi * (hour - 14) / 24)
        if kind in ("smooth", "holiday"):
            daily = daily + 0.2 * np.sin(4 * np.pi * hour / 24)
        weekly = np.ones(n) if kind == "noweekly" else np.where(dow >= 5, 1.4, 1.0) * (1 + 0.1 * np.sin(2 * np.pi * dow / 7))
        if kind == "holiday":
            off = t >= n - 24 * holiday_days
            daily = np.where(off, 1.5 * (1 + 0.7 * np.sin(2 * np.pi * (hour - 8) / 24)), daily)
            weekly = np.where(off, 1.0, weekly)
        lam = base * g * np.maximum(daily, 0.05) * weekly
        if kind == "ar":
            dev = lfilter_ar(rng.normal(0, 0.08, n), 0.9)
            lam = lam * np.exp(dev)
    elif kind == "streams":
        lam = 0.3 * g
        for week in range(weeks):
            for day, h0, length in _SCHEDULE:
                if rng.random() < 0.1:
                    continue
                start = week * 168 + day * 24 + h0 + int(rng.choice([-1, 0, 0, 0, 0, 1]))
                strength = base * 3 * rng.lognormal(0, 0.25)
                for k in range(length):
                    if 0 <= start + k < n:
                        lam[start + k] += strength * g[start + k] * (0.7 if k == 0 else 1.0)
    elif kind == "daily":
        lam = 0.5 * g
        for day in range(weeks * 7):
            if rng.random() < 0.1:
                continue
            weekend = day % 7 >= 5
            length = 5 if weekend else 3
            strength = base * 2 * rng.lognormal(0, 0.2) * (1.3 if weekend else 1.0)
            s = day * 24 + 19
            lam[s:s + length] += strength * g[s:s + length]
    else:
        raise ValueError(f"unknown synthetic kind {kind!r}")
    return rng.poisson(lam).astype(np.float64)


def lfilter_ar(eps: np.ndarray, phi: float) -> np.ndarray:
    """x_t = phi·x_{t-1} + eps_t."""
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -phi], eps)


# ---- command line -------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m brain.traffic.traffic_eval series.csv --horizon 30 --season 1 [--json]``"""
    parser = argparse.ArgumentParser(prog="python -m brain.traffic.traffic_eval", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="a series.csv (ts,value), or a folder holding one")
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--season", type=int, required=True)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--fill", choices=("nan", "zero"), default="nan")
    parser.add_argument("--no-calendar", action="store_true", help="offer the model only --season")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    path = args.path / "series.csv" if args.path.is_dir() else args.path
    try:
        result = evaluate_forecast(path, horizon=args.horizon, season=args.season, method=args.method,
                                   fill=args.fill, calendar=not args.no_calendar)
    except ValueError as exc:
        print(f"traffic_eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for key in KEYS:
            print(f"{key:>20}  {result[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
