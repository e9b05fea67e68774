"""Benchmark: what issue 17 promises, measured from outside with the real CLI and real processes.

1. ``replay``: a generated 50,000-line chat replayed as a fresh process (routing and recording, answering off),
   then the same file replayed again into the same data directory: every event is recognised as stored,
   nothing is written or answered twice. With ``--baseline REV`` the first replay also runs from a git
   checkout of REV (the code before the fix) in the same run, so the cost of the duplicate check is a ratio
   measured side by side.
2. ``poison``: the same chat with a lone surrogate (JSON ``"\\ud800"``) on 1 line in 100: every line is
   recorded (repaired, flagged), none is lost, the replay says so.
3. ``writer``: 100,000 rows queued straight into the store (past the adapters' repair) with one unencodable
   row in 1,000: rows/s, how many were set aside, whether the writer is still alive.

Prints every run and the medians; record them in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_chat import generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUIET = "answers: {enabled: false}\nproducts: {enabled: false}\naudience: {enabled: false}\n"


def replay(code: Path, config: Path, data_dir: Path, log: Path) -> dict:
    """`liveroom replay --fast --json` from the source tree ``code`` as a fresh process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, "-m", "bots.cli", "--config", str(config), "--data-dir", str(data_dir),
                          "replay", str(log), "--fast", "--json"], check=True, capture_output=True, text=True,
                         cwd=code, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(data_dir: Path) -> tuple[int, int]:
    with sqlite3.connect(data_dir / "liveroom.db") as conn:
        return conn.execute("select count(*), count(distinct room || ' ' || event_id) from events "
                            "where direction = 'in'").fetchone()


def write_log(path: Path, records: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")  # ASCII JSON: a lone surrogate is written as its escape
    return path


def bench_replay(tmp: Path, lines: int, runs: int, baseline: Path | None) -> None:
    log = write_log(tmp / "chat.jsonl", generate(lines))
    config = tmp / "quiet.yaml"
    config.write_text(QUIET)
    fresh, again, before = [], [], []
    for i in range(runs):
        data = tmp / f"replay-{i}"
        first = replay(ROOT, config, data, log)
        second = replay(ROOT, config, data, log)
        stored, distinct = rows(data)
        fresh.append(first["msgs_per_s"])
        again.append(second["msgs_per_s"])
        line = (f"replay run {i + 1}: fresh {first['msgs_per_s']:,.0f}/s ({first['committed']:,} rows); again "
                f"{second['msgs_per_s']:,.0f}/s, {second['already_stored']:,} already stored, "
                f"{second['committed']} written, {second['replies']} replies; rows {stored:,} = distinct {distinct:,}")
        if baseline is not None:
            old = replay(baseline, config, tmp / f"baseline-{i}", log)
            before.append(old["msgs_per_s"])
            line += f"; before the fix (same run) {old['msgs_per_s']:,.0f}/s"
        print(line)
    print(f"== replay {lines:,} lines, median of {runs}: fresh {statistics.median(fresh):,.0f}/s, "
          f"replayed again {statistics.median(again):,.0f}/s"
          + (f", before the fix {statistics.median(before):,.0f}/s (ratio after/before "
             f"{statistics.median(f / b for f, b in zip(fresh, before)):.2f})" if before else ""))


def bench_poison(tmp: Path, lines: int, runs: int, baseline: Path | None) -> None:
    records = generate(lines)
    for i, rec in enumerate(records):
        if i % 100 == 50:
            rec["text"] = rec["text"] + " \ud800"
    log = write_log(tmp / "poison.jsonl", records)
    config = tmp / "quiet.yaml"
    config.write_text(QUIET)
    for i in range(runs):
        data = tmp / f"poison-{i}"
        report = replay(ROOT, config, data, log)
        stored, _ = rows(data)
        print(f"poison run {i + 1}: {report['messages']:,} events, {report['repaired']:,} repaired, "
              f"{report['set_aside']} set aside, {stored:,} rows stored; {report['msgs_per_s']:,.0f}/s")
    if baseline is not None:
        data = tmp / "poison-baseline"
        try:
            report = replay(baseline, config, data, log)
            said = f"said {report['messages']:,} events, {report['bad_lines']} bad lines, exit 0"
        except subprocess.CalledProcessError as exc:
            said = f"exit {exc.returncode}"
        print(f"poison before the fix: {said}; {rows(data)[0]:,} rows stored of {lines:,}")


def bench_writer(tmp: Path, n: int, runs: int) -> None:
    sys.path.insert(0, str(ROOT))
    import logging

    from adapters.model import MessageEvent, Room, User
    from brain.store.event_store import Store

    logging.getLogger("brain.store.event_store").setLevel(logging.CRITICAL)  # one line per set-aside row otherwise

    room = Room("bench", "w")
    ts = datetime(2026, 11, 20, tzinfo=timezone.utc)
    events = [MessageEvent(event_id=str(i), room=room, author=User("bench", f"u{i % 50}", f"u{i % 50}"),
                           text=("bad \ud800" if i % 1000 == 500 else f"message {i}"), ts=ts) for i in range(n)]
    rates = []
    for r in range(runs):
        store = Store(f"sqlite:///{tmp / f'writer-{r}.db'}")
        started = time.perf_counter()
        for event in events:
            store.record(event)
        store.flush(timeout=None)
        seconds = time.perf_counter() - started
        rates.append(n / seconds)
        print(f"writer run {r + 1}: {n:,} rows in {seconds:.2f} s = {n / seconds:,.0f}/s; committed "
              f"{store.committed:,}, set aside {store.set_aside}, writer alive {store.health().writing}")
        store.close()
    print(f"== writer: median {statistics.median(rates):,.0f} rows/s with one unencodable row in 1,000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also replay from a checkout of git revision REV")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="liveroom-robust-") as name:
        tmp = Path(name)
        baseline = None
        if args.baseline:
            baseline = tmp / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                           check=True, capture_output=True)
        try:
            bench_replay(tmp, args.lines, args.runs, baseline)
            bench_poison(tmp, args.lines, args.runs, baseline)
            bench_writer(tmp, 100_000, args.runs)
        finally:
            if baseline is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                               capture_output=True)


if __name__ == "__main__":
    main()
