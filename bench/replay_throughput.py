"""Benchmark: `liveroom replay --fast --json` on a generated 50,000-line chat.

Measures what issue 2 asks: messages recorded per second (store + routing)
and the peak memory (max RSS) of the whole process. Each run uses a fresh
data directory (a fresh SQLite database). Prints every run and the median.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_chat import generate  # noqa: E402


def run_once(log: Path, data_dir: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-m", "bots.cli", "--data-dir", str(data_dir), "replay",
                          str(log), "--fast", "--json"], check=True, capture_output=True, text=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report["child_max_rss_mb"] = round(max(after, before) / 1024, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liveroom-bench-") as tmp:
        log = Path(tmp) / "chat.jsonl"
        with log.open("w", encoding="utf-8") as f:
            for rec in generate(args.lines):
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        reports = [run_once(log, Path(tmp) / f"data{i}") for i in range(args.runs)]
    for i, r in enumerate(reports, 1):
        print(f"run {i}: {r['messages']} messages in {r['seconds']:.2f} s = {r['msgs_per_s']:.0f}/s, "
              f"committed {r['committed']}, peak RSS {r['peak_rss_mb']} MB")
    rates = [r["msgs_per_s"] for r in reports]
    print(f"\nmachine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{__import__('os').cpu_count()} cores")
    print(f"replay --fast of {args.lines:,} lines, median of {args.runs}: "
          f"{statistics.median(rates):,.0f} messages/s (min {min(rates):,.0f}, max {max(rates):,.0f}); "
          f"peak RSS median {statistics.median(r['peak_rss_mb'] for r in reports)} MB")


if __name__ == "__main__":
    main()
