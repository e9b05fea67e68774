"""Benchmark: traffic forecasting (issue 7): fit time, series building, anomaly updates; optional method comparison.

Usage: python bench/traffic.py [--json] [--runs N] [--events N] [--compare]

1. Forecast fit + predict for a year of hourly data (8,760 points of the
   synthetic "streams" kind, seasons 24 and 168, horizon 168): median of
   ``--runs`` runs per method (target <= 2 s for the default model on this
   machine). The comparison methods (ETS, MSTL + ETS, seasonal naive) are timed
   on the same series.
2. `activity_series` over a SQLite store holding ``--events`` (1,000,000)
   chat events of one room over 30 days (3,000 people, plus joins, viewer
   counts and 10% of the rows in another room), per-minute and per-hour
   buckets, questions from the questions table; median of 3 runs. Rows are
   written with sqlite3 ``executemany`` straight into the events table (the
   Store's own write path is measured by bench/ingest_throughput.py).
3. `AnomalyDetector.update`: microseconds per minute over 1,000,000 updates.

``--compare``: MASE (vs seasonal naive) and 80% coverage of each method on the
synthetic hourly kinds (brain/traffic/traffic_eval.py: synthetic_hourly) through
`evaluate_forecast`, the table behind docs/traffic.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

from _common import table  # noqa: E402
from brain.store.event_store import Store  # noqa: E402
from brain.traffic.anomalies import AnomalyDetector  # noqa: E402
from brain.traffic.forecast import Forecaster  # noqa: E402
from brain.traffic.series import HOUR, activity_series  # noqa: E402
from brain.traffic.traffic_eval import evaluate_forecast, synthetic_hourly, write_series_csv  # noqa: E402

TARGET_FIT_S = 2.0
ROOM = "replay:bench"
T0 = 1767571200.0  # 2026-01-05 00:00 UTC, a Monday


def time_fit(y: np.ndarray, method: str, runs: int) -> tuple[float, str]:
    times = []
    used = ""
    for _ in range(runs):
        t = time.perf_counter()
        f = Forecaster((24, 168), method=method)
        f.fit(y, horizon=168).predict(168)
        times.append(time.perf_counter() - t)
        used = f.method
    return statistics.median(times), used


def fill_store(path: Path, n: int, seed: int = 0) -> None:
    """``n`` chat events of ROOM over 30 days, plus joins/viewers and 10% noise rows of another room."""
    Store(f"sqlite:///{path}").close()  # create the schema with the Store's own migrations
    rng = np.random.default_rng(seed)
    span = 30 * 86400
    ts = T0 + np.sort(rng.uniform(0, span, n))
    users = rng.integers(0, 3000, n)
    other = rng.random(n) < 0.1
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    rows = ((f"e{i}", "replay:other" if other[i] else ROOM, "replay", "replay", "chat", "in", f"replay:u{users[i]}",
             "u", "viewer", "hi there", None, None, None, None, float(ts[i]), float(ts[i])) for i in range(n))
    con.executemany("INSERT INTO events (event_id, room, platform, source, kind, direction, user_key, user_name, "
                    "role, text, command, reply_to, mentions, flags, ts, recorded_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    extra = []
    for m in range(0, span, 60):  # a viewer count every minute, a join every 5 minutes
        t = T0 + m
        extra.append((f"v{m}", ROOM, "replay", "replay", "viewers", "in", "replay:obs", "obs", "viewer",
                      str(100 + m % 50), None, None, None, None, t, t))
        if m % 300 == 0:
            extra.append((f"j{m}", ROOM, "replay", "replay", "join", "in", f"replay:j{m}", "j", "viewer",
                          None, None, None, None, None, t + 1, t + 1))
    con.executemany("INSERT INTO events (event_id, room, platform, source, kind, direction, user_key, user_name, "
                    "role, text, command, reply_to, mentions, flags, ts, recorded_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", extra)
    con.commit()
    con.close()


def bench_series(n_events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        t = time.perf_counter()
        fill_store(path, n_events)
        fill_s = time.perf_counter() - t
        store = Store(f"sqlite:///{path}")
        try:
            total = store.count()
            out: dict[str, float] = {"events_total": total, "fill_s": round(fill_s, 1)}
            for label, step in (("minute", 60), ("hour", HOUR)):
                times = []
                for _ in range(3):
                    t = time.perf_counter()
                    s = activity_series(store, ROOM, step=step, questions="table")
                    times.append(time.perf_counter() - t)
                out[f"{label}_s"] = round(statistics.median(times), 3)
                out[f"{label}_buckets"] = len(s)
                out[f"{label}_messages"] = int(s.messages.sum())
        finally:
            store.close()
    return out


def bench_anomaly(n: int = 1_000_000) -> float:
    rng = np.random.default_rng(0)
    values = rng.poisson(30, n).astype(float).tolist()
    det = AnomalyDetector()
    update = det.update
    t = time.perf_counter()
    for v in values:
        update(v)
    return (time.perf_counter() - t) / n * 1e6


def compare(runs_seeds: int = 3) -> list[dict[str, object]]:
    methods = ("auto", "mstl", "ets", "snaive", "naive")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, weeks in itertools.product(("smooth", "noweekly", "streams", "daily", "ar"), (3, 6, 12)):
            paths = []
            for seed in range(runs_seeds):
                y = synthetic_hourly(weeks, seed=seed, kind=kind)
                paths.append(write_series_csv(Path(tmp) / f"{kind}{weeks}{seed}.csv", T0 + 3600 * np.arange(len(y)), y))
            for horizon, season in ((24, 24), (168, 168)):
                row: dict[str, object] = {"kind": kind, "weeks": weeks, "H": horizon, "M": season}
                for method in methods:
                    rs = [evaluate_forecast(p, horizon=horizon, season=season, method=method) for p in paths]
                    row[method] = round(float(np.mean([r["mase"] for r in rs])), 3)
                    row[f"{method}_cov"] = round(float(np.mean([r["coverage80"] for r in rs])), 2)
                    row[f"{method}_s"] = round(float(np.mean([r["seconds"] for r in rs])), 3)
                row["snaive_baseline"] = round(float(np.mean([r["mase_seasonal_naive"] for r in rs])), 3)
                out.append(row)
                print(f"# {row}", file=sys.stderr, flush=True)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--compare", action="store_true")
    args = ap.parse_args(argv)

    year = synthetic_hourly(53, seed=0, kind="streams")[:8760]
    fits = {}
    for method in ("auto", "ets", "mstl", "snaive"):
        seconds, used = time_fit(year, method, args.runs if method != "mstl" else max(3, args.runs // 2))
        fits[method] = {"seconds": round(seconds, 4), "model": used}
    series = bench_series(args.events)
    anomaly_us = bench_anomaly()
    result = {"fit_year_hourly": fits, "series": series, "anomaly_update_us": round(anomaly_us, 2),
              "target_fit_s": TARGET_FIT_S, "fit_ok": fits["auto"]["seconds"] <= TARGET_FIT_S}
    if args.compare:
        result["compare"] = compare()
    if args.json:
        print(json.dumps(result))
        return 0
    import platform

    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}\n")
    print(table(["forecast, 8,760 hourly points, H=168", "model", f"fit+predict s (median of {args.runs})"],
                [[m, f["model"], f"{f['seconds']:.3f}"] for m, f in fits.items()]))
    print()
    print(table(["series from the store", "buckets", "messages", "seconds (median of 3)"],
                [[f"{series['events_total']:,} events, per minute", series["minute_buckets"],
                  f"{series['minute_messages']:,}", series["minute_s"]],
                 [f"{series['events_total']:,} events, per hour", series["hour_buckets"],
                  f"{series['hour_messages']:,}", series["hour_s"]]]))
    print()
    print(f"anomaly detector: {anomaly_us:.2f} µs per minute update")
    if args.compare:
        print()
        methods = ("auto", "mstl", "ets", "snaive", "naive")
        print(table(["kind", "weeks", "H/M", *methods],
                    [[r["kind"], r["weeks"], f"{r['H']}/{r['M']}",
                      *(f"{r[m]:.2f} ({r[m + '_cov']:.2f})" for m in methods)] for r in result["compare"]]))
    print()
    print(json.dumps({k: v for k, v in result.items() if k != "compare"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
