"""Benchmark: `liveroom replay --fast --json` on a generated 50,000-line chat with question bursts.

Two scenarios, each a fresh process with a fresh data directory, several runs:

- ``routing``: answering off: parsing, routing and recording only (issue 2's figure);
- ``answering``: the embedded default (packaged MiniLM, the shipped knowledge folder,
  extractive answers, burst merging). The knowledge base is indexed beforehand with
  ``liveroom ingest``, as a deployed bot's would be; the replay still loads the model.

Prints every run, the median rate and the peak memory (max RSS) of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_chat import generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {
    "routing": "answers:\n  enabled: false\n",
    "answering": f"knowledge:\n  path: {ROOT / 'knowledge'}\n",
}


def liveroom(config: Path, data_dir: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "bots.cli", "--config", str(config), "--data-dir", str(data_dir),
                          *args], check=True, capture_output=True, text=True)
    return out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    args = parser.parse_args()
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="liveroom-bench-") as tmp:
        log = Path(tmp) / "chat.jsonl"
        with log.open("w", encoding="utf-8") as f:
            for rec in generate(args.lines):
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        for scenario in scenarios:
            config = Path(tmp) / f"{scenario}.yaml"
            config.write_text(SCENARIOS[scenario])
            reports = []
            for i in range(args.runs):
                data_dir = Path(tmp) / f"{scenario}-{i}"
                if scenario == "answering":
                    liveroom(config, data_dir, "ingest")
                report = json.loads(liveroom(config, data_dir, "replay", str(log), "--fast", "--json")
                                    .strip().splitlines()[-1])
                reports.append(report)
                print(f"{scenario} run {i + 1}: {report['messages']} messages in {report['seconds']:.2f} s = "
                      f"{report['msgs_per_s']:.0f}/s; questions {report['questions']}, answers "
                      f"{report['answers']}, abstained {report['abstained']}, merged {report['merged']}, "
                      f"cached {report.get('cached', 0)}, follow-ups {report.get('followups', 0)}; "
                      f"bot replies {report['replies']}; peak RSS {report['peak_rss_mb']} MB")
            rates = [r["msgs_per_s"] for r in reports]
            print(f"== {scenario}: {args.lines:,} lines, median of {args.runs}: {statistics.median(rates):,.0f} "
                  f"messages/s (min {min(rates):,.0f}, max {max(rates):,.0f}); peak RSS median "
                  f"{statistics.median(r['peak_rss_mb'] for r in reports)} MB\n")


if __name__ == "__main__":
    main()
