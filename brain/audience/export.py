"""The audience graph as files: GraphML, JSON, CSV for other tools; PNG and HTML to look at.

Every export writes the same annotated graph: nodes carry ``name``,
``community`` (-1 = talked to nobody) and ``influence`` (PageRank), plus the
snapshot's scalar counters (messages, questions, answers, sessions, first_seen,
last_seen); edges carry ``weight`` (decayed) and the directed per-kind counts
(``reply_fwd`` … see `brain.audience.graph`). A plain graph without ``community`` or
``influence`` attributes is analysed first. Non-scalar attributes (the recent
messages) are left out: a file travels further than the room it came from, and
GraphML cannot hold lists anyway.

* ``graphml``: ``nx.write_graphml``; reads back with ``nx.read_graphml`` (node ids become strings).
* ``json``: node-link data (``nx.node_link_data``, ``edges="edges"``), UTF-8.
* ``csv``: two files next to each other, ``<stem>.nodes.csv`` (key, name,
  community, influence, counters) and ``<stem>.edges.csv`` (source, target,
  weight, counts); ``audience.csv`` gives ``audience.nodes.csv`` and ``audience.edges.csv``.

`plot_graph` draws the ``top_n`` (300) most influential people only, and says
so in the title: a force layout of 100,000 dots is a grey disc, and it would
take minutes. It draws on a bare ``matplotlib.figure.Figure`` with the Agg
canvas instead of calling ``matplotlib.use("Agg")``: same headless rendering,
but no process-wide backend switch and no pyplot state, so it is safe from the
analytics worker thread. ``.html`` is one self-contained file: the same drawing
as inline SVG, and sortable tables of the top people and communities (a few
lines of inline JavaScript, no CDN).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from brain.audience.communities import AudienceReport, analyse
from brain.text.plural import counted

__all__ = ["EXPORT_FORMATS", "PLOT_FORMATS", "annotated_graph", "export_graph", "plot_graph"]

EXPORT_FORMATS: tuple[str, ...] = ("graphml", "json", "csv")
PLOT_FORMATS: tuple[str, ...] = (".png", ".html")
_NODE_FIRST = ("name", "community", "influence", "messages", "questions", "answers", "sessions",
               "first_seen", "last_seen")


def _scalar(value: Any) -> Any:
    """A GraphML/CSV/JSON-safe scalar, or None to leave the attribute out."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    return None


def _report_of(source: nx.Graph | AudienceReport) -> AudienceReport:
    if isinstance(source, AudienceReport):
        return source
    if isinstance(source, nx.Graph):
        return analyse(source, keywords=0)
    raise TypeError(f"expected an nx.Graph or an AudienceReport, not {type(source).__name__}")


def annotated_graph(source: nx.Graph | AudienceReport) -> nx.Graph:
    """The graph every export writes: scalar attributes only, with name, community and influence."""
    if isinstance(source, nx.Graph) and all("community" in d and "influence" in d for _, d in source.nodes(data=True)):
        base, membership, influence = source, None, None
    else:
        report = _report_of(source)
        base, membership, influence = report.graph, report.membership, report.influence
    out = nx.Graph()
    out.graph.update({k: v for k, v in ((k, _scalar(v)) for k, v in base.graph.items()) if v is not None})
    for node, data in base.nodes(data=True):
        attrs = {k: v for k, v in ((k, _scalar(v)) for k, v in data.items()) if v is not None}
        attrs["name"] = str(data.get("name") or node)
        if membership is not None and influence is not None:
            attrs["community"] = int(membership.get(node, -1))
            attrs["influence"] = float(influence.get(node, 0.0))
        out.add_node(node, **attrs)
    for u, v, data in base.edges(data=True):
        attrs = {k: val for k, val in ((k, _scalar(val)) for k, val in data.items()) if val is not None}
        attrs.setdefault("weight", 1.0)
        out.add_edge(u, v, **attrs)
    return out


