"""Benchmark: the whole post-stream report of a 4-hour, 40,000-message session (target <= 10 s).

Usage: HF_HUB_OFFLINE=1 python bench/report.py [--runs 3] [--messages 40000] [--hours 4] [--json]

Data: the synthetic session of bench/insights.py (the same seeded builder,
written through the real `Store`). Timed end to end, as `liveroom report`
runs it after one warm-up run (which pays jieba's dictionary, the
classifier's weights, matplotlib's import): finding the sessions, reading
the session, every section of `brain.insights.report.build_report` (activity and
forecast, mood, questions, products, audience graph and communities,
quality, host profile) and `brain.insights.report_html.render_report` with its four
charts. Per-text caches are cleared before every run.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import machine_line, table  # noqa: E402
from bench.insights import ROOM, build, catalog, clear_text_caches, session_arguments  # noqa: E402
from brain.store.event_store import Store  # noqa: E402

TARGET_S = 10.0


def main(argv: list[str]) -> int:
    args = session_arguments(__doc__, argv)

    from bots.features.audience import STORED_KINDS, audience_graph
    from bots.runtime.config import Config
    from brain.insights.report import build_report
    from brain.insights.report_html import render_report

    config = Config()
    products = catalog()
    totals: list[float] = []
    renders: list[float] = []
    sections: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        build(store, hours=args.hours, messages=args.messages)
        for run in range(args.runs + 1):
            clear_text_caches()
            t0 = time.perf_counter()
            report = build_report(store, ROOM.key, products=products,
                                  audience=audience_graph(ROOM.key, config.audience, "liveroom"),
                                  audience_kinds=STORED_KINDS)
            t1 = time.perf_counter()
            html = render_report(report)
            t2 = time.perf_counter()
            if run == 0:
                cold = t2 - t0
                continue
            totals.append(t2 - t0)
            renders.append(t2 - t1)
            sections.append(report.seconds)
        store.close()
    median = statistics.median(totals)
    parts = {k: round(statistics.median(s[k] for s in sections), 3) for k in sections[0]}
    summary = {"hours": args.hours, "viewer_messages": report.figures["viewer_messages"],
               "host_lines": report.figures["host_lines"], "html_kb": round(len(html.encode()) / 1024, 1),
               "median_s": round(median, 3), "cold_s": round(cold, 3), "render_s": round(statistics.median(renders), 3),
               "sections_s": parts, "notes": report.notes, "target_s": TARGET_S, "within_target": median <= TARGET_S}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"## post-stream report, {args.hours:g} h, {summary['viewer_messages']:,} viewer messages, "
          f"{summary['host_lines']:,} host lines (median of {args.runs} runs after a warm-up; {machine_line()})\n")
    rows = ([[k, f"{v:.3f}"] for k, v in parts.items() if k != "total"]
            + [["build (all sections)", f"{parts['total']:.3f}"], ["render (4 charts)", f"{summary['render_s']:.3f}"],
               ["total", f"{median:.3f}"]])
    print(table(["step", "median s"], rows))
    print(f"\ncold (first run in the process): {cold:.2f} s; HTML {summary['html_kb']} KB")
    print(f"target: total <= {TARGET_S:g} s: {'met' if median <= TARGET_S else 'MISSED'}")
    print("\n" + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
