"""The post-stream report as one self-contained HTML file: text, tables and embedded charts.

Self-contained because hosts forward it, open it offline and attach it to a
chat: no scripts, no external CSS, fonts or images (charts are ``data:``
PNGs). Everything from viewers, the host or the catalog is escaped by
Jinja2's autoescape; nothing in the file can run.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from brain.insights import report_plots
from brain.text.plural import counted, plural

if TYPE_CHECKING:  # pragma: no cover
    from brain.insights.report import StreamReport

__all__ = ["render_report", "write_report", "summary_lines"]

log = logging.getLogger(__name__)
_TEMPLATES = Path(__file__).with_name("templates")


def _when(ts: float | None, tz: str = "UTC") -> str:
    if ts is None:
        return "—"
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(ts, timezone.utc).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _num(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _chart(report: "StreamReport", name: str, make: Callable[[], bytes]) -> str | None:
    """A chart's data URI, or None with a note (a chart that fails leaves its table)."""
    try:
        return report_plots.data_uri(make())
    except Exception as exc:  # noqa: BLE001 - the text of the report matters more than one chart
        log.exception("report chart %s failed", name)
        report.notes.append(f"{name} chart: could not be drawn ({exc.__class__.__name__})")
        return None


def _charts(report: "StreamReport") -> dict[str, str | None]:
    charts: dict[str, str | None] = {}
    if report.activity is not None and len(report.activity):
        charts["activity"] = _chart(report, "activity",
                                    lambda: report_plots.activity_chart(report.activity, report.expected))
    if report.viewer_mood is not None or report.host_mood is not None:
        charts["mood"] = _chart(report, "mood", lambda: report_plots.mood_chart(
            report.viewer_mood, report.host_mood, report.moments))
    if report.products:
        charts["products"] = _chart(report, "products", lambda: report_plots.products_chart(report.products))
    if report.quality is not None:
        charts["quality"] = _chart(report, "quality", lambda: report_plots.quality_chart(report.quality.parts))
    return charts


def summary_lines(report: "StreamReport") -> list[str]:
    """The report in a few chat lines (``/report`` posts these with the file)."""
    f = report.figures
    lines = [f"Stream {report.session.describe()}: {counted(f['viewer_messages'], 'message')} from "
             f"{counted(f['viewers'], 'viewer')}, {counted(f['questions'], 'question')} ({f['answered']} answered, "
             f"{f['abstained']} passed to you)."]
    if report.quality is not None and report.quality.score is not None:
        weakest = min((p for p in report.quality.parts if p.value is not None), key=lambda p: p.value,
                      default=None)
        extra = f"; weakest: {weakest.explanation}" if weakest is not None else ""
        lines.append(f"Content quality {report.quality.score:.0f}/100{extra}")
    if report.unanswered:
        lines.append("Unanswered: " + "; ".join(f"{g.text} (×{g.asked})" for g in report.unanswered[:3]))
    if report.products:
        top = report.products[0]
        lines.append(f"Most discussed product: {top.name} (named {top.mentioned}×, pinned {top.pinned}×, "
                     f"asked {top.asked}×)")
    if report.newcomers:
        lines.append(f"{counted(len(report.newcomers), 'newcomer')}, e.g. {', '.join(report.newcomers[:3])}")
    return lines


def render_report(report: "StreamReport", *, tz: str = "UTC") -> str:
    """The HTML text of the report."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(_TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = lambda ts: _when(ts, tz)
    env.filters["num"] = _num
    env.filters["pct"] = lambda x: "—" if x is None else f"{100 * x:.0f}%"
    # Counts in the page read as in chat: {{ n | counted("person", "people") }} is "1 person", "3 people";
    # {{ n | plural("minute") }} is the word alone, for a number shown apart (rounded as num(0) shows it).
    env.filters["counted"] = counted
    env.filters["plural"] = lambda n, one, many=None: plural(round(n), one, many)
    charts = _charts(report)
    return env.get_template("report.html").render(r=report, charts=charts, tz=tz, summary=summary_lines(report))


def write_report(report: "StreamReport", out: Path, *, tz: str = "UTC") -> Path:
    """Render and write atomically (a reader never opens half a file)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_report(report, tz=tz), encoding="utf-8")
    tmp.replace(out)
    return out