def _format_of(path: Path, format: str | None) -> str:
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt or path.name!r} (allowed: {', '.join(EXPORT_FORMATS)})")
    return fmt


def _columns(items: list[dict[str, Any]], first: tuple[str, ...]) -> list[str]:
    seen = {k for d in items for k in d}
    return [c for c in first if c in seen] + sorted(seen - set(first))


def export_graph(source: nx.Graph | AudienceReport, path: Path | str, format: str | None = None) -> list[Path]:
    """Write the annotated graph as ``format`` (graphml, json, csv; default: from the suffix). Returns the files written."""
    path = Path(path)
    fmt = _format_of(path, format)
    graph = annotated_graph(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "graphml":
        nx.write_graphml(graph, path)
        return [path]
    if fmt == "json":
        data = nx.node_link_data(graph, edges="edges")
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        return [path]
    stem = path.with_suffix("") if path.suffix.lower() == ".csv" else path
    nodes_path, edges_path = Path(f"{stem}.nodes.csv"), Path(f"{stem}.edges.csv")
    node_rows = [{"key": n, **d} for n, d in graph.nodes(data=True)]
    edge_rows = [{"source": u, "target": v, **d} for u, v, d in graph.edges(data=True)]
    for target, rows, first in ((nodes_path, node_rows, ("key",) + _NODE_FIRST),
                                (edges_path, edge_rows, ("source", "target", "weight", "ts"))):
        with open(target, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=_columns(rows, first) or list(first[:2]), restval="")
            writer.writeheader()
            writer.writerows(rows)
    return [nodes_path, edges_path]


# ---- pictures ------------------------------------------------------------------------

_GREY = (0.62, 0.62, 0.62, 1.0)
#: Fonts with CJK glyphs, used after DejaVu Sans when installed (matplotlib falls back per glyph).
_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
              "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Arial Unicode MS")


@lru_cache(maxsize=1)
def _fonts() -> list[str]:
    """DejaVu Sans plus whichever CJK fonts are installed (naming absent ones would log a warning each)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(f for f in _CJK_FONTS if f in installed)]


def _save(fig: Any, target: Any, format: str, **kwargs: Any) -> None:
    """``fig.savefig`` without one warning per missing glyph (CJK names on a machine without CJK fonts)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(target, format=format, **kwargs)


def _draw(report: AudienceReport, top_n: int, labels: int, seed: int, title: str | None):
    """A matplotlib Figure of the ``top_n`` most influential people (Agg canvas, no pyplot)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    keep = [m.key for m in report.top_influencers(top_n)]
    sub = report.graph.subgraph(keep)
    fig = Figure(figsize=(10, 8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    everyone = counted(report.nodes, "person", "people", grouped=True)
    people = everyone if report.nodes == len(keep) else f"top {len(keep):,} of {everyone} by influence"
    ax.set_title(title or f"Audience{' of ' + report.room if report.room else ''}: {people}, "
                 f"{counted(len(report.communities), 'community', 'communities')}", fontsize=11,
                 fontfamily=_fonts())
    if not keep:
        ax.text(0.5, 0.5, "no audience yet", ha="center", va="center", transform=ax.transAxes)
        return fig
    pos = nx.spring_layout(sub, seed=seed, weight="weight", k=None, iterations=60) if len(keep) > 1 \
        else {keep[0]: np.zeros(2)}
    palette = colormaps["tab20"]  # the ten dark shades first, then the ten light ones
    colours = [palette((2 * c) % 20 + (c // 10) % 2) if (c := report.membership.get(k, -1)) >= 0 else _GREY
               for k in keep]
    influence = np.array([report.influence.get(k, 0.0) for k in keep])
    sizes = 20 + 600 * np.sqrt(influence / influence.max()) if influence.max() > 0 else np.full(len(keep), 40.0)
    if sub.number_of_edges():
        weights = np.array([d.get("weight", 1.0) for _, _, d in sub.edges(data=True)])
        segments = [(pos[u], pos[v]) for u, v in sub.edges()]
        alpha = 0.15 + 0.5 * weights / weights.max()
        ax.add_collection(LineCollection(segments, colors=[(0.3, 0.3, 0.35, a) for a in alpha],
                                         linewidths=0.6, zorder=1))
    xy = np.array([pos[k] for k in keep])
    ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=colours, edgecolors="white", linewidths=0.5, zorder=2)
    for k in keep[:max(labels, 0)]:
        ax.annotate(report.name(k)[:24], pos[k], fontsize=8, ha="center", va="bottom", fontfamily=_fonts(),
                    xytext=(0, 6), textcoords="offset points", zorder=3)
    ax.autoscale_view()
    ax.margins(0.05)
    return fig


def _table(headers: list[str], rows: list[list[Any]], table_id: str) -> str:
    head = "".join(f'<th onclick="sortTable(\'{table_id}\',{i})">{html.escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(
        f'<td data-v="{html.escape(str(c))}">{html.escape(f"{c:.4g}" if isinstance(c, float) else str(c))}</td>'
        for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_SCRIPT = """
