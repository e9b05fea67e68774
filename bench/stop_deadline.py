"""Benchmark: how long `liveroom run` takes to exit on SIGTERM when its platform's server is gone (issue 19).

Real processes (`python -m bots.cli run`, console off, answering off) against the loopback Telegram
and Discord servers of tests/fakes, one bot at a time, each scenario of tests/stop_scenarios.py:
the server killed, hanging (accepts, never answers), the bot reconnecting (server gone for 4 s, and
for 40 s), and a second SIGTERM 0.3 s after the first. A bot still running 20 s after the signal is
killed (reported as 20 s, exit -9). Measured: seconds from the (first) SIGTERM to the exit,
the exit code, and whether both received lines and the reply are in the database.

``--baseline REV`` runs the same scenarios with the bot from a git checkout of REV (the code before
the fix) in the same run, side by side. Prints every run and the medians; record them in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from stop_scenarios import COMMAND, LAST_LINE, SCENARIOS, Bot, Discord, Telegram, run_scenarios  # noqa: E402

PLATFORMS = {"telegram": Telegram, "discord": Discord}


def kept(bot: Bot) -> bool:
    """Both received lines and the reply are in the bot's database."""
    try:
        return bot.received() == [COMMAND, LAST_LINE] and bot.sent_kinds() == ["reply"]
    except sqlite3.Error:  # no database is a loss, reported as such
        return False


async def one(tmp: Path, name: str, scenario: str, code: Path) -> tuple[float, int, bool]:
    (bot,) = await run_scenarios(tmp, PLATFORMS[name], [scenario], code=code)
    assert bot.proc is not None and bot.stopped_in is not None
    return bot.stopped_in, bot.proc.returncode, kept(bot)


def checkout(rev: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), rev], check=True,
                   capture_output=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision to measure side by side (the code before the fix)")
    parser.add_argument("--platform", choices=sorted(PLATFORMS), action="append")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"# stop deadline: {platform.node()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {args.runs} runs")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        codes = {"after": ROOT}
        if args.baseline:
            codes = {f"before ({args.baseline})": checkout(args.baseline, tmp / "baseline"), **codes}
        try:
            for name in args.platform or sorted(PLATFORMS):
                for scenario in SCENARIOS:
                    for label, code in codes.items():
                        results = [asyncio.run(one(tmp / f"{name}-{scenario}-{label[:5]}-{run}", name, scenario, code))
                                   for run in range(args.runs)]
                        times = [r[0] for r in results]
                        print(f"{name:8} {scenario:13} {label:18} median {statistics.median(times):5.2f} s  "
                              f"runs {' / '.join(f'{t:.2f}' for t in times)}  exit {sorted({r[1] for r in results})}"
                              f"  everything kept: {all(r[2] for r in results)}", flush=True)
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "baseline")],
                               capture_output=True)


if __name__ == "__main__":
    main()
