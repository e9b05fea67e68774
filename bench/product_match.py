"""Benchmark: live product re-ranking latency and memory (issue 5).

Usage: HF_HUB_OFFLINE=1 python bench/product_match.py [DATA_DIR] [--json]

Catalogs of 1,000 and 20,000 products are synthesised from real product text:
names and descriptions of prod-chorus-dev (Icecat, 2,349 products) and the
shipped knowledge/products.csv|yaml, sampled and mixed (a name, sometimes with
a variant word, plus a description from another product half of the time).
Vectors: every distinct base text is embedded once with the real
all-MiniLM-L6-v2 and reused by the products built from it (scoring cost does
not depend on the vector values; embedding 20,000 texts would only time the
model).

The timed path is the bot's own (``bots/features/products.py: _add_and_rank``): a room
whose `ContentWindow` already holds two minutes of speech (60 lines), with
viewers' questions and pins as signals; per re-rank we time (a) embedding the
new transcript line with MiniLM (torch 1 thread), (b) adding it to the window
and `ProductRanker.rank` over the whole catalog (lexical + dense relevance,
signals, top 5 with their explanations); p50/p95 over 200 re-ranks per run,
median of 5 runs. Memory: ``ProductMatcher.nbytes()`` (sparse term matrix + idf + float32
vectors), per 10,000 products.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from brain.products.matching import ProductDoc, ProductMatcher  # noqa: E402
from brain.products.ranking import ProductRanker, RankingSettings, RoomProducts  # noqa: E402
from brain.products.content_window import ContentWindow  # noqa: E402
from brain.retrieval.embedders import make_embedder  # noqa: E402

SIZES = (1_000, 20_000)
RUNS = 5
RERANKS = 200
VARIANTS = ("Black", "White", "Pro", "Mini", "2-pack", "XL", "Blue", "Plus", "Lite", "V2")
LINES = ("this one has bluetooth and a twelve hour battery, great for travel",
         "you can charge it over usb-c and it fits in any backpack",
         "the laptop sleeve is padded and fits fifteen inch notebooks",
         "and for gaming the mouse has a laser sensor and rgb lights")


def base_texts(data: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    with open(data / "prod-chorus-dev" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                text = d.get("text") or ""
                out.append((d.get("title") or "", "" if text == d.get("title") else text))
    with open(REPO / "knowledge" / "products.csv", encoding="utf-8", newline="") as fh:
        out.extend((r["name"], r.get("description") or "") for r in csv.DictReader(fh))
    import yaml
    doc = yaml.safe_load((REPO / "knowledge" / "products.yaml").read_text(encoding="utf-8")) or {}
    out.extend((p["name"], p.get("description") or "") for p in doc.get("products", []))
    return [(n, t) for n, t in out if n]


def synth_catalog(bases: list[tuple[str, str]], base_vecs: np.ndarray, n: int, rng: random.Random):
    descs = [t for _, t in bases if t]
    docs, rows = [], []
    for i in range(n):
        b = rng.randrange(len(bases))
        name, text = bases[b]
        if rng.random() < 0.5:
            name = f"{name} {rng.choice(VARIANTS)}"
        if not text and rng.random() < 0.5:
            text = rng.choice(descs)
        docs.append(ProductDoc(id=f"p{i}", name=name, text=text))
        rows.append(b)
    return docs, base_vecs[rows]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    data = Path(args[0] if args else os.environ.get("LIVEROOM_DATA", "/work/shared/data"))
    emb = make_embedder("minilm")
    bases = base_texts(data)
    t0 = time.perf_counter()
    base_vecs = emb.embed([ProductDoc("x", n, t).embed_text() for n, t in bases])
    print(f"# embedded {len(bases)} base texts in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    for line in LINES:  # warm the model
        emb.embed([line])
    results = []
    for size in SIZES:
        rng = random.Random(size)
        docs, vecs = synth_catalog(bases, base_vecs, size, rng)
        t0 = time.perf_counter()
        m = ProductMatcher(docs, emb, vectors=vecs)
        build = time.perf_counter() - t0
        ranker = ProductRanker(m, RankingSettings())
        runs = []
        for _run in range(RUNS):
            # The bot's own path (bots/features/products.py: _add_and_rank): a room whose window already
            # holds two minutes of speech, viewers' questions and pins as signals; each re-rank
            # embeds the new line, adds it to the window and ranks the whole catalog with reasons.
            room = RoomProducts(window=ContentWindow(120, 45, 2000))
            for i, pid in enumerate(m.ids[:20]):
                room.note_asked(pid, float(i))
            room.pins.update({pid: 0.0 for pid in m.ids[20:25]})
            clock = 0.0
            for _ in range(60):
                clock += 2.0
                name, text = bases[rng.randrange(len(bases))]
                line = f"{name} {text}"[:200]
                room.window.add(clock, line, emb.embed([line])[0], tokens=m.terms_from_text(line))
            embed_ms, score_ms, total_ms, n_terms = [], [], [], []
            for k in range(RERANKS):
                clock += 2.0
                line = LINES[k % len(LINES)] if k % 2 else "{} {}".format(*bases[rng.randrange(len(bases))])[:200]
                a = time.perf_counter()
                vec = emb.embed([line])[0]
                b = time.perf_counter()
                room.window.add(clock, line, vec, tokens=m.terms_from_text(line))
                ranker.rank(room, clock, n=5)
                c = time.perf_counter()
                n_terms.append(len(room.window.terms(clock)))
                embed_ms.append((b - a) * 1e3)
                score_ms.append((c - b) * 1e3)
                total_ms.append((c - a) * 1e3)
            runs.append({"embed_p50": pct(embed_ms, 50), "embed_p95": pct(embed_ms, 95),
                         "score_p50": pct(score_ms, 50), "score_p95": pct(score_ms, 95),
                         "total_p50": pct(total_ms, 50), "total_p95": pct(total_ms, 95),
                         "terms": statistics.mean(n_terms)})
        row = {"products": size, "build_s": round(build, 2),
               "bytes_per_10k": int(m.nbytes() / size * 10_000),
               "vocab": len(m.vocab), "nnz": int(m._tw.nnz)}
        for key in runs[0]:
            row[key] = round(statistics.median(r[key] for r in runs), 2)
        results.append(row)
        print(f"# {row}", file=sys.stderr, flush=True)
    if "--json" in argv:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, torch threads 1, "
          f"numpy {np.__version__}; medians of {RUNS} runs x {RERANKS} re-ranks\n")
    print("| products | window terms | embed line p50/p95 ms | add + rank top 5 p50/p95 ms | total p50/p95 ms "
          "| build s (vectors given) | bytes / 10k products |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['products']:,} | {r['terms']:.0f} | {r['embed_p50']:.2f} / {r['embed_p95']:.2f} "
              f"| {r['score_p50']:.2f} / {r['score_p95']:.2f} | {r['total_p50']:.2f} / {r['total_p95']:.2f} "
              f"| {r['build_s']:.1f} | {r['bytes_per_10k']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