function sortTable(id, col) {
  const t = document.getElementById(id), body = t.tBodies[0];
  const rows = Array.from(body.rows), asc = t.dataset.col == col && t.dataset.dir != "asc";
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v, nx = parseFloat(x), ny = parseFloat(y);
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return asc ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
  t.dataset.col = col; t.dataset.dir = asc ? "asc" : "desc";
}
"""
_STYLE = ("body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:1em 0}"
          "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{cursor:pointer;background:#f3f3f3}"
          "svg{max-width:100%;height:auto}")


def _html(report: AudienceReport, fig: Any, rows: int) -> str:
    buf = io.StringIO()
    _save(fig, buf, "svg", bbox_inches="tight")
    svg = buf.getvalue()
    svg = svg[svg.find("<svg"):]  # drop the XML prolog and doctype: inline SVG needs neither
    graph = report.graph
    people = [[i + 1, m.name, str(m.key), m.community, m.influence,
               int(graph.nodes[m.key].get("messages", 0) or 0), int(graph.nodes[m.key].get("answers", 0) or 0)]
              for i, m in enumerate(report.top_influencers(rows))]
    communities = [[c.id, c.size, ", ".join(m.name for m in c.top), " ".join(w for w, _ in c.keywords)]
                   for c in report.communities[:rows]]
    title = f"Audience{' of ' + report.room if report.room else ''}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            f"<p>{counted(report.nodes, 'person', 'people', grouped=True)}, "
            f"{counted(report.edges, 'tie', grouped=True)}, "
            f"{counted(len(report.communities), 'community', 'communities')}, "
            f"modularity {report.modularity:.3f}. Click a column to sort.</p>{svg}"
            f"<h2>Most influential</h2>"
            + _table(["#", "name", "key", "community", "influence", "messages", "answers"], people, "people")
            + "<h2>Communities</h2>"
            + _table(["id", "size", "top members", "keywords"], communities, "communities")
            + "</body></html>")


def plot_graph(source: nx.Graph | AudienceReport, out: Path | str, *, top_n: int = 300, labels: int = 12,
               seed: int = 0, title: str | None = None, table_rows: int = 50) -> Path:
    """Draw the audience to ``out`` (.png, or .html with tables); communities coloured, size by influence."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise ValueError(f"unknown picture format {out.suffix or out.name!r} (allowed: {', '.join(PLOT_FORMATS)})")
    if top_n < 1:
        raise ValueError("top_n must be >= 1")
    report = _report_of(source)
    fig = _draw(report, top_n, labels, seed, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        _save(fig, out, "png")
    else:
        out.write_text(_html(report, fig, table_rows), encoding="utf-8")
    return out
