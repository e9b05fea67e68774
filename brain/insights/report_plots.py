"""The report's charts as PNG bytes (matplotlib's Agg canvas: no display, no global pyplot state).

The report is one self-contained HTML file, so each chart is embedded as a
``data:`` URI. Labels stay ASCII (product ids, not names): the machine may
have no CJK font, and a chart of empty boxes is worse than an id.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from brain.chat.sentiment import Moment, MoodSeries
    from brain.insights.quality import QualityPart
    from brain.insights.report import ProductActivity
    from brain.traffic.forecast import Forecast
    from brain.traffic.series import ActivitySeries

__all__ = ["activity_chart", "mood_chart", "products_chart", "quality_chart", "data_uri"]

_BLUE, _ORANGE, _GREEN, _GREY, _RED = "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f", "#d62728"


def _figure(width: float = 9.0, height: float = 3.2) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=96)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: "Figure") -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _times(ts: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(float(t), timezone.utc) for t in ts]


def _time_axis(ax) -> None:  # noqa: ANN001 - a matplotlib Axes
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def activity_chart(series: "ActivitySeries", expected: "Forecast | None") -> bytes:
    """Messages and questions per minute, against the range the room's history predicted."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    times = _times(series.ts)
    if expected is not None:
        ax.fill_between(times, expected.lower, expected.upper, color=_ORANGE, alpha=0.2, linewidth=0,
                        label=f"expected ({expected.level:.0%}, {expected.method})")
        ax.plot(times, expected.mean, color=_ORANGE, linestyle="--", linewidth=1.0)
    ax.plot(times, series.messages, color=_BLUE, linewidth=1.2, label="messages / min")
    ax.bar(times, series.questions, width=1 / 1440, color=_GREEN, alpha=0.7, label="questions / min")
    ax.set_ylabel("per minute")
    ax.set_ylim(bottom=0)
    _time_axis(ax)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def mood_chart(viewers: "MoodSeries | None", host: "MoodSeries | None", moments: Sequence["Moment"]) -> bytes:
    """Viewers' and host's mood per minute (smoothed), with the moments that moved the room marked."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for series, colour, label in ((viewers, _BLUE, "viewers"), (host, _GREY, "host")):
        if series is not None and len(series):
            ax.plot(_times(series.start), series.smoothed, color=colour, linewidth=1.3, label=label)
    for i, m in enumerate(moments, 1):
        when = datetime.fromtimestamp(m.start, timezone.utc)
        ax.axvline(when, color=_GREEN if m.direction == "up" else _RED, alpha=0.5, linewidth=1)
        ax.annotate(str(i), (when, m.after), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("mood (−1 … +1)")
    _time_axis(ax)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def products_chart(rows: Sequence["ProductActivity"]) -> bytes:
    """For each product: times the host named it, pinned it, and viewers asked about it."""
    rows = list(rows)[:12]
    fig = _figure(9.0, max(2.0, 0.45 * len(rows) + 0.8))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(rows))
    h = 0.27
    for offset, attr, colour in ((-h, "mentioned", _BLUE), (0.0, "pinned", _ORANGE), (h, "asked", _GREEN)):
        ax.barh(y + offset, [getattr(r, attr) for r in rows], height=h, color=colour, label=attr)
    ax.set_yticks(y, [r.id for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def quality_chart(parts: Sequence["QualityPart"]) -> bytes:
    """Each quality part's value (0–100); parts that could not be computed are drawn empty and greyed."""
    parts = list(parts)
    fig = _figure(9.0, max(1.8, 0.45 * len(parts) + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(parts))
    values = [100 * p.value if p.value is not None else 0.0 for p in parts]
    colours = [_GREY if p.value is None else _GREEN if p.value >= 0.7 else _ORANGE if p.value >= 0.4 else _RED
               for p in parts]
    ax.barh(y, values, color=colours)
    ax.set_yticks(y, [p.name.replace("_", " ") for p in parts], fontsize=8)
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
