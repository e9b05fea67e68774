"""Benchmark: does the bot abstain when the knowledge base does not hold the answer?

For ret-covidfaq-en and ret-cmrc-trial-zh the corpus documents are split
randomly (seeded) into halves A and B, and only half A is written to a
knowledge folder (one Markdown file per document, bench/_common.py) and
ingested by `KnowledgeBase` with the packaged all-MiniLM-L6-v2. Then every
query with a judged relevant document goes through the bot's path,
`Answerer.retrieve` (with `expand_query`) + `Answerer.decide`:

* answerable: at least one relevant document is in half A;
* unanswerable: all its relevant documents are in half B (the KB is silent).

For each min_confidence threshold the table gives:

* false-answer rate: answered although unanswerable (share of unanswerable);
* abstain-on-answerable: abstained although answerable (share of answerable);
* accuracy on answerable: answered AND the cited chunk belongs to a relevant
  document (share of answerable);
* answer precision: correct answers / all answers (answerable and not);
* cost per question: ``--wrong-cost`` (default 2) for every wrong answer (an
  answer to an unanswerable question, or citing a non-relevant document) plus
  1 for every abstention on an answerable question (the host answers instead),
  divided by the number of questions. A wrong answer in a live room costs more
  than passing a question to the host; the default says twice as much.

The recommended threshold is the lowest one whose mean cost over the two sets
(each set weighted equally) is within ``--tie`` (0.01) of the minimum: costs
that close are within the noise of the splits, and the lower threshold answers
more. ``--recommend`` overrides it. Each set's own best threshold is printed
too (the two languages take different retrieval paths: MiniLM cannot read
Chinese, so Chinese questions are scored by BM25 alone).

Retrieval does not depend on the threshold, so each query is retrieved once
and decided at every threshold. Several seeds re-split the corpus; figures are
pooled over seeds (each seed is a fresh KnowledgeBase; the embedder remembers
vectors of texts it has already embedded, so later seeds cost little).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import (DOC_SETS, MemoEmbedder, answerer_for, load_set, machine_line, minilm, split_docs, table,
                     write_docs)

CURRENT_DEFAULT = 0.5  # bots/runtime/config.py AnswersSection.min_confidence


@dataclass
class Outcome:
    answerable: bool
    answered: dict[float, bool]
    correct: dict[float, bool]
    confidence: float


def thresholds(lo: float, hi: float, step: float) -> list[float]:
    n = int(round((hi - lo) / step))
    return [round(lo + i * step, 4) for i in range(n + 1)]


def run_split(set_name: str, seed: int, embedder, ts: list[float], work: Path) -> list[Outcome]:
    from brain.knowledge.base import KnowledgeBase

    es = load_set(set_name)
    half_a, _ = split_docs(es, seed)
    in_a = set(half_a)
    root = work / f"{set_name}-seed{seed}" / "knowledge"
    path_to_doc = write_docs(root, es, half_a)
    kb = KnowledgeBase(root, root.parent / "state", embedder)
    kb.ingest()
    answerer = answerer_for(kb)
    out: list[Outcome] = []
    for qid, question in es.queries.items():
        relevant = {d for d, g in es.qrels.get(qid, {}).items() if g > 0}
        if not relevant:
            continue
        answerable = bool(relevant & in_a)
        hits = answerer.retrieve(question)
        answered: dict[float, bool] = {}
        correct: dict[float, bool] = {}
        for t in ts:
            answerer.min_confidence = t
            ans = answerer.decide(question, hits)
            answered[t] = not ans.abstained
            ok = False
            if not ans.abstained and ans.citations:
                chunk = kb.chunk(ans.citations[0].chunk_id)
                doc = path_to_doc.get(str(chunk.metadata.get("path"))) if chunk is not None else None
                ok = doc in relevant
            correct[t] = ok
        out.append(Outcome(answerable, answered, correct, hits[0].score if hits else 0.0))
    return out


def rates(outcomes: list[Outcome], t: float, wrong_cost: float = 2.0) -> dict[str, float]:
    ans = [o for o in outcomes if o.answerable]
    una = [o for o in outcomes if not o.answerable]
    answered_total = sum(o.answered[t] for o in outcomes)
    correct_total = sum(o.correct[t] for o in outcomes)
    wrong = answered_total - correct_total
    abstained_answerable = sum(not o.answered[t] for o in ans)
    return {
        "cost": (wrong_cost * wrong + abstained_answerable) / len(outcomes),
        "false_answer": sum(o.answered[t] for o in una) / len(una) if una else float("nan"),
        "abstain_answerable": sum(not o.answered[t] for o in ans) / len(ans) if ans else float("nan"),
        "accuracy": sum(o.correct[t] for o in ans) / len(ans) if ans else float("nan"),
        "precision": correct_total / answered_total if answered_total else float("nan"),
        "answered": answered_total / len(outcomes),
    }


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated split seeds (default 0,1,2)")
    parser.add_argument("--min", dest="lo", type=float, default=0.2)
    parser.add_argument("--max", dest="hi", type=float, default=0.8)
    parser.add_argument("--step", type=float, default=0.05)
    parser.add_argument("--wrong-cost", type=float, default=2.0,
                        help="cost of a wrong answer relative to one needless abstention (default 2)")
    parser.add_argument("--tie", type=float, default=0.01,
                        help="costs within this of the minimum count as equal; the lowest such threshold wins")
    parser.add_argument("--recommend", type=float, default=None,
                        help="threshold to report per set at the end (default: chosen by the rule in the output)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    ts = thresholds(args.lo, args.hi, args.step)
    if CURRENT_DEFAULT not in ts:
        ts = sorted({*ts, CURRENT_DEFAULT})

    started = time.perf_counter()
    embedder = MemoEmbedder(minilm())
    results: dict[str, list[Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="lr-bench-abstain-") as tmp:
        for name in DOC_SETS:
            results[name] = []
            for seed in seeds:
                results[name].extend(run_split(name, seed, embedder, ts, Path(tmp)))

    print(f"machine: {machine_line()}")
    print(f"seeds {seeds}; KB = half A of each set's documents; Answerer(extractive, top_k=5); "
          f"{time.perf_counter() - started:.0f} s\n")
    for name, outs in results.items():
        n_ans = sum(o.answerable for o in outs)
        print(f"## {name}: {len(outs)} query runs ({n_ans} answerable, {len(outs) - n_ans} unanswerable), "
              f"pooled over {len(seeds)} seed(s)\n")
        rows = []
        for t in ts:
            r = rates(outs, t, args.wrong_cost)
            rows.append([f"{t:.2f}", pct(r["false_answer"]), pct(r["abstain_answerable"]), pct(r["accuracy"]),
                         pct(r["precision"]), pct(r["answered"]), f"{r['cost']:.3f}"])
        print(table(["min_confidence", "false-answer rate (unanswerable)", "abstain on answerable",
                     "accuracy on answerable", "answer precision", "answered", "cost"], rows))
        print()

    # Both sets weighted equally: the mean over sets of each rate.
    def both(t: float, key: str) -> float:
        return sum(rates(outs, t, args.wrong_cost)[key] for outs in results.values()) / len(results)

    print("## both sets (mean of the two sets' rates)\n")
    rows = [[f"{t:.2f}", pct(both(t, "false_answer")), pct(both(t, "abstain_answerable")), pct(both(t, "accuracy")),
             pct(both(t, "precision")), f"{both(t, 'cost'):.3f}"] for t in ts]
    print(table(["min_confidence", "false-answer rate", "abstain on answerable", "accuracy on answerable",
                 "answer precision", "cost"], rows))
    if args.recommend is None:
        best = min(both(t, "cost") for t in ts)
        chosen = min(t for t in ts if both(t, "cost") <= best + args.tie)
        rule = (f"lowest threshold within {args.tie:g} of the lowest mean cost, "
                f"a wrong answer costing {args.wrong_cost:g} abstentions")
    else:
        chosen, rule = args.recommend, "given with --recommend"
    print()
    for name, outs in results.items():
        own_best = min(rates(outs, t, args.wrong_cost)["cost"] for t in ts)
        own = min(t for t in ts if rates(outs, t, args.wrong_cost)["cost"] <= own_best + args.tie)
        print(f"{name} alone: best threshold {own:.2f} (cost {rates(outs, own, args.wrong_cost)['cost']:.3f})")
    print(f"\nAt min_confidence {chosen:.2f} ({rule}) and at the current default {CURRENT_DEFAULT:.2f}:\n")
    rows = []
    for t in dict.fromkeys([chosen, CURRENT_DEFAULT]):
        for name, outs in results.items():
            r = rates(outs, t, args.wrong_cost)
            rows.append([f"{t:.2f}", name, pct(r["false_answer"]), pct(r["abstain_answerable"]), pct(r["accuracy"]),
                         pct(r["precision"]), f"{r['cost']:.3f}"])
    print(table(["min_confidence", "set", "false-answer rate", "abstain on answerable", "accuracy on answerable",
                 "answer precision", "cost"], rows))


if __name__ == "__main__":
    main()
