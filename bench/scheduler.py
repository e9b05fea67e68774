"""Benchmark: scheduler overhead with 10,000 stored jobs (issue 7).

Usage: HF_HUB_OFFLINE=1 python bench/scheduler.py [--jobs N] [--json]

The bot's own `ScheduleService` (APScheduler 3 AsyncIOScheduler, SQLAlchemy
job store in a SQLite file, the bot's payloads) with N jobs spread over 100
rooms: a quarter promos (interval), the rest stream reminders (one-shot), all
in the future. Measured, median of 5 runs:

* add: seconds to store the N jobs through `ScheduleService.add`;
* start: seconds from a fresh service to running over the stored jobs (what a
  restart costs; APScheduler reads only the due jobs and the next run time);
* list: seconds for one room's `/schedule list` query (it reads every job: the
  job store has no room column);
* memory: RSS growth of the process after start with N jobs (MB), and the job
  table's size on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
from apscheduler.triggers.date import DateTrigger  # noqa: E402
from apscheduler.triggers.interval import IntervalTrigger  # noqa: E402

from adapters.model import Room  # noqa: E402
from bench._common import machine_line, table  # noqa: E402
from bots.runtime.config import ScheduleSection  # noqa: E402
from bots.features.scheduler import ScheduleService  # noqa: E402
from bots.runtime.contacts import room_payload  # noqa: E402
from brain.store.event_store import Store  # noqa: E402


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


async def one_run(jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'jobs.db'}")  # the bot's engine: WAL, synchronous=NORMAL
        settings = ScheduleSection(max_jobs=100000)
        service = ScheduleService(store.engine, settings)
        await service.start()
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        for i in range(jobs):
            room = Room("telegram", str(-1000 - i % 100))
            payload = {"room": room_payload(room), "room_key": room.key, "source": "telegram",
                       "text": f"message {i}", "title": f"stream {i}"}
            if i % 4 == 0:
                trigger = IntervalTrigger(minutes=30, start_date=now + timedelta(minutes=30 + i % 60))
                service.add(f"promo-{i:06d}", trigger, {**payload, "kind": "promo", "every": 1800,
                                                       "min_lines": 5, "max_per_hour": 4})
            else:
                at = now + timedelta(days=1, seconds=i)
                service.add(f"live-{i:06d}.start", DateTrigger(run_date=at),
                            {**payload, "kind": "live", "at": at.isoformat()})
        added = time.perf_counter() - started
        await service.shutdown()

        before = rss_mb()
        started = time.perf_counter()
        restarted = ScheduleService(store.engine, settings)
        await restarted.start()
        start_s = time.perf_counter() - started
        grown = rss_mb() - before
        started = time.perf_counter()
        listed = await restarted.jobs("telegram:-1000")
        list_s = time.perf_counter() - started
        assert len(listed) == jobs // 100, len(listed)
        await restarted.shutdown()
        store.close()
        size = (Path(tmp) / "jobs.db").stat().st_size / 1e6
    return {"add_s": added, "start_s": start_s, "list_s": list_s, "rss_mb": grown, "db_mb": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [asyncio.run(one_run(args.jobs)) for _ in range(args.runs)]
    result = {key: round(statistics.median(r[key] for r in runs), 4) for key in runs[0]}
    result["jobs"] = args.jobs
    if args.json:
        print(json.dumps(result))
        return
    print(machine_line())
    print(f"scheduler with {args.jobs} stored jobs, median of {args.runs} runs")
    print(table(("add (s)", "start (s)", "/schedule list (s)", "RSS growth (MB)", "job table (MB)"),
                [(result["add_s"], result["start_s"], result["list_s"], result["rss_mb"], result["db_mb"])]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
