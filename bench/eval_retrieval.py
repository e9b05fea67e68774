"""Benchmark: BM25, dense (all-MiniLM-L6-v2) and hybrid on the shared eval sets; prints a markdown table.

Usage: HF_HUB_OFFLINE=1 python bench/eval_retrieval.py [DATA_DIR] [--json]
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brain.retrieval.embedders import make_embedder  # noqa: E402
from brain.retrieval.evaluate import evaluate  # noqa: E402

SETS = ("ret-covidfaq-en", "ret-cmrc-trial-zh", "prod-chorus-dev")
MODES = ("bm25", "dense", "hybrid")


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    data = Path(args[0] if args else "/work/shared/data")
    embedder = make_embedder("minilm")
    rows = []
    for name in SETS:
        for mode in MODES:
            res = evaluate(data / name, mode=mode, embedder=embedder)
            rows.append({"set": name, "mode": mode, **res})
            print(f"# {name} {mode}: {res}", file=sys.stderr, flush=True)
    if "--json" in argv:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, torch threads 1\n")
    print("| set | retriever | recall@1 | recall@5 | mrr@10 | ndcg@10 | queries | docs | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['mode']} | {r['recall@1']:.3f} | {r['recall@5']:.3f} | {r['mrr@10']:.3f} "
              f"| {r['ndcg@10']:.3f} | {r['queries']} | {r['docs']} | {r['seconds']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
