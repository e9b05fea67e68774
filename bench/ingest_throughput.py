"""Benchmark: knowledge ingestion throughput relative to the embedder's own, and re-ingest of an unchanged KB.

1. Full ingest: `KnowledgeBase.ingest` on a fresh state directory for the big
   knowledge folder (bench/_common.py: eval corpora, shipped knowledge/,
   project docs, package READMEs), with the packaged all-MiniLM-L6-v2. Then, in
   the same run, `embedder.embed` alone on exactly the texts ingest embedded
   (`chunk_index_text` of each new chunk, in the same order and the same
   256-chunk calls as `KnowledgeIndex.sync`). Ratio = ingest chunks/s ÷
   embedder chunks/s (target >= 0.8). The model is loaded and warmed first, so
   neither side pays for loading it. The time ingest spends outside the
   embedder is broken down (load+chunk, embed, Chroma upsert, BM25 build+save).
2. Re-ingest of the unchanged folder (target <= 2 s): a fresh `KnowledgeBase`
   object each time, as a restarted bot builds it (opening Chroma and loading
   BM25 included), then `ingest()`; median of --reingest-runs runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from _common import build_big_folder, chunk_parts, machine_line, median, minilm, table

TARGET_RATIO = 0.8
TARGET_REINGEST_S = 2.0


class Timers:
    """Accumulated wall time of named phases, by wrapping methods of live objects (no code changes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def wrap(self, obj, method: str, label: str, record: list | None = None):
        """Time ``obj.method`` under ``label``; ``record`` collects the first argument's items (embed texts)."""
        original = getattr(obj, method)
        had_own = method in getattr(obj, "__dict__", {})

        def timed(*a, **kw):
            if record is not None:
                record.extend(a[0])
            t0 = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0

        setattr(obj, method, timed)
        try:
            yield
        finally:
            if had_own:
                setattr(obj, method, original)
            else:
                delattr(obj, method)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reingest-runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256, help="chunks per embed call, as KnowledgeIndex.sync (256)")
    args = parser.parse_args()

    import brain.knowledge.base as kb_module
    from brain.knowledge.base import KnowledgeBase

    embedder = minilm()
    embedder.embed(["warm up the model", "模型预热"])  # load + first-call costs stay out of both timings

    with tempfile.TemporaryDirectory(prefix="lr-bench-ingest-") as tmp:
        root, state = Path(tmp) / "knowledge", Path(tmp) / "state"
        root.mkdir()
        files = build_big_folder(root)

        # ---- 1. full ingest on a fresh state dir, phases timed in place ----
        kb = KnowledgeBase(root, state, embedder)
        timers = Timers()
        embedded_texts: list[str] = []
        with timers.wrap(kb_module, "ingest", "load + chunk (brain.knowledge.ingest)"), \
                timers.wrap(embedder, "embed", "embed", record=embedded_texts), \
                timers.wrap(kb.index.vector, "upsert", "Chroma upsert"), \
                timers.wrap(kb.index.vector, "get_ids", "Chroma get_ids"), \
                timers.wrap(kb.index.lexical, "build", "BM25 build (tokenise + index)"), \
                timers.wrap(kb.index.lexical, "save", "BM25 save"):
            t0 = time.perf_counter()
            summary = kb.ingest()
            ingest_s = time.perf_counter() - t0
        n = summary.embedded
        parts = chunk_parts(kb.index.lexical.chunks)
        del kb

        # ---- the same texts through the embedder alone, in the same calls ----
        if len(embedded_texts) != n:
            raise SystemExit(f"recorded {len(embedded_texts)} embedded texts but ingest reports {n}")
        t0 = time.perf_counter()
        for start in range(0, len(embedded_texts), args.batch):
            embedder.embed(embedded_texts[start : start + args.batch])
        embed_s = time.perf_counter() - t0

        # ---- 2. re-ingest of the unchanged folder, fresh KnowledgeBase each time ----
        reingest = []
        for _ in range(args.reingest_runs):
            t0 = time.perf_counter()
            kb2 = KnowledgeBase(root, state, embedder)
            s2 = kb2.ingest()
            reingest.append((time.perf_counter() - t0, s2.seconds, s2.embedded, s2.chunks))
            del kb2

    ingest_rate, embed_rate = n / ingest_s, n / embed_s
    ratio = ingest_rate / embed_rate
    print(f"machine: {machine_line()}")
    print("knowledge folder:", ", ".join(f"{k} {v} files" for k, v in files.items()))
    print("chunks by part:", ", ".join(f"{k} {v}" for k, v in parts.items()), f"(total {summary.chunks:,})\n")
    print(table(["what", "chunks", "seconds", "chunks/s"], [
        ["KnowledgeBase.ingest (fresh state dir)", f"{n:,}", f"{ingest_s:.1f}", f"{ingest_rate:.1f}"],
        ["embedder.embed alone, same texts, same calls", f"{len(embedded_texts):,}", f"{embed_s:.1f}",
         f"{embed_rate:.1f}"],
    ]))
    print(f"\nratio ingest / embedder: {ratio:.3f} (target >= {TARGET_RATIO}): "
          f"{'MET' if ratio >= TARGET_RATIO else 'MISSED'}\n")
    inside = dict(timers.seconds)
    other = ingest_s - sum(inside.values())
    rows = [[k, f"{v:.2f}", f"{100 * v / ingest_s:.1f}%"] for k, v in inside.items()]
    rows.append(["rest (manifest, bookkeeping, safety scan)", f"{other:.2f}", f"{100 * other / ingest_s:.1f}%"])
    print("Where the full ingest spent its time:\n")
    print(table(["phase", "seconds", "share"], rows))
    print(f"\nRe-ingest of the unchanged folder, fresh KnowledgeBase each run ({args.reingest_runs} runs):\n")
    print(table(["run", "construct + ingest s", "ingest() s", "embedded", "chunks"],
                [[i + 1, f"{r[0]:.3f}", f"{r[1]:.3f}", r[2], r[3]] for i, r in enumerate(reingest)]))
    med = median([r[0] for r in reingest])
    print(f"\nre-ingest median {med:.3f} s (target <= {TARGET_REINGEST_S:.0f} s): "
          f"{'MET' if med <= TARGET_REINGEST_S else 'MISSED'}")


if __name__ == "__main__":
    main()
