"""Benchmark: extractive answer latency, in process, against a knowledge base of >= 5,000 chunks.

Builds a knowledge folder of real text (bench/_common.py: the three eval
corpora as Markdown files and a products.csv catalog, the shipped knowledge/,
the project docs and the installed packages' READMEs), ingests it with
`KnowledgeBase` and the packaged all-MiniLM-L6-v2 (as the bot does), then asks
every real query of ret-covidfaq-en, ret-cmrc-trial-zh and prod-chorus-dev.

One question's latency = `Answerer.retrieve` (query expansion, query embedding
when the embedder reads the language, BM25 + Chroma search, fusion) +
`Answerer.decide` (threshold, extraction). Timed after a warm-up, over several
passes; the headline is the median over passes of each pass's percentile.
A second, decomposed pass times embedding, search (retrieve with the vector
given) and extraction (decide) separately.

Targets: p50 <= 25 ms, p95 <= 60 ms.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from _common import (DOC_SETS, PRODUCT_SET, answerer_for, build_big_folder, chunk_parts, load_set,
                     machine_line, median, minilm, percentile, table)

TARGET_P50_MS = 25.0
TARGET_P95_MS = 60.0


def questions(limit: int | None) -> list[tuple[str, str]]:
    """(set name, query text) for every query with a judged relevant document, in file order."""
    out: list[tuple[str, str]] = []
    for name in (*DOC_SETS, PRODUCT_SET):
        es = load_set(name)
        qs = [(name, text) for qid, text in es.queries.items()
              if any(g > 0 for g in es.qrels.get(qid, {}).values())]
        out.extend(qs[:limit] if limit else qs)
    return out


def stats(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99),
            "mean": sum(ms) / len(ms), "max": max(ms)}


def end_to_end(answerer, qs: list[tuple[str, str]]) -> list[float]:
    out = []
    for _, q in qs:
        t0 = time.perf_counter()
        answerer.decide(q, answerer.retrieve(q))
        out.append((time.perf_counter() - t0) * 1000)
    return out


def decomposed(kb, answerer, qs: list[tuple[str, str]]) -> list[tuple[str, float, float, float]]:
    """Per question: (set, embed ms, search ms, extract ms). The embed/no-embed decision is made untimed."""
    retriever = kb.retriever
    out = []
    for name, q in qs:
        text = answerer.search_text(q)
        needs_vector = retriever.dense_weight(text, len(set(kb.index.lexical.query_tokens(text)))) > 0
        t0 = time.perf_counter()
        vec = kb.embedder.embed([text])[0] if needs_vector else None
        t1 = time.perf_counter()
        hits = answerer.retrieve(q, query_vector=vec)
        t2 = time.perf_counter()
        answerer.decide(q, hits)
        t3 = time.perf_counter()
        out.append((name, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=3, help="timed passes over all questions (default 3)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed questions first (default 30)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many queries per set")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the knowledge folder and index here (re-runs skip the embedding); default: temp")
    parser.add_argument("--profile", type=Path, default=None,
                        help="also cProfile one end-to-end pass and write the stats to this file")
    args = parser.parse_args()

    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="lr-bench-latency-")
        work = Path(tmp.name)
    else:
        work = args.work
    root, state = work / "knowledge", work / "state"
    if not root.exists():
        root.mkdir(parents=True)
        files = build_big_folder(root)
        print("knowledge folder:", ", ".join(f"{k} {v} files" for k, v in files.items()))

    from brain.knowledge.base import KnowledgeBase

    embedder = minilm()
    kb = KnowledgeBase(root, state, embedder)
    t0 = time.perf_counter()
    summary = kb.ingest()
    print(f"ingest: {summary.chunks} chunks ({summary.embedded} embedded now) in {time.perf_counter() - t0:.1f} s")
    parts = chunk_parts(kb.index.lexical.chunks)
    print("chunks by part:", ", ".join(f"{k} {v}" for k, v in parts.items()))
    if summary.chunks < 5000:
        print(f"WARNING: only {summary.chunks} chunks, fewer than the 5,000 asked for")

    answerer = answerer_for(kb)
    qs = questions(args.limit)
    by_set = {name: [q for q in qs if q[0] == name] for name in dict.fromkeys(n for n, _ in qs)}
    # warm-up: both languages, so jieba, torch and Chroma are all initialised
    warm = [q for rows in by_set.values() for q in rows[: max(1, args.warmup // len(by_set))]]
    end_to_end(answerer, warm)

    gc.collect()
    passes = []
    for _ in range(args.passes):
        passes.append(end_to_end(answerer, qs))

    rows = []
    groups = {"all": [True] * len(qs), **{n: [q[0] == n for q in qs] for n in by_set},
              "English (covidfaq + chorus)": [q[0] != "ret-cmrc-trial-zh" for q in qs]}
    headline = {}
    for label, mask in groups.items():
        per_pass = [stats([ms for ms, m in zip(p, mask) if m]) for p in passes]
        agg = {k: median([s[k] for s in per_pass]) for k in ("p50", "p95", "p99", "mean", "max")}
        headline[label] = agg
        rows.append([label, per_pass[0]["n"], f"{agg['p50']:.1f}", f"{agg['p95']:.1f}", f"{agg['p99']:.1f}",
                     f"{agg['mean']:.1f}", f"{agg['max']:.1f}"])

    parts_rows = []
    dec = decomposed(kb, answerer, qs)
    for label in ["all", *by_set]:
        sel = [d for d in dec if label == "all" or d[0] == label]
        emb, srch, ext = (sum(d[i] for d in sel) for i in (1, 2, 3))
        total = emb + srch + ext
        parts_rows.append([label, f"{emb / len(sel):.2f}", f"{srch / len(sel):.2f}", f"{ext / len(sel):.2f}",
                           f"{100 * emb / total:.0f}% / {100 * srch / total:.0f}% / {100 * ext / total:.0f}%"])

    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        end_to_end(answerer, qs)
        prof.disable()
        prof.dump_stats(str(args.profile))
        print(f"cProfile of one pass written to {args.profile} (python -m pstats {args.profile})")

    print()
    print(f"machine: {machine_line()}")
    print(f"knowledge base: {summary.chunks:,} chunks; Answerer(extractive, top_k={answerer.top_k}, "
          f"min_confidence={answerer.min_confidence}); {args.passes} timed passes after {len(warm)} warm-up questions")
    print("\nEnd-to-end latency per question, Answerer.retrieve + Answerer.decide, ms "
          "(median over passes of each pass's figure)\n")
    print(table(["questions", "n", "p50", "p95", "p99", "mean", "max"], rows))
    print("\nWhere the time goes (one decomposed pass; mean ms per question)\n")
    print(table(["questions", "embed query", "search", "decide (extract)", "share embed / search / extract"],
                parts_rows))
    a = headline["all"]
    ok = a["p50"] <= TARGET_P50_MS and a["p95"] <= TARGET_P95_MS
    print(f"\nall questions: p50 {a['p50']:.1f} ms (target <= {TARGET_P50_MS:.0f}), "
          f"p95 {a['p95']:.1f} ms (target <= {TARGET_P95_MS:.0f}): {'MET' if ok else 'MISSED'}")
    if tmp is not None:
        del kb
        tmp.cleanup()


if __name__ == "__main__":
    main()
