"""A forecast as a PNG: the history, the forecast and its interval, anomalies marked.

Drawn with ``matplotlib.figure.Figure`` and the Agg canvas directly, never
``pyplot``: pyplot keeps global state (current figure, backend) that is not
thread-safe, and the bot renders charts from worker threads. Nothing here
opens a window or needs a display.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from brain.traffic.anomalies import Anomaly
from brain.traffic.forecast import Forecast

__all__ = ["plot_forecast"]


def _as_datetimes(ts: Sequence[float | datetime] | np.ndarray) -> list[datetime]:
    out: list[datetime] = []
    for t in ts:
        if isinstance(t, datetime):
            out.append(t if t.tzinfo else t.replace(tzinfo=timezone.utc))
        elif isinstance(t, np.datetime64):
            out.append(datetime.fromtimestamp(t.astype("datetime64[ns]").astype(np.int64) / 1e9, tz=timezone.utc))
        else:
            out.append(datetime.fromtimestamp(float(t), tz=timezone.utc))
    return out


def plot_forecast(history_ts: Sequence[float | datetime] | np.ndarray, history_values: Sequence[float] | np.ndarray,
                  forecast: Forecast, out: str | Path, *, title: str = "Traffic forecast",
                  anomalies: Iterable[Anomaly] | None = None, forecast_ts: Sequence[float | datetime] | None = None,
                  ylabel: str = "messages", tz: str | None = None, dpi: int = 100,
                  size: tuple[float, float] = (10.0, 4.0)) -> Path:
    """Write a PNG of the history (line), the forecast (dashed) and its interval (shaded) to ``out``.

    ``history_ts``: UTC epoch seconds or datetimes. The forecast's times
    continue the history at its median step unless ``forecast_ts`` is given.
    ``anomalies`` (from `AnomalyDetector`) are marked on the history by their
    ``ts`` (or, without one, by their index into the history). ``tz`` shows
    the axis in a room's local time. Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    times = _as_datetimes(history_ts)
    values = np.asarray(history_values, dtype=np.float64)
    if len(times) != len(values):
        raise ValueError(f"history_ts has {len(times)} times, history_values {len(values)} values")
    if forecast_ts is not None:
        f_times = _as_datetimes(forecast_ts)
        if len(f_times) != len(forecast):
            raise ValueError(f"forecast_ts has {len(f_times)} times for a forecast of {len(forecast)} steps")
    elif len(times) >= 2:
        epoch = np.array([t.timestamp() for t in times])
        step = float(np.median(np.diff(epoch)))
        f_times = _as_datetimes(epoch[-1] + step * np.arange(1, len(forecast) + 1))
    else:
        raise ValueError("forecast_ts is needed when the history has fewer than two points")
    zone = None
    if tz is not None:
        from brain.traffic.series import _zone

        zone = _zone(tz)
        times = [t.astimezone(zone) for t in times]
        f_times = [t.astimezone(zone) for t in f_times]

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(times, values, color="#1f77b4", linewidth=1.0, label="history")
    ax.fill_between(f_times, forecast.lower, forecast.upper, color="#ff7f0e", alpha=0.25, linewidth=0,
                    label=f"{forecast.level:.0%} interval")
    ax.plot(f_times, forecast.mean, color="#ff7f0e", linewidth=1.5, linestyle="--",
            label=f"forecast ({forecast.method})")
    marks = list(anomalies or ())
    if marks:
        by_ts = {round(t.timestamp()): i for i, t in enumerate(_as_datetimes(history_ts))}
        for kind, colour, marker in (("spike", "#d62728", "^"), ("drop", "#9467bd", "v")):
            xs, ys = [], []
            for a in marks:
                if a.kind != kind:
                    continue
                i = by_ts.get(round(a.ts)) if a.ts is not None else a.index
                if i is None or not 0 <= i < len(times):
                    continue
                xs.append(times[i])
                ys.append(values[i])
            if xs:
                ax.scatter(xs, ys, color=colour, marker=marker, s=40, zorder=3, label=kind)
    locator = AutoDateLocator(tz=zone)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=zone))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0 if np.nanmin(np.concatenate([values, forecast.lower])) >= 0 else None)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
